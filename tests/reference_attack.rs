//! Scenario: DESIGN.md's reference attack across real processes (`vsiem demo`). The IVI is
//! exploited, the attacker moves laterally to the body controller, and the SIEM must detect,
//! correlate, block and escalate before the unlock or the disarm takes effect.

mod common;

use common::{demo, of_kind, summary};

#[test]
fn the_reference_attack_is_detected_blocked_and_escalated() {
    let (output, lines) = demo(&["--scenario", "reference"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let s = summary(&lines);
    assert!(
        output.status.success(),
        "demo failed: {s}\nstderr:\n{stderr}"
    );
    assert_eq!(s["outcome"], "attack stopped");
    assert_eq!(
        (s["unlock_effects"].as_u64(), s["disarm_effects"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(s["vsoc_acked"], true);

    let types: Vec<&str> = of_kind(&lines, "event")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for expected in [
        "host.file_tampered",
        "host.unexpected_process",
        "someip.unauthorized_client",
        "someip.malformed",
        "someip.client_blocked",
    ] {
        assert!(
            types.contains(&expected),
            "no {expected} among {types:?}; timeline:\n{lines:#?}"
        );
    }

    // One compromised ECU, one incident: the first detections open it, the correlation of
    // intrusion and lateral movement upgrades it, and every later event folds into it.
    let incidents = of_kind(&lines, "incident");
    let last = incidents.last().expect("an incident");
    assert_eq!(
        (last["severity"].as_str(), last["origin"].as_str()),
        (Some("critical"), Some("ivi"))
    );
    assert_eq!(last["rule"], "intrusion-then-lateral-movement");
    assert!(
        last["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "atm.tactic.lateral-movement")),
        "{last}"
    );
    let ids: std::collections::HashSet<_> = incidents.iter().map(|i| i["id"].as_u64()).collect();
    assert_eq!(
        ids.len(),
        1,
        "repeats fold into one incident: {incidents:#?}"
    );
    let folded = last["events"].as_u64().unwrap_or(0);
    assert!(folded >= 5, "every contributing event is counted: {last}");

    let orders = of_kind(&lines, "order");
    let acks = of_kind(&lines, "ack");
    let acked = |target: &str, action: &str, status: &str| {
        orders.iter().any(|o| {
            o["target"] == target
                && o["action"].as_str().is_some_and(|a| a.starts_with(action))
                && acks
                    .iter()
                    .any(|a| a["order"] == o["id"] && a["status"] == status)
        })
    };
    assert!(
        acked("body-dc", "block SOME/IP client ivi", "applied"),
        "body-dc did not block the IVI: {orders:#?} {acks:#?}"
    );
    assert!(
        acked("ivi", "stop process sh", "applied"),
        "the implant's shell was not stopped: {orders:#?} {acks:#?}"
    );
    assert!(
        !of_kind(&lines, "escalation").is_empty(),
        "no V-SOC receipt"
    );

    // The attacker's own view: refused, and refused even for Lock once the block is in place.
    let attack = of_kind(&lines, "attack");
    let outcome = |step: &str| {
        attack
            .iter()
            .filter(|a| a["step"] == step)
            .map(|a| a["outcome"].as_str().unwrap_or(""))
            .collect::<Vec<_>>()
    };
    assert!(outcome("someip DoorLock.Unlock")
        .iter()
        .all(|o| o.starts_with("refused")));
    assert!(outcome("someip Immobilizer.Disarm")
        .iter()
        .all(|o| o.starts_with("refused")));
    assert!(
        outcome("someip DoorLock.Lock")
            .last()
            .is_some_and(|o| o.starts_with("refused")),
        "the block never took effect"
    );
}
