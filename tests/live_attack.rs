//! Scenario: the reference attack's lateral movement on a real network, seen on the wire and
//! blocked. Three network namespaces stand for the IVI (10.10.1.3), the body controller
//! (10.10.2.2) and the central gateway (10.10.1.1 and 10.10.2.1, routing between the zones),
//! with the contract's MACs; every part is a real `vsiem` process in its namespace: the V-SOC,
//! the gateway, the gateway's network sensor capturing live on its infotainment port, the body
//! controller's agent with its simulated services, and the IVI's agent enforcing with
//! nftables. From the IVI, DoorLock.Unlock and Immobilizer.Disarm go to the body controller;
//! the network sensor reports them, the gateway raises an incident and orders the IVI's egress
//! dropped (the vehicle's policy for unauthorized SOME/IP requests, added to the reference
//! topology here), the IVI's enforcer applies it: the IVI's packets stop, while its own
//! sensors still report over the backbone.
//!
//! Needs root, `ip`, `nft` and python3 (the attacker and the probes). Without them the test
//! fails saying what is missing, unless VSIEM_SKIP_ROOT_TESTS=1 opts out explicitly.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::netns::{self, End, Netns};
use common::{wait_for, wait_up, Running};
use serde_json::Value;

const IVI: &str = "10.10.1.3";
const BODY: &str = "10.10.2.2";
const WAIT: Duration = Duration::from_secs(30);

/// The vehicle: the reference one, with a response policy for unauthorized SOME/IP requests.
fn topology(dir: &Path) -> String {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("topology");
    let mut toml = std::fs::read_to_string(reference.join("reference.toml")).unwrap();
    toml.push_str(
        "\n[[response.policies]]\nrules = [\"someip-unauthorized-request\"]\nactions = [\"drop-egress\"]\n",
    );
    std::fs::copy(
        reference.join("reference-intel.json"),
        dir.join("reference-intel.json"),
    )
    .unwrap();
    let path = dir.join("vehicle.toml");
    std::fs::write(&path, toml).unwrap();
    path.to_string_lossy().into_owned()
}

/// The gateway routing between the IVI's and the body controller's zones.
struct Vehicle {
    gateway: Netns,
    ivi: Netns,
    body: Netns,
    /// The gateway's port on the infotainment zone, where its network sensor captures.
    capture: String,
}

impl Vehicle {
    fn new() -> Self {
        let v = Self {
            gateway: Netns::new("gw"),
            ivi: Netns::new("ivi"),
            body: Netns::new("body"),
            capture: format!("gi{}", std::process::id()),
        };
        let id = std::process::id();
        let (iv, gb, bd) = (format!("iv{id}"), format!("gb{id}"), format!("bd{id}"));
        netns::veth(
            &End {
                ns: &v.ivi,
                dev: &iv,
                address: "10.10.1.3/24",
                mac: Some("02:00:0a:0a:01:03"),
            },
            &End {
                ns: &v.gateway,
                dev: &v.capture,
                address: "10.10.1.1/24",
                mac: Some("02:00:0a:0a:01:01"),
            },
        );
        netns::veth(
            &End {
                ns: &v.body,
                dev: &bd,
                address: "10.10.2.2/24",
                mac: Some("02:00:0a:0a:02:02"),
            },
            &End {
                ns: &v.gateway,
                dev: &gb,
                address: "10.10.2.1/24",
                mac: Some("02:00:0a:0a:02:01"),
            },
        );
        v.ivi.ip(&["route", "add", "default", "via", "10.10.1.1"]);
        v.body.ip(&["route", "add", "default", "via", "10.10.2.1"]);
        // The gateway's other zones and the V-SOC, which this test does not wire: local
        // addresses, so that the gateway and the V-SOC can listen.
        for address in [
            "10.10.3.1/32",
            "10.10.4.1/32",
            "10.10.9.1/32",
            "10.20.0.10/32",
        ] {
            v.gateway.ip(&["addr", "add", address, "dev", "lo"]);
        }
        let forward = v
            .gateway
            .command("sysctl")
            .args(["-qw", "net.ipv4.ip_forward=1"])
            .status()
            .expect("sysctl runs");
        assert!(forward.success(), "IP forwarding on the gateway");
        v
    }
}

/// `vsiem ARGS` in `ns`, for the vehicle of `topology` in container addressing, with the run's
/// PKI (the ECUs and VIN of `topology` are the reference vehicle's).
fn vsiem_in(ns: &Netns, topology: &str, args: &[&str]) -> Command {
    let mut command = ns.command(env!("CARGO_BIN_EXE_vsiem"));
    command
        .args(args)
        .args(["--addressing", "container", "--topology", topology])
        .env("RUST_LOG", "warn")
        .env("VSIEM_PKI", common::bus::pki_dir());
    command
}

