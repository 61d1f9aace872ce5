//! Scenario: only holders of this vehicle's certificates join the backbone. A client presenting
//! no certificate, or the certificate of another vehicle (a second `vsiem pki init`, another VIN
//! and CA), is refused by the gateway, and a sensor agent with another vehicle's PKI never comes
//! up; the same client with its own certificate is let in.

mod common;

use std::time::{Duration, Instant};

use common::bus::{self, issue_pki, pki_dir};
use common::{monitor, start, wait_for};
use vsiem_actors::bus::Security;
use vsiem_topology::{pki, Topology, REFERENCE_INTEL, REFERENCE_TOML};
use zenoh::Wait as _;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a client with `security` gets a session with the gateway within a few seconds.
fn joins(security: &Security) -> bool {
    let mut config = bus::config(security);
    config.insert_json5("connect/timeout_ms", "3000").unwrap();
    zenoh::open(config).wait().is_ok()
}

#[test]
fn no_certificate_or_another_vehicles_is_refused() {
    let other = Topology::from_toml(
        &REFERENCE_TOML.replace("5VS1M00REF0000001", "5VS1M00ANY0000002"),
        &|_| Ok(REFERENCE_INTEL.to_owned()),
    )
    .expect("another vehicle");
    let other_pki = issue_pki(&other, "other-vehicle-pki");

    let _gateway = start(&["gateway"], &[]);
    let (_monitor, rx) = monitor();
    wait_for(&rx, TIMEOUT, "gateway up", |l| {
        l["kind"] == "alive" && l["ecu"] == "gateway"
    });

    let tcu = pki::files(pki_dir(), "tcu");
    assert!(joins(&Security::Tls(tcu.clone())), "its own certificate");

    // No certificate: the client trusts the vehicle CA but has nothing to show.
    let mut config = bus::config(&Security::Tls(tcu.clone()));
    config
        .insert_json5("transport/link/tls/enable_mtls", "false")
        .unwrap();
    config.insert_json5("connect/timeout_ms", "3000").unwrap();
    assert!(
        zenoh::open(config).wait().is_err(),
        "a client without a certificate joined"
    );

    // Another vehicle's certificate for an ECU of the same name, signed by that vehicle's CA.
    let foreign = pki::IdentityFiles {
        ca: tcu.ca.clone(),
        ..pki::files(&other_pki, "tcu")
    };
    assert!(
        !joins(&Security::Tls(foreign)),
        "another vehicle's certificate joined"
    );

    // A real agent with the other vehicle's PKI: it never comes up (and keeps trying).
    let mut agent = start(
        &[
            "sensor",
            "--ecu",
            "tcu",
            "--pki",
            other_pki.to_str().unwrap(),
        ],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Ok(line) = rx.recv_timeout(left) {
            assert!(
                !(line["kind"] == "alive" && line["ecu"] == "tcu"),
                "the foreign agent came up: {line}"
            );
        }
    }
    assert!(
        agent.0.try_wait().unwrap().is_none(),
        "the agent waits for a gateway it can trust"
    );
}
