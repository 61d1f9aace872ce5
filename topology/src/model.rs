//! The validated vehicle model: what every other crate reads, and the lookups they need.
//!
//! Values of these types only come out of validation (`Topology::load`, `Topology::reference`,
//! `Topology::from_toml`), so the lookups below may rely on its guarantees: names are unique,
//! every reference resolves and there is exactly one gateway.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};
use vsiem_schemas::read::Bounds;

/// A whole vehicle: its networks, its hosts, what they may say to each other, and the SIEM's
/// knobs that depend on them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topology {
    pub vehicle: Vehicle,
    pub someip: SomeIp,
    pub zones: Vec<Zone>,
    pub ecus: Vec<Ecu>,
    pub testers: Vec<Tester>,
    pub vsoc: Vsoc,
    pub services: Vec<Service>,
    pub flows: Vec<Flow>,
    pub diagnostics: Diagnostics,
    pub threat_intel: ThreatIntel,
    pub response: Response,
    pub limits: Limits,
    pub qualification: Qualification,
    /// Every host by address, built once: sensors look an address up for each packet.
    #[serde(skip)]
    pub(crate) hosts: crate::address::HostIndex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vehicle {
    pub vin: String,
    pub name: String,
}

/// Vehicle-wide SOME/IP parameters; a header that disagrees with them is an anomaly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SomeIp {
    pub protocol_version: u8,
    pub interface_version: u8,
    pub sd_port: u16,
    pub sd_multicast: Ipv4Addr,
}

/// One network segment: an in-vehicle zone behind the gateway (802.1Q tagged on its trunk), or an
/// external network such as cellular.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Zone {
    pub name: String,
    /// `None` exactly for external zones: they are not on a vehicle trunk.
    pub vlan: Option<u16>,
    /// Network address of the zone's /24 in the container testbed.
    pub subnet: Ipv4Addr,
    /// Third octet of `subnet`: the Z of the loopback address 127.0.Z.H. Unique per vehicle.
    pub index: u8,
    pub external: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EcuRole {
    Gateway,
    Tcu,
    Ivi,
    DomainController,
}

impl EcuRole {
    /// The spelling used in topology files.
    pub fn as_str(&self) -> &'static str {
        match self {
            EcuRole::Gateway => "gateway",
            EcuRole::Tcu => "tcu",
            EcuRole::Ivi => "ivi",
            EcuRole::DomainController => "domain-controller",
        }
    }
}

/// What `vsiem sensor --ecu NAME` runs on that ECU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SensorKind {
    /// File integrity of `HostConfig::watch` / `read_only`.
    Files,
    /// Process starts checked against `HostConfig::processes`.
    Processes,
    /// SOME/IP and SOME/IP-SD traffic checked against `services`.
    Someip,
    /// Vehicle signals (speed, gear, ...) decoded from SOME/IP events.
    Signals,
    /// IP flows, DNS and DoIP checked against `flows`, `diagnostics` and `threat_intel`.
    Net,
}

impl SensorKind {
    /// The spelling used in topology files and on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            SensorKind::Files => "files",
            SensorKind::Processes => "processes",
            SensorKind::Someip => "someip",
            SensorKind::Signals => "signals",
            SensorKind::Net => "net",
        }
    }
}

/// An ECU's attachment to a zone: host H of the zone's subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interface {
    pub zone: String,
    pub host: u8,
}

/// What the host sensor watches on an ECU that runs a general-purpose OS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostConfig {
    /// Absolute paths whose files are hashed and watched.
    pub watch: Vec<String>,
    /// Absolute paths, each under a `watch` path, where any change is an intrusion.
    pub read_only: Vec<String>,
    /// Executable names allowed to run.
    pub processes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ecu {
    pub name: String,
    pub role: EcuRole,
    pub client_id: Option<u16>,
    pub doip_address: Option<u16>,
    pub sensors: Vec<SensorKind>,
    /// Never empty; the first one is the ECU's primary address.
    pub interfaces: Vec<Interface>,
    pub host: Option<HostConfig>,
}

/// A diagnostic tester plugged into the vehicle (not an ECU: it runs no sensor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tester {
    pub name: String,
    pub zone: String,
    pub host: u8,
    pub doip_address: u16,
}

/// Where the V-SOC listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vsoc {
    pub zone: String,
    pub host: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// The spelling used in topology files.
    pub fn as_str(&self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// A SOME/IP method; id < 0x8000.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Method {
    pub id: u16,
    pub name: String,
    /// ECUs allowed to call it; empty means nobody may call it over the network.
    pub clients: Vec<String>,
    pub safety_critical: bool,
    /// Payload description (free text); empty means no payload.
    pub request: String,
    pub response: String,
}

impl Method {
    pub fn allows(&self, ecu: &str) -> bool {
        self.clients.iter().any(|client| client == ecu)
    }
}

