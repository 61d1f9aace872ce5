//! The uplink's durable outbox: every stamped event is committed to the agent's store before it
//! is published, and leaves the store only when the gateway's cumulative receipt (`EventAck`,
//! per sensor) covers it. The boot epoch and each sensor's next sequence number live in the
//! same store and are committed with the event, so a restarted agent continues its sequence and
//! the events it still holds stay valid at the gateway.
//!
//! Sending is windowed: at most [`WINDOW`] events are on their way unacknowledged, the rest wait
//! on disk and leave, in order, as receipts arrive. So a backlog (after a partition, a gateway
//! restart) drains at the gateway's pace, within its per-sensor lane and rate limit, instead of
//! overflowing them. When no receipt comes for [`ACK_TIMEOUT`] while events are on their way,
//! the window is sent again from the oldest event held (the gateway counts what it had already
//! recorded as duplicates and acknowledges them).
//!
//! Full store ([`Outbox::push`] past the capacity, `limits.uplink_queue_events`): the event of
//! lowest severity goes, the oldest among equals, which may be the new one. Each is counted;
//! the uplink reports the count as `sensor.queue_overflow` ("uplink store"). An event dropped
//! here keeps its sequence number, so the gateway sees a hole; its receipts stop before it until
//! the window's resends pass over it, and then it reports the hole as a gap.
//!
//! Events an earlier run held for a sensor the agent no longer runs (the topology dropped it)
//! are discarded when the agent starts ([`Outbox::discard_other_sensors`]) and reported the same
//! way: the gateway would refuse them, so they would be sent again for ever.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, ReadableTable, TableDefinition};
use vsiem_schemas::now_ns;

use crate::store::{self, StoreError};

/// Events on their way to the gateway without a receipt, at most.
pub const WINDOW: usize = 256;
/// How long events may be on their way without any receipt before they are sent again.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// "epoch": the boot epoch stamped on every event of this store.
const META: TableDefinition<&str, u64> = TableDefinition::new("uplink_meta");
/// Sensor name to the next sequence number it will stamp.
const NEXT_SEQ: TableDefinition<&str, u64> = TableDefinition::new("uplink_next_seq");
/// Order of arrival to (sensor, sequence number, severity, encoded SecurityEvent).
const EVENTS: TableDefinition<u64, (&str, u64, u8, &[u8])> = TableDefinition::new("uplink_events");

/// What the outbox keeps in memory of each stored event (the bytes stay on disk).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    sensor: String,
    seq: u64,
    severity: u8,
}

/// One event to publish: its sensor (the key) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub sensor: String,
    pub seq: u64,
    pub bytes: Vec<u8>,
}

pub struct Outbox {
    db: Arc<Database>,
    epoch: u64,
    capacity: usize,
    next_seq: HashMap<String, u64>,
    held: BTreeMap<u64, Held>,
    /// (severity, order) of every held event: the first is the one a full store drops.
    by_severity: BTreeSet<(u8, u64)>,
    next_order: u64,
    /// Events up to this order were sent since the window was last rewound (0: none).
    sent_upto: u64,
    /// When the oldest event on its way was sent, or the last receipt came.
    progress: Instant,
    dropped: u64,
    dropped_reported: u64,
}

