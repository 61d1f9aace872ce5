//! Scenario: events of the IVI's file sensor are lost in transport (as when an agent's link
//! closes with events on it) and a later one arrives first. The gateway's receipt stops before
//! the hole, so the agent's durable outbox keeps the lost events and sends them again; the
//! resend is accepted late, once, and the receipt moves on. A hole the sensor does not fill is
//! given up and reported as a gap of what it lost: when the sensor's resends pass over it, and
//! when it stays open for the grace.
//!
//! The sender is a test double that publishes as the IVI, with the IVI's certificate, events
//! numbered as the test says; the gateway is the real one.

mod common;

use std::time::{Duration, Instant};

use common::bus::{self, reports, wait_metrics};
use common::{monitor, start, wait_for};
use flatbuffers::FlatBufferBuilder;
use serde_json::Value;
use vsiem_actors::bus::keys;
use vsiem_schemas::encode::{self, ContextDraft, EventDraft, Stamp};
use vsiem_schemas::{catalog, now_ns, read};
use zenoh::handlers::FifoChannelHandler;
use zenoh::pubsub::{Publisher, Subscriber};
use zenoh::sample::Sample;
use zenoh::Wait as _;

const ECU: &str = "ivi";
const SENSOR: &str = "files";
const NAME: &str = "ivi/files";
/// The gateway's grace for a hole (`holes::GRACE_NS`), and a margin for its 1 s report tick.
const GRACE: Duration = Duration::from_secs(12);

fn count(m: &Value, field: &str) -> u64 {
    m["sensors"][NAME][field].as_u64().unwrap_or(0)
}

/// Publishes the file sensor's event `seq` of epoch `boot_ns` (on the IVI's session).
fn send(publisher: &Publisher<'_>, boot_ns: u64, seq: u64) {
    let mut fbb = FlatBufferBuilder::new();
    let draft = EventDraft {
        event_id: catalog::HOST_FILE_TAMPERED.id,
        severity: catalog::HOST_FILE_TAMPERED.severity,
        count: 1,
        timestamp_ns: now_ns(),
        origin: ECU.into(),
        context: ContextDraft::None,
        evidence: Vec::new(),
    };
    let vin = bus::vin();
    let stamp = Stamp {
        vin: &vin,
        ecu: ECU,
        sensor: SENSOR,
        seq,
        timestamp_ns: draft.timestamp_ns,
        boot_ns,
    };
    let bytes = encode::event(&mut fbb, &stamp, &draft).to_vec();
    publisher.put(bytes).wait().expect("the put is taken");
}

/// Waits for the file sensor's receipt covering `seq`, skipping earlier ones; panics if one
/// covers more.
fn receipt(receipts: &Subscriber<FifoChannelHandler<Sample>>, boot_ns: u64, seq: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let sample = receipts
            .recv_timeout(left)
            .expect("the bus is open")
            .unwrap_or_else(|| panic!("no receipt up to {seq} within 20 s"));
        let bytes = sample.payload().to_bytes();
        let ack = read::event_ack(&bytes).expect("a receipt verifies");
        if ack.sensor() != SENSOR || ack.boot_ns() != boot_ns {
            continue;
        }
        assert!(ack.seq() <= seq, "a receipt up to {} for {seq}", ack.seq());
        if ack.seq() == seq {
            return;
        }
    }
}

#[test]
fn events_lost_in_transport_are_awaited_accepted_late_and_only_given_up_when_not_sent_again() {
    let _gateway = start(&["gateway"], &[]);
    let (_monitor, rx) = monitor();
    wait_for(&rx, Duration::from_secs(30), "the gateway up", |l| {
        l["kind"] == "alive" && l["ecu"] == "gateway"
    });
    let session = bus::session();
    let reports = reports(&session);
    let as_ivi = bus::session_as(ECU);
    let receipts = as_ivi
        .declare_subscriber(keys::received(&bus::vin(), ECU))
        .wait()
        .unwrap();
    let boot = now_ns();
    // The gateway's subscriber must be known to this session before its first put.
    let publisher = as_ivi
        .declare_publisher(keys::event(&bus::vin(), ECU, SENSOR))
        .wait()
        .unwrap();
    let matched = Instant::now();
    while !publisher.matching_status().wait().unwrap().matching() {
        assert!(matched.elapsed() < Duration::from_secs(10), "no subscriber");
        std::thread::sleep(Duration::from_millis(20));
    }

    // 2 is lost in transport; 3 arrives: the receipt stops at 1.
    send(&publisher, boot, 1);
    receipt(&receipts, boot, 1);
    send(&publisher, boot, 3);
    let m = wait_metrics(&session, Duration::from_secs(10), "3 accepted", |m| {
        count(m, "last_seq") == 3
    });
    assert_eq!(
        (
            count(&m, "missing"),
            count(&m, "settled_seq"),
            count(&m, "gaps")
        ),
        (1, 1, 0),
        "{:#}",
        m["sensors"][NAME]
    );

    // The outbox sends 2 and 3 again: 2 is accepted late, 3 is a duplicate; the receipt moves on.
    send(&publisher, boot, 2);
    send(&publisher, boot, 3);
    receipt(&receipts, boot, 3);
    let m = wait_metrics(&session, Duration::from_secs(10), "2 and 3 again", |m| {
        count(m, "duplicates") == 1
    });
    assert_eq!(
        [
            "accepted",
            "recorded",
            "duplicates",
            "missing",
            "gaps",
            "lost"
        ]
        .map(|f| count(&m, f)),
        [3, 3, 1, 0, 0, 0],
        "{:#}",
        m["sensors"][NAME]
    );

    // 4 was dropped by the sensor itself (its outbox was full): its resends pass over it.
    send(&publisher, boot, 5);
    send(&publisher, boot, 5);
    receipt(&receipts, boot, 5);
    reports.wait(Duration::from_secs(10), "the gap of 4", |r| {
        r.dropped("sensor.sequence_gap", NAME) == 1
    });
    let gap = &reports.about("sensor.sequence_gap", NAME)[0];
    assert_eq!(gap.reason, "1 of sequence numbers 4 to 4 missing");

    // 6 and 7 never come, from a sender that never sends again: given up after the grace.
    send(&publisher, boot, 8);
    let sent = Instant::now();
    receipt(&receipts, boot, 5);
    std::thread::sleep(Duration::from_secs(2));
    let m = wait_metrics(&session, Duration::from_secs(5), "8 accepted", |m| {
        count(m, "last_seq") == 8
    });
    assert_eq!(
        (count(&m, "missing"), count(&m, "settled_seq")),
        (2, 5),
        "awaited within the grace"
    );
    reports.wait(GRACE, "the gap of 6 and 7", |r| {
        r.dropped("sensor.sequence_gap", NAME) == 3
    });
    receipt(&receipts, boot, 8);
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_secs(10),
        "given up after {waited:?}"
    );
    let m = wait_metrics(&session, Duration::from_secs(5), "the gaps", |m| {
        count(m, "gaps") == 2
    });
    assert_eq!(
        ["accepted", "missing", "settled_seq", "lost", "duplicates"].map(|f| count(&m, f)),
        [5, 0, 8, 3, 2],
        "{:#}",
        m["sensors"][NAME]
    );
}
