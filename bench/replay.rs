//! Replay throughput: the network sensor's decode-and-detect pipeline over more than a million
//! frames of real SOME/IP traffic (../shared/captures' normal dataset, repeated), in memory, on
//! one core, beside the floor of frame slicing alone over the same frames in the same run.
//! Goal: 1.49 million frames/s, the minimum-size frame rate of a saturated 1000BASE-T1 link.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use vsiem_actors::sensor::net::capture_file;
use vsiem_actors::sensor::net::frame::{self, LinkType};
use vsiem_actors::sensor::net::pipeline::Pipeline;
use vsiem_topology::Topology;

const TARGET_FRAMES: usize = 1_000_000;
const ROUNDS: usize = 5;

fn main() {
    let capture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/captures/someip-firewall-normal_dataset.pcap");
    let mut frames: Vec<(u64, Vec<u8>)> = Vec::new();
    capture_file::read(&capture, &mut |c| frames.push((c.ts_ns, c.data.to_vec())))
        .expect("the normal dataset reads");
    let original = frames.len();
    let span = frames.last().map_or(0, |f| f.0) - frames.first().map_or(0, |f| f.0) + 1;
    // Repeat the capture, shifting time, until it holds a million frames.
    let mut round = 1;
    while frames.len() < TARGET_FRAMES {
        let shifted: Vec<_> = frames[..original]
            .iter()
            .map(|(ts, f)| (ts + span * round, f.clone()))
            .collect();
        frames.extend(shifted);
        round += 1;
    }
    let topology = Arc::new(Topology::reference());
    let mut slicing = Vec::new();
    let mut pipeline_rates = Vec::new();
    let mut detections = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut decoded = 0usize;
        for (_, bytes) in &frames {
            decoded +=
                usize::from(frame::parse(LinkType::Ethernet, std::hint::black_box(bytes)).is_ok());
        }
        assert_eq!(decoded, frames.len());
        slicing.push(frames.len() as f64 / start.elapsed().as_secs_f64());

        let mut pipeline = Pipeline::new(Arc::clone(&topology), 7447);
        let mut out = Vec::new();
        let start = Instant::now();
        for (ts, bytes) in &frames {
            pipeline.frame(LinkType::Ethernet, *ts, bytes, &mut out);
        }
        pipeline_rates.push(frames.len() as f64 / start.elapsed().as_secs_f64());
        detections = out.len();
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (slice_rate, pipe_rate) = (median(&mut slicing), median(&mut pipeline_rates));
    println!("replay throughput: {} frames ({original} real frames repeated), median of {ROUNDS} rounds, one core", frames.len());
    println!(
        "  frame slicing alone (floor):   {:>6.2} M frames/s",
        slice_rate / 1e6
    );
    println!(
        "  decode + detect pipeline:      {:>6.2} M frames/s  ({} detections)",
        pipe_rate / 1e6,
        detections
    );
    println!(
        "  pipeline / floor:              {:>6.2}x the time",
        slice_rate / pipe_rate
    );
    println!(
        "  goal 1.49 M frames/s:          {}",
        if pipe_rate >= 1.49e6 {
            "met"
        } else {
            "NOT met"
        }
    );
}