impl Outbox {
    /// Opens the outbox in `db`, with what a previous run left there: its epoch (a new one, now,
    /// for a new store), sequence counters and unacknowledged events.
    pub fn open(db: Arc<Database>, capacity: usize) -> Result<Self, StoreError> {
        let txn = store::begin(&db)?;
        let (epoch, next_seq, held) = {
            let mut meta = txn.open_table(META)?;
            let stored = meta.get("epoch")?.map(|e| e.value());
            let epoch = match stored {
                Some(epoch) => epoch,
                None => {
                    let epoch = now_ns();
                    meta.insert("epoch", epoch)?;
                    epoch
                }
            };
            let mut next_seq = HashMap::new();
            for row in txn.open_table(NEXT_SEQ)?.iter()? {
                let (sensor, seq) = row?;
                next_seq.insert(sensor.value().to_owned(), seq.value());
            }
            let mut held = BTreeMap::new();
            for row in txn.open_table(EVENTS)?.iter()? {
                let (order, value) = row?;
                let (sensor, seq, severity, _) = value.value();
                let sensor = sensor.to_owned();
                held.insert(
                    order.value(),
                    Held {
                        sensor,
                        seq,
                        severity,
                    },
                );
            }
            (epoch, next_seq, held)
        };
        txn.commit()?;
        let by_severity = held.iter().map(|(&o, h)| (h.severity, o)).collect();
        let next_order = held.keys().next_back().map_or(1, |last| last + 1);
        Ok(Self {
            db,
            epoch,
            capacity: capacity.max(1),
            next_seq,
            held,
            by_severity,
            next_order,
            sent_upto: 0,
            progress: Instant::now(),
            dropped: 0,
            dropped_reported: 0,
        })
    }

    /// The boot epoch of every event of this store.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The sequence number `sensor`'s next event takes.
    pub fn next_seq(&self, sensor: &str) -> u64 {
        self.next_seq.get(sensor).copied().unwrap_or(1)
    }

    /// Events held, sent or not, until the gateway acknowledges them.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Stores `sensor`'s event `seq` (its [`Self::next_seq`]), making room first when the store
    /// is full. The sequence number is taken even if the event itself is the one dropped.
    pub fn push(
        &mut self,
        sensor: &str,
        seq: u64,
        severity: u8,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let full = self.held.len() >= self.capacity;
        let lowest = self.by_severity.first().copied();
        // The new event goes only if it is below every held one (it is the newest of equals).
        let (evict, keep_new) = match lowest {
            Some((low, order)) if full && low <= severity => (Some(order), true),
            Some(_) if full => (None, false),
            _ => (None, true),
        };
        let order = self.next_order;
        let txn = store::begin(&self.db)?;
        {
            let mut events = txn.open_table(EVENTS)?;
            if let Some(old) = evict {
                events.remove(old)?;
            }
            if keep_new {
                events.insert(order, (sensor, seq, severity, bytes))?;
            }
            txn.open_table(NEXT_SEQ)?.insert(sensor, seq + 1)?;
        }
        txn.commit()?;
        self.next_seq.insert(sensor.to_owned(), seq + 1);
        if let Some(old) = evict {
            self.forget(old);
        }
        if evict.is_some() || !keep_new {
            self.dropped += 1;
        }
        if keep_new {
            self.next_order += 1;
            self.held.insert(
                order,
                Held {
                    sensor: sensor.to_owned(),
                    seq,
                    severity,
                },
            );
            self.by_severity.insert((severity, order));
        }
        Ok(())
    }

    fn forget(&mut self, order: u64) {
        if let Some(h) = self.held.remove(&order) {
            self.by_severity.remove(&(h.severity, order));
        }
    }

    /// The gateway recorded `sensor`'s events of `boot_ns` up to `seq`: they leave the store.
    /// Returns how many left; a receipt of another epoch (a store that was lost) frees nothing.
    pub fn acked(
        &mut self,
        sensor: &str,
        boot_ns: u64,
        seq: u64,
        now: Instant,
    ) -> Result<usize, StoreError> {
        if boot_ns != self.epoch {
            return Ok(0);
        }
        let done: Vec<u64> = self
            .held
            .iter()
            .filter(|(_, h)| h.sensor == sensor && h.seq <= seq)
            .map(|(&order, _)| order)
            .collect();
        if done.is_empty() {
            return Ok(0);
        }
        self.remove(&done)?;
        self.progress = now;
        Ok(done.len())
    }

