//! The guard's decision on one datagram, as a pure function of the topology, the sender's
//! address, the bytes and the blocklist.

use std::net::IpAddr;
use std::time::Instant;

use someip_rs::{MessageType, ReturnCode, SomeIpMessage};
use vsiem_schemas::catalog::{self, EventType};
use vsiem_topology::Topology;

use super::Blocklist;

#[derive(Debug)]
pub enum Verdict {
    /// Pass the request to the application; `caller` is the ECU that sent it.
    Allowed {
        message: SomeIpMessage,
        caller: String,
    },
    /// Answer with `code` (if the request expects an answer) and report `event`.
    Rejected {
        message: SomeIpMessage,
        event: &'static EventType,
        /// The sending ECU, `None` when the address is no ECU's.
        caller: Option<String>,
        code: ReturnCode,
    },
    /// Not SOME/IP, or not a request: report, never answer.
    Malformed {
        event: &'static EventType,
        caller: Option<String>,
    },
}

/// Judges a datagram sent from `from` to a service of `provider`.
///
/// The sender is identified by its address (the network knows it), and the client ID in the
/// header must be that ECU's: a client ID borrowed from another ECU is a violation.
pub fn check(
    topology: &Topology,
    provider: &str,
    from: IpAddr,
    bytes: &[u8],
    blocklist: &Blocklist,
) -> Verdict {
    let caller = topology.ecu_by_address(from).map(|e| e.name.clone());
    let message = match SomeIpMessage::from_bytes(bytes) {
        Ok(m)
            if matches!(
                m.header.message_type,
                MessageType::Request | MessageType::RequestNoReturn
            ) =>
        {
            m
        }
        _ => {
            return Verdict::Malformed {
                event: &catalog::SOMEIP_MALFORMED,
                caller,
            }
        }
    };
    let (service_id, method_id) = (message.header.service_id.0, message.header.method_id.0);
    let client_id = message.header.client_id.0;
    if let Err((event, code)) = judge_request(
        topology,
        provider,
        caller.as_deref(),
        service_id,
        method_id,
        client_id,
    ) {
        return Verdict::Rejected {
            message,
            event,
            caller,
            code,
        };
    }
    let caller_name = caller.as_deref().unwrap_or_default();
    if blocklist.blocks(caller_name, service_id, method_id, Instant::now()) {
        return Verdict::Rejected {
            message,
            event: &catalog::SOMEIP_CLIENT_BLOCKED,
            caller,
            code: ReturnCode::NotOk,
        };
    }
    let caller = caller_name.to_owned();
    Verdict::Allowed { message, caller }
}

/// The topology's rule for one request from `caller` (an ECU name, `None` for an address of no
/// ECU) to a service of `provider`: the service must be the provider's, the method must exist,
/// and the caller must be allowed that method under its own client ID. Used by the guard on the
/// provider and by the network sensor on the wire.
pub fn judge_request(
    topology: &Topology,
    provider: &str,
    caller: Option<&str>,
    service_id: u16,
    method_id: u16,
    client_id: u16,
) -> Result<(), (&'static EventType, ReturnCode)> {
    let Some(service) = topology
        .service(service_id)
        .filter(|s| s.provider == provider)
    else {
        return Err((&catalog::SOMEIP_UNKNOWN_SERVICE, ReturnCode::UnknownService));
    };
    let Some(method) = service.method(method_id) else {
        return Err((&catalog::SOMEIP_UNKNOWN_METHOD, ReturnCode::UnknownMethod));
    };
    let claimed = topology
        .ecu_by_client_id(client_id)
        .map(|e| e.name.as_str());
    match caller {
        Some(c) if claimed == Some(c) && method.allows(c) => Ok(()),
        _ => Err((&catalog::SOMEIP_UNAUTHORIZED_CLIENT, ReturnCode::NotOk)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use someip_rs::{ClientId, MethodId, ServiceId};
    use std::time::Duration;

    fn request(service: u16, method: u16, client: u16) -> Vec<u8> {
        SomeIpMessage::request(ServiceId(service), MethodId(method))
            .client_id(ClientId(client))
            .build()
            .to_bytes()
    }

    fn verdict_name(v: &Verdict) -> &'static str {
        match v {
            Verdict::Allowed { .. } => "allowed",
            Verdict::Rejected { event, .. } | Verdict::Malformed { event, .. } => event.name,
        }
    }

    #[test]
    fn requests_to_body_dc_are_judged_against_the_reference_matrix() {
        let topology = Topology::reference();
        let ivi: IpAddr = "127.0.1.3".parse().unwrap();
        let tcu: IpAddr = "10.10.1.2".parse().unwrap();
        let stranger: IpAddr = "127.0.1.77".parse().unwrap();
        let cases: &[(&str, IpAddr, Vec<u8>, &str)] = &[
            ("ivi locks", ivi, request(0x1101, 0x0001, 0x0003), "allowed"),
            (
                "tcu unlocks",
                tcu,
                request(0x1101, 0x0002, 0x0002),
                "allowed",
            ),
            (
                "ivi unlocks",
                ivi,
                request(0x1101, 0x0002, 0x0003),
                "someip.unauthorized_client",
            ),
            (
                "ivi disarms",
                ivi,
                request(0x1102, 0x0002, 0x0003),
                "someip.unauthorized_client",
            ),
            (
                "tcu disarms",
                tcu,
                request(0x1102, 0x0002, 0x0002),
                "someip.unauthorized_client",
            ),
            (
                "ivi borrows tcu's id",
                ivi,
                request(0x1101, 0x0002, 0x0002),
                "someip.unauthorized_client",
            ),
            (
                "unknown host",
                stranger,
                request(0x1101, 0x0001, 0x0003),
                "someip.unauthorized_client",
            ),
            (
                "service of another ECU",
                ivi,
                request(0x2101, 0x0001, 0x0003),
                "someip.unknown_service",
            ),
            (
                "unknown method",
                ivi,
                request(0x1101, 0x0007, 0x0003),
                "someip.unknown_method",
            ),
            ("too short", ivi, vec![0x11, 0x01, 0x00], "someip.malformed"),
            (
                "a notification is no request",
                ivi,
                SomeIpMessage::notification(ServiceId(0x1101), MethodId(0x8001))
                    .build()
                    .to_bytes(),
                "someip.malformed",
            ),
        ];
        for (what, from, bytes, want) in cases {
            let v = check(&topology, "body-dc", *from, bytes, &Blocklist::default());
            assert_eq!(verdict_name(&v), *want, "{what}");
        }
    }

    #[test]
    fn a_blocked_client_is_rejected_even_for_allowed_methods() {
        let topology = Topology::reference();
        let list = Blocklist::default();
        list.insert(
            7,
            "ivi",
            super::super::blocklist::ANY,
            super::super::blocklist::ANY,
            Instant::now() + Duration::from_secs(60),
        );
        let v = check(
            &topology,
            "body-dc",
            "127.0.1.3".parse().unwrap(),
            &request(0x1101, 0x0001, 0x0003),
            &list,
        );
        assert_eq!(verdict_name(&v), "someip.client_blocked");
        let v = check(
            &topology,
            "body-dc",
            "127.0.1.2".parse().unwrap(),
            &request(0x1101, 0x0001, 0x0002),
            &list,
        );
        assert_eq!(
            verdict_name(&v),
            "allowed",
            "other clients are not affected"
        );
    }
}
