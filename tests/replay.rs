//! `vsiem replay` over real captures made by other projects' tools (../shared/captures): every
//! frame is read and decoded, nothing fails, and the output is the same on every run.

mod common;

use std::path::{Path, PathBuf};

use common::vsiem;
use serde_json::Value;

fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/captures")
        .join(name)
}

fn replay(capture: &Path) -> (String, Value) {
    let stdout = common::replay(&[], capture);
    let summary = stdout
        .lines()
        .last()
        .map(|l| serde_json::from_str(l).expect("a JSON summary"))
        .expect("a summary line");
    (stdout, summary)
}

#[test]
fn independent_captures_replay_whole_and_deterministically() {
    let captures = [
        ("scapy-doip.pcap", 172),
        ("scapy-doip_ack.pcap", 1),
        ("scapy-doip_functional_request.pcap", 27),
        ("scapy-multiple_doip_layers.pcap", 2),
        ("someip-firewall-normal_dataset.pcap", 5284),
        ("someip-firewall-error_on_error_dataset.pcap", 1810),
        ("someip-firewall-error_on_event_dataset.pcap", 1524),
        ("someip-firewall-malformed_payload_dataset.pcap", 6163),
    ];
    for (name, frames) in captures {
        let path = shared(name);
        let (first, summary) = replay(&path);
        assert_eq!(summary["kind"], "summary", "{name}");
        assert_eq!(summary["frames"], frames, "{name}: {summary}");
        assert_eq!(
            (
                summary["undecodable"].as_u64(),
                summary["unsupported_link"].as_u64()
            ),
            (Some(0), Some(0)),
            "{name}: {summary}"
        );
        let events: u64 = summary["events"]
            .as_object()
            .expect("events by type")
            .values()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(
            first
                .lines()
                .filter(|l| l.contains(r#""kind":"event""#))
                .count() as u64,
            events,
            "{name}"
        );
        let (second, _) = replay(&path);
        assert_eq!(first, second, "{name}: two replays differ");
    }
}

#[test]
fn the_doip_capture_shows_routing_activations_from_a_non_tester() {
    // Its hosts are not the reference vehicle's: the activations come from no tester it knows.
    let (_, summary) = replay(&shared("scapy-doip.pcap"));
    assert_eq!(
        summary["events"]["doip.routing_activation_unauthorized"], 7,
        "{summary}"
    );
}

#[test]
fn a_file_that_is_no_capture_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "hello").unwrap();
    let output = vsiem().args(["replay"]).arg(&path).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a pcap or pcapng file"));
}
