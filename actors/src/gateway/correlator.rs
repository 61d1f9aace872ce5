//! The correlator: runs the gateway's rule set ([`vsiem_rules`]) over the verified event stream,
//! each event judged against the vehicle state at its own time, and keeps the incidents the
//! rules raise (see [`incidents`]): escalates their versions, asks the responder to contain
//! them, and closes them when they have been quiet for the response policy's close delay.
//!
//! A raised or upgraded incident, a settled response and a closed incident are escalated at
//! once; an event folded into an incident only marks it, and the marked incidents are escalated
//! every [`UPDATE_PERIOD`]. An incident a flood folds a thousand events a second into is thus
//! five versions a second on the bus and in the escalation queue, not a thousand copies of a
//! growing list of references. The responder still hears of every change at once.
//!
//! A new rule set (a reload) replaces the old one between two events: nothing in flight is
//! lost, and the windows and open incidents of unchanged rules carry over.

pub mod incidents;
pub mod vehicle;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef};
use tracing::{info, warn};
use vsiem_rules::{Engine, RuleSet};
use vsiem_schemas::encode::{ActionTakenDraft, VehicleSnapshot};
use vsiem_schemas::now_ns;

use super::escalator::EscalatorMsg;
use super::ingest::VerifiedEvent;
use super::responder::{ResponderMsg, Response};
use crate::front::Front;
use crate::ActorError;
use incidents::{Book, Change};
use vehicle::VehicleHistory;

/// A process an intrusion event named: (pid, name).
pub type Process = (u32, String);

/// How often quiet incidents are looked for.
const CLOSE_CHECK: Duration = Duration::from_secs(1);
/// How often the incidents that events were folded into are escalated.
pub const UPDATE_PERIOD: Duration = Duration::from_millis(200);

pub struct Correlator;

pub struct CorrelatorArgs {
    pub rules: Arc<RuleSet>,
    /// An incident quiet this long is closed (the topology's `response.close_after_ms`).
    pub close_after: Duration,
    pub escalator: ActorRef<EscalatorMsg>,
    /// The highest incident id this gateway ever escalated: new ones are numbered after it.
    pub last_incident_id: u64,
    /// Given later by [`CorrelatorMsg::Responder`]: the responder needs the correlator's address.
    pub responder: Option<ActorRef<ResponderMsg>>,
    /// The bounded backlog ingest hands events through: each event taken is counted here.
    pub handoff: Arc<Front>,
}

pub struct CorrelatorState {
    args: CorrelatorArgs,
    engine: Engine,
    book: Book,
    vehicle: VehicleHistory,
    /// Incidents events were folded into since they were last escalated.
    folded: BTreeSet<u64>,
}

pub enum CorrelatorMsg {
    Event(VerifiedEvent),
    Responder(ActorRef<ResponderMsg>),
    Signal(VehicleSnapshot),
    /// The responder's record of what was done for an incident.
    Actions {
        incident_id: u64,
        actions: Vec<ActionTakenDraft>,
    },
    /// A new, validated rule set.
    Rules(Arc<RuleSet>),
    CloseQuiet,
    EscalateFolded,
}

