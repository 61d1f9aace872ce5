//! Scenario: buffers that fail the FlatBuffers verifier or the topology's `[limits]` reach the
//! real gateway on a sensor's event key, a signal key and an ack key. Each is dropped, never read, and
//! reported as `limit.flatbuffer_rejected` naming where it came from; the sensor's genuine
//! events are still accepted afterwards.

mod common;

use std::time::Duration;

use common::bus::{self, reports, wait_metrics};
use common::{monitor, start, wait_for};
use flatbuffers::FlatBufferBuilder;
use serde_json::Value;
use vsiem_actors::bus::keys;
use vsiem_schemas::encode::{self, ContextDraft, EventDraft, Stamp};
use vsiem_schemas::{catalog, now_ns, wire};
use vsiem_topology::Topology;
use zenoh::Wait as _;

const SENSOR: &str = "ivi/files";
const REJECTED: &str = "limit.flatbuffer_rejected";

fn count(metrics: &Value, field: &str) -> u64 {
    metrics["sensors"][SENSOR][field].as_u64().unwrap_or(0)
}

/// An event of the IVI's file sensor carrying `evidence` bytes.
fn event(seq: u64, evidence: usize) -> Vec<u8> {
    let vin = bus::vin();
    let now = now_ns();
    let stamp = Stamp {
        vin: &vin,
        ecu: "ivi",
        sensor: "files",
        seq,
        timestamp_ns: now,
        boot_ns: now - 1_000_000,
    };
    let draft = EventDraft {
        event_id: catalog::HOST_FILE_TAMPERED.id,
        severity: wire::Severity::High,
        count: 1,
        timestamp_ns: now,
        origin: "ivi".into(),
        context: ContextDraft::None,
        evidence: vec![0x5a; evidence],
    };
    let mut fbb = FlatBufferBuilder::new();
    encode::event(&mut fbb, &stamp, &draft).to_vec()
}

#[test]
fn buffers_beyond_the_verifier_bounds_are_dropped_and_reported() {
    let max_bytes = Topology::reference().limits.flatbuffers.max_bytes;
    let _gateway = start(&["gateway"], &[]);
    let (_monitor, rx) = monitor();
    wait_for(&rx, Duration::from_secs(30), "gateway up", |l| {
        l["kind"] == "alive" && l["ecu"] == "gateway"
    });
    let session = bus::session();
    let reports = reports(&session);
    let vin = bus::vin();
    let events = keys::event(&vin, "ivi", "files");

    // Garbage, and a well-formed event too large for the bounds, each from the ECU whose key it
    // is (the access control lets nobody else publish there).
    let ivi = bus::session_as("ivi");
    ivi.put(&events, vec![0xffu8; 64]).wait().unwrap();
    let oversized = event(1, max_bytes);
    assert!(oversized.len() > max_bytes);
    ivi.put(&events, oversized).wait().unwrap();
    // A signal that is not one.
    let signal_key = keys::signal(&vin, "chassis-dc");
    bus::session_as("chassis-dc")
        .put(&signal_key, b"speed 0".to_vec())
        .wait()
        .unwrap();

    // A block ack that is not one, from the IVI.
    let ack_key = keys::ack(&vin, "ivi");
    ivi.put(&ack_key, vec![0x10, 0, 0, 0]).wait().unwrap();

    reports.wait(Duration::from_secs(10), "every rejection", |r| {
        r.dropped(REJECTED, SENSOR) == 2
            && r.dropped(REJECTED, &signal_key) == 1
            && r.dropped(REJECTED, &ack_key) == 1
    });
    let report = &reports.about(REJECTED, SENSOR)[0];
    assert!(
        report
            .reason
            .starts_with("refused by the FlatBuffers verifier: "),
        "{report:?}"
    );
    let m = wait_metrics(&session, Duration::from_secs(10), "the counts", |m| {
        count(m, "rejected") == 2
    });
    assert_eq!(
        (&m["rejected_signals"], &m["rejected_acks"]),
        (&1.into(), &1.into()),
        "{m}"
    );
    assert_eq!(count(&m, "accepted"), 0);

    // The sensor's genuine event, within the bounds, is taken.
    ivi.put(&events, event(1, 64)).wait().unwrap();
    let m = wait_metrics(
        &session,
        Duration::from_secs(10),
        "the genuine event",
        |m| count(m, "accepted") == 1,
    );
    assert_eq!(count(&m, "rejected"), 2);
}
