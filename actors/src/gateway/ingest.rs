//! Ingest: every security event from the backbone is queued per sensor, served round-robin,
//! verified in place, checked against the key it came on and against replays (boot epoch,
//! sequence number, timestamp), and handed to the correlator without being decoded. Sensor
//! liveliness and vehicle signals arrive here too, and ingest answers the gateway's metrics.
//!
//! Overload: the Zenoh callback only maps the key to its sensor's lane of a [`FairQueue`] (keys
//! of no ECU or sensor of the topology are counted and dropped there) and wakes the actor. Each
//! lane is bounded and rate-limited by the topology's `[limits]`, so a flooding sensor loses its
//! own excess, counted and reported per sensor, while every other sensor keeps its room and gets
//! its turn every round. The actor hands events to the correlator only while the correlator's
//! backlog is under [`HANDOFF_CAPACITY`] (a [`Front`] the correlator counts down), so no queue
//! between the network and the rules is unbounded.
//!
//! Exactly-once: each sensor's record (epoch, last sequence number, events accepted, open holes)
//! is kept in the gateway's store (`ledger`). After each serving round ingest saves the records
//! that changed and then publishes, per sensor, a cumulative receipt (`EventAck` on
//! `received/<ecu>`) up to the number before its first open hole (`holes`), which lets the
//! agent's durable outbox free those events and keep the ones the hole may be waiting for: events
//! lost in transport are sent again and accepted late. Events resent after a lost receipt or a
//! gateway restart are duplicates: counted, acknowledged again, not correlated. A hole given up
//! is reported as a `sensor.sequence_gap` of what it lost.

pub mod fair;
pub mod holes;
pub mod ledger;
pub mod metrics;
pub mod rate;
pub mod sequence;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use flatbuffers::{FlatBufferBuilder, InvalidFlatbuffer, VerifierOptions};
use ractor::{Actor, ActorRef};
use redb::Database;
use tracing::{debug, info, warn};
use vsiem_schemas::encode::{self, EventAckDraft, SensorHealthDraft, VehicleSnapshot};
use vsiem_schemas::{catalog, now_ns, read, wire};
use vsiem_topology::Topology;
use zenoh::bytes::ZBytes;
use zenoh::pubsub::Subscriber;
use zenoh::query::{Query, Queryable};
use zenoh::sample::SampleKind;
use zenoh::Session;

use super::correlator::CorrelatorMsg;
use super::strays::Strays;
use crate::bus::{self, keys, Publishers};
use crate::front::Front;
use crate::sensor::agent::AGENT;
use crate::sensor::uplink::{self, UplinkHandle};
use crate::ActorError;
use fair::{Entry, FairQueue, LaneStats, RoundRobin};
use holes::{Hole, Holes};
use ledger::{Ledger, Record};
use metrics::{Decisions, Latencies, Metrics, SensorMetrics};
use sequence::{Claim, TimeWindow, Track, Verdict};

pub const SENSOR: &str = "ingest";
/// Events handed to the correlator and not yet taken by it, at most.
pub const HANDOFF_CAPACITY: usize = 1024;
/// Events of one sensor served per turn of the round-robin.
const QUANTUM: usize = 32;
/// Events served per `Serve` message, so that reports, liveliness and queries are not starved.
const SERVE_BUDGET: usize = 256;
/// How soon to look again when the correlator's backlog is full.
const HANDOFF_RETRY: Duration = Duration::from_millis(1);
/// Metrics queries that may wait for the actor before new ones are dropped.
const QUERY_CAPACITY: usize = 16;
const REPORT_PERIOD: Duration = Duration::from_secs(1);

/// A security event whose buffer has been verified: it can be read in place any number of times
/// without verifying again. Only [`VerifiedEvent::verify`] makes one.
#[derive(Clone)]
pub struct VerifiedEvent(ZBytes);

impl VerifiedEvent {
    /// Verifies within the topology's bounds (`[limits]` `flatbuffers_*`).
    pub fn verify(payload: ZBytes, bounds: &VerifierOptions) -> Result<Self, InvalidFlatbuffer> {
        read::verified_within::<wire::SecurityEvent>(bounds, &payload.to_bytes())?;
        Ok(Self(payload))
    }

