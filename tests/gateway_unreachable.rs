//! Scenario: the gateway stops answering (SIGSTOP) for longer than `limits.event_max_age_ms`
//! (35 s against 30 s) while the IVI's real agent detects tampered files. The agent's events
//! wait in its durable outbox, its link to the stopped gateway times out; when the gateway
//! resumes (SIGCONT) they are all delivered and accepted once, none refused as stale: their
//! sequence numbers prove them new.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::bus::{self, wait_metrics};
use common::{monitor, start, wait_for};
use serde_json::Value;
use vsiem_actors::bus::keys;
use vsiem_schemas::read;
use zenoh::Wait as _;

const SENSOR: &str = "ivi/files";
const STOPPED: Duration = Duration::from_secs(35);
const FILES: usize = 5;

fn count(metrics: &Value, field: &str) -> u64 {
    metrics["sensors"][SENSOR][field].as_u64().unwrap_or(0)
}

fn signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).unwrap();
    // SAFETY: kill(2) on a child this test started; no memory is shared.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "signal {signal}");
}

#[test]
fn events_of_a_long_outage_are_delivered_after_it_and_none_is_stale() {
    let tree = tempfile::tempdir().unwrap();
    let apps = tree.path().join("opt/ivi/apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::create_dir_all(tree.path().join("opt/ivi/system")).unwrap();
    let gateway = start(&["gateway"], &[]);
    let (_monitor, rx) = monitor();
    wait_for(&rx, Duration::from_secs(30), "the gateway up", |l| {
        l["kind"] == "alive" && l["ecu"] == "gateway"
    });
    let root = tree.path().to_str().unwrap();
    let _ivi = start(&["sensor", "--ecu", "ivi", "--fs-root", root], &[]);
    wait_for(&rx, Duration::from_secs(30), "the IVI agent up", |l| {
        l["kind"] == "alive" && l["ecu"] == "ivi" && l["up"] == true
    });
    // Every file path the IVI's file sensor reports on the bus, with its sequence number.
    let session = bus::session();
    let events = session
        .declare_subscriber(keys::event(&bus::vin(), "ivi", "files"))
        .wait()
        .unwrap();
    std::fs::write(apps.join("before"), "0").unwrap();
    let before = wait_metrics(&session, Duration::from_secs(10), "the first event", |m| {
        count(m, "recorded") >= 1
    });

    signal(gateway.0.id(), libc::SIGSTOP);
    let written: BTreeSet<String> = (0..FILES)
        .map(|i| format!("/opt/ivi/apps/during-{i}"))
        .collect();
    for path in &written {
        std::fs::write(tree.path().join(path.trim_start_matches('/')), "1").unwrap();
    }
    std::thread::sleep(STOPPED);
    signal(gateway.0.id(), libc::SIGCONT);
    let resumed = Instant::now();

    let m = wait_metrics(
        &session,
        Duration::from_secs(60),
        "the outage's events",
        |m| {
            count(m, "recorded") >= count(&before, "recorded") + FILES as u64
                && count(m, "recorded") == count(m, "last_seq")
        },
    );
    let delivered_in = resumed.elapsed();
    assert_eq!(
        (count(&m, "stale"), count(&m, "gaps"), count(&m, "lost")),
        (0, 0, 0),
        "{:#}",
        m["sensors"][SENSOR]
    );
    // Each file written during the outage is in an event the gateway recorded.
    let last_seq = count(&m, "last_seq");
    let mut reported = BTreeSet::new();
    while let Ok(Some(sample)) = events.try_recv() {
        let bytes = sample.payload().to_bytes();
        let event = read::event(&bytes).unwrap();
        let path = event.context_as_file_change().and_then(|f| f.path());
        if let (Some(path), true) = (path, event.seq() <= last_seq) {
            reported.insert(path.to_owned());
        }
    }
    assert!(
        written.is_subset(&reported),
        "written {written:?}, recorded {reported:?}"
    );
    println!(
        "gateway_unreachable: gateway stopped {} s; {} events recorded after it ({} before), \
         duplicates {}, stale 0, lost 0; delivered {} ms after it resumed",
        STOPPED.as_secs(),
        count(&m, "recorded") - count(&before, "recorded"),
        count(&before, "recorded"),
        count(&m, "duplicates"),
        delivered_in.as_millis()
    );
}
