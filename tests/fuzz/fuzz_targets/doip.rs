//! DoIP messages of a datagram or stream run, each parsed, and stream framing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsiem_decode::doip;

fuzz_target!(|data: &[u8]| {
    for message in doip::messages(data).flatten() {
        let _ = doip::parse(message);
    }
    let _ = doip::frame_len(data);
});
