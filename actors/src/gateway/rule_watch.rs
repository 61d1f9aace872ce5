//! The rule watcher: reloads the gateway's rule set when a file of its directory changes.
//!
//! A reload validates the whole new set first (with the topology's response policies). A valid
//! set replaces the old one in the correlator between two events, so no event is lost and the
//! state of unchanged rules carries over; it is reported as `gateway.rules_reloaded`. An invalid
//! set is rejected, the old one stays in force, and `gateway.rules_rejected` says why.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use ractor::{Actor, ActorRef};
use tracing::{info, warn};
use vsiem_rules::{RuleSet, RulesError};
use vsiem_schemas::catalog;
use vsiem_schemas::encode::SensorHealthDraft;
use vsiem_topology::Topology;

use super::correlator::CorrelatorMsg;
use crate::sensor::uplink::{self, UplinkHandle};
use crate::ActorError;

/// The sensor name of the watcher's events (on the gateway ECU).
pub const SENSOR: &str = "rules";

/// Editors write a file in several steps: changes within this delay make one reload.
const SETTLE: Duration = Duration::from_millis(250);

/// Problems quoted in a rejection event (all of them go to the log).
const QUOTED_PROBLEMS: usize = 5;

pub struct RuleWatch;

pub struct RuleWatchArgs {
    pub dir: PathBuf,
    pub topology: Arc<Topology>,
    pub correlator: ActorRef<CorrelatorMsg>,
    pub uplink: UplinkHandle,
}

pub struct RuleWatchState {
    args: RuleWatchArgs,
    reload_due: bool,
    _watcher: notify::RecommendedWatcher,
}

pub enum RuleWatchMsg {
    Changed,
    Reload,
}

impl Actor for RuleWatch {
    type Msg = RuleWatchMsg;
    type State = RuleWatchState;
    type Arguments = RuleWatchArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RuleWatchArgs,
    ) -> Result<Self::State, ActorError> {
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                if res.is_ok_and(|e| !e.kind.is_access()) {
                    let _ = myself.cast(RuleWatchMsg::Changed);
                }
            })?;
        watcher.watch(&args.dir, RecursiveMode::NonRecursive)?;
        info!(dir = %args.dir.display(), "Watching the rule set.");
        Ok(RuleWatchState {
            args,
            reload_due: false,
            _watcher: watcher,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: RuleWatchMsg,
        state: &mut RuleWatchState,
    ) -> Result<(), ActorError> {
        match msg {
            RuleWatchMsg::Changed if !state.reload_due => {
                state.reload_due = true;
                myself.send_after(SETTLE, || RuleWatchMsg::Reload);
            }
            RuleWatchMsg::Changed => {}
            RuleWatchMsg::Reload => {
                state.reload_due = false;
                state.reload();
            }
        }
        Ok(())
    }
}

impl RuleWatchState {
    fn reload(&self) {
        let dir = self.args.dir.display().to_string();
        let (kind, reason) = match RuleSet::load_dir(&self.args.dir, &self.args.topology) {
            Ok(set) => {
                let reason = format!(
                    "{} rules and {} correlations from {dir}",
                    set.rules.len(),
                    set.correlations.len()
                );
                let _ = self
                    .args
                    .correlator
                    .cast(CorrelatorMsg::Rules(Arc::new(set)));
                info!(%reason, "Rule set reloaded.");
                (&catalog::GATEWAY_RULES_RELOADED, reason)
            }
            Err(RulesError::Invalid(problems)) => {
                for p in &problems {
                    warn!(problem = %p, "Rule set rejected; the previous one stays in force.");
                }
                let quoted: Vec<String> = problems
                    .iter()
                    .take(QUOTED_PROBLEMS)
                    .map(ToString::to_string)
                    .collect();
                let reason = format!(
                    "{} problems in {dir}, previous set kept: {}",
                    problems.len(),
                    quoted.join("; ")
                );
                (&catalog::GATEWAY_RULES_REJECTED, reason)
            }
            Err(e) => {
                warn!(error = %e, "Rule set unreadable; the previous one stays in force.");
                (
                    &catalog::GATEWAY_RULES_REJECTED,
                    format!("{e}, previous set kept"),
                )
            }
        };
        let report = SensorHealthDraft {
            subject: format!("{}/{SENSOR}", super::ECU),
            reason,
            restarts: 0,
            dropped: 0,
        };
        self.args
            .uplink
            .report(SENSOR, uplink::health(kind, super::ECU, report));
    }
}
