//! Scenario: IdsM qualification at a real sensor agent. The body controller's SOME/IP guard
//! receives a burst of unauthorized Unlock requests, which its uplink folds into one aggregated
//! event, then a flood of requests for an unknown method, which its rate limit cuts and reports
//! as `sensor.traffic_limit_exceeded`. Seen through `vsiem monitor`: nothing is lost silently
//! (the counts forwarded plus the counts held back are what the guard detected), and suppressed
//! events take no sequence number (the gateway sees no gap).

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::{monitor_with, start, wait_for};
use serde_json::Value;

const UNLOCKS: u32 = 50;
const UNKNOWN_METHODS: u64 = 30;
/// The rate limit of the scenario's topology, per interval.
const RATE: u64 = 10;

/// The reference vehicle with a qualification that makes the scenario quick and exact:
/// aggregation of unauthorized clients over 3 s (the whole burst), 10 events per 2 s.
fn topology(dir: &std::path::Path) -> String {
    let reference = vsiem_topology::REFERENCE_TOML;
    let cut = reference
        .find("\n[qualification]\n")
        .expect("the reference has a [qualification] section");
    let text = format!(
        "{}\n[qualification]\n\
         rate_limit = {{ events = {RATE}, interval_ms = 2000 }}\n\
         traffic_limit = {{ bytes = 1048576, interval_ms = 2000 }}\n\
         [[qualification.types]]\n\
         event = \"someip.unauthorized_client\"\n\
         aggregate_ms = 3000\n",
        &reference[..cut]
    );
    std::fs::write(dir.join("vehicle.toml"), text).unwrap();
    std::fs::write(
        dir.join("reference-intel.json"),
        vsiem_topology::REFERENCE_INTEL,
    )
    .unwrap();
    dir.join("vehicle.toml").to_str().unwrap().to_owned()
}

/// A SOME/IP request from the IVI's client ID (0x0003), header only.
fn request(service: u16, method: u16, session: u16) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(16);
    bytes.extend(service.to_be_bytes());
    bytes.extend(method.to_be_bytes());
    bytes.extend(8u32.to_be_bytes()); // length: the rest of the header, no payload
    bytes.extend(0x0003u16.to_be_bytes());
    bytes.extend(session.to_be_bytes());
    bytes.extend([1, 1, 0x00, 0x00]); // protocol 1, interface 1, request, return code 0
    bytes
}

/// Sends `count` requests from the IVI's address to the body controller's DoorLock service,
/// each after the previous one was answered (so the guard saw every one of them).
fn call(socket: &UdpSocket, method: u16, count: u64) {
    let mut reply = [0u8; 1500];
    for session in 1..=count {
        let session = u16::try_from(session).unwrap();
        socket
            .send_to(&request(0x1101, method, session), "127.0.2.2:30501")
            .unwrap();
        let (len, _) = socket.recv_from(&mut reply).expect("the guard answers");
        assert!(
            len >= 16 && reply[15] != 0,
            "request {session} was not refused"
        );
    }
}

/// The events of body-dc's agent seen within `linger` after `enough` says the picture is whole.
fn collect(
    rx: &std::sync::mpsc::Receiver<Value>,
    events: &mut Vec<Value>,
    enough: impl Fn(&[Value]) -> bool,
    linger: Duration,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut settled: Option<Instant> = None;
    loop {
        let until = settled.map_or(deadline, |t| (t + linger).min(deadline));
        let Some(left) = until.checked_duration_since(Instant::now()) else {
            return;
        };
        if let Ok(line) = rx.recv_timeout(left) {
            if line["kind"] == "event" {
                events.push(line);
            }
        }
        if settled.is_none() && enough(events) {
            settled = Some(Instant::now());
        }
    }
}

fn of_type<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == name).collect()
}

fn sum(events: &[&Value], field: &str) -> u64 {
    events.iter().map(|e| e[field].as_u64().unwrap_or(0)).sum()
}

