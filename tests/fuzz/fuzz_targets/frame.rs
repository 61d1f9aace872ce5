//! Link to transport slicing of one captured frame, for each link type a capture may have.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsiem_decode::frame::{self, LinkType};

fuzz_target!(|data: &[u8]| {
    for link in [LinkType::Ethernet, LinkType::RawIp, LinkType::LinuxSll] {
        if let Ok(frame) = frame::parse(link, data) {
            let _ = frame.flow();
        }
    }
});
