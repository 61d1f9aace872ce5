//! The central gateway: the backbone's Zenoh router, and under one supervisor the ingest
//! (verify, deduplicate), the correlator (rules and vehicle state), the responder (block orders
//! and their acks) and the escalator (incidents to the V-SOC).

pub mod correlator;
pub mod escalator;
pub mod ingest;
pub mod responder;
pub mod supervisor;

use std::sync::Arc;

use vsiem_topology::{AddressMode, Topology};

pub use supervisor::Gateway;

/// The gateway's own name where it reports as a sensor (events it raises itself).
pub const ECU: &str = "gateway";

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub topology: Arc<Topology>,
    pub addressing: AddressMode,
    /// Endpoints the router listens on: the gateway's address in every zone.
    pub listen: Vec<String>,
    /// The V-SOC's endpoints, reached through the TCU's uplink.
    pub vsoc: Vec<String>,
}
