//! The rules loader on any text, against the reference topology.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use vsiem_rules::RuleSet;
use vsiem_topology::Topology;

static TOPOLOGY: LazyLock<Topology> = LazyLock::new(Topology::reference);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = RuleSet::parse([("fuzz.yml", text)], &TOPOLOGY);
});
