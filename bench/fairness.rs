//! End-to-end bench of ingest fairness: the latency of a steady sensor's events at the gateway
//! (event timestamp to handoff to the correlator, read from the gateway's metrics endpoint)
//! alone, and beside a 100,000 events/s flood from another sensor, in the same run; with the
//! gateway's peak RSS (VmHWM) in each phase. Issue 4's goal: loaded at most 2x unloaded.
//!
//! Each phase runs a fresh `vsiem gateway` and real publishers (`vsiem sim flood`):
//! 1. `unloaded`: body-dc's someip sensor at 100 events/s, alone;
//! 2. `flood`: the same beside ivi/processes flooding at 100,000 events/s, with the reference
//!    topology's limits (1000 events/s per sensor: the rate limit takes most of the flood);
//! 3. `flood, no rate limit`: the same with `events_per_sensor_per_second = 1000000`, so the
//!    whole flood reaches the fair queues and the correlator.
//!
//! Environment: `VSIEM_BENCH_EVENTS` (steady events per phase, default 1000, at 100/s),
//! `VSIEM_BENCH_JSON` (also print one JSON line of all figures).

use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{json, Value};

// The tests' client of the backbone, shared rather than copied; the bench uses part of it.
#[allow(dead_code)]
#[path = "../tests/common/bus.rs"]
mod bus;

const STEADY: &str = "body-dc/someip";
const FLOODER: &str = "ivi/processes";
const STEADY_RATE: u64 = 100;
const FLOOD_RATE: &str = "100000";
/// The flood starts this long before the steady sensor, to be at full speed when it does.
const FLOOD_LEAD: Duration = Duration::from_secs(1);

/// How `tests/common/bus.rs` starts `vsiem`.
fn vsiem() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vsiem"));
    command
        .env("RUST_LOG", "error")
        .env("VSIEM_PKI", bus::pki_dir())
        .env("VSIEM_STATE_DIR", bus::state_dir());
    command
}

fn main() -> ExitCode {
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fairness: {e:#}");
            ExitCode::FAILURE
        }
    }
}

struct Phase {
    name: &'static str,
    /// Replaces the reference topology's line, if given.
    limit: Option<&'static str>,
    flood: bool,
}

const PHASES: [Phase; 3] = [
    Phase {
        name: "unloaded",
        limit: None,
        flood: false,
    },
    Phase {
        name: "flood",
        limit: None,
        flood: true,
    },
    Phase {
        name: "flood, no rate limit",
        limit: Some("events_per_sensor_per_second = 1000000"),
        flood: true,
    },
];

fn bench() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) a short check runs.
    let full = std::env::args().any(|a| a == "--bench");
    let events: u64 = match std::env::var("VSIEM_BENCH_EVENTS") {
        Ok(v) => v.trim().parse().context("VSIEM_BENCH_EVENTS")?,
        Err(_) if full => 1000,
        Err(_) => 100,
    };
    let dir = tempfile::tempdir()?;
    let mut results = Vec::new();
    for phase in &PHASES {
        eprintln!("fairness: phase {}", phase.name);
        results.push((phase.name, run(phase, events, dir.path())?));
    }
    print(&results);
    if std::env::var_os("VSIEM_BENCH_JSON").is_some() {
        let phases: serde_json::Map<String, Value> = results
            .iter()
            .map(|(name, r)| ((*name).to_owned(), r.clone()))
            .collect();
        println!(
            "{}",
            json!({"kind": "bench", "bench": "fairness", "steady_events": events, "phases": phases})
        );
    }
    Ok(())
}

