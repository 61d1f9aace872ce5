//! Scenario: an event of the IVI's file sensor is captured off the bus and published again, once
//! while its agent runs and once after the agent was restarted without its durable store (the
//! moment when the gateway used to forget the sensor's sequence). The gateway reports both
//! replays. An agent restarted with its store continues its epoch and sequence; one whose store
//! was lost starts a later epoch from 1: neither is a replay.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::bus::{self, reports, wait_metrics};
use common::{monitor, start, wait_for};
use serde_json::Value;
use vsiem_actors::bus::keys;
use vsiem_schemas::read;
use zenoh::bytes::ZBytes;
use zenoh::handlers::FifoChannelHandler;
use zenoh::pubsub::Subscriber;
use zenoh::sample::Sample;
use zenoh::Wait as _;

const SENSOR: &str = "ivi/files";

fn count(metrics: &Value, field: &str) -> u64 {
    metrics["sensors"][SENSOR][field].as_u64().unwrap_or(0)
}

/// The next event the file sensor publishes, as raw bytes off the bus, and its (boot, seq).
fn next_event(events: &Subscriber<FifoChannelHandler<Sample>>) -> (ZBytes, u64, u64) {
    let sample = events
        .recv_timeout(Duration::from_secs(30))
        .expect("the bus is open")
        .expect("an event of the IVI's file sensor within 30 s");
    let payload = sample.payload().clone();
    let bytes = payload.to_bytes();
    let event = read::event(&bytes).expect("a real event verifies");
    let (boot, seq) = (event.boot_ns(), event.seq());
    (payload, boot, seq)
}

/// Waits for the IVI agent's liveliness token to appear (`up`) or go.
fn ivi_is(rx: &mpsc::Receiver<Value>, up: bool) {
    wait_for(rx, Duration::from_secs(30), "the IVI agent's token", |l| {
        l["kind"] == "alive" && l["ecu"] == "ivi" && l["up"] == up
    });
}

fn drain(events: &Subscriber<FifoChannelHandler<Sample>>) {
    while let Ok(Some(_)) = events.try_recv() {}
}

#[test]
fn a_replayed_event_is_reported_and_a_restarted_agent_is_not() {
    let tree = tempfile::tempdir().unwrap();
    for dir in ["opt/ivi/system", "opt/ivi/apps"] {
        std::fs::create_dir_all(tree.path().join(dir)).unwrap();
    }
    let root = tree.path().to_str().unwrap();
    let ivi_args = ["sensor", "--ecu", "ivi", "--fs-root", root];
    let _gateway = start(&["gateway"], &[]);
    let (_monitor, rx) = monitor();
    wait_for(&rx, Duration::from_secs(30), "gateway up", |l| {
        l["kind"] == "alive" && l["ecu"] == "gateway"
    });
    let session = bus::session();
    let reports = reports(&session);
    let key = keys::event(&bus::vin(), "ivi", "files");
    let events = session.declare_subscriber(&key).wait().unwrap();

    // A real event, captured off the bus.
    let ivi = start(&ivi_args, &[]);
    ivi_is(&rx, true);
    std::fs::write(tree.path().join("opt/ivi/apps/first"), "1").unwrap();
    let (captured, first_boot, seq) = next_event(&events);
    let m = wait_metrics(&session, Duration::from_secs(10), "it accepted", |m| {
        count(m, "accepted") >= 1
    });
    assert_eq!(count(&m, "duplicates") + count(&m, "replays"), 0);

    // Replayed while the agent runs: a sequence number seen before.
    // Replayed by the IVI itself (the only one the access control lets publish on its key).
    let as_ivi = bus::session_as("ivi");
    as_ivi.put(&key, captured.clone()).wait().unwrap();
    reports.wait(Duration::from_secs(10), "the first replay", |r| {
        r.about("sensor.sequence_replay", SENSOR).len() == 1
    });
    let replay = &reports.about("sensor.sequence_replay", SENSOR)[0];
    assert!(
        replay
            .reason
            .starts_with(&format!("sequence number {seq} after")),
        "{replay:?}"
    );

    // The agent dies and comes back with its store: the same epoch, the next number.
    drop(ivi);
    ivi_is(&rx, false);
    drain(&events);
    let ivi = start(&ivi_args, &[]);
    ivi_is(&rx, true);
    std::fs::write(tree.path().join("opt/ivi/apps/again"), "1").unwrap();
    let (_, boot, next_seq) = next_event(&events);
    assert_eq!(boot, first_boot, "the epoch survives");
    assert!(
        next_seq > seq,
        "the sequence survives: {next_seq} after {seq}"
    );
    wait_metrics(&session, Duration::from_secs(10), "it accepted", |m| {
        count(m, "accepted") >= 2
    });

    // It dies again and comes back with its store lost: a new epoch, counting from 1 again,
    // accepted as such.
    drop(ivi);
    ivi_is(&rx, false);
    drain(&events);
    let accepted_before = count(&metrics_now(&session), "accepted");
    let lost = tempfile::tempdir().unwrap();
    let lost_args = [
        &ivi_args[..],
        &["--state-dir", lost.path().to_str().unwrap()],
    ]
    .concat();
    let _ivi = start(&lost_args, &[]);
    ivi_is(&rx, true);
    std::fs::write(tree.path().join("opt/ivi/apps/second"), "2").unwrap();
    let (fresh, second_boot, fresh_seq) = next_event(&events);
    assert!(
        second_boot > first_boot,
        "a restarted agent has a later epoch"
    );
    assert_eq!(fresh_seq, 1, "its sequence starts again");
    let m = wait_metrics(&session, Duration::from_secs(10), "the restart", |m| {
        count(m, "accepted") > accepted_before && count(m, "restarts") == 1
    });
    assert_eq!(
        (
            count(&m, "duplicates"),
            count(&m, "replays"),
            count(&m, "gaps")
        ),
        (1, 0, 0),
        "the genuine restart is neither a replay nor a gap"
    );
    assert_eq!(reports.about("sensor.sequence_replay", SENSOR).len(), 1);

    // Right after the reconnect, the old event replayed again: from an earlier run.
    as_ivi.put(&key, captured).wait().unwrap();
    reports.wait(
        Duration::from_secs(10),
        "the replay after the restart",
        |r| r.about("sensor.sequence_replay", SENSOR).len() == 2,
    );
    let replay = &reports.about("sensor.sequence_replay", SENSOR)[1];
    assert!(replay.reason.contains("earlier run"), "{replay:?}");
    // And the new run's own event replayed: seen before in the current epoch.
    as_ivi.put(&key, fresh).wait().unwrap();
    let m = wait_metrics(&session, Duration::from_secs(10), "both replays", |m| {
        count(m, "replays") == 1 && count(m, "duplicates") == 2
    });
    assert_eq!(count(&m, "restarts"), 1);
}

fn metrics_now(session: &zenoh::Session) -> Value {
    bus::metrics(session).expect("the gateway answers")
}
