//! Scenario: the reference attack on the container testbed. The attacker, on the IVI's radio,
//! exploits the IVI's media service; from the IVI's own container (its address, its network
//! stack: the implant's vantage point, `docker exec`) it looks up the C&C name, scans the body
//! controller and sends DoorLock.Unlock and Immobilizer.Disarm across the gateway. Every part
//! is a real `vsiem` process in its ECU's container: the IVI's host sensors detect the
//! intrusion, the TCU's and the gateway's network sensors capture live, the gateway raises the
//! incident, the IVI's enforcer applies its drop orders with nftables inside its container, the
//! body controller refuses the IVI, the V-SOC (through the TCU) stores the incident.
//!
//! Needs Docker and docker-compose; fails saying so unless VSIEM_SKIP_DOCKER_TESTS=1.

mod common;

use common::testbed::{collect_for, collect_until, sent, Testbed, WAIT};
use serde_json::Value;
use std::time::Duration;
use vsiem_actors::sim::body;

const RULE: &str = "intrusion-then-lateral-movement";

/// Orders to `target` whose action contains `action`, and whether each was acked applied.
fn acked(seen: &[Value], target: &str, action: &str) -> Vec<bool> {
    seen.iter()
        .filter(|l| {
            l["kind"] == "order"
                && l["target"] == target
                && l["action"].as_str().is_some_and(|a| a.contains(action))
        })
        .map(|o| {
            seen.iter()
                .any(|a| a["kind"] == "ack" && a["order"] == o["id"] && a["status"] == "applied")
        })
        .collect()
}

#[test]
fn the_reference_attack_is_detected_at_the_ivi_and_blocked_in_containers() {
    let Some((tb, _monitor, rx, mut seen)) = Testbed::up("reference", "parked") else {
        return;
    };
    tb.exploit();
    let lateral = tb.attack("ivi", "ivi");

    collect_until(&rx, &mut seen, WAIT, "the incident contained", |seen| {
        let incident = seen
            .iter()
            .find(|l| l["kind"] == "incident" && l["rule"] == RULE && l["origin"] == "ivi");
        let escalated = incident.is_some_and(|i| {
            seen.iter()
                .any(|l| l["kind"] == "escalation" && l["incident"] == i["id"])
        });
        let ivi = acked(seen, "ivi", "drop flow");
        let body = acked(seen, "body-dc", "block SOME/IP client ivi");
        escalated
            && ivi.len() == 2
            && ivi.iter().all(|a| *a)
            && !body.is_empty()
            && body.iter().all(|a| *a)
    });
    collect_for(&rx, &mut seen, Duration::from_secs(1));

    // Detection at the IVI: its host sensors reported the intrusion.
    let at_ivi: Vec<&Value> = seen
        .iter()
        .filter(|l| {
            l["kind"] == "event"
                && l["ecu"] == "ivi"
                && l["type"].as_str().is_some_and(|t| t.starts_with("host."))
        })
        .collect();
    assert!(!at_ivi.is_empty(), "no host event from the IVI");
    // Live capture: the gateway's network sensor saw the Unlock cross it.
    assert!(
        seen.iter().any(|l| l["kind"] == "event"
            && l["ecu"] == "gateway"
            && l["sensor"] == "net"
            && l["origin"] == "ivi"
            && l["detail"]
                .as_str()
                .is_some_and(|d| d.contains("service 0x1101 method 0x0002"))),
        "the gateway's capture did not report the Unlock"
    );

    // Nothing the attack did not do: it spoofs no address and tags no frame, from the start
    // of the vehicle on.
    let spoofing: Vec<&Value> = seen
        .iter()
        .filter(|l| l["type"] == "net.arp_spoof" || l["type"] == "net.vlan_violation")
        .collect();
    assert!(spoofing.is_empty(), "spoofing reported: {spoofing:#?}");

    // Unlock and Disarm never took effect, and the attacker saw them fail.
    let actuations = body::read_actuations(&tb.state("body-dc").join("root")).unwrap();
    let effects: Vec<&str> = actuations.iter().map(|a| a.effect.as_str()).collect();
    assert!(
        !effects.contains(&"unlock") && !effects.contains(&"disarm"),
        "the attack took effect: {actuations:?}"
    );
    for step in lateral.iter().filter(|s| {
        s["step"]
            .as_str()
            .is_some_and(|s| s.ends_with("Unlock") || s.ends_with("Disarm"))
    }) {
        assert_ne!(step["outcome"], "ok", "{step}");
    }

    // Enforcement inside the IVI's container: its drop rules are in nftables.
    let rules = tb.exec_ok("ivi", &["nft", "list", "table", "inet", "vsiem"]);
    assert!(
        rules.contains("vsiem-order-") && rules.contains("drop"),
        "no block in the IVI's nftables: {rules}"
    );

    // The V-SOC has the incident.
    let store = tb.vsoc_store();
    let stored = store
        .iter()
        .any(|i| i["origin_ecu"] == "ivi" && i["rule"] == RULE);
    assert!(stored, "the V-SOC's store lacks the incident: {store:#?}");

    let metrics = tb.metrics().expect("the gateway's metrics answer");
    let memory = tb.report("reference attack", &sent(&seen), &metrics);
    for (service, m) in &memory {
        assert!(m.peak < m.limit, "{service} reached its memory limit");
    }
}
