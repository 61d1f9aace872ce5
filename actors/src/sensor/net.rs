//! The network sensor: the detectors that judge what the decoders (`vsiem_decode`, pure
//! functions over captured bytes) understood against the topology, and the actor that runs them
//! over a live capture. A decoder never fails the pipeline: what it could not understand comes
//! back as a value the detectors turn into an event.

pub mod capture;
pub mod detect;
pub mod pipeline;

pub use vsiem_decode::{capture_file, dns, doip, frame, someip, tcp, tls, uds};

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef};
use vsiem_schemas::catalog;
use vsiem_schemas::encode::SensorHealthDraft;

use super::uplink::{self, UplinkHandle};
use super::SensorConfig;
use crate::ActorError;
use capture::Capture;
use frame::LinkType;
use pipeline::Pipeline;

pub const SENSOR: &str = "net";
/// Frames that may wait between capture and decoding (about 3 ms of a saturated
/// 1000BASE-T1 link at minimum frame size).
pub const CAPTURE_QUEUE: usize = 4096;
const CHECK_PERIOD: Duration = Duration::from_secs(1);

/// Runs the pipeline over a live capture and reports what it finds.
pub struct NetSensor;

pub struct NetArgs {
    pub config: SensorConfig,
    pub uplink: UplinkHandle,
    pub interface: String,
}

pub struct NetState {
    args: NetArgs,
    capture: Capture,
    dropped_reported: u64,
}

pub enum NetMsg {
    Check,
}

impl Actor for NetSensor {
    type Msg = NetMsg;
    type State = NetState;
    type Arguments = NetArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: NetArgs,
    ) -> Result<Self::State, ActorError> {
        let mut pipeline =
            Pipeline::new(Arc::clone(&args.config.topology), args.config.backbone_port);
        let uplink = args.uplink.clone();
        let mut found = Vec::new();
        let capture = Capture::start(&args.interface, CAPTURE_QUEUE, move |ts_ns, bytes| {
            pipeline.frame(LinkType::Ethernet, ts_ns, bytes, &mut found);
            for detection in found.drain(..) {
                uplink.report(SENSOR, detection.into_draft());
            }
        })?;
        tracing::info!(interface = %args.interface, "Capturing.");
        myself.send_interval(CHECK_PERIOD, || NetMsg::Check);
        Ok(NetState {
            args,
            capture,
            dropped_reported: 0,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        _msg: NetMsg,
        state: &mut NetState,
    ) -> Result<(), ActorError> {
        if !state.capture.running() {
            return Err(format!("capture on {} stopped", state.args.interface).into());
        }
        let dropped = state.capture.dropped();
        if dropped > state.dropped_reported {
            let report = SensorHealthDraft {
                subject: format!("capture {}", state.args.interface),
                reason: format!("capture queue of {CAPTURE_QUEUE} frames full"),
                restarts: 0,
                dropped: dropped - state.dropped_reported,
            };
            state.dropped_reported = dropped;
            state.args.uplink.report(
                SENSOR,
                uplink::health(
                    &catalog::SENSOR_QUEUE_OVERFLOW,
                    &state.args.config.ecu,
                    report,
                ),
            );
        }
        Ok(())
    }
}
