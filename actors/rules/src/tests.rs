//! The rule language end to end: the shipped set validates, bad sets report every problem with
//! its place, and each correlation type raises, folds and forgets as specified.

use std::sync::Arc;

use flatbuffers::FlatBufferBuilder;
use vsiem_schemas::catalog;
use vsiem_schemas::encode::{
    self, ContextDraft, EventDraft, FileChangeDraft, SomeipCallDraft, Stamp, VehicleSnapshot,
};
use vsiem_schemas::wire;
use vsiem_topology::Topology;

use crate::engine::{Engine, Verdict};
use crate::{RuleSet, RulesError};

const S: u64 = 1_000_000_000;

/// One event as a sensor would publish it.
struct Ev {
    ecu: &'static str,
    origin: &'static str,
    kind: &'static catalog::EventType,
    seq: u64,
    t: u64,
    context: ContextDraft,
}

fn ev(
    ecu: &'static str,
    origin: &'static str,
    kind: &'static catalog::EventType,
    seq: u64,
    t: u64,
) -> Ev {
    Ev {
        ecu,
        origin,
        kind,
        seq,
        t,
        context: ContextDraft::None,
    }
}

fn call(service: u16) -> ContextDraft {
    ContextDraft::SomeipCall(SomeipCallDraft {
        service,
        method: 1,
        client: 3,
        session: 1,
        message_type: 0,
        return_code: 0,
        src: "10.10.1.3:40000".into(),
        dst: "10.10.2.2:30501".into(),
    })
}

fn encoded(e: &Ev) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::new();
    let stamp = Stamp {
        vin: "5VS1M00REF0000001",
        ecu: e.ecu,
        sensor: "s",
        seq: e.seq,
        timestamp_ns: e.t,
        boot_ns: 1,
    };
    let draft = EventDraft {
        event_id: e.kind.id,
        severity: e.kind.severity,
        count: 1,
        timestamp_ns: e.t,
        origin: e.origin.into(),
        context: e.context.clone(),
        evidence: Vec::new(),
    };
    encode::event(&mut fbb, &stamp, &draft).to_vec()
}

/// (detector, verdict kind, members) of one outcome, as a test expects it.
type Outcome<'a> = (&'a str, &'a str, usize);

/// Runs `events` through `engine`; returns (detector, verdict kind, members) per outcome.
fn run(
    engine: &mut Engine,
    events: &[Ev],
    vehicle: &VehicleSnapshot,
) -> Vec<(String, &'static str, usize)> {
    let mut out = Vec::new();
    for e in events {
        let bytes = encoded(e);
        let view = vsiem_schemas::read::event(&bytes).expect("a valid event");
        for o in engine.observe(&view, vehicle) {
            let (kind, n) = match &o.verdict {
                Verdict::Raise(members) => ("raise", members.len()),
                Verdict::Fold(_) => ("fold", 1),
            };
            out.push((o.detector.name.clone(), kind, n));
        }
    }
    out
}

/// The reference vehicle without response policies (they name rules of the shipped set).
fn vehicle() -> Topology {
    let mut topology = Topology::reference();
    topology.response.policies.clear();
    topology
}

fn set(yaml: &str) -> Arc<RuleSet> {
    Arc::new(RuleSet::parse([("test.yml", yaml)], &vehicle()).unwrap_or_else(|e| panic!("{e:?}")))
}

const BLOCKS: &str = "
title: intrusion
name: intrusion
level: high
detection:
  selection: {category: intrusion}
  condition: selection
---
title: lateral
name: lateral
level: high
detection:
  selection: {category: lateral-movement}
  condition: selection
";

fn with(correlation: &str) -> Arc<RuleSet> {
    set(&format!("{BLOCKS}---\n{correlation}"))
}