    /// Removes the events of every sensor not in `sensors`, those the agent no longer runs (the
    /// gateway refuses a sensor its topology does not list, so they would be sent again for
    /// ever, holding places in the window). Returns how many of each sensor went; their
    /// sequence counters stay, should the sensor come back.
    pub fn discard_other_sensors(
        &mut self,
        sensors: &[&str],
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut discarded = BTreeMap::new();
        let gone: Vec<u64> = self
            .held
            .iter()
            .filter(|(_, h)| !sensors.contains(&h.sensor.as_str()))
            .map(|(&order, h)| {
                *discarded.entry(h.sensor.clone()).or_default() += 1;
                order
            })
            .collect();
        if !gone.is_empty() {
            self.remove(&gone)?;
        }
        Ok(discarded)
    }

    /// Deletes the events of `orders` from the store, then forgets them.
    fn remove(&mut self, orders: &[u64]) -> Result<(), StoreError> {
        let txn = store::begin(&self.db)?;
        {
            let mut events = txn.open_table(EVENTS)?;
            for &order in orders {
                events.remove(order)?;
            }
        }
        txn.commit()?;
        for &order in orders {
            self.forget(order);
        }
        Ok(())
    }

    /// The events to publish now, in order: those not yet sent, as far as the window allows.
    /// When events were on their way for [`ACK_TIMEOUT`] without any receipt, the window is
    /// rewound first, so they are sent again from the oldest.
    pub fn due(&mut self, now: Instant) -> Result<Vec<Outgoing>, StoreError> {
        let in_flight = self.held.range(..=self.sent_upto).count();
        if in_flight > 0 && now.duration_since(self.progress) >= ACK_TIMEOUT {
            self.sent_upto = 0;
            self.progress = now;
            return self.due(now);
        }
        let room = WINDOW.saturating_sub(in_flight);
        let next: Vec<(u64, Held)> = self
            .held
            .range(self.sent_upto + 1..)
            .take(room)
            .map(|(&o, h)| (o, h.clone()))
            .collect();
        let Some(&(last, _)) = next.last() else {
            return Ok(Vec::new());
        };
        let txn = self.db.begin_read()?;
        let events = txn.open_table(EVENTS)?;
        let mut out = Vec::with_capacity(next.len());
        for (order, held) in next {
            if let Some(row) = events.get(order)? {
                out.push(Outgoing {
                    sensor: held.sensor,
                    seq: held.seq,
                    bytes: row.value().3.to_vec(),
                });
            }
        }
        if in_flight == 0 {
            self.progress = now;
        }
        self.sent_upto = last;
        Ok(out)
    }

    /// Events the full store dropped since the last call.
    pub fn unreported_drops(&mut self) -> u64 {
        let new = self.dropped - self.dropped_reported;
        self.dropped_reported = self.dropped;
        new
    }

