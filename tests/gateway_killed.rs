//! Scenario: the gateway is killed (SIGKILL) while a sensor streams port scans to it through the
//! durable uplink outbox (`vsiem sim flood --state-dir`, the real outbox and receipts), and is
//! started again two seconds later. Every event is recorded exactly once by (sensor, sequence
//! number): what the old gateway recorded before the kill and the sensor sends again is a
//! duplicate, what it never recorded is accepted after the restart, however late; nothing is
//! lost, and the incident of the scan is raised again by the new gateway.

mod common;

use std::time::{Duration, Instant};

use common::bus::{self, flood, published, wait_metrics};
use common::{monitor, start, wait_for};
use serde_json::Value;

const SENSOR: &str = "ivi/files";
const RATE: u64 = 200;
const DURATION_MS: u64 = 8000;

fn count(metrics: &Value, field: &str) -> u64 {
    metrics["sensors"][SENSOR][field].as_u64().unwrap_or(0)
}

fn gateway_up(rx: &std::sync::mpsc::Receiver<Value>) {
    wait_for(rx, Duration::from_secs(30), "the gateway up", |l| {
        l["kind"] == "alive" && l["ecu"] == "gateway" && l["up"] == true
    });
}

#[test]
fn every_event_is_recorded_exactly_once_across_a_gateway_kill() {
    let mut gateway = start(&["gateway"], &[]);
    let (_monitor, rx) = monitor();
    gateway_up(&rx);
    let outbox = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let sender = flood(&[
        "--ecu",
        "ivi",
        "--sensor",
        "files",
        "--rate",
        &RATE.to_string(),
        "--count",
        &(RATE * DURATION_MS / 1000).to_string(),
        // Until the count is sent: a duration alone ends a paced sender one event short.
        "--duration-ms",
        &(4 * DURATION_MS).to_string(),
        "--state-dir",
        outbox.path().to_str().unwrap(),
    ]);
    let session = bus::session();
    let first = wait_for(&rx, Duration::from_secs(10), "the scan's incident", |l| {
        l["kind"] == "incident" && l["origin"] == "ivi"
    });
    let before = wait_metrics(&session, Duration::from_secs(10), "events recorded", |m| {
        count(m, "recorded") >= RATE
    });

    // Mid-stream: SIGKILL, nothing flushed, then two seconds without a gateway.
    std::thread::sleep(Duration::from_secs(1));
    gateway.0.kill().unwrap();
    gateway.0.wait().unwrap();
    let killed_at = started.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let restarted = Instant::now();
    let _gateway = start(&["gateway"], &[]);
    gateway_up(&rx);
    // The backlog the sensor stored meanwhile: recovered once the new gateway has it all.
    let stored_by_restart = RATE * started.elapsed().as_secs();
    let caught_up = wait_metrics(&session, Duration::from_secs(60), "the backlog", |m| {
        count(m, "last_seq") >= stored_by_restart
    });
    let recovery = restarted.elapsed();
    assert!(count(&caught_up, "accepted") > 0);

    let sent = published(sender);
    let total = sent["sent"].as_u64().unwrap();
    assert_eq!(total, RATE * DURATION_MS / 1000, "{sent}");
    assert_eq!(
        sent["unacknowledged"], 0,
        "every event acknowledged: {sent}"
    );
    let m = wait_metrics(&session, Duration::from_secs(10), "every event", |m| {
        count(m, "last_seq") == total
    });
    // Exactly once: each sequence number recorded once across both gateways, none lost.
    assert_eq!(count(&m, "recorded"), total, "{:#}", m["sensors"][SENSOR]);
    assert_eq!(
        (count(&m, "gaps"), count(&m, "lost"), count(&m, "stale")),
        (0, 0, 0),
        "{:#}",
        m["sensors"][SENSOR]
    );
    // The new gateway accepted only what the old one had not recorded: at most what was left
    // after the old one's count shortly before the kill.
    assert!(
        count(&m, "accepted") <= total - count(&before, "recorded"),
        "{:#}",
        m["sensors"][SENSOR]
    );
    // The scan is still an incident: the new gateway raised it from the events after the
    // kill, numbered after the old gateway's incidents.
    let incident = wait_for(&rx, Duration::from_secs(10), "the incident again", |l| {
        l["kind"] == "incident" && l["origin"] == "ivi"
    });
    assert!(
        incident["id"].as_u64() > first["id"].as_u64(),
        "{incident} after {first}"
    );
    println!(
        "gateway_killed: sent {total}, recorded {} (old gateway by its kill at {:?}: at least {}, \
         new gateway accepted {}), duplicates {}, lost {}; recovery {} ms after the restart \
         (backlog of {stored_by_restart} caught up), the sender's last receipt {} ms after its \
         last event; incident {}",
        count(&m, "recorded"),
        killed_at,
        count(&before, "recorded"),
        count(&m, "accepted"),
        count(&m, "duplicates"),
        count(&m, "lost"),
        recovery.as_millis(),
        sent["drained_ms"],
        incident["id"],
    );
}
