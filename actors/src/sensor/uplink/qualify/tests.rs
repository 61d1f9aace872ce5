//! The filter chain on synthetic timelines: each filter just below, at and above its parameter,
//! the window edges, the filters together, and the conservation of occurrences.

use std::time::Duration;

use vsiem_schemas::catalog;
use vsiem_schemas::encode::{ContextDraft, EventDraft};
use vsiem_schemas::wire::Severity;
use vsiem_topology::{
    AgentQualification, Filters, RateLimit, Threshold, TrafficLimit, TypeFilters,
};

use super::{Chain, Counters, Qualified};

const KIND: &catalog::EventType = &catalog::SOMEIP_CLIENT_BLOCKED;

/// One step of a timeline, at a millisecond: an occurrence (tagged by its timestamp, so that the
/// context an output carries can be told) or a flush tick.
#[derive(Clone, Copy)]
enum Step {
    Occur(u64),
    Flush(u64),
}
use Step::{Flush, Occur};

/// An output: (ms it left the chain, its count, the timestamp of the occurrence whose context it
/// carries).
type Out = (u64, u32, u64);

/// A chain with `default` for every type but those of `types` (the limits are not its part).
fn chain_of(default: Filters, types: Vec<TypeFilters>) -> Chain {
    Chain::new(AgentQualification {
        rate_limit: RateLimit {
            events: 1,
            interval_ms: 1,
        },
        traffic_limit: TrafficLimit {
            bytes: 1,
            interval_ms: 1,
        },
        default,
        types,
    })
}

/// A chain with `filters` for [`KIND`].
fn chain(filters: Filters) -> Chain {
    let types = vec![TypeFilters {
        event: KIND.name.to_owned(),
        event_id: KIND.id,
        filters,
    }];
    chain_of(Filters::default(), types)
}

fn draft(kind: &catalog::EventType, origin: &str, tag: u64) -> EventDraft {
    EventDraft {
        event_id: kind.id,
        severity: kind.severity,
        count: 1,
        timestamp_ns: tag,
        origin: origin.to_owned(),
        context: ContextDraft::None,
        evidence: Vec::new(),
    }
}

fn run(chain: &mut Chain, timeline: &[Step]) -> Vec<Out> {
    let mut outs = Vec::new();
    for &step in timeline {
        let mut out = Vec::new();
        let now = match step {
            Occur(ms) => {
                chain.offer(at(ms), "someip", draft(KIND, "ivi", ms), &mut out);
                ms
            }
            Flush(ms) => {
                chain.flush(at(ms), &mut out);
                ms
            }
        };
        outs.extend(
            out.iter()
                .map(|q| (now, q.draft.count, q.draft.timestamp_ns)),
        );
    }
    outs
}

