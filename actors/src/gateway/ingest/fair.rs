//! Per-sensor fair queuing, free of actors: one bounded, rate-limited lane per sensor, filled by
//! any number of producer threads (the Zenoh callbacks) and served round-robin in batches by one
//! consumer (the ingest actor).
//!
//! A flooding sensor fills only its own lane: past the lane's rate or capacity its new events are
//! refused and counted there, while every other lane keeps its room and gets its turn each round.
//! Memory is bounded by `lanes x capacity` items, fixed when the queue is made.
//!
//! Each item carries how many of its lane's items were refused just before it, so that the
//! consumer can tell sequence numbers the network lost from those the gateway dropped itself.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::rate::RateLimit;

/// An admitted item and the number of its lane's items refused since the previous admitted one.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry<T> {
    pub item: T,
    pub dropped_before: u64,
}

/// Why an item was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The lane's sensor sent more than its rate allows.
    RateLimited,
    /// The lane was full.
    Overflow,
}

/// A lane's counters as last read; monotonic except `depth`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LaneStats {
    /// Items offered to the lane: admitted plus refused.
    pub arrived: u64,
    pub rate_limited: u64,
    pub overflow: u64,
    /// Items waiting now.
    pub depth: usize,
    /// The most items that ever waited at once.
    pub peak_depth: usize,
}

struct Lane<T> {
    queue: Mutex<Waiting<T>>,
    /// Mirrors the queue's length so that the consumer skips empty lanes without locking.
    depth: AtomicUsize,
    peak_depth: AtomicUsize,
    arrived: AtomicU64,
    rate_limited: AtomicU64,
    overflow: AtomicU64,
}

struct Waiting<T> {
    items: VecDeque<Entry<T>>,
    limit: RateLimit,
    refused_since: u64,
}

/// The lanes; shared between producers and the one consumer.
pub struct FairQueue<T> {
    lanes: Box<[Lane<T>]>,
    capacity: usize,
}

impl<T> FairQueue<T> {
    /// `lanes` lanes of `capacity` items each, every lane limited to `rate` items per second
    /// with bursts of `burst`.
    pub fn new(lanes: usize, capacity: usize, rate: u64, burst: u64) -> Self {
        let lanes = (0..lanes)
            .map(|_| Lane {
                queue: Mutex::new(Waiting {
                    items: VecDeque::new(),
                    limit: RateLimit::per_second(rate, burst),
                    refused_since: 0,
                }),
                depth: AtomicUsize::new(0),
                peak_depth: AtomicUsize::new(0),
                arrived: AtomicU64::new(0),
                rate_limited: AtomicU64::new(0),
                overflow: AtomicU64::new(0),
            })
            .collect();
        Self { lanes, capacity }
    }

    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Offers `item` to `lane` at monotonic time `now_ns`. Panics if `lane` is out of range: the
    /// caller maps keys to lanes and must never invent one.
    pub fn push(&self, lane: usize, item: T, now_ns: u64) -> Result<(), Refused> {
        let lane = &self.lanes[lane];
        lane.arrived.fetch_add(1, Ordering::Relaxed);
        let mut waiting = lane.queue.lock().unwrap_or_else(|p| p.into_inner());
        let refused = if !waiting.limit.admit(now_ns) {
            lane.rate_limited.fetch_add(1, Ordering::Relaxed);
            Refused::RateLimited
        } else if waiting.items.len() >= self.capacity {
            lane.overflow.fetch_add(1, Ordering::Relaxed);
            Refused::Overflow
        } else {
            let dropped_before = std::mem::take(&mut waiting.refused_since);
            waiting.items.push_back(Entry {
                item,
                dropped_before,
            });
            let depth = waiting.items.len();
            lane.depth.store(depth, Ordering::Release);
            lane.peak_depth.fetch_max(depth, Ordering::Relaxed);
            return Ok(());
        };
        waiting.refused_since += 1;
        Err(refused)
    }

    /// Moves up to `n` items of `lane` into `out`; returns how many.
    fn take(&self, lane: usize, n: usize, out: &mut Vec<Entry<T>>) -> usize {
        let lane = &self.lanes[lane];
        if lane.depth.load(Ordering::Acquire) == 0 {
            return 0;
        }
        let mut waiting = lane.queue.lock().unwrap_or_else(|p| p.into_inner());
        let n = n.min(waiting.items.len());
        out.extend(waiting.items.drain(..n));
        lane.depth.store(waiting.items.len(), Ordering::Release);
        n
    }