/// A `vsiem gateway`, killed when dropped.
struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(phase: &Phase, events: u64, dir: &std::path::Path) -> anyhow::Result<Value> {
    let mut gateway = vsiem();
    gateway
        .arg("gateway")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if let Some(line) = phase.limit {
        let default = "events_per_sensor_per_second = 1000\n";
        let text = vsiem_topology::REFERENCE_TOML.replacen(default, &format!("{line}\n"), 1);
        anyhow::ensure!(
            text != vsiem_topology::REFERENCE_TOML,
            "no {default:?} to replace"
        );
        std::fs::write(dir.join("topology.toml"), text)?;
        std::fs::write(
            dir.join("reference-intel.json"),
            vsiem_topology::REFERENCE_INTEL,
        )?;
        gateway.arg("--topology").arg(dir.join("topology.toml"));
    }
    let gateway = Gateway(gateway.spawn().context("vsiem gateway")?);
    let session = bus::session();
    bus::wait_metrics(&session, Duration::from_secs(30), "the gateway up", |_| {
        true
    });

    let steady_secs = events.div_ceil(STEADY_RATE);
    let flood_ms = (FLOOD_LEAD.as_millis() as u64 + steady_secs * 1000 + 2000).to_string();
    let flooder = phase.flood.then(|| {
        let flooder = bus::flood(&bus::ivi_flood_args(FLOOD_RATE, &flood_ms));
        std::thread::sleep(FLOOD_LEAD);
        flooder
    });
    let (count, rate) = (events.to_string(), STEADY_RATE.to_string());
    let steady = bus::flood(&bus::steady_args(&rate, &count));
    bus::published(steady);
    let m = bus::wait_metrics(
        &session,
        Duration::from_secs(60),
        "the steady events",
        |m| m["sensors"][STEADY]["accepted"].as_u64() == Some(events),
    );
    let flood = flooder.map(bus::published);
    let hwm_kb = vm_hwm_kb(gateway.0.id())?;
    let m_after = bus::metrics(&session).unwrap_or_else(|| m.clone());
    Ok(json!({
        "steady_latency_ms": m["sensors"][STEADY]["latency_ms"],
        "steady_dropped": m["sensors"][STEADY]["dropped_queue_full"].as_u64().unwrap_or(0)
            + m["sensors"][STEADY]["dropped_rate_limited"].as_u64().unwrap_or(0),
        "flood_published_per_second": flood.as_ref().map(|f| f["achieved_per_second"].clone()),
        "flooder": m_after["sensors"][FLOODER],
        "gateway_peak_rss_kb": hwm_kb,
    }))
}

/// The peak resident set of a process, from /proc.
fn vm_hwm_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/PID/status")
}

fn print(results: &[(&str, Value)]) {
    println!();
    println!(
        "steady sensor {STEADY} at {STEADY_RATE} events/s; flood from {FLOODER} at {FLOOD_RATE}/s"
    );
    println!(
        "{:<22} {:>6} {:>9} {:>9} {:>9} {:>9} {:>10} {:>12} {:>10}",
        "latency ms", "n", "p50", "p90", "p99", "max", "peak RSS", "flood sent/s", "dropped"
    );
    for (name, r) in results {
        let l = &r["steady_latency_ms"];
        let f = |k: &str| l[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{name:<22} {:>6} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>7.1} MiB {:>12} {:>10}",
            l["n"],
            f("p50"),
            f("p90"),
            f("p99"),
            f("max"),
            r["gateway_peak_rss_kb"].as_f64().unwrap_or(f64::NAN) / 1024.0,
            r["flood_published_per_second"],
            r["steady_dropped"],
        );
    }
    let unloaded = &results[0].1["steady_latency_ms"];
    for (name, r) in &results[1..] {
        let ratio = |k: &str| {
            r["steady_latency_ms"][k].as_f64().unwrap_or(f64::NAN)
                / unloaded[k].as_f64().unwrap_or(f64::NAN)
        };
        println!(
            "{name} / unloaded: p50 {:.2}x, p90 {:.2}x, p99 {:.2}x",
            ratio("p50"),
            ratio("p90"),
            ratio("p99")
        );
        let flooder = &r["flooder"];
        println!(
            "  flooder at the gateway: received {}, accepted {}, rate-limited {}, queue full {}, peak depth {}",
            flooder["received"],
            flooder["accepted"],
            flooder["dropped_rate_limited"],
            flooder["dropped_queue_full"],
            flooder["queue_peak_depth"]
        );
    }
}
