//! Scenario: the compromised IVI floods the gateway on the container testbed. From the IVI's
//! container, with the IVI's certificate, a test double of its agent (`vsiem sim flood`)
//! publishes 100,000 well-formed events/s for 5 s, while the body controller's container sends
//! a steady 20 events/s (the same double, speaking as its someip sensor) and the TCU's real file
//! sensor reports a tampered file. The other ECUs' events all arrive; the flood is dropped on
//! the IVI's own lane; no container reaches its memory limit or is killed for memory.
//!
//! Needs Docker and docker-compose; fails saying so unless VSIEM_SKIP_DOCKER_TESTS=1.

mod common;

use common::testbed::{Testbed, WAIT};
use serde_json::Value;
use std::process::Stdio;

const STEADY_EVENTS: u64 = 60;

fn count(m: &Value, sensor: &str, field: &str) -> u64 {
    m["sensors"][sensor][field].as_u64().unwrap_or(0)
}

#[test]
fn an_ivi_flood_does_not_starve_the_other_ecus_in_containers() {
    let Some((tb, monitor, rx)) = Testbed::up("flood", "parked") else {
        return;
    };
    // The monitor would print every flooded event.
    tb.stop_monitor();
    drop((monitor, rx));

    let spawn = |service: &str, args: &[&str]| {
        tb.vsiem(service, &[&["sim", "flood"], args].concat())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker exec starts")
    };
    let flooder = spawn(
        "ivi",
        &[
            "--ecu",
            "ivi",
            "--sensor",
            "processes",
            "--rate",
            "100000",
            "--duration-ms",
            "5000",
        ],
    );
    let steady_count = STEADY_EVENTS.to_string();
    let steady = spawn(
        "body-dc",
        &[
            "--ecu",
            "body-dc",
            "--sensor",
            "someip",
            "--event",
            "someip.unknown_method",
            "--rate",
            "20",
            "--count",
            &steady_count,
        ],
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    let tampered = tb.state("tcu").join("root/opt/tcu/system/bin/tcu-modem");
    std::fs::write(&tampered, "implant\n").unwrap();

    let sent = |child: std::process::Child| -> u64 {
        let output = child.wait_with_output().expect("docker exec ends");
        assert!(
            output.status.success(),
            "vsiem sim flood failed: {output:?}"
        );
        let published: Value = serde_json::from_slice(&output.stdout).expect("one JSON line");
        published["sent"].as_u64().expect("sent")
    };
    let flood_sent = sent(flooder);
    assert_eq!(sent(steady), STEADY_EVENTS);

    let m = tb.wait_metrics(WAIT, "every event arrived and the lanes drained", |m| {
        count(m, "ivi/processes", "received") == flood_sent
            && count(m, "body-dc/someip", "received") == STEADY_EVENTS
            && count(m, "tcu/files", "accepted") >= 1
            && m["sensors"]
                .as_object()
                .is_some_and(|s| s.values().all(|s| s["queue_depth"] == 0))
    });
    // The other ECUs: everything accepted, nothing dropped.
    for (field, want) in [
        ("accepted", STEADY_EVENTS),
        ("dropped_rate_limited", 0),
        ("dropped_queue_full", 0),
        ("lost", 0),
    ] {
        assert_eq!(
            count(&m, "body-dc/someip", field),
            want,
            "body-dc/someip.{field}"
        );
    }
    assert_eq!(count(&m, "tcu/files", "dropped_rate_limited"), 0);
    // The flood: dropped on the IVI's own lane, every event counted.
    let dropped = count(&m, "ivi/processes", "dropped_rate_limited")
        + count(&m, "ivi/processes", "dropped_queue_full");
    assert!(
        dropped > 0,
        "the flood was never limited: {:#}",
        m["sensors"]["ivi/processes"]
    );
    assert_eq!(count(&m, "ivi/processes", "accepted") + dropped, flood_sent);

    println!(
        "flood: ivi sent {flood_sent}, accepted {}, dropped {dropped}; body-dc sent {STEADY_EVENTS}, accepted {}",
        count(&m, "ivi/processes", "accepted"),
        count(&m, "body-dc/someip", "accepted"),
    );
    let memory = tb.report("ivi flood", &[], &m);
    for (service, m) in &memory {
        assert!(m.peak < m.limit, "{service} reached its memory limit");
    }
    for service in ["gateway", "ivi", "tcu", "body-dc"] {
        assert_eq!(
            tb.status(service),
            (true, false),
            "{service} (running, OOM-killed)"
        );
    }
}
