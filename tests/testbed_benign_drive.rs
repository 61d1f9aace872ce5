//! Scenario: a benign drive on the container testbed. The chassis controller drives through
//! the city, the IVI locks the doors, sets the climate and reads the immobilizer, the TCU
//! unlocks remotely: allowed calls only, from each ECU's own container across the gateway. No
//! security event, no incident, no block; the calls take effect at the body controller.
//!
//! Needs Docker and docker-compose; fails saying so unless VSIEM_SKIP_DOCKER_TESTS=1.

mod common;

use common::testbed::{collect_for, sent, Testbed};
use serde_json::Value;
use std::time::Duration;
use vsiem_actors::sim::body;

#[test]
fn a_benign_drive_raises_nothing_in_containers() {
    let Some((tb, _monitor, rx, mut seen)) = Testbed::up("benign", "city") else {
        return;
    };
    for ecu in ["ivi", "tcu"] {
        let args = [
            "attack",
            "--scenario",
            "benign",
            "--from",
            ecu,
            "--ivi-media",
            "0.0.0.0:1",
        ];
        let output = tb.vsiem(ecu, &args).output().expect("docker exec runs");
        assert!(output.status.success(), "{ecu}'s calls: {output:?}");
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let step: Value = serde_json::from_str(line).unwrap();
            assert_eq!(step["outcome"], "ok", "{step}");
        }
    }
    // Listen on: 20 signal samples of the drive, 40 process polls, 2 heartbeats per agent.
    // What was seen as the vehicle started is judged too.
    collect_for(&rx, &mut seen, Duration::from_secs(5));

    let of = |kind: &str| -> Vec<&Value> { seen.iter().filter(|l| l["kind"] == kind).collect() };
    assert!(
        of("event").is_empty(),
        "events on a benign drive: {:#?}",
        of("event")
    );
    assert!(
        of("incident").is_empty(),
        "incidents: {:#?}",
        of("incident")
    );
    assert!(of("order").is_empty(), "block orders: {:#?}", of("order"));
    let actuations = body::read_actuations(&tb.state("body-dc").join("root")).unwrap();
    let by = |effect: &str, caller: &str| {
        actuations
            .iter()
            .any(|a| a.effect == effect && a.caller == caller)
    };
    assert!(
        by("lock", "ivi") && by("unlock", "tcu"),
        "allowed calls did not take effect: {actuations:?}"
    );
    let rules = tb.exec_ok("ivi", &["nft", "list", "ruleset"]);
    assert!(
        !rules.contains("vsiem-order-"),
        "a block on the IVI: {rules}"
    );

    let metrics = tb.metrics().expect("the gateway's metrics answer");
    let memory = tb.report("benign drive", &sent(&seen), &metrics);
    for (service, m) in &memory {
        assert!(m.peak < m.limit, "{service} reached its memory limit");
    }
}
