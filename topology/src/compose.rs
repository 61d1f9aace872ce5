//! The container testbed's compose file (docker-compose, file format 2.4), derived from the
//! topology: one network per zone, one container per ECU at its container addresses, the V-SOC
//! on its external zone, resources per ECU class, and the routes of the vehicle (zones through
//! the gateway, the V-SOC through the TCU). The attacker reaches the IVI over the IVI's radio
//! (its Wi-Fi hotspot), a network of the testbed outside the topology, as the reference
//! attack's exploit does: no backbone sensor sees the exploit, only its effects on the IVI.
//! What each container runs is the caller's (`Programs`): this crate knows the vehicle, not
//! the binary's command line.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::Serialize;

use crate::model::{Ecu, EcuRole, Topology};
use crate::{pki, AddressMode};

/// Where every container keeps what it writes (the harness mounts one host directory each).
pub const STATE_DIR: &str = "/var/lib/vsiem";
/// Where the topology's directory is mounted, read-only.
pub const TOPOLOGY_DIR: &str = "/etc/vsiem/topology";
/// Where a container's identity files of the PKI are mounted, read-only.
pub const PKI_DIR: &str = "/etc/vsiem/pki";
/// The service names of the two containers that are not ECUs.
pub const VSOC: &str = pki::VSOC;
pub const ATTACKER: &str = "attacker";
/// The IVIs' radio network, where the attacker is; not a zone of the vehicle. Each IVI is its
/// host number of its primary zone there, the attacker `ATTACKER_HOST`.
pub const RADIO: &str = "radio";
pub const RADIO_SUBNET: Ipv4Addr = Ipv4Addr::new(10, 30, 0, 0);
const ATTACKER_HOST: u8 = 66;
/// Linux's limit on an interface name (IFNAMSIZ - 1): containers name their links after zones.
const IFNAME_MAX: usize = 15;

/// What one container of the testbed is.
#[derive(Debug, Clone, Copy)]
pub enum Container<'a> {
    Ecu(&'a Ecu),
    Vsoc,
    Attacker,
}

impl Container<'_> {
    pub fn name(&self) -> &str {
        match self {
            Container::Ecu(ecu) => &ecu.name,
            Container::Vsoc => VSOC,
            Container::Attacker => ATTACKER,
        }
    }
}

/// The command lines (busybox `sh` syntax) a container runs, all at once.
pub type Programs<'a> = dyn Fn(&Container<'_>) -> Vec<String> + 'a;

/// Host paths the compose file mounts; absolute, since compose resolves relative ones against
/// the file's own directory.
#[derive(Debug, Clone, Copy)]
pub struct Mounts<'a> {
    /// The topology file; its directory is mounted (the threat-intel file lies beside it).
    pub topology: &'a Path,
    /// The PKI directory (`vsiem pki init`); each container gets only its identities' files.
    pub pki: &'a Path,
    /// One subdirectory per container is mounted writable at `STATE_DIR`.
    pub state: &'a Path,
}

/// CPUs and memory of a container, approximating its ECU class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resources {
    pub cpus: f64,
    pub memory_mib: u32,
}

