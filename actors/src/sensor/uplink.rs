//! The uplink: stamps each detection with its sensor's next sequence number, encodes it as a
//! SecurityEvent, commits it to the agent's durable outbox and publishes it to the gateway,
//! which acknowledges it (`outbox`: windowed, resent until acknowledged, bounded by
//! `limits.uplink_queue_events`); and sends heartbeats.
//!
//! Detectors reach it through an [`UplinkHandle`], a bounded front: when more than
//! [`QUEUE_CAPACITY`] events wait, new ones are dropped and counted, and the count is itself
//! reported as a `sensor.queue_overflow` event at the next heartbeat.
//!
//! Every detection is qualified before it is stamped (IdsM style, `qualify` and `limits`): its
//! type's filters, then the agent's rate and traffic limits. What they hold back takes no
//! sequence number (the gateway reads a gap as loss); the limits report it as
//! `sensor.traffic_limit_exceeded`, once per interval.

mod limits;
pub mod outbox;
mod qualify;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flatbuffers::FlatBufferBuilder;
use ractor::{Actor, ActorRef};
use redb::Database;
use tracing::{debug, info, warn};
use vsiem_schemas::encode::{
    self, ContextDraft, EventDraft, HeartbeatDraft, SensorHealthDraft, Stamp,
};
use vsiem_schemas::{catalog, now_ns, read};
use vsiem_topology::AgentQualification;
use zenoh::pubsub::Subscriber;
use zenoh::Session;

use limits::{HeldBack, Limit, Limits};
use outbox::Outbox;
use qualify::{Chain, Counters, Qualified};

use crate::bus::{self, keys, Publishers};
use crate::front::Front;
use crate::ActorError;

/// Events that may wait for the uplink before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 4096;

pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(1);

/// How often ended qualification windows are closed: aggregates leave, and limit reports are
/// sent, at most this late.
pub const FLUSH_PERIOD: Duration = Duration::from_millis(50);

pub struct Uplink;

pub struct UplinkArgs {
    pub session: Arc<Session>,
    pub vin: String,
    pub ecu: String,
    /// The sensors that will report, whose publishers are declared at start.
    pub sensors: Vec<&'static str>,
    pub front: Arc<Front>,
    /// The qualification of this agent's ECU.
    pub qualification: AgentQualification,
    /// The agent's store, which holds the outbox.
    pub store: Arc<Database>,
    /// Events the outbox holds at most (`limits.uplink_queue_events`).
    pub outbox_capacity: usize,
}

pub struct UplinkState {
    args: UplinkArgs,
    publishers: Publishers,
    fbb: FlatBufferBuilder<'static>,
    /// Every stamped event until the gateway has it, with the epoch and sequence counters.
    outbox: Outbox,
    started: Instant,
    sent: u64,
    chain: Chain,
    limits: Limits,
    limited: Limited,
    /// What the last heartbeat logged, to log only changes.
    logged: (Counters, Limited),
    /// Reused for what leaves the filter chain.
    released: Vec<Qualified>,
    _receipts: Subscriber<()>,
}

/// Detections the limits held back since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Limited {
    rate: u64,
    traffic: u64,
}