/// A SOME/IP event; id >= 0x8000.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub id: u16,
    pub name: String,
    pub subscribers: Vec<String>,
    /// Payload description (free text); empty means not specified.
    pub payload: String,
    /// Cycle time for cyclic events.
    pub cycle_ms: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub id: u16,
    pub name: String,
    pub provider: String,
    pub transport: Transport,
    pub port: u16,
    pub methods: Vec<Method>,
    pub events: Vec<Event>,
}

impl Service {
    pub fn method(&self, id: u16) -> Option<&Method> {
        self.methods.iter().find(|method| method.id == id)
    }

    pub fn event(&self, id: u16) -> Option<&Event> {
        self.events.iter().find(|event| event.id == id)
    }
}

/// An allowed flow beyond SOME/IP service calls. `from` and `to` are ECU names, `OUTSIDE` or
/// `VSOC`; `via` is the ECU that forwards it (e.g. the TCU for an IVI's Internet traffic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flow {
    pub from: String,
    pub to: String,
    pub via: Option<String>,
    pub proto: Transport,
    pub ports: Vec<u16>,
}

/// Flow endpoint for anything outside the vehicle that is not the V-SOC.
pub const OUTSIDE: &str = "outside";
/// Flow endpoint for the V-SOC.
pub const VSOC: &str = "vsoc";

/// DoIP / UDS policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostics {
    pub port: u16,
    /// Testers allowed to activate routing.
    pub testers: Vec<String>,
    /// Routing activation only while speed is 0 and gear is P.
    pub require_stationary: bool,
    /// UDS service ids whose use is reported.
    pub dangerous_services: Vec<u8>,
}

/// Indicators loaded from the STIX bundle, plus domains known to be fine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreatIntel {
    /// Lowercase, without trailing dot.
    pub domains: Vec<String>,
    pub addresses: Vec<IpAddr>,
    /// Lowercase, without trailing dot.
    pub benign_domains: Vec<String>,
}

/// How the gateway responds to incidents: which orders for which rule, and how orders behave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Response {
    pub order_ttl_ms: u64,
    pub ack_timeout_ms: u64,
    pub max_retries: u32,
    /// Safety: unless true, never block a safety-critical flow nor isolate an ECU while moving.
    pub block_while_moving: bool,
    /// An incident without new events for this long is closed and its blocks revoked.
    pub close_after_ms: u64,
    pub policies: Vec<ResponsePolicy>,
}

impl Response {
    /// The actions of the first policy naming any of `rules` (the rules an incident matched);
    /// none when no policy does.
    pub fn actions_for(&self, rules: &[String]) -> &[ResponseAction] {
        self.policies
            .iter()
            .find(|p| p.rules.iter().any(|r| rules.contains(r)))
            .map_or(&[], |p| &p.actions)
    }
}

/// Which block orders an incident of the named rules leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponsePolicy {
    /// Rule or correlation names of the gateway's rule set.
    pub rules: Vec<String>,
    pub actions: Vec<ResponseAction>,
}

/// One kind of containment, always aimed at the incident's origin ECU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResponseAction {
    /// Stop the processes the incident's intrusion events named, on the origin.
    StopProcesses,
    /// Drop the origin's TCP and UDP egress, on the origin (its backbone port stays open).
    DropEgress,
    /// Have every ECU that reported the origin's requests refuse its SOME/IP client.
    BlockSomeipClient,
    /// Cut the origin off every network but the backbone.
    Isolate,
}

/// Bounds on untrusted input (`[limits]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    // --- gateway ingest ---
    /// Events per second the gateway takes from one (ECU, sensor), in bursts of up to as many
    /// at once; the excess is dropped, counted and reported.
    pub events_per_sensor_per_second: u64,
    /// Events of one (ECU, sensor) that may wait for the gateway's ingest.
    pub ingest_queue_per_sensor: usize,
    /// An event older than this when it reaches the gateway is refused as stale, unless the
    /// gateway's record of its sensor proves it new by its sequence number.
    pub event_max_age_ms: u64,
    /// An event (or boot epoch) ahead of the gateway's clock by more than this is refused.
    pub clock_skew_ms: u64,
    // --- end of gateway ingest ---
    // --- durable queues ---
    /// Events one sensor agent keeps on disk until the gateway acknowledges them; past it the
    /// lowest severity (the oldest among equals) is dropped, counted and reported.
    pub uplink_queue_events: usize,
    /// Incidents the gateway keeps on disk until the V-SOC acknowledges them (a newer version
    /// replaces the one waiting); past it the oldest version is dropped, counted and reported.
    pub escalation_queue_incidents: usize,
    // --- network sensor input ---
    /// A captured frame longer than this (Ethernet header and tags included, FCS not) is not
    /// decoded: it is reported as `limit.frame_too_large`.
    pub frame_max_bytes: usize,
    /// A SOME/IP message whose length field announces more than this (header included) is not
    /// decoded: `limit.someip_too_large`.
    pub someip_max_message_bytes: usize,
    /// TCP directions reassembled at once; past it the least recently used one is dropped and
    /// `limit.tcp_flows_exceeded` reported.
    pub tcp_max_flows: usize,
    /// Bytes one TCP direction may hold waiting for the rest of a message; past it the buffer
    /// is dropped, the direction ignored until it ends, and `limit.tcp_pending_exceeded`
    /// reported.
    pub tcp_pending_bytes_per_flow: usize,
    /// A TCP direction silent for longer than this is forgotten.
    pub tcp_idle_timeout_ms: u64,
    // --- FlatBuffers from the network ---
    /// The FlatBuffers verifier's bounds on every buffer read from the network (events,
    /// signals, orders, acks): a buffer beyond them is refused and reported as
    /// `limit.flatbuffer_rejected`.
    pub flatbuffers: Bounds,
}