    pub fn is_empty(&self) -> bool {
        self.lanes
            .iter()
            .all(|lane| lane.depth.load(Ordering::Acquire) == 0)
    }

    pub fn stats(&self, lane: usize) -> LaneStats {
        let lane = &self.lanes[lane];
        LaneStats {
            arrived: lane.arrived.load(Ordering::Relaxed),
            rate_limited: lane.rate_limited.load(Ordering::Relaxed),
            overflow: lane.overflow.load(Ordering::Relaxed),
            depth: lane.depth.load(Ordering::Acquire),
            peak_depth: lane.peak_depth.load(Ordering::Relaxed),
        }
    }
}

/// The consumer's side: whose turn it is, and a batch buffer reused from round to round.
pub struct RoundRobin<T> {
    next: usize,
    quantum: usize,
    batch: Vec<Entry<T>>,
}

impl<T> RoundRobin<T> {
    /// Each lane's turn serves at most `quantum` of its items.
    pub fn new(quantum: usize) -> Self {
        Self {
            next: 0,
            quantum: quantum.max(1),
            batch: Vec::with_capacity(quantum.max(1)),
        }
    }

    /// Serves up to `budget` items, lane after lane, at most `quantum` from each per turn, until
    /// the budget is spent or every lane is empty; the next call starts with the lane after the
    /// last one served. Returns how many items `f` was given.
    pub fn serve(
        &mut self,
        queue: &FairQueue<T>,
        budget: usize,
        mut f: impl FnMut(usize, Entry<T>),
    ) -> usize {
        let lanes = queue.lanes();
        let mut served = 0;
        let mut empty_in_a_row = 0;
        while served < budget && empty_in_a_row < lanes {
            let lane = self.next;
            self.next = (self.next + 1) % lanes;
            let n = queue.take(lane, self.quantum.min(budget - served), &mut self.batch);
            if n == 0 {
                empty_in_a_row += 1;
                continue;
            }
            empty_in_a_row = 0;
            served += n;
            for entry in self.batch.drain(..) {
                f(lane, entry);
            }
        }
        served
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Far above anything the tests offer: only capacity and order matter.
    const UNLIMITED: u64 = 1_000_000_000;

    fn drain(rr: &mut RoundRobin<u32>, q: &FairQueue<u32>, budget: usize) -> Vec<(usize, u32)> {
        let mut out = Vec::new();
        rr.serve(q, budget, |lane, e| out.push((lane, e.item)));
        out
    }

    #[test]
    fn a_full_lane_refuses_and_counts_while_others_keep_their_room() {
        let q = FairQueue::new(2, 3, UNLIMITED, UNLIMITED);
        for i in 0..10 {
            let want = if i < 3 {
                Ok(())
            } else {
                Err(Refused::Overflow)
            };
            assert_eq!(q.push(0, i, 0), want, "item {i}");
        }
        assert_eq!(q.push(1, 100, 0), Ok(()));
        let flood = q.stats(0);
        assert_eq!(
            (flood.arrived, flood.overflow, flood.depth, flood.peak_depth),
            (10, 7, 3, 3)
        );
        assert_eq!(q.stats(1).overflow, 0);
    }

    #[test]
    fn lanes_take_turns_a_quantum_at_a_time() {
        let q = FairQueue::new(3, 100, UNLIMITED, UNLIMITED);
        for i in 0..10 {
            q.push(0, i, 0).unwrap();
        }
        q.push(2, 200, 0).unwrap();
        q.push(2, 201, 0).unwrap();
        let mut rr = RoundRobin::new(4);
        let order = drain(&mut rr, &q, usize::MAX);
        let want = [
            (0, 0),
            (0, 1),
            (0, 2),
            (0, 3),
            (2, 200),
            (2, 201),
            (0, 4),
            (0, 5),
            (0, 6),
            (0, 7),
            (0, 8),
            (0, 9),
        ];
        assert_eq!(order, want);
        assert!(q.is_empty());
    }

    #[test]
    fn a_quiet_lane_waits_at_most_one_quantum_per_flooding_lane() {
        let q = FairQueue::new(3, 1000, UNLIMITED, UNLIMITED);
        for i in 0..1000 {
            q.push(0, i, 0).unwrap();
            q.push(1, i, 0).unwrap();
        }
        let mut rr = RoundRobin::new(8);
        // Serve a little first, so that the quiet event arrives mid-round.
        assert_eq!(drain(&mut rr, &q, 5).len(), 5);
        q.push(2, 7, 0).unwrap();
        let order = drain(&mut rr, &q, usize::MAX);
        let position = order.iter().position(|&(lane, _)| lane == 2).unwrap();
        assert!(position <= 2 * 8, "quiet event served {position}th");
    }

    #[test]
    fn a_budget_stops_the_round_and_the_next_call_goes_on_with_the_next_lane() {
        let q = FairQueue::new(2, 100, UNLIMITED, UNLIMITED);
        for i in 0..6 {
            q.push(0, i, 0).unwrap();
            q.push(1, 10 + i, 0).unwrap();
        }
        let mut rr = RoundRobin::new(2);
        assert_eq!(drain(&mut rr, &q, 3), [(0, 0), (0, 1), (1, 10)]);
        assert_eq!(drain(&mut rr, &q, 2), [(0, 2), (0, 3)]);
        assert_eq!(drain(&mut rr, &q, 1), [(1, 11)]);
    }

    #[test]
    fn the_rate_limit_is_per_lane() {
        let q = FairQueue::new(2, 1000, 10, 5);
        let refused = (0..20).filter(|&i| q.push(0, i, 0).is_err()).count();
        assert_eq!(refused, 15);
        assert_eq!(q.stats(0).rate_limited, 15);
        assert_eq!(q.push(1, 0, 0), Ok(()), "the other lane has its own budget");
    }

    #[test]
    fn each_entry_says_how_many_of_its_lane_were_dropped_just_before_it() {
        let q = FairQueue::new(1, 2, UNLIMITED, UNLIMITED);
        let mut rr = RoundRobin::new(10);
        q.push(0, 1, 0).unwrap();
        q.push(0, 2, 0).unwrap();
        assert!(q.push(0, 3, 0).is_err());
        assert!(q.push(0, 4, 0).is_err());
        let mut got = Vec::new();
        rr.serve(&q, 10, |_, e| got.push((e.item, e.dropped_before)));
        q.push(0, 5, 0).unwrap();
        q.push(0, 6, 0).unwrap();
        rr.serve(&q, 10, |_, e| got.push((e.item, e.dropped_before)));
        assert_eq!(got, [(1, 0), (2, 0), (5, 2), (6, 0)]);
    }

    #[test]
    fn concurrent_producers_lose_nothing_they_were_not_told_of() {
        let q = std::sync::Arc::new(FairQueue::new(4, 64, UNLIMITED, UNLIMITED));
        let producers: Vec<_> = (0..4)
            .map(|lane| {
                let q = std::sync::Arc::clone(&q);
                std::thread::spawn(move || {
                    (0..10_000).filter(|&i| q.push(lane, i, 0).is_ok()).count()
                })
            })
            .collect();
        let mut rr = RoundRobin::new(16);
        let mut served = [0usize; 4];
        let mut dropped = [0u64; 4];
        let mut count = |lane: usize, e: Entry<u32>| {
            served[lane] += 1;
            dropped[lane] += e.dropped_before;
        };
        while producers.iter().any(|p| !p.is_finished()) {
            rr.serve(&q, 256, &mut count);
        }
        rr.serve(&q, usize::MAX, &mut count);
        let admitted: Vec<usize> = producers.into_iter().map(|p| p.join().unwrap()).collect();
        for lane in 0..4 {
            let stats = q.stats(lane);
            assert_eq!(served[lane], admitted[lane], "lane {lane}");
            assert_eq!(stats.arrived, 10_000);
            assert_eq!(stats.overflow, 10_000 - admitted[lane] as u64);
            assert!(stats.peak_depth <= 64);
            // Drops after the last admitted item are not attached to any entry yet.
            assert!(dropped[lane] <= stats.overflow);
        }
    }
}
