//! The catalog of security event types: IdsM-style external IDs in the OEM range
//! (0x8000-0xFFFE) with stable dotted names. EVENTS.md documents it; a test keeps the two equal.

use crate::wire::Severity;

/// What an event type says about an attack, the basis of correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Code or data on the reporting ECU was compromised (process, file, C&C contact).
    Intrusion,
    /// A request from one ECU to another that it must not make.
    LateralMovement,
    /// Probing: scans, discovery, malformed input.
    Reconnaissance,
    /// The SIEM reporting on itself: silence, restarts, drops, sequence anomalies.
    Health,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Intrusion => "intrusion",
            Category::LateralMovement => "lateral-movement",
            Category::Reconnaissance => "reconnaissance",
            Category::Health => "health",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventType {
    pub id: u16,
    pub name: &'static str,
    pub severity: Severity,
    pub category: Category,
    pub summary: &'static str,
}

macro_rules! catalog {
    ($($konst:ident = $id:literal, $name:literal, $sev:ident, $cat:ident, $summary:literal;)*) => {
        $(pub const $konst: EventType = EventType {
            id: $id,
            name: $name,
            severity: Severity::$sev,
            category: Category::$cat,
            summary: $summary,
        };)*
        /// Every event type, by ascending ID.
        pub const ALL: &[EventType] = &[$($konst),*];
    };
}

catalog! {
    HOST_UNEXPECTED_PROCESS = 0x8001, "host.unexpected_process", High, Intrusion,
        "A process started inside the ECU's software tree that is not on its allowlist.";
    HOST_FILE_TAMPERED = 0x8002, "host.file_tampered", High, Intrusion,
        "A watched file was created, modified or deleted (critical under a read-only root).";
    SOMEIP_UNAUTHORIZED_CLIENT = 0x8010, "someip.unauthorized_client", High, LateralMovement,
        "A SOME/IP request from a client the topology does not allow for that method.";
    SOMEIP_UNKNOWN_SERVICE = 0x8011, "someip.unknown_service", Medium, Reconnaissance,
        "A SOME/IP request for a service the provider does not offer.";
    SOMEIP_UNKNOWN_METHOD = 0x8012, "someip.unknown_method", Medium, Reconnaissance,
        "A SOME/IP request for a method the service does not have.";
    SOMEIP_MALFORMED = 0x8013, "someip.malformed", Medium, Reconnaissance,
        "A datagram on a SOME/IP port that is not a well-formed SOME/IP message.";
    SOMEIP_CLIENT_BLOCKED = 0x8014, "someip.client_blocked", Medium, LateralMovement,
        "A SOME/IP request rejected because a block order covers its client.";
    SOMEIP_SD_OFFER_SPOOF = 0x8018, "someip_sd.offer_spoof", High, LateralMovement,
        "A SOME/IP-SD offer of a service from a host that is not its provider.";
    SOMEIP_SD_FIND_SCAN = 0x8019, "someip_sd.find_scan", Medium, Reconnaissance,
        "SOME/IP-SD FindService for services the client is not allowed to use.";
    DOIP_ROUTING_ACTIVATION_UNAUTHORIZED = 0x8020, "doip.routing_activation_unauthorized", High, LateralMovement,
        "DoIP routing activation from a host that is not a tester, or while the vehicle moves.";
    DOIP_MALFORMED = 0x8021, "doip.malformed", Medium, Reconnaissance,
        "A message on the DoIP port that is not well-formed DoIP.";
    UDS_SECURITY_ACCESS_BRUTEFORCE = 0x8028, "uds.security_access_bruteforce", High, LateralMovement,
        "Repeated UDS SecurityAccess keys from one tester address without success.";
    UDS_DANGEROUS_SERVICE_WHILE_MOVING = 0x8029, "uds.dangerous_service_while_moving", Critical, LateralMovement,
        "A UDS service the topology calls dangerous, requested while the vehicle moves.";
    NET_UNKNOWN_HOST = 0x8030, "net.unknown_host", High, Intrusion,
        "A frame from an address of a vehicle subnet that no host of the topology has.";
    NET_ARP_SPOOF = 0x8031, "net.arp_spoof", High, LateralMovement,
        "An ARP message claiming a host's address from a MAC that is not that host's.";
    NET_VLAN_VIOLATION = 0x8032, "net.vlan_violation", High, LateralMovement,
        "A frame tagged with a VLAN that its source host does not belong to.";
    NET_FLOW_NOT_ALLOWED = 0x8033, "net.flow_not_allowed", Medium, LateralMovement,
        "A TCP or UDP flow that the communication matrix does not allow (reported once per flow).";
    NET_PORT_SCAN = 0x8034, "net.port_scan", Medium, Reconnaissance,
        "One source probing many destinations outside the communication matrix within a second.";
    NET_FLOOD = 0x8035, "net.flood", High, Reconnaissance,
        "One source sending more packets in a second than any function of the vehicle needs.";
    NET_MALFORMED_FRAME = 0x8036, "net.malformed_frame", Medium, Reconnaissance,
        "A captured frame that does not decode (truncated or inconsistent headers); the reason is in the evidence.";
    IOC_DNS = 0x8040, "ioc.dns", Critical, Intrusion,
        "A DNS query for a domain of the threat-intelligence feed.";
    IOC_TLS_SNI = 0x8041, "ioc.tls_sni", Critical, Intrusion,
        "A TLS ClientHello naming a server of the threat-intelligence feed.";
    IOC_IP = 0x8042, "ioc.ip", Critical, Intrusion,
        "Traffic to or from an address of the threat-intelligence feed.";
    SENSOR_SILENT = 0x8050, "sensor.silent", High, Health,
        "A sensor agent's liveliness token disappeared: it crashed, was killed or cut off.";
    SENSOR_DETECTOR_RESTARTED = 0x8051, "sensor.detector_restarted", Medium, Health,
        "A detector failed and its supervisor restarted it.";
    SENSOR_QUEUE_OVERFLOW = 0x8052, "sensor.queue_overflow", Medium, Health,
        "A bounded queue was full and dropped events; the count says how many.";
    SENSOR_SEQUENCE_GAP = 0x8053, "sensor.sequence_gap", Medium, Health,
        "Events of a sensor are missing between two sequence numbers the gateway received.";
    SENSOR_SEQUENCE_REPLAY = 0x8054, "sensor.sequence_replay", High, Health,
        "An event arrived with a sequence number the gateway had already seen.";
    SENSOR_RATE_LIMITED = 0x8055, "sensor.rate_limited", Medium, Health,
        "A sensor sent more events per second than the topology's limit; the gateway dropped the excess.";
    SENSOR_EVENT_STALE = 0x8056, "sensor.event_stale", High, Health,
        "An event older than the topology's maximum age, or ahead of the gateway's clock beyond the skew bound.";
    SENSOR_UNKNOWN_SOURCE = 0x8057, "sensor.unknown_source", High, Health,
        "Events on the key of an ECU or sensor that the topology does not declare; dropped on arrival.";
    SENSOR_TRAFFIC_LIMIT_EXCEEDED = 0x8058, "sensor.traffic_limit_exceeded", Medium, Health,
        "A sensor agent's rate or traffic limit held qualified events back; the count says how many detections.";
    LIMIT_FRAME_TOO_LARGE = 0x8060, "limit.frame_too_large", Medium, Reconnaissance,
        "A captured frame longer than the topology's frame_max_bytes; not decoded.";
    LIMIT_SOMEIP_TOO_LARGE = 0x8061, "limit.someip_too_large", Medium, Reconnaissance,
        "A SOME/IP message announcing more than the topology's someip_max_message_bytes; not decoded.";
    LIMIT_TCP_PENDING_EXCEEDED = 0x8062, "limit.tcp_pending_exceeded", Medium, Reconnaissance,
        "A TCP direction held more unfinished-message bytes than tcp_pending_bytes_per_flow; its buffer was dropped.";
    LIMIT_TCP_FLOWS_EXCEEDED = 0x8063, "limit.tcp_flows_exceeded", Medium, Reconnaissance,
        "More TCP directions than tcp_max_flows at once; the least recently used one was dropped.";
    LIMIT_FLATBUFFER_REJECTED = 0x8064, "limit.flatbuffer_rejected", High, Health,
        "Buffers from the network that failed the FlatBuffers verifier or its bounds; dropped, the count says how many.";
    GATEWAY_RULES_REJECTED = 0x8070, "gateway.rules_rejected", Medium, Health,
        "A changed rule set was invalid and rejected; the previous set stays in force.";
    GATEWAY_RULES_RELOADED = 0x8071, "gateway.rules_reloaded", Info, Health,
        "The gateway's rule set was replaced by a changed, valid one (an audit record).";
    GATEWAY_ACCESS_DENIED = 0x8080, "gateway.access_denied", High, Health,
        "The backbone's access control refused what an ECU sent (publishing as another ECU, a block order); the count says how often.";
}