#[test]
fn a_burst_is_aggregated_and_a_flood_is_limited_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let topology = topology(dir.path());
    let _gateway = start(&["gateway", "--topology", &topology], &[]);
    let (_monitor, rx) = monitor_with(&["--topology", &topology]);
    wait_for(&rx, Duration::from_secs(30), "gateway up", |l| {
        l["kind"] == "alive" && l["ecu"] == "gateway"
    });
    let tree = dir.path().join("body-dc");
    let _body = start(
        &[
            "sensor",
            "--ecu",
            "body-dc",
            "--simulate",
            "--topology",
            &topology,
            "--fs-root",
            tree.to_str().unwrap(),
        ],
        &[],
    );
    wait_for(&rx, Duration::from_secs(30), "body-dc up", |l| {
        l["kind"] == "alive" && l["ecu"] == "body-dc" && l["up"] == true
    });
    let ivi = UdpSocket::bind("127.0.1.3:0").unwrap();
    ivi.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    // A burst of Unlock requests: one aggregated event, sent when its window closes, with the
    // first request's context (its detection time tells it apart).
    let before_first = vsiem_schemas::now_ns();
    call(&ivi, 0x0002, 1);
    let after_first = vsiem_schemas::now_ns();
    call(&ivi, 0x0002, u64::from(UNLOCKS) - 1);
    let mut events = Vec::new();
    collect(
        &rx,
        &mut events,
        |e| !of_type(e, "someip.unauthorized_client").is_empty(),
        Duration::from_millis(200),
    );
    let unauthorized = of_type(&events, "someip.unauthorized_client");
    assert_eq!(unauthorized.len(), 1, "not one aggregate: {events:#?}");
    let aggregate = unauthorized[0];
    assert_eq!(aggregate["count"], UNLOCKS, "{aggregate:#}");
    assert_eq!(
        (aggregate["origin"].as_str(), aggregate["sensor"].as_str()),
        (Some("ivi"), Some("someip"))
    );
    let detected = aggregate["ts_ns"].as_u64().unwrap_or(0);
    assert!(
        (before_first..=after_first).contains(&detected),
        "not the first request's context: {aggregate:#}"
    );

    // A flood of unknown-method requests: the rate limit forwards what fits in its interval
    // and reports the rest, once, when the interval ends.
    call(&ivi, 0x0099, UNKNOWN_METHODS);
    let accounted = |e: &[Value]| {
        sum(&of_type(e, "someip.unknown_method"), "count")
            + sum(&of_type(e, "sensor.traffic_limit_exceeded"), "dropped")
            >= UNKNOWN_METHODS
    };
    // Lingering one more interval shows nothing else arrives (no second report, no repeats).
    collect(&rx, &mut events, accounted, Duration::from_millis(2500));
    let unknown = of_type(&events, "someip.unknown_method");
    let limited = of_type(&events, "sensor.traffic_limit_exceeded");
    assert!(
        !limited.is_empty(),
        "the rate limit did not report: {events:#?}"
    );
    assert_eq!(
        sum(&unknown, "count") + sum(&limited, "dropped"),
        UNKNOWN_METHODS,
        "forwarded + held back is not what the guard detected: {events:#?}"
    );
    assert!(
        (unknown.len() as u64) < RATE,
        "the limit did not bite: {} forwarded",
        unknown.len()
    );
    assert!(limited.len() <= 2, "one report per interval: {limited:#?}");
    for report in &limited {
        assert_eq!(
            (
                report["ecu"].as_str(),
                report["sensor"].as_str(),
                report["origin"].as_str()
            ),
            (Some("body-dc"), Some("agent"), Some("body-dc"))
        );
        let detail = report["detail"].as_str().unwrap_or_default();
        assert!(
            detail.starts_with("uplink rate limit: 10 events per 2000 ms exceeded"),
            "{detail}"
        );
    }

    // Held-back events took no sequence number: the guard's sequence has no hole, and the
    // gateway saw no gap.
    let mut seqs: Vec<u64> = events
        .iter()
        .filter(|e| e["ecu"] == "body-dc" && e["sensor"] == "someip")
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    seqs.sort_unstable();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected);
    assert!(
        of_type(&events, "sensor.sequence_gap").is_empty(),
        "{events:#?}"
    );
}
