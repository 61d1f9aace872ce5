//! Replay protection, free of actors and wire types: judges each event of a sensor by its boot
//! epoch, sequence number and timestamp against what the gateway accepted from that sensor.
//!
//! An agent stamps every event with the time its uplink started (`boot_ns`, its epoch) and a
//! sequence number counted from 1 within that epoch. So:
//! - a later epoch is a restarted agent: its sequence starts again, and that is not a replay;
//! - an earlier epoch, or a sequence number at or below the last one of the current epoch, is an
//!   event seen before: a replay (or a duplicate, which the gateway cannot tell apart);
//! - a timestamp (or epoch) ahead of the gateway's clock by more than the skew bound is refused;
//! - a timestamp older than the maximum age is refused only from a sensor the gateway has no
//!   record of. The gateway's records are durable (`ledger.rs`), so for a known sensor the
//!   sequence alone proves an event new: a later number of its epoch, or a later epoch, is an
//!   event the gateway never accepted, however late it comes (an agent's durable queue
//!   redelivers events after a partition or a gateway outage). Without a record (a new gateway
//!   store) the age bound is what limits replays, to events younger than the maximum age.
//!
//! Only accepted events move a sensor's track. A jump in sequence numbers opens a hole
//! (`holes.rs`), with the events the gateway refused itself in between (full queue, rate limit,
//! bad timestamp, invalid) counted against it; an event that fills an open hole is accepted late.

use super::holes::{Hole, Holes};

/// What the gateway last accepted from one sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Track {
    pub boot_ns: u64,
    pub last_seq: u64,
}

/// What an event claims about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub boot_ns: u64,
    pub seq: u64,
    pub timestamp_ns: u64,
}

/// The accepted age of an event at its arrival, both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub max_age_ns: u64,
    pub max_skew_ns: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept {
        /// The numbers it skipped, with how many of the sensor's events the gateway refused
        /// itself since the last accepted one.
        hole: Option<Hole>,
        /// The first event of a new epoch of a sensor already known: its agent restarted (the
        /// holes of its earlier epoch will never be filled).
        restarted: bool,
    },
    /// Same epoch, a sequence number in an open hole: late, accepted.
    Late,
    /// Same epoch, sequence number not above the last accepted one nor in a hole.
    Duplicate { last_seq: u64 },
    /// An epoch earlier than the sensor's current one.
    OldEpoch { current_boot_ns: u64 },
    /// Timestamp older than the maximum age, from a sensor without a record.
    Stale { age_ns: u64 },
    /// Timestamp or epoch ahead of the gateway's clock by more than the skew bound.
    Future { ahead_ns: u64 },
}

impl Verdict {
    /// Whether the event may be one of the sequence numbers still missing: the refusals that
    /// count against the next gap. Replays and duplicates carry old numbers, so they do not.
    pub fn may_fill_a_gap(&self) -> bool {
        matches!(self, Verdict::Stale { .. } | Verdict::Future { .. })
    }
}

