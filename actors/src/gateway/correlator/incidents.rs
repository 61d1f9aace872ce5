//! The incident book: what the rule engine's verdicts make of incidents, free of actors and
//! wire bytes so that its lifecycle can be tested directly.
//!
//! - A raise for an origin ECU that already has an open incident, or whose events already
//!   belong to one, *upgrades* that incident (the higher-level rule's name, title and
//!   severity; the union of tags) instead of opening a second one: one compromised ECU, one
//!   incident, rated by everything known about it.
//! - Every contributing event is referenced. Consecutive events of one sensor fold into one
//!   reference `seq..=last_seq`, so a flood stays a handful of references; past
//!   [`MAX_REFERENCES`] events are still counted (`count`) but no longer listed.
//! - Lifecycle: open, contained once every order of the incident was applied, closed after the
//!   response policy's quiet time without new events.

use std::collections::{BTreeMap, HashMap};

use vsiem_rules::engine::{GroupKey, Member, Outcome, Verdict};
use vsiem_schemas::catalog::Category;
use vsiem_schemas::encode::{ActionTakenDraft, EventRefDraft, IncidentDraft, VehicleSnapshot};
use vsiem_schemas::wire::{AckStatus, IncidentState};

use super::Process;

/// References kept per incident (each covering a run of consecutive events of one sensor).
pub const MAX_REFERENCES: usize = 16_384;

/// A (detector, group) of the rule engine.
pub type Group = (String, GroupKey);

#[derive(Debug, Clone)]
pub struct Incident {
    pub draft: IncidentDraft,
    /// The engine groups feeding it, released when it closes.
    pub groups: Vec<Group>,
    /// Processes its intrusion events named (pid, name): what `stop-processes` stops.
    pub processes: Vec<Process>,
    /// ECUs that reported the origin's requests: where `block-someip-client` blocks.
    pub targets: Vec<String>,
    /// Gateway time of the last event folded in, for the quiet-time close.
    pub last_activity_ns: u64,
    /// The rule naming the incident is a correlation.
    named_by_correlation: bool,
    /// Index in `draft.events` of the latest reference of each (ecu, sensor).
    latest: HashMap<(String, String), usize>,
}

impl Incident {
    /// Every rule that raised, upgraded or fed the incident, in that order, once each.
    pub fn rules(&self) -> Vec<String> {
        let mut rules: Vec<String> = Vec::new();
        for (detector, _) in &self.groups {
            if !rules.contains(detector) {
                rules.push(detector.clone());
            }
        }
        rules
    }

    fn references(&self, r: &EventRefDraft) -> bool {
        let Some(&latest) = self.latest.get(&(r.ecu.clone(), r.sensor.clone())) else {
            return false;
        };
        // A sensor's sequence numbers only grow: past its latest reference means new, which
        // keeps a flood from scanning every reference.
        let last = &self.draft.events[latest];
        match r.seq {
            seq if seq > last.last_seq => false,
            seq if seq >= last.seq => true,
            seq => self.draft.events.iter().any(|e| {
                e.ecu == r.ecu && e.sensor == r.sensor && (e.seq..=e.last_seq).contains(&seq)
            }),
        }
    }

    /// Adds one event; false if it was already referenced.
    fn add(&mut self, member: &Member, now_ns: u64) -> bool {
        let r = &member.reference;
        if self.references(r) {
            return false;
        }
        self.draft.count += 1;
        self.last_activity_ns = now_ns;
        let key = (r.ecu.clone(), r.sensor.clone());
        let extended = self.latest.get(&key).is_some_and(|&i| {
            let last = &mut self.draft.events[i];
            let next = last.last_seq.checked_add(1) == Some(r.seq);
            if next {
                last.last_seq = r.seq;
            }
            next
        });
        if !extended && self.draft.events.len() < MAX_REFERENCES {
            self.latest.insert(key, self.draft.events.len());
            self.draft.events.push(r.clone());
        }
        let origin = &self.draft.origin_ecu;
        match member.category {
            Some(Category::Intrusion) => {
                if let Some(p) = &member.process {
                    if !self.processes.contains(p) {
                        self.processes.push(p.clone());
                    }
                }
            }
            Some(Category::LateralMovement | Category::Reconnaissance)
                if r.ecu != *origin && !self.targets.contains(&r.ecu) =>
            {
                self.targets.push(r.ecu.clone());
            }
            _ => {}
        }
        true
    }
}

/// What a verdict did to the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Raised(u64),
    Upgraded(u64),
    Folded(u64),
    /// The event was already referenced by the incident.
    Unchanged(u64),
}

