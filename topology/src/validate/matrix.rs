//! The communication matrix: SOME/IP services with their allowed clients and subscribers, and the
//! other allowed flows.

use std::collections::HashMap;

use super::{Names, Problems};
use crate::model::{Transport, OUTSIDE, VSOC};
use crate::raw::{RawFlow, RawService};

pub(super) fn check_services(problems: &mut Problems, services: &[RawService], names: &Names) {
    let mut ids: HashMap<u16, &str> = HashMap::new();
    let mut ports: HashMap<(&str, Transport, u16), &str> = HashMap::new();
    for (index, service) in services.iter().enumerate() {
        let path = format!("services[{index}]");
        if service.id == 0xFFFF {
            problems.add(
                format!("{path}.id"),
                "service id 0xffff is reserved for SOME/IP-SD",
            );
        } else if let Some(other) = ids.insert(service.id, &service.name) {
            problems.add(
                format!("{path}.id"),
                format!("service id {:#06x} is already {other}'s", service.id),
            );
        }
        if !names.ecus.contains_key(service.provider.as_str()) {
            problems.add(
                format!("{path}.provider"),
                format!("\"{}\" is not an ECU", service.provider),
            );
        }
        let key = (service.provider.as_str(), service.transport, service.port);
        if service.port == 0 {
            problems.add(format!("{path}.port"), "must not be 0");
        } else if let Some(other) = ports.insert(key, &service.name) {
            problems.add(
                format!("{path}.port"),
                format!(
                    "{} port {} of {} is already {other}'s",
                    service.transport.as_str(),
                    service.port,
                    service.provider
                ),
            );
        }

        // SOME/IP splits the 16-bit member id: the top bit set means event, clear means method.
        let mut members: HashMap<u16, &str> = HashMap::new();
        for (at, method) in service.methods.iter().enumerate() {
            let path = format!("{path}.methods[{at}]");
            if method.id >= 0x8000 {
                problems.add(
                    format!("{path}.id"),
                    format!(
                        "method id {:#06x} must be below 0x8000: ids from 0x8000 are events",
                        method.id
                    ),
                );
            } else if let Some(other) = members.insert(method.id, &method.name) {
                problems.add(
                    format!("{path}.id"),
                    format!("id {:#06x} is already {other}'s", method.id),
                );
            }
            check_ecu_list(problems, &format!("{path}.clients"), &method.clients, names);
            for (k, client) in method.clients.iter().enumerate() {
                // The gateway checks a request's client id against its sender: an allowed client
                // without one could not be told from a spoofer.
                if names
                    .ecus
                    .get(client.as_str())
                    .is_some_and(|ecu| ecu.client_id.is_none())
                {
                    problems.add(
                        format!("{path}.clients[{k}]"),
                        format!("ECU \"{client}\" has no client_id"),
                    );
                }
            }
        }
        for (at, event) in service.events.iter().enumerate() {
            let path = format!("{path}.events[{at}]");
            if event.id < 0x8000 {
                problems.add(
                    format!("{path}.id"),
                    format!(
                        "event id {:#06x} must be at least 0x8000: ids below are methods",
                        event.id
                    ),
                );
            } else if let Some(other) = members.insert(event.id, &event.name) {
                problems.add(
                    format!("{path}.id"),
                    format!("id {:#06x} is already {other}'s", event.id),
                );
            }
            check_ecu_list(
                problems,
                &format!("{path}.subscribers"),
                &event.subscribers,
                names,
            );
            if event.cycle_ms == Some(0) {
                problems.add(format!("{path}.cycle_ms"), "must be greater than 0");
            }
        }
    }
}

fn check_ecu_list(problems: &mut Problems, path: &str, list: &[String], names: &Names) {
    for (index, name) in list.iter().enumerate() {
        if !names.ecus.contains_key(name.as_str()) {
            problems.add(
                format!("{path}[{index}]"),
                format!("\"{name}\" is not an ECU"),
            );
        }
    }
    problems.duplicates(path, list, |name| format!("\"{name}\""));
}

pub(super) fn check_flow(problems: &mut Problems, index: usize, flow: &RawFlow, names: &Names) {
    let path = format!("flows[{index}]");
    let mut inside = Vec::new();
    for (field, name) in [("from", &flow.from), ("to", &flow.to)] {
        if name == OUTSIDE || name == VSOC {
            continue;
        }
        match names.ecus.get(name.as_str()) {
            Some(ecu) => inside.push(*ecu),
            None => problems.add(
                format!("{path}.{field}"),
                format!("\"{name}\" is neither an ECU, \"{OUTSIDE}\" nor \"{VSOC}\""),
            ),
        }
    }
    if flow.from == flow.to {
        problems.add(
            path.clone(),
            format!("from and to are both \"{}\"", flow.from),
        );
    } else if [&flow.from, &flow.to]
        .iter()
        .all(|name| *name == OUTSIDE || *name == VSOC)
    {
        problems.add(path.clone(), "at least one endpoint must be an ECU");
    }
    let via = flow.via.as_deref().filter(|via| !via.is_empty());
    let forwarder = via.and_then(|via| names.ecus.get(via).copied());
    if let (Some(via), None) = (via, forwarder) {
        problems.add(format!("{path}.via"), format!("\"{via}\" is not an ECU"));
    }
    // Only an ECU on an external zone reaches the outside world; any other needs one to forward.
    let leaves = flow.from == OUTSIDE || flow.to == OUTSIDE;
    if let (true, [ecu]) = (leaves, inside.as_slice()) {
        let problem = match forwarder {
            _ if names.has_external_interface(ecu) => None,
            None if via.is_none() => Some(format!(
                "\"{}\" has no interface on an external zone: set via to the ECU forwarding it",
                ecu.name
            )),
            Some(forwarder) if !names.has_external_interface(forwarder) => Some(format!(
                "\"{}\" has no interface on an external zone",
                forwarder.name
            )),
            _ => None,
        };
        if let Some(message) = problem {
            problems.add(format!("{path}.via"), message);
        }
    }
    if flow.ports.is_empty() {
        problems.add(format!("{path}.ports"), "at least one port");
    }
    for (at, port) in flow.ports.iter().enumerate() {
        if *port == 0 {
            problems.add(format!("{path}.ports[{at}]"), "port 0");
        }
    }
    problems.duplicates(&format!("{path}.ports"), &flow.ports, |port| {
        port.to_string()
    });
}
