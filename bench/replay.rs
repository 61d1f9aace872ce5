//! Replay throughput: the network sensor's decode-and-detect pipeline on one core over generated
//! captures of more than a million frames, beside the floor of frame slicing alone over the
//! same frames, in the same run. Two workloads:
//! - the reference vehicle's normal traffic (the Scapy benign capture, tests/scapy/captures.py:
//!   cyclic SOME/IP events, calls, SD, DNS, TLS, DoIP/UDS, both legs of routed packets),
//!   repeated with time shifted and each copy's ephemeral ports (40000 and up) moved, so that
//!   every copy is new connections, as a long drive has;
//! - an independent generator's SOME/IP traffic (../shared/captures' normal dataset), repeated.
//!
//! Each workload is written as a pcap file and replayed three ways: slicing alone (in memory),
//! the pipeline in memory, and the pipeline reading the file (what `vsiem replay` does before
//! printing). Reported: frames/s (median of the rounds), the per-frame cost of 4,096-frame
//! batches as percentiles, and the ratios to the floor. Goal: 1.49 million frames/s, the
//! minimum-size frame rate of a saturated 1000BASE-T1 link.

#[path = "../tests/scapy/run.rs"]
mod scapy;

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use vsiem_actors::sensor::net::capture_file;
use vsiem_actors::sensor::net::frame::{self, LinkType, Net, Transport};
use vsiem_actors::sensor::net::pipeline::Pipeline;
use vsiem_topology::Topology;

const TARGET_FRAMES: usize = 1_000_000;
const ROUNDS: usize = 5;
const BATCH: usize = 4096;
const GOAL: f64 = 1.49e6;
/// Ports from here up are the captures' ephemeral (client) ports.
const EPHEMERAL: u16 = 40_000;

type Frames = Vec<(u64, Vec<u8>)>;

