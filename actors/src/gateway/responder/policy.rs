//! The response policy: which block orders contain an incident, and which of them must not be
//! sent because they would endanger a moving vehicle.

use vsiem_schemas::encode::{ActionDraft, VehicleSnapshot};
use vsiem_schemas::wire::Transport;
use vsiem_topology::{AddressMode, EcuRole, ResponseAction, Topology};

use super::Response;
use crate::sensor::someip::blocklist::ANY;

/// The orders that contain an incident's origin, as the response policy of the incident's rule
/// lists them: stop the processes the intrusion started, drop its egress, isolate it, have every
/// ECU it reached refuse its SOME/IP requests. None when no policy names the rule.
pub fn actions(
    topology: &Topology,
    addressing: AddressMode,
    r: &Response,
) -> Vec<(String, ActionDraft)> {
    let mut actions = Vec::new();
    for kind in topology.response.actions_for(&r.rules) {
        match kind {
            ResponseAction::StopProcesses => {
                for (pid, name) in &r.processes {
                    actions.push((
                        r.origin.clone(),
                        ActionDraft::StopProcess {
                            pid: *pid,
                            name: name.clone(),
                        },
                    ));
                }
            }
            ResponseAction::DropEgress => {
                let Some(ip) = topology.ecu_address(&r.origin, addressing) else {
                    continue;
                };
                for transport in [Transport::Tcp, Transport::Udp] {
                    actions.push((
                        r.origin.clone(),
                        ActionDraft::DropFlow {
                            transport,
                            src: ip.to_string(),
                            dst: String::new(),
                            dst_port: 0,
                        },
                    ));
                }
            }
            ResponseAction::Isolate => actions.push((
                r.origin.clone(),
                ActionDraft::IsolateEcu {
                    ecu: r.origin.clone(),
                },
            )),
            ResponseAction::BlockSomeipClient => {
                let client_id = topology.ecu(&r.origin).and_then(|e| e.client_id);
                for target in &r.targets {
                    actions.push((
                        target.clone(),
                        ActionDraft::BlockSomeipClient {
                            client_ecu: r.origin.clone(),
                            client_id: client_id.unwrap_or(0xFFFF),
                            service: ANY,
                            method: ANY,
                        },
                    ));
                }
            }
        }
    }
    actions
}

pub fn summary(action: &ActionDraft) -> String {
    match action {
        ActionDraft::BlockSomeipClient { client_ecu, .. } => {
            format!("block SOME/IP client {client_ecu}")
        }
        ActionDraft::DropFlow { transport, src, .. } => {
            format!(
                "drop {} egress of {src}",
                transport.variant_name().unwrap_or("?")
            )
        }
        ActionDraft::IsolateEcu { ecu } => format!("isolate {ecu}"),
        ActionDraft::StopProcess { pid, name } => format!("stop process {name} ({pid})"),
    }
}

/// Why an order must not be sent now, if it must not: while the vehicle moves, nothing may cut
/// a safety-critical function (a client of a safety-critical method, or a domain controller)
/// unless the topology's response policy explicitly allows blocking while moving.
pub fn refusal(
    topology: &Topology,
    target: &str,
    action: &ActionDraft,
    vehicle: &VehicleSnapshot,
) -> Option<String> {
    if vehicle.speed_centi_kmh == 0 || topology.response.block_while_moving {
        return None;
    }
    let cut = match action {
        ActionDraft::BlockSomeipClient { client_ecu, .. } => client_ecu.as_str(),
        ActionDraft::DropFlow { .. } | ActionDraft::IsolateEcu { .. } => target,
        ActionDraft::StopProcess { .. } => return None,
    };
    let safety_client = topology
        .services
        .iter()
        .flat_map(|s| &s.methods)
        .any(|m| m.safety_critical && m.allows(cut));
    let controller = topology
        .ecu(cut)
        .is_some_and(|e| e.role == EcuRole::DomainController);
    (safety_client || controller).then(|| {
        format!(
            "{cut} serves safety-critical functions and the vehicle moves at {:.2} km/h",
            f64::from(vehicle.speed_centi_kmh) / 100.0
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response() -> Response {
        Response {
            incident_id: 1,
            rules: vec![
                "host-file-tampered".into(),
                "intrusion-then-lateral-movement".into(),
            ],
            origin: "ivi".into(),
            processes: vec![(42, "sh".into())],
            targets: vec!["body-dc".into()],
            vehicle: VehicleSnapshot::default(),
        }
    }

    #[test]
    fn the_ivi_is_contained_where_it_acted() {
        let topology = Topology::reference();
        let described: Vec<(String, String)> =
            actions(&topology, AddressMode::Loopback, &response())
                .iter()
                .map(|(t, a)| (t.clone(), summary(a)))
                .collect();
        let expected = [
            ("ivi", "stop process sh (42)"),
            ("ivi", "drop Tcp egress of 127.0.1.3"),
            ("ivi", "drop Udp egress of 127.0.1.3"),
            ("body-dc", "block SOME/IP client ivi"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(t, s)| (t.to_string(), s.to_string()))
            .collect();
        assert_eq!(described, expected);
        let unknown = Response {
            rules: vec!["no-such-rule".into()],
            ..response()
        };
        assert_eq!(actions(&topology, AddressMode::Loopback, &unknown), vec![]);
    }

    #[test]
    fn safety_critical_cuts_are_refused_only_while_moving() {
        let topology = Topology::reference();
        let moving = VehicleSnapshot {
            speed_centi_kmh: 3_000,
            ..VehicleSnapshot::default()
        };
        let parked = VehicleSnapshot::default();
        let block_tcu = ActionDraft::BlockSomeipClient {
            client_ecu: "tcu".into(),
            client_id: 2,
            service: ANY,
            method: ANY,
        };
        let block_ivi = ActionDraft::BlockSomeipClient {
            client_ecu: "ivi".into(),
            client_id: 3,
            service: ANY,
            method: ANY,
        };
        let isolate_chassis = ActionDraft::IsolateEcu {
            ecu: "chassis-dc".into(),
        };
        assert!(
            refusal(&topology, "body-dc", &block_tcu, &moving).is_some(),
            "tcu may start the engine"
        );
        assert!(refusal(&topology, "chassis-dc", &isolate_chassis, &moving).is_some());
        assert_eq!(refusal(&topology, "body-dc", &block_ivi, &moving), None);
        assert_eq!(refusal(&topology, "body-dc", &block_tcu, &parked), None);
        let mut permissive = topology.clone();
        permissive.response.block_while_moving = true;
        assert_eq!(refusal(&permissive, "body-dc", &block_tcu, &moving), None);
    }
}
