//! Addresses derived from the model: IPv4 per deployment mode, and the MAC rule of the contract.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use crate::model::{Ecu, Tester, Topology};

/// Where the vehicle runs: the container testbed uses the zone subnets (10.10.Z.H), the rootless
/// one-machine demo one loopback address per ECU (127.0.Z.H).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressMode {
    Container,
    Loopback,
}

impl AddressMode {
    const ALL: [AddressMode; 2] = [AddressMode::Container, AddressMode::Loopback];
}

/// The MAC of a testbed host: `02:00` (locally administered, unicast) then the four octets of its
/// container address, so that a capture can be read without an ARP table.
pub fn mac_address(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x00, a, b, c, d]
}

/// The container address a MAC of the contract's rule stands for (`02:00:<IPv4>`); `None` for
/// any other MAC.
pub fn owner_of_mac(mac: [u8; 6]) -> Option<Ipv4Addr> {
    match mac {
        [0x02, 0x00, a, b, c, d] => Some(Ipv4Addr::new(a, b, c, d)),
        _ => None,
    }
}

impl Topology {
    /// Host `host` of zone `zone`; `None` if the zone does not exist.
    pub fn host_address(&self, zone: &str, host: u8, mode: AddressMode) -> Option<Ipv4Addr> {
        let zone = self.zone(zone)?;
        Some(match mode {
            AddressMode::Container => {
                let [a, b, c, _] = zone.subnet.octets();
                Ipv4Addr::new(a, b, c, host)
            }
            AddressMode::Loopback => Ipv4Addr::new(127, 0, zone.index, host),
        })
    }

    /// The address of the ECU's first interface.
    pub fn ecu_address(&self, ecu: &str, mode: AddressMode) -> Option<Ipv4Addr> {
        let interface = self.ecu(ecu)?.interfaces.first()?;
        self.host_address(&interface.zone, interface.host, mode)
    }

    /// The ECU owning `ip` on any of its interfaces, in either mode.
    pub fn ecu_by_address(&self, ip: IpAddr) -> Option<&Ecu> {
        match self.hosts.0.get(&as_ipv4(ip)?)? {
            Host::Ecu(index) => self.ecus.get(*index),
            Host::Tester(_) => None,
        }
    }

    /// The tester at `ip`, in either mode.
    pub fn tester_by_address(&self, ip: IpAddr) -> Option<&Tester> {
        match self.hosts.0.get(&as_ipv4(ip)?)? {
            Host::Tester(index) => self.testers.get(*index),
            Host::Ecu(_) => None,
        }
    }

    pub fn vsoc_address(&self, mode: AddressMode) -> Ipv4Addr {
        self.host_address(&self.vsoc.zone, self.vsoc.host, mode)
            .expect("validation guarantees the V-SOC's zone exists")
    }

    /// Whether `ip` is the V-SOC's, in either mode.
    pub fn is_vsoc_address(&self, ip: IpAddr) -> bool {
        as_ipv4(ip).is_some_and(|ip| self.is_at(&self.vsoc.zone, self.vsoc.host, ip))
    }

    /// Whether `a` and `b` are addresses of one ECU or tester (any of its interfaces, either
    /// mode).
    pub fn same_host(&self, a: Ipv4Addr, b: Ipv4Addr) -> bool {
        let host = |ip| self.hosts.0.get(&ip);
        host(a).is_some_and(|h| host(b) == Some(h))
    }

    fn is_at(&self, zone: &str, host: u8, ip: Ipv4Addr) -> bool {
        AddressMode::ALL
            .into_iter()
            .any(|mode| self.host_address(zone, host, mode) == Some(ip))
    }
}

/// Where each ECU and tester address (both modes) points: an index into `ecus` or `testers`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HostIndex(HashMap<Ipv4Addr, Host>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    Ecu(usize),
    Tester(usize),
}

