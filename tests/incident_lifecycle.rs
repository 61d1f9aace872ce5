//! Scenario: an incident's whole life across real processes. An intrusion on the IVI (a write
//! into its read-only tree) and an unauthorized SOME/IP request from it to the body controller
//! raise one incident; the response policy blocks the IVI's SOME/IP client at body-dc, the
//! block is applied and the incident is contained; after the close delay without new events it
//! is closed and the block revoked, and body-dc serves the IVI's allowed calls again.

mod common;

use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use common::{monitor, start, wait_for, wait_up};

const TIMEOUT: Duration = Duration::from_secs(30);
const IVI: &str = "127.0.1.3:0";
const DOOR_LOCK: &str = "127.0.2.2:30501";

/// The reference vehicle with a close delay of 2 s and a policy whose every order body-dc can
/// apply without root (so that the incident can be contained).
fn topology(dir: &Path) -> String {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("topology");
    let text = std::fs::read_to_string(shipped.join("reference.toml")).unwrap();
    let changed = text
        .replace("close_after_ms = 600000", "close_after_ms = 2000")
        .replace(
            r#"actions = ["stop-processes", "drop-egress", "block-someip-client"]"#,
            r#"actions = ["block-someip-client"]"#,
        );
    assert_ne!(
        changed, text,
        "the reference topology has the settings this test changes"
    );
    std::fs::write(dir.join("vehicle.toml"), changed).unwrap();
    std::fs::copy(
        shipped.join("reference-intel.json"),
        dir.join("reference-intel.json"),
    )
    .unwrap();
    dir.join("vehicle.toml").display().to_string()
}

/// A SOME/IP request header (16 bytes, no payload) of DoorLock from the IVI's client ID.
fn door_lock_request(method: u16, session: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(16);
    m.extend_from_slice(&0x1101u16.to_be_bytes());
    m.extend_from_slice(&method.to_be_bytes());
    m.extend_from_slice(&8u32.to_be_bytes());
    m.extend_from_slice(&0x0003u16.to_be_bytes());
    m.extend_from_slice(&session.to_be_bytes());
    m.extend_from_slice(&[1, 1, 0x00, 0x00]);
    m
}

/// Sends a request and returns the response's return code, if body-dc answered.
fn call(socket: &UdpSocket, method: u16, session: u16) -> Option<u8> {
    socket
        .send_to(&door_lock_request(method, session), DOOR_LOCK)
        .unwrap();
    let mut buf = [0u8; 1500];
    let n = socket.recv(&mut buf).ok()?;
    (n >= 16).then_some(buf[15])
}

#[test]
fn an_incident_is_raised_contained_closed_and_its_block_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let topology = topology(dir.path());
    let ivi_tree = dir.path().join("ivi");
    let system = ivi_tree.join("opt/ivi/system/bin");
    std::fs::create_dir_all(&system).unwrap();
    std::fs::create_dir_all(ivi_tree.join("opt/ivi/apps")).unwrap();
    std::fs::write(system.join("ivi-update"), "ivi-update 4.2.0\n").unwrap();
    let body_tree = dir.path().join("body");
    std::fs::create_dir_all(&body_tree).unwrap();
    let vehicle = ["--topology", topology.as_str()];

    let _gateway = start(&[&["gateway"][..], &vehicle].concat(), &[]);
    let (_monitor, rx) = monitor();
    wait_for(&rx, TIMEOUT, "gateway up", |l| {
        l["kind"] == "alive" && l["ecu"] == "gateway"
    });
    let body_args = [
        "sensor",
        "--ecu",
        "body-dc",
        "--simulate",
        "--fs-root",
        body_tree.to_str().unwrap(),
    ];
    let _body = start(&[&body_args[..], &vehicle].concat(), &[]);
    let ivi_args = [
        "sensor",
        "--ecu",
        "ivi",
        "--fs-root",
        ivi_tree.to_str().unwrap(),
    ];
    let _ivi = start(&[&ivi_args[..], &vehicle].concat(), &[]);
    wait_up(&rx, TIMEOUT, &["body-dc", "ivi"]);

    std::fs::write(system.join("ivi-update"), "implant\n").unwrap();
    let socket = UdpSocket::bind(IVI).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let refused = call(&socket, 0x0002, 1);
    assert!(
        matches!(refused, Some(rc) if rc != 0x00),
        "Unlock from the IVI is refused: {refused:?}"
    );

    let block = wait_for(&rx, TIMEOUT, "the block order", |l| {
        l["kind"] == "order" && l["target"] == "body-dc" && l["revoke"] == false
    });
    let contained = wait_for(&rx, TIMEOUT, "the incident contained", |l| {
        l["kind"] == "incident" && l["state"] == "contained"
    });
    assert_eq!(contained["rule"], "intrusion-then-lateral-movement");
    assert_eq!(contained["origin"], "ivi");
    assert_eq!(contained["id"], block["incident"]);
    let id = contained["id"].clone();

    // The closed version (escalated: committed to the durable queue first) and the revocation's
    // ack (the enforcer's) come from different processes, in either order.
    let is_closed = |l: &Value| l["kind"] == "incident" && l["state"] == "closed";
    let is_revoked =
        |l: &Value| l["kind"] == "ack" && l["order"] == block["id"] && l["status"] == "revoked";
    let first = wait_for(
        &rx,
        TIMEOUT,
        "the incident closed or its block revoked",
        |l| is_closed(l) || is_revoked(l),
    );
    let closed = if is_closed(&first) {
        wait_for(&rx, TIMEOUT, "the block revoked", is_revoked);
        first
    } else {
        wait_for(&rx, TIMEOUT, "the incident closed", is_closed)
    };
    assert_eq!(closed["id"], id, "the same incident closes");
    assert_eq!(
        call(&socket, 0x0001, 2),
        Some(0x00),
        "Lock, allowed for the IVI, works again"
    );
}
