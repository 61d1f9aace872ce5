//! Test double of a sensor agent that publishes at a chosen pace: as a compromised agent floods
//! the gateway (100,000 events/s of well-formed SecurityEvents), or as a steady sensor beside
//! it. It speaks exactly the wire format and keys of a real uplink (boot epoch, sequence from
//! 1, congestion control Block), so the gateway cannot tell it from one. Not part of the SIEM.
//!
//! Given a state directory it sends through the real uplink's durable outbox
//! (`sensor::uplink::outbox`: stored first, windowed, resent until the gateway's receipts cover
//! it) and waits for every receipt before it says what it sent; without one it publishes
//! directly, as fast as the rate allows.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flatbuffers::FlatBufferBuilder;
use serde::Serialize;
use vsiem_schemas::catalog::EventType;
use vsiem_schemas::encode::{self, ContextDraft, EventDraft, Stamp};
use vsiem_schemas::{now_ns, read};
use zenoh::Session;

use crate::bus::{self, keys, BusError, Publishers};
use crate::sensor::uplink::outbox::Outbox;
use crate::store;

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
    /// Send through a durable outbox kept here, and wait for the receipts.
    pub state_dir: Option<PathBuf>,
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
    /// Through the outbox: events still without a receipt when the flood gave up waiting
    /// ([`DRAIN_TIMEOUT`]), and how long after the last event the last receipt came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unacknowledged: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drained_ms: Option<u64>,
}

/// The evidence of every event: the size of a typical event with a frame header attached.
const EVIDENCE_LEN: usize = 96;
/// Pacing granularity: each tick publishes what the rate owes since the start.
const TICK: Duration = Duration::from_millis(1);

/// How long a direct flood keeps its session open after its last put, so that what Zenoh still
/// queues leaves and is received: its links close abortively (SO_LINGER 0, `.cargo/config.toml`),
/// discarding what the peer has not yet taken.
const LINGER: Duration = Duration::from_millis(500);
/// How long a direct flood waits for the gateway's subscriber to be known before its first put.
const MATCH_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a durable flood waits for the gateway's receipts after its last event.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// A durable flood's outbox: as large as the topology allows, so that it drops nothing.
const OUTBOX_CAPACITY: usize = 1 << 20;

/// Publishes `flood` on `session` and says what was sent.
pub async fn run(session: Arc<Session>, flood: &Flood) -> Result<Published, BusError> {
    match &flood.state_dir {
        Some(dir) => run_durable(session, flood, dir).await,
        None => run_direct(session, flood).await,
    }
}

/// The event `seq` of `flood`'s epoch `boot_ns`, stamped now.
fn stamped<'b>(
    fbb: &'b mut FlatBufferBuilder<'static>,
    flood: &Flood,
    draft: &mut EventDraft,
    boot_ns: u64,
    seq: u64,
) -> &'b [u8] {
    draft.timestamp_ns = now_ns();
    let stamp = Stamp {
        vin: &flood.vin,
        ecu: &flood.ecu,
        sensor: &flood.sensor,
        seq,
        timestamp_ns: draft.timestamp_ns,
        boot_ns,
    };
    encode::event(fbb, &stamp, draft)
}

fn draft_of(flood: &Flood) -> EventDraft {
    EventDraft {
        event_id: flood.kind.id,
        severity: flood.kind.severity,
        count: 1,
        timestamp_ns: 0,
        origin: flood.ecu.clone(),
        context: ContextDraft::None,
        evidence: vec![0x5A; EVIDENCE_LEN],
    }
}

/// How many events the rate owes `elapsed` after the start, within `limit`.
fn owed(flood: &Flood, elapsed: Duration, limit: u64) -> u64 {
    ((elapsed.as_secs_f64() * flood.rate as f64) as u64 + 1).min(limit)
}

fn published(flood: &Flood, sent: u64, boot_ns: u64, elapsed: Duration) -> Published {
    Published {
        ecu: flood.ecu.clone(),
        sensor: flood.sensor.clone(),
        sent,
        boot_ns,
        elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        achieved_per_second: (sent as f64 / elapsed.as_secs_f64().max(1e-9)) as u64,
        unacknowledged: None,
        drained_ms: None,
    }
}

