//! The state machine of the intrusion-then-lateral-movement rule, per origin ECU, free of
//! actors and wire types so that its window edges can be tested directly.

use std::collections::HashMap;

use vsiem_schemas::catalog::Category;
use vsiem_schemas::encode::EventRefDraft;

pub const NAME: &str = "intrusion-then-lateral-movement";

/// A process an intrusion event named: (pid, name).
pub type Process = (u32, String);

/// Events kept per origin and kind while no incident is open; the oldest go first.
const MAX_PENDING: usize = 1024;

/// What the rule knows about one origin ECU.
#[derive(Debug, Default, Clone)]
pub struct Track {
    /// Intrusion events, oldest first.
    pub intrusions: Vec<EventRefDraft>,
    /// Lateral movement and reconnaissance events not yet part of an incident.
    pub laterals: Vec<EventRefDraft>,
    /// Processes the intrusion events named, to stop.
    pub processes: Vec<Process>,
    /// ECUs that reported lateral movement from this origin: where to block it.
    pub targets: Vec<String>,
    pub incident: Option<u64>,
}

#[derive(Debug, PartialEq)]
pub enum Lateral {
    Nothing,
    Raise {
        incident_id: u64,
        origin: String,
        events: Vec<EventRefDraft>,
    },
    Fold {
        incident_id: u64,
        reference: EventRefDraft,
    },
}

/// The rule over all origins.
///
/// Intrusion and lateral movement must lie within the window of each other, in either order
/// of their detection times: sensors detect at different speeds (a SOME/IP guard at once, a
/// process poll up to 50 ms later), so an attacker's first lateral request can be stamped
/// before the intrusion that enabled it.
#[derive(Debug)]
pub struct Tracker {
    window_ns: u64,
    origins: HashMap<String, Track>,
    next_incident: u64,
}

impl Tracker {
    pub fn new(window_ns: u64) -> Self {
        Self {
            window_ns,
            origins: HashMap::new(),
            next_incident: 1,
        }
    }

    pub fn origin(&self, ecu: &str) -> Option<&Track> {
        self.origins.get(ecu)
    }

    pub fn observe(
        &mut self,
        category: Category,
        event: EventRefDraft,
        process: Option<Process>,
    ) -> Lateral {
        let window = self.window_ns;
        let track = self.origins.entry(event.origin.clone()).or_default();
        let lateral = match category {
            Category::Intrusion => false,
            Category::LateralMovement | Category::Reconnaissance => true,
            Category::Health => {
                return match track.incident {
                    Some(incident_id) => Lateral::Fold {
                        incident_id,
                        reference: event,
                    },
                    None => Lateral::Nothing,
                };
            }
        };
        if let Some(p) = process {
            if !track.processes.contains(&p) {
                track.processes.push(p);
            }
        }
        if lateral && event.ecu != event.origin && !track.targets.contains(&event.ecu) {
            track.targets.push(event.ecu.clone());
        }
        if let Some(incident_id) = track.incident {
            return Lateral::Fold {
                incident_id,
                reference: event,
            };
        }
        let t = event.timestamp_ns;
        let near = |e: &EventRefDraft| t.abs_diff(e.timestamp_ns) <= window;
        let (mine, theirs) = if lateral {
            (&mut track.laterals, &mut track.intrusions)
        } else {
            (&mut track.intrusions, &mut track.laterals)
        };
        theirs.retain(|e| e.timestamp_ns >= t || near(e));
        let matched = theirs.iter().any(near);
        if mine.len() == MAX_PENDING {
            mine.remove(0);
        }
        mine.push(event);
        if !matched {
            return Lateral::Nothing;
        }
        let incident_id = self.next_incident;
        self.next_incident += 1;
        track.incident = Some(incident_id);
        let mut events: Vec<_> = track
            .intrusions
            .drain(..)
            .chain(track.laterals.drain(..))
            .collect();
        events.sort_by_key(|e| e.timestamp_ns);
        Lateral::Raise {
            incident_id,
            origin: events[0].origin.clone(),
            events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn ev(ecu: &str, origin: &str, seq: u64, t: u64) -> EventRefDraft {
        EventRefDraft {
            ecu: ecu.into(),
            sensor: "s".into(),
            seq,
            event_id: 0x8001,
            timestamp_ns: t,
            origin: origin.into(),
        }
    }

    #[test]
    fn intrusion_then_lateral_just_inside_the_window_raises_one_incident() {
        let mut tracker = Tracker::new(60 * S);
        let first = ev("ivi", "ivi", 1, 10 * S);
        let process = Some((42, "sh".to_owned()));
        assert_eq!(
            tracker.observe(Category::Intrusion, first, process),
            Lateral::Nothing
        );
        let raised = tracker.observe(
            Category::LateralMovement,
            ev("body-dc", "ivi", 1, 70 * S),
            None,
        );
        let Lateral::Raise {
            incident_id,
            origin,
            events,
        } = raised
        else {
            panic!("no incident: {raised:?}");
        };
        assert_eq!((incident_id, origin.as_str(), events.len()), (1, "ivi", 2));
        let track = tracker.origin("ivi").unwrap();
        assert_eq!(track.targets, ["body-dc"]);
        assert_eq!(track.processes, [(42, "sh".to_owned())]);
        let folded = tracker.observe(
            Category::LateralMovement,
            ev("body-dc", "ivi", 2, 71 * S),
            None,
        );
        assert!(
            matches!(folded, Lateral::Fold { incident_id: 1, .. }),
            "{folded:?}"
        );
    }

    #[test]
    fn lateral_just_outside_the_window_raises_nothing() {
        let mut tracker = Tracker::new(60 * S);
        tracker.observe(Category::Intrusion, ev("ivi", "ivi", 1, 10 * S), None);
        let late = ev("body-dc", "ivi", 1, 70 * S + 1);
        assert_eq!(
            tracker.observe(Category::LateralMovement, late, None),
            Lateral::Nothing
        );
    }

    #[test]
    fn lateral_detected_before_the_intrusion_still_correlates() {
        let mut tracker = Tracker::new(60 * S);
        let early = ev("body-dc", "ivi", 1, 10 * S);
        assert_eq!(
            tracker.observe(Category::Reconnaissance, early, None),
            Lateral::Nothing
        );
        let raised = tracker.observe(Category::Intrusion, ev("ivi", "ivi", 1, 10 * S + 50), None);
        let Lateral::Raise { events, .. } = raised else {
            panic!("no incident: {raised:?}");
        };
        let order: Vec<&str> = events.iter().map(|e| e.ecu.as_str()).collect();
        assert_eq!(order, ["body-dc", "ivi"], "events in time order");
    }

    #[test]
    fn other_origins_and_health_alone_raise_nothing() {
        let mut tracker = Tracker::new(60 * S);
        tracker.observe(Category::Intrusion, ev("ivi", "ivi", 1, 10 * S), None);
        let other = ev("body-dc", "tcu", 2, 11 * S);
        assert_eq!(
            tracker.observe(Category::LateralMovement, other, None),
            Lateral::Nothing
        );
        let health = ev("gateway", "ivi", 1, 12 * S);
        assert_eq!(
            tracker.observe(Category::Health, health, None),
            Lateral::Nothing
        );
        let intrusion_only = ev("ivi", "ivi", 2, 13 * S);
        assert_eq!(
            tracker.observe(Category::Intrusion, intrusion_only, None),
            Lateral::Nothing
        );
    }
}
