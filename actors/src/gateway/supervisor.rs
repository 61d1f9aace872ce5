//! The gateway supervisor: opens the backbone's router and supervises ingest, correlator,
//! responder, escalator, the rule watcher and the gateway's own uplink (for the events it
//! raises itself).
//!
//! Restart policy: any child that fails stops the gateway, and the process exits non-zero for
//! its service manager to restart it: the children share state (the correlator's windows, the
//! responder's pending orders) that a lone restart would silently lose.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef, SupervisionEvent};
use tracing::{error, info};
use zenoh::liveliness::LivelinessToken;
use zenoh::Session;

use super::access::{AccessWatch, AccessWatchArgs};
use super::correlator::{Correlator, CorrelatorArgs};
use super::escalator::queue::Queue;
use super::escalator::{Escalator, EscalatorArgs};
use super::ingest::{self, Ingest, IngestArgs};
use super::responder::{Responder, ResponderArgs};
use super::rule_watch::{RuleWatch, RuleWatchArgs};
use super::strays::Strays;
use super::GatewayConfig;
use crate::bus::{self, keys};
use crate::front::Front;
use crate::sensor::uplink::{self, Uplink, UplinkArgs, UplinkHandle};
use crate::store;
use crate::ActorError;

pub struct Gateway;

pub struct GatewayState {
    _session: Arc<Session>,
    /// Declared once ingest subscribes: while it is seen, the gateway takes events.
    _alive: LivelinessToken,
}

pub enum GatewayMsg {}

impl Actor for Gateway {
    type Msg = GatewayMsg;
    type State = GatewayState;
    type Arguments = GatewayConfig;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        config: GatewayConfig,
    ) -> Result<Self::State, ActorError> {
        let session = Arc::new(
            bus::open(
                &bus::Role::Router {
                    listen: config.listen.clone(),
                    acl: bus::acl::backbone(&config.topology),
                },
                &config.security,
            )
            .await?,
        );
        info!(listen = ?config.listen, "Backbone router up.");
        let vin = config.topology.vin().to_owned();
        let cell = myself.get_cell();
        let store = store::open(&config.state_dir, "gateway")?;
        let front = Front::new(uplink::QUEUE_CAPACITY);
        let (uplink, _) = Actor::spawn_linked(
            None,
            Uplink,
            UplinkArgs {
                session: Arc::clone(&session),
                vin: vin.clone(),
                ecu: super::ECU.to_owned(),
                sensors: super::SENSORS.to_vec(),
                front: Arc::clone(&front),
                qualification: config.topology.qualification.for_ecu(super::ECU),
                store: Arc::clone(&store),
                outbox_capacity: config.topology.limits.uplink_queue_events,
            },
            cell.clone(),
        )
        .await?;
        let uplink = UplinkHandle::new(uplink, front);
        let queue = Queue::open(
            Arc::clone(&store),
            config.topology.limits.escalation_queue_incidents,
        )?;
        // Incidents are numbered after every one this gateway ever escalated.
        let last_incident_id = queue.last_incident_id();
        let (escalator, _) = Actor::spawn_linked(
            None,
            Escalator,
            EscalatorArgs {
                session: Arc::clone(&session),
                vin: vin.clone(),
                vsoc: config.vsoc.clone(),
                security: config.security.clone(),
                queue,
                uplink: uplink.clone(),
            },
            cell.clone(),
        )
        .await?;
        // Ingest hands events to the correlator through this bounded backlog.
        let handoff = Front::new(ingest::HANDOFF_CAPACITY);
        // The correlator and the responder need each other's address: the correlator starts
        // first and is told the responder's once that has started.
        let (correlator, _) = Actor::spawn_linked(
            None,
            Correlator,
            CorrelatorArgs {
                rules: Arc::clone(&config.rules),
                close_after: Duration::from_millis(config.topology.response.close_after_ms),
                escalator,
                last_incident_id,
                responder: None,
                handoff: Arc::clone(&handoff),
            },
            cell.clone(),
        )
        .await?;
        // Acks the responder refuses are reported with ingest's other drops on arrival.
        let rejected_acks = Arc::new(Strays::default());
        let (responder, _) = Actor::spawn_linked(
            None,
            Responder,
            ResponderArgs {
                session: Arc::clone(&session),
                topology: Arc::clone(&config.topology),
                addressing: config.addressing,
                correlator: correlator.clone(),
                rejected_acks: Arc::clone(&rejected_acks),
            },
            cell.clone(),
        )
        .await?;
        correlator.cast(super::correlator::CorrelatorMsg::Responder(responder))?;
        if let Some(dir) = &config.rules_dir {
            Actor::spawn_linked(
                None,
                RuleWatch,
                RuleWatchArgs {
                    dir: dir.clone(),
                    topology: Arc::clone(&config.topology),
                    correlator: correlator.clone(),
                    uplink: uplink.clone(),
                },
                cell.clone(),
            )
            .await?;
        }
        Actor::spawn_linked(
            None,
            AccessWatch,
            AccessWatchArgs {
                session: Arc::clone(&session),
                vin: vin.clone(),
                denials: config.denials.clone(),
                uplink: uplink.clone(),
            },
            cell.clone(),
        )
        .await?;
        Actor::spawn_linked(
            None,
            Ingest,
            IngestArgs {
                session: Arc::clone(&session),
                topology: Arc::clone(&config.topology),
                correlator,
                handoff,
                uplink,
                rejected_acks,
                store: Arc::clone(&store),
            },
            cell,
        )
        .await?;
        let alive = session
            .liveliness()
            .declare_token(keys::alive(&vin, super::ECU))
            .await?;
        Ok(GatewayState {
            _session: session,
            _alive: alive,
        })
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        _state: &mut GatewayState,
    ) -> Result<(), ActorError> {
        let reason = match event {
            SupervisionEvent::ActorFailed(cell, err) => {
                format!("{:?} failed: {err}", cell.get_id())
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                format!("{:?} stopped: {reason:?}", cell.get_id())
            }
            _ => return Ok(()),
        };
        error!(%reason, "Gateway child ended; stopping the gateway.");
        myself.stop(Some(reason));
        Ok(())
    }
}
