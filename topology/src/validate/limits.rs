//! Stage 2 of `[limits]`: each bound within the range where it still protects something.

use super::Problems;
use crate::raw::RawLimits;

/// The gateway ingest's bounds: a rate of 0 would refuse every event, a queue above 65,536 per
/// sensor would let one sensor hold the gateway's memory, a maximum age of 0 refuses all.
pub(super) fn check_ingest(problems: &mut Problems, limits: &RawLimits) {
    let ranges = [
        (
            "limits.events_per_sensor_per_second",
            limits.events_per_sensor_per_second,
            1..=1_000_000_000,
        ),
        (
            "limits.ingest_queue_per_sensor",
            limits.ingest_queue_per_sensor,
            1..=65_536,
        ),
        (
            "limits.event_max_age_ms",
            limits.event_max_age_ms,
            1..=86_400_000,
        ),
        ("limits.clock_skew_ms", limits.clock_skew_ms, 0..=86_400_000),
    ];
    for (path, value, range) in ranges {
        if !range.contains(&value) {
            problems.add(
                path,
                format!("{value} is outside {}..={}", range.start(), range.end()),
            );
        }
    }
}
