//! The network detectors: judge each decoded packet against the topology (communication matrix,
//! zones and VLANs, hosts, threat intelligence). Pure and synchronous: the live capture and the
//! offline replay feed the same detector.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use vsiem_schemas::catalog::{self, EventType};
use vsiem_schemas::encode::{ContextDraft, EventDraft, NetworkFlowDraft};
use vsiem_schemas::wire;
use vsiem_topology::{Peer, Topology, Transport};

/// Flows remembered (as reported, and the matrix's verdict), so a disallowed flow is one event,
/// not one per packet. Past this many a memory is cleared (a long-lived bad flow is reported
/// again).
const MAX_REPORTED_FLOWS: usize = 65_536;

/// Payload bytes kept as an event's evidence.
pub const EVIDENCE_BYTES: usize = 256;

/// What the detectors need of one packet, whatever decoded it.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    pub ts_ns: u64,
    /// The outer 802.1Q VLAN id, if the frame was tagged.
    pub vlan: Option<u16>,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Transport and ports, for TCP and UDP.
    pub ports: Option<(Transport, u16, u16)>,
    pub payload: &'a [u8],
    /// The frame's length on the wire.
    pub len: usize,
}

/// One finding, ready to become a security event.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub kind: &'static EventType,
    pub ts_ns: u64,
    /// The ECU the traffic comes from, "" when outside or unknown.
    pub origin: String,
    pub context: ContextDraft,
    pub evidence: Vec<u8>,
}

impl Detection {
    pub fn into_draft(self) -> EventDraft {
        EventDraft {
            event_id: self.kind.id,
            severity: self.kind.severity,
            count: 1,
            timestamp_ns: self.ts_ns,
            origin: self.origin,
            context: self.context,
            evidence: self.evidence,
        }
    }
}

pub struct NetDetector {
    topology: Arc<Topology>,
    backbone_port: u16,
    reported_flows: HashSet<(Transport, SocketAddr, SocketAddr)>,
    /// The matrix's verdict on each directed flow seen: a packet of a known flow costs one
    /// lookup instead of a walk over services and flows.
    verdicts: HashMap<(Transport, SocketAddr, SocketAddr), bool>,
    reported_hosts: HashSet<IpAddr>,
}

impl NetDetector {
    pub fn new(topology: Arc<Topology>, backbone_port: u16) -> Self {
        Self {
            topology,
            backbone_port,
            reported_flows: HashSet::new(),
            verdicts: HashMap::new(),
            reported_hosts: HashSet::new(),
        }
    }

    fn allowed(&mut self, proto: Transport, src: SocketAddr, dst: SocketAddr) -> bool {
        if let Some(verdict) = self.verdicts.get(&(proto, src, dst)) {
            return *verdict;
        }
        let verdict = self
            .topology
            .flow_allowed(proto, src, dst, self.backbone_port)
            || is_multicast_noise(dst.ip());
        if self.verdicts.len() >= MAX_REPORTED_FLOWS {
            self.verdicts.clear();
        }
        self.verdicts.insert((proto, src, dst), verdict);
        verdict
    }

    /// Judges one packet; findings go to `out`.
    pub fn packet(&mut self, p: &Packet<'_>, out: &mut Vec<Detection>) {
        let t = Arc::clone(&self.topology);
        let (src_peer, dst_peer) = (t.peer(p.src), t.peer(p.dst));
        let origin = match src_peer {
            Peer::Ecu(e) => e.name.clone(),
            _ => String::new(),
        };
        let found = |kind| Detection {
            kind,
            ts_ns: p.ts_ns,
            origin: origin.clone(),
            context: ContextDraft::NetworkFlow(flow(p)),
            evidence: Vec::new(),
        };
        if src_peer == Peer::Outside
            && in_vehicle_subnet(&t, p.src)
            && self.reported_hosts.insert(p.src)
        {
            out.push(found(&catalog::NET_UNKNOWN_HOST));
        }
        if let (Some(vlan), Peer::Ecu(ecu)) = (p.vlan, src_peer) {
            let member = ecu
                .interfaces
                .iter()
                .any(|i| t.zone(&i.zone).is_some_and(|z| z.vlan == Some(vlan)));
            if !member {
                out.push(found(&catalog::NET_VLAN_VIOLATION));
            }
        }
        if t.is_intel_address(p.src) || t.is_intel_address(p.dst) {
            let mut d = found(&catalog::IOC_IP);
            if let Peer::Ecu(e) = dst_peer {
                // Traffic from the C&C host: the vehicle-side end is the one compromised.
                d.origin = e.name.clone();
            }
            out.push(d);
        }
        if let Some((proto, sport, dport)) = p.ports {
            let (src, dst) = (SocketAddr::new(p.src, sport), SocketAddr::new(p.dst, dport));
            if !self.allowed(proto, src, dst) {
                let key = if src <= dst {
                    (proto, src, dst)
                } else {
                    (proto, dst, src)
                };
                if self.reported_flows.len() >= MAX_REPORTED_FLOWS {
                    self.reported_flows.clear();
                }
                if self.reported_flows.insert(key) {
                    out.push(found(&catalog::NET_FLOW_NOT_ALLOWED));
                }
            }
        }
    }
}