#[test]
fn the_shipped_rule_set_is_valid_on_the_reference_vehicle() {
    let rules = RuleSet::reference(&Topology::reference()).unwrap_or_else(|e| match e {
        RulesError::Invalid(problems) => panic!(
            "{}",
            problems
                .iter()
                .map(|p| format!("\n  {p}"))
                .collect::<String>()
        ),
        other => panic!("{other}"),
    });
    assert!(rules
        .correlations
        .iter()
        .any(|c| c.meta.name == "intrusion-then-lateral-movement"));
    // Every detection of the sensors is covered by a rule that raises incidents (audit records
    // of severity info are not detections).
    let mut engine = Engine::new(Arc::new(rules));
    let detections = catalog::ALL
        .iter()
        .filter(|t| t.severity != wire::Severity::Info);
    for (i, kind) in detections.enumerate() {
        let e = ev(
            "body-dc",
            "ivi",
            kind,
            i as u64 + 1,
            (i as u64 + 1) * 3600 * S,
        );
        let outcomes = run(&mut engine, &[e], &VehicleSnapshot::default());
        assert!(
            outcomes
                .iter()
                .any(|(_, verdict, _)| *verdict == "raise" || *verdict == "fold"),
            "{} raises no incident",
            kind.name
        );
    }
}

#[test]
fn the_shipped_files_are_all_embedded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../topology/rules");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("topology/rules")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = crate::REFERENCE_RULES
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    embedded.sort();
    assert_eq!(on_disk, embedded);
    for (name, text) in crate::REFERENCE_RULES {
        assert_eq!(
            &std::fs::read_to_string(dir.join(name)).expect("readable"),
            text,
            "{name}"
        );
    }
}

#[test]
fn every_problem_of_a_bad_set_is_reported_with_its_place() {
    let first = "
title: a
name: dup
level: severe
tags: [no-namespace]
detection:
  selection:
    type: host.nosuch
    ecu: ivii
    someip.service|gt: DoorLock
    vehicle.gear: flying
    nosuch: 1
    file.path|frobnicate: x
  condition: selection and not filter
";
    let second = "
title: b
name: dup
level: high
detection:
  selection: {type: net.flood}
  condition: selection
---
title: c
name: c
level: high
correlation:
  type: temporal
  rules: [dup, missing]
  group-by: [origin, nosuch]
  timespan: 1 minute
---
title: d
name: d
level: low
unknown_key: 1
";
    let err = RuleSet::parse(
        [("a.yml", first), ("b.yml", second)],
        &Topology::reference(),
    )
    .unwrap_err();
    // The reference topology's response policies name rules this set does not have.
    let RulesError::Invalid(problems) = err else {
        panic!("{err}")
    };
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let expected = [
        "b.yml#3: unknown field `unknown_key`",
        "b.yml#1: name: `dup` is also the name of a rule in a.yml",
        "a.yml: level: `severe` is not one of informational, low, medium, high, critical",
        "a.yml: tags[0]: a tag is",
        "a.yml: detection.selection.type: `host.nosuch` is not an event type of the catalog",
        "a.yml: detection.selection.ecu: `ivii` is not an ECU of the topology",
        "a.yml: detection.selection.someip.service|gt: `DoorLock` is not a number",
        "a.yml: detection.selection.vehicle.gear: `flying` is not one of park",
        "a.yml: detection.selection.nosuch: unknown field `nosuch`",
        "a.yml: detection.selection.file.path|frobnicate: unknown modifier `frobnicate`",
        "a.yml: detection.condition: `filter` is not a selection of this rule",
        "b.yml#2: correlation.rules[1]: `missing` is not a detection rule of the set",
        "b.yml#2: correlation.group-by[1]: unknown field `nosuch`",
        "b.yml#2: correlation.timespan: `1 minute` is not a duration",
        "topology: response.policies[0].rules[0]: `intrusion-then-lateral-movement` is not a rule of the set",
        "topology: response.policies[1].rules[0]: `diagnostic-attack` is not a rule of the set",
        "topology: response.policies[1].rules[1]: `attack-while-driving` is not a rule of the set",
    ];
    for want in expected {
        assert!(
            shown.iter().any(|s| s.starts_with(want)),
            "missing {want:?} in:\n{}",
            shown.join("\n")
        );
    }
    assert_eq!(shown.len(), expected.len(), "{}", shown.join("\n"));
}

