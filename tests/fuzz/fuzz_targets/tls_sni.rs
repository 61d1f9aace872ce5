//! The server names of a TLS ClientHello at the start of a stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsiem_decode::tls;

fuzz_target!(|data: &[u8]| {
    let _ = tls::client_hello_sni(data);
});
