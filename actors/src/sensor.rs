//! The sensor agent that runs on an ECU: detectors, the uplink that stamps and publishes their
//! events, and the enforcer that applies the gateway's block orders, under one supervisor.

pub mod agent;
pub mod enforcer;
pub mod host;
pub mod net;
pub mod signals;
pub mod someip;
pub mod uplink;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vsiem_topology::{AddressMode, Topology};

pub use agent::SensorAgent;

/// Bytes of the offending input an event keeps as its evidence: enough for the headers that
/// matter (Ethernet to UDP/TCP, a SOME/IP or DoIP header) and a payload prefix.
pub const EVIDENCE_BYTES: usize = 256;

/// The first [`EVIDENCE_BYTES`] of `bytes`, kept as a finding's evidence.
pub fn evidence(bytes: &[u8]) -> Vec<u8> {
    bytes[..bytes.len().min(EVIDENCE_BYTES)].to_vec()
}

/// What a sensor agent needs to know about where it runs.
#[derive(Debug, Clone)]
pub struct SensorConfig {
    pub topology: Arc<Topology>,
    pub ecu: String,
    pub addressing: AddressMode,
    /// Prefix of every host path of the topology: `/` on an ECU, a scratch tree in the demo.
    pub fs_root: PathBuf,
    /// Host the simulated application of this ECU (the demo's vehicle) behind its sensors.
    pub simulate: bool,
    /// The gateway's Zenoh endpoints.
    pub gateway: Vec<String>,
    /// The ECU's identity on the backbone.
    pub security: crate::bus::Security,
    /// The backbone's TCP port (kept open on an isolated ECU so that it still reports).
    pub backbone_port: u16,
    /// Enforce drop-flow and isolate orders with nftables (needs CAP_NET_ADMIN).
    pub nftables: bool,
    /// The interface the network sensor captures on (needs CAP_NET_RAW).
    pub capture: Option<String>,
    /// Where the agent keeps its durable state (`sensor-<ecu>.redb`: the outbox).
    pub state_dir: PathBuf,
}

impl SensorConfig {
    /// The path on this machine of a path of the ECU's file system.
    pub fn host_path(&self, ecu_path: &str) -> PathBuf {
        self.fs_root.join(ecu_path.trim_start_matches('/'))
    }

    /// The ECU's path of a path on this machine (inverse of [`Self::host_path`]).
    pub fn ecu_path(&self, host_path: &Path) -> String {
        match host_path.strip_prefix(&self.fs_root) {
            Ok(rest) => format!("/{}", rest.display()),
            Err(_) => host_path.display().to_string(),
        }
    }
}