impl HostIndex {
    pub(crate) fn build(t: &Topology) -> Self {
        let mut index = HashMap::new();
        let places = t
            .ecus
            .iter()
            .enumerate()
            .flat_map(|(i, e)| {
                e.interfaces
                    .iter()
                    .map(move |f| (Host::Ecu(i), f.zone.as_str(), f.host))
            })
            .chain(
                t.testers
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (Host::Tester(i), x.zone.as_str(), x.host)),
            );
        for (host, zone, number) in places {
            for mode in AddressMode::ALL {
                if let Some(ip) = t.host_address(zone, number, mode) {
                    // Validation makes addresses unique; the first declaration wins regardless.
                    index.entry(ip).or_insert(host);
                }
            }
        }
        Self(index)
    }
}

/// Sockets bound to `::` report IPv4 peers as IPv4-mapped IPv6 addresses.
fn as_ipv4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip.to_canonical() {
        IpAddr::V4(ip) => Some(ip),
        IpAddr::V6(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_follows_the_container_address() {
        let cases = [
            ("10.10.1.3", [0x02, 0x00, 0x0a, 0x0a, 0x01, 0x03]),
            ("10.10.2.1", [0x02, 0x00, 0x0a, 0x0a, 0x02, 0x01]),
            ("10.20.0.2", [0x02, 0x00, 0x0a, 0x14, 0x00, 0x02]),
            ("10.20.0.10", [0x02, 0x00, 0x0a, 0x14, 0x00, 0x0a]),
        ];
        for (ip, mac) in cases {
            assert_eq!(mac_address(ip.parse().unwrap()), mac, "{ip}");
            assert_eq!(owner_of_mac(mac), Some(ip.parse().unwrap()), "{ip}");
        }
        assert_eq!(owner_of_mac([0x00, 0x1b, 0x0a, 0x0a, 0x01, 0x03]), None);
    }

    #[test]
    fn reference_addresses() {
        let topology = Topology::reference();
        let cases = [
            ("ivi", AddressMode::Loopback, "127.0.1.3"),
            ("ivi", AddressMode::Container, "10.10.1.3"),
            ("body-dc", AddressMode::Container, "10.10.2.2"),
            ("body-dc", AddressMode::Loopback, "127.0.2.2"),
            ("gateway", AddressMode::Container, "10.10.1.1"),
            ("tcu", AddressMode::Container, "10.10.1.2"),
            ("adas-dc", AddressMode::Loopback, "127.0.4.2"),
        ];
        for (ecu, mode, ip) in cases {
            assert_eq!(
                topology.ecu_address(ecu, mode),
                Some(ip.parse().unwrap()),
                "{ecu} {mode:?}"
            );
        }
        assert_eq!(
            topology.vsoc_address(AddressMode::Container),
            Ipv4Addr::new(10, 20, 0, 10)
        );
        assert_eq!(
            topology.vsoc_address(AddressMode::Loopback),
            Ipv4Addr::new(127, 0, 0, 10)
        );
        assert_eq!(
            topology.host_address("diagnostics", 100, AddressMode::Container),
            Some(Ipv4Addr::new(10, 10, 9, 100))
        );
        assert_eq!(
            topology.host_address("nowhere", 1, AddressMode::Container),
            None
        );
        assert_eq!(topology.ecu_address("nobody", AddressMode::Container), None);
    }

    #[test]
    fn reference_reverse_lookup() {
        let topology = Topology::reference();
        let ecus = [
            ("10.10.1.3", Some("ivi")),
            ("127.0.1.3", Some("ivi")),
            ("::ffff:10.10.1.3", Some("ivi")),
            ("10.10.4.1", Some("gateway")),
            ("127.0.9.1", Some("gateway")),
            ("10.20.0.2", Some("tcu")),
            ("127.0.3.3", Some("chassis-dc")),
            ("10.10.9.100", None),
            ("10.20.0.10", None),
            ("203.0.113.66", None),
            ("2001:db8::1", None),
        ];
        for (ip, ecu) in ecus {
            let found = topology.ecu_by_address(ip.parse().unwrap());
            assert_eq!(found.map(|ecu| ecu.name.as_str()), ecu, "{ip}");
        }
        let tester = topology.tester_by_address("10.10.9.100".parse().unwrap());
        assert_eq!(tester.map(|tester| tester.doip_address), Some(0x0E00));
        assert!(topology
            .tester_by_address("127.0.9.100".parse().unwrap())
            .is_some());
        assert!(topology
            .tester_by_address("10.10.9.1".parse().unwrap())
            .is_none());
    }
}
