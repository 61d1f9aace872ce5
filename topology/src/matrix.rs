//! The communication matrix: which flows between the vehicle's hosts the topology allows.
//! Automotive networks are static, so a flow outside the matrix is the strongest and
//! lowest-false-positive signal a network sensor has.
//!
//! Allowed, in one direction or as the reply to it: SOME/IP method calls (client to the
//! provider's service port) and events (from the provider's service port to a subscriber),
//! SOME/IP-SD between ECUs and to the SD multicast group, DoIP from a tester to a DoIP entity,
//! every ECU's uplink to the gateway's backbone port, and the declared `[[flows]]`.

use std::net::{IpAddr, SocketAddr};

use crate::model::{Ecu, Tester, Topology, Transport, OUTSIDE, VSOC};

/// Who is at an address, as far as the topology knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer<'a> {
    Ecu(&'a Ecu),
    Tester(&'a Tester),
    Vsoc,
    /// Any address of no host of the vehicle: the Internet, or an intruder.
    Outside,
}

impl Peer<'_> {
    /// The name a flow of the topology uses for this peer.
    pub fn name(&self) -> &str {
        match self {
            Peer::Ecu(e) => &e.name,
            Peer::Tester(t) => &t.name,
            Peer::Vsoc => VSOC,
            Peer::Outside => OUTSIDE,
        }
    }
}

