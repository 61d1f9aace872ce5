//! The instance-wide limits of one agent's uplink (IdsM rate and traffic limitation): at most so
//! many events and so many encoded bytes per interval leave the agent. Pure: the caller gives
//! the time and the encoded size.
//!
//! Each limit counts in windows opened by the first event after the previous one ended. What a
//! window held back is reported once, when the window ends: one report per limit and interval,
//! never one per event held back.

use std::time::Duration;

use vsiem_topology::{RateLimit, TrafficLimit};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Rate,
    Traffic,
}

/// What one limit held back during one of its intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldBack {
    pub limit: Limit,
    /// The limit: events (rate) or bytes (traffic) per interval.
    pub max: u64,
    pub interval: Duration,
    pub events: u64,
    /// Occurrences the held-back events stood for (the sum of their counts).
    pub occurrences: u64,
    pub bytes: u64,
}

pub struct Limits {
    rate: Meter,
    traffic: Meter,
    /// Reports of windows that ended, waiting for `flush`.
    ended: Vec<HeldBack>,
}

/// One limit's window.
struct Meter {
    limit: Limit,
    max: u64,
    interval: Duration,
    opened: Option<Duration>,
    used: u64,
    held: HeldBack,
}

impl Meter {
    fn new(limit: Limit, max: u64, interval_ms: u64) -> Self {
        let interval = Duration::from_millis(interval_ms);
        Meter {
            limit,
            max,
            interval,
            opened: None,
            used: 0,
            held: HeldBack {
                limit,
                max,
                interval,
                events: 0,
                occurrences: 0,
                bytes: 0,
            },
        }
    }

    /// Ends the window if it ended by `now`, keeping its report if it held anything back.
    fn roll(&mut self, now: Duration, ended: &mut Vec<HeldBack>) {
        if self
            .opened
            .is_some_and(|opened| now >= opened + self.interval)
        {
            if self.held.events > 0 {
                ended.push(self.held);
            }
            *self = Meter::new(self.limit, self.max, self.interval_ms());
        }
    }

    fn interval_ms(&self) -> u64 {
        u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX)
    }

    fn fits(&self, amount: u64) -> bool {
        self.used.saturating_add(amount) <= self.max
    }

    fn charge(&mut self, now: Duration, amount: u64) {
        self.opened.get_or_insert(now);
        self.used = self.used.saturating_add(amount);
    }

    fn hold(&mut self, now: Duration, occurrences: u64, bytes: u64) {
        self.opened.get_or_insert(now);
        self.held.events += 1;
        self.held.occurrences += occurrences;
        self.held.bytes += bytes;
    }
}

impl Limits {
    pub fn new(rate: RateLimit, traffic: TrafficLimit) -> Self {
        Limits {
            rate: Meter::new(Limit::Rate, rate.events.into(), rate.interval_ms),
            traffic: Meter::new(Limit::Traffic, traffic.bytes, traffic.interval_ms),
            ended: Vec::new(),
        }
    }

    /// Whether an event of `bytes` standing for `occurrences` may leave at `now`: counted
    /// against both limits if so, held back and counted against the first limit it exceeds
    /// (rate, then traffic) if not.
    pub fn admit(&mut self, now: Duration, bytes: u64, occurrences: u64) -> Result<(), Limit> {
        self.roll(now);
        let refused = if !self.rate.fits(1) {
            &mut self.rate
        } else if !self.traffic.fits(bytes) {
            &mut self.traffic
        } else {
            self.charge(now, bytes);
            return Ok(());
        };
        refused.hold(now, occurrences, bytes);
        Err(refused.limit)
    }

    /// Counts an event that leaves whatever the limits say (a health event) against both.
    pub fn charge(&mut self, now: Duration, bytes: u64) {
        self.roll(now);
        self.rate.charge(now, 1);
        self.traffic.charge(now, bytes);
    }

    /// The reports of the windows that ended by `now` having held something back.
    pub fn flush(&mut self, now: Duration) -> Vec<HeldBack> {
        self.roll(now);
        std::mem::take(&mut self.ended)
    }

