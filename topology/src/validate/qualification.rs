//! The `[qualification]` section: filter parameters, event-type names against the catalog, ECU
//! overrides.

use vsiem_schemas::catalog::{self, Category};

use super::{Names, Problems};
use crate::model::{
    EcuQualification, Filters, Qualification, RateLimit, Threshold, TrafficLimit, TypeFilters,
};
use crate::raw::{RawFilters, RawQualification, RawRateLimit, RawTrafficLimit, RawTypeFilters};

const SECTION: &str = "qualification";

pub(super) fn build_qualification(
    problems: &mut Problems,
    raw: &RawQualification,
    names: &Names,
) -> Qualification {
    let rate_limit = build_rate_limit(problems, &format!("{SECTION}.rate_limit"), raw.rate_limit);
    let traffic_limit = build_traffic_limit(
        problems,
        &format!("{SECTION}.traffic_limit"),
        raw.traffic_limit,
    );
    let default = build_filters(problems, &format!("{SECTION}.default"), &raw.default);
    let types = type_filters(problems, &format!("{SECTION}.types"), &raw.types);
    let ecus = raw
        .ecus
        .iter()
        .enumerate()
        .map(|(index, own)| {
            let path = format!("{SECTION}.ecus[{index}]");
            if !names.ecus.contains_key(own.ecu.as_str()) {
                problems.add(
                    format!("{path}.ecu"),
                    format!("\"{}\" is not an ECU", own.ecu),
                );
            }
            EcuQualification {
                ecu: own.ecu.clone(),
                rate_limit: own
                    .rate_limit
                    .map(|r| build_rate_limit(problems, &format!("{path}.rate_limit"), r)),
                traffic_limit: own
                    .traffic_limit
                    .map(|t| build_traffic_limit(problems, &format!("{path}.traffic_limit"), t)),
                default: own
                    .default
                    .as_ref()
                    .map(|d| build_filters(problems, &format!("{path}.default"), d)),
                types: type_filters(problems, &format!("{path}.types"), &own.types),
            }
        })
        .collect();
    problems.duplicates(
        &format!("{SECTION}.ecus"),
        raw.ecus.iter().map(|own| own.ecu.as_str()),
        |ecu| format!("ECU \"{ecu}\""),
    );
    Qualification {
        rate_limit,
        traffic_limit,
        default,
        types,
        ecus,
    }
}

fn build_rate_limit(problems: &mut Problems, path: &str, raw: RawRateLimit) -> RateLimit {
    positive(problems, format!("{path}.events"), raw.events.into());
    positive(problems, format!("{path}.interval_ms"), raw.interval_ms);
    RateLimit {
        events: raw.events,
        interval_ms: raw.interval_ms,
    }
}

fn build_traffic_limit(problems: &mut Problems, path: &str, raw: RawTrafficLimit) -> TrafficLimit {
    positive(problems, format!("{path}.bytes"), raw.bytes);
    positive(problems, format!("{path}.interval_ms"), raw.interval_ms);
    TrafficLimit {
        bytes: raw.bytes,
        interval_ms: raw.interval_ms,
    }
}

fn build_filters(problems: &mut Problems, path: &str, raw: &RawFilters) -> Filters {
    if let Some(n) = raw.every_nth {
        positive(problems, format!("{path}.every_nth"), n.into());
    }
    if let Some(window) = raw.aggregate_ms {
        positive(problems, format!("{path}.aggregate_ms"), window);
    }
    if let Some(threshold) = raw.threshold {
        positive(
            problems,
            format!("{path}.threshold.count"),
            threshold.count.into(),
        );
        positive(
            problems,
            format!("{path}.threshold.window_ms"),
            threshold.window_ms,
        );
    }
    Filters {
        every_nth: raw.every_nth,
        aggregate_ms: raw.aggregate_ms,
        threshold: raw.threshold.map(|t| Threshold {
            count: t.count,
            window_ms: t.window_ms,
        }),
    }
}

/// Entries naming no catalog type, or a health type, are reported and left out.
fn type_filters(problems: &mut Problems, path: &str, raw: &[RawTypeFilters]) -> Vec<TypeFilters> {
    let mut types = Vec::new();
    for (index, entry) in raw.iter().enumerate() {
        let path = format!("{path}[{index}]");
        let filters = build_filters(problems, &path, &entry.filters());
        match catalog::by_name(&entry.event) {
            None => problems.add(
                format!("{path}.event"),
                format!(
                    "\"{}\" is not an event type of the catalog (schemas/EVENTS.md)",
                    entry.event
                ),
            ),
            Some(kind) if kind.category == Category::Health => problems.add(
                format!("{path}.event"),
                format!(
                    "\"{}\" is a health event: the SIEM's reports about itself are never filtered",
                    entry.event
                ),
            ),
            Some(kind) => types.push(TypeFilters {
                event: entry.event.clone(),
                event_id: kind.id,
                filters,
            }),
        }
    }
    problems.duplicates(path, raw.iter().map(|e| e.event.as_str()), |event| {
        format!("\"{event}\"")
    });
    types
}

fn positive(problems: &mut Problems, path: String, value: u64) {
    if value == 0 {
        problems.add(path, "must be greater than 0");
    }
}
