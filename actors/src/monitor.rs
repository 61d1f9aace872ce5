//! The bus monitor: follows one vehicle's backbone and turns what passes into readable records,
//! for operators (`vsiem monitor`), the demo's timeline and the end-to-end tests.

use serde::Serialize;
use tokio::sync::mpsc;
use vsiem_schemas::{catalog, now_ns, read, wire};
use zenoh::pubsub::Subscriber;
use zenoh::sample::{Sample, SampleKind};
use zenoh::Session;

use crate::bus::keys::{self, Kind};
use crate::bus::BusError;

/// One thing that happened on the bus. `ts_ns` is when it happened at its source.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Event {
        #[serde(rename = "type")]
        name: String,
        id: String,
        ecu: String,
        sensor: String,
        seq: u64,
        severity: String,
        origin: String,
        /// "ip:port" of the traffic, when the event is about traffic.
        src: String,
        dst: String,
        detail: String,
        ts_ns: u64,
        /// The detections the event stands for (more than 1 once qualification folded some).
        count: u32,
        /// Of a health event: how many events its subject dropped or held back.
        dropped: u64,
    },
    Incident {
        id: u64,
        severity: String,
        title: String,
        rule: String,
        origin: String,
        /// open, contained or closed.
        state: String,
        /// Events folded into the incident (every one referenced).
        events: u64,
        tags: Vec<String>,
        actions: Vec<String>,
        opened_ns: u64,
        /// When this version was made: the incident's updates are records of their own.
        ts_ns: u64,
    },
    Order {
        id: u64,
        target: String,
        action: String,
        incident: u64,
        ttl_ms: u32,
        revoke: bool,
        ts_ns: u64,
    },
    Ack {
        order: u64,
        ecu: String,
        status: String,
        detail: String,
        ts_ns: u64,
    },
    Escalation {
        incident: u64,
        ts_ns: u64,
    },
    Alive {
        ecu: String,
        up: bool,
        ts_ns: u64,
    },
    /// A message on a vsiem key that did not verify.
    Invalid {
        key: String,
        error: String,
        ts_ns: u64,
    },
}

/// Keeps the monitor's subscriptions alive; dropping it stops the monitor.
pub struct Monitor {
    _bus: Subscriber<()>,
    _alive: Subscriber<()>,
}

/// Follows the vehicle `vin` on `session`, sending every record to `tx`. Vehicle signals and
/// heartbeats are periodic and left out.
pub async fn watch(
    session: &Session,
    vin: &str,
    tx: mpsc::UnboundedSender<Record>,
) -> Result<Monitor, BusError> {
    let bus_tx = tx.clone();
    let bus = session
        .declare_subscriber(keys::vehicle(vin))
        .callback(move |sample| {
            if let Some(record) = record(&sample) {
                let _ = bus_tx.send(record);
            }
        })
        .await?;
    let alive = session
        .liveliness()
        .declare_subscriber(keys::all_alive(vin))
        .history(true)
        .callback(move |sample| {
            if let Some(Kind::Alive { ecu }) = keys::parse(sample.key_expr().as_str()) {
                let up = sample.kind() == SampleKind::Put;
                let _ = tx.send(Record::Alive {
                    ecu: ecu.to_owned(),
                    up,
                    ts_ns: now_ns(),
                });
            }
        })
        .await?;
    Ok(Monitor {
        _bus: bus,
        _alive: alive,
    })
}

/// One answer of the gateway's metrics endpoint (JSON, `gateway/ingest/metrics.rs`), or `None`
/// if no answer came within `timeout`.
pub async fn metrics(
    session: &Session,
    vin: &str,
    timeout: std::time::Duration,
) -> Result<Option<Vec<u8>>, BusError> {
    let replies = session
        .get(keys::metrics(vin, crate::gateway::ECU))
        .timeout(timeout)
        .await?;
    Ok(match replies.recv_async().await {
        Ok(reply) => reply
            .result()
            .ok()
            .map(|s| s.payload().to_bytes().into_owned()),
        Err(_) => None,
    })
}

/// The record of one incident version.
pub fn incident(i: &wire::Incident<'_>) -> Record {
    Record::Incident {
        id: i.incident_id(),
        severity: severity(i.severity()),
        title: i.title().unwrap_or_default().to_owned(),
        rule: i.rule().unwrap_or_default().to_owned(),
        origin: i.origin_ecu().unwrap_or_default().to_owned(),
        state: i.state().variant_name().unwrap_or("?").to_lowercase(),
        events: i.count(),
        tags: i.tags().iter().flatten().map(str::to_owned).collect(),
        actions: i
            .actions()
            .iter()
            .flatten()
            .map(|a| {
                format!(
                    "{}: {} ({:?})",
                    a.target_ecu().unwrap_or("?"),
                    a.summary().unwrap_or("?"),
                    a.status()
                )
            })
            .collect(),
        opened_ns: i.opened_ns(),
        ts_ns: i.updated_ns(),
    }
}

