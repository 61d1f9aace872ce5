//! The sequence numbers a sensor skipped that it may still deliver: its holes, free of actors
//! and wire types.
//!
//! An event that arrives with a number beyond the next one leaves a hole behind it. The numbers
//! in it were lost in transport (a link that closed with events on it), were dropped by the
//! gateway itself (full lane, rate limit), or were dropped by the sensor's own full outbox. A
//! durable agent still holds the first two kinds and sends them again when its receipts stop
//! advancing, so ingest acknowledges only up to the first hole ([`Holes::settled`]) and
//! accepts an event that fills one. A hole is given up, and what it says was lost reported, when
//! the sensor's resends pass over it (it sends again from its oldest held event, in order, so a
//! resend beyond a hole that is still open, with none of its resends refused by the gateway,
//! means the sensor does not hold those numbers), when it stays open for [`GRACE_NS`] (a sender
//! that never resends, or whose resends the gateway keeps refusing), when more than
//! [`MAX_HOLES`] are open (the oldest goes), or when the sensor starts a new epoch (its store,
//! and so what it held, is gone).
//!
//! What the gateway refused of a sensor since the event before a hole is counted against that
//! hole (`refused`): given up, those numbers are not lost, the gateway dropped them by policy (a
//! flooding sender's excess, which costs it alone). Which of the hole's numbers they were is
//! unknown, so a hole partly filled before it is given up counts its refusals against what is
//! left.

/// How long a hole waits for the sensor to fill it: a few of the agents' receipt timeouts, each
/// of which makes them send again from their oldest unacknowledged event.
pub const GRACE_NS: u64 = 10_000_000_000;
/// Holes open per sensor, at most.
pub const MAX_HOLES: usize = 32;

/// Sequence numbers `first..=last` of one sensor that did not arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hole {
    pub first: u64,
    pub last: u64,
    /// Of them, how many the gateway refused itself (at most their number).
    pub refused: u64,
}

impl Hole {
    /// How many numbers it spans.
    pub fn size(&self) -> u64 {
        self.last - self.first + 1
    }

    /// The numbers of the hole neither delivered nor refused by the gateway: what it lost.
    pub fn lost(&self) -> u64 {
        self.size().saturating_sub(self.refused)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Open {
    hole: Hole,
    /// When it opened, on the caller's clock (nanoseconds).
    opened_ns: u64,
}

/// One sensor's open holes, in order of their numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holes {
    open: Vec<Open>,
}

impl Holes {
    /// Opens `hole`, beyond every open one. Returns the oldest if there are now too many.
    pub fn open(&mut self, hole: Hole, now_ns: u64) -> Option<Hole> {
        debug_assert!(self.open.last().is_none_or(|o| o.hole.last < hole.first));
        self.open.push(Open {
            hole,
            opened_ns: now_ns,
        });
        (self.open.len() > MAX_HOLES).then(|| self.open.remove(0).hole)
    }

    /// Whether `seq` is in an open hole.
    pub fn contains(&self, seq: u64) -> bool {
        self.open
            .iter()
            .any(|o| (o.hole.first..=o.hole.last).contains(&seq))
    }

    /// `seq` arrived: its hole shrinks or splits around it.
    pub fn fill(&mut self, seq: u64) {
        let Some(i) = self
            .open
            .iter()
            .position(|o| (o.hole.first..=o.hole.last).contains(&seq))
        else {
            return;
        };
        let Open { hole, opened_ns } = self.open.remove(i);
        let mut refused = hole.refused;
        let below = (seq > hole.first).then(|| (hole.first, seq - 1));
        let above = (seq < hole.last).then(|| (seq + 1, hole.last));
        for (at, (first, last)) in (i..).zip(below.into_iter().chain(above)) {
            let piece = Hole {
                first,
                last,
                refused: refused.min(last - first + 1),
            };
            refused -= piece.refused;
            let open = Open {
                hole: piece,
                opened_ns,
            };
            self.open.insert(at, open);
        }
    }

    /// A resend of `seq` arrived while the holes below it are still open: the sensor does not
    /// hold them. They are given up.
    pub fn passed_over(&mut self, seq: u64) -> Vec<Hole> {
        let below = self.open.partition_point(|o| o.hole.last < seq);
        self.open.drain(..below).map(|o| o.hole).collect()
    }

    /// Gives up the holes open for [`GRACE_NS`] or longer at `now_ns`.
    pub fn expired(&mut self, now_ns: u64) -> Vec<Hole> {
        let mut expired = Vec::new();
        self.open.retain(|o| {
            let keep = now_ns.saturating_sub(o.opened_ns) < GRACE_NS;
            if !keep {
                expired.push(o.hole);
            }
            keep
        });
        expired
    }