fn at(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Every occurrence offered left the chain, waits in a filter, or was discarded.
fn assert_conserved(c: Counters, outs: &[Out]) {
    let carried: u64 = outs.iter().map(|&(_, count, _)| u64::from(count)).sum();
    assert_eq!(c.forwarded, carried, "{c:?}");
    assert_eq!(
        c.offered,
        c.forwarded + c.every_nth_waiting + c.aggregating + c.threshold_waiting + c.below_threshold,
        "{c:?}"
    );
}

fn nth(n: u32) -> Filters {
    Filters {
        every_nth: Some(n),
        ..Filters::default()
    }
}

fn aggregate(ms: u64) -> Filters {
    Filters {
        aggregate_ms: Some(ms),
        ..Filters::default()
    }
}

fn threshold(count: u32, window_ms: u64) -> Filters {
    Filters {
        threshold: Some(Threshold { count, window_ms }),
        ..Filters::default()
    }
}

#[rustfmt::skip] // one case per line reads as a table
fn cases() -> Vec<(&'static str, Filters, Vec<Step>, Vec<Out>)> {
    vec![
        ("no filter: each at once", Filters::default(), vec![Occur(0), Occur(1)], vec![(0, 1, 0), (1, 1, 1)]),
        ("every 3rd: just below", nth(3), vec![Occur(0), Occur(1), Flush(1000)], vec![]),
        ("every 3rd: at", nth(3), vec![Occur(0), Occur(1), Occur(2)], vec![(2, 3, 2)]),
        ("every 3rd: above", nth(3), vec![Occur(0), Occur(1), Occur(2), Occur(3)], vec![(2, 3, 2)]),
        ("every 3rd: twice", nth(3), (0..6).map(Occur).collect(), vec![(2, 3, 2), (5, 3, 5)]),
        ("every 1st forwards each", nth(1), vec![Occur(0), Occur(1)], vec![(0, 1, 0), (1, 1, 1)]),
        ("aggregate: nothing before the window closes", aggregate(100), vec![Occur(0), Occur(50), Flush(99)], vec![]),
        ("aggregate: the last instant inside the window", aggregate(100), vec![Occur(0), Occur(50), Occur(99), Flush(100)], vec![(100, 3, 0)]),
        ("aggregate: the first instant after opens the next", aggregate(100), vec![Occur(0), Occur(100), Flush(199), Flush(200)], vec![(100, 1, 0), (200, 1, 100)]),
        ("aggregate: a late flush sends it then", aggregate(100), vec![Occur(0), Flush(350)], vec![(350, 1, 0)]),
        ("aggregate: a single occurrence is still sent", aggregate(100), vec![Occur(7), Flush(107)], vec![(107, 1, 7)]),
        ("threshold 3: just below", threshold(3, 100), vec![Occur(0), Occur(50), Flush(100)], vec![]),
        ("threshold 3: at", threshold(3, 100), vec![Occur(0), Occur(10), Occur(20)], vec![(20, 3, 20)]),
        ("threshold 3: above, later ones with their own count", threshold(3, 100), vec![Occur(0), Occur(10), Occur(20), Occur(30)], vec![(20, 3, 20), (30, 1, 30)]),
        ("threshold 3: the last instant inside the window", threshold(3, 100), vec![Occur(0), Occur(50), Occur(99)], vec![(99, 3, 99)]),
        ("threshold 3: the first instant after starts over", threshold(3, 100), vec![Occur(0), Occur(50), Occur(100), Occur(120)], vec![]),
        ("threshold 3: reached, then a new window", threshold(3, 100), vec![Occur(0), Occur(1), Occur(2), Occur(100), Flush(200)], vec![(2, 3, 2)]),
        // Every 2nd, aggregated over 100 ms, once at least 4 occurred within a second: the
        // aggregate of eight occurrences carries the context of the first one forwarded (at
        // 1 ms, which opened the window that closes at 101 ms).
        ("every 2nd, aggregated, thresholded", Filters { every_nth: Some(2), aggregate_ms: Some(100), threshold: Some(Threshold { count: 4, window_ms: 1000 }) }, (0..8).map(Occur).chain([Flush(100), Flush(101)]).collect(), vec![(101, 8, 1)]),
        // The aggregate reaches the threshold when its window closes (100, 200, 300): the
        // threshold window opened at 100 still holds at 300.
        ("aggregates below a threshold add up", Filters { aggregate_ms: Some(100), threshold: Some(Threshold { count: 3, window_ms: 250 }), ..Filters::default() }, vec![Occur(0), Flush(100), Occur(100), Flush(200), Occur(200), Flush(300)], vec![(300, 3, 200)]),
        ("aggregates below a threshold, window ended", Filters { aggregate_ms: Some(100), threshold: Some(Threshold { count: 3, window_ms: 150 }), ..Filters::default() }, vec![Occur(0), Flush(100), Occur(100), Flush(200), Occur(200), Flush(300), Flush(1000)], vec![]),
    ]
}

#[test]
fn each_filter_below_at_and_above_its_parameter_and_at_its_window_edges() {
    for (case, filters, timeline, expected) in cases() {
        let mut chain = chain(filters);
        let outs = run(&mut chain, &timeline);
        assert_eq!(outs, expected, "{case}");
        assert_conserved(chain.counters(), &outs);
    }
}

#[test]
fn what_is_held_back_is_counted_by_filter() {
    let mut c = chain(nth(3));
    run(&mut c, &[Occur(0), Occur(1)]);
    assert_eq!(
        (c.counters().offered, c.counters().every_nth_waiting),
        (2, 2)
    );

    let mut c = chain(aggregate(100));
    run(&mut c, &[Occur(0), Occur(1), Occur(2)]);
    assert_eq!(c.counters().aggregating, 3);
    run(&mut c, &[Flush(100)]);
    assert_eq!((c.counters().aggregating, c.counters().forwarded), (0, 3));

    let mut c = chain(threshold(3, 100));
    run(&mut c, &[Occur(0), Occur(1)]);
    assert_eq!(c.counters().threshold_waiting, 2);
    run(&mut c, &[Flush(100)]);
    assert_eq!(
        (c.counters().threshold_waiting, c.counters().below_threshold),
        (0, 2)
    );
}

#[test]
fn health_events_pass_any_filter() {
    let mut c = chain_of(threshold(100, 1000), Vec::new());
    let mut out = Vec::new();
    let overflow = draft(&catalog::SENSOR_QUEUE_OVERFLOW, "body-dc", 1);
    c.offer(at(0), "agent", overflow.clone(), &mut out);
    c.offer(at(0), "someip", draft(KIND, "ivi", 2), &mut out);
    assert_eq!(
        out,
        [Qualified {
            sensor: "agent",
            draft: overflow
        }],
        "the default applies to every other type"
    );
}

#[test]
fn origins_and_sensors_aggregate_apart() {
    let mut c = chain(aggregate(100));
    let mut out = Vec::new();
    for (sensor, origin, tag) in [
        ("someip", "ivi", 1),
        ("someip", "tcu", 2),
        ("someip", "ivi", 3),
        ("net", "ivi", 4),
    ] {
        c.offer(at(0), sensor, draft(KIND, origin, tag), &mut out);
    }
    c.flush(at(100), &mut out);
    let mut got: Vec<_> = out
        .iter()
        .map(|q| {
            (
                q.sensor,
                q.draft.origin.as_str(),
                q.draft.count,
                q.draft.timestamp_ns,
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("net", "ivi", 1, 4),
            ("someip", "ivi", 2, 1),
            ("someip", "tcu", 1, 2)
        ]
    );
}

#[test]
fn an_aggregate_keeps_the_first_context_and_the_highest_severity() {
    let mut c = chain(aggregate(100));
    let mut out = Vec::new();
    let mut first = draft(KIND, "ivi", 1);
    first.evidence = b"first".to_vec();
    first.severity = Severity::Medium;
    let mut second = draft(KIND, "ivi", 2);
    second.evidence = b"second".to_vec();
    second.severity = Severity::Critical;
    c.offer(at(0), "someip", first.clone(), &mut out);
    c.offer(at(1), "someip", second, &mut out);
    c.flush(at(100), &mut out);
    let mut expected = first;
    expected.count = 2;
    expected.severity = Severity::Critical;
    assert_eq!(
        out,
        [Qualified {
            sensor: "someip",
            draft: expected
        }]
    );
}

#[test]
fn idle_state_is_forgotten() {
    let mut c = chain(aggregate(100));
    let mut out = Vec::new();
    for origin in ["ivi", "tcu", "body-dc"] {
        c.offer(at(0), "someip", draft(KIND, origin, 0), &mut out);
    }
    assert_eq!(c.states.len(), 3);
    c.flush(at(100), &mut out);
    assert_eq!((out.len(), c.states.len()), (3, 0));
}

/// A long pseudo-random timeline through all three filters: occurrences are conserved at every
/// step, and once every window closed nothing waits but the every-nth remainder.
#[test]
fn occurrences_are_conserved_on_a_long_timeline() {
    let mut c = chain(Filters {
        every_nth: Some(3),
        aggregate_ms: Some(40),
        threshold: Some(Threshold {
            count: 9,
            window_ms: 90,
        }),
    });
    let mut outs = Vec::new();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut ms = 0;
    for _ in 0..10_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ms += state % 29;
        let step = if state % 5 == 0 { Flush(ms) } else { Occur(ms) };
        outs.extend(run(&mut c, &[step]));
        assert_conserved(c.counters(), &outs);
    }
    outs.extend(run(&mut c, &[Flush(ms + 1000)]));
    assert_conserved(c.counters(), &outs);
    let counters = c.counters();
    assert_eq!(
        (counters.aggregating, counters.threshold_waiting),
        (0, 0),
        "{counters:?}"
    );
    assert!(counters.every_nth_waiting < 3, "{counters:?}");
    assert!(
        counters.forwarded > 0 && counters.below_threshold > 0,
        "{counters:?}"
    );
}