#[test]
fn temporal_correlates_in_either_order_within_the_timespan_only() {
    let rule = "
title: t
name: t
level: critical
correlation: {type: temporal, rules: [intrusion, lateral], group-by: [origin], timespan: 60s}
";
    let parked = VehicleSnapshot::default();
    let intrusion = &catalog::HOST_FILE_TAMPERED;
    let lateral = &catalog::SOMEIP_UNAUTHORIZED_CLIENT;
    let cases: Vec<(&str, Vec<Ev>, Vec<Outcome>)> = vec![
        (
            "just inside",
            vec![
                ev("ivi", "ivi", intrusion, 1, 10 * S),
                ev("body-dc", "ivi", lateral, 1, 70 * S),
                ev("body-dc", "ivi", lateral, 2, 71 * S),
            ],
            vec![("t", "raise", 2), ("t", "fold", 1)],
        ),
        (
            "just outside",
            vec![
                ev("ivi", "ivi", intrusion, 1, 10 * S),
                ev("body-dc", "ivi", lateral, 1, 70 * S + 1),
            ],
            vec![],
        ),
        (
            "lateral detected first",
            vec![
                ev("body-dc", "ivi", lateral, 1, 10 * S),
                ev("ivi", "ivi", intrusion, 1, 10 * S + 50),
            ],
            vec![("t", "raise", 2)],
        ),
        (
            "other origin",
            vec![
                ev("ivi", "ivi", intrusion, 1, 10 * S),
                ev("body-dc", "tcu", lateral, 1, 11 * S),
            ],
            vec![],
        ),
        (
            "one side only",
            vec![
                ev("ivi", "ivi", intrusion, 1, 10 * S),
                ev("ivi", "ivi", intrusion, 2, 11 * S),
            ],
            vec![],
        ),
    ];
    for (name, events, want) in cases {
        let mut engine = Engine::new(with(rule));
        let got = run(&mut engine, &events, &parked);
        let got: Vec<Outcome> = got.iter().map(|(d, k, n)| (d.as_str(), *k, *n)).collect();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn temporal_ordered_needs_the_rules_in_order() {
    let rule = "
title: o
name: o
level: critical
correlation: {type: temporal_ordered, rules: [intrusion, lateral], group-by: [origin], timespan: 60s}
";
    let parked = VehicleSnapshot::default();
    let (i, l) = (
        &catalog::HOST_FILE_TAMPERED,
        &catalog::SOMEIP_UNAUTHORIZED_CLIENT,
    );
    let mut engine = Engine::new(with(rule));
    let wrong_order = [
        ev("body-dc", "ivi", l, 1, 10 * S),
        ev("ivi", "ivi", i, 1, 11 * S),
    ];
    assert_eq!(run(&mut engine, &wrong_order, &parked), vec![]);
    let then_right = [ev("body-dc", "ivi", l, 2, 12 * S)];
    assert_eq!(
        run(&mut engine, &then_right, &parked),
        vec![("o".to_owned(), "raise", 3)]
    );
}

#[test]
fn event_and_value_counts_fire_at_their_threshold() {
    let counted = "
title: c
name: c
level: high
correlation: {type: event_count, rules: [lateral], group-by: [origin], timespan: 10s, condition: {gte: 3}}
";
    let valued = "
title: v
name: v
level: high
correlation: {type: value_count, rules: [lateral], group-by: [origin], timespan: 10s, condition: {field: someip.service, gte: 3}}
";
    let parked = VehicleSnapshot::default();
    let l = &catalog::SOMEIP_UNAUTHORIZED_CLIENT;
    let at = |seq: u64, t: u64, service: u16| Ev {
        context: call(service),
        ..ev("body-dc", "ivi", l, seq, t)
    };
    let mut engine = Engine::new(with(counted));
    let two = [at(1, S, 1), at(2, 2 * S, 1)];
    assert_eq!(
        run(&mut engine, &two, &parked),
        vec![],
        "below the threshold"
    );
    let late = [at(3, 12 * S, 1)];
    assert_eq!(
        run(&mut engine, &late, &parked),
        vec![],
        "the first fell out of the window"
    );
    let third = [at(4, 12 * S, 1)];
    assert_eq!(
        run(&mut engine, &third, &parked),
        vec![("c".to_owned(), "raise", 3)]
    );

    let mut engine = Engine::new(with(valued));
    let same_service = [at(1, S, 1), at(2, 2 * S, 1), at(3, 3 * S, 1)];
    assert_eq!(
        run(&mut engine, &same_service, &parked),
        vec![],
        "one distinct value"
    );
    let more = [at(4, 4 * S, 2), at(5, 5 * S, 3)];
    assert_eq!(
        run(&mut engine, &more, &parked),
        vec![("v".to_owned(), "raise", 5)]
    );
}

#[test]
fn a_closed_group_accumulates_anew() {
    let rule = "
title: c
name: c
level: high
correlation: {type: event_count, rules: [lateral], group-by: [origin], timespan: 10s, condition: {gte: 2}}
";
    let parked = VehicleSnapshot::default();
    let l = &catalog::SOMEIP_UNAUTHORIZED_CLIENT;
    let mut engine = Engine::new(with(rule));
    let raised = run(
        &mut engine,
        &[
            ev("body-dc", "ivi", l, 1, S),
            ev("body-dc", "ivi", l, 2, 2 * S),
        ],
        &parked,
    );
    assert_eq!(raised, vec![("c".to_owned(), "raise", 2)]);
    engine.close("c", &vec!["ivi".to_owned()]);
    assert_eq!(
        run(&mut engine, &[ev("body-dc", "ivi", l, 3, 3 * S)], &parked),
        vec![]
    );
    assert_eq!(
        run(&mut engine, &[ev("body-dc", "ivi", l, 4, 4 * S)], &parked),
        vec![("c".to_owned(), "raise", 2)]
    );
}

#[test]
fn vehicle_state_at_the_event_time_decides() {
    let rules = set("
title: moving
name: moving
level: critical
detection:
  request: {type: someip.unauthorized_client}
  moving: {vehicle.speed_kmh|gt: 5}
  in_drive: {vehicle.gear: drive, vehicle.engine_on: true}
  condition: request and (moving or in_drive)
");
    let l = &catalog::SOMEIP_UNAUTHORIZED_CLIENT;
    let state = |speed_centi_kmh, gear, engine_on| VehicleSnapshot {
        speed_centi_kmh,
        gear,
        engine_on,
        ..VehicleSnapshot::default()
    };
    let cases = [
        (state(0, wire::Gear::Park, false), false),
        (state(500, wire::Gear::Drive, false), false),
        (state(501, wire::Gear::Drive, false), true),
        (state(0, wire::Gear::Drive, true), true),
        (state(0, wire::Gear::Reverse, true), false),
    ];
    for (i, (vehicle, raises)) in cases.into_iter().enumerate() {
        let mut engine = Engine::new(Arc::clone(&rules));
        let got = run(&mut engine, &[ev("body-dc", "ivi", l, 1, S)], &vehicle);
        assert_eq!(!got.is_empty(), raises, "case {i}: {vehicle:?}");
    }
}

#[test]
fn modifiers_and_wildcards_select_fields_in_place() {
    let rules = set(r#"
title: m
name: m
level: high
detection:
  file:
    file.path|startswith: /opt/ivi/system/
    file.path|endswith: [.so, /ivi-update]
  not_apps:
    file.path|contains: /apps/
  net:
    src.ip|cidr: 10.10.1.0/24
    dst.port|gte: 30500
    someip.service: "0x1101"
  condition: (file and not not_apps) or net
"#);
    let tampered = |path: &str| {
        ContextDraft::FileChange(FileChangeDraft {
            path: path.into(),
            kind: wire::FileChangeKind::Modified,
            read_only: true,
            old_hash: vec![],
            new_hash: vec![],
        })
    };
    let f = &catalog::HOST_FILE_TAMPERED;
    let cases = [
        (
            Ev {
                context: tampered("/opt/ivi/system/bin/ivi-update"),
                ..ev("ivi", "ivi", f, 1, S)
            },
            true,
        ),
        (
            Ev {
                context: tampered("/opt/ivi/system/lib/libX.SO"),
                ..ev("ivi", "ivi", f, 1, S)
            },
            true,
        ),
        (
            Ev {
                context: tampered("/opt/ivi/apps/x.so"),
                ..ev("ivi", "ivi", f, 1, S)
            },
            false,
        ),
        (
            Ev {
                context: tampered("/opt/ivi/system/bin/ivi-hmi"),
                ..ev("ivi", "ivi", f, 1, S)
            },
            false,
        ),
        (
            Ev {
                context: call(0x1101),
                ..ev("body-dc", "ivi", &catalog::SOMEIP_UNAUTHORIZED_CLIENT, 1, S)
            },
            true,
        ),
        (
            Ev {
                context: call(0x1102),
                ..ev("body-dc", "ivi", &catalog::SOMEIP_UNAUTHORIZED_CLIENT, 1, S)
            },
            false,
        ),
    ];
    for (i, (e, raises)) in cases.into_iter().enumerate() {
        let mut engine = Engine::new(Arc::clone(&rules));
        let got = run(&mut engine, &[e], &VehicleSnapshot::default());
        assert_eq!(!got.is_empty(), raises, "case {i}");
    }
}

#[test]
fn a_reload_keeps_the_state_of_unchanged_rules_only() {
    let rule = |threshold: u32| {
        format!(
            "
title: c
name: c
level: high
correlation: {{type: event_count, rules: [lateral], group-by: [origin], timespan: 10s, condition: {{gte: {threshold}}}}}
"
        )
    };
    let parked = VehicleSnapshot::default();
    let l = &catalog::SOMEIP_UNAUTHORIZED_CLIENT;
    let mut engine = Engine::new(with(&rule(2)));
    assert_eq!(
        run(&mut engine, &[ev("body-dc", "ivi", l, 1, S)], &parked),
        vec![]
    );
    engine.replace(with(&rule(2)));
    assert_eq!(
        run(&mut engine, &[ev("body-dc", "ivi", l, 2, 2 * S)], &parked),
        vec![("c".to_owned(), "raise", 2)],
        "the unchanged rule kept its first event"
    );
    engine.replace(with(&rule(3)));
    assert_eq!(
        run(&mut engine, &[ev("body-dc", "ivi", l, 3, 3 * S)], &parked),
        vec![],
        "a changed rule starts empty"
    );
}

/// Found by the `rules` fuzz target (artifact oom-c73494c7): a rule file ending in a NUL byte
/// made the YAML stream repeat its syntax error forever, and loading it never ended.
#[test]
fn fuzz_oom_c73494c7_a_syntax_error_ends_the_file() {
    let text = "title: Attack while driving\nname: attack-while-driving\n\0";
    let err = RuleSet::parse([("v.yml", text)], &vehicle()).unwrap_err();
    let RulesError::Invalid(problems) = err else {
        panic!("{err}")
    };
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(
        shown[0].starts_with("v.yml: ") && shown[0].contains("control characters are not allowed"),
        "{shown:?}"
    );
    assert_eq!(shown.len(), 1, "{shown:?}");
}