pub enum UplinkMsg {
    Publish {
        sensor: &'static str,
        draft: EventDraft,
    },
    Heartbeat,
    /// Close ended qualification windows, send what the outbox has due.
    Flush,
    /// The gateway recorded `sensor`'s events of epoch `boot_ns` up to `seq`.
    Received {
        sensor: String,
        boot_ns: u64,
        seq: u64,
    },
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
        let mut outbox = Outbox::open(Arc::clone(&args.store), args.outbox_capacity)?;
        let discarded = outbox.discard_other_sensors(&args.sensors)?;
        if !outbox.is_empty() {
            info!(ecu = %args.ecu, events = outbox.len(), "Outbox holds events of an earlier run; sending them.");
        }
        let receipts = {
            let (me, vin, ecu) = (myself.clone(), args.vin.clone(), args.ecu.clone());
            args.session
                .declare_subscriber(keys::received(&args.vin, &args.ecu))
                .callback(move |sample| {
                    let bytes = sample.payload().to_bytes();
                    match read::event_ack(&bytes) {
                        Ok(ack) if ack.vin() == vin && ack.ecu() == ecu => {
                            let _ = me.cast(UplinkMsg::Received {
                                sensor: ack.sensor().to_owned(),
                                boot_ns: ack.boot_ns(),
                                seq: ack.seq(),
                            });
                        }
                        Ok(ack) => debug!(ecu = ack.ecu(), "Receipt for another ECU ignored."),
                        Err(e) => warn!(error = %e, "Invalid event receipt ignored."),
                    }
                })
                .await?
        };
        myself.send_interval(HEARTBEAT_PERIOD, || UplinkMsg::Heartbeat);
        myself.send_interval(FLUSH_PERIOD, || UplinkMsg::Flush);
        let limits = Limits::new(
            args.qualification.rate_limit,
            args.qualification.traffic_limit,
        );
        let chain = Chain::new(args.qualification.clone());
        let mut state = UplinkState {
            args,
            publishers,
            fbb: FlatBufferBuilder::new(),
            outbox,
            started: Instant::now(),
            sent: 0,
            chain,
            limits,
            limited: Limited::default(),
            logged: (Counters::default(), Limited::default()),
            released: Vec::new(),
            _receipts: receipts,
        };
        state.report_discarded(&discarded).await?;
        Ok(state)
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
                let now = state.started.elapsed();
                let mut released = std::mem::take(&mut state.released);
                state.chain.offer(now, sensor, draft, &mut released);
                state.send_released(released).await?;
            }
            UplinkMsg::Heartbeat => state.heartbeat().await?,
            UplinkMsg::Flush => state.flush().await?,
            UplinkMsg::Received {
                sensor,
                boot_ns,
                seq,
            } => {
                let freed = state.outbox.acked(&sensor, boot_ns, seq, Instant::now())?;
                debug!(sensor, seq, freed, "Gateway receipt.");
                state.send_due().await?;
            }
        }
        Ok(())
    }
}

impl UplinkState {
    /// Publishes what left the filter chain, keeping the emptied vector for reuse.
    async fn send_released(&mut self, mut released: Vec<Qualified>) -> Result<(), ActorError> {
        for Qualified { sensor, draft } in released.drain(..) {
            self.publish(sensor, &draft).await?;
        }
        self.released = released;
        Ok(())
    }

    /// Sends the aggregates of ended windows and the reports of ended limit intervals.
    async fn flush(&mut self) -> Result<(), ActorError> {
        let now = self.started.elapsed();
        let mut released = std::mem::take(&mut self.released);
        self.chain.flush(now, &mut released);
        self.send_released(released).await?;
        for held in self.limits.flush(now) {
            let event = self.limit_report(&held);
            self.publish(super::agent::AGENT, &event).await?;
        }
        self.send_due().await
    }

    /// Publishes what the outbox has due: new events within the window, or the window again
    /// after the gateway went silent.
    async fn send_due(&mut self) -> Result<(), ActorError> {
        for out in self.outbox.due(Instant::now())? {
            let key = keys::event(&self.args.vin, &self.args.ecu, &out.sensor);
            self.publishers.put(&key, &out.bytes).await?;
            debug!(sensor = out.sensor, seq = out.seq, "Event published.");
        }
        Ok(())
    }

    /// Reports the events of an earlier run that the outbox discarded, held for sensors this
    /// agent no longer runs (`Outbox::discard_other_sensors`), one report per sensor.
    async fn report_discarded(
        &mut self,
        discarded: &BTreeMap<String, u64>,
    ) -> Result<(), ActorError> {
        for (sensor, &dropped) in discarded {
            warn!(ecu = %self.args.ecu, sensor, dropped, "Outbox held events of a sensor this agent no longer runs; discarded.");
            let reason = format!(
                "events of sensor {sensor}, which this agent no longer runs, discarded from the store (the gateway would refuse them)"
            );
            self.report_overflow("uplink store", reason, dropped)
                .await?;
        }
        Ok(())
    }

    /// Publishes a `sensor.queue_overflow` of one of the uplink's queues.
    async fn report_overflow(
        &mut self,
        subject: &str,
        reason: String,
        dropped: u64,
    ) -> Result<(), ActorError> {
        let event = health(
            &catalog::SENSOR_QUEUE_OVERFLOW,
            &self.args.ecu,
            SensorHealthDraft {
                subject: subject.into(),
                reason,
                restarts: 0,
                dropped,
            },
        );
        self.publish(super::agent::AGENT, &event).await
    }

