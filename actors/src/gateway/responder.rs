//! The responder: turns an incident into block orders, publishes them express at the highest
//! priority, retries each until its enforcer acknowledges it, and reports what was done.
//! Every decision, including a refusal on safety grounds, is recorded with its reason.

pub mod policy;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use flatbuffers::FlatBufferBuilder;
use ractor::{Actor, ActorRef};
use tracing::{info, warn};
use vsiem_schemas::encode::{self, ActionTakenDraft, OrderDraft, VehicleSnapshot};
use vsiem_schemas::wire::{AckStatus, BlockAck};
use vsiem_schemas::{now_ns, read};
use vsiem_topology::{AddressMode, Topology};
use zenoh::pubsub::Subscriber;
use zenoh::Session;

use super::correlator::{CorrelatorMsg, Process};
use super::strays::Strays;
use crate::bus::{self, keys, Publishers};
use crate::ActorError;

/// What the correlator asks for: contain `origin` as the incident now stands, as the response
/// policy of one of the incident's rules says.
#[derive(Debug, Clone)]
pub struct Response {
    pub incident_id: u64,
    /// Every rule the incident matched.
    pub rules: Vec<String>,
    pub origin: String,
    pub processes: Vec<Process>,
    pub targets: Vec<String>,
    pub vehicle: VehicleSnapshot,
}

pub struct Responder;

pub struct ResponderArgs {
    pub session: Arc<Session>,
    pub topology: Arc<Topology>,
    pub addressing: AddressMode,
    pub correlator: ActorRef<CorrelatorMsg>,
    /// Where acks the verifier refuses are counted (ingest reports them).
    pub rejected_acks: Arc<Strays>,
}

struct Pending {
    order: OrderDraft,
    summary: String,
    attempts: u32,
    answer: Option<(AckStatus, String)>,
}

pub struct ResponderState {
    args: ResponderArgs,
    orders_out: Publishers,
    fbb: FlatBufferBuilder<'static>,
    next_order: u64,
    orders: HashMap<u64, Pending>,
    incidents: HashMap<u64, Decisions>,
    /// (incident, target, action) already decided, so a repeated response issues nothing new.
    decided: HashSet<(u64, String, String)>,
    _acks: Subscriber<()>,
}

/// What was decided for one incident.
#[derive(Default)]
struct Decisions {
    /// The rules the incident was last judged by, and its origin.
    rules: Vec<String>,
    origin: String,
    /// Orders, in issue order.
    orders: Vec<u64>,
    /// Orders refused on safety grounds, with the reason.
    refused: Vec<ActionTakenDraft>,
}

pub enum ResponderMsg {
    Respond(Response),
    /// A block ack as it arrived on `key`, not yet verified.
    Ack {
        key: String,
        bytes: Vec<u8>,
    },
    Retry(u64),
    /// The incident is closed: lift its blocks that are still in force.
    Revoke(u64),
}

