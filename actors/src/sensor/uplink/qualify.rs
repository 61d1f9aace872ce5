//! IdsM-style qualification of one agent's detections, per event type: forward-every-nth, then
//! aggregation, then threshold (AUTOSAR IdsM's filter order). Pure: no actors, no wire; the
//! caller gives the time, so that tests run on synthetic timelines.
//!
//! `count` is the number of occurrences an event stands for, everywhere in the chain: the
//! every-nth filter's forwarded event carries the occurrences it stood for, an aggregate the
//! occurrences it folded, the event reaching a threshold the occurrences of its window so far.
//! Nothing leaves the chain without being counted: what is not forwarded waits in a filter or
//! was discarded below a threshold, and [`Counters`] says how much of each.

use std::collections::BTreeMap;
use std::time::Duration;

use vsiem_schemas::catalog::{self, Category};
use vsiem_schemas::encode::EventDraft;
use vsiem_topology::{AgentQualification, Filters};

/// A detection that passed its type's filters, on its way to the instance-wide limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Qualified {
    pub sensor: &'static str,
    pub draft: EventDraft,
}

/// What the chain did with the occurrences it was offered. Gauges say what waits now; totals
/// only grow. `offered = forwarded + waiting (every_nth, aggregating, below threshold) +
/// discarded`, at any time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Occurrences offered (total).
    pub offered: u64,
    /// Occurrences that left the chain, as the counts of the events carrying them (total).
    pub forwarded: u64,
    /// Occurrences waiting for their n-th (gauge).
    pub every_nth_waiting: u64,
    /// Occurrences folded into aggregation windows still open (gauge).
    pub aggregating: u64,
    /// Occurrences waiting in threshold windows that have not reached their count (gauge).
    pub threshold_waiting: u64,
    /// Occurrences whose threshold window closed below its count (total).
    pub below_threshold: u64,
}

