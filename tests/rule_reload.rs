//! Scenario: the gateway's rules change while it runs (`vsiem gateway --rules DIR`). An invalid
//! set is rejected with every problem located and the old set stays in force; a valid set takes
//! effect without a restart, and the state of unchanged rules (an open incident) carries over.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{monitor, start, wait_for};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A new rule of the changed set: it joins every reload's audit event to the gateway's incident.
const AUDIT_RULE: &str = "
title: Rule set changed
name: audit-rule-changes
level: low
tags: [vsiem.audit.rule-change]
detection:
  selection:
    type: gateway.rules_reloaded
  condition: selection
";

/// Two problems: an event type that does not exist, and a condition naming no selection.
const BROKEN_RULE: &str = "
title: Broken
name: broken
level: high
detection:
  selection:
    type: someip.unlock_request
  condition: selection and filter
";

fn write(dir: &Path, name: &str, text: &str) {
    // Written beside and renamed, as deployment tools do: the watcher sees one complete file.
    let scratch = dir.join(format!(".{name}.tmp"));
    std::fs::write(&scratch, text).expect("rule file written");
    std::fs::rename(&scratch, dir.join(name)).expect("rule file renamed");
}

fn incident_of(
    rx: &std::sync::mpsc::Receiver<Value>,
    what: &str,
    want: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(rx, TIMEOUT, what, |l| l["kind"] == "incident" && want(l))
}

#[test]
fn rules_reload_without_a_restart_and_a_bad_set_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("topology/rules");
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let rules = dir.path().to_str().unwrap();
    let _gateway = start(&["gateway", "--rules", rules], &[]);
    let (_monitor, rx) = monitor();
    wait_for(&rx, TIMEOUT, "gateway up", |l| {
        l["kind"] == "alive" && l["ecu"] == "gateway"
    });

    write(dir.path(), "broken.yml", BROKEN_RULE);
    let rejected = wait_for(&rx, TIMEOUT, "gateway.rules_rejected", |l| {
        l["type"] == "gateway.rules_rejected"
    });
    let reason = rejected["detail"].as_str().unwrap_or_default();
    for problem in [
        "2 problems",
        "broken.yml: detection.selection.type: `someip.unlock_request` is not an event type",
        "broken.yml: detection.condition: `filter` is not a selection of this rule",
    ] {
        assert!(reason.contains(problem), "{problem:?} not in {reason:?}");
    }
    let first = incident_of(&rx, "the rejection's incident", |l| {
        l["rule"] == "rules-rejected"
    });
    assert_eq!(
        (first["origin"].as_str(), first["events"].as_u64()),
        (Some("gateway"), Some(1))
    );

    write(dir.path(), "broken.yml", AUDIT_RULE);
    wait_for(&rx, TIMEOUT, "gateway.rules_reloaded", |l| {
        l["type"] == "gateway.rules_reloaded"
    });
    let audited = incident_of(&rx, "the reload judged by the new rule", |l| {
        l["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "vsiem.audit.rule-change"))
    });
    assert_eq!(
        audited["id"], first["id"],
        "the open incident survived the reload"
    );
    assert_eq!(audited["events"].as_u64(), Some(2));

    write(dir.path(), "other.yml", BROKEN_RULE);
    wait_for(&rx, TIMEOUT, "the second rejection", |l| {
        l["type"] == "gateway.rules_rejected"
    });
    let kept = incident_of(&rx, "the second rejection folded in", |l| {
        l["events"].as_u64() == Some(3)
    });
    assert_eq!(
        kept["id"], first["id"],
        "the unchanged rejection rule kept its open group"
    );
    assert_eq!(kept["rule"], "rules-rejected");
}
