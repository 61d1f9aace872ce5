//! The uplink: stamps each detection with its sensor's next sequence number, encodes it as a
//! SecurityEvent and publishes it to the gateway, and sends heartbeats.
//!
//! Detectors reach it through an [`UplinkHandle`], a bounded front: when more than
//! [`QUEUE_CAPACITY`] events wait, new ones are dropped and counted, and the count is itself
//! reported as a `sensor.queue_overflow` event at the next heartbeat.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flatbuffers::FlatBufferBuilder;
use ractor::{Actor, ActorRef};
use tracing::{debug, warn};
use vsiem_schemas::encode::{
    self, ContextDraft, EventDraft, HeartbeatDraft, SensorHealthDraft, Stamp,
};
use vsiem_schemas::{catalog, now_ns};
use zenoh::Session;

use crate::bus::{self, keys, Publishers};
use crate::front::Front;
use crate::ActorError;

/// Events that may wait for the uplink before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 4096;

pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(1);

pub struct Uplink;

pub struct UplinkArgs {
    pub session: Arc<Session>,
    pub vin: String,
    pub ecu: String,
    /// The sensors that will report, whose publishers are declared at start.
    pub sensors: Vec<&'static str>,
    pub front: Arc<Front>,
}

pub struct UplinkState {
    args: UplinkArgs,
    publishers: Publishers,
    fbb: FlatBufferBuilder<'static>,
    /// The next sequence number of each sensor.
    sequences: HashMap<&'static str, u64>,
    /// The epoch of `sequences`, stamped on every event: a restarted uplink has a later one.
    boot_ns: u64,
    started: Instant,
    sent: u64,
}

pub enum UplinkMsg {
    Publish {
        sensor: &'static str,
        draft: EventDraft,
    },
    Heartbeat,
}

/// How detectors report: a cheap clone of the uplink's address and its bounded front.
#[derive(Clone)]
pub struct UplinkHandle {
    actor: ActorRef<UplinkMsg>,
    front: Arc<Front>,
}

impl UplinkHandle {
    pub fn new(actor: ActorRef<UplinkMsg>, front: Arc<Front>) -> Self {
        Self { actor, front }
    }

    /// Queues a detection; drops and counts it when the queue is full or the uplink is gone.
    pub fn report(&self, sensor: &'static str, draft: EventDraft) {
        self.front
            .send(&self.actor, UplinkMsg::Publish { sensor, draft });
    }
}

/// A detection of a catalog type with the catalog's severity, happening now.
pub fn draft(kind: &catalog::EventType, origin: &str, context: ContextDraft) -> EventDraft {
    EventDraft {
        event_id: kind.id,
        severity: kind.severity,
        count: 1,
        timestamp_ns: now_ns(),
        origin: origin.to_owned(),
        context,
        evidence: Vec::new(),
    }
}

/// A health event of the agent about one of its parts.
pub fn health(kind: &catalog::EventType, ecu: &str, health: SensorHealthDraft) -> EventDraft {
    draft(kind, ecu, ContextDraft::SensorHealth(health))
}

impl Actor for Uplink {
    type Msg = UplinkMsg;
    type State = UplinkState;
    type Arguments = UplinkArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: UplinkArgs,
    ) -> Result<Self::State, ActorError> {
        // Collected before the await: a lazy iterator of closures would not be Send.
        let mut keys: Vec<String> = args
            .sensors
            .iter()
            .map(|sensor| keys::event(&args.vin, &args.ecu, sensor))
            .collect();
        keys.push(keys::heartbeat(&args.vin, &args.ecu));
        let publishers = Publishers::declare(Arc::clone(&args.session), bus::DATA, keys).await?;
        myself.send_interval(HEARTBEAT_PERIOD, || UplinkMsg::Heartbeat);
        Ok(UplinkState {
            args,
            publishers,
            fbb: FlatBufferBuilder::new(),
            sequences: HashMap::new(),
            boot_ns: now_ns(),
            started: Instant::now(),
            sent: 0,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: UplinkMsg,
        state: &mut UplinkState,
    ) -> Result<(), ActorError> {
        match msg {
            UplinkMsg::Publish { sensor, draft } => {
                state.args.front.taken();
                state.publish(sensor, &draft).await?;
            }
            UplinkMsg::Heartbeat => state.heartbeat().await?,
        }
        Ok(())
    }
}

impl UplinkState {
    async fn publish(
        &mut self,
        sensor: &'static str,
        draft: &EventDraft,
    ) -> Result<(), ActorError> {
        let next = self.sequences.entry(sensor).or_insert(1);
        let seq = *next;
        *next += 1;
        let stamp = Stamp {
            vin: &self.args.vin,
            ecu: &self.args.ecu,
            sensor,
            seq,
            timestamp_ns: draft.timestamp_ns,
            boot_ns: self.boot_ns,
        };
        let bytes = encode::event(&mut self.fbb, &stamp, draft);
        let key = keys::event(&self.args.vin, &self.args.ecu, sensor);
        self.publishers.put(&key, bytes).await?;
        self.sent += 1;
        debug!(
            sensor,
            seq,
            event = catalog::name_of(draft.event_id),
            "Event published."
        );
        Ok(())
    }

    async fn heartbeat(&mut self) -> Result<(), ActorError> {
        let front = Arc::clone(&self.args.front);
        let new_drops = front.unreported_drops();
        if new_drops > 0 {
            warn!(ecu = %self.args.ecu, dropped = new_drops, "Uplink queue full, events dropped.");
            let event = health(
                &catalog::SENSOR_QUEUE_OVERFLOW,
                &self.args.ecu,
                SensorHealthDraft {
                    subject: "uplink".into(),
                    reason: format!("queue of {} full", front.capacity()),
                    restarts: 0,
                    dropped: new_drops,
                },
            );
            self.publish(super::agent::AGENT, &event).await?;
        }
        let bytes = encode::heartbeat(
            &mut self.fbb,
            &HeartbeatDraft {
                vin: &self.args.vin,
                ecu: &self.args.ecu,
                timestamp_ns: now_ns(),
                uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
                events_sent: self.sent,
                events_dropped: front.dropped(),
            },
        );
        let key = keys::heartbeat(&self.args.vin, &self.args.ecu);
        self.publishers.put(&key, bytes).await?;
        Ok(())
    }
}
