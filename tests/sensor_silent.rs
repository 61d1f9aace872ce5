//! Scenario: a sensor agent is killed (SIGKILL, no goodbye). Its liveliness token disappears and
//! the gateway raises `sensor.silent` for that ECU: a silent sensor is an attack signal.

mod common;

use std::time::Duration;

use common::{monitor, start, wait_for};

#[test]
fn a_killed_sensor_agent_is_reported_silent() {
    let tree = tempfile::tempdir().unwrap();
    let _gateway = start(&["gateway"], &[]);
    let (_monitor, rx) = monitor();
    wait_for(&rx, Duration::from_secs(30), "gateway up", |l| {
        l["kind"] == "alive" && l["ecu"] == "gateway"
    });
    let mut body = start(
        &[
            "sensor",
            "--ecu",
            "body-dc",
            "--simulate",
            "--fs-root",
            tree.path().to_str().unwrap(),
        ],
        &[],
    );
    wait_for(&rx, Duration::from_secs(30), "body-dc up", |l| {
        l["kind"] == "alive" && l["ecu"] == "body-dc" && l["up"] == true
    });

    body.0.kill().expect("SIGKILL the agent");
    let silent = wait_for(&rx, Duration::from_secs(30), "sensor.silent", |l| {
        l["type"] == "sensor.silent"
    });
    assert_eq!(
        (silent["ecu"].as_str(), silent["sensor"].as_str()),
        (Some("gateway"), Some("ingest"))
    );
    assert_eq!(silent["origin"], "body-dc");
    assert_eq!(silent["severity"], "high");
}
