//! Scenario: `vsiem replay --json` over captures of the reference vehicle made by an independent
//! tool, Scapy (tests/scapy/captures.py, run here into a temporary directory): every detection
//! of the network sensor fires on its own attack capture, with its type, origin, flow and
//! context, as often as expected and with nothing else; the capture of the vehicle's normal
//! traffic (seen on the gateway's 802.1Q trunks, routed packets on both legs) yields no event.
//!
//! Needs python3 with scapy 2.6.1 (`pip install scapy==2.6.1`): without it the test fails
//! saying so.

mod common;
#[path = "scapy/run.rs"]
mod scapy;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

/// One expected event: its type, origin, source and destination ("ip:port"; a destination
/// ending in ":*" matches any port), a part of its detail, and how many times it occurs.
type Want = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    usize,
);

fn expectations() -> Vec<(&'static str, Vec<Want>)> {
    let ivi_to_body = "10.10.1.3:40000";
    vec![
        (
            "unknown_host",
            vec![(
                "net.unknown_host",
                "",
                "10.10.2.77:0",
                "10.10.2.2:0",
                "on VLAN 20",
                1,
            )],
        ),
        (
            "arp_spoof",
            vec![(
                "net.arp_spoof",
                "",
                "10.10.1.1 is-at 02:00:0a:0a:01:03",
                "",
                "",
                1,
            )],
        ),
        (
            "vlan_violation",
            vec![(
                "net.vlan_violation",
                "ivi",
                ivi_to_body,
                "10.10.2.2:30501",
                "on VLAN 20",
                1,
            )],
        ),
        (
            "flow_not_allowed",
            vec![(
                "net.flow_not_allowed",
                "ivi",
                "10.10.1.3:40000",
                "10.10.1.2:23",
                "Tcp",
                1,
            )],
        ),
        (
            "port_scan",
            vec![
                (
                    "net.port_scan",
                    "ivi",
                    ivi_to_body,
                    "10.10.2.2:16",
                    "Tcp",
                    1,
                ),
                (
                    "net.flow_not_allowed",
                    "ivi",
                    ivi_to_body,
                    "10.10.2.2:*",
                    "Tcp",
                    20,
                ),
            ],
        ),
        (
            "flood",
            vec![(
                "net.flood",
                "tcu",
                "10.10.1.2:40000",
                "10.10.2.2:30501",
                "Udp",
                1,
            )],
        ),
        (
            "someip_unauthorized_client",
            vec![
                (
                    "someip.unauthorized_client",
                    "ivi",
                    ivi_to_body,
                    "10.10.2.2:30501",
                    "service 0x1101 method 0x0002 client 0x0003",
                    1,
                ),
                (
                    "someip.unauthorized_client",
                    "ivi",
                    ivi_to_body,
                    "10.10.2.2:30502",
                    "service 0x1102 method 0x0002 client 0x0003",
                    1,
                ),
            ],
        ),
        (
            "someip_unknown_service",
            vec![(
                "someip.unknown_service",
                "ivi",
                ivi_to_body,
                "10.10.2.2:30501",
                "service 0x4242 method 0x0001 client 0x0003",
                1,
            )],
        ),
        (
            "someip_unknown_method",
            vec![(
                "someip.unknown_method",
                "ivi",
                ivi_to_body,
                "10.10.2.2:30501",
                "service 0x1101 method 0x0009 client 0x0003",
                1,
            )],
        ),
        (
            "someip_malformed",
            vec![(
                "someip.malformed",
                "ivi",
                ivi_to_body,
                "10.10.2.2:30501",
                "Udp",
                2,
            )],
        ),
        (
            "someip_sd_offer_spoof",
            vec![(
                "someip_sd.offer_spoof",
                "ivi",
                "10.10.1.3:30490",
                "224.224.224.245:30490",
                "Udp",
                1,
            )],
        ),
        (
            "someip_sd_find_scan",
            vec![(
                "someip_sd.find_scan",
                "ivi",
                "10.10.1.3:30490",
                "224.224.224.245:30490",
                "Udp",
                2,
            )],
        ),
        (
            "doip_routing_activation_unauthorized",
            vec![(
                "doip.routing_activation_unauthorized",
                "",
                "10.10.9.100:50000",
                "10.10.9.1:13400",
                "on VLAN 90",
                1,
            )],
        ),
        (
            "doip_malformed",
            vec![(
                "doip.malformed",
                "",
                "10.10.9.100:50000",
                "10.10.9.1:13400",
                "Udp",
                1,
            )],
        ),
        (
            "uds_security_access_bruteforce",
            vec![(
                "uds.security_access_bruteforce",
                "",
                "10.10.9.100:50000",
                "10.10.9.1:13400",
                "Tcp",
                1,
            )],
        ),
        (
            "uds_dangerous_service_while_moving",
            vec![(
                "uds.dangerous_service_while_moving",
                "",
                "10.10.9.100:50000",
                "10.10.9.1:13400",
                "Tcp",
                1,
            )],
        ),
        (
            "ioc_dns",
            vec![(
                "ioc.dns",
                "ivi",
                "10.10.1.3:53000",
                "10.10.1.2:53",
                "Udp",
                1,
            )],
        ),
        (
            "ioc_tls_sni",
            vec![(
                "ioc.tls_sni",
                "ivi",
                "10.10.1.3:40443",
                "93.184.216.34:443",
                "Tcp",
                1,
            )],
        ),
        (
            "ioc_ip",
            vec![(
                "ioc.ip",
                "ivi",
                "10.10.1.3:40444",
                "203.0.113.66:443",
                "Tcp",
                1,
            )],
        ),
        ("benign", vec![]),
    ]
}

fn matches(want: &Want, event: &Value) -> bool {
    let (kind, origin, src, dst, detail, _) = *want;
    let dst_ok = match dst.strip_suffix('*') {
        Some(prefix) => event["dst"].as_str().is_some_and(|d| d.starts_with(prefix)),
        None => event["dst"] == dst,
    };
    event["type"] == kind
        && event["origin"] == origin
        && event["src"] == src
        && dst_ok
        && event["detail"].as_str().is_some_and(|d| d.contains(detail))
}

#[test]
fn every_detection_fires_on_its_scapy_capture_and_normal_traffic_is_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let written = scapy::captures(dir.path());
    let table = expectations();
    let named: BTreeSet<&str> = table.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        written
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<BTreeSet<_>>(),
        named,
        "the script's scenarios and this test's table differ"
    );
    let topology = Path::new(env!("CARGO_MANIFEST_DIR")).join("topology/reference.toml");
    let topology = topology.to_string_lossy();
    for (name, wants) in table {
        let capture = dir.path().join(format!("{name}.pcap"));
        let lines: Vec<Value> = common::replay(&["--topology", &topology], &capture)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        let summary = common::summary(&lines);
        assert_eq!(
            (
                summary["undecodable"].as_u64(),
                summary["unsupported_link"].as_u64()
            ),
            (Some(0), Some(0)),
            "{name}: {summary}"
        );
        let events = common::of_kind(&lines, "event");
        let shown = || {
            events
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        };
        for want in &wants {
            let found = events.iter().filter(|e| matches(want, e)).count();
            assert_eq!(found, want.5, "{name}: {want:?} in\n{}", shown());
        }
        let expected: usize = wants.iter().map(|w| w.5).sum();
        assert_eq!(
            events.len(),
            expected,
            "{name}: other events in\n{}",
            shown()
        );
    }
}
