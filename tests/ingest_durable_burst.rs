//! Scenario: a sensor's durable outbox bursts past the gateway's rate limit (1,000 events/s per
//! sensor), as a backlog does when it drains after a partition or a gateway restart. What the
//! limit refused is not acknowledged (the receipt stops at the hole it left), so the outbox sends
//! it again with its next window, and every event is recorded once. A sender that never resends
//! loses only its excess (`ingest_flood.rs`). Real gateway, real outbox (`vsiem sim flood
//! --state-dir`).

mod common;

use std::time::Duration;

use common::bus::{self, wait_metrics};
use common::{monitor, start, wait_for};
use serde_json::Value;

#[test]
fn what_the_rate_limit_refused_of_a_durable_sender_is_sent_again_and_recorded_once() {
    const EVENTS: u64 = 3000;
    let _gateway = start(&["gateway"], &[]);
    let (_monitor, rx) = monitor();
    wait_for(&rx, Duration::from_secs(30), "the gateway up", |l| {
        l["kind"] == "alive" && l["ecu"] == "gateway"
    });
    let session = bus::session();
    let outbox = tempfile::tempdir().unwrap();
    let sent = bus::published(bus::flood(&[
        "--ecu",
        "tcu",
        "--sensor",
        "net",
        "--rate",
        "20000",
        "--count",
        &EVENTS.to_string(),
        "--duration-ms",
        "10000",
        "--state-dir",
        outbox.path().to_str().unwrap(),
    ]));
    assert_eq!(sent["sent"], EVENTS, "{sent}");
    assert_eq!(
        sent["unacknowledged"], 0,
        "every event acknowledged: {sent}"
    );
    let name = "tcu/net";
    let of = |m: &Value, field: &str| m["sensors"][name][field].as_u64().unwrap_or(0);
    let m = wait_metrics(&session, Duration::from_secs(10), "every event", |m| {
        of(m, "settled_seq") == EVENTS
    });
    assert!(
        of(&m, "dropped_rate_limited") + of(&m, "dropped_queue_full") > 0,
        "the limits never bit: {:#}",
        m["sensors"][name]
    );
    assert_eq!(
        ["recorded", "accepted", "gaps", "lost", "missing"].map(|f| of(&m, f)),
        [EVENTS, EVENTS, 0, 0, 0],
        "{:#}",
        m["sensors"][name]
    );
}