    /// Logs what a limit held back in one interval, and makes the event that reports it.
    fn limit_report(&self, held: &HeldBack) -> EventDraft {
        let (what, unit) = match held.limit {
            Limit::Rate => ("rate", "events"),
            Limit::Traffic => ("traffic", "bytes"),
        };
        warn!(
            ecu = %self.args.ecu,
            limit = what,
            events = held.events,
            detections = held.occurrences,
            bytes = held.bytes,
            "Uplink limit exceeded, events held back."
        );
        health(
            &catalog::SENSOR_TRAFFIC_LIMIT_EXCEEDED,
            &self.args.ecu,
            SensorHealthDraft {
                subject: format!("uplink {what} limit"),
                reason: format!(
                    "{} {unit} per {} ms exceeded: {} events ({} detections, {} bytes) held back",
                    held.max,
                    held.interval.as_millis(),
                    held.events,
                    held.occurrences,
                    held.bytes
                ),
                restarts: 0,
                dropped: held.occurrences,
            },
        )
    }

    /// Stamps, encodes, stores and publishes one qualified event, unless the limits hold it
    /// back; a held-back event takes no sequence number.
    async fn publish(
        &mut self,
        sensor: &'static str,
        draft: &EventDraft,
    ) -> Result<(), ActorError> {
        let seq = self.outbox.next_seq(sensor);
        let stamp = Stamp {
            vin: &self.args.vin,
            ecu: &self.args.ecu,
            sensor,
            seq,
            timestamp_ns: draft.timestamp_ns,
            boot_ns: self.outbox.epoch(),
        };
        let bytes = encode::event(&mut self.fbb, &stamp, draft);
        let now = self.started.elapsed();
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if qualify::is_health(draft.event_id) {
            self.limits.charge(now, size);
        } else if let Err(limit) = self.limits.admit(now, size, draft.count.into()) {
            let tally = match limit {
                Limit::Rate => &mut self.limited.rate,
                Limit::Traffic => &mut self.limited.traffic,
            };
            *tally += u64::from(draft.count);
            debug!(
                sensor,
                ?limit,
                event = catalog::name_of(draft.event_id),
                "Event held back."
            );
            return Ok(());
        }
        self.outbox.push(sensor, seq, draft.severity.0, bytes)?;
        self.sent += 1;
        debug!(
            sensor,
            seq,
            event = catalog::name_of(draft.event_id),
            "Event stored."
        );
        self.send_due().await
    }

    async fn heartbeat(&mut self) -> Result<(), ActorError> {
        self.log_qualification();
        let front = Arc::clone(&self.args.front);
        let new_drops = front.unreported_drops();
        if new_drops > 0 {
            warn!(ecu = %self.args.ecu, dropped = new_drops, "Uplink queue full, events dropped.");
            let reason = format!("queue of {} full", front.capacity());
            self.report_overflow("uplink", reason, new_drops).await?;
        }
        let store_drops = self.outbox.unreported_drops();
        if store_drops > 0 {
            warn!(ecu = %self.args.ecu, dropped = store_drops, "Uplink store full, lowest severity dropped.");
            let reason = format!(
                "store of {} events unacknowledged by the gateway full: lowest severity dropped first",
                self.outbox.capacity()
            );
            self.report_overflow("uplink store", reason, store_drops)
                .await?;
        }
        let bytes = encode::heartbeat(
            &mut self.fbb,
            &HeartbeatDraft {
                vin: &self.args.vin,
                ecu: &self.args.ecu,
                timestamp_ns: now_ns(),
                uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
                events_sent: self.sent,
                events_dropped: front.dropped() + self.outbox.dropped(),
            },
        );
        let key = keys::heartbeat(&self.args.vin, &self.args.ecu);
        self.publishers.put(&key, bytes).await?;
        Ok(())
    }

    /// Logs what qualification held back, when it changed since the last heartbeat.
    fn log_qualification(&mut self) {
        let now = (self.chain.counters(), self.limited);
        if now == self.logged {
            return;
        }
        self.logged = now;
        let (c, limited) = now;
        info!(
            ecu = %self.args.ecu,
            offered = c.offered,
            forwarded = c.forwarded,
            every_nth_waiting = c.every_nth_waiting,
            aggregating = c.aggregating,
            threshold_waiting = c.threshold_waiting,
            below_threshold = c.below_threshold,
            rate_limited = limited.rate,
            traffic_limited = limited.traffic,
            "Qualification counters (detections)."
        );
    }
}