/// Judges `claim`, arriving at `now_ns` (wall clock, the time base of the wire), against the
/// sensor's `track`, which it updates when it accepts, and its open `holes`, which the caller
/// updates. `refused_since` is how many events of the sensor the gateway refused since the last
/// one it accepted.
pub fn judge(
    track: &mut Option<Track>,
    holes: &Holes,
    claim: Claim,
    now_ns: u64,
    refused_since: u64,
    window: TimeWindow,
) -> Verdict {
    let newest = claim.timestamp_ns.max(claim.boot_ns);
    if newest > now_ns.saturating_add(window.max_skew_ns) {
        return Verdict::Future {
            ahead_ns: newest - now_ns,
        };
    }
    let (from, restarted) = match *track {
        None => (0, false),
        Some(t) if claim.boot_ns > t.boot_ns => (0, true),
        Some(t) if claim.boot_ns < t.boot_ns => {
            return Verdict::OldEpoch {
                current_boot_ns: t.boot_ns,
            };
        }
        Some(_) if holes.contains(claim.seq) => return Verdict::Late,
        Some(t) if claim.seq <= t.last_seq => {
            return Verdict::Duplicate {
                last_seq: t.last_seq,
            };
        }
        Some(t) => (t.last_seq, false),
    };
    let age_ns = now_ns.saturating_sub(claim.timestamp_ns);
    if track.is_none() && age_ns > window.max_age_ns {
        return Verdict::Stale { age_ns };
    }
    *track = Some(Track {
        boot_ns: claim.boot_ns,
        last_seq: claim.seq,
    });
    let missing = claim.seq.saturating_sub(from + 1);
    let hole = (missing > 0).then_some(Hole {
        first: from + 1,
        last: claim.seq - 1,
        refused: refused_since.min(missing),
    });
    Verdict::Accept { hole, restarted }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const NOW: u64 = 1_700_000_000 * S;
    const BOOT: u64 = NOW - 3600 * S;
    const WINDOW: TimeWindow = TimeWindow {
        max_age_ns: 30 * S,
        max_skew_ns: S,
    };

    fn claim(boot_ns: u64, seq: u64, timestamp_ns: u64) -> Claim {
        Claim {
            boot_ns,
            seq,
            timestamp_ns,
        }
    }

    fn accept(hole: Option<Hole>, restarted: bool) -> Verdict {
        Verdict::Accept { hole, restarted }
    }

    /// `claim` judged at `NOW` with no hole open and nothing refused before it.
    fn judge_alone(track: &mut Option<Track>, claim: Claim) -> Verdict {
        judge(track, &Holes::default(), claim, NOW, 0, WINDOW)
    }

    fn hole(first: u64, last: u64, refused: u64) -> Option<Hole> {
        Some(Hole {
            first,
            last,
            refused,
        })
    }

    /// One sensor's events in order: (claim, arrival, refused before it, verdict wanted).
    #[test]
    fn a_sensors_history_judged_event_by_event() {
        let later_boot = NOW - 10 * S;
        let cases = [
            // First contact: the sequence counts from 1.
            (claim(BOOT, 1, NOW), 0, accept(None, false)),
            (claim(BOOT, 2, NOW), 0, accept(None, false)),
            // The same event again, and an older one: seen before.
            (claim(BOOT, 2, NOW), 0, Verdict::Duplicate { last_seq: 2 }),
            (claim(BOOT, 1, NOW), 0, Verdict::Duplicate { last_seq: 2 }),
            // 3 and 4 never arrived.
            (claim(BOOT, 5, NOW), 0, accept(hole(3, 4, 0), false)),
            // 3 comes late, resent: it fills the hole; 3 again is a duplicate.
            (claim(BOOT, 3, NOW - 10 * S), 0, Verdict::Late),
            (claim(BOOT, 3, NOW), 0, Verdict::Duplicate { last_seq: 5 }),
            // 6 and 7 were dropped by the gateway itself: a hole all the same (a durable sender
            // sends them again), of refusals only.
            (claim(BOOT, 8, NOW), 2, accept(hole(6, 7, 2), false)),
            // 9..=12 missing, of which the gateway dropped 1.
            (claim(BOOT, 13, NOW), 1, accept(hole(9, 12, 1), false)),
            // The agent restarted: a later epoch, counting from 1 again.
            (claim(later_boot, 1, NOW), 0, accept(None, true)),
            // An event of the earlier run, replayed after the restart.
            (
                claim(BOOT, 13, NOW),
                0,
                Verdict::OldEpoch {
                    current_boot_ns: later_boot,
                },
            ),
            (
                claim(BOOT, 14, NOW),
                0,
                Verdict::OldEpoch {
                    current_boot_ns: later_boot,
                },
            ),
            // A restarted agent whose first events were lost.
            (
                claim(later_boot + S, 3, NOW),
                0,
                accept(hole(1, 2, 0), true),
            ),
        ];
        let (mut track, mut holes) = (None, Holes::default());
        for (i, (claim, refused, want)) in cases.into_iter().enumerate() {
            let verdict = judge(&mut track, &holes, claim, NOW, refused, WINDOW);
            assert_eq!(verdict, want, "event {i}");
            // What ingest does with the holes.
            match verdict {
                Verdict::Accept { hole, restarted } => {
                    if restarted {
                        holes.clear();
                    }
                    if let Some(hole) = hole {
                        holes.open(hole, 0);
                    }
                }
                Verdict::Late => holes.fill(claim.seq),
                _ => {}
            }
        }
        // The restart gave up 4, 6..=7 and 9..=12; its own first two numbers are open.
        assert_eq!(
            holes.iter().collect::<Vec<_>>(),
            vec![hole(1, 2, 0).unwrap()]
        );
    }

    #[test]
    fn timestamps_just_inside_the_window_pass_and_just_outside_are_refused() {
        let cases = [
            (NOW - 30 * S, true),
            (NOW - 30 * S - 1, false),
            (NOW + S, true),
            (NOW + S + 1, false),
        ];
        for (timestamp, ok) in cases {
            let mut track = None;
            let verdict = judge_alone(&mut track, claim(BOOT, 1, timestamp));
            assert_eq!(matches!(verdict, Verdict::Accept { .. }), ok, "{verdict:?}");
            assert_eq!(track.is_some(), ok, "only accepted events move the track");
        }
    }

    #[test]
    fn an_epoch_from_the_future_is_refused() {
        let mut track = None;
        let verdict = judge_alone(&mut track, claim(NOW + 2 * S, 1, NOW));
        assert_eq!(verdict, Verdict::Future { ahead_ns: 2 * S });
    }

    #[test]
    fn a_stale_replay_of_a_known_sensor_is_a_duplicate_first() {
        let mut track = Some(Track {
            boot_ns: BOOT,
            last_seq: 10,
        });
        let verdict = judge_alone(&mut track, claim(BOOT, 3, NOW - 100 * S));
        assert_eq!(verdict, Verdict::Duplicate { last_seq: 10 });
    }

    #[test]
    fn a_late_event_of_a_known_sensor_is_accepted_when_its_sequence_is_new() {
        // Redelivered from the agent's durable queue after a 60 s partition.
        let mut track = Some(Track {
            boot_ns: BOOT,
            last_seq: 10,
        });
        let verdict = judge_alone(&mut track, claim(BOOT, 11, NOW - 60 * S));
        assert_eq!(verdict, accept(None, false));
        // The same late event again is a duplicate; a later epoch's late event is new.
        let verdict = judge_alone(&mut track, claim(BOOT, 11, NOW - 60 * S));
        assert_eq!(verdict, Verdict::Duplicate { last_seq: 11 });
        let verdict = judge_alone(&mut track, claim(BOOT + S, 1, NOW - 60 * S));
        assert_eq!(verdict, accept(None, true));
    }

    #[test]
    fn without_a_record_of_the_sensor_an_old_event_is_stale() {
        let mut track = None;
        let verdict = judge_alone(&mut track, claim(BOOT, 3, NOW - 100 * S));
        assert_eq!(verdict, Verdict::Stale { age_ns: 100 * S });
        assert!(verdict.may_fill_a_gap());
        assert!(!Verdict::Duplicate { last_seq: 1 }.may_fill_a_gap());
    }
}