impl Change {
    pub fn incident(self) -> u64 {
        match self {
            Change::Raised(id)
            | Change::Upgraded(id)
            | Change::Folded(id)
            | Change::Unchanged(id) => id,
        }
    }
}

#[derive(Debug, Default)]
pub struct Book {
    incidents: BTreeMap<u64, Incident>,
    by_group: HashMap<Group, u64>,
    next_id: u64,
}

impl Book {
    /// An empty book whose first incident is `last_id + 1`.
    pub fn numbered_after(last_id: u64) -> Self {
        Self {
            next_id: last_id,
            ..Self::default()
        }
    }

    pub fn get(&self, id: u64) -> Option<&Incident> {
        self.incidents.get(&id)
    }

    pub fn open(&self) -> impl Iterator<Item = &Incident> {
        self.incidents.values()
    }

    /// Applies one engine outcome; `vehicle` is the state at the outcome's latest event.
    pub fn apply(&mut self, outcome: &Outcome, vehicle: VehicleSnapshot, now_ns: u64) -> Change {
        let group: Group = (outcome.detector.name.clone(), outcome.group.clone());
        let meta = &outcome.detector;
        match &outcome.verdict {
            Verdict::Fold(member) => match self.by_group.get(&group).copied() {
                Some(id) => {
                    let incident = self
                        .incidents
                        .get_mut(&id)
                        .expect("grouped incidents exist");
                    if incident.add(member, now_ns) {
                        Change::Folded(id)
                    } else {
                        Change::Unchanged(id)
                    }
                }
                // The engine and the book release groups together, so this does not happen;
                // should it, the event opens an incident rather than being lost.
                None => self.raise(
                    group,
                    outcome,
                    std::slice::from_ref(member),
                    vehicle,
                    now_ns,
                ),
            },
            Verdict::Raise(members) => {
                let origin = members.first().map_or("", |m| m.reference.origin.as_str());
                let upgraded = self
                    .incidents
                    .iter()
                    .find(|(_, i)| {
                        (!origin.is_empty() && i.draft.origin_ecu == origin)
                            || members.iter().any(|m| i.references(&m.reference))
                    })
                    .map(|(id, _)| *id);
                let Some(id) = upgraded else {
                    return self.raise(group, outcome, members, vehicle, now_ns);
                };
                let incident = self.incidents.get_mut(&id).expect("found above");
                for m in members {
                    incident.add(m, now_ns);
                }
                // A higher level renames the incident; at the same level a correlation (what
                // several events mean together) names it rather than a single detection.
                let severity = incident.draft.severity;
                let rename = meta.level.0 > severity.0
                    || (meta.level == severity
                        && meta.correlation
                        && !incident.named_by_correlation);
                if rename {
                    incident.named_by_correlation = meta.correlation;
                }
                let d = &mut incident.draft;
                if rename {
                    d.severity = meta.level;
                    d.rule.clone_from(&meta.name);
                    d.title = title(&meta.title, &d.origin_ecu);
                }
                for tag in &meta.tags {
                    if !d.tags.contains(tag) {
                        d.tags.push(tag.clone());
                    }
                }
                incident.groups.push(group.clone());
                self.by_group.insert(group, id);
                Change::Upgraded(id)
            }
        }
    }

    fn raise(
        &mut self,
        group: Group,
        outcome: &Outcome,
        members: &[Member],
        vehicle: VehicleSnapshot,
        now_ns: u64,
    ) -> Change {
        self.next_id += 1;
        let id = self.next_id;
        let meta = &outcome.detector;
        let origin = members
            .first()
            .map(|m| m.reference.origin.clone())
            .unwrap_or_default();
        let mut incident = Incident {
            draft: IncidentDraft {
                incident_id: id,
                severity: meta.level,
                title: title(&meta.title, &origin),
                rule: meta.name.clone(),
                origin_ecu: origin,
                opened_ns: now_ns,
                updated_ns: now_ns,
                events: Vec::new(),
                vehicle_state: vehicle,
                actions: Vec::new(),
                state: IncidentState::Open,
                count: 0,
                tags: meta.tags.clone(),
            },
            groups: vec![group.clone()],
            processes: Vec::new(),
            targets: Vec::new(),
            last_activity_ns: now_ns,
            named_by_correlation: meta.correlation,
            latest: HashMap::new(),
        };
        for m in members {
            incident.add(m, now_ns);
        }
        self.incidents.insert(id, incident);
        self.by_group.insert(group, id);
        Change::Raised(id)
    }

