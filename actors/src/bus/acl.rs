//! The access control of the two routers, generated from the topology: Zenoh's `access_control`
//! with subjects matched by the certificate common names of the vehicle PKI, default deny.
//!
//! Ingress is what a client may send the router, egress what the router may send it. On the
//! backbone (the gateway's router) each ECU may publish only on its own event, signal, heartbeat
//! and ack keys, declare only its own liveliness token and subscribe only to its own orders and
//! the gateway's receipts of its own events;
//! the monitor may read the whole vehicle and query the metrics, and write nothing. The gateway
//! ECU's sensor agent is a client like any ECU's. Block orders and incidents are published by the
//! gateway's own session, inside the router: no subject may send them. On the V-SOC's router the vehicle's gateway may query its own incident key and
//! receive the V-SOC's acks there, nothing else.

use serde_json::{json, Value};
use vsiem_topology::pki::{self, MONITOR};
use vsiem_topology::Topology;

use super::keys;

/// One permission: these messages, in these flows, on these key expressions.
struct Grant<'a> {
    flows: &'a [&'a str],
    messages: &'a [&'a str],
    keys: Vec<String>,
}

fn ingress<'a>(messages: &'a [&'a str], keys: Vec<String>) -> Grant<'a> {
    Grant {
        flows: &["ingress"],
        messages,
        keys,
    }
}

fn egress<'a>(messages: &'a [&'a str], keys: Vec<String>) -> Grant<'a> {
    Grant {
        flows: &["egress"],
        messages,
        keys,
    }
}

/// An `access_control` section under construction.
#[derive(Default)]
struct Acl {
    rules: Vec<Value>,
    subjects: Vec<Value>,
    policies: Vec<Value>,
}

impl Acl {
    /// Grants `grants` to the holder of `identity`'s certificate.
    fn grant(&mut self, vin: &str, identity: &str, grants: &[Grant<'_>]) {
        let rules: Vec<String> = (0..grants.len())
            .map(|i| format!("{identity}-{i}"))
            .collect();
        for (id, g) in rules.iter().zip(grants) {
            self.rules.push(json!({
                "id": id,
                "permission": "allow",
                "flows": g.flows,
                "messages": g.messages,
                "key_exprs": g.keys,
            }));
        }
        self.subjects.push(json!({
            "id": identity,
            "cert_common_names": [pki::common_name(identity, vin)],
        }));
        self.policies
            .push(json!({ "rules": rules, "subjects": [identity] }));
    }

    fn build(self) -> Value {
        json!({
            "enabled": true,
            "default_permission": "deny",
            "rules": self.rules,
            "subjects": self.subjects,
            "policies": self.policies,
        })
    }
}

/// The gateway router's access control.
pub fn backbone(topology: &Topology) -> Value {
    let vin = topology.vin();
    let mut acl = Acl::default();
    // The gateway's own sensor agent (`vsiem sensor --ecu gateway`, its network sensor) is a
    // client like any ECU's; the gateway's router session is not a client at all.
    for ecu in &topology.ecus {
        let ecu = ecu.name.as_str();
        let published = vec![
            keys::event(vin, ecu, "*"),
            keys::signal(vin, ecu),
            keys::heartbeat(vin, ecu),
            keys::ack(vin, ecu),
        ];
        acl.grant(
            vin,
            ecu,
            &[
                ingress(&["put"], published),
                ingress(&["liveliness_token"], vec![keys::alive(vin, ecu)]),
                ingress(
                    &["declare_subscriber"],
                    vec![keys::order(vin, ecu), keys::received(vin, ecu)],
                ),
                egress(
                    &["put"],
                    vec![keys::order(vin, ecu), keys::received(vin, ecu)],
                ),
                // Who subscribes to what: a client publishes only what someone reads.
                egress(&["declare_subscriber"], vec![keys::vehicle(vin)]),
            ],
        );
    }
    acl.grant(
        vin,
        MONITOR,
        &[
            ingress(&["declare_subscriber"], vec![keys::vehicle(vin)]),
            ingress(
                &["declare_liveliness_subscriber", "liveliness_query"],
                vec![keys::all_alive(vin)],
            ),
            ingress(&["query"], vec![keys::metrics(vin, "*")]),
            egress(&["put"], vec![keys::vehicle(vin)]),
            egress(&["liveliness_token"], vec![keys::all_alive(vin)]),
            egress(
                &["reply", "declare_queryable"],
                vec![keys::metrics(vin, "*")],
            ),
        ],
    );
    acl.build()
}

/// The V-SOC router's access control, for this vehicle's gateway.
pub fn vsoc(topology: &Topology) -> Value {
    let vin = topology.vin();
    let mut acl = Acl::default();
    let incidents = || vec![keys::vsoc_incident(vin)];
    acl.grant(
        vin,
        &topology.gateway().name,
        &[
            ingress(&["query"], incidents()),
            egress(&["reply", "declare_queryable"], incidents()),
        ],
    );
    acl.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules of `subject`, as (flow, message, key) triples.
    fn granted(acl: &Value, subject: &str) -> Vec<(String, String, String)> {
        let policy = acl["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["subjects"][0] == subject)
            .unwrap();
        let mut out = Vec::new();
        for id in policy["rules"].as_array().unwrap() {
            let rule = acl["rules"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| &r["id"] == id)
                .unwrap();
            for flow in rule["flows"].as_array().unwrap() {
                for message in rule["messages"].as_array().unwrap() {
                    for key in rule["key_exprs"].as_array().unwrap() {
                        out.push((
                            flow.as_str().unwrap().to_owned(),
                            message.as_str().unwrap().to_owned(),
                            key.as_str().unwrap().to_owned(),
                        ));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn an_ecu_publishes_only_as_itself_and_nobody_publishes_orders() {
        let topology = Topology::reference();
        let acl = backbone(&topology);
        assert_eq!(acl["default_permission"], "deny");
        let vin = topology.vin();
        let ivi = granted(&acl, "ivi");
        let puts: Vec<&str> = ivi
            .iter()
            .filter(|(flow, message, _)| flow == "ingress" && message == "put")
            .map(|(_, _, key)| key.as_str())
            .collect();
        assert_eq!(
            puts,
            [
                keys::event(vin, "ivi", "*"),
                keys::signal(vin, "ivi"),
                keys::heartbeat(vin, "ivi"),
                keys::ack(vin, "ivi"),
            ]
        );
        let subjects = acl["subjects"].as_array().unwrap();
        assert!(subjects
            .iter()
            .any(|s| s["cert_common_names"][0] == "body-dc.5VS1M00REF0000001"));
        // The gateway's sensor agent publishes as the gateway ECU, and orders no more than any.
        let gateway = granted(&acl, "gateway");
        assert!(gateway.contains(&(
            "ingress".into(),
            "put".into(),
            keys::event(vin, "gateway", "*")
        )));
        for subject in subjects {
            let id = subject["id"].as_str().unwrap();
            for (flow, message, key) in granted(&acl, id) {
                let sends = flow == "ingress" && message == "put";
                assert!(
                    !(sends && (key.contains("/order/") || key.contains("/incident"))),
                    "{id} may put on {key}"
                );
            }
        }
        // Each ECU hears the gateway's receipts of its own events, and no one else's.
        for (flow, message) in [("ingress", "declare_subscriber"), ("egress", "put")] {
            let received: Vec<&str> = ivi
                .iter()
                .filter(|(f, m, k)| f == flow && m == message && k.contains("/received/"))
                .map(|(_, _, key)| key.as_str())
                .collect();
            assert_eq!(received, [keys::received(vin, "ivi")], "{flow} {message}");
        }
        assert!(!granted(&acl, MONITOR)
            .iter()
            .any(|(flow, message, _)| flow == "ingress" && message == "put"));
    }

    #[test]
    fn the_vsoc_takes_only_this_vehicles_gateway() {
        let topology = Topology::reference();
        let acl = vsoc(&topology);
        let gateway = granted(&acl, "gateway");
        assert!(gateway
            .iter()
            .all(|(_, _, key)| key == &keys::vsoc_incident(topology.vin())));
        assert_eq!(acl["subjects"].as_array().unwrap().len(), 1);
    }
}
