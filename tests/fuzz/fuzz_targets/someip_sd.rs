//! SOME/IP-SD entries and options of each message of a datagram.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsiem_decode::someip;

fuzz_target!(|data: &[u8]| {
    for message in someip::messages(data).flatten() {
        let Ok(sd) = someip::sd(&message) else {
            continue;
        };
        let _ = (sd.reboot(), sd.unicast());
        for entry in sd.entries() {
            let _ = (entry.kind(), entry.service_id(), entry.options().count());
        }
    }
});
