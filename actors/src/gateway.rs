//! The central gateway: the backbone's Zenoh router, and under one supervisor the ingest
//! (verify, deduplicate), the correlator (rules and vehicle state), the responder (block orders
//! and their acks), the escalator (incidents to the V-SOC) and the rule watcher (reloads).

pub mod access;
pub mod correlator;
pub mod escalator;
pub mod ingest;
pub mod responder;
pub mod rule_watch;
pub mod strays;
pub mod supervisor;

use std::path::PathBuf;
use std::sync::Arc;

use vsiem_rules::RuleSet;
use vsiem_topology::{AddressMode, Topology};

use crate::bus;

pub use supervisor::Gateway;

/// The gateway's own name where it reports as a sensor (events it raises itself).
pub const ECU: &str = "gateway";

/// The sensors under which the gateway reports events it raises itself.
pub const SENSORS: [&str; 4] = [
    ingest::SENSOR,
    rule_watch::SENSOR,
    access::SENSOR,
    escalator::SENSOR,
];

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub topology: Arc<Topology>,
    pub addressing: AddressMode,
    /// Endpoints the router listens on: the gateway's address in every zone.
    pub listen: Vec<String>,
    /// The V-SOC's endpoints, reached through the TCU's uplink.
    pub vsoc: Vec<String>,
    /// The gateway's identity, on the backbone (whose router enforces `bus::acl::backbone`)
    /// and on the uplink.
    pub security: bus::Security,
    /// What the router's access control refused (the process's tracing layer counts it).
    pub denials: access::Denials,
    /// The rule set the correlator starts with.
    pub rules: Arc<RuleSet>,
    /// Where `rules` was read from, watched for changes; `None` for the embedded set.
    pub rules_dir: Option<PathBuf>,
    /// Where the gateway keeps its durable state (`gateway.redb`: the sequence ledger, the
    /// escalation queue, its own uplink's outbox).
    pub state_dir: PathBuf,
}
