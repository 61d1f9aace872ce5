//! Zones and everything with an address on them: ECUs, testers and the V-SOC.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::Path;

use super::{check_name, Names, Problems};
use crate::model::{EcuRole, SensorKind, Zone, OUTSIDE, VSOC};
use crate::raw::{RawEcu, RawHostConfig, RawTopology, RawZone};

pub(super) fn build_zones(problems: &mut Problems, raw: &[RawZone]) -> Vec<Zone> {
    let mut names = HashSet::new();
    let mut indices: HashMap<u8, &str> = HashMap::new();
    let mut vlans: HashMap<u16, &str> = HashMap::new();
    let mut zones = Vec::new();
    for (index, zone) in raw.iter().enumerate() {
        let path = format!("zones[{index}]");
        check_name(problems, format!("{path}.name"), &zone.name);
        if !names.insert(zone.name.as_str()) {
            problems.add(
                format!("{path}.name"),
                format!("zone \"{}\" is already declared", zone.name),
            );
        }
        // A broken subnet still yields a zone, so that the other checks can go on; the problem
        // reported here keeps it from ever being used.
        let subnet = match parse_subnet(&zone.subnet) {
            Ok(subnet) => subnet,
            Err(message) => {
                problems.add(format!("{path}.subnet"), message);
                Ipv4Addr::UNSPECIFIED
            }
        };
        let [_, _, third, _] = subnet.octets();
        if !subnet.is_unspecified() {
            // The loopback demo only keeps the third octet (127.0.Z.H).
            if let Some(other) = indices.insert(third, &zone.name) {
                problems.add(
                    format!("{path}.subnet"),
                    format!(
                        "third octet {third} is already zone \"{other}\"'s: \
                         their loopback addresses 127.0.{third}.H would collide"
                    ),
                );
            }
        }
        match (zone.vlan, zone.external) {
            (None, false) => problems.add(
                format!("{path}.vlan"),
                "an in-vehicle zone needs a VLAN: its trunk to the gateway is 802.1Q tagged",
            ),
            (Some(_), true) => problems.add(
                format!("{path}.vlan"),
                "an external zone has no VLAN: it is not on a vehicle trunk",
            ),
            (Some(vlan), false) if !(1..=4094).contains(&vlan) => problems.add(
                format!("{path}.vlan"),
                format!("VLAN {vlan} is outside 1..=4094"),
            ),
            (Some(vlan), false) => {
                if let Some(other) = vlans.insert(vlan, &zone.name) {
                    problems.add(
                        format!("{path}.vlan"),
                        format!("VLAN {vlan} is already zone \"{other}\"'s"),
                    );
                }
            }
            (None, true) => {}
        }
        zones.push(Zone {
            name: zone.name.clone(),
            vlan: zone.vlan,
            subnet,
            index: third,
            external: zone.external,
        });
    }
    zones
}

/// "a.b.c.0/24" to its network address.
fn parse_subnet(text: &str) -> Result<Ipv4Addr, String> {
    let parsed = text.split_once('/').and_then(|(address, prefix)| {
        Some((
            address.parse::<Ipv4Addr>().ok()?,
            prefix.parse::<u8>().ok()?,
        ))
    });
    let Some((address, prefix)) = parsed.filter(|(_, prefix)| *prefix <= 32) else {
        return Err(format!(
            "\"{text}\" is not an IPv4 subnet such as \"10.10.1.0/24\""
        ));
    };
    if prefix != 24 {
        // Host addresses are derived as subnet + H with one octet for H (and 127.0.Z.H).
        return Err(format!("must be a /24, not /{prefix}"));
    }
    let [a, b, c, d] = address.octets();
    if d != 0 {
        return Err(format!(
            "{text} has host bits set: the network is {a}.{b}.{c}.0/24"
        ));
    }
    Ok(address)
}

/// Who already uses a name, a place on a zone or an address, to report the second user.
#[derive(Default)]
struct Registry<'a> {
    names: HashMap<&'a str, String>,
    places: HashMap<(&'a str, u8), &'a str>,
    client_ids: HashMap<u16, &'a str>,
    doip: HashMap<u16, &'a str>,
}

impl<'a> Registry<'a> {
    fn name(&mut self, problems: &mut Problems, path: &str, name: &'a str) {
        check_name(problems, format!("{path}.name"), name);
        if let Some(other) = self.names.insert(name, path.to_owned()) {
            problems.add(
                format!("{path}.name"),
                format!("\"{name}\" is already the name of {other}"),
            );
        }
    }

