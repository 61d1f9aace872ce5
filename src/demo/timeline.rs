//! The demo's timeline: bus records and attack steps, each with its delay from the first
//! detection, as text for people or JSON lines for programs.

use serde::Serialize;
use vsiem_actors::monitor::Record;
use vsiem_actors::sim::attacker::Step;

/// One line of the timeline.
#[derive(Debug, Clone)]
pub enum Entry {
    Bus(Record),
    Attack(Step),
}

impl Entry {
    pub fn ts_ns(&self) -> u64 {
        match self {
            Entry::Bus(r) => record_ts(r),
            Entry::Attack(s) => s.timestamp_ns,
        }
    }
}

pub fn record_ts(r: &Record) -> u64 {
    match r {
        Record::Event { ts_ns, .. }
        | Record::Incident { ts_ns, .. }
        | Record::Order { ts_ns, .. }
        | Record::Ack { ts_ns, .. }
        | Record::Escalation { ts_ns, .. }
        | Record::Alive { ts_ns, .. }
        | Record::Invalid { ts_ns, .. } => *ts_ns,
    }
}

/// Milliseconds from `t0` to `ts` (negative before it).
pub fn delay_ms(ts: u64, t0: u64) -> f64 {
    (ts as f64 - t0 as f64) / 1e6
}

pub fn entry_line(entry: &Entry, t0: Option<u64>, json: bool) -> String {
    match entry {
        Entry::Bus(record) => line(record, t0, json),
        Entry::Attack(step) => with_delay(step, step.timestamp_ns, t0, json, || {
            format!(
                "attack     {:<12} {:<28} {}",
                step.from, step.step, step.outcome
            )
        }),
    }
}

/// One record as a timeline line.
pub fn line(record: &Record, t0: Option<u64>, json: bool) -> String {
    with_delay(record, record_ts(record), t0, json, || match record {
        Record::Event {
            name,
            ecu,
            sensor,
            seq,
            severity,
            origin,
            detail,
            count,
            ..
        } => {
            let source = format!("{ecu}/{sensor}#{seq}");
            // Qualification folds repeats into one event: say how many it stands for.
            let times = if *count > 1 {
                format!(" (x{count})")
            } else {
                String::new()
            };
            format!(
                "event      {source:<20} {name:<28} {severity:<8} from {origin:<8} {detail}{times}"
            )
        }
        Record::Incident {
            id,
            severity,
            title,
            state,
            events,
            actions,
            opened_ns,
            ts_ns,
            ..
        } => {
            let what = if opened_ns == ts_ns {
                "INCIDENT  "
            } else {
                "update    "
            };
            let mut text = format!("{what} #{id} {severity} {state}: {title} ({events} events)");
            for action in actions {
                text.push_str(&format!("\n             action: {action}"));
            }
            text
        }
        Record::Order {
            id, target, action, ..
        } => format!("order      #{id} -> {target}: {action}"),
        Record::Ack {
            order,
            ecu,
            status,
            detail,
            ..
        } => format!("ack        #{order} from {ecu}: {status} {detail}"),
        Record::Escalation { incident, .. } => {
            format!("escalation V-SOC acknowledged incident #{incident}")
        }
        Record::Alive { ecu, up, .. } => {
            format!("sensor     {ecu} {}", if *up { "up" } else { "SILENT" })
        }
        Record::Invalid { key, error, .. } => format!("invalid    {key}: {error}"),
    })
}

fn with_delay<T: Serialize>(
    item: &T,
    ts: u64,
    t0: Option<u64>,
    json: bool,
    text: impl FnOnce() -> String,
) -> String {
    let delay = t0.map(|t0| delay_ms(ts, t0));
    if json {
        let mut value = serde_json::to_value(item).expect("timeline entries serialize");
        if let (Some(delay), Some(map)) = (delay, value.as_object_mut()) {
            map.insert(
                "delay_ms".into(),
                serde_json::json!((delay * 1000.0).round() / 1000.0),
            );
        }
        value.to_string()
    } else {
        match delay {
            Some(d) => format!("{d:>+10.3} ms  {}", text()),
            None => text(),
        }
    }
}