impl Actor for Responder {
    type Msg = ResponderMsg;
    type State = ResponderState;
    type Arguments = ResponderArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ResponderArgs,
    ) -> Result<Self::State, ActorError> {
        let acks = args
            .session
            .declare_subscriber(keys::all_acks(args.topology.vin()))
            .callback(move |sample| {
                let _ = myself.cast(ResponderMsg::Ack {
                    key: sample.key_expr().to_string(),
                    bytes: sample.payload().to_bytes().into_owned(),
                });
            })
            .await?;
        // Every ECU may receive orders: declare all their publishers before an incident needs one.
        let vin = args.topology.vin();
        let keys: Vec<String> = args
            .topology
            .ecus
            .iter()
            .map(|e| keys::order(vin, &e.name))
            .collect();
        let orders_out = Publishers::declare(Arc::clone(&args.session), bus::ORDERS, keys).await?;
        Ok(ResponderState {
            args,
            orders_out,
            fbb: FlatBufferBuilder::new(),
            next_order: 1,
            orders: HashMap::new(),
            incidents: HashMap::new(),
            decided: HashSet::new(),
            _acks: acks,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: ResponderMsg,
        state: &mut ResponderState,
    ) -> Result<(), ActorError> {
        match msg {
            ResponderMsg::Respond(response) => state.respond(&myself, &response).await?,
            ResponderMsg::Ack { key, bytes } => state.ack(&key, &bytes),
            ResponderMsg::Retry(order_id) => state.retry(&myself, order_id).await?,
            ResponderMsg::Revoke(incident_id) => state.revoke(&myself, incident_id).await?,
        }
        Ok(())
    }
}

impl ResponderState {
    async fn respond(
        &mut self,
        myself: &ActorRef<ResponderMsg>,
        response: &Response,
    ) -> Result<(), ActorError> {
        let topology = Arc::clone(&self.args.topology);
        let decisions = self.incidents.entry(response.incident_id).or_default();
        decisions.rules.clone_from(&response.rules);
        decisions.origin.clone_from(&response.origin);
        for (target, action) in policy::actions(&topology, self.args.addressing, response) {
            let summary = policy::summary(&action);
            if !self
                .decided
                .insert((response.incident_id, target.clone(), summary.clone()))
            {
                continue;
            }
            let decisions = self.incidents.entry(response.incident_id).or_default();
            if let Some(reason) = policy::refusal(&topology, &target, &action, &response.vehicle) {
                warn!(incident = response.incident_id, %target, action = %summary, %reason, "Block order refused.");
                decisions.refused.push(ActionTakenDraft {
                    order_id: 0,
                    target_ecu: target,
                    summary: format!("{summary}: refused, {reason}"),
                    status: AckStatus::Rejected,
                });
                continue;
            }
            let order = OrderDraft {
                order_id: self.next_order,
                target_ecu: target,
                action,
                ttl_ms: u32::try_from(topology.response.order_ttl_ms).unwrap_or(u32::MAX),
                incident_id: response.incident_id,
                issued_ns: now_ns(),
                revoke: false,
                reason: format!(
                    "incident {}: {} compromised",
                    response.incident_id, response.origin
                ),
            };
            self.next_order += 1;
            decisions.orders.push(order.order_id);
            info!(incident = response.incident_id, order = order.order_id, target = %order.target_ecu, action = %summary, "Block order issued.");
            let id = order.order_id;
            self.orders.insert(
                id,
                Pending {
                    order,
                    summary,
                    attempts: 0,
                    answer: None,
                },
            );
            self.send(myself, id).await?;
        }
        self.report_if_settled(response.incident_id);
        Ok(())
    }

    async fn send(
        &mut self,
        myself: &ActorRef<ResponderMsg>,
        order_id: u64,
    ) -> Result<(), ActorError> {
        let vin = self.args.topology.vin().to_owned();
        let Some(pending) = self.orders.get_mut(&order_id) else {
            return Ok(());
        };
        pending.attempts += 1;
        let bytes = encode::order(&mut self.fbb, &vin, &pending.order);
        let key = keys::order(&vin, &pending.order.target_ecu);
        self.orders_out.put(&key, bytes).await?;
        let timeout = Duration::from_millis(self.args.topology.response.ack_timeout_ms);
        myself.send_after(timeout, move || ResponderMsg::Retry(order_id));
        Ok(())
    }

    async fn retry(
        &mut self,
        myself: &ActorRef<ResponderMsg>,
        order_id: u64,
    ) -> Result<(), ActorError> {
        let max = self.args.topology.response.max_retries;
        let Some(pending) = self.orders.get_mut(&order_id) else {
            return Ok(());
        };
        if pending.answer.is_some() {
            return Ok(());
        }
        if pending.attempts > max {
            warn!(
                order = order_id,
                attempts = pending.attempts,
                "Block order never acknowledged."
            );
            pending.answer = Some((
                AckStatus::Rejected,
                format!("no ack after {} attempts", pending.attempts),
            ));
            let incident = pending.order.incident_id;
            self.report_if_settled(incident);
            return Ok(());
        }
        self.send(myself, order_id).await
    }

    fn ack(&mut self, key: &str, bytes: &[u8]) {
        let bounds = self.args.topology.limits.flatbuffers.options();
        let ack = match read::verified_within::<BlockAck>(&bounds, bytes) {
            Ok(ack) => ack,
            Err(e) => {
                warn!(%key, error = %e, "Block ack refused by the FlatBuffers verifier.");
                self.args.rejected_acks.note(key);
                return;
            }
        };
        let Some(pending) = self.orders.get_mut(&ack.order_id()) else {
            return;
        };
        if ack.ecu() != pending.order.target_ecu {
            warn!(
                order = ack.order_id(),
                from = ack.ecu(),
                "Ack from an ECU the order was not for; ignored."
            );
            return;
        }
        let detail = ack.detail().unwrap_or_default().to_owned();
        info!(order = ack.order_id(), ecu = ack.ecu(), status = ?ack.status(), %detail, "Block ack.");
        if pending.order.revoke {
            // The incident is closed: the revocation's answer ends the order.
            self.orders.remove(&ack.order_id());
        } else if pending.answer.is_none() {
            pending.answer = Some((ack.status(), detail));
            let incident = pending.order.incident_id;
            self.report_if_settled(incident);
        }
    }

    /// Sends the revocation of every order of a closed incident that its enforcer applied
    /// (the others lapse or were never in force); retried like the orders themselves.
    async fn revoke(
        &mut self,
        myself: &ActorRef<ResponderMsg>,
        incident_id: u64,
    ) -> Result<(), ActorError> {
        let Some(decisions) = self.incidents.remove(&incident_id) else {
            return Ok(());
        };
        self.decided
            .retain(|(incident, ..)| *incident != incident_id);
        for id in decisions.orders {
            let Some(pending) = self.orders.get_mut(&id) else {
                continue;
            };
            if !matches!(pending.answer, Some((AckStatus::Applied, _))) {
                self.orders.remove(&id);
                continue;
            }
            info!(incident = incident_id, order = id, "Block order revoked.");
            pending.order.revoke = true;
            pending.answer = None;
            pending.attempts = 0;
            self.send(myself, id).await?;
        }
        Ok(())
    }

    /// Once every order of an incident is answered, tells the correlator what was done; with
    /// no order and no refusal, that no policy names any of the incident's rules.
    fn report_if_settled(&self, incident_id: u64) {
        let Some(decisions) = self.incidents.get(&incident_id) else {
            return;
        };
        let mut actions = decisions.refused.clone();
        if decisions.orders.is_empty() && actions.is_empty() {
            actions.push(ActionTakenDraft {
                order_id: 0,
                target_ecu: decisions.origin.clone(),
                summary: format!(
                    "nothing blocked: no response policy names rule {}",
                    decisions.rules.join(", ")
                ),
                status: AckStatus::Unsupported,
            });
        }
        for id in &decisions.orders {
            let pending = &self.orders[id];
            let Some((status, detail)) = &pending.answer else {
                return;
            };
            actions.push(ActionTakenDraft {
                order_id: *id,
                target_ecu: pending.order.target_ecu.clone(),
                summary: if detail.is_empty() {
                    pending.summary.clone()
                } else {
                    format!("{}: {detail}", pending.summary)
                },
                status: *status,
            });
        }
        let _ = self.args.correlator.cast(CorrelatorMsg::Actions {
            incident_id,
            actions,
        });
    }
}