    /// Records what the responder did; an incident whose every order was applied is contained.
    /// `None` when that changes nothing (the responder reports again after every event folded
    /// into the incident, mostly with no new order): no new version to escalate.
    pub fn settled(
        &mut self,
        id: u64,
        actions: Vec<ActionTakenDraft>,
        now_ns: u64,
    ) -> Option<&IncidentDraft> {
        let incident = self.incidents.get_mut(&id)?;
        let contained =
            !actions.is_empty() && actions.iter().all(|a| a.status == AckStatus::Applied);
        let d = &mut incident.draft;
        let contains = contained && d.state == IncidentState::Open;
        if d.actions == actions && !contains {
            return None;
        }
        d.actions = actions;
        if contains {
            d.state = IncidentState::Contained;
        }
        d.updated_ns = now_ns;
        Some(d)
    }

    /// Incidents quiet for `quiet_ns`: to close.
    pub fn due(&self, now_ns: u64, quiet_ns: u64) -> Vec<u64> {
        self.incidents
            .values()
            .filter(|i| now_ns.saturating_sub(i.last_activity_ns) >= quiet_ns)
            .map(|i| i.draft.incident_id)
            .collect()
    }

    /// Closes an incident: its final version, and the engine groups to release.
    pub fn close(&mut self, id: u64, now_ns: u64) -> Option<(IncidentDraft, Vec<Group>)> {
        let mut incident = self.incidents.remove(&id)?;
        for g in &incident.groups {
            self.by_group.remove(g);
        }
        incident.draft.state = IncidentState::Closed;
        incident.draft.updated_ns = now_ns;
        Some((incident.draft, incident.groups))
    }
}

