//! The escalator's durable queue: every incident version waits in the gateway's store, in the
//! order it was raised, until the V-SOC acknowledges it; a gateway restart resumes at the
//! oldest. Each push is on the disk before it returns (incidents are rare and they are the
//! carmaker's record).
//!
//! Full (`limits.escalation_queue_incidents`): the oldest version that a newer version of the
//! same incident supersedes goes first (the V-SOC still gets the incident's latest state), else
//! the oldest version. Each is counted; the escalator reports the count.
//!
//! The store also remembers the highest incident id ever queued, so that a restarted gateway
//! numbers its incidents after it and the V-SOC never sees two incidents under one id.

use std::collections::BTreeMap;
use std::sync::Arc;

use redb::{Database, ReadableTable, TableDefinition};

use crate::store::{self, StoreError};

/// Order of arrival to (incident id, encoded Incident).
const VERSIONS: TableDefinition<u64, (u64, &[u8])> = TableDefinition::new("escalation_versions");
/// "last_incident_id".
const META: TableDefinition<&str, u64> = TableDefinition::new("escalation_meta");

/// One version waiting for the V-SOC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub order: u64,
    pub incident_id: u64,
    pub bytes: Vec<u8>,
}

pub struct Queue {
    db: Arc<Database>,
    capacity: usize,
    /// Order to incident id.
    waiting: BTreeMap<u64, u64>,
    next_order: u64,
    last_incident_id: u64,
    dropped: u64,
    dropped_reported: u64,
}

impl Queue {
    /// Opens the queue in `db` with the versions a previous run left waiting.
    pub fn open(db: Arc<Database>, capacity: usize) -> Result<Self, StoreError> {
        let txn = store::begin_synced(&db)?;
        let mut waiting = BTreeMap::new();
        let last_incident_id;
        {
            for row in txn.open_table(VERSIONS)?.iter()? {
                let (order, value) = row?;
                waiting.insert(order.value(), value.value().0);
            }
            last_incident_id = txn
                .open_table(META)?
                .get("last_incident_id")?
                .map_or(0, |v| v.value());
        }
        txn.commit()?;
        let next_order = waiting.keys().next_back().map_or(1, |last| last + 1);
        Ok(Self {
            db,
            capacity: capacity.max(1),
            waiting,
            next_order,
            last_incident_id,
            dropped: 0,
            dropped_reported: 0,
        })
    }

    /// The highest incident id ever queued in this store (0 for none).
    pub fn last_incident_id(&self) -> u64 {
        self.last_incident_id
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Queues one version of `incident_id`, making room first when the queue is full.
    pub fn push(&mut self, incident_id: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let evict = (self.waiting.len() >= self.capacity).then(|| self.victim());
        let order = self.next_order;
        let last = self.last_incident_id.max(incident_id);
        let txn = store::begin_synced(&self.db)?;
        {
            let mut versions = txn.open_table(VERSIONS)?;
            if let Some(old) = evict.flatten() {
                versions.remove(old)?;
            }
            versions.insert(order, (incident_id, bytes))?;
            txn.open_table(META)?.insert("last_incident_id", last)?;
        }
        txn.commit()?;
        if let Some(old) = evict.flatten() {
            self.waiting.remove(&old);
            self.dropped += 1;
        }
        self.waiting.insert(order, incident_id);
        self.next_order += 1;
        self.last_incident_id = last;
        Ok(())
    }

    /// What a full queue drops: the oldest superseded version, else the oldest.
    fn victim(&self) -> Option<u64> {
        let superseded = self.waiting.iter().find(|&(&order, &id)| {
            self.waiting
                .range(order + 1..)
                .any(|(_, &later)| later == id)
        });
        superseded
            .or_else(|| self.waiting.iter().next())
            .map(|(&order, _)| order)
    }

    /// The oldest version waiting, with its bytes.
    pub fn head(&self) -> Result<Option<Waiting>, StoreError> {
        let Some((&order, &incident_id)) = self.waiting.iter().next() else {
            return Ok(None);
        };
        let txn = self.db.begin_read()?;
        let bytes = txn
            .open_table(VERSIONS)?
            .get(order)?
            .map(|row| row.value().1.to_vec())
            .unwrap_or_default();
        Ok(Some(Waiting {
            order,
            incident_id,
            bytes,
        }))
    }

    /// The V-SOC acknowledged the version `order`: it leaves the queue.
    pub fn remove(&mut self, order: u64) -> Result<(), StoreError> {
        let txn = store::begin_synced(&self.db)?;
        txn.open_table(VERSIONS)?.remove(order)?;
        txn.commit()?;
        self.waiting.remove(&order);
        Ok(())
    }

    /// Versions a full queue dropped since the last call.
    pub fn unreported_drops(&mut self) -> u64 {
        let new = self.dropped - self.dropped_reported;
        self.dropped_reported = self.dropped;
        new
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(dir: &tempfile::TempDir, capacity: usize) -> Queue {
        Queue::open(store::open(dir.path(), "gateway").unwrap(), capacity).unwrap()
    }

    /// The incident ids and bytes of the queue, oldest first, emptying it.
    fn drain(q: &mut Queue) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(w) = q.head().unwrap() {
            q.remove(w.order).unwrap();
            out.push((w.incident_id, w.bytes));
        }
        out
    }

    #[test]
    fn versions_wait_in_order_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = queue(&dir, 16);
            for (id, bytes) in [(1, b"1a"), (2, b"2a"), (1, b"1b")] {
                q.push(id, bytes).unwrap();
            }
            let head = q.head().unwrap().unwrap();
            q.remove(head.order).unwrap();
        }
        let mut q = queue(&dir, 16);
        assert_eq!(q.last_incident_id(), 2);
        q.push(3, b"3a").unwrap();
        assert_eq!(
            drain(&mut q),
            [
                (2, b"2a".to_vec()),
                (1, b"1b".to_vec()),
                (3, b"3a".to_vec())
            ]
        );
        assert!(q.is_empty());
        drop(q);
        assert_eq!(queue(&dir, 16).last_incident_id(), 3, "kept when empty");
    }

    #[test]
    fn a_full_queue_drops_superseded_versions_first_then_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(&dir, 3);
        for (id, bytes) in [(1, b"1a"), (2, b"2a"), (1, b"1b")] {
            q.push(id, bytes).unwrap();
        }
        // 1a is superseded by 1b: it goes.
        q.push(3, b"3a").unwrap();
        assert_eq!(q.unreported_drops(), 1);
        // Nothing superseded now: the oldest (2a) goes.
        q.push(4, b"4a").unwrap();
        assert_eq!((q.unreported_drops(), q.len()), (1, 3));
        assert_eq!(
            drain(&mut q),
            [
                (1, b"1b".to_vec()),
                (3, b"3a".to_vec()),
                (4, b"4a".to_vec())
            ]
        );
    }
}
