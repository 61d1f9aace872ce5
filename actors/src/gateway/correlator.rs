//! The correlator: turns the event stream and the vehicle state into incidents.
//!
//! Rule `intrusion-then-lateral-movement`: an intrusion on an ECU (a compromised process or
//! file, a C&C contact) and lateral movement or reconnaissance originating from that ECU within
//! the window of each other raise one critical incident for that ECU (see [`rule`]). Later
//! events from the same origin fold into the open incident; every contributing event stays
//! referenced, and the incident is judged against the vehicle state at its time.

pub mod rule;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use ractor::{Actor, ActorRef};
use tracing::{info, warn};
use vsiem_schemas::catalog::{self, Category};
use vsiem_schemas::encode::{ActionTakenDraft, EventRefDraft, IncidentDraft, VehicleSnapshot};
use vsiem_schemas::wire;

use super::escalator::EscalatorMsg;
use super::ingest::VerifiedEvent;
use super::responder::{ResponderMsg, Response};
use crate::front::Front;
use crate::ActorError;
use rule::{Lateral, Process, Tracker};

/// Vehicle samples kept to find the state at an event's time (10 s at the 100 ms period).
const VEHICLE_HISTORY: usize = 100;

pub struct Correlator;

pub struct CorrelatorArgs {
    pub window_ns: u64,
    pub escalator: ActorRef<EscalatorMsg>,
    /// Given later by [`CorrelatorMsg::Responder`]: the responder needs the correlator's address.
    pub responder: Option<ActorRef<ResponderMsg>>,
    /// The bounded backlog ingest hands events through: each event taken is counted here.
    pub handoff: Arc<Front>,
}

pub struct CorrelatorState {
    args: CorrelatorArgs,
    tracker: Tracker,
    incidents: HashMap<u64, IncidentDraft>,
    vehicle: VecDeque<VehicleSnapshot>,
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
}

impl Actor for Correlator {
    type Msg = CorrelatorMsg;
    type State = CorrelatorState;
    type Arguments = CorrelatorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: CorrelatorArgs,
    ) -> Result<Self::State, ActorError> {
        let tracker = Tracker::new(args.window_ns);
        Ok(CorrelatorState {
            args,
            tracker,
            incidents: HashMap::new(),
            vehicle: VecDeque::with_capacity(VEHICLE_HISTORY),
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
            CorrelatorMsg::Signal(snapshot) => {
                if state.vehicle.len() == VEHICLE_HISTORY {
                    state.vehicle.pop_front();
                }
                state.vehicle.push_back(snapshot);
            }
            CorrelatorMsg::Actions {
                incident_id,
                actions,
            } => {
                if let Some(incident) = state.incidents.get_mut(&incident_id) {
                    incident.actions = actions;
                    incident.updated_ns = vsiem_schemas::now_ns();
                    let _ = state
                        .args
                        .escalator
                        .cast(EscalatorMsg::Escalate(incident.clone()));
                }
            }
        }
        Ok(())
    }
}

/// What the correlator takes from an event, copied out of the view.
struct Contribution {
    category: Category,
    reference: EventRefDraft,
    process: Option<Process>,
}

fn contribution(e: &wire::SecurityEvent<'_>) -> Option<Contribution> {
    let category = catalog::by_id(e.event_id())?.category;
    let origin = match e.origin() {
        Some(o) if !o.is_empty() => o,
        _ => e.ecu(),
    };
    let reference = EventRefDraft {
        ecu: e.ecu().to_owned(),
        sensor: e.sensor().to_owned(),
        seq: e.seq(),
        event_id: e.event_id(),
        timestamp_ns: e.timestamp_ns(),
        origin: origin.to_owned(),
    };
    let process = e
        .context_as_process_start()
        .map(|p| (p.pid(), p.name().unwrap_or_default().to_owned()));
    Some(Contribution {
        category,
        reference,
        process,
    })
}

impl CorrelatorState {
    fn event(&mut self, event: &VerifiedEvent) {
        let Some(Contribution {
            category,
            reference,
            process,
        }) = event.with(|e| contribution(&e))
        else {
            warn!("Event of a type this gateway does not know; recorded only.");
            return;
        };
        match self.tracker.observe(category, reference, process) {
            Lateral::Nothing => {}
            Lateral::Fold {
                incident_id,
                reference,
            } => {
                if let Some(incident) = self.incidents.get_mut(&incident_id) {
                    incident.events.push(reference);
                }
                self.respond(incident_id);
            }
            Lateral::Raise {
                incident_id,
                origin,
                events,
            } => {
                let opened_ns = vsiem_schemas::now_ns();
                let last_event_ns = events.last().map_or(opened_ns, |e| e.timestamp_ns);
                let incident = IncidentDraft {
                    incident_id,
                    severity: wire::Severity::Critical,
                    title: format!("{origin} compromised and moving laterally"),
                    rule: rule::NAME.to_owned(),
                    origin_ecu: origin.clone(),
                    opened_ns,
                    updated_ns: opened_ns,
                    events,
                    vehicle_state: self.vehicle_at(last_event_ns),
                    actions: Vec::new(),
                };
                info!(incident = incident_id, origin = %origin, events = incident.events.len(), "Incident raised.");
                let _ = self
                    .args
                    .escalator
                    .cast(EscalatorMsg::Escalate(incident.clone()));
                self.incidents.insert(incident_id, incident);
                self.respond(incident_id);
            }
        }
    }

    /// Asks the responder to contain an incident as it now stands; it issues only new orders.
    fn respond(&self, incident_id: u64) {
        let Some(incident) = self.incidents.get(&incident_id) else {
            return;
        };
        let Some(track) = self.tracker.origin(&incident.origin_ecu) else {
            return;
        };
        let response = Response {
            incident_id,
            origin: incident.origin_ecu.clone(),
            processes: track.processes.clone(),
            targets: track.targets.clone(),
            vehicle: self.vehicle_at(vsiem_schemas::now_ns()),
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

    /// The latest vehicle sample taken at or before `timestamp_ns`.
    fn vehicle_at(&self, timestamp_ns: u64) -> VehicleSnapshot {
        self.vehicle
            .iter()
            .rev()
            .find(|s| s.timestamp_ns <= timestamp_ns)
            .or(self.vehicle.front())
            .copied()
            .unwrap_or_default()
    }
}
