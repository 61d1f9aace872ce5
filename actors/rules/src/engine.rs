//! The correlation engine: runs a rule set over events and says, per event, which incidents to
//! raise and which open incidents the event belongs to.
//!
//! Every standalone detection rule and every correlation is a *detector* with groups (the
//! values of its `group-by` fields; standalone rules group by origin). A group accumulates the
//! matching events of its window until the detector's condition holds; then it raises an
//! incident with all of them and stays open: later matches fold into that incident instead of
//! accumulating, until the owner [`Engine::close`]s the group. Windows follow the events' own
//! timestamps (detection time), so the outcome does not depend on arrival order within a window.
//!
//! Memory is bounded: at most [`MAX_GROUPS`] groups per detector (the stalest is evicted) and
//! [`MAX_ENTRIES`] entries per referenced rule and group (the oldest go first).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use vsiem_schemas::catalog::{self, Category};
use vsiem_schemas::encode::{EventRefDraft, VehicleSnapshot};
use vsiem_schemas::wire;

use crate::field::{Field, Value};
use crate::{CorrelationKind, Meta, RuleSet, Threshold};

pub const MAX_GROUPS: usize = 4096;
pub const MAX_ENTRIES: usize = 1024;

/// The values of a detector's group-by fields for one event.
pub type GroupKey = Vec<String>;

/// What an incident needs to know of one contributing event, copied out of the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub reference: EventRefDraft,
    pub category: Option<Category>,
    /// (pid, name) when the event reports a process start.
    pub process: Option<(u32, String)>,
}

