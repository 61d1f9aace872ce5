//! Stage 2 as a whole: every problem of a topology, each with its path.

use crate::{Topology, TopologyError, REFERENCE_INTEL, REFERENCE_TOML};

/// Every problem `text` has, given `intel` as its STIX bundle.
fn problems(text: &str, intel: &str) -> Vec<(String, String)> {
    match Topology::from_toml(text, &|_| Ok(intel.to_owned())) {
        Err(TopologyError::Invalid(problems)) => problems
            .into_iter()
            .map(|problem| (problem.path, problem.message))
            .collect(),
        other => panic!("expected validation problems, got {other:?}"),
    }
}

const BROKEN: &str = r#"
[vehicle]
vin = "5VS1M00REF000000I"
name = "broken"

[someip]
protocol_version = 1
interface_version = 1
sd_port = 30490
sd_multicast = "10.0.0.1"

[[zones]]
name = "body"
vlan = 20
subnet = "10.10.2.0/24"

[[zones]]
name = "chassis"
vlan = 20
subnet = "10.10.3.0/16"

[[zones]]
name = "cellular"
subnet = "10.20.0.0/24"
external = true

[[ecus]]
name = "gateway"
role = "gateway"
client_id = 1
interfaces = [{ zone = "body", host = 1 }]

[[ecus]]
name = "body-dc"
role = "domain-controller"
client_id = 1
sensors = ["files", "someip", "someip"]
interfaces = [{ zone = "body", host = 1 }]

[[ecus]]
name = "ivi"
role = "ivi"
interfaces = [{ zone = "bodyy", host = 3 }]
[ecus.host]
watch = ["opt/ivi"]
read_only = ["/opt/ivi/system"]

[vsoc]
zone = "cellular"
host = 10

[[services]]
id = 0x1101
name = "DoorLock"
provider = "body-dc"
transport = "udp"
port = 30501
[[services.methods]]
id = 0x0001
name = "Lock"
clients = ["ivi"]
safety_critical = false
[[services.methods]]
id = 0x0002
name = "Unlock"
clients = ["ivii"]
safety_critical = true
[[services.events]]
id = 0x0003
name = "LockState"
subscribers = ["gateway"]

[[services]]
id = 0x1101
name = "Climate"
provider = "bcm"
transport = "udp"
port = 30503

[[flows]]
from = "ivi"
to = "outside"
proto = "tcp"
ports = [443]

[diagnostics]
port = 13400
testers = ["tester"]
require_stationary = true
dangerous_services = [0x27]

[threat_intel]
stix = "intel.json"
benign_domains = ["www.c2.evil.example"]

[response]
order_ttl_ms = 300000
ack_timeout_ms = 500
max_retries = 5
block_while_moving = false
close_after_ms = 0

[[response.policies]]
rules = []
actions = ["drop-egress", "drop-egress"]

[qualification]
rate_limit = { events = 0, interval_ms = 1000 }
traffic_limit = { bytes = 65536, interval_ms = 0 }

[qualification.default]
aggregate_ms = 0

[[qualification.types]]
event = "net.flod"
every_nth = 2

[[qualification.types]]
event = "sensor.silent"
threshold = { count = 0, window_ms = 1000 }

[[qualification.ecus]]
ecu = "bcm"

[[qualification.ecus.types]]
event = "net.flood"
every_nth = 0

[[qualification.ecus.types]]
event = "net.flood"
aggregate_ms = 500
"#;

const BROKEN_INTEL: &str = r#"{"type": "bundle", "id": "bundle--1", "objects": [
    {"type": "indicator", "pattern_type": "stix", "pattern": "[domain-name:value = 'c2.evil.example']"},
    {"type": "indicator", "pattern_type": "stix", "pattern": "[url:value = 'http://c2.evil.example/']"}
]}"#;

