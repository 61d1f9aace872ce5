//! The per-sensor rate limit of ingest: a generic cell rate algorithm (GCRA, the token bucket
//! written with one timestamp), pure over a monotonic clock in nanoseconds so that it is tested
//! without waiting.

/// At most `rate` events per second on average, with bursts of up to `burst` events at once.
#[derive(Debug, Clone)]
pub struct RateLimit {
    /// Time one event "costs".
    interval_ns: u64,
    /// How far ahead of now the theoretical arrival time may run: `burst - 1` intervals.
    tolerance_ns: u64,
    /// When the next event would be due if events came exactly at the rate.
    due_ns: u64,
}

impl RateLimit {
    /// `rate` and `burst` are clamped to at least 1 (validation refuses 0 before this).
    pub fn per_second(rate: u64, burst: u64) -> Self {
        let interval_ns = 1_000_000_000 / rate.clamp(1, 1_000_000_000);
        Self {
            interval_ns,
            tolerance_ns: interval_ns.saturating_mul(burst.max(1) - 1),
            due_ns: 0,
        }
    }

    /// Whether an event arriving at `now_ns` is within the limit; if so, it is counted.
    pub fn admit(&mut self, now_ns: u64) -> bool {
        let due = self.due_ns.max(now_ns);
        if due - now_ns > self.tolerance_ns {
            return false;
        }
        self.due_ns = due + self.interval_ns;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn admitted(limit: &mut RateLimit, at: impl IntoIterator<Item = u64>) -> usize {
        at.into_iter().filter(|&t| limit.admit(t)).count()
    }

    #[test]
    fn a_burst_passes_up_to_its_size_then_the_rate_refills_it() {
        let mut limit = RateLimit::per_second(1000, 10);
        let start = 5_000 * MS;
        assert_eq!(admitted(&mut limit, std::iter::repeat_n(start, 50)), 10);
        // One interval (1 ms) later exactly one more is due.
        assert!(limit.admit(start + MS));
        assert!(!limit.admit(start + MS));
        // After 10 ms of silence the whole burst is back, and no more.
        assert_eq!(
            admitted(&mut limit, std::iter::repeat_n(start + 20 * MS, 50)),
            10
        );
    }

    #[test]
    fn a_steady_stream_under_the_rate_is_never_refused() {
        let mut limit = RateLimit::per_second(100, 1);
        // 50 events/s, one every 20 ms, for a minute.
        let times = (0..3000).map(|i| 1_000 * MS + i * 20 * MS);
        assert_eq!(admitted(&mut limit, times), 3000);
    }

    #[test]
    fn a_flood_gets_the_rate_and_no_more() {
        let mut limit = RateLimit::per_second(1000, 1000);
        // 100,000 events/s for 2 s: one every 10 us.
        let times = (0..200_000).map(|i| 1_000 * MS + i * 10_000);
        let n = admitted(&mut limit, times);
        // The burst, then 1000/s for the 2 s.
        assert!((2990..=3001).contains(&n), "{n} admitted");
    }

    #[test]
    fn zero_is_clamped_rather_than_dividing_by_it() {
        let mut limit = RateLimit::per_second(0, 0);
        assert!(limit.admit(0));
        assert!(!limit.admit(1));
        assert!(limit.admit(1_000_000_000));
    }
}