impl Topology {
    pub fn peer(&self, ip: IpAddr) -> Peer<'_> {
        if let Some(ecu) = self.ecu_by_address(ip) {
            Peer::Ecu(ecu)
        } else if let Some(tester) = self.tester_by_address(ip) {
            Peer::Tester(tester)
        } else if self.is_vsoc_address(ip) {
            Peer::Vsoc
        } else {
            Peer::Outside
        }
    }

    /// Whether a packet from `src` to `dst` belongs to an allowed flow, as its request or as the
    /// reply to one. `backbone_port` is the TCP port of vsiem's own backbone on the gateway.
    pub fn flow_allowed(
        &self,
        proto: Transport,
        src: SocketAddr,
        dst: SocketAddr,
        backbone_port: u16,
    ) -> bool {
        self.notifies(proto, src, dst)
            || self.opens(proto, src, dst, backbone_port)
            || self.opens(proto, dst, src, backbone_port)
    }

    /// Whether `from` may send SOME/IP events to `to`: from the service port of a provider to a
    /// subscriber, one way only (subscribing goes through SOME/IP-SD).
    fn notifies(&self, proto: Transport, from: SocketAddr, to: SocketAddr) -> bool {
        let (a, b) = (self.peer(from.ip()), self.peer(to.ip()));
        self.services
            .iter()
            .filter(|s| s.transport == proto && s.port == from.port() && s.provider == a.name())
            .any(|s| {
                s.events
                    .iter()
                    .any(|e| e.subscribers.iter().any(|n| n == b.name()))
            })
    }

    /// Whether `from` may open a request/response flow to `to`.
    fn opens(
        &self,
        proto: Transport,
        from: SocketAddr,
        to: SocketAddr,
        backbone_port: u16,
    ) -> bool {
        let (a, b) = (self.peer(from.ip()), self.peer(to.ip()));
        let (a_name, b_name) = (a.name(), b.name());
        let calls = self
            .services
            .iter()
            .filter(|s| s.transport == proto)
            .any(|s| {
                to.port() == s.port
                    && s.provider == b_name
                    && s.methods.iter().any(|m| m.allows(a_name))
            });
        let both_ecus = matches!((a, b), (Peer::Ecu(_), Peer::Ecu(_)));
        let sd_multicast =
            IpAddr::V4(self.someip.sd_multicast) == to.ip() && matches!(a, Peer::Ecu(_));
        let sd = proto == Transport::Udp
            && to.port() == self.someip.sd_port
            && (both_ecus || sd_multicast);
        let doip = to.port() == self.diagnostics.port
            && matches!(a, Peer::Tester(t) if self.diagnostics.testers.contains(&t.name))
            && matches!(b, Peer::Ecu(e) if e.doip_address.is_some());
        let gateway = &self.gateway().name;
        let backbone = proto == Transport::Tcp
            && to.port() == backbone_port
            && matches!(a, Peer::Ecu(_))
            && b_name == gateway;
        let declared = self.flows.iter().any(|f| {
            f.proto == proto
                && f.from == a_name
                && f.to == b_name
                && (f.ports.is_empty() || f.ports.contains(&to.port()))
        });
        calls || sd || doip || backbone || declared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_matrix_allows_exactly_its_flows() {
        let t = Topology::reference();
        let at = |s: &str| -> SocketAddr { s.parse().unwrap() };
        let (udp, tcp) = (Transport::Udp, Transport::Tcp);
        let cases = [
            (
                "ivi locks the doors",
                udp,
                "10.10.1.3:40000",
                "10.10.2.2:30501",
                true,
            ),
            (
                "the reply to it",
                udp,
                "10.10.2.2:30501",
                "10.10.1.3:40000",
                true,
            ),
            (
                "tcu unlocks, loopback addressing",
                udp,
                "127.0.1.2:40000",
                "127.0.2.2:30501",
                true,
            ),
            (
                "the ivi's immobilizer state query",
                udp,
                "10.10.1.3:40000",
                "10.10.2.2:30502",
                true,
            ),
            (
                "chassis speed event to adas",
                udp,
                "10.10.3.3:30511",
                "10.10.4.2:50000",
                true,
            ),
            (
                "chassis speed event to body-dc, no subscriber",
                udp,
                "10.10.3.3:30511",
                "10.10.2.2:50000",
                false,
            ),
            (
                "ivi calls the engine",
                udp,
                "10.10.1.3:40000",
                "10.10.3.2:30521",
                false,
            ),
            (
                "SD between ECUs",
                udp,
                "10.10.1.3:30490",
                "10.10.2.2:30490",
                true,
            ),
            (
                "SD to the multicast group",
                udp,
                "10.10.2.2:30490",
                "224.224.224.245:30490",
                true,
            ),
            (
                "SD from outside",
                udp,
                "203.0.113.66:30490",
                "10.10.2.2:30490",
                false,
            ),
            (
                "tester DoIP to the gateway",
                tcp,
                "10.10.9.100:50000",
                "10.10.9.1:13400",
                true,
            ),
            (
                "ivi DoIP to the gateway",
                tcp,
                "10.10.1.3:50000",
                "10.10.1.1:13400",
                false,
            ),
            (
                "gateway escalation to the V-SOC through the tcu",
                tcp,
                "10.10.1.1:50000",
                "10.20.0.10:7447",
                true,
            ),
            (
                "ivi DNS via the tcu",
                udp,
                "10.10.1.3:5353",
                "10.10.1.2:53",
                true,
            ),
            (
                "ivi HTTPS to the Internet",
                tcp,
                "10.10.1.3:50000",
                "93.184.216.34:443",
                true,
            ),
            (
                "ivi telnet to the Internet",
                tcp,
                "10.10.1.3:50000",
                "93.184.216.34:23",
                false,
            ),
            (
                "body-dc to the Internet",
                tcp,
                "10.10.2.2:50000",
                "93.184.216.34:443",
                false,
            ),
            (
                "body-dc's sensor uplink",
                tcp,
                "10.10.2.2:50000",
                "10.10.2.1:7447",
                true,
            ),
            (
                "the tcu's uplink to the V-SOC",
                tcp,
                "10.20.0.2:50000",
                "10.20.0.10:7447",
                true,
            ),
            (
                "ivi to the tcu's telnet",
                tcp,
                "10.10.1.3:50000",
                "10.10.1.2:23",
                false,
            ),
        ];
        for (what, proto, src, dst, want) in cases {
            assert_eq!(
                t.flow_allowed(proto, at(src), at(dst), 7447),
                want,
                "{what}"
            );
        }
    }

    #[test]
    fn peers_are_found_in_either_addressing() {
        let t = Topology::reference();
        let name = |ip: &str| t.peer(ip.parse().unwrap()).name().to_owned();
        assert_eq!(name("10.10.1.3"), "ivi");
        assert_eq!(name("127.0.2.2"), "body-dc");
        assert_eq!(name("10.10.9.100"), "tester");
        assert_eq!(name("10.20.0.10"), VSOC);
        assert_eq!(name("203.0.113.66"), OUTSIDE);
        assert_eq!(name("10.10.1.77"), OUTSIDE);
    }
}