    /// Lends the event's view to `f`.
    pub fn with<R>(&self, f: impl FnOnce(wire::SecurityEvent<'_>) -> R) -> R {
        let bytes = self.0.to_bytes();
        // SAFETY: the same immutable bytes passed the verifier when `self` was made.
        f(unsafe { flatbuffers::root_unchecked::<wire::SecurityEvent>(&bytes) })
    }
}

pub struct Ingest;

pub struct IngestArgs {
    pub session: Arc<Session>,
    pub topology: Arc<Topology>,
    pub correlator: ActorRef<CorrelatorMsg>,
    /// The correlator's backlog: ingest sends through it, the correlator counts each event taken.
    pub handoff: Arc<Front>,
    pub uplink: UplinkHandle,
    /// Block acks the responder's verifier refused, for ingest's reports.
    pub rejected_acks: Arc<Strays>,
    /// The gateway's store, which holds the ledger.
    pub store: Arc<Database>,
}

/// One event as it arrived, before anything is checked.
struct Arrival {
    payload: ZBytes,
    /// Wall clock at arrival: the event's age is judged from here, not from when it is served.
    arrived_ns: u64,
}

/// What the Zenoh callbacks share with the actor.
struct Inbox {
    queue: FairQueue<Arrival>,
    /// Each sensor's full event key, to its lane.
    lanes: HashMap<String, usize>,
    /// Events on keys of no sensor of the topology.
    unknown: Strays,
    /// Vehicle signals the verifier refused.
    rejected_signals: Strays,
    /// A `Serve` message is on its way to the actor.
    scheduled: AtomicBool,
}

impl Inbox {
    /// Queues an event on its sensor's lane; true if it was queued.
    fn offer(&self, key: &str, payload: ZBytes) -> bool {
        let Some(&lane) = self.lanes.get(key) else {
            self.unknown.note(key);
            return false;
        };
        let arrival = Arrival {
            payload,
            arrived_ns: now_ns(),
        };
        self.queue.push(lane, arrival, monotonic_ns()).is_ok()
    }

