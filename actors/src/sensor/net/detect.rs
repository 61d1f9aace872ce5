//! The network detectors: judge each decoded packet against the topology (communication matrix,
//! zones and VLANs, hosts, threat intelligence). Pure and synchronous: the live capture and the
//! offline replay feed the same detector.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use vsiem_schemas::catalog::{self, EventType};
use vsiem_schemas::encode::{ContextDraft, EventDraft, NetworkFlowDraft};
use vsiem_schemas::wire;
use vsiem_topology::{owner_of_mac, Peer, Topology, Transport};

use super::frame::Mac;

/// Flows remembered (as reported, and the matrix's verdict), so a disallowed flow is one event,
/// not one per packet. Past this many a memory is cleared (a long-lived bad flow is reported
/// again).
const MAX_REPORTED_FLOWS: usize = 65_536;

/// What the detectors need of one packet, whatever decoded it.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    pub ts_ns: u64,
    /// The outer 802.1Q VLAN id, if the frame was tagged.
    pub vlan: Option<u16>,
    /// The frame's source MAC, when the link layer records one.
    pub src_mac: Option<Mac>,
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
    reported_flows: Reported<FlowId>,
    /// Connections with a threat-intel address already reported: one `ioc.ip` per connection,
    /// not per packet.
    reported_intel: Reported<FlowId>,
    /// The matrix's verdict on each directed flow seen: a packet of a known flow costs one
    /// lookup instead of a walk over services and flows.
    verdicts: HashMap<(Transport, SocketAddr, SocketAddr), bool>,
    reported_hosts: HashSet<IpAddr>,
    /// What each source did in its current window, for scans and floods.
    activity: HashMap<IpAddr, Window>,
}

/// How long a source's activity is counted before its counters start again.
pub const WINDOW_NS: u64 = 1_000_000_000;
/// Distinct destinations (address and port) outside the matrix, in one window, that make a
/// port scan.
pub const SCAN_DESTINATIONS: usize = 16;
/// Packets from one source in one window that make a flood: ten times the busiest cyclic
/// signal of the reference vehicle (Speed, every 10 ms) across all its subscribers.
pub const FLOOD_PACKETS: u64 = 10_000;
/// Sources tracked at once; past this the tracking starts over (a spoofed-source flood must not
/// grow memory).
const MAX_SOURCES: usize = 4096;

#[derive(Debug, Default)]
struct Window {
    start_ns: u64,
    packets: u64,
    destinations: HashSet<SocketAddr>,
    scan_reported: bool,
    flood_reported: bool,
}

