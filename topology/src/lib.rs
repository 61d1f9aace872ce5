//! The vehicle model of vsiem: topology files, their two-stage validation, and what derives from
//! them (addresses, lookups, threat intelligence).
//!
//! A topology file is read in two stages: serde checks its shape and refuses unknown fields
//! (`raw`), then `validate` checks the vehicle as a whole and reports every problem at once. The
//! documented default is `reference.toml`, the reference vehicle of the project's contract,
//! embedded here and parsed by a unit test so that it cannot rot.

mod address;
pub mod compose;
mod error;
mod intel;
mod matrix;
mod model;
pub mod pki;
mod raw;
mod validate;

use std::fs;
use std::io;
use std::path::Path;

pub use address::{mac_address, owner_of_mac, AddressMode};
pub use error::{Problem, TopologyError};
pub use matrix::Peer;
pub use model::*;

/// The reference vehicle's topology, as shipped in `topology/reference.toml`.
pub const REFERENCE_TOML: &str = include_str!("../reference.toml");
/// The STIX 2.1 bundle `REFERENCE_TOML` names in `threat_intel.stix`.
pub const REFERENCE_INTEL: &str = include_str!("../reference-intel.json");

/// How `REFERENCE_TOML` names `REFERENCE_INTEL`.
const REFERENCE_INTEL_FILE: &str = "reference-intel.json";

impl Topology {
    /// Reads and validates a topology file and the STIX bundle it names (relative to the file).
    pub fn load(path: &Path) -> Result<Topology, TopologyError> {
        let text = fs::read_to_string(path).map_err(|source| TopologyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let directory = path.parent().unwrap_or(Path::new("."));
        parse(path, &text, &|stix| {
            fs::read_to_string(directory.join(stix))
        })
    }

    /// The embedded reference vehicle.
    pub fn reference() -> Topology {
        let embedded = |stix: &str| {
            if stix == REFERENCE_INTEL_FILE {
                Ok(REFERENCE_INTEL.to_owned())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("only {REFERENCE_INTEL_FILE} is embedded"),
                ))
            }
        };
        parse(Path::new("reference.toml"), REFERENCE_TOML, &embedded)
            .expect("the embedded reference topology is valid (unit-tested)")
    }

    /// Validates topology text; `intel` reads the STIX bundle given the path as written in
    /// `threat_intel.stix`. Syntax errors name the file `<toml>`.
    pub fn from_toml(
        text: &str,
        intel: &dyn Fn(&str) -> Result<String, io::Error>,
    ) -> Result<Topology, TopologyError> {
        parse(Path::new("<toml>"), text, intel)
    }
}

