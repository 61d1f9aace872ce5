//! Ingest's counters as the metrics endpoint serves them (JSON), and the latency record they
//! include: per sensor, from an event's timestamp to its handoff to the correlator.

use std::collections::BTreeMap;

use serde::Serialize;

use super::fair::LaneStats;
use super::holes::Holes;
use super::sequence::Track;

/// Latencies kept per sensor: the percentiles are over this many most recent events.
pub const LATENCY_SAMPLES: usize = 4096;

/// What ingest decided about one sensor's events, counted in the actor.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Decisions {
    pub accepted: u64,
    /// Refused by the FlatBuffers verifier (within the topology's bounds).
    pub rejected: u64,
    /// A verified SecurityEvent claiming another sender than its key.
    pub invalid: u64,
    /// A sequence number already accepted in the same epoch.
    pub duplicates: u64,
    /// An event of an earlier epoch (an earlier run of the agent).
    pub replays: u64,
    pub stale: u64,
    pub future: u64,
    /// Gaps reported, and the sequence numbers they said were lost.
    pub gaps: u64,
    pub lost: u64,
    /// New epochs of a sensor already known.
    pub restarts: u64,
}

/// The most recent latencies of one sensor, in a fixed-size ring.
#[derive(Debug, Default)]
pub struct Latencies {
    ring: Vec<u64>,
    next: usize,
}

impl Latencies {
    pub fn record(&mut self, ns: u64) {
        if self.ring.len() < LATENCY_SAMPLES {
            self.ring.push(ns);
        } else {
            self.ring[self.next] = ns;
        }
        self.next = (self.next + 1) % LATENCY_SAMPLES;
    }

    pub fn summary(&self) -> Option<LatencySummary> {
        let mut sorted = self.ring.clone();
        sorted.sort_unstable();
        let ms = |p: f64| percentile(&sorted, p).map(|ns| ns as f64 / 1e6);
        Some(LatencySummary {
            n: sorted.len(),
            p50: ms(50.0)?,
            p90: ms(90.0)?,
            p99: ms(99.0)?,
            max: ms(100.0)?,
        })
    }
}

/// Nearest-rank percentile of ascending `sorted`: the smallest sample with at least `p` percent
/// of all samples at or below it. Always one of the samples, never an interpolation.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    // Multiply before dividing: `p / 100.0` is inexact and could push the rank up by one.
    let rank = (p * n as f64 / 100.0).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    pub n: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// One sensor's line of the metrics.
#[derive(Debug, Serialize)]
pub struct SensorMetrics {
    /// Events that arrived on the sensor's key, before any check.
    pub received: u64,
    #[serde(flatten)]
    pub decisions: Decisions,
    pub dropped_rate_limited: u64,
    pub dropped_queue_full: u64,
    pub queue_depth: usize,
    pub queue_peak_depth: usize,
    /// Event timestamp to handoff to the correlator, in ms, over the most recent events.
    pub latency_ms: Option<LatencySummary>,
    /// Events accepted since the gateway's store was made, across gateway restarts, each once.
    pub recorded: u64,
    /// The epoch and last sequence number accepted (the ledger's record), if any.
    pub boot_ns: Option<u64>,
    pub last_seq: Option<u64>,
    /// Sequence numbers below `last_seq` still awaited (in open holes).
    pub missing: u64,
    /// What the sensor's receipts cover: every number up to it is settled.
    pub settled_seq: Option<u64>,
}

impl SensorMetrics {
    pub fn new(
        lane: LaneStats,
        decisions: Decisions,
        latencies: &Latencies,
        recorded: u64,
    ) -> Self {
        Self {
            received: lane.arrived,
            decisions,
            dropped_rate_limited: lane.rate_limited,
            dropped_queue_full: lane.overflow,
            queue_depth: lane.depth,
            queue_peak_depth: lane.peak_depth,
            latency_ms: latencies.summary(),
            recorded,
            boot_ns: None,
            last_seq: None,
            missing: 0,
            settled_seq: None,
        }
    }

    /// With the sensor's ledger record: its `track` and open `holes`.
    pub fn with_sequence(self, track: Option<Track>, holes: &Holes) -> Self {
        Self {
            boot_ns: track.map(|t| t.boot_ns),
            last_seq: track.map(|t| t.last_seq),
            missing: holes.missing(),
            settled_seq: track.map(|t| holes.settled(t.last_seq)),
            ..self
        }
    }
}

/// The whole answer of the metrics endpoint.
#[derive(Debug, Serialize)]
pub struct Metrics {
    /// Events on keys of no ECU or sensor of the topology, dropped at arrival.
    pub unknown_source: u64,
    /// Vehicle signals the FlatBuffers verifier refused, dropped at arrival.
    pub rejected_signals: u64,
    /// Block acks the FlatBuffers verifier refused at the responder.
    pub rejected_acks: u64,
    pub queue_capacity_per_sensor: usize,
    /// Events handed to the correlator and not yet taken by it, and the bound on them.
    pub correlator_backlog: usize,
    pub correlator_backlog_capacity: usize,
    /// By "ecu/sensor".
    pub sensors: BTreeMap<String, SensorMetrics>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let ten: Vec<u64> = (1..=10).collect();
        let cases = [(50.0, 5), (90.0, 9), (99.0, 10), (100.0, 10), (0.0, 1)];
        for (p, want) in cases {
            assert_eq!(percentile(&ten, p), Some(want), "p{p}");
        }
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn the_ring_keeps_the_most_recent_samples() {
        let mut latencies = Latencies::default();
        assert_eq!(latencies.summary(), None);
        // Old slow samples, then a full ring of fast ones: only the fast ones remain.
        for _ in 0..100 {
            latencies.record(9_000_000);
        }
        for i in 0..LATENCY_SAMPLES as u64 {
            latencies.record(1_000_000 + i);
        }
        let summary = latencies.summary().unwrap();
        assert_eq!(summary.n, LATENCY_SAMPLES);
        assert!(summary.max < 1.01, "{summary:?}");
        assert!((summary.p50 - 1.002).abs() < 0.001, "{summary:?}");
    }
}