#[test]
fn every_problem_is_reported_with_its_path() {
    let found = problems(BROKEN, BROKEN_INTEL);
    let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "vehicle.vin",
            "someip.sd_multicast",
            "zones[1].subnet",
            "zones[1].vlan",
            "ecus[0].interfaces",
            "ecus[1].client_id",
            "ecus[1].sensors[0]",
            "ecus[1].sensors[2]",
            "ecus[1].interfaces[0]",
            "ecus[2].interfaces[0]",
            "ecus[2].host.watch[0]",
            "ecus[2].host.read_only[0]",
            "services[0].methods[0].clients[0]",
            "services[0].methods[1].clients[0]",
            "services[0].events[0].id",
            "services[1].id",
            "services[1].provider",
            "flows[0].via",
            "diagnostics.testers[0]",
            "threat_intel.stix",
            "threat_intel.benign_domains[0]",
            "response.close_after_ms",
            "response.policies[0].rules",
            "response.policies[0].actions[1]",
            "qualification.rate_limit.events",
            "qualification.traffic_limit.interval_ms",
            "qualification.default.aggregate_ms",
            "qualification.types[0].event",
            "qualification.types[1].threshold.count",
            "qualification.types[1].event",
            "qualification.ecus[0].ecu",
            "qualification.ecus[0].types[0].every_nth",
            "qualification.ecus[0].types[1]",
        ],
        "{found:#?}"
    );
    let messages: Vec<String> = found
        .iter()
        .map(|(path, message)| format!("{path}: {message}"))
        .collect();
    for expected in [
        "zones[1].subnet: must be a /24, not /16",
        "zones[1].vlan: VLAN 20 is already zone \"body\"'s",
        "ecus[0].interfaces: the gateway has no interface in zone \"chassis\"",
        "ecus[1].interfaces[0]: host 1 in zone \"body\" is already gateway's",
        "ecus[2].interfaces[0]: zone \"bodyy\" is not declared",
        "services[0].methods[1].clients[0]: \"ivii\" is not an ECU",
        "services[1].provider: \"bcm\" is not an ECU",
        "qualification.types[0].event: \"net.flod\" is not an event type of the catalog (schemas/EVENTS.md)",
        "qualification.types[1].event: \"sensor.silent\" is a health event: the SIEM's reports about itself are never filtered",
        "qualification.ecus[0].ecu: \"bcm\" is not an ECU",
        "qualification.ecus[0].types[1]: \"net.flood\" is listed twice",
    ] {
        assert!(
            messages.iter().any(|m| m == expected),
            "{expected}\n{messages:#?}"
        );
    }
}

#[test]
fn invalid_displays_one_problem_per_line() {
    let error = Topology::from_toml(BROKEN, &|_| Ok(BROKEN_INTEL.to_owned())).unwrap_err();
    let text = error.to_string();
    assert_eq!(text.lines().count(), 33, "{text}");
    assert!(
        text.starts_with("vehicle.vin: \"5VS1M00REF000000I\" is not a VIN"),
        "{text}"
    );
}