/// IdsM-style qualification of security events at the sensor agents, before they leave the ECU:
/// per event type forward-every-nth, aggregation and threshold, then instance-wide rate and
/// traffic limits. Health events (the SIEM's reports about itself) are never filtered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Qualification {
    pub rate_limit: RateLimit,
    pub traffic_limit: TrafficLimit,
    /// The filters of every event type that `types` does not list.
    pub default: Filters,
    /// Event types with their own filters (replacing `default`, not added to it).
    pub types: Vec<TypeFilters>,
    /// Per ECU overrides.
    pub ecus: Vec<EcuQualification>,
}

/// At most `events` qualified events per `interval_ms` leave one sensor agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    pub events: u32,
    pub interval_ms: u64,
}

/// At most `bytes` of encoded events per `interval_ms` leave one sensor agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TrafficLimit {
    pub bytes: u64,
    pub interval_ms: u64,
}

/// The per-type filters; `None` is off. Validation guarantees every parameter is at least 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Filters {
    /// Forward only every n-th occurrence.
    pub every_nth: Option<u32>,
    /// Fold the occurrences within this window into one event sent when it closes.
    pub aggregate_ms: Option<u64>,
    /// Forward only once this many occurrences happened within its window.
    pub threshold: Option<Threshold>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Threshold {
    pub count: u32,
    pub window_ms: u64,
}

/// The filters of one catalog event type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeFilters {
    /// The dotted catalog name, e.g. "net.flood".
    pub event: String,
    /// Its catalog ID.
    pub event_id: u16,
    pub filters: Filters,
}

/// One ECU's overrides: what is given replaces the vehicle-wide setting of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EcuQualification {
    pub ecu: String,
    pub rate_limit: Option<RateLimit>,
    pub traffic_limit: Option<TrafficLimit>,
    pub default: Option<Filters>,
    pub types: Vec<TypeFilters>,
}

/// What one sensor agent applies: the vehicle-wide qualification with its ECU's overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentQualification {
    pub rate_limit: RateLimit,
    pub traffic_limit: TrafficLimit,
    pub default: Filters,
    pub types: Vec<TypeFilters>,
}

impl Qualification {
    pub fn for_ecu(&self, ecu: &str) -> AgentQualification {
        let own = self.ecus.iter().find(|o| o.ecu == ecu);
        let mut types: Vec<TypeFilters> = own.map(|o| o.types.clone()).unwrap_or_default();
        for vehicle_wide in &self.types {
            if !types.iter().any(|t| t.event_id == vehicle_wide.event_id) {
                types.push(vehicle_wide.clone());
            }
        }
        AgentQualification {
            rate_limit: own.and_then(|o| o.rate_limit).unwrap_or(self.rate_limit),
            traffic_limit: own
                .and_then(|o| o.traffic_limit)
                .unwrap_or(self.traffic_limit),
            default: own.and_then(|o| o.default).unwrap_or(self.default),
            types,
        }
    }
}

impl AgentQualification {
    /// The filters of an event type.
    pub fn filters(&self, event_id: u16) -> Filters {
        self.types
            .iter()
            .find(|t| t.event_id == event_id)
            .map_or(self.default, |t| t.filters)
    }
}

impl Topology {
    pub fn vin(&self) -> &str {
        &self.vehicle.vin
    }

    pub fn ecu(&self, name: &str) -> Option<&Ecu> {
        self.ecus.iter().find(|ecu| ecu.name == name)
    }

    pub fn gateway(&self) -> &Ecu {
        self.ecus
            .iter()
            .find(|ecu| ecu.role == EcuRole::Gateway)
            .expect("validation guarantees exactly one gateway")
    }

    pub fn ecu_by_client_id(&self, id: u16) -> Option<&Ecu> {
        self.ecus.iter().find(|ecu| ecu.client_id == Some(id))
    }

    pub fn tester(&self, name: &str) -> Option<&Tester> {
        self.testers.iter().find(|tester| tester.name == name)
    }

    pub fn zone(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|zone| zone.name == name)
    }

    pub fn service(&self, id: u16) -> Option<&Service> {
        self.services.iter().find(|service| service.id == id)
    }

    pub fn services_provided_by<'a>(
        &'a self,
        ecu: &'a str,
    ) -> impl Iterator<Item = &'a Service> + 'a {
        self.services
            .iter()
            .filter(move |service| service.provider == ecu)
    }
}