/// Per-type state lives per sensor, event type and origin: one attacker's repeats never fold
/// into another's. Origins are the topology's ECU names (or empty), so the map is bounded by
/// sensors x catalog types x ECUs.
type Key = (&'static str, u16, String);

pub struct Chain {
    config: AgentQualification,
    states: BTreeMap<Key, TypeState>,
    counters: Counters,
}

#[derive(Default)]
struct TypeState {
    /// Occurrences since the last forwarded n-th.
    nth_seen: u64,
    aggregate: Option<Aggregate>,
    threshold: Option<ThresholdWindow>,
}

struct Aggregate {
    opened: Duration,
    /// The first occurrence's draft; its count grows with each one folded in.
    draft: EventDraft,
}

struct ThresholdWindow {
    opened: Duration,
    sum: u64,
}

/// Whether an event is the SIEM's report about itself, which no filter or limit may hold back.
pub fn is_health(event_id: u16) -> bool {
    catalog::by_id(event_id).is_some_and(|t| t.category == Category::Health)
}

fn ms(value: u64) -> Duration {
    Duration::from_millis(value)
}

impl Chain {
    pub fn new(config: AgentQualification) -> Self {
        Chain {
            config,
            states: BTreeMap::new(),
            counters: Counters::default(),
        }
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Offers one detection at `now`; what leaves the chain now goes to `out` (a window of the
    /// same key that had ended is closed first, so its aggregate may leave too).
    pub fn offer(
        &mut self,
        now: Duration,
        sensor: &'static str,
        draft: EventDraft,
        out: &mut Vec<Qualified>,
    ) {
        let occurrences = u64::from(draft.count);
        self.counters.offered += occurrences;
        let filters = self.config.filters(draft.event_id);
        if is_health(draft.event_id) || filters == Filters::default() {
            self.counters.forwarded += occurrences;
            out.push(Qualified { sensor, draft });
            return;
        }
        let key = (sensor, draft.event_id, draft.origin.clone());
        let state = self.states.entry(key).or_default();
        state.close_ended(now, &filters, &mut self.counters, sensor, out);
        let Some(draft) = state.every_nth(&filters, &mut self.counters, draft) else {
            return;
        };
        let Some(draft) = state.aggregate(now, &filters, &mut self.counters, draft) else {
            return;
        };
        state.threshold(now, &filters, &mut self.counters, sensor, draft, out);
    }

    /// Closes every window that ended by `now`: aggregates leave (through their threshold),
    /// threshold windows below their count are discarded.
    pub fn flush(&mut self, now: Duration, out: &mut Vec<Qualified>) {
        for ((sensor, event_id, _), state) in &mut self.states {
            let filters = self.config.filters(*event_id);
            state.close_ended(now, &filters, &mut self.counters, sensor, out);
        }
        self.states.retain(|_, state| !state.is_idle());
    }
}

impl TypeState {
    fn is_idle(&self) -> bool {
        self.nth_seen == 0 && self.aggregate.is_none() && self.threshold.is_none()
    }

    fn close_ended(
        &mut self,
        now: Duration,
        filters: &Filters,
        counters: &mut Counters,
        sensor: &'static str,
        out: &mut Vec<Qualified>,
    ) {
        if let (Some(window), Some(open)) = (filters.aggregate_ms, &self.aggregate) {
            let closed = open.opened + ms(window);
            if now >= closed {
                let draft = self.aggregate.take().expect("checked above").draft;
                counters.aggregating = counters.aggregating.saturating_sub(draft.count.into());
                // The aggregate reaches the threshold when its window closed, not when noticed.
                self.threshold(closed, filters, counters, sensor, draft, out);
            }
        }
        self.close_threshold(now, filters, counters);
    }

    fn close_threshold(&mut self, now: Duration, filters: &Filters, counters: &mut Counters) {
        let (Some(threshold), Some(open)) = (filters.threshold, &self.threshold) else {
            return;
        };
        if now >= open.opened + ms(threshold.window_ms) {
            let sum = open.sum;
            if sum < u64::from(threshold.count) {
                counters.threshold_waiting = counters.threshold_waiting.saturating_sub(sum);
                counters.below_threshold += sum;
            }
            self.threshold = None;
        }
    }

    /// Forward-every-nth: passes the n-th occurrence on, carrying the n it stands for.
    fn every_nth(
        &mut self,
        filters: &Filters,
        counters: &mut Counters,
        mut draft: EventDraft,
    ) -> Option<EventDraft> {
        let Some(n) = filters.every_nth else {
            return Some(draft);
        };
        let occurrences = u64::from(draft.count);
        self.nth_seen += occurrences;
        if self.nth_seen < u64::from(n) {
            counters.every_nth_waiting += occurrences;
            return None;
        }
        counters.every_nth_waiting = counters
            .every_nth_waiting
            .saturating_sub(self.nth_seen - occurrences);
        draft.count = saturate(self.nth_seen);
        self.nth_seen = 0;
        Some(draft)
    }

    /// Aggregation: opens a window with the first occurrence and folds the others into it; it
    /// leaves when the window closes (in `close_ended`).
    fn aggregate(
        &mut self,
        now: Duration,
        filters: &Filters,
        counters: &mut Counters,
        draft: EventDraft,
    ) -> Option<EventDraft> {
        if filters.aggregate_ms.is_none() {
            return Some(draft);
        }
        counters.aggregating += u64::from(draft.count);
        match &mut self.aggregate {
            Some(open) => {
                open.draft.count = open.draft.count.saturating_add(draft.count);
                open.draft.severity = open.draft.severity.max(draft.severity);
            }
            None => self.aggregate = Some(Aggregate { opened: now, draft }),
        }
        None
    }

    /// Threshold: holds occurrences back until the window's sum reaches the count.
    fn threshold(
        &mut self,
        now: Duration,
        filters: &Filters,
        counters: &mut Counters,
        sensor: &'static str,
        mut draft: EventDraft,
        out: &mut Vec<Qualified>,
    ) {
        if let Some(threshold) = filters.threshold {
            self.close_threshold(now, filters, counters);
            let open = self.threshold.get_or_insert(ThresholdWindow {
                opened: now,
                sum: 0,
            });
            let before = open.sum;
            open.sum += u64::from(draft.count);
            let count = u64::from(threshold.count);
            if open.sum < count {
                counters.threshold_waiting += u64::from(draft.count);
                return;
            }
            if before < count {
                // The occurrence reaching the threshold carries those held back before it.
                counters.threshold_waiting = counters.threshold_waiting.saturating_sub(before);
                draft.count = saturate(open.sum);
            }
        }
        counters.forwarded += u64::from(draft.count);
        out.push(Qualified { sensor, draft });
    }
}

fn saturate(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
