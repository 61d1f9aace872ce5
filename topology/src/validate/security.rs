//! Diagnostics policy and threat intelligence.

use super::{IntelReader, Names, Problems};
use crate::intel::{self, Ioc};
use crate::model::ThreatIntel;
use crate::raw::{RawThreatIntel, RawTopology};

pub(super) fn check_diagnostics(problems: &mut Problems, raw: &RawTopology, names: &Names) {
    let diagnostics = &raw.diagnostics;
    if diagnostics.port == 0 {
        problems.add("diagnostics.port", "must not be 0");
    }
    for (index, tester) in diagnostics.testers.iter().enumerate() {
        if !names.testers.contains(tester.as_str()) {
            problems.add(
                format!("diagnostics.testers[{index}]"),
                format!("\"{tester}\" is not a tester"),
            );
        }
    }
    problems.duplicates("diagnostics.testers", &diagnostics.testers, |name| {
        format!("\"{name}\"")
    });
    problems.duplicates(
        "diagnostics.dangerous_services",
        &diagnostics.dangerous_services,
        |service| format!("{service:#04x}"),
    );
}

pub(super) fn build_threat_intel(
    problems: &mut Problems,
    raw: &RawThreatIntel,
    read_intel: IntelReader,
) -> ThreatIntel {
    let mut domains = Vec::new();
    let mut addresses = Vec::new();
    match read_intel(&raw.stix) {
        Err(error) => problems.add(
            "threat_intel.stix",
            format!(
                "cannot read \"{}\" (relative to the topology file): {error}",
                raw.stix
            ),
        ),
        Ok(json) => {
            let (iocs, errors) = intel::parse_bundle(&json);
            for error in errors {
                problems.add("threat_intel.stix", error);
            }
            for ioc in iocs {
                match ioc {
                    Ioc::Domain(domain) if !domains.contains(&domain) => domains.push(domain),
                    // Stored canonical so that lookups of IPv4-mapped addresses need no care.
                    Ioc::Address(address) if !addresses.contains(&address.to_canonical()) => {
                        addresses.push(address.to_canonical())
                    }
                    Ioc::Domain(_) | Ioc::Address(_) => {}
                }
            }
        }
    }
    let mut benign_domains = Vec::new();
    for (index, name) in raw.benign_domains.iter().enumerate() {
        let path = format!("threat_intel.benign_domains[{index}]");
        match intel::domain(name) {
            None => problems.add(path, format!("\"{name}\" is not a domain name")),
            Some(domain) => {
                if intel::matches_domain(&domains, &domain) {
                    problems.add(path, format!("\"{name}\" is also a threat-intel indicator"));
                }
                benign_domains.push(domain);
            }
        }
    }
    ThreatIntel {
        domains,
        addresses,
        benign_domains,
    }
}