    /// `zone_path` and `host_path` differ for testers and the V-SOC, which have fields of their
    /// own, and are both the list element for an ECU interface.
    fn place(
        &mut self,
        problems: &mut Problems,
        names: &Names,
        (zone_path, host_path): (String, String),
        (zone, host): (&'a str, u8),
        owner: &'a str,
    ) {
        if !names.zones.contains_key(zone) {
            problems.add(zone_path, format!("zone \"{zone}\" is not declared"));
        }
        if !(1..=254).contains(&host) {
            // .0 is the network and .255 the broadcast address of the /24.
            problems.add(
                host_path,
                format!("host {host} is not a host number (1..=254)"),
            );
        } else if let Some(other) = self.places.insert((zone, host), owner) {
            problems.add(
                host_path,
                format!("host {host} in zone \"{zone}\" is already {other}'s"),
            );
        }
    }

    fn doip(&mut self, problems: &mut Problems, path: String, address: u16, owner: &'a str) {
        if let Some(other) = self.doip.insert(address, owner) {
            problems.add(
                path,
                format!("DoIP address {address:#06x} is already {other}'s"),
            );
        }
    }
}

/// ECUs, testers and the V-SOC: everything with an address.
pub(super) fn check_hosts(
    problems: &mut Problems,
    raw: &RawTopology,
    names: &Names,
    zones: &[Zone],
) {
    let mut registry = Registry::default();
    for (index, ecu) in raw.ecus.iter().enumerate() {
        let path = format!("ecus[{index}]");
        registry.name(problems, &path, &ecu.name);
        if [OUTSIDE, VSOC].contains(&ecu.name.as_str()) {
            problems.add(
                format!("{path}.name"),
                format!("\"{}\" is reserved for flow endpoints", ecu.name),
            );
        }
        if let Some(id) = ecu.client_id {
            if let Some(other) = registry.client_ids.insert(id, &ecu.name) {
                problems.add(
                    format!("{path}.client_id"),
                    format!("client id {id:#06x} is already {other}'s"),
                );
            }
        }
        if let Some(address) = ecu.doip_address {
            registry.doip(problems, format!("{path}.doip_address"), address, &ecu.name);
        }
        let no_host = RawHostConfig::default();
        let host = ecu.host.as_ref().unwrap_or(&no_host);
        check_sensors(problems, &path, &ecu.sensors, host);
        problems.duplicates(&format!("{path}.sensors"), &ecu.sensors, |kind| {
            format!("\"{}\"", kind.as_str())
        });
        if ecu.interfaces.is_empty() {
            problems.add(
                format!("{path}.interfaces"),
                "an ECU needs at least one interface",
            );
        }
        let mut own_zones = HashSet::new();
        for (at, interface) in ecu.interfaces.iter().enumerate() {
            let element = format!("{path}.interfaces[{at}]");
            registry.place(
                problems,
                names,
                (element.clone(), element.clone()),
                (&interface.zone, interface.host),
                &ecu.name,
            );
            if !own_zones.insert(interface.zone.as_str()) {
                problems.add(
                    element,
                    format!("second interface in zone \"{}\"", interface.zone),
                );
            }
        }
        if ecu.role == EcuRole::Gateway {
            check_gateway_zones(problems, &path, ecu, zones);
        }
        check_host_config(problems, &path, host);
    }
    let gateways: Vec<&str> = raw
        .ecus
        .iter()
        .filter(|ecu| ecu.role == EcuRole::Gateway)
        .map(|ecu| ecu.name.as_str())
        .collect();
    match gateways.as_slice() {
        [_] => {}
        [] => problems.add("ecus", "no ECU has role \"gateway\": exactly one must"),
        several => problems.add(
            "ecus",
            format!(
                "exactly one ECU may have role \"gateway\", found {} ({})",
                several.len(),
                several.join(", ")
            ),
        ),
    }

    for (index, tester) in raw.testers.iter().enumerate() {
        let path = format!("testers[{index}]");
        registry.name(problems, &path, &tester.name);
        registry.place(
            problems,
            names,
            (format!("{path}.zone"), format!("{path}.host")),
            (&tester.zone, tester.host),
            &tester.name,
        );
        registry.doip(
            problems,
            format!("{path}.doip_address"),
            tester.doip_address,
            &tester.name,
        );
    }
    registry.place(
        problems,
        names,
        ("vsoc.zone".to_owned(), "vsoc.host".to_owned()),
        (&raw.vsoc.zone, raw.vsoc.host),
        VSOC,
    );
}

/// Every in-vehicle zone is a trunk to the gateway: a zone it is not on is not monitored.
fn check_gateway_zones(problems: &mut Problems, path: &str, gateway: &RawEcu, zones: &[Zone]) {
    for zone in zones.iter().filter(|zone| !zone.external) {
        if !gateway.interfaces.iter().any(|i| i.zone == zone.name) {
            problems.add(
                format!("{path}.interfaces"),
                format!("the gateway has no interface in zone \"{}\"", zone.name),
            );
        }
    }
}

fn check_sensors(
    problems: &mut Problems,
    path: &str,
    sensors: &[SensorKind],
    host: &RawHostConfig,
) {
    for (index, kind) in sensors.iter().enumerate() {
        let (needed, missing) = match kind {
            SensorKind::Files => ("host.watch", host.watch.is_empty()),
            SensorKind::Processes => ("host.processes", host.processes.is_empty()),
            SensorKind::Someip | SensorKind::Signals | SensorKind::Net => continue,
        };
        if missing {
            problems.add(
                format!("{path}.sensors[{index}]"),
                format!("sensor \"{}\" needs {needed}", kind.as_str()),
            );
        }
    }
}

fn check_host_config(problems: &mut Problems, path: &str, host: &RawHostConfig) {
    for (field, paths) in [("watch", &host.watch), ("read_only", &host.read_only)] {
        for (index, file) in paths.iter().enumerate() {
            if !Path::new(file).is_absolute() {
                problems.add(
                    format!("{path}.host.{field}[{index}]"),
                    format!("\"{file}\" is not an absolute path"),
                );
            }
        }
    }
    for (index, file) in host.read_only.iter().enumerate() {
        // The files sensor only sees what it watches: a read-only path outside is never checked.
        if !host
            .watch
            .iter()
            .any(|watched| Path::new(file).starts_with(watched))
        {
            problems.add(
                format!("{path}.host.read_only[{index}]"),
                format!("\"{file}\" is not under a watched path"),
            );
        }
    }
    problems.duplicates(&format!("{path}.host.processes"), &host.processes, |name| {
        format!("\"{name}\"")
    });
}
