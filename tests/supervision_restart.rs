//! Scenario: a detector of a running sensor agent panics; its supervisor restarts it, the
//! restart reaches the gateway as a security event, and the agent never goes silent.
//! The panic is injected with a fail point (FAILPOINTS, compiled into test builds only).

mod common;

use std::time::Duration;

use common::{monitor, start, wait_for};

#[test]
fn a_panicking_detector_is_restarted_and_reported() {
    let tree = tempfile::tempdir().unwrap();
    for dir in ["opt/ivi/system", "opt/ivi/apps"] {
        std::fs::create_dir_all(tree.path().join(dir)).unwrap();
    }
    let _gateway = start(&["gateway"], &[]);
    let (_monitor, rx) = monitor();
    wait_for(&rx, Duration::from_secs(30), "gateway", |l| {
        l["kind"] == "alive" && l["ecu"] == "gateway"
    });
    let root = tree.path().to_str().unwrap();
    // Poll twice, panic; after the restart poll three times, panic again: the second report
    // proves the restarted detector runs.
    let failpoints = (
        "FAILPOINTS",
        "processes.poll=2*off->1*panic->3*off->1*panic",
    );
    let _ivi = start(
        &["sensor", "--ecu", "ivi", "--fs-root", root],
        &[failpoints],
    );
    wait_for(&rx, Duration::from_secs(30), "ivi up", |l| {
        l["kind"] == "alive" && l["ecu"] == "ivi" && l["up"] == true
    });
    for restarts in 1..=2 {
        let restart = wait_for(&rx, Duration::from_secs(30), "restart event", |l| {
            l["type"] == "sensor.detector_restarted"
        });
        assert_eq!(
            (restart["ecu"].as_str(), restart["origin"].as_str()),
            (Some("ivi"), Some("ivi"))
        );
        let detail = restart["detail"].as_str().unwrap_or_default();
        assert!(
            detail.starts_with("processes:"),
            "restart {restarts} of the wrong detector: {detail}"
        );
    }
    // And the agent stayed up all along: the gateway never saw it go silent.
    let after: Vec<_> =
        std::iter::from_fn(|| rx.recv_timeout(Duration::from_millis(1500)).ok()).collect();
    let silent = after
        .iter()
        .find(|l| l["kind"] == "alive" && l["ecu"] == "ivi" && l["up"] == false);
    assert!(silent.is_none(), "the agent went silent: {silent:?}");
}
