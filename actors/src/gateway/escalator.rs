//! The escalator: publishes each incident (and each update of it) on the vehicle bus and
//! delivers it to the V-SOC, retrying until the V-SOC acknowledges it. The V-SOC's receipt is
//! published on the bus too, as the record that the carmaker was told.
//!
//! The queue is in memory: incidents raised while the V-SOC is unreachable wait, in order,
//! for as long as the gateway runs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use flatbuffers::FlatBufferBuilder;
use ractor::{Actor, ActorRef};
use tracing::{info, warn};
use vsiem_schemas::encode::{self, IncidentDraft};
use vsiem_schemas::read;
use zenoh::Session;

use crate::bus::{self, keys, Publishers};
use crate::ActorError;

const RETRY: Duration = Duration::from_secs(1);

pub struct Escalator;

pub struct EscalatorArgs {
    pub session: Arc<Session>,
    pub vin: String,
    /// The V-SOC's endpoints.
    pub vsoc: Vec<String>,
    /// The gateway's identity on the uplink.
    pub security: bus::Security,
}

/// One incident waiting for the V-SOC: its latest version and whether a delivery is under way.
struct Waiting {
    version: u64,
    bytes: Vec<u8>,
    in_flight: bool,
}

pub struct EscalatorState {
    args: EscalatorArgs,
    publishers: Publishers,
    fbb: FlatBufferBuilder<'static>,
    vsoc: Option<Arc<Session>>,
    waiting: BTreeMap<u64, Waiting>,
    next_version: u64,
}

pub enum EscalatorMsg {
    Escalate(IncidentDraft),
    Connected(Arc<Session>),
    Delivered {
        incident_id: u64,
        version: u64,
        receipt: Vec<u8>,
    },
    Failed {
        incident_id: u64,
        version: u64,
        reason: String,
    },
    Retry,
}

impl Actor for Escalator {
    type Msg = EscalatorMsg;
    type State = EscalatorState;
    type Arguments = EscalatorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: EscalatorArgs,
    ) -> Result<Self::State, ActorError> {
        // The uplink may be down for hours; the gateway does not wait for it to start.
        let role = bus::Role::Client {
            connect: args.vsoc.clone(),
        };
        let security = args.security.clone();
        tokio::spawn(async move {
            match bus::open(&role, &security).await {
                Ok(session) => {
                    let _ = myself.cast(EscalatorMsg::Connected(Arc::new(session)));
                }
                Err(e) => warn!(error = %e, "Cannot open the V-SOC uplink."),
            }
        });
        let keys = [keys::incident(&args.vin), keys::escalation(&args.vin)];
        let publishers = Publishers::declare(Arc::clone(&args.session), bus::DATA, keys).await?;
        Ok(EscalatorState {
            args,
            publishers,
            fbb: FlatBufferBuilder::new(),
            vsoc: None,
            waiting: BTreeMap::new(),
            next_version: 1,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: EscalatorMsg,
        state: &mut EscalatorState,
    ) -> Result<(), ActorError> {
        match msg {
            EscalatorMsg::Escalate(incident) => {
                let bytes = encode::incident(&mut state.fbb, &state.args.vin, &incident).to_vec();
                let key = keys::incident(&state.args.vin);
                state.publishers.put(&key, &bytes).await?;
                let version = state.next_version;
                state.next_version += 1;
                let in_flight = state
                    .waiting
                    .get(&incident.incident_id)
                    .is_some_and(|w| w.in_flight);
                state.waiting.insert(
                    incident.incident_id,
                    Waiting {
                        version,
                        bytes,
                        in_flight,
                    },
                );
            }
            EscalatorMsg::Connected(session) => {
                info!(vsoc = ?state.args.vsoc, "V-SOC uplink open.");
                state.vsoc = Some(session);
            }
            EscalatorMsg::Delivered {
                incident_id,
                version,
                receipt,
            } => {
                let key = keys::escalation(&state.args.vin);
                state.publishers.put(&key, &receipt).await?;
                if let Some(w) = state.waiting.get_mut(&incident_id) {
                    w.in_flight = false;
                    if w.version == version {
                        info!(incident = incident_id, "V-SOC acknowledged the incident.");
                        state.waiting.remove(&incident_id);
                    }
                }
            }
            EscalatorMsg::Failed {
                incident_id,
                version,
                reason,
            } => {
                warn!(incident = incident_id, version, %reason, "Escalation not acknowledged; will retry.");
                if let Some(w) = state.waiting.get_mut(&incident_id) {
                    w.in_flight = false;
                }
                myself.send_after(RETRY, || EscalatorMsg::Retry);
            }
            EscalatorMsg::Retry => {}
        }
        state.deliver(&myself);
        Ok(())
    }
}

impl EscalatorState {
    /// Starts a delivery for every waiting incident that has none under way, oldest first.
    fn deliver(&mut self, myself: &ActorRef<EscalatorMsg>) {
        let Some(vsoc) = &self.vsoc else {
            return;
        };
        for (&incident_id, w) in self.waiting.iter_mut().filter(|(_, w)| !w.in_flight) {
            w.in_flight = true;
            let (vsoc, me, bytes, version) =
                (Arc::clone(vsoc), myself.clone(), w.bytes.clone(), w.version);
            let key = keys::vsoc_incident(&self.args.vin);
            tokio::spawn(async move {
                let msg = match deliver(&vsoc, &key, bytes, incident_id).await {
                    Ok(receipt) => EscalatorMsg::Delivered {
                        incident_id,
                        version,
                        receipt,
                    },
                    Err(reason) => EscalatorMsg::Failed {
                        incident_id,
                        version,
                        reason,
                    },
                };
                let _ = me.cast(msg);
            });
        }
    }
}

/// Sends one incident to the V-SOC and returns its receipt.
async fn deliver(
    vsoc: &Session,
    key: &str,
    bytes: Vec<u8>,
    incident_id: u64,
) -> Result<Vec<u8>, String> {
    let replies = vsoc
        .get(key)
        .payload(bytes)
        .timeout(bus::QUERY_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    while let Ok(reply) = replies.recv_async().await {
        let Ok(sample) = reply.result() else {
            continue;
        };
        let receipt = sample.payload().to_bytes().into_owned();
        match read::incident_ack(&receipt) {
            Ok(ack) if ack.incident_id() == incident_id => return Ok(receipt),
            Ok(ack) => return Err(format!("receipt for incident {}", ack.incident_id())),
            Err(e) => return Err(format!("invalid receipt: {e}")),
        }
    }
    Err("no reply".into())
}
