//! TCP reassembly under any order of segments, flags and sequence numbers, framed as DoIP: the
//! memory held stays within the limits whatever arrives.
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use vsiem_decode::doip;
use vsiem_decode::frame::{FlowKey, FlowProto, TcpFlags};
use vsiem_decode::tcp::{StreamLimits, Streams};

const LIMITS: StreamLimits = StreamLimits {
    max_flows: 4,
    max_pending_bytes_per_flow: 512,
    idle_timeout_ns: 1_000_000,
};
/// Bytes one segment header of the input takes: flow, sequence number (4), flags, length.
const SEGMENT_HEADER: usize = 7;

fn key(n: u8) -> FlowKey {
    let port = 40000 + u16::from(n % 8);
    FlowKey {
        proto: FlowProto::Tcp,
        src: SocketAddr::from(([10, 10, 9, 100], port)),
        dst: SocketAddr::from(([10, 10, 9, 1], 13400)),
    }
}

/// Consumes the whole DoIP messages at the start of `buf`; all of it if it cannot be framed.
fn framing(buf: &[u8]) -> usize {
    let mut used = 0;
    loop {
        let rest = &buf[used..];
        match doip::frame_len(rest) {
            Some(Ok(n)) if n <= rest.len() => used += n,
            Some(Ok(_)) | None => return used,
            Some(Err(_)) => return buf.len(),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut streams = Streams::new(LIMITS);
    let mut rest = data;
    let mut ts_ns = 0;
    let mut largest = 0;
    while let Some((header, tail)) = rest.split_first_chunk::<SEGMENT_HEADER>() {
        let [flow, s0, s1, s2, s3, flags, len] = *header;
        let (payload, tail) = tail.split_at(usize::from(len).min(tail.len()));
        largest = largest.max(payload.len());
        ts_ns += 100_000;
        let seq = u32::from_be_bytes([s0, s1, s2, s3]);
        let _ = streams.segment(
            key(flow),
            seq,
            TcpFlags(flags),
            payload,
            ts_ns,
            &mut framing,
        );
        streams.expire(ts_ns);
        assert!(streams.len() <= LIMITS.max_flows);
        rest = tail;
    }
    // Each direction keeps at most its pending bound plus the segment being framed.
    let bound = LIMITS.max_flows * 2 * (LIMITS.max_pending_bytes_per_flow + largest);
    assert!(streams.buffered_capacity() <= bound.max(4096 * LIMITS.max_flows));
});