impl NetDetector {
    pub fn new(topology: Arc<Topology>, backbone_port: u16) -> Self {
        Self {
            topology,
            backbone_port,
            reported_flows: Reported::default(),
            reported_intel: Reported::default(),
            verdicts: HashMap::new(),
            reported_hosts: HashSet::new(),
            activity: HashMap::new(),
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

    /// Judges an ARP message: a host of the topology answering from a MAC that is not its own
    /// (the contract's 02:00:<IPv4> of any of its interfaces) is someone taking its address.
    /// Any of its interfaces: by default (`arp_announce` 0) Linux asks from the source address
    /// of the packet it is resolving for, which on a multi-homed ECU (the gateway answering on
    /// the body zone for its infotainment address) belongs to another interface.
    pub fn arp(
        &mut self,
        ts_ns: u64,
        sender_mac: [u8; 6],
        sender_ip: Ipv4Addr,
        out: &mut Vec<Detection>,
    ) {
        let ip = IpAddr::V4(sender_ip);
        let known = self.topology.ecu_by_address(ip).is_some()
            || self.topology.tester_by_address(ip).is_some();
        let its_own =
            owner_of_mac(sender_mac).is_some_and(|owner| self.topology.same_host(owner, sender_ip));
        if known && !its_own {
            let flow = NetworkFlowDraft {
                transport: wire::Transport::Udp,
                src: format!("{sender_ip} is-at {}", Mac(sender_mac)),
                dst: String::new(),
                vlan: 0,
                bytes: 0,
            };
            out.push(Detection {
                kind: &catalog::NET_ARP_SPOOF,
                ts_ns,
                origin: String::new(),
                context: ContextDraft::NetworkFlow(flow),
                evidence: Vec::new(),
            });
        }
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
        // The VLAN is judged against the frame's sender on the link (its MAC, by the
        // contract's rule), not the packet's IP source: a packet the gateway routed between
        // zones carries the gateway's MAC on the destination zone and the IP source of an ECU
        // in another zone. Without a contract MAC the IP source is the sender.
        let sender = p
            .src_mac
            .and_then(|mac| owner_of_mac(mac.0))
            .map_or(src_peer, |ip| t.peer(IpAddr::V4(ip)));
        if let (Some(vlan), Peer::Ecu(ecu)) = (p.vlan, sender) {
            let member = ecu
                .interfaces
                .iter()
                .any(|i| t.zone(&i.zone).is_some_and(|z| z.vlan == Some(vlan)));
            if !member {
                out.push(Detection {
                    origin: ecu.name.clone(),
                    ..found(&catalog::NET_VLAN_VIOLATION)
                });
            }
        }
        if (t.is_intel_address(p.src) || t.is_intel_address(p.dst))
            && self.reported_intel.first(flow_id(p))
        {
            let mut d = found(&catalog::IOC_IP);
            if let Peer::Ecu(e) = dst_peer {
                // Traffic from the C&C host: the vehicle-side end is the one compromised.
                d.origin = e.name.clone();
            }
            out.push(d);
        }
        if self.activity.len() >= MAX_SOURCES && !self.activity.contains_key(&p.src) {
            self.activity.clear();
        }
        let window = self.activity.entry(p.src).or_default();
        if p.ts_ns.saturating_sub(window.start_ns) >= WINDOW_NS {
            *window = Window {
                start_ns: p.ts_ns,
                ..Window::default()
            };
        }
        window.packets += 1;
        if window.packets >= FLOOD_PACKETS && !window.flood_reported {
            window.flood_reported = true;
            out.push(found(&catalog::NET_FLOOD));
        }
        if let Some((proto, sport, dport)) = p.ports {
            let (src, dst) = (SocketAddr::new(p.src, sport), SocketAddr::new(p.dst, dport));
            if !self.allowed(proto, src, dst) {
                let window = self.activity.entry(p.src).or_default();
                if !window.scan_reported
                    && window.destinations.insert(dst)
                    && window.destinations.len() >= SCAN_DESTINATIONS
                {
                    window.scan_reported = true;
                    window.destinations = HashSet::new();
                    out.push(found(&catalog::NET_PORT_SCAN));
                }
                if self.reported_flows.first(flow_id(p)) {
                    out.push(found(&catalog::NET_FLOW_NOT_ALLOWED));
                }
            }
        }
    }
}

/// A connection, either direction: transport (none for other protocols) and its two ends,
/// ordered.
type FlowId = (Option<Transport>, SocketAddr, SocketAddr);

fn flow_id(p: &Packet<'_>) -> FlowId {
    let (proto, sport, dport) = match p.ports {
        Some((proto, s, d)) => (Some(proto), s, d),
        None => (None, 0, 0),
    };
    let (src, dst) = (SocketAddr::new(p.src, sport), SocketAddr::new(p.dst, dport));
    (proto, src.min(dst), src.max(dst))
}

/// What was already reported, so that it is reported once. Past `MAX_REPORTED_FLOWS` entries
/// the memory is cleared (a long-lived finding is reported again rather than memory growing).
#[derive(Debug)]
struct Reported<K>(HashSet<K>);

impl<K> Default for Reported<K> {
    fn default() -> Self {
        Self(HashSet::new())
    }
}

impl<K: std::hash::Hash + Eq> Reported<K> {
    /// True the first time `key` is seen.
    fn first(&mut self, key: K) -> bool {
        if self.0.len() >= MAX_REPORTED_FLOWS {
            self.0.clear();
        }
        self.0.insert(key)
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
    use vsiem_topology::mac_address;

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
            src_mac: None,
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

    /// `p` as sent on the link by the host with the contract's MAC for `ip`.
    fn sent_by(ip: &str, p: Packet<'static>) -> Packet<'static> {
        Packet {
            src_mac: Some(Mac(mac_address(ip.parse().unwrap()))),
            ..p
        }
    }

    #[test]
    fn packets_are_judged_against_the_reference_vehicle() {
        let udp = Transport::Udp;
        let tcp = Transport::Tcp;
        let ivi_lock_on_body_vlan = packet(
            Some(20),
            "10.10.1.3",
            "10.10.2.2",
            Some((udp, 40000, 30501)),
        );
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
                "the gateway routes the ivi's Lock onto the body VLAN",
                sent_by("10.10.2.1", ivi_lock_on_body_vlan),
                vec![],
            ),
            (
                "the ivi's own MAC on the body VLAN",
                sent_by("10.10.1.3", ivi_lock_on_body_vlan),
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

    #[test]
    fn a_threat_intel_address_is_reported_once_per_connection() {
        let mut d = NetDetector::new(Arc::new(Topology::reference()), 7447);
        let tcp = Some((Transport::Tcp, 40000, 443));
        let out = packet(None, "10.10.1.3", "203.0.113.66", tcp);
        let back = packet(
            None,
            "203.0.113.66",
            "10.10.1.3",
            Some((Transport::Tcp, 443, 40000)),
        );
        let other = packet(
            None,
            "10.10.1.3",
            "203.0.113.66",
            Some((Transport::Tcp, 40001, 443)),
        );
        let seen: Vec<usize> = [out, back, out, back, other, other]
            .iter()
            .map(|p| judge(&mut d, p).len())
            .collect();
        assert_eq!(seen, [1, 0, 0, 0, 1, 0]);
    }

    fn kinds(out: &[Detection], kind: &str) -> usize {
        out.iter().filter(|d| d.kind.name == kind).count()
    }

    #[test]
    fn many_destinations_outside_the_matrix_within_a_second_are_a_port_scan() {
        let mut d = NetDetector::new(Arc::new(Topology::reference()), 7447);
        let mut out = Vec::new();
        for (i, port) in (31_000..31_040u16).enumerate() {
            let mut p = packet(
                None,
                "10.10.1.3",
                "10.10.2.2",
                Some((Transport::Tcp, 40_000, port)),
            );
            p.ts_ns = 1 + i as u64 * 10_000_000; // 40 probes over 0.4 s
            d.packet(&p, &mut out);
        }
        assert_eq!(kinds(&out, "net.port_scan"), 1, "one scan per window");
        assert_eq!(kinds(&out, "net.flow_not_allowed"), 40);
        let origin = out
            .iter()
            .find(|d| d.kind.name == "net.port_scan")
            .map(|d| d.origin.as_str());
        assert_eq!(origin, Some("ivi"));

        // Fewer destinations, spread over seconds, are no scan.
        let mut d = NetDetector::new(Arc::new(Topology::reference()), 7447);
        let mut out = Vec::new();
        for (i, port) in (31_000..31_040u16).enumerate() {
            let mut p = packet(
                None,
                "10.10.1.3",
                "10.10.2.2",
                Some((Transport::Tcp, 40_000, port)),
            );
            p.ts_ns = 1 + i as u64 * 200_000_000; // one probe every 0.2 s: 5 per window
            d.packet(&p, &mut out);
        }
        assert_eq!(kinds(&out, "net.port_scan"), 0);
    }

    #[test]
    fn a_flood_is_reported_once_per_window() {
        let mut d = NetDetector::new(Arc::new(Topology::reference()), 7447);
        let mut out = Vec::new();
        let mut p = packet(
            None,
            "10.10.1.2",
            "10.10.2.2",
            Some((Transport::Udp, 40_000, 30_501)),
        );
        for i in 0..(4 * FLOOD_PACKETS) {
            p.ts_ns = 1 + i * 50_000; // 20,000 packets/s for 2 s
            d.packet(&p, &mut out);
        }
        assert_eq!(
            kinds(&out, "net.flood"),
            2,
            "one per second of flooding: {}",
            out.len()
        );
        let mut quiet = NetDetector::new(Arc::new(Topology::reference()), 7447);
        let mut out = Vec::new();
        for i in 0..FLOOD_PACKETS {
            p.ts_ns = 1 + i * 200_000; // 5,000 packets/s
            quiet.packet(&p, &mut out);
        }
        assert_eq!(kinds(&out, "net.flood"), 0);
    }

    #[test]
    fn arp_for_a_known_host_from_another_mac_is_spoofing() {
        let mut d = NetDetector::new(Arc::new(Topology::reference()), 7447);
        let body: Ipv4Addr = "10.10.2.2".parse().unwrap();
        let cases = [
            ("body-dc answers for itself", mac_address(body), body, 0),
            (
                "the ivi's MAC claims body-dc",
                mac_address("10.10.1.3".parse().unwrap()),
                body,
                1,
            ),
            (
                "the gateway asks on the body zone for its infotainment address",
                mac_address("10.10.2.1".parse().unwrap()),
                "10.10.1.1".parse().unwrap(),
                0,
            ),
            (
                "a stranger's address",
                [2, 0, 1, 2, 3, 4],
                "10.10.2.77".parse().unwrap(),
                0,
            ),
        ];
        for (what, mac, ip, want) in cases {
            let mut out = Vec::new();
            d.arp(1, mac, ip, &mut out);
            assert_eq!(kinds(&out, "net.arp_spoof"), want, "{what}");
        }
    }
}
