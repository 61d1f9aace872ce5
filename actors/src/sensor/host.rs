//! The host sensor: file integrity of the ECU's watched trees and process starts inside its
//! software tree. The kernels ([`files`], [`processes`]) are pure; the actors here feed them
//! from inotify and `/proc` and report what they find.

pub mod files;
pub mod processes;

use std::path::PathBuf;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use ractor::{Actor, ActorRef};
use tracing::{info, warn};
use vsiem_schemas::catalog;
use vsiem_schemas::encode::{ContextDraft, FileChangeDraft, ProcessStartDraft};
use vsiem_schemas::wire::{FileChangeKind, Severity};

use super::uplink::{self, UplinkHandle};
use super::SensorConfig;
use crate::ActorError;
use files::{Baseline, ChangeKind};
use processes::{judge, ProcessTable, Verdict};

pub const FILES: &str = "files";
pub const PROCESSES: &str = "processes";

/// How often `/proc` is listed. Process starts have no notification without privileges
/// (netlink proc connector needs CAP_NET_ADMIN), so the sensor polls.
pub const PROCESS_POLL: Duration = Duration::from_millis(50);

pub struct HostArgs {
    pub config: SensorConfig,
    pub uplink: UplinkHandle,
}

impl HostArgs {
    fn host(&self) -> Option<&vsiem_topology::HostConfig> {
        self.config
            .topology
            .ecu(&self.config.ecu)
            .and_then(|e| e.host.as_ref())
    }
}

/// Whether a file event may have changed what the baseline holds. Opening and reading do not:
/// notify reports them (inotify's OPEN and CLOSE_NOWRITE), and the recheck of a file reads it,
/// so rechecking on them made every recheck two more, for ever (the agent grew 14 MB/s and was
/// killed for memory on the container testbed).
fn may_change_content(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::Access(
            AccessKind::Open(_) | AccessKind::Read | AccessKind::Close(AccessMode::Read)
        )
    )
}

/// Watches the ECU's declared trees with inotify and reports every change against the content
/// hashes taken at start.
pub struct FileWatch;

pub struct FileWatchState {
    args: HostArgs,
    baseline: Baseline,
    _watcher: notify::RecommendedWatcher,
}

pub enum FileWatchMsg {
    Changed(Vec<PathBuf>),
}

impl Actor for FileWatch {
    type Msg = FileWatchMsg;
    type State = FileWatchState;
    type Arguments = HostArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: HostArgs,
    ) -> Result<Self::State, ActorError> {
        let host = args.host();
        let paths = |pick: fn(&vsiem_topology::HostConfig) -> &Vec<String>| -> Vec<PathBuf> {
            host.map(|h| pick(h).iter().map(|p| args.config.host_path(p)).collect())
                .unwrap_or_default()
        };
        let (watch, read_only) = (paths(|h| &h.watch), paths(|h| &h.read_only));
        // Watch before hashing, so that nothing changed during the scan goes unseen.
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                Ok(event) if may_change_content(&event.kind) => {
                    let _ = myself.cast(FileWatchMsg::Changed(event.paths));
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "File watch error."),
            })?;
        for root in watch.iter().chain(&read_only) {
            if let Err(e) = watcher.watch(root, RecursiveMode::Recursive) {
                warn!(path = %root.display(), error = %e, "Cannot watch.");
            }
        }
        let (baseline, unreadable) = Baseline::scan(&watch, &read_only);
        for (path, error) in unreadable {
            warn!(path = %path.display(), error = %error, "Not in the file baseline.");
        }
        info!(files = baseline.len(), "File baseline taken.");
        Ok(FileWatchState {
            args,
            baseline,
            _watcher: watcher,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: FileWatchMsg,
        state: &mut FileWatchState,
    ) -> Result<(), ActorError> {
        let FileWatchMsg::Changed(paths) = msg;
        for path in paths {
            for change in state.baseline.recheck(&path) {
                let ecu_path = state.args.config.ecu_path(&change.path);
                warn!(path = %ecu_path, change = change.kind.as_str(), read_only = change.read_only, "File tampered.");
                let context = ContextDraft::FileChange(FileChangeDraft {
                    path: ecu_path,
                    kind: match change.kind {
                        ChangeKind::Created => FileChangeKind::Created,
                        ChangeKind::Modified => FileChangeKind::Modified,
                        ChangeKind::Deleted => FileChangeKind::Deleted,
                    },
                    read_only: change.read_only,
                    old_hash: change.old_hash.map(Vec::from).unwrap_or_default(),
                    new_hash: change.new_hash.map(Vec::from).unwrap_or_default(),
                });
                let mut draft = uplink::draft(
                    &catalog::HOST_FILE_TAMPERED,
                    &state.args.config.ecu,
                    context,
                );
                if change.read_only {
                    draft.severity = Severity::Critical;
                }
                state.args.uplink.report(FILES, draft);
            }
        }
        Ok(())
    }
}

/// Reports processes started inside the ECU's software tree that are not on its allowlist.
pub struct ProcessWatch;

pub struct ProcessWatchState {
    args: HostArgs,
    table: ProcessTable,
    allowed: Vec<String>,
}

pub enum ProcessWatchMsg {
    Poll,
}

impl Actor for ProcessWatch {
    type Msg = ProcessWatchMsg;
    type State = ProcessWatchState;
    type Arguments = HostArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: HostArgs,
    ) -> Result<Self::State, ActorError> {
        let allowed = args.host().map(|h| h.processes.clone()).unwrap_or_default();
        let mut table = ProcessTable::new(PathBuf::from("/proc"));
        table.poll();
        myself.send_interval(PROCESS_POLL, || ProcessWatchMsg::Poll);
        Ok(ProcessWatchState {
            args,
            table,
            allowed,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        _msg: ProcessWatchMsg,
        state: &mut ProcessWatchState,
    ) -> Result<(), ActorError> {
        // The supervision tests make this detector fail on purpose (FAILPOINTS=processes.poll=panic).
        fail::fail_point!("processes.poll");
        for info in state.table.poll() {
            let ancestors = state.table.ancestors(info.pid);
            if let Verdict::Unexpected { parent } = judge(&info, &ancestors, &state.allowed) {
                warn!(pid = info.pid, name = %info.name, parent = %parent, "Unexpected process.");
                let context = ContextDraft::ProcessStart(ProcessStartDraft {
                    pid: info.pid,
                    ppid: info.ppid,
                    name: info.name,
                    parent_name: parent,
                    cmdline: info.cmdline,
                });
                let draft = uplink::draft(
                    &catalog::HOST_UNEXPECTED_PROCESS,
                    &state.args.config.ecu,
                    context,
                );
                state.args.uplink.report(PROCESSES, draft);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, DataChange, ModifyKind, RemoveKind};

    use super::*;

    #[test]
    fn reading_a_file_is_no_reason_to_recheck_it_and_writing_is() {
        for read in [
            AccessKind::Open(AccessMode::Any),
            AccessKind::Read,
            AccessKind::Close(AccessMode::Read),
        ] {
            assert!(!may_change_content(&EventKind::Access(read)), "{read:?}");
        }
        for change in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Remove(RemoveKind::File),
            EventKind::Any,
        ] {
            assert!(may_change_content(&change), "{change:?}");
        }
    }
}