    /// Gives up every hole.
    pub fn clear(&mut self) -> Vec<Hole> {
        self.open.drain(..).map(|o| o.hole).collect()
    }

    /// What a receipt covers, of a sensor whose last accepted number is `last_seq`: every number
    /// up to the first hole, or up to `last_seq` when none is open.
    pub fn settled(&self, last_seq: u64) -> u64 {
        self.open.first().map_or(last_seq, |o| o.hole.first - 1)
    }

    /// Sequence numbers in open holes.
    pub fn missing(&self) -> u64 {
        self.open.iter().map(|o| o.hole.size()).sum()
    }

    pub fn iter(&self) -> impl Iterator<Item = Hole> + '_ {
        self.open.iter().map(|o| o.hole)
    }

    /// Holes as saved (in order), open again from `now_ns`.
    pub fn restore(holes: impl IntoIterator<Item = Hole>, now_ns: u64) -> Self {
        Self {
            open: holes
                .into_iter()
                .map(|hole| Open {
                    hole,
                    opened_ns: now_ns,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hole(first: u64, last: u64, refused: u64) -> Hole {
        Hole {
            first,
            last,
            refused,
        }
    }

    fn holes(of: &Holes) -> Vec<Hole> {
        of.iter().collect()
    }

    #[test]
    fn filling_shrinks_and_splits_a_hole_and_receipts_stop_at_the_first() {
        let mut h = Holes::default();
        assert_eq!(h.settled(3), 3);
        assert_eq!(h.open(hole(4, 19, 0), 0), None);
        assert_eq!(h.open(hole(25, 26, 0), 0), None);
        assert_eq!((h.settled(27), h.missing()), (3, 18));
        h.fill(4);
        h.fill(10);
        h.fill(19);
        h.fill(20); // not in a hole: nothing changes
        assert_eq!(
            holes(&h),
            vec![hole(5, 9, 0), hole(11, 18, 0), hole(25, 26, 0)]
        );
        assert!(h.contains(11) && !h.contains(10) && !h.contains(27));
        for seq in (5..=9).chain(11..=18) {
            h.fill(seq);
        }
        assert_eq!((h.settled(27), h.missing()), (24, 2));
    }

    #[test]
    fn refusals_stay_with_what_is_left_of_a_hole() {
        let mut h = Holes::default();
        h.open(hole(1, 5, 3), 0);
        h.fill(3);
        // 1..=2 takes two of the three refusals, 4..=5 the last.
        assert_eq!(holes(&h), vec![hole(1, 2, 2), hole(4, 5, 1)]);
        assert_eq!(h.clear().iter().map(Hole::lost).sum::<u64>(), 1);
        assert_eq!(h.settled(5), 5);
    }

    #[test]
    fn a_resend_beyond_open_holes_gives_them_up() {
        let mut h = Holes::default();
        h.open(hole(2, 3, 0), 0);
        h.open(hole(6, 6, 0), 0);
        h.open(hole(9, 9, 0), 0);
        assert_eq!(h.passed_over(7), vec![hole(2, 3, 0), hole(6, 6, 0)]);
        assert_eq!(holes(&h), vec![hole(9, 9, 0)]);
        assert_eq!(h.passed_over(9), Vec::new(), "9 is the hole, not beyond it");
    }

    #[test]
    fn holes_expire_after_the_grace_and_the_oldest_goes_past_the_bound() {
        let mut h = Holes::default();
        h.open(hole(1, 1, 0), 0);
        h.open(hole(3, 3, 0), GRACE_NS / 2);
        assert_eq!(h.expired(GRACE_NS - 1), Vec::new());
        assert_eq!(h.expired(GRACE_NS), vec![hole(1, 1, 0)]);
        assert_eq!(h.expired(GRACE_NS / 2 + GRACE_NS), vec![hole(3, 3, 0)]);

        let mut h = Holes::default();
        for i in 0..MAX_HOLES as u64 {
            assert_eq!(h.open(hole(2 * i + 1, 2 * i + 1, 0), 0), None);
        }
        let next = 2 * MAX_HOLES as u64 + 1;
        assert_eq!(h.open(hole(next, next, 0), 0), Some(hole(1, 1, 0)));
        assert_eq!(h.iter().count(), MAX_HOLES);
    }

    #[test]
    fn restored_holes_are_open_again_from_the_restore() {
        let h = Holes::restore([hole(4, 7, 1)], 100);
        assert_eq!(h.settled(9), 3);
        assert_eq!(h.clone().expired(100 + GRACE_NS - 1), Vec::new());
        assert_eq!(h.clone().expired(100 + GRACE_NS), vec![hole(4, 7, 1)]);
    }
}