/// The packet's flow, as events carry it.
pub fn flow(p: &Packet<'_>) -> NetworkFlowDraft {
    let (transport, sport, dport) = match p.ports {
        Some((Transport::Tcp, s, d)) => (wire::Transport::Tcp, s, d),
        Some((Transport::Udp, s, d)) => (wire::Transport::Udp, s, d),
        None => (wire::Transport::Udp, 0, 0),
    };
    NetworkFlowDraft {
        transport,
        src: SocketAddr::new(p.src, sport).to_string(),
        dst: SocketAddr::new(p.dst, dport).to_string(),
        vlan: p.vlan.unwrap_or(0),
        bytes: u64::try_from(p.len).unwrap_or(u64::MAX),
    }
}

/// Whether `ip` lies in one of the vehicle's zone subnets (either addressing).
fn in_vehicle_subnet(t: &Topology, ip: IpAddr) -> bool {
    let IpAddr::V4(ip) = ip.to_canonical() else {
        return false;
    };
    let [a, b, c, _] = ip.octets();
    t.zones.iter().any(|z| {
        let [za, zb, zc, _] = z.subnet.octets();
        (a, b, c) == (za, zb, zc) || (a, b, c) == (127, 0, z.index)
    })
}

/// Link-local multicast and broadcast (mDNS, LLMNR, DHCP): hosts' stacks send them on their
/// own; they are not flows between ECUs.
fn is_multicast_noise(dst: IpAddr) -> bool {
    match dst {
        IpAddr::V4(ip) => {
            ip.is_broadcast() || (ip.is_multicast() && ip.octets()[..3] == [224, 0, 0])
        }
        IpAddr::V6(ip) => ip.is_multicast(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What, the packet, and the findings expected as (event, origin).
    type Case = (
        &'static str,
        Packet<'static>,
        Vec<(&'static str, &'static str)>,
    );

    fn packet(
        vlan: Option<u16>,
        src: &str,
        dst: &str,
        ports: Option<(Transport, u16, u16)>,
    ) -> Packet<'static> {
        Packet {
            ts_ns: 1,
            vlan,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            ports,
            payload: &[],
            len: 60,
        }
    }

    fn judge(d: &mut NetDetector, p: &Packet<'_>) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        d.packet(p, &mut out);
        out.into_iter().map(|d| (d.kind.name, d.origin)).collect()
    }

    #[test]
    fn packets_are_judged_against_the_reference_vehicle() {
        let udp = Transport::Udp;
        let tcp = Transport::Tcp;
        let cases: Vec<Case> = vec![
            (
                "ivi locks, tagged with its zone",
                packet(
                    Some(10),
                    "10.10.1.3",
                    "10.10.2.2",
                    Some((udp, 40000, 30501)),
                ),
                vec![],
            ),
            (
                "body-dc event on the body VLAN",
                packet(
                    Some(20),
                    "10.10.2.2",
                    "10.10.1.3",
                    Some((udp, 30501, 40000)),
                ),
                vec![],
            ),
            (
                "ivi frame on the body VLAN",
                packet(
                    Some(20),
                    "10.10.1.3",
                    "10.10.2.2",
                    Some((udp, 40000, 30501)),
                ),
                vec![("net.vlan_violation", "ivi")],
            ),
            (
                "gateway on any VLAN",
                packet(Some(30), "10.10.3.1", "10.10.3.3", Some((tcp, 7447, 40000))),
                vec![],
            ),
            (
                "ivi to the engine",
                packet(None, "10.10.1.3", "10.10.3.2", Some((udp, 40000, 30521))),
                vec![("net.flow_not_allowed", "ivi")],
            ),
            (
                "stranger in the body zone",
                packet(None, "10.10.2.77", "10.10.2.2", None),
                vec![("net.unknown_host", "")],
            ),
            (
                "ivi to a C&C address",
                packet(None, "10.10.1.3", "203.0.113.66", Some((tcp, 40000, 443))),
                vec![("ioc.ip", "ivi")],
            ),
            (
                "the C&C's answer",
                packet(None, "203.0.113.66", "10.10.1.3", Some((tcp, 443, 40000))),
                vec![("ioc.ip", "ivi")],
            ),
            (
                "mDNS from the ivi",
                packet(None, "10.10.1.3", "224.0.0.251", Some((udp, 5353, 5353))),
                vec![],
            ),
        ];
        for (what, p, want) in cases {
            let mut d = NetDetector::new(Arc::new(Topology::reference()), 7447);
            let want: Vec<(&str, String)> =
                want.into_iter().map(|(n, o)| (n, o.to_owned())).collect();
            assert_eq!(judge(&mut d, &p), want, "{what}");
        }
    }

    #[test]
    fn a_disallowed_flow_and_an_unknown_host_are_reported_once() {
        let mut d = NetDetector::new(Arc::new(Topology::reference()), 7447);
        let there = packet(
            None,
            "10.10.1.3",
            "10.10.3.2",
            Some((Transport::Udp, 40000, 30521)),
        );
        let back = packet(
            None,
            "10.10.3.2",
            "10.10.1.3",
            Some((Transport::Udp, 30521, 40000)),
        );
        assert_eq!(judge(&mut d, &there).len(), 1);
        assert_eq!(judge(&mut d, &there).len(), 0);
        assert_eq!(
            judge(&mut d, &back).len(),
            0,
            "the reply belongs to the same flow"
        );
        let stranger = packet(None, "10.10.2.77", "10.10.2.1", None);
        assert_eq!(judge(&mut d, &stranger).len(), 1);
        assert_eq!(judge(&mut d, &stranger).len(), 0);
    }
}