fn title(rule_title: &str, origin: &str) -> String {
    if origin.is_empty() {
        rule_title.to_owned()
    } else {
        format!("{rule_title}: {origin}")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use vsiem_rules::Meta;
    use vsiem_schemas::wire::Severity;

    use super::*;

    fn meta(name: &str, level: Severity) -> Arc<Meta> {
        Arc::new(Meta {
            name: name.into(),
            title: format!("{name} title"),
            level,
            tags: vec![format!("t.{name}")],
            place: "test.yml".into(),
            fingerprint: 0,
            correlation: name == "lateral",
        })
    }

    fn member(ecu: &str, sensor: &str, seq: u64, category: Category) -> Member {
        Member {
            reference: EventRefDraft {
                ecu: ecu.into(),
                sensor: sensor.into(),
                seq,
                last_seq: seq,
                event_id: 0x8002,
                timestamp_ns: seq,
                origin: "ivi".into(),
            },
            category: Some(category),
            process: (category == Category::Intrusion).then(|| (seq as u32, "sh".into())),
        }
    }

    fn outcome(detector: &Arc<Meta>, verdict: Verdict) -> Outcome {
        Outcome {
            detector: Arc::clone(detector),
            group: vec!["ivi".into()],
            verdict,
        }
    }

    #[test]
    fn a_correlation_upgrades_the_incident_its_events_are_in() {
        let (tampered, lateral) = (
            meta("tampered", Severity::High),
            meta("lateral", Severity::Critical),
        );
        let mut book = Book::default();
        let intrusion = member("ivi", "files", 1, Category::Intrusion);
        let first = book.apply(
            &outcome(&tampered, Verdict::Raise(vec![intrusion.clone()])),
            VehicleSnapshot::default(),
            10,
        );
        assert_eq!(first, Change::Raised(1));
        let request = member("body-dc", "someip", 1, Category::LateralMovement);
        let raise = Verdict::Raise(vec![intrusion, request.clone()]);
        assert_eq!(
            book.apply(&outcome(&lateral, raise), VehicleSnapshot::default(), 20),
            Change::Upgraded(1)
        );
        let i = book.get(1).expect("one incident");
        assert_eq!(
            (
                i.draft.rule.as_str(),
                i.draft.severity,
                i.draft.count,
                i.draft.title.as_str()
            ),
            ("lateral", Severity::Critical, 2, "lateral title: ivi")
        );
        assert_eq!(i.draft.tags, ["t.tampered", "t.lateral"]);
        assert_eq!(
            (i.processes.clone(), i.targets.clone()),
            (vec![(1, "sh".to_owned())], vec!["body-dc".to_owned()])
        );
        let again = book.apply(
            &outcome(&lateral, Verdict::Fold(request)),
            VehicleSnapshot::default(),
            30,
        );
        assert_eq!(again, Change::Unchanged(1), "an event is referenced once");
        let scan = meta("scan", Severity::Medium);
        let probe = Verdict::Raise(vec![member(
            "body-dc",
            "someip",
            2,
            Category::Reconnaissance,
        )]);
        assert_eq!(
            book.apply(&outcome(&scan, probe), VehicleSnapshot::default(), 40),
            Change::Upgraded(1),
            "another rule on the same origin joins its open incident"
        );
        let i = book.get(1).expect("one incident");
        assert_eq!(
            (i.draft.rule.as_str(), i.draft.count),
            ("lateral", 3),
            "a lower level does not downgrade"
        );
        let read_only = meta("read-only", Severity::Critical);
        let tampered_again = Verdict::Raise(vec![member("ivi", "files", 2, Category::Intrusion)]);
        book.apply(
            &outcome(&read_only, tampered_again),
            VehicleSnapshot::default(),
            50,
        );
        let i = book.get(1).expect("one incident");
        assert_eq!(
            i.draft.rule, "lateral",
            "a detection of the same level leaves a correlation's name"
        );
        assert_eq!(i.rules(), ["tampered", "lateral", "scan", "read-only"]);
    }

    #[test]
    fn a_flood_folds_into_a_few_references_and_every_event_counts() {
        let rule = meta("flood", Severity::High);
        let mut book = Book::default();
        book.apply(
            &outcome(
                &rule,
                Verdict::Raise(vec![member(
                    "body-dc",
                    "someip",
                    1,
                    Category::LateralMovement,
                )]),
            ),
            VehicleSnapshot::default(),
            1,
        );
        for seq in 2..=10_000 {
            book.apply(
                &outcome(
                    &rule,
                    Verdict::Fold(member("body-dc", "someip", seq, Category::LateralMovement)),
                ),
                VehicleSnapshot::default(),
                seq,
            );
        }
        // A gap (events of another type in between) starts a new reference.
        book.apply(
            &outcome(
                &rule,
                Verdict::Fold(member(
                    "body-dc",
                    "someip",
                    10_005,
                    Category::LateralMovement,
                )),
            ),
            VehicleSnapshot::default(),
            10_005,
        );
        book.apply(
            &outcome(
                &rule,
                Verdict::Fold(member("gateway", "net", 7, Category::LateralMovement)),
            ),
            VehicleSnapshot::default(),
            10_006,
        );
        let i = book.get(1).expect("raised");
        let refs: Vec<(&str, u64, u64)> = i
            .draft
            .events
            .iter()
            .map(|e| (e.ecu.as_str(), e.seq, e.last_seq))
            .collect();
        assert_eq!(
            refs,
            [
                ("body-dc", 1, 10_000),
                ("body-dc", 10_005, 10_005),
                ("gateway", 7, 7)
            ]
        );
        assert_eq!(i.draft.count, 10_002);
    }

    #[test]
    fn incidents_are_contained_when_every_order_applied_and_close_when_quiet() {
        let rule = meta("r", Severity::High);
        let mut book = Book::default();
        book.apply(
            &outcome(
                &rule,
                Verdict::Raise(vec![member("ivi", "files", 1, Category::Intrusion)]),
            ),
            VehicleSnapshot::default(),
            100,
        );
        let action = |status| ActionTakenDraft {
            order_id: 1,
            target_ecu: "ivi".into(),
            summary: "s".into(),
            status,
        };
        let state = |book: &mut Book, actions| book.settled(1, actions, 150).map(|d| d.state);
        assert_eq!(
            state(&mut book, vec![]),
            None,
            "nothing done: no new version"
        );
        let partly = vec![action(AckStatus::Applied), action(AckStatus::Unsupported)];
        assert_eq!(
            state(&mut book, partly.clone()),
            Some(IncidentState::Open),
            "not all applied: not contained"
        );
        assert_eq!(
            state(&mut book, partly),
            None,
            "the same again: no new version"
        );
        assert_eq!(
            state(&mut book, vec![action(AckStatus::Applied)]),
            Some(IncidentState::Contained)
        );
        assert_eq!(
            book.due(1_099, 1_000),
            Vec::<u64>::new(),
            "not quiet long enough"
        );
        assert_eq!(book.due(1_100, 1_000), vec![1]);
        let (last, groups) = book.close(1, 1_100).expect("open before");
        assert_eq!(
            (last.state, groups),
            (
                IncidentState::Closed,
                vec![("r".to_owned(), vec!["ivi".to_owned()])]
            )
        );
        let next = book.apply(
            &outcome(
                &rule,
                Verdict::Fold(member("ivi", "files", 2, Category::Intrusion)),
            ),
            VehicleSnapshot::default(),
            1_200,
        );
        assert_eq!(
            next,
            Change::Raised(2),
            "after closing, the group's next event opens a new incident"
        );
    }
}
