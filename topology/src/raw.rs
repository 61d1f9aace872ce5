//! Stage 1: the topology file exactly as written, checked only for shape by serde.
//!
//! Unknown fields are refused here so that a typo never silently becomes a default; everything
//! that needs more than one field to check is left to `validate`.

use std::net::Ipv4Addr;

use serde::Deserialize;

use crate::model::{EcuRole, ResponseAction, SensorKind, Transport};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTopology {
    pub vehicle: RawVehicle,
    pub someip: RawSomeIp,
    pub zones: Vec<RawZone>,
    pub ecus: Vec<RawEcu>,
    #[serde(default)]
    pub testers: Vec<RawTester>,
    pub vsoc: RawVsoc,
    #[serde(default)]
    pub services: Vec<RawService>,
    #[serde(default)]
    pub flows: Vec<RawFlow>,
    pub diagnostics: RawDiagnostics,
    pub threat_intel: RawThreatIntel,
    pub response: RawResponse,
    #[serde(default)]
    pub limits: RawLimits,
    pub qualification: RawQualification,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVehicle {
    pub vin: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSomeIp {
    pub protocol_version: u8,
    pub interface_version: u8,
    pub sd_port: u16,
    pub sd_multicast: Ipv4Addr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawZone {
    pub name: String,
    pub vlan: Option<u16>,
    /// "a.b.c.0/24"; parsed in stage 2 so that a bad one is reported with the other problems.
    pub subnet: String,
    #[serde(default)]
    pub external: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInterface {
    pub zone: String,
    pub host: u8,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHostConfig {
    #[serde(default)]
    pub watch: Vec<String>,
    #[serde(default)]
    pub read_only: Vec<String>,
    #[serde(default)]
    pub processes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEcu {
    pub name: String,
    pub role: EcuRole,
    pub client_id: Option<u16>,
    pub doip_address: Option<u16>,
    #[serde(default)]
    pub sensors: Vec<SensorKind>,
    pub interfaces: Vec<RawInterface>,
    pub host: Option<RawHostConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTester {
    pub name: String,
    pub zone: String,
    pub host: u8,
    pub doip_address: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVsoc {
    pub zone: String,
    pub host: u8,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMethod {
    pub id: u16,
    pub name: String,
    pub clients: Vec<String>,
    pub safety_critical: bool,
    #[serde(default)]
    pub request: String,
    #[serde(default)]
    pub response: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEvent {
    pub id: u16,
    pub name: String,
    pub subscribers: Vec<String>,
    #[serde(default)]
    pub payload: String,
    pub cycle_ms: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawService {
    pub id: u16,
    pub name: String,
    pub provider: String,
    pub transport: Transport,
    pub port: u16,
    #[serde(default)]
    pub methods: Vec<RawMethod>,
    #[serde(default)]
    pub events: Vec<RawEvent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFlow {
    pub from: String,
    pub to: String,
    /// Absent and "" both mean "direct".
    pub via: Option<String>,
    pub proto: Transport,
    pub ports: Vec<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDiagnostics {
    pub port: u16,
    pub testers: Vec<String>,
    pub require_stationary: bool,
    pub dangerous_services: Vec<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawThreatIntel {
    /// Path of a STIX 2.1 bundle, relative to the topology file.
    pub stix: String,
    #[serde(default)]
    pub benign_domains: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResponse {
    pub order_ttl_ms: u64,
    pub ack_timeout_ms: u64,
    pub max_retries: u32,
    pub block_while_moving: bool,
    pub close_after_ms: u64,
    #[serde(default)]
    pub policies: Vec<RawResponsePolicy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResponsePolicy {
    pub rules: Vec<String>,
    pub actions: Vec<ResponseAction>,
}

/// `[limits]`: bounds on untrusted input. Every field has a default (documented in
/// reference.toml), so the section and each of its fields may be left out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawLimits {
    // --- gateway ingest: per-sensor rate, queue and replay window ---
    pub events_per_sensor_per_second: u64,
    pub ingest_queue_per_sensor: u64,
    pub event_max_age_ms: u64,
    pub clock_skew_ms: u64,
    // --- end of gateway ingest ---
    // --- durable queues ---
    pub uplink_queue_events: u64,
    pub escalation_queue_incidents: u64,
    // --- network sensor input ---
    pub frame_max_bytes: u64,
    pub someip_max_message_bytes: u64,
    pub tcp_max_flows: u64,
    pub tcp_pending_bytes_per_flow: u64,
    pub tcp_idle_timeout_ms: u64,
    // --- FlatBuffers from the network ---
    pub flatbuffers_max_bytes: u64,
    pub flatbuffers_max_depth: u64,
    pub flatbuffers_max_tables: u64,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            // --- gateway ingest ---
            events_per_sensor_per_second: 1000,
            ingest_queue_per_sensor: 1024,
            event_max_age_ms: 30_000,
            clock_skew_ms: 1000,
            // --- end of gateway ingest ---
            // --- durable queues ---
            uplink_queue_events: 16_384,
            escalation_queue_incidents: 4096,
            // --- network sensor input ---
            frame_max_bytes: 1526,
            someip_max_message_bytes: 65_536,
            tcp_max_flows: 4096,
            tcp_pending_bytes_per_flow: 65_536,
            tcp_idle_timeout_ms: 120_000,
            // --- FlatBuffers from the network ---
            flatbuffers_max_bytes: 65_536,
            flatbuffers_max_depth: 16,
            flatbuffers_max_tables: 1024,
        }
    }
}

/// IdsM-style qualification at the sensor agents (see reference.toml for the semantics).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQualification {
    pub rate_limit: RawRateLimit,
    pub traffic_limit: RawTrafficLimit,
    #[serde(default)]
    pub default: RawFilters,
    #[serde(default)]
    pub types: Vec<RawTypeFilters>,
    #[serde(default)]
    pub ecus: Vec<RawEcuQualification>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimit {
    pub events: u32,
    pub interval_ms: u64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTrafficLimit {
    pub bytes: u64,
    pub interval_ms: u64,
}

/// Absent filters are off; a present one must have a meaningful parameter (checked in stage 2).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFilters {
    pub every_nth: Option<u32>,
    pub aggregate_ms: Option<u64>,
    pub threshold: Option<RawThreshold>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawThreshold {
    pub count: u32,
    pub window_ms: u64,
}

/// The filters of one event type. serde's `flatten` would lose `deny_unknown_fields`, hence
/// the repeated fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTypeFilters {
    /// A dotted catalog name, e.g. "net.flood".
    pub event: String,
    pub every_nth: Option<u32>,
    pub aggregate_ms: Option<u64>,
    pub threshold: Option<RawThreshold>,
}

impl RawTypeFilters {
    pub fn filters(&self) -> RawFilters {
        RawFilters {
            every_nth: self.every_nth,
            aggregate_ms: self.aggregate_ms,
            threshold: self.threshold,
        }
    }
}

/// One ECU's overrides of the vehicle-wide qualification.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEcuQualification {
    pub ecu: String,
    pub rate_limit: Option<RawRateLimit>,
    pub traffic_limit: Option<RawTrafficLimit>,
    pub default: Option<RawFilters>,
    #[serde(default)]
    pub types: Vec<RawTypeFilters>,
}