    /// Makes sure a `Serve` is on its way; false if the actor is gone.
    fn wake(&self, actor: &ActorRef<IngestMsg>) -> bool {
        self.scheduled.swap(true, Ordering::AcqRel) || actor.cast(IngestMsg::Serve).is_ok()
    }
}

/// Nanoseconds on a monotonic clock, for rate limits (the wall clock may jump).
fn monotonic_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// One (ECU, sensor) of the topology, as the actor knows it.
struct Sensor {
    ecu: String,
    sensor: String,
    /// "ecu/sensor", how reports and metrics name it.
    name: String,
    track: Option<Track>,
    /// The numbers skipped below `track.last_seq` that may still come (persisted with it).
    holes: Holes,
    /// Events accepted since the gateway's store was made (persisted with `track`).
    recorded: u64,
    /// The record changed since it was last saved.
    changed: bool,
    /// A receipt is owed: an event was accepted, or one recorded before came again.
    receipt_due: bool,
    /// Events of this sensor the gateway refused since it last accepted one.
    refused_since: u64,
    decisions: Decisions,
    latencies: Latencies,
    /// The lane's drop counters as last reported.
    reported: LaneStats,
    /// Buffers refused by the verifier as last reported, and why the latest one was.
    rejected_reported: u64,
    last_rejection: String,
    /// Duplicates as last reported, and the latest one: resends after a lost receipt or a
    /// gateway restart come by the window, so they are reported once a second, not each.
    duplicates_reported: u64,
    last_duplicate: String,
}

impl Sensor {
    /// Gives up `holes`: their numbers will not come. What each lost (less the gateway's own
    /// refusals) is counted and reported as a gap, and the receipt moves past them.
    fn give_up(&mut self, uplink: &UplinkHandle, holes: Vec<Hole>) {
        for hole in holes {
            self.changed = true;
            self.receipt_due = true;
            let lost = hole.lost();
            if lost == 0 {
                continue;
            }
            self.decisions.gaps += 1;
            self.decisions.lost += lost;
            warn!(sensor = %self.name, first = hole.first, last = hole.last, lost, "Event sequence gap.");
            let report = SensorHealthDraft {
                subject: self.name.clone(),
                reason: format!(
                    "{lost} of sequence numbers {} to {} missing",
                    hole.first, hole.last
                ),
                restarts: 0,
                dropped: lost,
            };
            uplink.report(
                SENSOR,
                uplink::health(&catalog::SENSOR_SEQUENCE_GAP, &self.ecu, report),
            );
        }
    }
}

/// The sensors that may send events: each sensor of each ECU, each agent's own reports, and
/// the gateway's own reports (ingest's, the rule watcher's).
fn sensors_of(topology: &Topology) -> Vec<Sensor> {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for ecu in &topology.ecus {
        let kinds = ecu.sensors.iter().map(|k| k.as_str()).chain([AGENT]);
        pairs.extend(kinds.map(|sensor| (ecu.name.as_str(), sensor)));
    }
    pairs.extend(super::SENSORS.map(|sensor| (super::ECU, sensor)));
    pairs.sort_unstable();
    pairs.dedup();
    pairs
        .into_iter()
        .map(|(ecu, sensor)| Sensor {
            ecu: ecu.to_owned(),
            sensor: sensor.to_owned(),
            name: format!("{ecu}/{sensor}"),
            track: None,
            holes: Holes::default(),
            recorded: 0,
            changed: false,
            receipt_due: false,
            refused_since: 0,
            decisions: Decisions::default(),
            latencies: Latencies::default(),
            reported: LaneStats::default(),
            rejected_reported: 0,
            last_rejection: String::new(),
            duplicates_reported: 0,
            last_duplicate: String::new(),
        })
        .collect()
}

/// The per-event work: judging, reporting, handing off.
struct Desk {
    vin: String,
    window: TimeWindow,
    /// The verifier's bounds on every event buffer.
    bounds: VerifierOptions,
    sensors: Vec<Sensor>,
    correlator: ActorRef<CorrelatorMsg>,
    handoff: Arc<Front>,
    uplink: UplinkHandle,
    ledger: Ledger,
    /// Publishers of the receipts, one per ECU.
    receipts: Publishers,
    fbb: FlatBufferBuilder<'static>,
}

pub struct IngestState {
    desk: Desk,
    inbox: Arc<Inbox>,
    round_robin: RoundRobin<Arrival>,
    rate_per_second: u64,
    rejected_acks: Arc<Strays>,
    queries: Arc<Front>,
    _events: Subscriber<()>,
    _signals: Subscriber<()>,
    _alive: Subscriber<()>,
    _metrics: Queryable<()>,
}

pub enum IngestMsg {
    /// Serve the lanes (sent by the callbacks when they queue, and by the actor to itself).
    Serve,
    Alive {
        key: String,
        up: bool,
    },
    Report,
    Metrics(Query),
}

impl Actor for Ingest {
    type Msg = IngestMsg;
    type State = IngestState;
    type Arguments = IngestArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: IngestArgs,
    ) -> Result<Self::State, ActorError> {
        let vin = args.topology.vin().to_owned();
        let limits = &args.topology.limits;
        let mut sensors = sensors_of(&args.topology);
        let (ledger, mut records) = Ledger::open(Arc::clone(&args.store))?;
        for sensor in &mut sensors {
            if let Some(r) = records.remove(&sensor.name) {
                sensor.track = Some(r.track);
                sensor.holes = Holes::restore(r.holes, monotonic_ns());
                sensor.recorded = r.recorded;
            }
        }
        let mut ecus: Vec<String> = sensors
            .iter()
            .map(|s| keys::received(&vin, &s.ecu))
            .collect();
        ecus.dedup();
        let receipts = Publishers::declare(Arc::clone(&args.session), bus::DATA, ecus).await?;
        let rate = limits.events_per_sensor_per_second;
        let inbox = Arc::new(Inbox {
            queue: FairQueue::new(sensors.len(), limits.ingest_queue_per_sensor, rate, rate),
            lanes: sensors
                .iter()
                .enumerate()
                .map(|(lane, s)| (keys::event(&vin, &s.ecu, &s.sensor), lane))
                .collect(),
            unknown: Strays::default(),
            rejected_signals: Strays::default(),
            scheduled: AtomicBool::new(false),
        });
        let events = {
            let (me, inbox) = (myself.clone(), Arc::clone(&inbox));
            args.session
                .declare_subscriber(keys::all_events(&vin))
                .callback(move |sample| {
                    if inbox.offer(sample.key_expr().as_str(), sample.payload().clone())
                        && !inbox.wake(&me)
                    {
                        debug!("Ingest gone; event dropped.");
                    }
                })
                .await?
        };
        let bounds = limits.flatbuffers;
        let signals = {
            let (correlator, inbox) = (args.correlator.clone(), Arc::clone(&inbox));
            args.session
                .declare_subscriber(keys::all_signals(&vin))
                .callback(move |sample| {
                    match read::verified_within::<wire::VehicleSignal>(
                        &bounds.options(),
                        &sample.payload().to_bytes(),
                    ) {
                        Ok(signal) => {
                            let snapshot = VehicleSnapshot::from_wire(&signal.state());
                            let _ = correlator.cast(CorrelatorMsg::Signal(snapshot));
                        }
                        Err(e) => {
                            debug!(key = %sample.key_expr(), error = %e, "Invalid vehicle signal.");
                            inbox.rejected_signals.note(sample.key_expr().as_str());
                        }
                    }
                })
                .await?
        };
        let alive = {
            let me = myself.clone();
            args.session
                .liveliness()
                .declare_subscriber(keys::all_alive(&vin))
                .history(true)
                .callback(move |sample| {
                    let up = sample.kind() == SampleKind::Put;
                    let _ = me.cast(IngestMsg::Alive {
                        key: sample.key_expr().to_string(),
                        up,
                    });
                })
                .await?
        };
        let queries = Front::new(QUERY_CAPACITY);
        let metrics = {
            let (me, queries) = (myself.clone(), Arc::clone(&queries));
            args.session
                .declare_queryable(keys::metrics(&vin, super::ECU))
                .callback(move |query| queries.send(&me, IngestMsg::Metrics(query)))
                .await?
        };
        myself.send_interval(REPORT_PERIOD, || IngestMsg::Report);
        let window = TimeWindow {
            max_age_ns: limits.event_max_age_ms.saturating_mul(1_000_000),
            max_skew_ns: limits.clock_skew_ms.saturating_mul(1_000_000),
        };
        Ok(IngestState {
            desk: Desk {
                vin,
                window,
                bounds: bounds.options(),
                sensors,
                correlator: args.correlator,
                handoff: args.handoff,
                uplink: args.uplink,
                ledger,
                receipts,
                fbb: FlatBufferBuilder::new(),
            },
            inbox,
            round_robin: RoundRobin::new(QUANTUM),
            rate_per_second: rate,
            rejected_acks: args.rejected_acks,
            queries,
            _events: events,
            _signals: signals,
            _alive: alive,
            _metrics: metrics,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: IngestMsg,
        state: &mut IngestState,
    ) -> Result<(), ActorError> {
        match msg {
            IngestMsg::Serve => state.serve(&myself).await?,
            IngestMsg::Alive { key, up } => state.desk.alive(&key, up),
            IngestMsg::Report => {
                state.report();
                state.desk.expire_holes();
                state.desk.settle().await?;
            }
            IngestMsg::Metrics(query) => {
                state.queries.taken();
                state.answer(query).await;
            }
        }
        Ok(())
    }
}

impl IngestState {
    async fn serve(&mut self, myself: &ActorRef<IngestMsg>) -> Result<(), ActorError> {
        // Cleared before serving: a callback that queues from now on sends another `Serve`.
        self.inbox.scheduled.store(false, Ordering::Release);
        let budget = self.desk.handoff.room().min(SERVE_BUDGET);
        let desk = &mut self.desk;
        self.round_robin
            .serve(&self.inbox.queue, budget, |lane, entry| {
                desk.event(lane, entry)
            });
        self.desk.settle().await?;
        if self.inbox.queue.is_empty() || self.inbox.scheduled.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if self.desk.handoff.room() == 0 {
            myself.send_after(HANDOFF_RETRY, || IngestMsg::Serve);
        } else {
            let _ = myself.cast(IngestMsg::Serve);
        }
        Ok(())
    }

    /// Reports what the lanes and the callback dropped since the last report, per sensor.
    fn report(&mut self) {
        let capacity = self.inbox.queue.capacity();
        for (lane, sensor) in self.desk.sensors.iter_mut().enumerate() {
            let now = self.inbox.queue.stats(lane);
            let drops = [
                (
                    &catalog::SENSOR_RATE_LIMITED,
                    now.rate_limited - sensor.reported.rate_limited,
                    format!("more than {} events/s", self.rate_per_second),
                ),
                (
                    &catalog::SENSOR_QUEUE_OVERFLOW,
                    now.overflow - sensor.reported.overflow,
                    format!("ingest queue of {capacity} full"),
                ),
                (
                    &catalog::LIMIT_FLATBUFFER_REJECTED,
                    sensor.decisions.rejected - sensor.rejected_reported,
                    format!(
                        "refused by the FlatBuffers verifier: {}",
                        sensor.last_rejection
                    ),
                ),
                (
                    &catalog::SENSOR_SEQUENCE_REPLAY,
                    sensor.decisions.duplicates - sensor.duplicates_reported,
                    match sensor.decisions.duplicates - sensor.duplicates_reported {
                        0 | 1 => sensor.last_duplicate.clone(),
                        n => format!("{}, and {} more seen before", sensor.last_duplicate, n - 1),
                    },
                ),
            ];
            for (kind, dropped, reason) in drops {
                if dropped > 0 {
                    warn!(sensor = %sensor.name, dropped, %reason, "Events dropped at ingest.");
                    let report = SensorHealthDraft {
                        subject: sensor.name.clone(),
                        reason,
                        restarts: 0,
                        dropped,
                    };
                    self.desk
                        .uplink
                        .report(SENSOR, uplink::health(kind, &sensor.ecu, report));
                }
            }
            sensor.reported = now;
            sensor.rejected_reported = sensor.decisions.rejected;
            sensor.duplicates_reported = sensor.decisions.duplicates;
        }
        let strays = [
            (
                &self.inbox.unknown,
                &catalog::SENSOR_UNKNOWN_SOURCE,
                "no such ECU or sensor in the topology",
            ),
            (
                &self.inbox.rejected_signals,
                &catalog::LIMIT_FLATBUFFER_REJECTED,
                "vehicle signals refused by the FlatBuffers verifier",
            ),
            (
                &*self.rejected_acks,
                &catalog::LIMIT_FLATBUFFER_REJECTED,
                "block acks refused by the FlatBuffers verifier",
            ),
        ];
        for (strays, kind, reason) in strays {
            let Some((dropped, key)) = strays.since_reported() else {
                continue;
            };
            warn!(%key, dropped, reason, "Dropped on arrival.");
            let origin = match keys::parse(&key) {
                Some(
                    keys::Kind::Event { ecu, .. }
                    | keys::Kind::Signal { ecu }
                    | keys::Kind::Ack { ecu },
                ) => ecu.to_owned(),
                _ => String::new(),
            };
            let report = SensorHealthDraft {
                subject: key,
                reason: reason.into(),
                restarts: 0,
                dropped,
            };
            self.desk
                .uplink
                .report(SENSOR, uplink::health(kind, &origin, report));
        }
    }

    fn metrics(&self) -> Metrics {
        Metrics {
            unknown_source: self.inbox.unknown.total(),
            rejected_signals: self.inbox.rejected_signals.total(),
            rejected_acks: self.rejected_acks.total(),
            queue_capacity_per_sensor: self.inbox.queue.capacity(),
            correlator_backlog: self.desk.handoff.pending(),
            correlator_backlog_capacity: self.desk.handoff.capacity(),
            sensors: self
                .desk
                .sensors
                .iter()
                .enumerate()
                .map(|(lane, s)| {
                    let lane = self.inbox.queue.stats(lane);
                    (
                        s.name.clone(),
                        SensorMetrics::new(lane, s.decisions, &s.latencies, s.recorded)
                            .with_sequence(s.track, &s.holes),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
        }
    }

    async fn answer(&self, query: Query) {
        let json = match serde_json::to_vec(&self.metrics()) {
            Ok(json) => json,
            Err(e) => {
                warn!(error = %e, "Metrics do not serialize.");
                return;
            }
        };
        if let Err(e) = query.reply(query.key_expr().clone(), json).await {
            warn!(error = %e, "Metrics query not answered.");
        }
    }
}

impl Desk {
    /// Saves the records this round changed, then sends the receipts owed: a sensor's events
    /// are acknowledged only once the gateway's record of them is in its store.
    async fn settle(&mut self) -> Result<(), ActorError> {
        let changed: Vec<(&str, Record)> = self
            .sensors
            .iter()
            .filter(|s| s.changed)
            .filter_map(|s| {
                let record = Record {
                    track: s.track?,
                    recorded: s.recorded,
                    holes: s.holes.iter().collect(),
                };
                Some((s.name.as_str(), record))
            })
            .collect();
        if !changed.is_empty() {
            self.ledger.save(changed)?;
        }
        for sensor in self.sensors.iter_mut().filter(|s| s.receipt_due) {
            sensor.changed = false;
            sensor.receipt_due = false;
            let Some(track) = sensor.track else {
                continue;
            };
            let receipt = encode::event_ack(
                &mut self.fbb,
                &EventAckDraft {
                    vin: &self.vin,
                    ecu: &sensor.ecu,
                    sensor: &sensor.sensor,
                    boot_ns: track.boot_ns,
                    seq: sensor.holes.settled(track.last_seq),
                },
            );
            self.receipts
                .put(&keys::received(&self.vin, &sensor.ecu), receipt)
                .await?;
        }
        Ok(())
    }

    fn event(&mut self, lane: usize, entry: Entry<Arrival>) {
        fail::fail_point!("ingest.event");
        let Entry {
            item: Arrival {
                payload,
                arrived_ns,
            },
            dropped_before,
        } = entry;
        let sensor = &mut self.sensors[lane];
        sensor.refused_since += dropped_before;
        let event = match VerifiedEvent::verify(payload, &self.bounds) {
            Ok(event) => event,
            Err(e) => {
                sensor.decisions.rejected += 1;
                sensor.refused_since += 1;
                sensor.last_rejection = e.to_string();
                warn!(sensor = %sensor.name, error = %e, "Event buffer refused by the verifier.");
                return;
            }
        };
        let claim = event.with(|e| {
            if e.vin() != self.vin || e.ecu() != sensor.ecu || e.sensor() != sensor.sensor {
                return Err(format!("claims {}/{}/{}", e.vin(), e.ecu(), e.sensor()));
            }
            Ok(Claim {
                boot_ns: e.boot_ns(),
                seq: e.seq(),
                timestamp_ns: e.timestamp_ns(),
            })
        });
        let claim = match claim {
            Ok(claim) => claim,
            Err(why) => {
                sensor.decisions.invalid += 1;
                sensor.refused_since += 1;
                warn!(sensor = %sensor.name, %why, "Invalid security event dropped.");
                return;
            }
        };
        let verdict = sequence::judge(
            &mut sensor.track,
            &sensor.holes,
            claim,
            arrived_ns,
            sensor.refused_since,
            self.window,
        );
        if verdict.may_fill_a_gap() {
            sensor.refused_since += 1;
        }
        let seq = claim.seq;
        let (kind, reason, dropped) = match verdict {
            Verdict::Accept { .. } | Verdict::Late => {
                let mut given_up = Vec::new();
                if let Verdict::Accept { hole, restarted } = verdict {
                    sensor.refused_since = 0;
                    if restarted {
                        sensor.decisions.restarts += 1;
                        info!(sensor = %sensor.name, boot_ns = claim.boot_ns, "Sensor restarted: new epoch.");
                        given_up = sensor.holes.clear();
                    }
                    if let Some(hole) = hole {
                        debug!(sensor = %sensor.name, seq, first = hole.first, "Event sequence numbers skipped; waiting for them.");
                        given_up.extend(sensor.holes.open(hole, monotonic_ns()));
                    }
                } else {
                    sensor.holes.fill(seq);
                    debug!(sensor = %sensor.name, seq, "Late event accepted: it fills a hole.");
                }
                sensor.decisions.accepted += 1;
                sensor.recorded += 1;
                sensor.changed = true;
                sensor.receipt_due = true;
                let latency = now_ns().saturating_sub(claim.timestamp_ns);
                sensor.latencies.record(latency);
                debug!(sensor = %sensor.name, seq, "Event accepted.");
                self.handoff
                    .send(&self.correlator, CorrelatorMsg::Event(event));
                sensor.give_up(&self.uplink, given_up);
                return;
            }
            Verdict::Duplicate { last_seq } => {
                sensor.decisions.duplicates += 1;
                // Sent again because its receipt was lost (or the gateway restarted before
                // sending it): acknowledge again, so that the agent lets go of it.
                sensor.receipt_due = true;
                debug!(sensor = %sensor.name, seq, last_seq, "Event sequence number seen before.");
                sensor.last_duplicate = format!("sequence number {seq} after {last_seq}");
                // Resent beyond open holes: the sensor does not hold them, unless ingest itself
                // refused some of the resends (they come again with the next window).
                if sensor.refused_since == 0 {
                    let passed = sensor.holes.passed_over(seq);
                    sensor.give_up(&self.uplink, passed);
                }
                return;
            }
            Verdict::OldEpoch { current_boot_ns } => {
                sensor.decisions.replays += 1;
                warn!(sensor = %sensor.name, seq, boot_ns = claim.boot_ns, current_boot_ns, "Event of an earlier run replayed.");
                let reason = format!(
                    "sequence number {seq} of an earlier run (epoch {} before {current_boot_ns})",
                    claim.boot_ns
                );
                (&catalog::SENSOR_SEQUENCE_REPLAY, reason, 0)
            }
            Verdict::Stale { age_ns } => {
                sensor.decisions.stale += 1;
                warn!(sensor = %sensor.name, seq, age_ns, "Stale event dropped.");
                let reason = format!(
                    "sequence number {seq} is {} ms old, beyond the {} ms limit",
                    age_ns / 1_000_000,
                    self.window.max_age_ns / 1_000_000
                );
                (&catalog::SENSOR_EVENT_STALE, reason, 1)
            }
            Verdict::Future { ahead_ns } => {
                sensor.decisions.future += 1;
                warn!(sensor = %sensor.name, seq, ahead_ns, "Event from the future dropped.");
                let reason = format!(
                    "sequence number {seq} is {} ms ahead of the gateway's clock, beyond the {} ms skew bound",
                    ahead_ns / 1_000_000,
                    self.window.max_skew_ns / 1_000_000
                );
                (&catalog::SENSOR_EVENT_STALE, reason, 1)
            }
        };
        let report = SensorHealthDraft {
            subject: sensor.name.clone(),
            reason,
            restarts: 0,
            dropped,
        };
        self.uplink
            .report(SENSOR, uplink::health(kind, &sensor.ecu, report));
    }

    /// Gives up the holes that waited their grace.
    fn expire_holes(&mut self) {
        let now = monotonic_ns();
        for sensor in &mut self.sensors {
            let expired = sensor.holes.expired(now);
            sensor.give_up(&self.uplink, expired);
        }
    }

    fn alive(&mut self, key: &str, up: bool) {
        let Some(keys::Kind::Alive { ecu }) = keys::parse(key) else {
            return;
        };
        if up {
            // Sequences are not reset here: a restarted agent says so with a later boot epoch,
            // and resetting on a token would let a replay through right after a reconnect.
            info!(ecu, "Sensor agent up.");
        } else {
            warn!(ecu, "Sensor agent silent.");
            let report = SensorHealthDraft {
                subject: ecu.to_owned(),
                reason: "liveliness token lost".into(),
                restarts: 0,
                dropped: 0,
            };
            self.uplink
                .report(SENSOR, uplink::health(&catalog::SENSOR_SILENT, ecu, report));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sensor_of_the_reference_gets_one_lane() {
        let topology = Topology::reference();
        let names: Vec<String> = sensors_of(&topology).into_iter().map(|s| s.name).collect();
        for want in [
            "ivi/files",
            "ivi/processes",
            "ivi/agent",
            "body-dc/someip",
            "gateway/net",
            "gateway/ingest",
            "chassis-dc/signals",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing from {names:?}"
            );
        }
        assert!(
            !names.iter().any(|n| n == "ivi/net"),
            "ivi has no net sensor"
        );
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(unique, names, "sorted and unique");
    }
}