/// `vsiem ARGS` started in `ns`, killed when dropped.
fn start(ns: &Netns, topology: &str, args: &[&str]) -> Running {
    Running(
        vsiem_in(ns, topology, args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("vsiem starts"),
    )
}

/// `vsiem sensor ARGS` started in `ns`, once its agent says it is watching (every detector
/// started: the capture is open). Its token cannot say so here: the gateway process holds one
/// on the same key, `alive/gateway`, so the monitor's "gateway up" may be the gateway's alone.
/// The agent's log goes on to the test's stderr.
fn start_watching(ns: &Netns, topology: &str, args: &[&str]) -> Running {
    let mut child = vsiem_in(ns, topology, args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vsiem starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if line.contains("Sensor agent watching.") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("`vsiem {}` not watching within {WAIT:?}", args.join(" ")));
    Running(child)
}

/// The attacker on the IVI: Unlock and Disarm to the body controller every 100 ms.
fn attack(ivi: &Netns) -> Running {
    let code = format!(
        "import socket, struct, time\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.bind(('{IVI}', 40000))\n\
         session = 1\n\
         while True:\n\
         \x20 for service, port in ((0x1101, 30501), (0x1102, 30502)):\n\
         \x20   request = struct.pack('>HHIHHBBBB', service, 0x0002, 8, 0x0003, session, 1, 1, 0, 0)\n\
         \x20   try: s.sendto(request, ('{BODY}', port))\n\
         \x20   except OSError: pass\n\
         \x20 session += 1\n\
         \x20 time.sleep(0.1)\n"
    );
    Running(ivi.python(&code))
}

/// Every line that arrives within `d`.
fn drain(rx: &mpsc::Receiver<Value>, d: Duration) -> Vec<Value> {
    let deadline = Instant::now() + d;
    let mut lines = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    lines
}

fn is_wire_request(l: &Value, service: &str) -> bool {
    l["kind"] == "event"
        && l["type"] == "someip.unauthorized_client"
        && l["ecu"] == "gateway"
        && l["sensor"] == "net"
        && l["origin"] == "ivi"
        && l["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&format!("service {service} method 0x0002 client 0x0003")))
}

#[test]
fn the_ivi_unlock_is_seen_on_the_wire_and_its_packets_stop() {
    if !netns::prerequisites_met(&["ip", "nft", "python3", "sysctl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let topology = topology(dir.path());
    let vehicle = Vehicle::new();
    assert!(
        netns::udp_reaches(&vehicle.ivi, &vehicle.body, BODY, 30599),
        "the gateway does not route between the zones"
    );
    let ivi_root = dir.path().join("ivi");
    let system = ivi_root.join("opt/ivi/system/bin");
    std::fs::create_dir_all(&system).unwrap();
    std::fs::create_dir_all(ivi_root.join("opt/ivi/apps")).unwrap();
    std::fs::write(system.join("ivi-media"), "ivi-media 4.2.0\n").unwrap();

    let store = dir.path().join("vsoc.jsonl");
    let (store, fs_root) = (store.to_string_lossy(), ivi_root.to_string_lossy());
    let (gw, t) = (&vehicle.gateway, topology.as_str());
    let _vsoc = start(gw, t, &["vsoc", "--store", &store]);
    let _gateway = start(gw, t, &["gateway"]);
    let (_monitor, rx) = common::follow(vsiem_in(gw, t, &["monitor", "--json"]));
    let capture = ["sensor", "--ecu", "gateway", "--capture", &vehicle.capture];
    let _net = start_watching(gw, t, &capture);
    let _body = start(
        &vehicle.body,
        t,
        &["sensor", "--ecu", "body-dc", "--simulate"],
    );
    let ivi = [
        "sensor",
        "--ecu",
        "ivi",
        "--nftables",
        "--fs-root",
        &fs_root,
    ];
    let _ivi = start(&vehicle.ivi, t, &ivi);
    wait_up(&rx, WAIT, &["ivi", "body-dc", "gateway"]);

    let attacker = attack(&vehicle.ivi);
    // Both requests reported from the wire, and the IVI's drop-egress orders (one for TCP, one
    // for UDP) acknowledged as applied.
    let mut seen: Vec<Value> = Vec::new();
    let deadline = Instant::now() + WAIT;
    let blocked_ns = loop {
        let orders: Vec<&Value> = seen
            .iter()
            .filter(|l| {
                l["kind"] == "order"
                    && l["target"] == "ivi"
                    && l["action"]
                        .as_str()
                        .is_some_and(|a| a.contains("drop flow"))
            })
            .collect();
        let acks: Vec<&Value> = orders
            .iter()
            .filter_map(|o| {
                seen.iter()
                    .find(|l| l["kind"] == "ack" && l["order"] == o["id"] && l["ecu"] == "ivi")
            })
            .collect();
        let reported = ["0x1101", "0x1102"]
            .iter()
            .all(|s| seen.iter().any(|l| is_wire_request(l, s)));
        if reported && orders.len() == 2 && acks.len() == 2 {
            assert!(
                acks.iter().all(|a| a["status"] == "applied"),
                "the ivi did not apply its orders: {acks:#?}"
            );
            break acks
                .iter()
                .filter_map(|a| a["ts_ns"].as_u64())
                .max()
                .unwrap_or(0);
        }
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| {
                panic!("the attack was not reported and blocked in time; saw {seen:#?}")
            });
        if let Ok(line) = rx.recv_timeout(left) {
            seen.push(line);
        }
    };

    // The IVI's packets stop: a probe no longer reaches the body zone, and after the
    // packets in flight the network sensor sees no more requests.
    assert!(
        !netns::udp_reaches(&vehicle.ivi, &vehicle.body, BODY, 30599),
        "the IVI's datagrams still reach the body controller"
    );
    let after = drain(&rx, Duration::from_secs(2));
    let late: Vec<&Value> = after
        .iter()
        .filter(|l| {
            (is_wire_request(l, "0x1101") || is_wire_request(l, "0x1102"))
                && l["ts_ns"].as_u64().unwrap_or(0) > blocked_ns + 500_000_000
        })
        .collect();
    assert!(
        late.is_empty(),
        "requests still on the wire after the block: {late:#?}"
    );
    drop(attacker);

    // The IVI's own sensors still reach the gateway: the backbone port stayed open.
    std::fs::write(system.join("ivi-media"), "implant\n").unwrap();
    wait_for(&rx, WAIT, "the ivi's report of the tampered file", |l| {
        l["kind"] == "event" && l["type"] == "host.file_tampered" && l["ecu"] == "ivi"
    });
}