    /// Events the full store dropped since the agent started.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox(dir: &tempfile::TempDir, capacity: usize) -> Outbox {
        Outbox::open(store::open(dir.path(), "test").unwrap(), capacity).unwrap()
    }

    /// Pushes `sensor`'s next event with this severity; its bytes name it.
    fn push(o: &mut Outbox, sensor: &str, severity: u8) -> u64 {
        let seq = o.next_seq(sensor);
        let bytes = format!("{sensor}:{seq}");
        o.push(sensor, seq, severity, bytes.as_bytes()).unwrap();
        seq
    }

    fn sent(out: &[Outgoing]) -> Vec<String> {
        out.iter()
            .map(|o| String::from_utf8(o.bytes.clone()).unwrap())
            .collect()
    }

    #[test]
    fn a_full_store_drops_the_lowest_severity_oldest_first_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = outbox(&dir, 4);
        // (sensor, severity): two lows, a medium, a high.
        for (sensor, severity) in [("a", 1), ("b", 1), ("a", 2), ("b", 3)] {
            push(&mut o, sensor, severity);
        }
        assert_eq!(o.unreported_drops(), 0);
        // A critical one: the oldest low (a:1) goes.
        push(&mut o, "a", 4);
        // An info one, below everything held: it is the one dropped, but takes its number.
        push(&mut o, "b", 0);
        assert_eq!(o.next_seq("b"), 4);
        // Another low: the remaining low (b:1) is older, so it goes.
        push(&mut o, "a", 1);
        assert_eq!((o.len(), o.unreported_drops(), o.dropped()), (4, 3, 3));
        assert_eq!(o.unreported_drops(), 0, "reported once");
        let out = o.due(Instant::now()).unwrap();
        assert_eq!(
            sent(&out),
            ["a:2", "b:2", "a:3", "a:4"],
            "in order of arrival"
        );
    }

    #[test]
    fn receipts_free_events_and_silence_sends_them_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = outbox(&dir, 1024);
        let start = Instant::now();
        for _ in 0..3 {
            push(&mut o, "a", 2);
            push(&mut o, "b", 2);
        }
        assert_eq!(o.due(start).unwrap().len(), 6);
        assert!(o.due(start).unwrap().is_empty(), "each sent once");
        let epoch = o.epoch();
        // A receipt of another epoch frees nothing; one of a up to 2 frees a:1, a:2.
        assert_eq!(o.acked("a", epoch + 1, 3, start).unwrap(), 0);
        assert_eq!(o.acked("a", epoch, 2, start).unwrap(), 2);
        // No receipt for the others within the timeout: sent again, oldest first.
        assert!(o.due(start + ACK_TIMEOUT / 2).unwrap().is_empty());
        let again = o.due(start + ACK_TIMEOUT).unwrap();
        assert_eq!(sent(&again), ["b:1", "b:2", "a:3", "b:3"]);
    }

    #[test]
    fn the_window_bounds_what_is_on_its_way() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = outbox(&dir, 4096);
        for _ in 0..WINDOW + 10 {
            push(&mut o, "a", 2);
        }
        let now = Instant::now();
        assert_eq!(o.due(now).unwrap().len(), WINDOW);
        assert!(o.due(now).unwrap().is_empty());
        o.acked("a", o.epoch(), 5, now).unwrap();
        let more = o.due(now).unwrap();
        assert_eq!(more.len(), 5);
        assert_eq!(more[0].seq, WINDOW as u64 + 1);
    }

    #[test]
    fn a_reopened_store_keeps_its_epoch_sequence_and_unacknowledged_events() {
        let dir = tempfile::tempdir().unwrap();
        let (epoch, seq) = {
            let mut o = outbox(&dir, 64);
            for _ in 0..5 {
                push(&mut o, "a", 2);
            }
            o.acked("a", o.epoch(), 3, Instant::now()).unwrap();
            (o.epoch(), o.next_seq("a"))
        };
        let mut o = outbox(&dir, 64);
        assert_eq!((o.epoch(), o.next_seq("a"), o.len()), (epoch, seq, 2));
        assert_eq!(sent(&o.due(Instant::now()).unwrap()), ["a:4", "a:5"]);
        assert_eq!(push(&mut o, "a", 2), 6);
        // A lost store is a new epoch.
        drop(o);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(outbox(&other, 64).epoch(), epoch);
    }

    #[test]
    fn events_of_a_sensor_no_longer_run_are_discarded_durably_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut o = outbox(&dir, 64);
            for sensor in ["net", "files", "net", "files", "files"] {
                push(&mut o, sensor, 2);
            }
        }
        // The agent comes back without its file sensor.
        let mut o = outbox(&dir, 64);
        let discarded = o.discard_other_sensors(&["net", "agent"]).unwrap();
        assert_eq!(discarded, BTreeMap::from([("files".to_owned(), 3)]));
        assert_eq!(sent(&o.due(Instant::now()).unwrap()), ["net:1", "net:2"]);
        assert_eq!(o.next_seq("files"), 4, "its counter stays");
        drop(o);
        let mut o = outbox(&dir, 64);
        assert_eq!(o.len(), 2, "gone from the store too");
        assert!(o.discard_other_sensors(&["net"]).unwrap().is_empty());
    }
}
