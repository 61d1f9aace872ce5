//! The durable state of a vsiem process: one redb file per process under its state directory
//! (`--state-dir`, `VSIEM_STATE_DIR`), holding what must survive a crash, a kill or a restart:
//! an agent's unacknowledged events and sequence counters (`sensor/uplink/outbox.rs`), the
//! gateway's per-sensor sequence records (`gateway/ingest/ledger.rs`) and its escalations
//! waiting for the V-SOC (`gateway/escalator/queue.rs`).
//!
//! redb is an embedded, pure-Rust, crash-safe (copy-on-write B-trees, checksummed commits)
//! key-value store with ACID transactions: a transaction commits an event and its sequence
//! counter together, and a killed process reopens at its last commit. Nothing to run beside the
//! agent, no C library to cross-compile for an ECU. redb holds a file lock, so two processes
//! cannot share one file by mistake.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, Durability, WriteTransaction};

/// Where a vsiem process keeps its state on an ECU unless told otherwise (the FHS place for a
/// service's persistent state; `StateDirectory=vsiem` in the systemd units).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/vsiem";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    // Boxed: redb's errors are large, and every store call returns this.
    #[error("state store {path}: {source}")]
    Open {
        path: PathBuf,
        source: Box<redb::DatabaseError>,
    },
    #[error("state store: {0}")]
    Db(Box<redb::Error>),
}

/// The redb errors of each step, all reported as [`StoreError::Db`].
macro_rules! from_redb {
    ($($error:ty),*) => {$(
        impl From<$error> for StoreError {
            fn from(e: $error) -> Self {
                Self::Db(Box::new(e.into()))
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Opens (or creates) the store `name` of a process under `dir`, creating `dir` (mode 0700:
/// events carry evidence) if needed.
pub fn open(dir: &Path, name: &str) -> Result<Arc<Database>, StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
        path: dir.to_owned(),
        source,
    })?;
    restrict(dir)?;
    let path = dir.join(format!("{name}.redb"));
    let db = Database::create(&path).map_err(|source| StoreError::Open {
        path,
        source: Box::new(source),
    })?;
    Ok(Arc::new(db))
}

#[cfg(unix)]
fn restrict(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|source| {
        StoreError::Dir {
            path: dir.to_owned(),
            source,
        }
    })
}

/// A write transaction (events, sequence records, escalations): committed to the file
/// without waiting for the disk (redb's `Eventual`), so it survives the process being killed
/// or crashing (the kernel holds the pages); a power cut may lose the commits of the last
/// seconds. Waiting for the disk on every event would put an fsync into detect-to-block.
pub fn begin(db: &Database) -> Result<WriteTransaction, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Eventual);
    Ok(txn)
}
