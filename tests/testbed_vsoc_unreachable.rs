//! Scenario: the V-SOC is cut off (nftables in the TCU's container drops everything forwarded
//! to or from it) while the reference attack runs on the container testbed and the TCU's
//! firmware is tampered with: incidents are raised, updated as their block orders are
//! answered, and each version waits in the gateway's durable escalation queue. The outage is
//! scaled to 90 s (a real one may last hours; 90 s is many Zenoh lease periods, so the
//! gateway's link to the V-SOC is gone and must be made again, and the escalator retries for
//! the whole stretch). After healing, the V-SOC's store (in its container's state directory)
//! holds every incident in the order raised, in its latest state, each version at most once
//! and in the order published (a newer version takes a waiting one's place in the queue).
//!
//! Needs Docker and docker-compose; fails saying so unless VSIEM_SKIP_DOCKER_TESTS=1.

mod common;

use common::testbed::{
    collect_for, collect_until, incident_versions, stored_versions, Testbed, WAIT,
};
use std::time::{Duration, Instant};

const RULE: &str = "intrusion-then-lateral-movement";
const OUTAGE: Duration = Duration::from_secs(90);

/// Each incident's last version in `versions`.
fn latest(versions: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut last = std::collections::BTreeMap::new();
    for &(id, at) in versions {
        last.insert(id, at);
    }
    last.into_iter().collect()
}

/// The incidents of `versions` in the order of their first version.
fn first_seen(versions: &[(u64, u64)]) -> Vec<u64> {
    let mut ids = Vec::new();
    for &(id, _) in versions {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

#[test]
#[ignore = "never yet run to its end: the IVI and TCU agents were OOM-killed in containers (a file-sensor recheck loop, fixed in d0b0d57); un-ignore once it passes (the vsiem 2026-12-02 note)"]
fn escalations_wait_for_a_cut_off_vsoc_and_arrive_in_order_once_in_containers() {
    let Some((tb, _monitor, rx)) = Testbed::up("vsoccut", "parked") else {
        return;
    };
    tb.cut_vsoc();
    let cut = Instant::now();
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
    let mut seen = Vec::new();
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
    assert_eq!(
        stored_versions(&tb.vsoc_store()),
        Vec::new(),
        "the V-SOC stored a version during the outage"
    );

    tb.heal("tcu");
    let healed = Instant::now();
    // Until the V-SOC holds every incident's latest version published so far (more may come
    // as blocks expire).
    let deadline = healed + WAIT + WAIT;
    loop {
        seen.extend(rx.try_iter());
        let published = incident_versions(&seen);
        let stored = stored_versions(&tb.vsoc_store());
        if latest(&published).iter().all(|v| stored.contains(v)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the V-SOC stored {stored:?} of {published:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let delivered_in = healed.elapsed();
    // A little longer: nothing more may come (no version twice, none invented).
    collect_for(&rx, &mut seen, Duration::from_secs(3));
    let published = incident_versions(&seen);
    let stored = stored_versions(&tb.vsoc_store());
    // In the order published, each once: a subsequence of what the gateway published.
    let mut rest = published.iter();
    assert!(
        stored.iter().all(|v| rest.any(|p| p == v)),
        "stored out of order, twice or invented: {stored:?} of {published:?}"
    );
    assert!(
        latest(&published).iter().all(|v| stored.contains(v)),
        "an incident's latest version is missing: {stored:?} of {published:?}"
    );
    assert_eq!(
        first_seen(&stored),
        first_seen(&published),
        "incidents stored in another order than raised"
    );

    let metrics = tb.metrics().expect("the gateway's metrics answer");
    let memory = tb.report_with(
        "vsoc unreachable",
        &seen,
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
                    published.len()
                ),
            ),
        ],
    );
    tb.assert_within_limits(&memory);
}