fn read(path: &Path) -> Frames {
    let mut frames = Vec::new();
    capture_file::read(path, &mut |c| frames.push((c.ts_ns, c.data.to_vec())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    frames
}

/// The offsets of a UDP or TCP frame's two ports (Ethernet, optional 802.1Q, IPv4).
fn port_offsets(bytes: &[u8]) -> Option<[usize; 2]> {
    let parsed = frame::parse(LinkType::Ethernet, bytes).ok()?;
    let Net::Ip(ip) = parsed.net else { return None };
    if !matches!(ip.transport, Transport::Udp(_) | Transport::Tcp(_)) {
        return None;
    }
    let l3 = if parsed.outer_vlan.is_some() { 18 } else { 14 };
    let l4 = l3 + usize::from(bytes.get(l3)? & 0x0F) * 4;
    Some([l4, l4 + 2])
}

/// `frames` repeated until there are `TARGET_FRAMES`, each copy later by the capture's span
/// and, when `new_ports`, with its ephemeral ports moved (new connections).
fn repeat(frames: &Frames, new_ports: bool) -> Frames {
    let span = frames.last().map_or(0, |f| f.0) - frames.first().map_or(0, |f| f.0) + 1_000_000;
    let mut out = Vec::with_capacity(TARGET_FRAMES + frames.len());
    let mut copy = 0u64;
    while out.len() < TARGET_FRAMES {
        for (ts, bytes) in frames {
            let mut bytes = bytes.clone();
            if new_ports {
                for at in port_offsets(&bytes).into_iter().flatten() {
                    let port = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
                    if port >= EPHEMERAL {
                        let moved = EPHEMERAL
                            + u16::try_from((u64::from(port - EPHEMERAL) + copy * 17) % 25_000)
                                .expect("below 25,000");
                        bytes[at..at + 2].copy_from_slice(&moved.to_be_bytes());
                    }
                }
            }
            out.push((ts + span * copy, bytes));
        }
        copy += 1;
    }
    out
}

/// A classic pcap file (microsecond timestamps, Ethernet).
fn write_pcap(path: &Path, frames: &Frames) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("a pcap file"));
    let mut header = 0xA1B2_C3D4u32.to_le_bytes().to_vec();
    header.extend(2u16.to_le_bytes());
    header.extend(4u16.to_le_bytes());
    header.extend([0u8; 8]);
    header.extend(65_535u32.to_le_bytes());
    header.extend(1u32.to_le_bytes());
    file.write_all(&header).unwrap();
    for (ts, bytes) in frames {
        let len = u32::try_from(bytes.len()).unwrap();
        for v in [
            (ts / 1_000_000_000) as u32,
            (ts % 1_000_000_000 / 1_000) as u32,
            len,
            len,
        ] {
            file.write_all(&v.to_le_bytes()).unwrap();
        }
        file.write_all(bytes).unwrap();
    }
    file.flush().unwrap();
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn workload(name: &str, frames: &Frames, path: &Path) {
    write_pcap(path, frames);
    let topology = Arc::new(Topology::reference());
    let (mut floor, mut memory, mut file) = (Vec::new(), Vec::new(), Vec::new());
    let mut batch_ns = Vec::new();
    let mut detections = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let decoded = frames
            .iter()
            .filter(|(_, b)| frame::parse(LinkType::Ethernet, black_box(b)).is_ok())
            .count();
        floor.push(frames.len() as f64 / start.elapsed().as_secs_f64());
        assert_eq!(decoded, frames.len(), "{name}: a frame does not slice");

        let mut pipeline = Pipeline::new(Arc::clone(&topology), 7447);
        let mut out = Vec::new();
        let start = Instant::now();
        for batch in frames.chunks(BATCH) {
            let t = Instant::now();
            for (ts, bytes) in batch {
                pipeline.frame(LinkType::Ethernet, *ts, bytes, &mut out);
            }
            batch_ns.push(t.elapsed().as_nanos() as f64 / batch.len() as f64);
        }
        memory.push(frames.len() as f64 / start.elapsed().as_secs_f64());
        detections = out.len();

        let mut pipeline = Pipeline::new(Arc::clone(&topology), 7447);
        let mut out = Vec::new();
        let start = Instant::now();
        let n = capture_file::read(path, &mut |c| {
            pipeline.frame(LinkType::Ethernet, c.ts_ns, c.data, &mut out);
        })
        .expect("the generated capture reads");
        file.push(n as f64 / start.elapsed().as_secs_f64());
    }
    batch_ns.sort_by(f64::total_cmp);
    let (floor, memory, file) = (median(&mut floor), median(&mut memory), median(&mut file));
    println!(
        "{name}: {} frames, median of {ROUNDS} rounds, one core",
        frames.len()
    );
    println!(
        "  frame slicing alone (floor):      {:>6.2} M frames/s",
        floor / 1e6
    );
    println!(
        "  decode + detect, in memory:       {:>6.2} M frames/s  ({:.2}x the floor's time; {detections} detections)",
        memory / 1e6,
        floor / memory
    );
    println!(
        "  decode + detect, from the file:   {:>6.2} M frames/s  ({:.2}x the floor's time)",
        file / 1e6,
        floor / file
    );
    println!(
        "  per frame, {BATCH}-frame batches:   p50 {:.0} ns  p90 {:.0} ns  p99 {:.0} ns  max {:.0} ns",
        percentile(&batch_ns, 0.5),
        percentile(&batch_ns, 0.9),
        percentile(&batch_ns, 0.99),
        percentile(&batch_ns, 1.0)
    );
    println!(
        "  goal 1.49 M frames/s (in memory): {}",
        if memory >= GOAL { "met" } else { "NOT met" }
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (_, benign) = scapy::captures(dir.path())
        .into_iter()
        .find(|(name, _)| name == "benign")
        .expect("the benign capture");
    let reference = read(&benign);
    workload(
        &format!(
            "reference vehicle, normal traffic ({} Scapy frames repeated)",
            reference.len()
        ),
        &repeat(&reference, true),
        &dir.path().join("reference.pcap"),
    );
    let someip = read(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/captures/someip-firewall-normal_dataset.pcap"),
    );
    workload(
        &format!(
            "independent SOME/IP generator ({} real frames repeated)",
            someip.len()
        ),
        &repeat(&someip, false),
        &dir.path().join("someip.pcap"),
    );
}
