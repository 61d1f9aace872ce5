//! Scenario: the V-SOC is cut off (nftables in the TCU's container drops everything forwarded
//! to or from it) while the reference attack runs on the container testbed and the TCU's
//! firmware is tampered with: incidents are raised, updated as their block orders are
//! answered, and each version waits in the gateway's durable escalation queue. The outage is
//! scaled to 90 s (a real one may last hours; 90 s is many Zenoh lease periods, so the
//! gateway's link to the V-SOC is gone and must be made again, and the escalator retries for
//! the whole stretch). After healing, the V-SOC's store (in its container's state directory)
//! holds exactly what the gateway's queue held: the version on its way when the V-SOC went,
//! then every incident in the order raised, in its latest state (a newer version takes its
//! waiting one's place in the queue), each once.
//!
//! Needs Docker and docker-compose; fails saying so unless VSIEM_SKIP_DOCKER_TESTS=1.

mod common;

use common::escalation::{incident_versions, stored_versions, waiting};
use common::testbed::{collect_for, collect_until, sent, Testbed, WAIT};
use std::time::{Duration, Instant, SystemTime};

const RULE: &str = "intrusion-then-lateral-movement";
const OUTAGE: Duration = Duration::from_secs(90);

#[test]
#[ignore = "flaky: failed 3 of 10 runs. Twice the gateway's own network-spoofing incident was missing from the monitor's view (it now sees the start, and a multi-homed ECU's ARP no longer reads as spoofing); once the gateway's own agent was reported silent at the heal, its incident a version published after it (the vsiem 2026-12-02 night note)"]
fn escalations_wait_for_a_cut_off_vsoc_and_arrive_in_order_once_in_containers() {
    let Some((tb, _monitor, rx, mut seen)) = Testbed::up("vsoccut", "parked") else {
        return;
    };
    tb.cut_vsoc();
    let cut = Instant::now();
    let cut_at = SystemTime::now();
    tb.attack("attacker", "outside");
    tb.attack("ivi", "ivi");
    tb.exec_ok(
        "tcu",
        &[
            "sh",
            "-c",
            "echo implant > /var/lib/vsiem/root/opt/tcu/system/bin/tcu-modem",
        ],
    );
    collect_until(
        &rx,
        &mut seen,
        WAIT,
        "both incidents, one updated",
        |seen| {
            let of = |origin: &str| {
                seen.iter()
                    .filter(|l| l["kind"] == "incident" && l["origin"] == origin)
                    .count()
            };
            let attack = seen
                .iter()
                .filter(|l| l["kind"] == "incident" && l["rule"] == RULE)
                .count();
            attack >= 2 && of("tcu") >= 1
        },
    );
    collect_for(&rx, &mut seen, OUTAGE.saturating_sub(cut.elapsed()));
    let outage = cut.elapsed();
    let queued = incident_versions(&seen);
    assert!(
        !seen.iter().any(|l| l["kind"] == "escalation"),
        "an escalation was acknowledged during the outage: {seen:#?}"
    );
    let stored = tb.vsoc_store();
    assert!(
        stored.is_empty(),
        "the V-SOC stored during the outage (cut at {cut_at:?}): {stored:#?}; the TCU's rules: {}",
        String::from_utf8_lossy(&tb.exec("tcu", &["nft", "list", "ruleset"]).stdout)
    );

    tb.heal("tcu");
    let healed = Instant::now();
    let expected = waiting(&queued);
    let deadline = healed + WAIT + WAIT;
    while stored_versions(&tb.vsoc_store()).len() < expected.len() {
        assert!(
            Instant::now() < deadline,
            "the V-SOC stored {:?} of {expected:?}",
            stored_versions(&tb.vsoc_store())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let delivered_in = healed.elapsed();
    // A little longer: nothing more may come (no version twice, none invented).
    collect_for(&rx, &mut seen, Duration::from_secs(3));
    assert_eq!(
        incident_versions(&seen),
        queued,
        "a version published after healing (none is due: blocks lapse after 300 s, incidents \
         close after 600 s)"
    );
    let stored = stored_versions(&tb.vsoc_store());
    assert_eq!(
        stored, expected,
        "not what the queue held (in order, each incident in its latest state, once); \
         published: {queued:?}"
    );

    let metrics = tb.metrics().expect("the gateway's metrics answer");
    let memory = tb.report_with(
        "vsoc unreachable",
        &sent(&seen),
        &metrics,
        &[
            ("V-SOC cut off", format!("{} s", outage.as_secs())),
            (
                "incident versions queued during the outage",
                queued.len().to_string(),
            ),
            (
                "every incident's latest version stored after healing",
                format!(
                    "{} ms ({} of {} versions published stored, in order, none twice)",
                    delivered_in.as_millis(),
                    stored.len(),
                    queued.len()
                ),
            ),
        ],
    );
    tb.assert_within_limits(&memory);
}
