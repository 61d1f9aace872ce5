//! DNS messages (UDP payloads) and TCP framing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsiem_decode::dns;

fuzz_target!(|data: &[u8]| {
    let _ = dns::parse(data);
    let _ = dns::tcp_frame_len(data);
});
