//! Test double of a sensor agent that publishes at a chosen pace: as a compromised agent floods
//! the gateway (100,000 events/s of well-formed SecurityEvents), or as a steady sensor beside
//! it. It speaks exactly the wire format and keys of a real uplink (boot epoch, sequence from
//! 1, congestion control Block), so the gateway cannot tell it from one. Not part of the SIEM.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flatbuffers::FlatBufferBuilder;
use serde::Serialize;
use vsiem_schemas::catalog::EventType;
use vsiem_schemas::encode::{self, ContextDraft, EventDraft, Stamp};
use vsiem_schemas::now_ns;
use zenoh::Session;

use crate::bus::{self, keys, BusError, Publishers};

/// What to publish, how fast and for how long.
#[derive(Debug, Clone)]
pub struct Flood {
    pub vin: String,
    pub ecu: String,
    pub sensor: String,
    pub kind: &'static EventType,
    /// Events per second aimed at; the publisher goes as fast as it can below that.
    pub rate: u64,
    /// Stop after this many events, if given, or when `duration` is over.
    pub count: Option<u64>,
    pub duration: Duration,
}

/// What was published, printed as JSON by `vsiem sim flood` for the tests and benches.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub ecu: String,
    pub sensor: String,
    pub sent: u64,
    pub boot_ns: u64,
    pub elapsed_ms: u64,
    pub achieved_per_second: u64,
}

/// The evidence of every event: the size of a typical event with a frame header attached.
const EVIDENCE_LEN: usize = 96;
/// Pacing granularity: each tick publishes what the rate owes since the start.
const TICK: Duration = Duration::from_millis(1);

/// Publishes `flood` on `session` and says what was sent.
pub async fn run(session: Arc<Session>, flood: &Flood) -> Result<Published, BusError> {
    let key = keys::event(&flood.vin, &flood.ecu, &flood.sensor);
    let mut publishers = Publishers::declare(session, bus::DATA, [key.clone()]).await?;
    let boot_ns = now_ns();
    let mut fbb = FlatBufferBuilder::new();
    let mut draft = EventDraft {
        event_id: flood.kind.id,
        severity: flood.kind.severity,
        count: 1,
        timestamp_ns: 0,
        origin: flood.ecu.clone(),
        context: ContextDraft::None,
        evidence: vec![0x5A; EVIDENCE_LEN],
    };
    let limit = flood.count.unwrap_or(u64::MAX);
    let start = Instant::now();
    let mut sent = 0;
    while sent < limit && start.elapsed() < flood.duration {
        let owed = (start.elapsed().as_secs_f64() * flood.rate as f64) as u64 + 1;
        while sent < owed.min(limit) {
            sent += 1;
            draft.timestamp_ns = now_ns();
            let stamp = Stamp {
                vin: &flood.vin,
                ecu: &flood.ecu,
                sensor: &flood.sensor,
                seq: sent,
                timestamp_ns: draft.timestamp_ns,
                boot_ns,
            };
            publishers
                .put(&key, encode::event(&mut fbb, &stamp, &draft))
                .await?;
        }
        tokio::time::sleep(TICK).await;
    }
    let elapsed = start.elapsed();
    Ok(Published {
        ecu: flood.ecu.clone(),
        sensor: flood.sensor.clone(),
        sent,
        boot_ns,
        elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        achieved_per_second: (sent as f64 / elapsed.as_secs_f64().max(1e-9)) as u64,
    })
}
