//! Ingest: every security event from the backbone is verified in place, checked against the key
//! it came on, deduplicated by (ECU, sensor, sequence number) and passed on to the correlator
//! without being decoded. Sensor liveliness and vehicle signals arrive here too.
//!
//! The Zenoh callbacks feed the actor through a bounded front: past [`QUEUE_CAPACITY`] waiting
//! events, new ones are dropped and counted, and the count is reported as an event.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use flatbuffers::InvalidFlatbuffer;
use ractor::{Actor, ActorRef};
use tracing::{debug, info, warn};
use vsiem_schemas::encode::{SensorHealthDraft, VehicleSnapshot};
use vsiem_schemas::{catalog, read, wire};
use zenoh::bytes::ZBytes;
use zenoh::pubsub::Subscriber;
use zenoh::sample::SampleKind;
use zenoh::Session;

use super::correlator::CorrelatorMsg;
use crate::bus::keys;
use crate::front::Front;
use crate::sensor::uplink::{self, UplinkHandle};
use crate::ActorError;

pub const QUEUE_CAPACITY: usize = 65_536;
pub const SENSOR: &str = "ingest";
const REPORT_PERIOD: Duration = Duration::from_secs(1);

/// A security event whose buffer has been verified: it can be read in place any number of times
/// without verifying again. Only [`VerifiedEvent::verify`] makes one.
#[derive(Clone)]
pub struct VerifiedEvent(ZBytes);

impl VerifiedEvent {
    pub fn verify(payload: ZBytes) -> Result<Self, InvalidFlatbuffer> {
        read::event(&payload.to_bytes())?;
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
    pub vin: String,
    pub correlator: ActorRef<CorrelatorMsg>,
    pub uplink: UplinkHandle,
}

/// What ingest counts, for logs, the metrics endpoint and the benches.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    pub received: u64,
    pub invalid: u64,
    pub duplicates: u64,
    pub gaps: u64,
    pub dropped: u64,
}

pub struct IngestState {
    args: IngestArgs,
    front: Arc<Front>,
    /// The last sequence number accepted from each (ECU, sensor).
    last_seq: HashMap<(String, String), u64>,
    counters: Counters,
    _events: Subscriber<()>,
    _signals: Subscriber<()>,
    _alive: Subscriber<()>,
}