/// Each case breaks the reference in one place: (replace, with, expected path, message excerpt).
#[rustfmt::skip] // one fault per line reads as a table
const SINGLE_FAULTS: &[(&str, &str, &str, &str)] = &[
    ("name = \"body\"\n", "name = \"Body Zone\"\n", "zones[1].name", "is not a name"),
    ("name = \"chassis\"\n", "name = \"body\"\n", "zones[2].name", "already declared"),
    ("subnet = \"10.10.2.0/24\"", "subnet = \"10.10.2.7/24\"", "zones[1].subnet", "host bits"),
    ("subnet = \"10.10.2.0/24\"", "subnet = \"10.10\"", "zones[1].subnet", "not an IPv4 subnet"),
    ("subnet = \"10.10.2.0/24\"", "subnet = \"10.30.1.0/24\"", "zones[1].subnet", "127.0.1.H would collide"),
    ("vlan = 40\n", "", "zones[3].vlan", "needs a VLAN"),
    ("vlan = 40\n", "vlan = 4095\n", "zones[3].vlan", "outside 1..=4094"),
    ("external = true ", "vlan = 99\nexternal = true ", "zones[5].vlan", "no VLAN"),
    ("name = \"adas-dc\"", "name = \"outside\"", "ecus[6].name", "reserved"),
    ("name = \"adas-dc\"", "name = \"tester\"", "testers[0].name", "already the name of ecus[6]"),
    ("role = \"ivi\"", "role = \"gateway\"", "ecus", "found 2 (gateway, ivi)"),
    ("role = \"gateway\"", "role = \"tcu\"", "ecus", "no ECU has role \"gateway\""),
    ("{ zone = \"adas\", host = 1 },\n", "", "ecus[0].interfaces", "no interface in zone \"adas\""),
    ("client_id = 0x0031", "client_id = 0x0030", "ecus[5].client_id", "already powertrain-dc's"),
    ("doip_address = 0x0E00", "doip_address = 0x1003", "testers[0].doip_address", "already chassis-dc's"),
    ("sensors = [\"files\", \"processes\"]", "sensors = [\"files\", \"processes\", \"net\", \"files\"]", "ecus[2].sensors[3]", "listed twice"),
    ("processes = [\"tcu-modem\", \"tcu-remote\", \"tcu-ota\"]", "", "ecus[1].sensors[1]", "needs host.processes"),
    ("zone = \"adas\", host = 2", "zone = \"adas\", host = 0", "ecus[6].interfaces[0]", "not a host number"),
    ("{ zone = \"cellular\", host = 2 }", "{ zone = \"infotainment\", host = 9 }", "ecus[1].interfaces[1]", "second interface in zone"),
    ("host = 100 ", "host = 255 ", "testers[0].host", "not a host number"),
    ("zone = \"cellular\"\nhost = 10", "zone = \"space\"\nhost = 10", "vsoc.zone", "not declared"),
    ("host = 10 ", "host = 2 ", "vsoc.host", "already tcu's"),
    ("port = 30502", "port = 30501", "services[1].port", "udp port 30501 of body-dc is already DoorLock's"),
    ("id = 0x0002\nname = \"Unlock\"", "id = 0x8002\nname = \"Unlock\"", "services[0].methods[1].id", "below 0x8000"),
    ("id = 0x8002\nname = \"Pedals\"", "id = 0x8001\nname = \"Pedals\"", "services[3].events[1].id", "already Speed's"),
    ("clients = [\"tcu\", \"adas-dc\"]", "clients = [\"tcu\", \"tcu\"]", "services[4].methods[1].clients[1]", "listed twice"),
    ("cycle_ms = 10", "cycle_ms = 0", "services[3].events[0].cycle_ms", "greater than 0"),
    ("from = \"tcu\"\nto = \"vsoc\"", "from = \"tcu\"\nto = \"tcu\"", "flows[3]", "both \"tcu\""),
    ("from = \"tcu\"\nto = \"vsoc\"", "from = \"tcu\"\nto = \"soc\"", "flows[3].to", "neither an ECU"),
    ("to = \"outside\"\nvia = \"tcu\"", "to = \"outside\"\nvia = \"gateway\"", "flows[2].via", "\"gateway\" has no interface on an external zone"),
    ("to = \"outside\"\nvia = \"tcu\"", "to = \"outside\"\nvia = \"\"", "flows[2].via", "\"ivi\" has no interface on an external zone"),
    ("to = \"vsoc\"\nproto = \"tcp\"\nports = [7447]", "to = \"vsoc\"\nproto = \"tcp\"\nports = []", "flows[3].ports", "at least one port"),
    ("testers = [\"tester\"] ", "testers = [\"ivi\"] ", "diagnostics.testers[0]", "not a tester"),
    ("[0x27, 0x11, 0x31", "[0x27, 0x11, 0x27", "diagnostics.dangerous_services[2]", "0x27 is listed twice"),
    ("stix = \"reference-intel.json\"", "stix = \"missing.json\"", "threat_intel.stix", "cannot read \"missing.json\""),
    ("\"maps.vendor.example\",", "\"maps..example\",", "threat_intel.benign_domains[0]", "not a domain name"),
    ("order_ttl_ms = 300000", "order_ttl_ms = 0", "response.order_ttl_ms", "greater than 0"),
    ("ack_timeout_ms = 500", "ack_timeout_ms = 0", "response.ack_timeout_ms", "greater than 0"),
    ("events_per_sensor_per_second = 1000", "events_per_sensor_per_second = 0", "limits.events_per_sensor_per_second", "outside 1..="),
    ("ingest_queue_per_sensor = 1024", "ingest_queue_per_sensor = 100000", "limits.ingest_queue_per_sensor", "outside 1..=65536"),
    ("event_max_age_ms = 30000", "event_max_age_ms = 0", "limits.event_max_age_ms", "outside 1..="),
    ("uplink_queue_events = 16384", "uplink_queue_events = 8", "limits.uplink_queue_events", "outside 16..="),
    ("escalation_queue_incidents = 4096", "escalation_queue_incidents = 0", "limits.escalation_queue_incidents", "outside 1..="),
    ("frame_max_bytes = 1526", "frame_max_bytes = 63", "limits.frame_max_bytes", "outside 64..=65557"),
    ("someip_max_message_bytes = 65536", "someip_max_message_bytes = 16", "limits.someip_max_message_bytes", "outside 28..="),
    ("tcp_max_flows = 4096", "tcp_max_flows = 0", "limits.tcp_max_flows", "outside 1..="),
    ("tcp_pending_bytes_per_flow = 65536", "tcp_pending_bytes_per_flow = 99999999", "limits.tcp_pending_bytes_per_flow", "outside 8..=16777216"),
    ("tcp_idle_timeout_ms = 120000", "tcp_idle_timeout_ms = 10", "limits.tcp_idle_timeout_ms", "outside 1000..="),
    ("flatbuffers_max_bytes = 65536", "flatbuffers_max_bytes = 100", "limits.flatbuffers_max_bytes", "outside 4096..="),
    ("flatbuffers_max_depth = 16", "flatbuffers_max_depth = 2", "limits.flatbuffers_max_depth", "outside 8..=64"),
    ("flatbuffers_max_tables = 1024", "flatbuffers_max_tables = 0", "limits.flatbuffers_max_tables", "outside 64..="),
    ("events = 100, interval_ms = 1000", "events = 100, interval_ms = 0", "qualification.rate_limit.interval_ms", "greater than 0"),
    ("bytes = 65536,", "bytes = 0,", "qualification.traffic_limit.bytes", "greater than 0"),
    ("[qualification.default]\n", "[qualification.default]\nevery_nth = 0\n", "qualification.default.every_nth", "greater than 0"),
    ("[qualification.default]\n", "[qualification.default]\nthreshold = { count = 3, window_ms = 0 }\n", "qualification.default.threshold.window_ms", "greater than 0"),
    ("event = \"net.port_scan\"", "event = \"net.portscan\"", "qualification.types[1].event", "not an event type of the catalog"),
    ("event = \"doip.malformed\"", "event = \"net.flood\"", "qualification.types[2]", "\"net.flood\" is listed twice"),
    ("event = \"someip.malformed\"", "event = \"sensor.traffic_limit_exceeded\"", "qualification.types[3].event", "is a health event"),
    ("aggregate_ms = 200\n\n# Requests", "aggregate_ms = 0\n\n# Requests", "qualification.types[3].aggregate_ms", "greater than 0"),
    ("ecu = \"gateway\"", "ecu = \"gw\"", "qualification.ecus[0].ecu", "\"gw\" is not an ECU"),
    ("events = 400,", "events = 0,", "qualification.ecus[0].rate_limit.events", "greater than 0"),
];

#[test]
fn single_faults_in_the_reference() {
    for &(replace, with, path, excerpt) in SINGLE_FAULTS {
        assert_eq!(
            REFERENCE_TOML.matches(replace).count(),
            1,
            "not unique: {replace:?}"
        );
        let text = REFERENCE_TOML.replacen(replace, with, 1);
        let intel = |stix: &str| {
            if stix == "reference-intel.json" {
                Ok(REFERENCE_INTEL.to_owned())
            } else {
                Err(std::io::Error::from(std::io::ErrorKind::NotFound))
            }
        };
        let found = match Topology::from_toml(&text, &intel) {
            Err(TopologyError::Invalid(problems)) => problems,
            other => panic!("{replace:?} -> {with:?}: expected problems, got {other:?}"),
        };
        assert!(
            found
                .iter()
                .any(|p| p.path == path && p.message.contains(excerpt)),
            "{replace:?} -> {with:?}: expected {path}: ...{excerpt}..., got {found:#?}"
        );
    }
}
