//! What the V-SOC outage scenarios check of escalation: the incident versions the gateway
//! published, the versions the V-SOC stored, and what the gateway's escalation queue must
//! deliver of the first after an outage.

use serde_json::Value;
use std::path::Path;

/// The incident versions the monitor saw the gateway publish, (id, version time), in order.
pub fn incident_versions(seen: &[Value]) -> Vec<(u64, u64)> {
    seen.iter()
        .filter(|l| l["kind"] == "incident")
        .filter_map(|l| Some((l["id"].as_u64()?, l["ts_ns"].as_u64()?)))
        .collect()
}

/// The V-SOC's store (`vsiem vsoc --store`), one JSON line per version stored; empty when it
/// does not exist yet.
pub fn read_store(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON incident version"))
        .collect()
}

/// The versions of the V-SOC's store, (id, version time), in the order stored.
pub fn stored_versions(store: &[Value]) -> Vec<(u64, u64)> {
    store
        .iter()
        .filter_map(|v| Some((v["incident_id"].as_u64()?, v["updated_ns"].as_u64()?)))
        .collect()
}

/// What the escalation queue holds of `raised`, all published while the V-SOC was
/// unreachable: the oldest version (it may be on its way, so it is never replaced), then each
/// incident's latest version in the place of its first one behind the oldest.
pub fn waiting(raised: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let Some((&oldest, rest)) = raised.split_first() else {
        return Vec::new();
    };
    let mut queue = vec![oldest];
    for &(id, version) in rest {
        match queue[1..].iter_mut().find(|(waiting, _)| *waiting == id) {
            Some(place) => place.1 = version,
            None => queue.push((id, version)),
        }
    }
    queue
}
