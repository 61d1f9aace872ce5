//! The sensor agent: the supervisor of one ECU's uplink, enforcer and detectors.
//!
//! Restart policy: a failed detector is restarted, up to [`MAX_RESTARTS`] times in
//! [`RESTART_WINDOW`], and each restart is reported to the gateway (a detector that fails may
//! be under attack, and a silent one is blind). A failed uplink or enforcer stops the agent:
//! the process exits non-zero, its liveliness token disappears, and the gateway reports the
//! sensor silent until the ECU's service manager restarts it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorId, ActorRef, SupervisionEvent};
use tracing::{error, info, warn};
use vsiem_schemas::catalog;
use vsiem_schemas::encode::SensorHealthDraft;
use vsiem_topology::SensorKind;
use zenoh::liveliness::LivelinessToken;
use zenoh::Session;

use super::enforcer::nft::Nft;
use super::enforcer::{Enforcer, EnforcerArgs};
use super::host::{FileWatch, HostArgs, ProcessWatch};
use super::net::{NetArgs, NetSensor};
use super::signals::{SignalArgs, SignalSensor};
use super::someip::{Blocklist, GuardArgs, SharedApplication, SomeipGuard};
use super::uplink::{self, Uplink, UplinkArgs, UplinkHandle};
use super::SensorConfig;
use crate::bus::{self, keys};
use crate::front::Front;
use crate::sim::body::{self, Body};
use crate::sim::chassis::Drive;
use crate::store;
use crate::ActorError;

/// The sensor name under which the agent reports on its own detectors.
pub const AGENT: &str = "agent";

pub const MAX_RESTARTS: usize = 5;
pub const RESTART_WINDOW: Duration = Duration::from_secs(60);

pub struct SensorAgent;

pub struct AgentArgs {
    pub config: SensorConfig,
    pub drive: Drive,
}

pub struct AgentState {
    config: SensorConfig,
    drive: Drive,
    session: Arc<Session>,
    uplink: UplinkHandle,
    blocklist: Blocklist,
    application: Option<SharedApplication>,
    /// The detector each running child actor is, by actor id.
    detectors: HashMap<ActorId, SensorKind>,
    /// Recent restarts of each detector, to give up on one that keeps failing.
    restarts: HashMap<SensorKind, Vec<Instant>>,
    /// Declared once every detector runs: while the gateway sees it, this agent watches.
    _alive: Option<LivelinessToken>,
}

/// The agent takes no messages: it only supervises.
pub enum AgentMsg {}

