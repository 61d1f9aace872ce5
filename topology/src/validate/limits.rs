//! Stage 2 of `[limits]`: each bound within the range where it still protects something.

use super::Problems;
use crate::raw::RawLimits;

/// Each bound within the range where it still protects something and still lets the vehicle's
/// own traffic through: a rate of 0 would refuse every event, a queue above 65,536 per sensor
/// would let one sensor hold the gateway's memory, a maximum age of 0 refuses all.
pub(super) fn check(problems: &mut Problems, limits: &RawLimits) {
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
        // Room for one heartbeat's health reports at least; at most what a small ECU's flash
        // holds of events of the largest size (16 GiB at 16 KiB each).
        (
            "limits.uplink_queue_events",
            limits.uplink_queue_events,
            16..=1_048_576,
        ),
        (
            "limits.escalation_queue_incidents",
            limits.escalation_queue_incidents,
            1..=1_048_576,
        ),
        // An Ethernet header with two tags and a minimal IPv4 and UDP header, up to the largest
        // IPv4 packet with them.
        (
            "limits.frame_max_bytes",
            limits.frame_max_bytes,
            64..=65_557,
        ),
        // The SOME/IP header (16) plus an SD message's minimum, up to 16 MiB.
        (
            "limits.someip_max_message_bytes",
            limits.someip_max_message_bytes,
            28..=16 << 20,
        ),
        ("limits.tcp_max_flows", limits.tcp_max_flows, 1..=1_000_000),
        // At least a whole DoIP header, at most 16 MiB per direction.
        (
            "limits.tcp_pending_bytes_per_flow",
            limits.tcp_pending_bytes_per_flow,
            8..=16 << 20,
        ),
        (
            "limits.tcp_idle_timeout_ms",
            limits.tcp_idle_timeout_ms,
            1000..=86_400_000,
        ),
        // What vsiem's own largest message needs (an incident with its evidence), up to 16 MiB;
        // a depth and table count below what its schema nests would refuse every event.
        (
            "limits.flatbuffers_max_bytes",
            limits.flatbuffers_max_bytes,
            4096..=16 << 20,
        ),
        (
            "limits.flatbuffers_max_depth",
            limits.flatbuffers_max_depth,
            8..=64,
        ),
        (
            "limits.flatbuffers_max_tables",
            limits.flatbuffers_max_tables,
            64..=1_000_000,
        ),
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
