//! UDS requests and responses, as DoIP diagnostic messages carry them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsiem_decode::uds;

fuzz_target!(|data: &[u8]| {
    let _ = uds::parse(data);
});
