//! Scenario: the V-SOC is unreachable while three ECUs report intrusions, and the gateway is
//! killed (SIGKILL) and restarted before the V-SOC comes up. The incidents' versions wait in the
//! gateway's durable escalation queue across the restart and, once the V-SOC answers, arrive
//! in the order they were raised, each in its latest state, each version stored once.

mod common;

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::bus::{flood, published};
use common::escalation::{read_store, stored_versions, waiting};
use common::{monitor, start, wait_for};
use serde_json::Value;

const ORIGINS: [&str; 3] = ["ivi", "tcu", "body-dc"];
/// No new incident version for this long: the gateway has escalated everything it will.
const QUIET: Duration = Duration::from_secs(5);

fn gateway_up(rx: &Receiver<Value>) {
    wait_for(rx, Duration::from_secs(30), "the gateway up", |l| {
        l["kind"] == "alive" && l["ecu"] == "gateway" && l["up"] == true
    });
}

/// The incident versions the gateway publishes, (id, version time), until it is quiet.
fn versions_until_quiet(rx: &Receiver<Value>) -> Vec<(u64, u64)> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match rx.recv_timeout(QUIET) {
            Ok(l) if l["kind"] == "incident" => {
                seen.push((l["id"].as_u64().unwrap(), l["ts_ns"].as_u64().unwrap()));
            }
            Ok(_) => {}
            Err(_) if seen.len() >= ORIGINS.len() => return seen,
            Err(_) => {}
        }
    }
    panic!("the gateway never went quiet; versions so far: {seen:?}");
}

#[test]
fn escalations_wait_across_a_gateway_restart_and_arrive_in_order_once() {
    let mut gateway = start(&["gateway"], &[]);
    let (_monitor, rx) = monitor();
    gateway_up(&rx);
    for ecu in ORIGINS {
        let sender = flood(&[
            "--ecu",
            ecu,
            "--sensor",
            "agent",
            "--event",
            "host.file_tampered",
            "--count",
            "1",
        ]);
        assert_eq!(published(sender)["sent"], 1);
    }
    // Raised and updated (orders to agents that are not there) while the V-SOC is down.
    let raised = versions_until_quiet(&rx);
    let mut ids: Vec<u64> = raised.iter().map(|v| v.0).collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        ORIGINS.len(),
        "one incident per origin: {raised:?}"
    );

    gateway.0.kill().unwrap();
    gateway.0.wait().unwrap();
    let _gateway = start(&["gateway"], &[]);
    gateway_up(&rx);

    let expected = waiting(&raised);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("vsoc-incidents.jsonl");
    let vsoc_up = Instant::now();
    let _vsoc = start(&["vsoc", "--store", store.to_str().unwrap()], &[]);
    let deadline = vsoc_up + Duration::from_secs(60);
    while stored_versions(&read_store(&store)).len() < expected.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let delivered_in = vsoc_up.elapsed();
    // A little longer: nothing more may come (no version twice, none invented).
    std::thread::sleep(Duration::from_secs(3));
    let got = stored_versions(&read_store(&store));
    assert_eq!(
        got, expected,
        "every incident in order, in its latest state, once; raised: {raised:?}"
    );
    println!(
        "vsoc_outage: {} incident versions of {} incidents raised while the V-SOC was down, \
         kept across a gateway SIGKILL; the {} waiting stored by the V-SOC {} ms after it \
         started, in order, none twice",
        raised.len(),
        ORIGINS.len(),
        expected.len(),
        delivered_in.as_millis()
    );
}
