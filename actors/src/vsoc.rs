//! The V-SOC receiver: takes escalated incidents from vehicles, keeps them in its store and
//! acknowledges each. The embedded default store is a JSON-lines file, one line per incident
//! version received (the latest line of a (vin, incident) pair is its current state).
//!
//! A vehicle sends a version again when its receipt was lost (the gateway's escalation queue is
//! durable and resends until acknowledged), so each version, (vin, incident id, `updated_ns`),
//! is stored once: one seen before is acknowledged again and not written. The versions seen are
//! read back from the store when the V-SOC starts.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use flatbuffers::FlatBufferBuilder;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};
use vsiem_schemas::{encode, now_ns, read, wire};

use zenoh::Wait;

use crate::bus::{self, keys};

/// One stored incident version.
#[derive(Debug, Serialize)]
pub struct StoredIncident {
    pub vin: String,
    pub incident_id: u64,
    pub severity: String,
    pub title: String,
    pub rule: String,
    pub origin_ecu: String,
    pub opened_ns: u64,
    /// When the gateway made this version: with the vin and the id, what names the version.
    pub updated_ns: u64,
    pub state: String,
    pub received_ns: u64,
    pub events: usize,
    pub actions: Vec<String>,
}

impl StoredIncident {
    pub fn from_wire(incident: &wire::Incident<'_>, received_ns: u64) -> Self {
        Self {
            vin: incident.vin().to_owned(),
            incident_id: incident.incident_id(),
            severity: incident
                .severity()
                .variant_name()
                .unwrap_or("?")
                .to_lowercase(),
            title: incident.title().unwrap_or_default().to_owned(),
            rule: incident.rule().unwrap_or_default().to_owned(),
            origin_ecu: incident.origin_ecu().unwrap_or_default().to_owned(),
            opened_ns: incident.opened_ns(),
            updated_ns: incident.updated_ns(),
            state: incident
                .state()
                .variant_name()
                .unwrap_or("?")
                .to_lowercase(),
            received_ns,
            events: incident.events().map_or(0, |e| e.len()),
            actions: incident
                .actions()
                .iter()
                .flatten()
                .map(|a| {
                    format!(
                        "{} -> {}: {:?}",
                        a.target_ecu().unwrap_or("?"),
                        a.summary().unwrap_or("?"),
                        a.status()
                    )
                })
                .collect(),
        }
    }
}

/// What names one incident version: (vin, incident id, when the gateway made it).
type Version = (String, u64, u64);

impl StoredIncident {
    fn version(&self) -> Version {
        (self.vin.clone(), self.incident_id, self.updated_ns)
    }
}

/// The versions already in the store at `path` (none if it does not exist yet). A line that
/// does not parse (a torn last write) names no version: that version is stored again.
fn versions_in(path: &Path) -> std::io::Result<HashSet<Version>> {
    #[derive(Deserialize)]
    struct Line {
        vin: String,
        incident_id: u64,
        #[serde(default)]
        updated_ns: u64,
    }
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(e),
    };
    let mut seen = HashSet::new();
    for line in BufReader::new(file).lines() {
        if let Ok(l) = serde_json::from_str::<Line>(&line?) {
            seen.insert((l.vin, l.incident_id, l.updated_ns));
        }
    }
    Ok(seen)
}

/// Runs the V-SOC until the process is stopped: a router on `listen` enforcing `acl`
/// (`bus::acl::vsoc`).
pub async fn run(
    listen: Vec<String>,
    acl: serde_json::Value,
    security: &bus::Security,
    store: PathBuf,
) -> Result<(), bus::BusError> {
    let role = bus::Role::Router {
        listen: listen.clone(),
        acl,
    };
    let session = bus::open(&role, security).await?;
    let seen = versions_in(&store)?;
    let file = OpenOptions::new().create(true).append(true).open(&store)?;
    let store_file = Arc::new(Mutex::new((file, seen)));
    info!(?listen, store = %store.display(), "V-SOC receiving.");
    let _queryable = session
        .declare_queryable(keys::vsoc_all_incidents())
        .callback(move |query| {
            let Some(payload) = query.payload() else {
                warn!("Escalation without an incident.");
                return;
            };
            let bytes = payload.to_bytes();
            let incident = match read::incident(&bytes) {
                Ok(incident) => incident,
                Err(e) => {
                    warn!(error = %e, "Invalid incident refused.");
                    return;
                }
            };
            let received_ns = now_ns();
            let stored = StoredIncident::from_wire(&incident, received_ns);
            let version = stored.version();
            let mut guard = store_file.lock().expect("store lock");
            let (file, seen) = &mut *guard;
            if seen.contains(&version) {
                info!(vin = %stored.vin, incident = stored.incident_id, updated_ns = stored.updated_ns, "Incident version received again; acknowledged, not stored twice.");
            } else {
                info!(vin = %stored.vin, incident = stored.incident_id, title = %stored.title, "Incident received.");
                let line = serde_json::to_string(&stored).expect("a stored incident serializes");
                if let Err(e) = writeln!(file, "{line}").and_then(|()| file.flush()) {
                    // Not stored: no receipt, so the vehicle keeps it and retries.
                    warn!(error = %e, "Incident not stored.");
                    return;
                }
                seen.insert(version);
            }
            drop(guard);
            let mut fbb = FlatBufferBuilder::new();
            let receipt = encode::incident_ack(&mut fbb, incident.vin(), incident.incident_id(), received_ns);
            if let Err(e) = query.reply(query.key_expr().clone(), receipt.to_vec()).wait() {
                warn!(error = %e, "Receipt not sent.");
            }
        })
        .await?;
    std::future::pending::<()>().await;
    Ok(())
}