impl Actor for Correlator {
    type Msg = CorrelatorMsg;
    type State = CorrelatorState;
    type Arguments = CorrelatorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: CorrelatorArgs,
    ) -> Result<Self::State, ActorError> {
        myself.send_interval(CLOSE_CHECK, || CorrelatorMsg::CloseQuiet);
        myself.send_interval(UPDATE_PERIOD, || CorrelatorMsg::EscalateFolded);
        Ok(CorrelatorState {
            engine: Engine::new(Arc::clone(&args.rules)),
            book: Book::numbered_after(args.last_incident_id),
            args,
            vehicle: VehicleHistory::default(),
            folded: BTreeSet::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: CorrelatorMsg,
        state: &mut CorrelatorState,
    ) -> Result<(), ActorError> {
        match msg {
            CorrelatorMsg::Event(event) => {
                state.event(&event);
                state.args.handoff.taken();
            }
            CorrelatorMsg::Responder(responder) => state.args.responder = Some(responder),
            CorrelatorMsg::Signal(snapshot) => state.vehicle.push(snapshot),
            CorrelatorMsg::Actions {
                incident_id,
                actions,
            } => {
                if let Some(incident) = state.book.settled(incident_id, actions, now_ns()) {
                    state.folded.remove(&incident_id);
                    let _ = state
                        .args
                        .escalator
                        .cast(EscalatorMsg::Escalate(incident.clone()));
                }
            }
            CorrelatorMsg::Rules(rules) => {
                info!(
                    rules = rules.rules.len(),
                    correlations = rules.correlations.len(),
                    "Rule set replaced."
                );
                state.engine.replace(rules);
            }
            CorrelatorMsg::CloseQuiet => state.close_quiet(),
            CorrelatorMsg::EscalateFolded => {
                let now = now_ns();
                for id in std::mem::take(&mut state.folded) {
                    state.escalate(id, now);
                }
            }
        }
        Ok(())
    }
}

impl CorrelatorState {
    fn event(&mut self, event: &VerifiedEvent) {
        let (outcomes, at) = event.with(|e| {
            let at = self.vehicle.at(e.timestamp_ns());
            (self.engine.observe(&e, &at), at)
        });
        let now = now_ns();
        let mut changed: Vec<u64> = Vec::new();
        let mut escalate_now: Vec<u64> = Vec::new();
        for outcome in &outcomes {
            let change = self.book.apply(outcome, at, now);
            match change {
                Change::Raised(id) => {
                    info!(incident = id, rule = %outcome.detector.name, "Incident raised.");
                    escalate_now.push(id);
                }
                Change::Upgraded(id) => {
                    info!(incident = id, rule = %outcome.detector.name, "Incident upgraded.");
                    escalate_now.push(id);
                }
                Change::Folded(id) => {
                    self.folded.insert(id);
                }
                Change::Unchanged(_) => {}
            }
            if change != Change::Unchanged(change.incident())
                && !changed.contains(&change.incident())
            {
                changed.push(change.incident());
            }
        }
        escalate_now.dedup();
        for id in escalate_now {
            self.folded.remove(&id);
            self.escalate(id, now);
        }
        for id in changed {
            self.respond(id);
        }
    }

    /// Escalates the incident `id` as it now stands.
    fn escalate(&self, id: u64, now: u64) {
        let Some(incident) = self.book.get(id) else {
            return;
        };
        let mut draft = incident.draft.clone();
        draft.updated_ns = now;
        let _ = self.args.escalator.cast(EscalatorMsg::Escalate(draft));
    }

    /// Asks the responder to contain an incident as it now stands; it issues only new orders.
    fn respond(&self, incident_id: u64) {
        let Some(incident) = self.book.get(incident_id) else {
            return;
        };
        let response = Response {
            incident_id,
            rules: incident.rules(),
            origin: incident.draft.origin_ecu.clone(),
            processes: incident.processes.clone(),
            targets: incident.targets.clone(),
            vehicle: self.vehicle.at(now_ns()),
        };
        match &self.args.responder {
            Some(responder) => {
                let _ = responder.cast(ResponderMsg::Respond(response));
            }
            None => warn!(
                incident = incident_id,
                "No responder yet; incident not contained."
            ),
        }
    }

    fn close_quiet(&mut self) {
        let now = now_ns();
        let quiet = u64::try_from(self.args.close_after.as_nanos()).unwrap_or(u64::MAX);
        for id in self.book.due(now, quiet) {
            let Some((last, groups)) = self.book.close(id, now) else {
                continue;
            };
            for (detector, group) in &groups {
                self.engine.close(detector, group);
            }
            info!(incident = id, "Incident closed: quiet for the close delay.");
            self.folded.remove(&id);
            if let Some(responder) = &self.args.responder {
                let _ = responder.cast(ResponderMsg::Revoke(id));
            }
            let _ = self.args.escalator.cast(EscalatorMsg::Escalate(last));
        }
    }
}