/// IVI and TCU: application processors; domain controllers: small SoCs; the gateway in between.
/// The V-SOC is off the car (a server's slice); the attacker, a laptop's sliver.
pub fn resources(container: &Container<'_>) -> Resources {
    let (cpus, memory_mib) = match container {
        Container::Ecu(ecu) => match ecu.role {
            EcuRole::Ivi | EcuRole::Tcu => (1.0, 512),
            EcuRole::DomainController => (0.5, 128),
            EcuRole::Gateway => (1.0, 256),
        },
        Container::Vsoc => (1.0, 512),
        Container::Attacker => (0.5, 128),
    };
    Resources { cpus, memory_mib }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ComposeError {
    #[error("zone {0}: its name is longer than an interface name may be ({IFNAME_MAX} bytes)")]
    ZoneName(String),
    #[error("zone {0} is external but no ECU links it to the gateway's zones")]
    NoUplink(String),
    #[error("zone {0} uses the testbed's radio subnet {RADIO_SUBNET}/24 (or its name)")]
    RadioClash(String),
    #[error("{0}: the attacker's address on the radio network is an IVI's")]
    AttackerClash(String),
    #[error("cannot write the compose file: {0}")]
    Yaml(String),
}

#[derive(Debug, Serialize)]
struct File {
    version: &'static str,
    networks: BTreeMap<String, Network>,
    services: BTreeMap<String, Service>,
}

#[derive(Debug, Serialize)]
struct Network {
    /// Always false. Docker isolates an internal network by dropping, in the host's FORWARD
    /// chain (which sees bridged frames under br_netfilter), every packet whose source is
    /// outside the network's subnet: exactly the packets the gateway routes between zones.
    /// The traffic stays on the machine anyway: no container routes through Docker's address.
    internal: bool,
    ipam: Ipam,
}

#[derive(Debug, Serialize)]
struct Ipam {
    config: Vec<Subnet>,
}

#[derive(Debug, Serialize)]
struct Subnet {
    subnet: String,
    gateway: String,
}

#[derive(Debug, Serialize)]
struct Service {
    image: String,
    hostname: String,
    cpus: f64,
    mem_limit: String,
    cap_add: Vec<&'static str>,
    sysctls: BTreeMap<&'static str, &'static str>,
    environment: BTreeMap<&'static str, String>,
    networks: BTreeMap<String, Attachment>,
    volumes: Vec<String>,
    stop_grace_period: &'static str,
    command: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Attachment {
    ipv4_address: Ipv4Addr,
}

/// The compose file of `topology`'s testbed, as YAML.
pub fn compose(
    topology: &Topology,
    image: &str,
    mounts: &Mounts<'_>,
    programs: &Programs<'_>,
) -> Result<String, ComposeError> {
    let plan = Plan::new(topology)?;
    let mut services = BTreeMap::new();
    let containers = topology
        .ecus
        .iter()
        .map(Container::Ecu)
        .chain([Container::Vsoc, Container::Attacker]);
    for container in containers {
        let service = plan.service(&container, image, mounts, programs(&container));
        services.insert(container.name().to_owned(), service);
    }
    let file = File {
        version: "2.4",
        networks: plan.networks(),
        services,
    };
    serde_yaml_ng::to_string(&file).map_err(|e| ComposeError::Yaml(e.to_string()))
}

/// The addresses every container's links and routes are made of.
struct Plan<'a> {
    topology: &'a Topology,
    /// For each external zone: the ECU that links it to the vehicle (the TCU), its address on
    /// the external zone, and its address on a zone of the gateway's.
    uplinks: BTreeMap<&'a str, (Ipv4Addr, Ipv4Addr)>,
    /// Each IVI's container address and its address on the radio network.
    radios: Vec<(&'a str, Ipv4Addr, Ipv4Addr)>,
}

impl<'a> Plan<'a> {
    fn new(t: &'a Topology) -> Result<Self, ComposeError> {
        if let Some(z) = t.zones.iter().find(|z| z.name.len() > IFNAME_MAX) {
            return Err(ComposeError::ZoneName(z.name.clone()));
        }
        let gateway_zones: Vec<&str> = t
            .gateway()
            .interfaces
            .iter()
            .map(|i| i.zone.as_str())
            .collect();
        let at = |zone: &str, host| {
            t.host_address(zone, host, AddressMode::Container)
                .expect("validation guarantees every interface's zone exists")
        };
        let mut uplinks = BTreeMap::new();
        for zone in t.zones.iter().filter(|z| z.external) {
            let uplink = t.ecus.iter().find_map(|ecu| {
                let outside = ecu.interfaces.iter().find(|i| i.zone == zone.name)?;
                let inside = ecu
                    .interfaces
                    .iter()
                    .find(|i| gateway_zones.contains(&i.zone.as_str()))?;
                Some((
                    at(&outside.zone, outside.host),
                    at(&inside.zone, inside.host),
                ))
            });
            let uplink = uplink.ok_or_else(|| ComposeError::NoUplink(zone.name.clone()))?;
            uplinks.insert(zone.name.as_str(), uplink);
        }
        if let Some(z) = t
            .zones
            .iter()
            .find(|z| z.subnet == RADIO_SUBNET || z.name == RADIO)
        {
            return Err(ComposeError::RadioClash(z.name.clone()));
        }
        let [a, b, c, _] = RADIO_SUBNET.octets();
        let mut radios = Vec::new();
        for ecu in t.ecus.iter().filter(|e| e.role == EcuRole::Ivi) {
            let Some(primary) = ecu.interfaces.first() else {
                continue;
            };
            if primary.host == ATTACKER_HOST {
                return Err(ComposeError::AttackerClash(ecu.name.clone()));
            }
            let radio = Ipv4Addr::new(a, b, c, primary.host);
            radios.push((ecu.name.as_str(), at(&primary.zone, primary.host), radio));
        }
        Ok(Self {
            topology: t,
            uplinks,
            radios,
        })
    }

    /// One network per zone; Docker's own address on it (the host's bridge) is .254,
    /// since the vehicle's hosts start at .1.
    fn networks(&self) -> BTreeMap<String, Network> {
        let network = |subnet: Ipv4Addr| {
            let [a, b, c, _] = subnet.octets();
            Network {
                internal: false,
                ipam: Ipam {
                    config: vec![Subnet {
                        subnet: format!("{subnet}/24"),
                        gateway: Ipv4Addr::new(a, b, c, 254).to_string(),
                    }],
                },
            }
        };
        self.topology
            .zones
            .iter()
            .map(|z| (z.name.clone(), network(z.subnet)))
            .chain([(RADIO.to_owned(), network(RADIO_SUBNET))])
            .collect()
    }

    fn attacker_address() -> Ipv4Addr {
        let [a, b, c, _] = RADIO_SUBNET.octets();
        Ipv4Addr::new(a, b, c, ATTACKER_HOST)
    }

    /// The container's (zone, address) links.
    fn links(&self, container: &Container<'_>) -> Vec<(String, Ipv4Addr)> {
        let t = self.topology;
        match container {
            Container::Ecu(ecu) => ecu
                .interfaces
                .iter()
                .filter_map(|i| {
                    let ip = t.host_address(&i.zone, i.host, AddressMode::Container)?;
                    Some((i.zone.clone(), ip))
                })
                .chain(
                    self.radios
                        .iter()
                        .filter(|(name, ..)| *name == ecu.name)
                        .map(|(_, _, radio)| (RADIO.to_owned(), *radio)),
                )
                .collect(),
            Container::Vsoc => vec![(t.vsoc.zone.clone(), t.vsoc_address(AddressMode::Container))],
            Container::Attacker => vec![(RADIO.to_owned(), Self::attacker_address())],
        }
    }

    /// Routes as "DESTINATION=VIA": the gateway reaches external zones through their uplink;
    /// hosts on an external zone reach the vehicle's zones through it too; every other ECU
    /// sends through the gateway of its primary zone. The attacker reaches only the IVIs' own
    /// addresses, over their radio.
    fn routes(&self, container: &Container<'_>) -> Vec<String> {
        let t = self.topology;
        let links = self.links(container);
        let Some((primary_zone, _)) = links.first() else {
            return Vec::new();
        };
        let external = t.zone(primary_zone).is_some_and(|z| z.external);
        match container {
            Container::Attacker => self
                .radios
                .iter()
                .map(|(_, ip, radio)| format!("{ip}/32={radio}"))
                .collect(),
            Container::Ecu(ecu) if ecu.role == EcuRole::Gateway => self
                .uplinks
                .iter()
                .filter_map(|(zone, (_, inside))| {
                    Some(format!("{}/24={inside}", t.zone(zone)?.subnet))
                })
                .collect(),
            _ if external => {
                let Some((outside, _)) = self.uplinks.get(primary_zone.as_str()) else {
                    return Vec::new();
                };
                t.zones
                    .iter()
                    .filter(|z| !z.external)
                    .map(|z| format!("{}/24={outside}", z.subnet))
                    .collect()
            }
            _ => {
                let gateway = t
                    .gateway()
                    .interfaces
                    .iter()
                    .find(|i| &i.zone == primary_zone);
                gateway
                    .and_then(|i| t.host_address(&i.zone, i.host, AddressMode::Container))
                    .map(|ip| vec![format!("default={ip}")])
                    .unwrap_or_default()
            }
        }
    }

    fn service(
        &self,
        container: &Container<'_>,
        image: &str,
        mounts: &Mounts<'_>,
        command: Vec<String>,
    ) -> Service {
        let name = container.name();
        let links = self.links(container);
        let resources = resources(container);
        // Only ECUs between two of the vehicle's networks route (not the IVI onto its radio).
        let forwards = matches!(container, Container::Ecu(e) if e.interfaces.len() > 1);
        let sysctls = BTreeMap::from([
            ("net.ipv6.conf.all.disable_ipv6", "1"),
            ("net.ipv4.ip_forward", if forwards { "1" } else { "0" }),
        ]);
        let topology_file = mounts
            .topology
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let topology_dir = mounts.topology.parent().unwrap_or(Path::new("/"));
        let environment = BTreeMap::from([
            (
                "VSIEM_LINKS",
                links
                    .iter()
                    .map(|(zone, ip)| format!("{ip}={zone}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            ("VSIEM_ROUTES", self.routes(container).join(" ")),
            ("VSIEM_TOPOLOGY", format!("{TOPOLOGY_DIR}/{topology_file}")),
            ("VSIEM_PKI", PKI_DIR.to_owned()),
            ("RUST_LOG", "warn".to_owned()),
        ]);
        let mut volumes = vec![
            format!("{}:{TOPOLOGY_DIR}:ro", topology_dir.display()),
            format!("{}:{STATE_DIR}", mounts.state.join(name).display()),
        ];
        let identities: Vec<&str> = match container {
            Container::Ecu(ecu) if ecu.role == EcuRole::Gateway => vec![name, pki::MONITOR],
            Container::Ecu(_) | Container::Vsoc => vec![name],
            Container::Attacker => Vec::new(),
        };
        if !identities.is_empty() {
            let ca = mounts.pki.join(pki::CA_FILE);
            volumes.push(format!("{}:{PKI_DIR}/{}:ro", ca.display(), pki::CA_FILE));
        }
        for identity in identities {
            let files = pki::files(mounts.pki, identity);
            for file in [files.certificate, files.key] {
                let base = file.file_name().unwrap_or_default().to_string_lossy();
                volumes.push(format!("{}:{PKI_DIR}/{base}:ro", file.display()));
            }
        }
        Service {
            image: image.to_owned(),
            hostname: name.to_owned(),
            cpus: resources.cpus,
            mem_limit: format!("{}m", resources.memory_mib),
            cap_add: vec!["NET_ADMIN", "NET_RAW"],
            sysctls,
            environment,
            networks: links
                .into_iter()
                .map(|(zone, ipv4_address)| (zone, Attachment { ipv4_address }))
                .collect(),
            volumes,
            stop_grace_period: "3s",
            command,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml_ng::Value;

    fn reference() -> Value {
        let topology = Topology::reference();
        let mounts = Mounts {
            topology: Path::new("/v/topology/reference.toml"),
            pki: Path::new("/v/pki"),
            state: Path::new("/v/state"),
        };
        let programs = |c: &Container<'_>| vec![format!("run {}", c.name())];
        let yaml = compose(&topology, "vsiem-testbed:t", &mounts, &programs).unwrap();
        serde_yaml_ng::from_str(&yaml).unwrap()
    }

    fn text(v: &Value) -> &str {
        v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
    }

    #[test]
    fn one_network_per_zone_with_docker_at_254() {
        let file = reference();
        let networks = file["networks"].as_mapping().unwrap();
        let cases = [
            ("infotainment", "10.10.1.0/24", "10.10.1.254"),
            ("body", "10.10.2.0/24", "10.10.2.254"),
            ("chassis", "10.10.3.0/24", "10.10.3.254"),
            ("adas", "10.10.4.0/24", "10.10.4.254"),
            ("diagnostics", "10.10.9.0/24", "10.10.9.254"),
            ("cellular", "10.20.0.0/24", "10.20.0.254"),
            ("radio", "10.30.0.0/24", "10.30.0.254"),
        ];
        assert_eq!(networks.len(), cases.len());
        for (zone, subnet, gateway) in cases {
            let n = &file["networks"][zone];
            assert_eq!(text(&n["ipam"]["config"][0]["subnet"]), subnet, "{zone}");
            assert_eq!(text(&n["ipam"]["config"][0]["gateway"]), gateway, "{zone}");
        }
    }

    #[test]
    fn containers_addresses_and_routes() {
        let file = reference();
        let services = file["services"].as_mapping().unwrap();
        // Every ECU, the V-SOC and the attacker.
        assert_eq!(services.len(), Topology::reference().ecus.len() + 2);
        // (service, its (network, address) links, its routes)
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case; 6] = [
            (
                "gateway",
                &[
                    ("infotainment", "10.10.1.1"),
                    ("body", "10.10.2.1"),
                    ("chassis", "10.10.3.1"),
                    ("adas", "10.10.4.1"),
                    ("diagnostics", "10.10.9.1"),
                ],
                "10.20.0.0/24=10.10.1.2",
            ),
            (
                "tcu",
                &[("infotainment", "10.10.1.2"), ("cellular", "10.20.0.2")],
                "default=10.10.1.1",
            ),
            (
                "ivi",
                &[("infotainment", "10.10.1.3"), ("radio", "10.30.0.3")],
                "default=10.10.1.1",
            ),
            ("body-dc", &[("body", "10.10.2.2")], "default=10.10.2.1"),
            (
                "vsoc",
                &[("cellular", "10.20.0.10")],
                "10.10.1.0/24=10.20.0.2 10.10.2.0/24=10.20.0.2 10.10.3.0/24=10.20.0.2 \
                 10.10.4.0/24=10.20.0.2 10.10.9.0/24=10.20.0.2",
            ),
            (
                "attacker",
                &[("radio", "10.30.0.66")],
                "10.10.1.3/32=10.30.0.3",
            ),
        ];
        for (name, links, routes) in cases {
            let s = &file["services"][name];
            let attached = s["networks"].as_mapping().unwrap();
            assert_eq!(attached.len(), links.len(), "{name}");
            let mut want_links = Vec::new();
            for (zone, ip) in links {
                assert_eq!(text(&s["networks"][*zone]["ipv4_address"]), *ip, "{name}");
                want_links.push(format!("{ip}={zone}"));
            }
            assert_eq!(text(&s["environment"]["VSIEM_LINKS"]), want_links.join(" "));
            assert_eq!(text(&s["environment"]["VSIEM_ROUTES"]), routes, "{name}");
            assert_eq!(text(&s["command"][0]), format!("run {name}"));
        }
    }

    #[test]
    fn limits_follow_the_ecu_class() {
        let file = reference();
        let cases = [
            ("ivi", 1.0, "512m"),
            ("tcu", 1.0, "512m"),
            ("gateway", 1.0, "256m"),
            ("body-dc", 0.5, "128m"),
            ("powertrain-dc", 0.5, "128m"),
            ("chassis-dc", 0.5, "128m"),
            ("adas-dc", 0.5, "128m"),
        ];
        for (name, cpus, memory) in cases {
            let s = &file["services"][name];
            assert_eq!(s["cpus"].as_f64(), Some(cpus), "{name}");
            assert_eq!(text(&s["mem_limit"]), memory, "{name}");
        }
        // Only ECUs between two networks forward.
        for (name, forwards) in [("gateway", true), ("tcu", true), ("ivi", false)] {
            let forwarding = &file["services"][name]["sysctls"]["net.ipv4.ip_forward"];
            let want = if forwards { "1" } else { "0" };
            assert_eq!(forwarding.as_str(), Some(want), "{name}");
        }
    }

    #[test]
    fn each_container_mounts_only_its_own_identity() {
        let file = reference();
        let pki_of = |name: &str| -> Vec<String> {
            file["services"][name]["volumes"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(text)
                .filter(|v| v.starts_with("/v/pki/"))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            pki_of("ivi"),
            [
                "/v/pki/ca.pem:/etc/vsiem/pki/ca.pem:ro",
                "/v/pki/ivi.pem:/etc/vsiem/pki/ivi.pem:ro",
                "/v/pki/ivi.key:/etc/vsiem/pki/ivi.key:ro",
            ]
        );
        // The gateway's container also runs the testbed's monitor.
        assert!(
            pki_of("gateway").contains(&"/v/pki/monitor.key:/etc/vsiem/pki/monitor.key:ro".into())
        );
        assert!(pki_of("attacker").is_empty());
        let volumes = &file["services"]["body-dc"]["volumes"];
        assert_eq!(text(&volumes[0]), "/v/topology:/etc/vsiem/topology:ro");
        assert_eq!(text(&volumes[1]), "/v/state/body-dc:/var/lib/vsiem");
        assert_eq!(
            text(&file["services"]["body-dc"]["environment"]["VSIEM_TOPOLOGY"]),
            "/etc/vsiem/topology/reference.toml"
        );
    }
}