/// Through the durable outbox: stored, sent within the window, resent until acknowledged.
async fn run_durable(
    session: Arc<Session>,
    flood: &Flood,
    dir: &std::path::Path,
) -> Result<Published, BusError> {
    let db = store::open(dir, &format!("flood-{}-{}", flood.ecu, flood.sensor))?;
    let mut outbox = Outbox::open(db, OUTBOX_CAPACITY)?;
    let key = keys::event(&flood.vin, &flood.ecu, &flood.sensor);
    let mut publishers =
        Publishers::declare(Arc::clone(&session), bus::DATA, [key.clone()]).await?;
    // Receipts are cumulative: only the latest matters.
    let (tx, mut rx) = tokio::sync::watch::channel((0u64, 0u64));
    let sensor = flood.sensor.clone();
    let _receipts = session
        .declare_subscriber(keys::received(&flood.vin, &flood.ecu))
        .callback(move |sample| {
            if let Ok(ack) = read::event_ack(&sample.payload().to_bytes()) {
                if ack.sensor() == sensor {
                    let _ = tx.send((ack.boot_ns(), ack.seq()));
                }
            }
        })
        .await?;
    let mut fbb = FlatBufferBuilder::new();
    let mut draft = draft_of(flood);
    let limit = flood.count.unwrap_or(u64::MAX);
    let boot_ns = outbox.epoch();
    let start = Instant::now();
    let mut sent = 0;
    let mut last_event = start;
    loop {
        let sending = sent < limit && start.elapsed() < flood.duration;
        if sending {
            while sent < owed(flood, start.elapsed(), limit) {
                sent += 1;
                let seq = outbox.next_seq(&flood.sensor);
                let bytes = stamped(&mut fbb, flood, &mut draft, boot_ns, seq);
                outbox.push(&flood.sensor, seq, flood.kind.severity.0, bytes)?;
            }
            last_event = Instant::now();
        } else if outbox.is_empty() || last_event.elapsed() >= DRAIN_TIMEOUT {
            break;
        }
        if rx.has_changed().unwrap_or(false) {
            let (boot, seq) = *rx.borrow_and_update();
            outbox.acked(&flood.sensor, boot, seq, Instant::now())?;
        }
        for out in outbox.due(Instant::now())? {
            publishers.put(&key, &out.bytes).await?;
        }
        tokio::time::sleep(TICK).await;
    }
    let mut result = published(flood, sent, boot_ns, last_event.duration_since(start));
    result.unacknowledged = Some(u64::try_from(outbox.len()).unwrap_or(u64::MAX));
    result.drained_ms = Some(u64::try_from(last_event.elapsed().as_millis()).unwrap_or(u64::MAX));
    Ok(result)
}

/// Straight onto the bus, as fast as the rate allows.
async fn run_direct(session: Arc<Session>, flood: &Flood) -> Result<Published, BusError> {
    let key = keys::event(&flood.vin, &flood.ecu, &flood.sensor);
    let mut publishers = Publishers::declare(session, bus::DATA, [key.clone()]).await?;
    // Else the first events of a fresh session may go before it knows the gateway listens
    // (access_control saw event 1 of 5 lost). A put the router refuses (a spoofed key) never
    // matches: after the wait it goes all the same, to be refused.
    publishers.wait_matching(&key, MATCH_TIMEOUT).await?;
    let boot_ns = now_ns();
    let mut fbb = FlatBufferBuilder::new();
    let mut draft = draft_of(flood);
    let limit = flood.count.unwrap_or(u64::MAX);
    let start = Instant::now();
    let mut sent = 0;
    while sent < limit && start.elapsed() < flood.duration {
        while sent < owed(flood, start.elapsed(), limit) {
            sent += 1;
            let bytes = stamped(&mut fbb, flood, &mut draft, boot_ns, sent);
            publishers.put(&key, bytes).await?;
        }
        tokio::time::sleep(TICK).await;
    }
    let elapsed = start.elapsed();
    // A put returns once queued: the last ones would be lost with the session if it closed now.
    tokio::time::sleep(LINGER).await;
    Ok(published(flood, sent, boot_ns, elapsed))
}
