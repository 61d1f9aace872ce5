//! Stage 2: turns the file as written into a `Topology`, or reports every problem it has at once.
//!
//! Checks never stop at the first problem: a vehicle engineer fixing a topology wants the whole
//! list, each problem located by its path in the file (`services[0].methods[1].clients[0]`).
//! Problems come out in file order, section by section.

mod convert;
mod limits;
mod matrix;
mod network;
mod qualification;
mod security;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::io;

use crate::error::Problem;
use crate::model::Topology;
use crate::raw::{RawEcu, RawSomeIp, RawTopology, RawZone};

/// Reads the STIX file a topology names, given the path exactly as written in the topology.
pub(crate) type IntelReader<'a> = &'a dyn Fn(&str) -> Result<String, io::Error>;

pub(crate) fn validate(
    raw: RawTopology,
    read_intel: IntelReader,
) -> Result<Topology, Vec<Problem>> {
    let mut problems = Problems::default();
    check_vin(&mut problems, &raw.vehicle.vin);
    check_someip(&mut problems, &raw.someip);
    let zones = network::build_zones(&mut problems, &raw.zones);
    let names = Names::new(&raw);
    network::check_hosts(&mut problems, &raw, &names, &zones);
    matrix::check_services(&mut problems, &raw.services, &names);
    for (index, flow) in raw.flows.iter().enumerate() {
        matrix::check_flow(&mut problems, index, flow, &names);
    }
    security::check_diagnostics(&mut problems, &raw, &names);
    let threat_intel = security::build_threat_intel(&mut problems, &raw.threat_intel, read_intel);
    for (path, value) in [
        ("response.order_ttl_ms", raw.response.order_ttl_ms),
        ("response.ack_timeout_ms", raw.response.ack_timeout_ms),
        ("response.close_after_ms", raw.response.close_after_ms),
    ] {
        if value == 0 {
            problems.add(path, "must be greater than 0");
        }
    }
    for (index, policy) in raw.response.policies.iter().enumerate() {
        let path = format!("response.policies[{index}]");
        if policy.rules.is_empty() {
            problems.add(format!("{path}.rules"), "names at least one rule");
        }
        if policy.actions.is_empty() {
            problems.add(format!("{path}.actions"), "names at least one action");
        }
        problems.duplicates(&format!("{path}.actions"), &policy.actions, |a| {
            format!("{a:?}")
        });
    }
    limits::check(&mut problems, &raw.limits);
    let qualification =
        qualification::build_qualification(&mut problems, &raw.qualification, &names);
    if problems.0.is_empty() {
        Ok(convert::convert(raw, zones, threat_intel, qualification))
    } else {
        Err(problems.0)
    }
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Reports each entry of `items` that repeats an earlier one.
    fn duplicates<T: std::hash::Hash + Eq>(
        &mut self,
        path: &str,
        items: impl IntoIterator<Item = T>,
        show: impl Fn(&T) -> String,
    ) {
        let mut seen = HashSet::new();
        for (index, item) in items.into_iter().enumerate() {
            let shown = show(&item);
            if !seen.insert(item) {
                self.add(
                    format!("{path}[{index}]"),
                    format!("{shown} is listed twice"),
                );
            }
        }
    }
}

/// The names every section refers to. When a name is declared twice the first declaration wins,
/// so that the duplicate is reported once, where it is declared, and not at every reference.
struct Names<'a> {
    zones: HashMap<&'a str, &'a RawZone>,
    ecus: HashMap<&'a str, &'a RawEcu>,
    testers: HashSet<&'a str>,
}

impl<'a> Names<'a> {
    fn new(raw: &'a RawTopology) -> Self {
        let mut zones = HashMap::new();
        for zone in &raw.zones {
            zones.entry(zone.name.as_str()).or_insert(zone);
        }
        let mut ecus = HashMap::new();
        for ecu in &raw.ecus {
            ecus.entry(ecu.name.as_str()).or_insert(ecu);
        }
        let testers = raw
            .testers
            .iter()
            .map(|tester| tester.name.as_str())
            .collect();
        Names {
            zones,
            ecus,
            testers,
        }
    }

    fn is_external(&self, zone: &str) -> bool {
        self.zones.get(zone).is_some_and(|zone| zone.external)
    }

    /// Whether the ECU can reach the outside world without being forwarded.
    fn has_external_interface(&self, ecu: &RawEcu) -> bool {
        ecu.interfaces
            .iter()
            .any(|interface| self.is_external(&interface.zone))
    }
}

/// ISO 3779: 17 characters, digits and capital letters except I, O and Q (too close to 1 and 0).
fn check_vin(problems: &mut Problems, vin: &str) {
    let valid = vin.len() == 17
        && vin
            .bytes()
            .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"IOQ".contains(&b)));
    if !valid {
        problems.add(
            "vehicle.vin",
            format!("\"{vin}\" is not a VIN: 17 characters of 0-9 and A-Z except I, O and Q"),
        );
    }
}

fn check_someip(problems: &mut Problems, someip: &RawSomeIp) {
    if someip.sd_port == 0 {
        problems.add("someip.sd_port", "must not be 0");
    }
    if !someip.sd_multicast.is_multicast() {
        problems.add(
            "someip.sd_multicast",
            format!("{} is not a multicast address", someip.sd_multicast),
        );
    }
}

/// Names end up in key expressions, file names and command lines: keep them boring.
fn check_name(problems: &mut Problems, path: String, name: &str) {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        problems.add(
            path,
            format!("\"{name}\" is not a name: use lowercase letters, digits and '-'"),
        );
    }
}