fn parse(
    origin: &Path,
    text: &str,
    intel: validate::IntelReader,
) -> Result<Topology, TopologyError> {
    let raw = toml::from_str(text).map_err(|error: toml::de::Error| TopologyError::Syntax {
        path: origin.to_owned(),
        message: error.to_string().trim_end().to_owned(),
    })?;
    validate::validate(raw, intel).map_err(TopologyError::Invalid)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    #[test]
    fn reference_matches_the_contract() {
        let topology = Topology::reference();
        assert_eq!(topology.vin(), "5VS1M00REF0000001");
        assert_eq!(topology.gateway().name, "gateway");
        assert_eq!(topology.someip.sd_port, 30490);
        assert_eq!(
            topology.someip.sd_multicast,
            Ipv4Addr::new(224, 224, 224, 245)
        );

        let zones: Vec<(&str, Option<u16>, Ipv4Addr, bool)> = topology
            .zones
            .iter()
            .map(|zone| (zone.name.as_str(), zone.vlan, zone.subnet, zone.external))
            .collect();
        assert_eq!(
            zones,
            [
                ("infotainment", Some(10), Ipv4Addr::new(10, 10, 1, 0), false),
                ("body", Some(20), Ipv4Addr::new(10, 10, 2, 0), false),
                ("chassis", Some(30), Ipv4Addr::new(10, 10, 3, 0), false),
                ("adas", Some(40), Ipv4Addr::new(10, 10, 4, 0), false),
                ("diagnostics", Some(90), Ipv4Addr::new(10, 10, 9, 0), false),
                ("cellular", None, Ipv4Addr::new(10, 20, 0, 0), true),
            ]
        );

        let ids = [
            ("gateway", 0x0001, Some(0x1000)),
            ("tcu", 0x0002, None),
            ("ivi", 0x0003, None),
            ("body-dc", 0x0020, Some(0x1002)),
            ("powertrain-dc", 0x0030, Some(0x1001)),
            ("chassis-dc", 0x0031, Some(0x1003)),
            ("adas-dc", 0x0040, None),
        ];
        assert_eq!(topology.ecus.len(), ids.len());
        for (name, client_id, doip) in ids {
            let ecu = topology.ecu_by_client_id(client_id).expect(name);
            assert_eq!((ecu.name.as_str(), ecu.doip_address), (name, doip));
        }

        let ivi = topology.ecu("ivi").unwrap();
        let ivi_address = topology.ecu_address("ivi", AddressMode::Container).unwrap();
        assert_eq!(
            mac_address(ivi_address),
            [0x02, 0x00, 0x0a, 0x0a, 0x01, 0x03]
        );
        let host = ivi.host.as_ref().unwrap();
        assert_eq!(host.read_only, ["/opt/ivi/system"]);
        assert_eq!(
            host.processes,
            ["ivi-hmi", "ivi-media", "ivi-nav", "ivi-update"]
        );
        let tcu_host = topology.ecu("tcu").unwrap().host.as_ref().unwrap();
        assert_eq!(tcu_host.processes, ["tcu-modem", "tcu-remote", "tcu-ota"]);

        assert_eq!(
            topology
                .services_provided_by("body-dc")
                .map(|service| service.id)
                .collect::<Vec<_>>(),
            [0x1101, 0x1102, 0x1201]
        );
        let door_lock = topology.service(0x1101).unwrap();
        let unlock = door_lock.method(0x0002).unwrap();
        assert_eq!(unlock.name, "Unlock");
        assert!(unlock.safety_critical);
        assert_eq!(unlock.clients, ["tcu"]);
        assert!(unlock.allows("tcu") && !unlock.allows("ivi"));
        assert_eq!(
            door_lock.event(0x8001).unwrap().subscribers,
            ["ivi", "tcu", "gateway"]
        );
        let disarm = topology.service(0x1102).unwrap().method(0x0002).unwrap();
        assert!(disarm.safety_critical && disarm.clients.is_empty());
        let speed = topology.service(0x2101).unwrap().event(0x8001).unwrap();
        assert_eq!(speed.cycle_ms, Some(10));
        assert_eq!(speed.payload, "uint16, 0.01 km/h per bit");
        let stop = topology.service(0x2201).unwrap().method(0x0002).unwrap();
        assert_eq!(stop.clients, ["tcu", "adas-dc"]);
        assert_eq!(topology.service(0x3101).unwrap().provider, "adas-dc");
        assert!(topology.service(0x9999).is_none());

        let tester = &topology.diagnostics.testers[0];
        assert_eq!(topology.tester(tester).unwrap().doip_address, 0x0E00);
        assert_eq!(
            topology.diagnostics.dangerous_services,
            [0x27, 0x11, 0x31, 0x34, 0x28]
        );
        assert!(topology.diagnostics.require_stationary);
    }

    #[test]
    fn reference_threat_intel() {
        let topology = Topology::reference();
        let domains = [
            ("c2.evil.example", true),
            ("sub.c2.evil.example", true),
            ("C2.EVIL.example.", true),
            ("update-cdn.evil.example", true),
            ("evil.example", false),
            ("notc2.evil.example", false),
            ("maps.vendor.example", false),
            ("media.vendor.example", false),
        ];
        for (name, expected) in domains {
            assert_eq!(topology.is_intel_domain(name), expected, "{name}");
        }
        let addresses = [
            ("203.0.113.66", true),
            ("203.0.113.99", true),
            ("::ffff:203.0.113.99", true),
            ("203.0.113.67", false),
            ("10.20.0.10", false),
        ];
        for (ip, expected) in addresses {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(topology.is_intel_address(ip), expected, "{ip}");
        }
        assert_eq!(
            topology.threat_intel.benign_domains,
            ["maps.vendor.example", "media.vendor.example"]
        );
    }

    #[test]
    fn reference_qualification_with_the_gateways_overrides() {
        use vsiem_schemas::catalog;
        let topology = Topology::reference();
        let body = topology.qualification.for_ecu("body-dc");
        assert_eq!(
            (body.rate_limit, body.traffic_limit),
            (
                RateLimit {
                    events: 100,
                    interval_ms: 1000
                },
                TrafficLimit {
                    bytes: 65536,
                    interval_ms: 1000
                }
            )
        );
        let aggregated =
            |q: &AgentQualification, kind: &catalog::EventType| q.filters(kind.id).aggregate_ms;
        assert_eq!(
            aggregated(&body, &catalog::SOMEIP_CLIENT_BLOCKED),
            Some(200)
        );
        assert_eq!(aggregated(&body, &catalog::NET_FLOOD), Some(1000));
        // The reference attack's detections pass unfiltered.
        for kind in [
            &catalog::SOMEIP_UNAUTHORIZED_CLIENT,
            &catalog::HOST_FILE_TAMPERED,
            &catalog::HOST_UNEXPECTED_PROCESS,
            &catalog::IOC_DNS,
        ] {
            assert_eq!(body.filters(kind.id), Filters::default(), "{}", kind.name);
        }
        let gateway = topology.qualification.for_ecu("gateway");
        assert_eq!(
            (gateway.rate_limit.events, gateway.traffic_limit.bytes),
            (400, 262144)
        );
        assert_eq!(aggregated(&gateway, &catalog::NET_FLOOD), Some(1000));

        // An ECU's entry for a type replaces the vehicle-wide one; other ECUs keep theirs.
        let text = format!(
            "{REFERENCE_TOML}\n[[qualification.ecus.types]]\nevent = \"net.flood\"\nevery_nth = 5\n"
        );
        let topology = Topology::from_toml(&text, &|_| Ok(REFERENCE_INTEL.to_owned())).unwrap();
        let gateway = topology.qualification.for_ecu("gateway");
        assert_eq!(
            gateway.filters(catalog::NET_FLOOD.id),
            Filters {
                every_nth: Some(5),
                ..Filters::default()
            }
        );
        let body = topology.qualification.for_ecu("body-dc");
        assert_eq!(aggregated(&body, &catalog::NET_FLOOD), Some(1000));
    }

    #[test]
    fn load_reads_the_stix_file_next_to_the_topology() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("vehicle.toml");
        let text = REFERENCE_TOML.replace(
            "stix = \"reference-intel.json\"",
            "stix = \"intel/bundle.json\"",
        );
        assert_ne!(text, REFERENCE_TOML);
        fs::write(&path, text).unwrap();
        fs::create_dir(directory.path().join("intel")).unwrap();
        let bundle = r#"{"type": "bundle", "id": "bundle--1", "objects": [
            {"type": "indicator", "spec_version": "2.1", "id": "indicator--1",
             "pattern_type": "stix", "pattern": "[ipv4-addr:value = '198.51.100.7']"}]}"#;
        fs::write(directory.path().join("intel/bundle.json"), bundle).unwrap();

        let topology = Topology::load(&path).unwrap();
        assert!(topology.is_intel_address("198.51.100.7".parse().unwrap()));
        assert!(!topology.is_intel_address("203.0.113.66".parse().unwrap()));
        assert!(topology.threat_intel.domains.is_empty());

        fs::remove_file(directory.path().join("intel/bundle.json")).unwrap();
        let Err(TopologyError::Invalid(problems)) = Topology::load(&path) else {
            panic!("a missing STIX file must be a validation problem");
        };
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "threat_intel.stix");
        assert!(problems[0].message.contains("intel/bundle.json"));
    }

    #[test]
    fn load_of_a_missing_file() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("absent.toml");
        let error = Topology::load(&path).unwrap_err();
        assert!(matches!(error, TopologyError::Read { .. }), "{error:?}");
        assert!(error.to_string().starts_with("cannot read "), "{error}");
    }

    #[test]
    fn unknown_field_is_refused_by_name() {
        let text = REFERENCE_TOML.replace("role = \"ivi\"", "role = \"ivi\"\ncolour = \"red\"");
        assert_ne!(text, REFERENCE_TOML);
        let error = Topology::from_toml(&text, &|_| Ok(REFERENCE_INTEL.to_owned())).unwrap_err();
        let TopologyError::Syntax { path, message } = &error else {
            panic!("expected a syntax error, got {error:?}");
        };
        assert_eq!(path, Path::new("<toml>"));
        assert!(message.contains("unknown field `colour`"), "{message}");
        assert!(message.contains("line "), "{message}");
        assert!(error.to_string().starts_with("<toml>: "), "{error}");
    }
}
