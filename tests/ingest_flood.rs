//! Scenario: a compromised IVI agent floods the gateway with well-formed events (10,000/s,
//! increasing sequence numbers) while the body controller's sensor reports at a steady pace.
//! The steady sensor loses nothing; the flooder's excess is dropped on its own lane, counted,
//! and reported as events naming it; every queue stays within its bound.
//!
//! The gateway is slowed to about 500 events/s with a fail point (2 ms per event, as if its CPU
//! were busy with other work), so that the flood overruns both the topology's rate limit
//! (1000 events/s per sensor) and the flooder's queue (1024 events): both drops are certain.
//!
//! The flood stays at a rate the backbone's TLS link carries on a loaded two-core machine: the
//! test is about ingest's accounting, which needs every event sent to arrive. A flood the link
//! cannot carry blocks the flooder until Zenoh closes its session (`wait_before_close`, 5 s)
//! and loses what was queued, which ingest reports as a sequence gap; the fairness bench
//! (`bench/fairness.rs`) measures the 100,000 events/s flood.

mod common;

use std::time::Duration;

use common::bus::{self, flood, ivi_flood_args, published, reports, steady_args, wait_metrics};
use common::start;
use serde_json::Value;

const FLOODER: &str = "ivi/processes";
const STEADY: &str = "body-dc/someip";
const STEADY_EVENTS: u64 = 60;

fn lane<'a>(metrics: &'a Value, sensor: &str) -> &'a Value {
    &metrics["sensors"][sensor]
}

fn count(metrics: &Value, sensor: &str, field: &str) -> u64 {
    lane(metrics, sensor)[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{sensor}.{field} missing: {metrics:#}"))
}

#[test]
fn a_flooding_sensor_loses_only_its_own_events() {
    let _gateway = start(&["gateway"], &[("FAILPOINTS", "ingest.event=sleep(2)")]);
    // No monitor here: it would print every one of the flood's events.
    let session = bus::session();
    let reports = reports(&session);
    wait_metrics(&session, Duration::from_secs(30), "the gateway up", |_| {
        true
    });

    let flooder = flood(&ivi_flood_args("10000", "4000"));
    let count_arg = STEADY_EVENTS.to_string();
    let steady = flood(&steady_args("20", &count_arg));
    // And a sensor the topology does not list for the IVI.
    let stranger = flood(&["--ecu", "ivi", "--sensor", "net", "--count", "10"]);
    let flooded = published(flooder);
    let steadied = published(steady);
    let strangered = published(stranger);
    let flood_sent = flooded["sent"].as_u64().unwrap();
    assert_eq!(steadied["sent"].as_u64(), Some(STEADY_EVENTS));
    assert_eq!(strangered["sent"].as_u64(), Some(10));

    // Everything sent has arrived and every lane is served empty.
    let m = wait_metrics(&session, Duration::from_secs(60), "ingest drained", |m| {
        count(m, FLOODER, "received") == flood_sent
            && count(m, STEADY, "received") == STEADY_EVENTS
            && m["sensors"]
                .as_object()
                .unwrap()
                .values()
                .all(|s| s["queue_depth"] == 0)
    });
    eprintln!(
        "flooder sent {flood_sent}; metrics: {:#}",
        lane(&m, FLOODER)
    );

    // The steady sensor: every event accepted, none dropped, no gap, no replay.
    for (field, want) in [
        ("accepted", STEADY_EVENTS),
        ("dropped_rate_limited", 0),
        ("dropped_queue_full", 0),
        ("gaps", 0),
        ("duplicates", 0),
        ("invalid", 0),
    ] {
        assert_eq!(count(&m, STEADY, field), want, "{STEADY}.{field}");
    }

    // The flooder: each event accepted or dropped, and counted as such; both limits bit.
    let rate_limited = count(&m, FLOODER, "dropped_rate_limited");
    let overflow = count(&m, FLOODER, "dropped_queue_full");
    let accepted = count(&m, FLOODER, "accepted");
    assert!(rate_limited > 0, "the rate limit never bit");
    assert!(overflow > 0, "the flooder's queue never overflowed");
    assert_eq!(accepted + rate_limited + overflow, flood_sent);
    assert_eq!(count(&m, FLOODER, "gaps"), 0, "own drops are not gaps");

    // Bounded: no queue ever held more than its capacity, nor the correlator's backlog.
    let capacity = m["queue_capacity_per_sensor"].as_u64().unwrap();
    for (sensor, s) in m["sensors"].as_object().unwrap() {
        let peak = s["queue_peak_depth"].as_u64().unwrap();
        assert!(peak <= capacity, "{sensor} held {peak} > {capacity}");
    }
    assert!(m["correlator_backlog"].as_u64() <= m["correlator_backlog_capacity"].as_u64());
    assert!(count(&m, FLOODER, "queue_peak_depth") > 0);

    // Reported: the drops, as events naming the flooder, add up to the counters.
    reports.wait(Duration::from_secs(10), "reports of every drop", |r| {
        r.dropped("sensor.rate_limited", FLOODER) == rate_limited
            && r.dropped("sensor.queue_overflow", FLOODER) == overflow
    });
    for name in ["sensor.rate_limited", "sensor.queue_overflow"] {
        assert!(
            reports.about(name, STEADY).is_empty(),
            "{name} for {STEADY}"
        );
    }
    // The stranger: counted and reported, never queued.
    let unknown = "vsiem/5VS1M00REF0000001/event/ivi/net";
    assert_eq!(m["unknown_source"].as_u64(), Some(10));
    assert!(m["sensors"].get("ivi/net").is_none());
    reports.wait(Duration::from_secs(10), "the unknown source", |r| {
        r.dropped("sensor.unknown_source", unknown) == 10
    });
}