impl Member {
    pub fn of(e: &wire::SecurityEvent<'_>) -> Member {
        let origin = match e.origin() {
            Some(o) if !o.is_empty() => o,
            _ => e.ecu(),
        };
        Member {
            reference: EventRefDraft {
                ecu: e.ecu().to_owned(),
                sensor: e.sensor().to_owned(),
                seq: e.seq(),
                last_seq: e.seq(),
                event_id: e.event_id(),
                timestamp_ns: e.timestamp_ns(),
                origin: origin.to_owned(),
            },
            category: catalog::by_id(e.event_id()).map(|t| t.category),
            process: e
                .context_as_process_start()
                .map(|p| (p.pid(), p.name().unwrap_or_default().to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The detector's condition holds: raise an incident with these events (time order).
    Raise(Vec<Member>),
    /// The group has an open incident: the event belongs to it.
    Fold(Member),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub detector: Arc<Meta>,
    pub group: GroupKey,
    pub verdict: Verdict,
}

#[derive(Debug, Default)]
struct Entry {
    timestamp_ns: u64,
    /// The counted field's value (value_count only).
    value: Option<String>,
    member: Option<Member>,
}

#[derive(Debug)]
enum Group {
    /// Matches so far, per referenced rule, oldest first.
    Window {
        entries: Vec<VecDeque<Entry>>,
        latest_ns: u64,
    },
    Open {
        latest_ns: u64,
    },
}

impl Group {
    fn latest_ns(&self) -> u64 {
        match self {
            Group::Window { latest_ns, .. } | Group::Open { latest_ns } => *latest_ns,
        }
    }
}

/// What one detector is: a standalone rule or a correlation, as the engine runs it.
#[derive(Debug, Clone)]
struct Spec {
    meta: Arc<Meta>,
    kind: CorrelationKind,
    /// The detection rules whose matches feed it (indices into the set's rules).
    rules: Vec<usize>,
    group_by: Vec<Field>,
    timespan_ns: u64,
    threshold: Threshold,
}

#[derive(Debug)]
struct Detector {
    spec: Spec,
    groups: HashMap<GroupKey, Group>,
}

/// A rule set with the state of its windows and open groups.
#[derive(Debug)]
pub struct Engine {
    set: Arc<RuleSet>,
    detectors: Vec<Detector>,
    /// Entries and groups dropped to stay within the bounds, for the owner's counters.
    pub evicted: u64,
}

impl Engine {
    pub fn new(set: Arc<RuleSet>) -> Engine {
        let detectors = specs(&set)
            .into_iter()
            .map(|spec| Detector {
                spec,
                groups: HashMap::new(),
            })
            .collect();
        Engine {
            set,
            detectors,
            evicted: 0,
        }
    }

    pub fn set(&self) -> &Arc<RuleSet> {
        &self.set
    }

    /// Switches to a new rule set. A detector whose rules did not change (same name, same
    /// text, same referenced rules) keeps its windows and open groups; the others start empty.
    pub fn replace(&mut self, set: Arc<RuleSet>) {
        let mut old: HashMap<(String, Vec<u64>), HashMap<GroupKey, Group>> = self
            .detectors
            .drain(..)
            .map(|d| (identity(&self.set, &d.spec), d.groups))
            .collect();
        self.detectors = specs(&set)
            .into_iter()
            .map(|spec| Detector {
                groups: old.remove(&identity(&set, &spec)).unwrap_or_default(),
                spec,
            })
            .collect();
        self.set = set;
    }

    /// Ends an incident's group: the detector accumulates anew for it.
    pub fn close(&mut self, detector: &str, group: &GroupKey) {
        if let Some(d) = self
            .detectors
            .iter_mut()
            .find(|d| d.spec.meta.name == detector)
        {
            d.groups.remove(group);
        }
    }

    /// Runs one event, with `vehicle` the state at its time, through every detector.
    pub fn observe(
        &mut self,
        event: &wire::SecurityEvent<'_>,
        vehicle: &VehicleSnapshot,
    ) -> Vec<Outcome> {
        let matched: Vec<bool> = self
            .set
            .rules
            .iter()
            .map(|r| r.detection.matches(event, vehicle))
            .collect();
        if !matched.contains(&true) {
            return Vec::new();
        }
        let member = Member::of(event);
        let mut outcomes = Vec::new();
        for detector in &mut self.detectors {
            let slots: Vec<usize> = detector
                .spec
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| matched[**r])
                .map(|(slot, _)| slot)
                .collect();
            if slots.is_empty() {
                continue;
            }
            let group: GroupKey = detector
                .spec
                .group_by
                .iter()
                .map(|f| text(f.read(event, vehicle)))
                .collect();
            let value = match detector.spec.kind {
                CorrelationKind::ValueCount(f) => Some(text(f.read(event, vehicle))),
                _ => None,
            };
            if let Some(verdict) =
                detector.observe(&group, &slots, value, &member, &mut self.evicted)
            {
                outcomes.push(Outcome {
                    detector: Arc::clone(&detector.spec.meta),
                    group,
                    verdict,
                });
            }
        }
        outcomes
    }
}

impl Detector {
    fn observe(
        &mut self,
        group: &GroupKey,
        slots: &[usize],
        value: Option<String>,
        member: &Member,
        evicted: &mut u64,
    ) -> Option<Verdict> {
        let t = member.reference.timestamp_ns;
        if !self.groups.contains_key(group) && self.groups.len() >= MAX_GROUPS {
            let stalest = self
                .groups
                .iter()
                .min_by_key(|(_, g)| g.latest_ns())
                .map(|(k, _)| k.clone());
            if let Some(k) = stalest {
                self.groups.remove(&k);
                *evicted += 1;
            }
        }
        let rules = self.spec.rules.len();
        let state = self
            .groups
            .entry(group.clone())
            .or_insert_with(|| Group::Window {
                entries: (0..rules).map(|_| VecDeque::new()).collect(),
                latest_ns: 0,
            });
        let (entries, latest_ns) = match state {
            Group::Open { latest_ns } => {
                *latest_ns = (*latest_ns).max(t);
                return Some(Verdict::Fold(member.clone()));
            }
            Group::Window { entries, latest_ns } => (entries, latest_ns),
        };
        *latest_ns = (*latest_ns).max(t);
        let horizon = latest_ns.saturating_sub(self.spec.timespan_ns);
        for &slot in slots {
            let queue = &mut entries[slot];
            if queue.len() == MAX_ENTRIES {
                queue.pop_front();
                *evicted += 1;
            }
            // The member is kept once, in its first slot: one event raises one reference.
            let first = slot == slots[0];
            queue.push_back(Entry {
                timestamp_ns: t,
                value: value.clone(),
                member: first.then(|| member.clone()),
            });
        }
        for queue in entries.iter_mut() {
            queue.retain(|e| e.timestamp_ns >= horizon);
        }
        if !holds(&self.spec, entries) {
            return None;
        }
        let mut members: Vec<Member> = entries
            .iter_mut()
            .flat_map(|q| q.drain(..))
            .filter_map(|e| e.member)
            .collect();
        members.sort_by_key(|m| (m.reference.timestamp_ns, m.reference.seq));
        let latest_ns = *latest_ns;
        *state = Group::Open { latest_ns };
        Some(Verdict::Raise(members))
    }
}

/// Whether a window satisfies the detector's condition.
fn holds(spec: &Spec, entries: &[VecDeque<Entry>]) -> bool {
    match spec.kind {
        CorrelationKind::EventCount => {
            let n: usize = entries
                .iter()
                .map(|q| q.iter().filter(|e| e.member.is_some()).count())
                .sum();
            spec.threshold.holds(n as u64)
        }
        CorrelationKind::ValueCount(_) => {
            let distinct: HashSet<&str> = entries
                .iter()
                .flatten()
                .filter_map(|e| e.value.as_deref())
                .collect();
            spec.threshold.holds(distinct.len() as u64)
        }
        CorrelationKind::Temporal => {
            let present = entries.iter().filter(|q| !q.is_empty()).count() as u64;
            if spec.threshold == Threshold::default() {
                present == entries.len() as u64
            } else {
                spec.threshold.holds(present)
            }
        }
        CorrelationKind::TemporalOrdered => {
            // Greedy: the earliest match of each rule no earlier than the previous rule's.
            let mut after = 0;
            entries.iter().all(|q| {
                match q
                    .iter()
                    .map(|e| e.timestamp_ns)
                    .filter(|&t| t >= after)
                    .min()
                {
                    Some(t) => {
                        after = t;
                        true
                    }
                    None => false,
                }
            })
        }
    }
}

fn text(value: Value<'_>) -> String {
    match value {
        Value::Text(s) => s.to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Ordinal(i) => i.to_string(),
        Value::Absent => String::new(),
    }
}

/// The detectors of a set: each standalone rule (an event count of 1 per origin) and each
/// correlation.
fn specs(set: &RuleSet) -> Vec<Spec> {
    let standalone = set
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.standalone)
        .map(|(i, r)| Spec {
            meta: Arc::clone(&r.meta),
            kind: CorrelationKind::EventCount,
            rules: vec![i],
            group_by: vec![Field::Origin],
            timespan_ns: u64::MAX,
            threshold: Threshold {
                gte: Some(1),
                ..Threshold::default()
            },
        });
    let correlations = set.correlations.iter().map(|c| Spec {
        meta: Arc::clone(&c.meta),
        kind: c.kind,
        rules: c.rules.clone(),
        group_by: c.group_by.clone(),
        timespan_ns: c.timespan_ns,
        threshold: c.threshold,
    });
    standalone.chain(correlations).collect()
}

/// What must stay equal for a detector to keep its state across a reload: its name and the
/// texts of it and of every rule it reads.
fn identity(set: &RuleSet, spec: &Spec) -> (String, Vec<u64>) {
    let mut prints = vec![spec.meta.fingerprint];
    prints.extend(spec.rules.iter().map(|&r| set.rules[r].meta.fingerprint));
    (spec.meta.name.clone(), prints)
}
