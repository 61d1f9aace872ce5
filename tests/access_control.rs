//! Scenario: an ECU speaks only as itself. The IVI, authenticated by its own certificate, is
//! heard on its own keys; publishing events as body-dc (`vsiem sim flood --identity ivi`, the
//! test double of a compromised agent) or a block order is refused by the gateway's access
//! control: the gateway never takes the events, nobody receives the order, and the gateway
//! reports each refusal as `gateway.access_denied` naming the IVI.

mod common;

use std::time::Duration;

use common::bus::{self, flood, published, reports, wait_metrics};
use common::{monitor, start, wait_for};
use vsiem_actors::bus::keys;
use zenoh::Wait as _;

const TIMEOUT: Duration = Duration::from_secs(30);
const DENIED: &str = "gateway.access_denied";

#[test]
fn the_ivi_can_neither_speak_as_body_dc_nor_order_a_block() {
    let vin = bus::vin();
    let _gateway = start(&["gateway"], &[]);
    let (_monitor, rx) = monitor();
    wait_for(&rx, TIMEOUT, "gateway up", |l| {
        l["kind"] == "alive" && l["ecu"] == "gateway"
    });
    let session = bus::session();
    let reports = reports(&session);
    let orders = session
        .declare_subscriber(keys::order(&vin, "body-dc"))
        .wait()
        .unwrap();
    let accepted = |m: &serde_json::Value, sensor: &str| {
        m["sensors"][sensor]["accepted"].as_u64().unwrap_or(0)
    };

    // As itself, the IVI is heard.
    let args = ["--sensor", "processes", "--count", "5", "--rate", "100"];
    published(flood(&[&["--ecu", "ivi"][..], &args].concat()));
    wait_metrics(&session, TIMEOUT, "the IVI's events accepted", |m| {
        accepted(m, "ivi/processes") == 5
    });

    // As body-dc it is not: the events never reach ingest, and the refusal names the IVI.
    let spoofed = published(flood(
        &[&["--ecu", "body-dc", "--identity", "ivi"][..], &args].concat(),
    ));
    assert_eq!(spoofed["sent"], 5, "the double believes it published");
    let spoofed_key = keys::event(&vin, "body-dc", "processes");
    reports.wait(TIMEOUT, "the spoofed events reported", |r| {
        r.about(DENIED, "ivi")
            .iter()
            .filter(|d| d.reason.contains(&spoofed_key))
            .map(|d| d.dropped)
            .sum::<u64>()
            == 5
    });
    let denial = &reports.about(DENIED, "ivi")[0];
    assert!(
        denial.reason.starts_with("Put on ") && denial.reason.contains("ivi.5VS1M00REF0000001"),
        "{denial:?}"
    );
    let m = bus::metrics(&session).expect("the gateway answers");
    assert_eq!(accepted(&m, "body-dc/processes"), 0, "{m:#}");
    assert_eq!(m["unknown_source"].as_u64().unwrap_or(0), 0, "{m:#}");

    // A block order from the IVI: refused at the router, so not even the monitor sees it.
    let as_ivi = bus::session_as("ivi");
    let order_key = keys::order(&vin, "body-dc");
    let publisher = as_ivi.declare_publisher(&order_key).wait().unwrap();
    publisher
        .put(b"block ivi's enemies".to_vec())
        .wait()
        .unwrap();
    reports.wait(TIMEOUT, "the block order reported", |r| {
        r.about(DENIED, "ivi")
            .iter()
            .any(|d| d.reason.contains(&order_key))
    });
    assert!(
        orders
            .recv_timeout(Duration::from_millis(500))
            .unwrap()
            .is_none(),
        "a block order from the IVI went through"
    );
}
