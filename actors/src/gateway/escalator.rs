//! The escalator: publishes each incident (and each update of it) on the vehicle bus and
//! delivers it to the V-SOC, retrying until the V-SOC acknowledges it. The V-SOC's receipt is
//! published on the bus too, as the record that the carmaker was told.
//!
//! Every version waits in a durable queue (`queue`, the gateway's store; a newer version of an
//! incident takes the place of the one waiting) and is delivered in the order the incidents
//! were raised, one at a time: the next only once the V-SOC acknowledged the one before.
//! Incidents raised while the V-SOC is unreachable (or before a gateway restart) wait on disk
//! and arrive, in order and in their latest state, when it answers again. A version whose
//! receipt was lost is sent again; the V-SOC stores each version once.

pub mod queue;

use std::sync::Arc;
use std::time::Duration;

use flatbuffers::FlatBufferBuilder;
use ractor::{Actor, ActorRef};
use tracing::{info, warn};
use vsiem_schemas::catalog;
use vsiem_schemas::encode::{self, IncidentDraft, SensorHealthDraft};
use vsiem_schemas::read;
use zenoh::Session;

use crate::bus::{self, keys, Publishers};
use crate::sensor::uplink::{self, UplinkHandle};
use crate::ActorError;
use queue::Queue;

/// The sensor under which the gateway reports the escalation queue's drops.
pub const SENSOR: &str = "escalator";

const RETRY: Duration = Duration::from_secs(1);
/// How often the queue's drops are reported: one report per period, whatever their number (a
/// report per drop became an event, an incident update and a version to queue of its own).
const REPORT_PERIOD: Duration = Duration::from_secs(1);

pub struct Escalator;

pub struct EscalatorArgs {
    pub session: Arc<Session>,
    pub vin: String,
    /// The V-SOC's endpoints.
    pub vsoc: Vec<String>,
    /// The gateway's identity on the uplink.
    pub security: bus::Security,
    /// The durable queue, opened by the supervisor (which numbers incidents after its last).
    pub queue: Queue,
    /// Where the queue's drops are reported.
    pub uplink: UplinkHandle,
}

pub struct EscalatorState {
    args: EscalatorArgs,
    publishers: Publishers,
    fbb: FlatBufferBuilder<'static>,
    vsoc: Option<Arc<Session>>,
    /// The order of the version being delivered, if any.
    in_flight: Option<u64>,
    /// A delivery failed: the next waits for the retry timer.
    backing_off: bool,
}

pub enum EscalatorMsg {
    Escalate(IncidentDraft),
    Connected(Arc<Session>),
    Delivered {
        order: u64,
        incident_id: u64,
        receipt: Vec<u8>,
    },
    Failed {
        order: u64,
        incident_id: u64,
        reason: String,
    },
    Retry,
    ReportDrops,
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
        myself.send_interval(REPORT_PERIOD, || EscalatorMsg::ReportDrops);
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
        if !args.queue.is_empty() {
            info!(
                waiting = args.queue.len(),
                "Escalations of an earlier run waiting for the V-SOC."
            );
        }
        let keys = [keys::incident(&args.vin), keys::escalation(&args.vin)];
        let publishers = Publishers::declare(Arc::clone(&args.session), bus::DATA, keys).await?;
        Ok(EscalatorState {
            args,
            publishers,
            fbb: FlatBufferBuilder::new(),
            vsoc: None,
            in_flight: None,
            backing_off: false,
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
                let bytes = encode::incident(&mut state.fbb, &state.args.vin, &incident);
                state.args.queue.push(incident.incident_id, bytes)?;
                let key = keys::incident(&state.args.vin);
                state.publishers.put(&key, bytes).await?;
            }
            EscalatorMsg::Connected(session) => {
                info!(vsoc = ?state.args.vsoc, "V-SOC uplink open.");
                state.vsoc = Some(session);
            }
            EscalatorMsg::Delivered {
                order,
                incident_id,
                receipt,
            } => {
                info!(incident = incident_id, "V-SOC acknowledged the incident.");
                state.in_flight = None;
                state.args.queue.remove(order)?;
                let key = keys::escalation(&state.args.vin);
                state.publishers.put(&key, &receipt).await?;
            }
            EscalatorMsg::Failed {
                order,
                incident_id,
                reason,
            } => {
                warn!(incident = incident_id, order, %reason, "Escalation not acknowledged; will retry.");
                state.in_flight = None;
                state.backing_off = true;
                myself.send_after(RETRY, || EscalatorMsg::Retry);
            }
            EscalatorMsg::Retry => state.backing_off = false,
            EscalatorMsg::ReportDrops => state.report_drops(),
        }
        state.deliver(&myself)?;
        Ok(())
    }
}

impl EscalatorState {
    /// Starts delivering the oldest waiting version, unless one is under way.
    fn deliver(&mut self, myself: &ActorRef<EscalatorMsg>) -> Result<(), ActorError> {
        let Some(vsoc) = &self.vsoc else {
            return Ok(());
        };
        if self.in_flight.is_some() || self.backing_off {
            return Ok(());
        }
        let Some(waiting) = self.args.queue.head()? else {
            return Ok(());
        };
        self.in_flight = Some(waiting.order);
        let (vsoc, me) = (Arc::clone(vsoc), myself.clone());
        let key = keys::vsoc_incident(&self.args.vin);
        tokio::spawn(async move {
            let queue::Waiting {
                order,
                incident_id,
                bytes,
            } = waiting;
            let msg = match deliver(&vsoc, &key, bytes, incident_id).await {
                Ok(receipt) => EscalatorMsg::Delivered {
                    order,
                    incident_id,
                    receipt,
                },
                Err(reason) => EscalatorMsg::Failed {
                    order,
                    incident_id,
                    reason,
                },
            };
            let _ = me.cast(msg);
        });
        Ok(())
    }

    /// Reports the versions a full queue dropped, as `sensor.queue_overflow`.
    fn report_drops(&mut self) {
        let dropped = self.args.queue.unreported_drops();
        if dropped == 0 {
            return;
        }
        warn!(dropped, "Escalation queue full, versions dropped.");
        let report = SensorHealthDraft {
            subject: "escalation queue".into(),
            reason: format!(
                "queue of {} incidents waiting for the V-SOC full: the oldest dropped",
                self.args.queue.capacity()
            ),
            restarts: 0,
            dropped,
        };
        let event = uplink::health(&catalog::SENSOR_QUEUE_OVERFLOW, super::ECU, report);
        self.args.uplink.report(SENSOR, event);
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
