//! The vehicle-signal sensor of a domain controller: samples speed, gear, pedals and engine
//! state and publishes them to the gateway, which judges every event against them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flatbuffers::FlatBufferBuilder;
use ractor::{Actor, ActorRef};
use tracing::warn;
use vsiem_schemas::{encode, now_ns};
use zenoh::Session;

use super::SensorConfig;
use crate::bus::{self, keys, Publishers};
use crate::sim::chassis::Drive;
use crate::ActorError;

pub const PERIOD: Duration = Duration::from_millis(100);

pub struct SignalSensor;

pub struct SignalArgs {
    pub config: SensorConfig,
    pub session: Arc<Session>,
    /// The simulated drive this ECU reads its signals from.
    pub drive: Drive,
}

pub struct SignalState {
    args: SignalArgs,
    publishers: Publishers,
    fbb: FlatBufferBuilder<'static>,
    started: Instant,
    seq: u64,
}

pub enum SignalMsg {
    Sample,
}

impl Actor for SignalSensor {
    type Msg = SignalMsg;
    type State = SignalState;
    type Arguments = SignalArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SignalArgs,
    ) -> Result<Self::State, ActorError> {
        let key = keys::signal(args.config.topology.vin(), &args.config.ecu);
        let publishers = Publishers::declare(Arc::clone(&args.session), bus::DATA, [key]).await?;
        myself.send_interval(PERIOD, || SignalMsg::Sample);
        Ok(SignalState {
            args,
            publishers,
            fbb: FlatBufferBuilder::new(),
            started: Instant::now(),
            seq: 0,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        _msg: SignalMsg,
        state: &mut SignalState,
    ) -> Result<(), ActorError> {
        state.seq += 1;
        let snapshot = state.args.drive.snapshot(state.started.elapsed(), now_ns());
        let config = &state.args.config;
        let vin = config.topology.vin();
        let bytes = encode::signal(&mut state.fbb, vin, &config.ecu, state.seq, &snapshot);
        let key = keys::signal(vin, &config.ecu);
        if let Err(e) = state.publishers.put(&key, bytes).await {
            warn!(error = %e, "Vehicle signal not published.");
        }
        Ok(())
    }
}
