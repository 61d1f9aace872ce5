//! Criterion: the network sensor's decode + detect per frame, for representative frames of the
//! reference vehicle's normal traffic (the Scapy benign capture, tests/scapy/captures.py, as
//! the gateway sees it on its 802.1Q trunks): a SOME/IP call, an SD offer, a DoIP diagnostic
//! message, a DNS query, a TLS ClientHello and a TCP segment of the backbone. Each frame is
//! also timed through frame slicing alone (Ethernet to transport payload), the floor, in the
//! same run.
//!
//! The pipeline first replays the whole capture (steady state: its flows known, the vehicle
//! parked); then each frame is fed again and again, its timestamp advancing 1 ms a time (so no
//! window ever sees a flood) and, for TCP, its sequence number advancing by its payload (so the
//! DoIP stream reassembles and decodes every copy instead of dropping it as a retransmission).
//! Needs python3 with scapy 2.6.1.

#[path = "../tests/scapy/run.rs"]
mod scapy;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vsiem_actors::sensor::net::capture_file;
use vsiem_actors::sensor::net::frame::{self, LinkType, Net, Transport};
use vsiem_actors::sensor::net::pipeline::Pipeline;
use vsiem_topology::Topology;

/// The frame kinds benchmarked: name, and whether a frame is one (transport, ports, payload).
type Pick = (&'static str, fn(bool, u16, &[u8]) -> bool);

const PICKS: [Pick; 6] = [
    ("someip_call", |udp, dport, p| {
        udp && dport == 30501 && p.get(14) == Some(&0x00)
    }),
    ("sd_offer", |udp, dport, p| {
        udp && dport == 30490 && p.get(24) == Some(&0x01)
    }),
    ("doip_diagnostic", |udp, dport, p| {
        !udp && dport == 13400 && p.get(2..4) == Some(&[0x80, 0x01])
    }),
    ("dns_query", |udp, dport, _| udp && dport == 53),
    ("tls_client_hello", |udp, dport, p| {
        !udp && dport == 443 && p.first() == Some(&0x16)
    }),
    ("tcp_segment", |udp, dport, p| {
        !udp && dport == 7447 && !p.is_empty()
    }),
];

struct Frame {
    ts_ns: u64,
    bytes: Vec<u8>,
}

/// The TCP sequence number's offset and the payload's length, for an Ethernet + 802.1Q +
/// IPv4 frame (what the capture holds).
fn tcp_seq(bytes: &[u8]) -> Option<(usize, u32)> {
    let f = frame::parse(LinkType::Ethernet, bytes).ok()?;
    let Net::Ip(ip) = f.net else { return None };
    let Transport::Tcp(t) = ip.transport else {
        return None;
    };
    let ihl = usize::from(bytes.get(18)? & 0x0F) * 4;
    Some((18 + ihl + 4, u32::try_from(t.payload.len()).ok()?))
}

fn net_frames(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (_, benign) = scapy::captures(dir.path())
        .into_iter()
        .find(|(name, _)| name == "benign")
        .expect("the benign capture");
    let mut frames = Vec::new();
    capture_file::read(&benign, &mut |c| {
        frames.push(Frame {
            ts_ns: c.ts_ns,
            bytes: c.data.to_vec(),
        });
    })
    .expect("the benign capture reads");
    let topology = Arc::new(Topology::reference());
    let mut pipeline = Pipeline::new(topology, 7447);
    let mut out = Vec::new();
    for f in &frames {
        pipeline.frame(LinkType::Ethernet, f.ts_ns, &f.bytes, &mut out);
    }
    assert!(out.is_empty(), "the benign capture raised {out:?}");
    let mut ts = frames.last().map_or(0, |f| f.ts_ns);

    let mut group = c.benchmark_group("net_frame");
    group.throughput(Throughput::Elements(1));
    for (name, is) in PICKS {
        let mut bytes = frames
            .iter()
            .find(|f| {
                let Ok(parsed) = frame::parse(LinkType::Ethernet, &f.bytes) else {
                    return false;
                };
                match parsed.net {
                    Net::Ip(ip) => match ip.transport {
                        Transport::Udp(u) => is(true, u.dst_port, u.payload),
                        Transport::Tcp(t) => is(false, t.dst_port, t.payload),
                        _ => false,
                    },
                    _ => false,
                }
            })
            .unwrap_or_else(|| panic!("no {name} frame in the benign capture"))
            .bytes
            .clone();
        group.bench_function(format!("{name}/slice"), |b| {
            b.iter(|| frame::parse(LinkType::Ethernet, black_box(&bytes)).is_ok());
        });
        let seq = tcp_seq(&bytes);
        group.bench_function(format!("{name}/decode_detect"), |b| {
            b.iter(|| {
                ts += 1_000_000;
                if let Some((at, len)) = seq {
                    let next = u32::from_be_bytes([
                        bytes[at],
                        bytes[at + 1],
                        bytes[at + 2],
                        bytes[at + 3],
                    ])
                    .wrapping_add(len);
                    bytes[at..at + 4].copy_from_slice(&next.to_be_bytes());
                }
                pipeline.frame(LinkType::Ethernet, ts, black_box(&bytes), &mut out);
                out.clear();
            });
        });
    }
    group.finish();
    assert_eq!(pipeline.counters.undecodable, 0);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = net_frames
}
criterion_main!(benches);
