//! SOME/IP messages of a datagram or stream run, and stream framing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsiem_decode::someip;

fuzz_target!(|data: &[u8]| {
    for message in someip::messages(data).flatten() {
        let _ = (message.anomaly(), message.payload().len(), message.is_sd());
    }
    let _ = someip::frame_len(data);
});