    fn roll(&mut self, now: Duration) {
        self.rate.roll(now, &mut self.ended);
        self.traffic.roll(now, &mut self.ended);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(events: u32, bytes: u64) -> Limits {
        Limits::new(
            RateLimit {
                events,
                interval_ms: 100,
            },
            TrafficLimit {
                bytes,
                interval_ms: 100,
            },
        )
    }

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// (case, events per 100 ms, bytes per 100 ms, offers as (ms, bytes), what each gets).
    type Case = (
        &'static str,
        u32,
        u64,
        &'static [(u64, u64)],
        &'static [Result<(), Limit>],
    );

    #[rustfmt::skip] // one case per line reads as a table
    const CASES: &[Case] = &[
        ("just below the rate", 3, 1000, &[(0, 10), (1, 10)], &[Ok(()), Ok(())]),
        ("at the rate", 3, 1000, &[(0, 10), (1, 10), (2, 10)], &[Ok(()), Ok(()), Ok(())]),
        ("above the rate", 3, 1000, &[(0, 10), (1, 10), (2, 10), (3, 10)], &[Ok(()), Ok(()), Ok(()), Err(Limit::Rate)]),
        ("just below the traffic", 10, 100, &[(0, 60), (1, 39)], &[Ok(()), Ok(())]),
        ("at the traffic", 10, 100, &[(0, 60), (1, 40)], &[Ok(()), Ok(())]),
        ("above the traffic", 10, 100, &[(0, 60), (1, 41), (2, 40)], &[Ok(()), Err(Limit::Traffic), Ok(())]),
        ("one event larger than the traffic", 10, 100, &[(0, 101)], &[Err(Limit::Traffic)]),
        ("rate is checked first", 1, 10, &[(0, 10), (1, 50)], &[Ok(()), Err(Limit::Rate)]),
        ("window edge: the last instant inside", 1, 1000, &[(0, 10), (99, 10)], &[Ok(()), Err(Limit::Rate)]),
        ("window edge: the first instant after", 1, 1000, &[(0, 10), (100, 10)], &[Ok(()), Ok(())]),
        ("a window opens with its first event, not on a grid", 1, 1000, &[(50, 10), (140, 10), (150, 10)], &[Ok(()), Err(Limit::Rate), Ok(())]),
    ];

    #[test]
    fn limits_just_below_at_and_above() {
        for &(case, events, bytes, offers, expected) in CASES {
            let mut l = limits(events, bytes);
            let got: Vec<_> = offers
                .iter()
                .map(|&(ms, size)| l.admit(at(ms), size, 1))
                .collect();
            assert_eq!(got, expected, "{case}");
        }
    }

    #[test]
    fn one_report_per_limit_and_interval_when_it_ends() {
        let mut l = limits(2, 1000);
        for ms in 0..10 {
            let _ = l.admit(at(ms), 10, 3);
        }
        assert_eq!(l.flush(at(99)), [], "reported before the window ended");
        assert_eq!(
            l.flush(at(100)),
            [HeldBack {
                limit: Limit::Rate,
                max: 2,
                interval: at(100),
                events: 8,
                occurrences: 24,
                bytes: 80,
            }]
        );
        assert_eq!(l.flush(at(500)), [], "reported twice");
        // A window in which nothing was held back is not reported.
        l.admit(at(600), 10, 1).unwrap();
        assert_eq!(l.flush(at(700)), []);
    }

    #[test]
    fn a_report_survives_a_window_ended_by_an_event() {
        let mut l = limits(1, 1000);
        l.admit(at(0), 10, 1).unwrap();
        assert_eq!(l.admit(at(1), 10, 1), Err(Limit::Rate));
        // The next event comes after the window's end but before any flush.
        l.admit(at(150), 10, 1).unwrap();
        let reports = l.flush(at(160));
        assert_eq!(reports.len(), 1);
        assert_eq!((reports[0].events, reports[0].occurrences), (1, 1));
    }

    #[test]
    fn charged_events_leave_and_use_the_budget() {
        let mut l = limits(2, 1000);
        l.charge(at(0), 10);
        l.charge(at(1), 10);
        l.charge(at(2), 10);
        assert_eq!(l.admit(at(3), 10, 1), Err(Limit::Rate));
        assert_eq!(l.admit(at(100), 10, 1), Ok(()));
    }
}
