//! Scenario: the gateway's container is killed (SIGKILL, every process in it: router, ingest,
//! correlator, its own agent) in the middle of the reference attack on the container testbed,
//! and started again two seconds later with its state directory. The attacker has exploited the
//! IVI's media service and the IVI's sensors are reporting the intrusion when the gateway
//! dies; the lateral movement follows once it is back. What the agents' durable outboxes held
//! is delivered to the new gateway: every event the monitor saw a sensor send is recorded
//! exactly once (per sensor `recorded == last_seq`, no gap, nothing lost or stale; what the old
//! gateway had recorded and is sent again is counted as a duplicate), and the incident is
//! still raised, contained and stored by the V-SOC. Recovery time: from the kill until every
//! agent is back and every sensor's lane has caught up.
//!
//! Needs Docker and docker-compose; fails saying so unless VSIEM_SKIP_DOCKER_TESTS=1.

mod common;

use common::testbed::{agents, collect_until, sent, Testbed, WAIT};
use serde_json::Value;
use std::process::Stdio;
use std::time::{Duration, Instant};

const RULE: &str = "intrusion-then-lateral-movement";
const DOWN: Duration = Duration::from_secs(2);

/// `field` summed over every sensor of the metrics.
fn total(metrics: &Value, field: &str) -> u64 {
    metrics["sensors"]
        .as_object()
        .map_or(0, |s| s.values().filter_map(|s| s[field].as_u64()).sum())
}

#[test]
fn every_event_arrives_once_and_the_incident_is_raised_across_a_gateway_kill_in_containers() {
    let Some((tb, monitor, rx, mut seen)) = Testbed::up("gwkill", "parked") else {
        return;
    };
    tb.exploit();
    collect_until(&rx, &mut seen, WAIT, "the intrusion reported", |seen| {
        seen.iter()
            .any(|l| l["kind"] == "event" && l["ecu"] == "ivi")
    });
    // Mid-attack: the implant moves laterally, and the gateway dies as the first detections
    // of it cross the bus.
    let mut first_lateral = tb
        .attack_command("ivi", "ivi")
        .stdout(Stdio::null())
        .spawn()
        .expect("docker exec starts");
    collect_until(
        &rx,
        &mut seen,
        WAIT,
        "the lateral movement detected",
        |seen| {
            seen.iter()
                .any(|l| l["kind"] == "event" && l["origin"] == "ivi" && l["ecu"] != "ivi")
        },
    );
    let before = tb.metrics().expect("the gateway's metrics answer");
    tb.kill("gateway");
    let killed = Instant::now();
    // The monitor ran in the gateway's container: it died with it.
    seen.extend(rx.try_iter());
    drop((monitor, rx));
    std::thread::sleep(DOWN);
    tb.start("gateway");
    let (_monitor, rx) = tb.monitor();
    let restarted = seen.len();
    let agents = agents();
    collect_until(&rx, &mut seen, WAIT, "every agent back", |seen| {
        agents.iter().all(|ecu| {
            seen[restarted..]
                .iter()
                .any(|l| l["kind"] == "alive" && l["up"] == true && l["ecu"] == ecu.as_str())
        })
    });
    let recovered = tb.wait_caught_up(&rx, &mut seen, WAIT);
    let recovery = killed.elapsed();
    let resent = total(&recovered, "duplicates");

    // The implant's first try failed with the gateway (its calls had no route); it tries
    // again.
    first_lateral.wait().expect("the first try ends");
    let lateral = tb.attack("ivi", "ivi");
    assert!(!lateral.is_empty(), "no lateral step ran");
    collect_until(&rx, &mut seen, WAIT, "the incident escalated", |seen| {
        seen.iter()
            .filter(|l| l["kind"] == "incident" && l["rule"] == RULE && l["origin"] == "ivi")
            .any(|i| {
                seen.iter()
                    .any(|l| l["kind"] == "escalation" && l["incident"] == i["id"])
            })
    });
    let store = tb.vsoc_store();
    assert!(
        store
            .iter()
            .any(|i| i["origin_ecu"] == "ivi" && i["rule"] == RULE),
        "the V-SOC's store lacks the incident: {store:#?}"
    );

    // Exactly once, after the attack too: every sequence number recorded once, none lost.
    let m = tb.wait_caught_up(&rx, &mut seen, WAIT);
    let memory = tb.report_with(
        "gateway killed",
        &sent(&seen),
        &m,
        &[
            (
                "recovery (kill to every lane caught up)",
                format!("{} ms ({} s down)", recovery.as_millis(), DOWN.as_secs()),
            ),
            (
                "recorded by the old gateway shortly before its kill",
                total(&before, "recorded").to_string(),
            ),
            (
                "sent again, dropped as duplicates by the new gateway by its recovery",
                resent.to_string(),
            ),
        ],
    );
    tb.assert_within_limits(&memory);
}