impl Actor for SensorAgent {
    type Msg = AgentMsg;
    type State = AgentState;
    type Arguments = AgentArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: AgentArgs,
    ) -> Result<Self::State, ActorError> {
        let config = args.config;
        let ecu = config
            .topology
            .ecu(&config.ecu)
            .ok_or_else(|| format!("{} is not an ECU of the topology", config.ecu))?
            .clone();
        info!(ecu = %ecu.name, gateway = ?config.gateway, "Connecting to the gateway.");
        let session = Arc::new(
            bus::open(
                &bus::Role::Client {
                    connect: config.gateway.clone(),
                },
                &config.security,
            )
            .await?,
        );
        let vin = config.topology.vin().to_owned();
        let store = store::open(&config.state_dir, &format!("sensor-{}", ecu.name))?;
        let front = Front::new(uplink::QUEUE_CAPACITY);
        let (uplink_ref, _) = Actor::spawn_linked(
            None,
            Uplink,
            UplinkArgs {
                session: Arc::clone(&session),
                vin: vin.clone(),
                ecu: ecu.name.clone(),
                sensors: ecu
                    .sensors
                    .iter()
                    .map(|k| k.as_str())
                    .chain([AGENT])
                    .collect(),
                front: Arc::clone(&front),
                qualification: config.topology.qualification.for_ecu(&ecu.name),
                store,
                outbox_capacity: config.topology.limits.uplink_queue_events,
            },
            myself.get_cell(),
        )
        .await?;
        let blocklist = Blocklist::default();
        let firewall = if config.nftables {
            Some(Nft::open(None).map_err(|e| {
                format!("--nftables: {e} (nftables needs the nft tool and CAP_NET_ADMIN)")
            })?)
        } else {
            None
        };
        let guarded = ecu.sensors.contains(&SensorKind::Someip);
        Actor::spawn_linked(
            None,
            Enforcer,
            EnforcerArgs {
                session: Arc::clone(&session),
                vin,
                ecu: ecu.name.clone(),
                blocklist: guarded.then(|| blocklist.clone()),
                firewall,
                topology: Arc::clone(&config.topology),
                addressing: config.addressing,
                backbone_port: config.backbone_port,
            },
            myself.get_cell(),
        )
        .await?;
        let application = if config.simulate
            && config
                .topology
                .services_provided_by(&ecu.name)
                .any(|s| s.id == body::DOOR_LOCK)
        {
            let app: SharedApplication = Arc::new(Mutex::new(Body::open(&config.fs_root)?));
            Some(app)
        } else {
            None
        };
        let mut state = AgentState {
            config,
            drive: args.drive,
            session,
            uplink: UplinkHandle::new(uplink_ref, front),
            blocklist,
            application,
            detectors: HashMap::new(),
            restarts: HashMap::new(),
            _alive: None,
        };
        for kind in &ecu.sensors {
            state.spawn(myself.get_cell(), *kind).await?;
        }
        let key = keys::alive(state.config.topology.vin(), &ecu.name);
        state._alive = Some(state.session.liveliness().declare_token(key).await?);
        info!(ecu = %ecu.name, detectors = state.detectors.len(), "Sensor agent watching.");
        Ok(state)
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut AgentState,
    ) -> Result<(), ActorError> {
        let (cell, reason) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, err.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.unwrap_or_else(|| "stopped".into()))
            }
            _ => return Ok(()),
        };
        let Some(kind) = state.detectors.remove(&cell.get_id()) else {
            error!(%reason, "Uplink or enforcer failed; stopping the sensor agent.");
            myself.stop(Some(format!("uplink or enforcer failed: {reason}")));
            return Ok(());
        };
        let now = Instant::now();
        let recent = state.restarts.entry(kind).or_default();
        recent.retain(|t| now.duration_since(*t) < RESTART_WINDOW);
        let give_up = recent.len() >= MAX_RESTARTS;
        if !give_up {
            recent.push(now);
        }
        let restarts = u32::try_from(recent.len()).unwrap_or(u32::MAX);
        warn!(detector = kind.as_str(), %reason, restarts, give_up, "Detector failed.");
        let report = SensorHealthDraft {
            subject: kind.as_str().to_owned(),
            reason: if give_up {
                format!(
                    "{reason}; not restarted: {MAX_RESTARTS} restarts within {RESTART_WINDOW:?}"
                )
            } else {
                reason
            },
            restarts,
            dropped: 0,
        };
        state.uplink.report(
            "agent",
            uplink::health(
                &catalog::SENSOR_DETECTOR_RESTARTED,
                &state.config.ecu,
                report,
            ),
        );
        if !give_up {
            state.spawn(myself.get_cell(), kind).await?;
        }
        Ok(())
    }
}

impl AgentState {
    async fn spawn(&mut self, supervisor: ActorCell, kind: SensorKind) -> Result<(), ActorError> {
        let host = || HostArgs {
            config: self.config.clone(),
            uplink: self.uplink.clone(),
        };
        let cell = match kind {
            SensorKind::Files => Actor::spawn_linked(None, FileWatch, host(), supervisor)
                .await?
                .0
                .get_cell(),
            SensorKind::Processes => Actor::spawn_linked(None, ProcessWatch, host(), supervisor)
                .await?
                .0
                .get_cell(),
            SensorKind::Someip => {
                let args = GuardArgs {
                    config: self.config.clone(),
                    uplink: self.uplink.clone(),
                    blocklist: self.blocklist.clone(),
                    application: self.application.clone(),
                };
                Actor::spawn_linked(None, SomeipGuard, args, supervisor)
                    .await?
                    .0
                    .get_cell()
            }
            SensorKind::Signals => {
                let args = SignalArgs {
                    config: self.config.clone(),
                    session: Arc::clone(&self.session),
                    drive: self.drive,
                };
                Actor::spawn_linked(None, SignalSensor, args, supervisor)
                    .await?
                    .0
                    .get_cell()
            }
            SensorKind::Net => {
                let Some(interface) = self.config.capture.clone() else {
                    warn!("The network sensor needs an interface (vsiem sensor --capture IFACE); not started.");
                    return Ok(());
                };
                let args = NetArgs {
                    config: self.config.clone(),
                    uplink: self.uplink.clone(),
                    interface,
                };
                Actor::spawn_linked(None, NetSensor, args, supervisor)
                    .await?
                    .0
                    .get_cell()
            }
        };
        self.detectors.insert(cell.get_id(), kind);
        Ok(())
    }
}
