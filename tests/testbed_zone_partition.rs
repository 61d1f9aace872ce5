//! Scenario: the infotainment zone is cut off the gateway for 60 s on the container testbed
//! (nftables in the gateway's container drops everything between the zone and the gateway
//! itself, and everything forwarded into or out of it), as a zonal switch that lost its
//! uplink would. Meanwhile the IVI is tampered with (files written in its watched app tree,
//! from its own container) and its real file sensor detects it. The gateway reports its
//! zone's agents `sensor.silent` during the partition; after healing, everything the IVI
//! detected during it is delivered from its durable outbox and recorded exactly once, none
//! refused as stale (their sequence numbers prove them new, however late). No agent outside the
//! zone is reported silent: the gateway's links to the cut-off ECUs die without taking others
//! with them.
//!
//! Needs Docker and docker-compose; fails saying so unless VSIEM_SKIP_DOCKER_TESTS=1.

mod common;

use common::testbed::{collect_for, collect_until, sent, Testbed, WAIT};
use serde_json::Value;
use std::time::{Duration, Instant};

const ZONE: &str = "infotainment";
/// The zone's ECUs that run an agent.
const CUT_OFF: [&str; 2] = ["ivi", "tcu"];
const PARTITION: Duration = Duration::from_secs(60);
const SENSOR: &str = "ivi/files";
const FILES: usize = 5;
const APPS: &str = "/var/lib/vsiem/root/opt/ivi/apps";

fn count(m: &Value, field: &str) -> u64 {
    m["sensors"][SENSOR][field].as_u64().unwrap_or(0)
}

/// Writes `name` in the IVI's app tree from inside its container.
fn tamper(tb: &Testbed, name: &str) {
    tb.exec_ok("ivi", &["sh", "-c", &format!("echo x > {APPS}/{name}")]);
}

#[test]
fn what_a_cut_off_zone_detects_is_delivered_once_after_the_partition_in_containers() {
    let Some((tb, _monitor, rx, mut seen)) = Testbed::up("partition", "parked") else {
        return;
    };
    tamper(&tb, "before");
    let before = tb.wait_metrics(WAIT, "the first file event recorded", |m| {
        count(m, "recorded") >= 1
    });

    tb.partition_zone(ZONE);
    let cut = Instant::now();
    // Taken after the cut: what was on its way before it has arrived or is lost with the link.
    let at_cut = tb.metrics().expect("the gateway's metrics answer");
    for i in 0..FILES {
        tamper(&tb, &format!("during-{i}"));
    }
    collect_until(
        &rx,
        &mut seen,
        PARTITION,
        "sensor.silent for the zone",
        |seen| {
            CUT_OFF.iter().all(|ecu| {
                seen.iter()
                    .any(|l| l["type"] == "sensor.silent" && l["origin"] == *ecu)
            })
        },
    );
    let silent_after = cut.elapsed();
    // Nothing of the partition reached the gateway while it lasted.
    let during = tb.metrics().expect("the gateway's metrics answer");
    assert_eq!(
        count(&during, "last_seq"),
        count(&at_cut, "last_seq"),
        "an event crossed the partition: {:#} after {:#} at the cut; the IVI's events seen: {:#?}",
        during["sensors"][SENSOR],
        at_cut["sensors"][SENSOR],
        seen.iter()
            .filter(|l| l["kind"] == "event" && l["ecu"] == "ivi")
            .collect::<Vec<_>>()
    );
    collect_for(&rx, &mut seen, PARTITION.saturating_sub(cut.elapsed()));
    let partitioned = cut.elapsed();
    // The rest of the vehicle was not disturbed: no agent outside the zone lost its link.
    let silent: Vec<&Value> = seen
        .iter()
        .filter(|l| l["type"] == "sensor.silent")
        .map(|l| &l["origin"])
        .collect();
    assert!(
        silent.iter().all(|ecu| CUT_OFF.iter().any(|c| *ecu == c)),
        "agents outside the partitioned zone reported silent: {silent:?}"
    );
    // The cut-off agents kept running through it (an agent that cannot reach the gateway
    // holds its events on disk, its memory bounded).
    for ecu in CUT_OFF {
        assert_eq!(tb.status(ecu), (true, false), "{ecu} (running, OOM-killed)");
    }
    tb.heal("gateway");
    let healed = Instant::now();

    tb.wait_metrics(WAIT, "the partition's file events recorded", |m| {
        count(m, "recorded") >= count(&before, "recorded") + FILES as u64
    });
    let m = tb.wait_caught_up(&rx, &mut seen, WAIT);
    let delivered_in = healed.elapsed();
    assert_eq!(count(&m, "stale"), 0, "{:#}", m["sensors"][SENSOR]);
    // Each tampered file is in an event stamped after the last one recorded before the cut.
    for i in 0..FILES {
        // Named from the ECU's root or the container's, as the sensor sees it.
        let file = format!("opt/ivi/apps/during-{i}");
        assert!(
            seen.iter().any(|l| l["kind"] == "event"
                && l["ecu"] == "ivi"
                && l["sensor"] == "files"
                && l["seq"].as_u64() > before["sensors"][SENSOR]["last_seq"].as_u64()
                && l["detail"].as_str().is_some_and(|d| d.contains(&file))),
            "no event delivered for {file}"
        );
    }
    let memory = tb.report_with(
        "zone partition",
        &sent(&seen),
        &m,
        &[
            ("partition", format!("{ZONE}, {} s", partitioned.as_secs())),
            (
                "sensor.silent for every agent of the zone",
                format!("{} ms after the cut", silent_after.as_millis()),
            ),
            (
                "the partition's events delivered (heal to every lane caught up)",
                format!("{} ms", delivered_in.as_millis()),
            ),
            (
                &format!("{SENSOR} recorded during and after the partition"),
                (count(&m, "recorded") - count(&before, "recorded")).to_string(),
            ),
        ],
    );
    tb.assert_within_limits(&memory);
}
