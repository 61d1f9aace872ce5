//! The topology loader on any text, with the reference threat intelligence as its STIX bundle.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsiem_topology::{Topology, REFERENCE_INTEL};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Topology::from_toml(text, &|_| Ok(REFERENCE_INTEL.to_owned()));
});