pub enum IngestMsg {
    Event { key: String, payload: ZBytes },
    Alive { key: String, up: bool },
    Report,
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
        let front = Front::new(QUEUE_CAPACITY);
        let events = {
            let (me, front) = (myself.clone(), Arc::clone(&front));
            args.session
                .declare_subscriber(keys::all_events(&args.vin))
                .callback(move |sample| {
                    let msg = IngestMsg::Event {
                        key: sample.key_expr().to_string(),
                        payload: sample.payload().clone(),
                    };
                    front.send(&me, msg);
                })
                .await?
        };
        let signals = {
            let correlator = args.correlator.clone();
            args.session
                .declare_subscriber(keys::all_signals(&args.vin))
                .callback(
                    move |sample| match read::signal(&sample.payload().to_bytes()) {
                        Ok(signal) => {
                            let snapshot = VehicleSnapshot::from_wire(&signal.state());
                            let _ = correlator.cast(CorrelatorMsg::Signal(snapshot));
                        }
                        Err(e) => {
                            warn!(key = %sample.key_expr(), error = %e, "Invalid vehicle signal.")
                        }
                    },
                )
                .await?
        };
        let alive = {
            let me = myself.clone();
            args.session
                .liveliness()
                .declare_subscriber(keys::all_alive(&args.vin))
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
        myself.send_interval(REPORT_PERIOD, || IngestMsg::Report);
        Ok(IngestState {
            args,
            front,
            last_seq: HashMap::new(),
            counters: Counters::default(),
            _events: events,
            _signals: signals,
            _alive: alive,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: IngestMsg,
        state: &mut IngestState,
    ) -> Result<(), ActorError> {
        match msg {
            IngestMsg::Event { key, payload } => {
                state.front.taken();
                state.event(&key, payload);
            }
            IngestMsg::Alive { key, up } => state.alive(&key, up),
            IngestMsg::Report => state.report(),
        }
        Ok(())
    }
}

impl IngestState {
    fn event(&mut self, key: &str, payload: ZBytes) {
        self.counters.received += 1;
        let event = match VerifiedEvent::verify(payload) {
            Ok(event) => event,
            Err(e) => {
                self.counters.invalid += 1;
                warn!(key, error = %e, "Invalid security event dropped.");
                return;
            }
        };
        let Some(keys::Kind::Event { ecu, sensor }) = keys::parse(key) else {
            self.counters.invalid += 1;
            warn!(key, "Security event on a key vsiem does not use.");
            return;
        };
        let vin = &self.args.vin;
        let verdict = event.with(|e| {
            if e.vin() != vin || e.ecu() != ecu || e.sensor() != sensor {
                return Err(format!("claims {}/{}/{}", e.vin(), e.ecu(), e.sensor()));
            }
            Ok(e.seq())
        });
        let seq = match verdict {
            Ok(seq) => seq,
            Err(claim) => {
                self.counters.invalid += 1;
                warn!(key, %claim, "Security event does not match its key; dropped.");
                return;
            }
        };
        let last = self
            .last_seq
            .entry((ecu.to_owned(), sensor.to_owned()))
            .or_insert(0);
        if seq <= *last {
            self.counters.duplicates += 1;
            warn!(
                ecu,
                sensor,
                seq,
                last = *last,
                "Event sequence number seen before."
            );
            let report = SensorHealthDraft {
                subject: format!("{ecu}/{sensor}"),
                reason: format!("sequence number {seq} after {last}"),
                restarts: 0,
                dropped: 0,
            };
            self.args.uplink.report(
                SENSOR,
                uplink::health(&catalog::SENSOR_SEQUENCE_REPLAY, ecu, report),
            );
            return;
        }
        if seq > *last + 1 {
            self.counters.gaps += 1;
            let missing = seq - *last - 1;
            warn!(ecu, sensor, seq, missing, "Event sequence gap.");
            let report = SensorHealthDraft {
                subject: format!("{ecu}/{sensor}"),
                reason: format!("sequence numbers {} to {} missing", *last + 1, seq - 1),
                restarts: 0,
                dropped: missing,
            };
            self.args.uplink.report(
                SENSOR,
                uplink::health(&catalog::SENSOR_SEQUENCE_GAP, ecu, report),
            );
        }
        *last = seq;
        debug!(ecu, sensor, seq, "Event accepted.");
        let _ = self.args.correlator.cast(CorrelatorMsg::Event(event));
    }

    fn alive(&mut self, key: &str, up: bool) {
        let Some(keys::Kind::Alive { ecu }) = keys::parse(key) else {
            return;
        };
        if up {
            info!(ecu, "Sensor agent up.");
            // A new token is a new agent: its sequences start again.
            self.last_seq.retain(|(e, _), _| e != ecu);
        } else {
            warn!(ecu, "Sensor agent silent.");
            let report = SensorHealthDraft {
                subject: ecu.to_owned(),
                reason: "liveliness token lost".into(),
                restarts: 0,
                dropped: 0,
            };
            self.args
                .uplink
                .report(SENSOR, uplink::health(&catalog::SENSOR_SILENT, ecu, report));
        }
    }

    fn report(&mut self) {
        self.counters.dropped = self.front.dropped();
        let new_drops = self.front.unreported_drops();
        if new_drops > 0 {
            let report = SensorHealthDraft {
                subject: "gateway/ingest".into(),
                reason: format!("ingest queue of {QUEUE_CAPACITY} full"),
                restarts: 0,
                dropped: new_drops,
            };
            self.args.uplink.report(
                SENSOR,
                uplink::health(&catalog::SENSOR_QUEUE_OVERFLOW, super::ECU, report),
            );
        }
        debug!(counters = ?self.counters, "Ingest counters.");
    }
}