fn record(sample: &Sample) -> Option<Record> {
    let key = sample.key_expr().as_str();
    let bytes = sample.payload().to_bytes();
    let invalid = |e: flatbuffers::InvalidFlatbuffer| Record::Invalid {
        key: key.to_owned(),
        error: e.to_string(),
        ts_ns: now_ns(),
    };
    let record = match keys::parse(key)? {
        Kind::Event { .. } => read::event(&bytes).map(|e| event(&e)),
        Kind::Incident => read::incident(&bytes).map(|i| incident(&i)),
        Kind::Order { .. } => read::order(&bytes).map(|o| Record::Order {
            id: o.order_id(),
            target: o.target_ecu().to_owned(),
            action: read::action_summary(&o),
            incident: o.incident_id(),
            ttl_ms: o.ttl_ms(),
            revoke: o.revoke(),
            ts_ns: o.issued_ns(),
        }),
        Kind::Ack { .. } => read::ack(&bytes).map(|a| Record::Ack {
            order: a.order_id(),
            ecu: a.ecu().to_owned(),
            status: a.status().variant_name().unwrap_or("?").to_lowercase(),
            detail: a.detail().unwrap_or_default().to_owned(),
            ts_ns: a.timestamp_ns(),
        }),
        Kind::Escalation => read::incident_ack(&bytes).map(|a| Record::Escalation {
            incident: a.incident_id(),
            ts_ns: a.received_ns(),
        }),
        Kind::Signal { .. }
        | Kind::Heartbeat { .. }
        | Kind::Alive { .. }
        | Kind::Received { .. } => return None,
    };
    Some(record.unwrap_or_else(invalid))
}

fn severity(s: wire::Severity) -> String {
    s.variant_name().unwrap_or("?").to_lowercase()
}

/// The record of one security event.
pub fn event(e: &wire::SecurityEvent<'_>) -> Record {
    let (src, dst) = if let Some(c) = e.context_as_someip_call() {
        (c.src(), c.dst())
    } else if let Some(c) = e.context_as_network_flow() {
        (c.src(), c.dst())
    } else {
        (None, None)
    };
    Record::Event {
        name: catalog::name_of(e.event_id()).to_owned(),
        id: format!("0x{:04x}", e.event_id()),
        ecu: e.ecu().to_owned(),
        sensor: e.sensor().to_owned(),
        seq: e.seq(),
        severity: severity(e.severity()),
        origin: e.origin().unwrap_or_default().to_owned(),
        src: src.unwrap_or_default().to_owned(),
        dst: dst.unwrap_or_default().to_owned(),
        detail: detail(e),
        ts_ns: e.timestamp_ns(),
        count: e.count(),
        dropped: e.context_as_sensor_health().map_or(0, |h| h.dropped()),
    }
}

/// A one-line account of an event's context.
fn detail(e: &wire::SecurityEvent<'_>) -> String {
    if let Some(c) = e.context_as_someip_call() {
        format!(
            "service 0x{:04x} method 0x{:04x} client 0x{:04x} from {}",
            c.service(),
            c.method(),
            c.client(),
            c.src().unwrap_or("?")
        )
    } else if let Some(c) = e.context_as_file_change() {
        let kind = c.kind().variant_name().unwrap_or("?").to_lowercase();
        let ro = if c.read_only() {
            " (read-only tree)"
        } else {
            ""
        };
        format!("{kind} {}{ro}", c.path().unwrap_or("?"))
    } else if let Some(c) = e.context_as_process_start() {
        format!(
            "{} ({}) started by {}: {}",
            c.name().unwrap_or("?"),
            c.pid(),
            c.parent_name().unwrap_or("?"),
            c.cmdline().unwrap_or("")
        )
    } else if let Some(c) = e.context_as_network_flow() {
        let vlan = match c.vlan() {
            0 => String::new(),
            v => format!(" on VLAN {v}"),
        };
        format!(
            "{:?} {} -> {}{vlan}",
            c.transport(),
            c.src().unwrap_or("?"),
            c.dst().unwrap_or("?")
        )
    } else if let Some(c) = e.context_as_sensor_health() {
        format!(
            "{}: {}",
            c.subject().unwrap_or("?"),
            c.reason().unwrap_or("")
        )
    } else if let Some(ev) = e.evidence() {
        format!("{} bytes of evidence", ev.len())
    } else {
        String::new()
    }
}
