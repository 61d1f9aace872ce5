//! The escalator's durable queue: incident versions wait in the gateway's store, in the order
//! their incidents were raised, until the V-SOC acknowledges them; a gateway restart resumes at
//! the oldest.
//!
//! While a version waits, a newer version of the same incident takes its place (its position
//! in the queue, so incidents stay in the order they were raised): the V-SOC gets each
//! incident's latest state, not every step of it, and an incident updated by every event of a
//! flood holds one place, not thousands. Only the oldest version (the one that may be on its
//! way to the V-SOC) is never replaced; a newer version of its incident waits behind.
//!
//! Writes are committed without waiting for the disk (`store::begin`): they survive the gateway
//! being killed or crashing, and a power cut may lose the versions of the last seconds. Waiting
//! for the disk on every version throttled the escalator below the rate a flood updates an
//! incident at, and its mailbox grew without bound.
//!
//! Full (`limits.escalation_queue_incidents`, which with the replacement above counts
//! incidents): the oldest version goes. Each is counted; the escalator reports the count.
//!
//! The store also remembers the highest incident id ever queued, so that a restarted gateway
//! numbers its incidents after it and the V-SOC never sees two incidents under one id.

use std::collections::{BTreeMap, HashMap};
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
    /// Incident id to the order of its version waiting behind the oldest, if any.
    replaceable: HashMap<u64, u64>,
    next_order: u64,
    last_incident_id: u64,
    dropped: u64,
    dropped_reported: u64,
}

impl Queue {
    /// Opens the queue in `db` with the versions a previous run left waiting.
    pub fn open(db: Arc<Database>, capacity: usize) -> Result<Self, StoreError> {
        let txn = store::begin(&db)?;
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
        let replaceable = waiting
            .iter()
            .skip(1)
            .map(|(&order, &id)| (id, order))
            .collect();
        Ok(Self {
            db,
            capacity: capacity.max(1),
            waiting,
            replaceable,
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

    /// Queues one version of `incident_id`: in the place of its version waiting behind the
    /// oldest, if there is one, else at the end, making room first when the queue is full.
    pub fn push(&mut self, incident_id: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let last = self.last_incident_id.max(incident_id);
        let replaced = self.replaceable.get(&incident_id).copied();
        let order = replaced.unwrap_or(self.next_order);
        let evict = match replaced {
            None if self.waiting.len() >= self.capacity => self.waiting.keys().next().copied(),
            _ => None,
        };
        let txn = store::begin(&self.db)?;
        {
            let mut versions = txn.open_table(VERSIONS)?;
            if let Some(old) = evict {
                versions.remove(old)?;
            }
            versions.insert(order, (incident_id, bytes))?;
            txn.open_table(META)?.insert("last_incident_id", last)?;
        }
        txn.commit()?;
        if let Some(old) = evict {
            self.forget(old);
            self.dropped += 1;
        }
        if replaced.is_none() {
            self.waiting.insert(order, incident_id);
            self.next_order += 1;
            if self.waiting.len() > 1 {
                self.replaceable.insert(incident_id, order);
            }
        }
        self.last_incident_id = last;
        Ok(())
    }

    /// `order` leaves the queue; the version behind it, now the oldest, is no longer replaced.
    fn forget(&mut self, order: u64) {
        if let Some(id) = self.waiting.remove(&order) {
            if self.replaceable.get(&id) == Some(&order) {
                self.replaceable.remove(&id);
            }
        }
        if let Some((&head, &id)) = self.waiting.iter().next() {
            if self.replaceable.get(&id) == Some(&head) {
                self.replaceable.remove(&id);
            }
        }
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
        let txn = store::begin(&self.db)?;
        txn.open_table(VERSIONS)?.remove(order)?;
        txn.commit()?;
        self.forget(order);
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
    fn a_waiting_version_is_replaced_in_its_place_but_never_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(&dir, 16);
        for (id, bytes) in [
            (1, b"1a"),
            (2, b"2a"),
            (1, b"1b"),
            (2, b"2b"),
            (1, b"1c"),
            (3, b"3a"),
        ] {
            q.push(id, bytes).unwrap();
        }
        // 1a may be on its way: kept. 2b took 2a's place, 1c took 1b's.
        assert_eq!(q.len(), 4);
        let head = q.head().unwrap().unwrap();
        q.remove(head.order).unwrap();
        // 2b is the oldest now: never replaced, a newer version waits behind it.
        q.push(2, b"2c").unwrap();
        assert_eq!(
            drain(&mut q),
            [
                (2, b"2b".to_vec()),
                (1, b"1c".to_vec()),
                (3, b"3a".to_vec()),
                (2, b"2c".to_vec())
            ]
        );
        assert_eq!(q.unreported_drops(), 0);
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_replacing_needs_no_room() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queue(&dir, 3);
        for (id, bytes) in [(1, b"1a"), (2, b"2a"), (3, b"3a"), (2, b"2b")] {
            q.push(id, bytes).unwrap();
        }
        assert_eq!((q.unreported_drops(), q.len()), (0, 3));
        q.push(4, b"4a").unwrap();
        assert_eq!((q.unreported_drops(), q.len()), (1, 3));
        assert_eq!(
            drain(&mut q),
            [
                (2, b"2b".to_vec()),
                (3, b"3a".to_vec()),
                (4, b"4a".to_vec())
            ]
        );
    }

    #[test]
    fn replacement_resumes_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = queue(&dir, 16);
            for (id, bytes) in [(1, b"1a"), (2, b"2a")] {
                q.push(id, bytes).unwrap();
            }
        }
        let mut q = queue(&dir, 16);
        q.push(2, b"2b").unwrap();
        q.push(1, b"1b").unwrap();
        assert_eq!(
            drain(&mut q),
            [
                (1, b"1a".to_vec()),
                (2, b"2b".to_vec()),
                (1, b"1b".to_vec())
            ]
        );
    }
}