pub fn by_id(id: u16) -> Option<&'static EventType> {
    ALL.iter().find(|t| t.id == id)
}

pub fn by_name(name: &str) -> Option<&'static EventType> {
    ALL.iter().find(|t| t.name == name)
}

/// The dotted name of an ID, or a stable placeholder for IDs of a newer catalog.
pub fn name_of(id: u16) -> &'static str {
    by_id(id).map_or("unknown", |t| t.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_ascending_and_in_the_oem_range() {
        for pair in ALL.windows(2) {
            assert!(
                pair[0].id < pair[1].id,
                "{} not before {}",
                pair[0].name,
                pair[1].name
            );
        }
        for t in ALL {
            assert!((0x8000..=0xFFFE).contains(&t.id), "{} out of range", t.name);
            assert_eq!(by_name(t.name), Some(t));
        }
    }

    /// EVENTS.md is the documented catalog: one table row per type, in order, same facts.
    #[test]
    fn events_md_matches_the_catalog() {
        let doc = include_str!("../EVENTS.md");
        let rows: Vec<String> = doc
            .lines()
            .filter(|l| l.starts_with("| 0x"))
            .map(str::to_owned)
            .collect();
        let expected: Vec<String> = ALL
            .iter()
            .map(|t| {
                format!(
                    "| 0x{:04X} | `{}` | {} | {} | {} |",
                    t.id,
                    t.name,
                    t.severity.variant_name().unwrap_or("?").to_lowercase(),
                    t.category.as_str(),
                    t.summary
                )
            })
            .collect();
        assert_eq!(rows, expected, "EVENTS.md and catalog.rs disagree");
    }
}
