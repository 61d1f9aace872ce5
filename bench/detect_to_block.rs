//! End-to-end bench: vsiem's detect-to-block latency over repeated `vsiem demo` runs, with mTLS
//! and access control (the default) and without (`--insecure`), beside the floor of a bare Zenoh
//! ping-pong between two processes measured in the same run, and their ratios: each against the
//! floor, and mTLS against insecure (the cost of securing the backbone). The two kinds of run
//! alternate, which one goes first switching every run, so that both see the same conditions.
//!
//! The floor is zenoh's `z_ping`/`z_pong` pair cut down to what vsiem's events use (TCP on
//! loopback, reliable, congestion control Block). Floor samples are taken between demo runs, so
//! both figures see the same machine conditions.
//!
//! Environment: `VSIEM_BENCH_RUNS` (demo runs of each kind, default 100; 0 measures the floor
//! alone),
//! `VSIEM_BENCH_JSON` (also print one JSON line of all figures, for CI logs).

use std::collections::BTreeMap;
use std::io::{self, Read as _};
use std::net::TcpListener;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use zenoh::handlers::FifoChannelHandler;
use zenoh::pubsub::{Publisher, Subscriber};
use zenoh::qos::CongestionControl;
use zenoh::sample::Sample;
use zenoh::{Session, Wait as _};

/// Set on the re-executed bench binary to make it the pong process.
const ROLE_ENV: &str = "VSIEM_BENCH_ROLE";
const PONG_PORT_ENV: &str = "VSIEM_BENCH_PONG_PORT";
const KE_PING: &str = "bench/ping";
const KE_PONG: &str = "bench/pong";

/// Roughly a SecurityEvent with a SOME/IP context and a header as evidence.
const PAYLOAD_LEN: usize = 200;
const WARMUP_ROUND_TRIPS: usize = 100;
const FLOOR_PER_RUN: usize = 50;
const FLOOR_ALONE: usize = 1000;
const DEFAULT_RUNS: usize = 100;
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the pong may take to start listening and to see our subscriber.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A loopback round trip that takes this long is a broken pong, not a slow sample.
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(5);

/// Process group of the demo run in flight (0: none), for the Ctrl-C handler: each run gets its
/// own group so that a hung or interrupted demo can be killed with every process it started.
static DEMO_PGID: AtomicI32 = AtomicI32::new(0);

fn main() -> ExitCode {
    if std::env::var_os(ROLE_ENV).is_some_and(|r| r == "pong") {
        return match pong() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pong: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match bench() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("detect_to_block: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// How much to measure. `cargo bench` passes `--bench`; without it (`cargo test --benches`) the
/// binary only checks that it works, as criterion's benches do.
struct Plan {
    runs: usize,
    warmup: usize,
    floor_per_run: usize,
    floor_alone: usize,
    json: bool,
}

impl Plan {
    fn from_env() -> anyhow::Result<Self> {
        let full = std::env::args().any(|a| a == "--bench");
        let runs = match std::env::var("VSIEM_BENCH_RUNS") {
            Ok(v) => v
                .trim()
                .parse()
                .with_context(|| format!("VSIEM_BENCH_RUNS={v:?} is not a count"))?,
            Err(_) if full => DEFAULT_RUNS,
            Err(_) => 1,
        };
        let scale = if full { 1 } else { 10 };
        Ok(Self {
            runs,
            warmup: WARMUP_ROUND_TRIPS / scale,
            floor_per_run: FLOOR_PER_RUN,
            floor_alone: FLOOR_ALONE / scale,
            json: std::env::var_os("VSIEM_BENCH_JSON").is_some(),
        })
    }
}

fn bench() -> anyhow::Result<ExitCode> {
    check_percentile();
    let plan = Plan::from_env()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            // The demo is in its own process group and does not see the terminal's Ctrl-C.
            kill_group(DEMO_PGID.load(Ordering::SeqCst));
            std::process::exit(130);
        }
    });

    let pong = PongChild::spawn()?;
    let mut floor = Floor::connect(pong.port)?;
    // Warm-up samples are thrown away: the first round trips pay for connection setup and caches.
    floor.sample(plan.warmup, &mut Vec::new())?;

    let mut report = Report::default();
    let exe = env!("CARGO_BIN_EXE_vsiem");
    if plan.runs == 0 {
        floor.sample(plan.floor_alone, &mut report.floor_ms)?;
    }
    for run in 0..plan.runs {
        let order = if run % 2 == 0 {
            [Link::Tls, Link::Insecure]
        } else {
            [Link::Insecure, Link::Tls]
        };
        for link in order {
            match rt.block_on(demo_run(exe, link)) {
                Ok(summary) => {
                    report.detect_ms[link as usize].push(summary.detect_to_block_ms);
                    for (process, kb) in summary.rss_kb {
                        let peak = report.peak_rss_kb.entry(process).or_default();
                        *peak = (*peak).max(kb);
                    }
                }
                Err(why) => {
                    report.failed += 1;
                    if report.first_failure.is_none() {
                        eprintln!("run {run} ({}) failed: {why}", link.label());
                        report.first_failure = Some(why);
                    }
                }
            }
        }
        floor.sample(plan.floor_per_run, &mut report.floor_ms)?;
        if (run + 1) % 10 == 0 {
            eprintln!("detect_to_block: {}/{} demo runs", run + 1, plan.runs);
        }
    }
    drop(floor);
    drop(pong);

    report.print(plan.runs, plan.warmup);
    if plan.json {
        println!("{}", report.json(plan.runs, plan.warmup));
    }
    // Failed runs are reported, not fatal; a run without a single figure of a kind is.
    Ok(
        if plan.runs > 0 && report.detect_ms.iter().any(Vec::is_empty) {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        },
    )
}

// ---------------------------------------------------------------------------------------------
// vsiem demo runs

struct Summary {
    detect_to_block_ms: f64,
    rss_kb: Vec<(String, u64)>,
}

/// How the demo's processes meet: the two kinds of run compared.
#[derive(Debug, Clone, Copy)]
enum Link {
    /// mTLS with the demo's throwaway PKI, and the routers' access control (the default).
    Tls = 0,
    /// `--insecure`: plain TCP, no access control.
    Insecure = 1,
}

impl Link {
    fn label(self) -> &'static str {
        match self {
            Link::Tls => "detect-to-block, mTLS + ACL",
            Link::Insecure => "detect-to-block, --insecure",
        }
    }
}

/// One `vsiem demo --json`; the error is what the report shows about a failed run.
async fn demo_run(exe: &str, link: Link) -> Result<Summary, String> {
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(["demo", "--json"])
        .args(matches!(link, Link::Insecure).then_some("--insecure"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {exe}: {e}"))?;
    let pgid = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .unwrap_or(0);
    DEMO_PGID.store(pgid, Ordering::SeqCst);
    let waited = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output()).await;
    // Also after a clean exit: a process the demo left behind would skew the next run (and hold
    // its ports).
    kill_group(pgid);
    DEMO_PGID.store(0, Ordering::SeqCst);

    let output = match waited {
        Err(_) => return Err(format!("timed out after {} s", RUN_TIMEOUT.as_secs())),
        Ok(Err(e)) => return Err(format!("waiting for the demo: {e}")),
        Ok(Ok(output)) => output,
    };
    let stderr = tail(&output.stderr, 20);
    if !output.status.success() {
        return Err(format!("{}; stderr tail:\n{stderr}", output.status));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
    last.and_then(parse_summary).ok_or_else(|| {
        format!(
            "last stdout line is not a summary with detect_to_block_ms: {:?}; stderr tail:\n{stderr}",
            last.unwrap_or("")
        )
    })
}

fn parse_summary(line: &str) -> Option<Summary> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v.get("kind")?.as_str()? != "summary" {
        return None;
    }
    let detect_to_block_ms = v.get("detect_to_block_ms")?.as_f64()?;
    let rss_kb = v
        .get("rss_kb")
        .and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    Some(Summary {
        detect_to_block_ms,
        rss_kb,
    })
}

fn tail(bytes: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: kill(2) takes no pointers; a negative pid names the process group that
        // `process_group(0)` created for a demo run this bench started.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The Zenoh floor

fn zerr(e: zenoh::Error) -> anyhow::Error {
    // zenoh's error is a boxed trait object, which `?` does not convert.
    anyhow::anyhow!(e)
}

/// The pong process: echoes every payload on `bench/ping` back on `bench/pong`.
fn pong() -> anyhow::Result<()> {
    let port: u16 = std::env::var(PONG_PORT_ENV)
        .context(PONG_PORT_ENV)?
        .parse()
        .context(PONG_PORT_ENV)?;
    let mut config = zenoh::Config::default();
    config.insert_json5("mode", r#""peer""#).map_err(zerr)?;
    config
        .insert_json5("listen/endpoints", &format!(r#"["tcp/127.0.0.1:{port}"]"#))
        .map_err(zerr)?;
    config
        .insert_json5("scouting/multicast/enabled", "false")
        .map_err(zerr)?;
    let session = zenoh::open(config).wait().map_err(zerr)?;
    let publisher = session
        .declare_publisher(KE_PONG)
        .congestion_control(CongestionControl::Block)
        .wait()
        .map_err(zerr)?;
    // Echo from the callback, as z_pong does: a channel hop here would be counted in the floor.
    let _subscriber = session
        .declare_subscriber(KE_PING)
        .callback(move |sample| {
            let _ = publisher.put(sample.payload().clone()).wait();
        })
        .wait()
        .map_err(zerr)?;
    // Serve until the bench closes our stdin, which also happens when it dies without running
    // its guard, so no pong outlives its bench.
    io::stdin().read_to_end(&mut Vec::new())?;
    Ok(())
}

/// The pong child; killed when dropped, also when the bench unwinds from a panic.
struct PongChild {
    child: Child,
    port: u16,
}

impl PongChild {
    fn spawn() -> anyhow::Result<Self> {
        // Bind to learn a free port, then free it for the pong; nothing else races for it here.
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(std::env::current_exe()?)
            .env(ROLE_ENV, "pong")
            .env(PONG_PORT_ENV, port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the pong process")?;
        Ok(Self { child, port })
    }
}

impl Drop for PongChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The ping side. Synchronous, as z_ping is: a blocking receive wakes this thread directly, with
/// no async scheduler between the sample and the clock.
struct Floor {
    publisher: Publisher<'static>,
    subscriber: Subscriber<FifoChannelHandler<Sample>>,
    payload: Vec<u8>,
    seq: u64,
    // Declared last so that it is dropped after the publisher and subscriber.
    _session: Session,
}

impl Floor {
    fn connect(port: u16) -> anyhow::Result<Self> {
        let mut config = zenoh::Config::default();
        config.insert_json5("mode", r#""client""#).map_err(zerr)?;
        config
            .insert_json5("connect/endpoints", &format!(r#"["tcp/127.0.0.1:{port}"]"#))
            .map_err(zerr)?;
        config
            .insert_json5("scouting/multicast/enabled", "false")
            .map_err(zerr)?;
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        // A client fails to open while the pong is not listening yet.
        let session = loop {
            match zenoh::open(config.clone()).wait() {
                Ok(session) => break session,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => return Err(zerr(e).context("pong not reachable")),
            }
        };
        let publisher = session
            .declare_publisher(KE_PING)
            .congestion_control(CongestionControl::Block)
            .wait()
            .map_err(zerr)?;
        let subscriber = session.declare_subscriber(KE_PONG).wait().map_err(zerr)?;
        let mut floor = Self {
            publisher,
            subscriber,
            payload: vec![0xA5; PAYLOAD_LEN],
            seq: 0,
            _session: session,
        };
        // Declarations travel asynchronously: until both subscribers are known on the other
        // side, pings or pongs are dropped. Retry until one comes back.
        while floor.round_trip(Duration::from_millis(200))?.is_none() {
            if Instant::now() > deadline {
                bail!("pong never answered");
            }
        }
        Ok(floor)
    }

    /// One timed round trip, or `None` if no answer came within `timeout`.
    fn round_trip(&mut self, timeout: Duration) -> anyhow::Result<Option<Duration>> {
        self.seq += 1;
        let tag = self.seq.to_le_bytes();
        self.payload[..tag.len()].copy_from_slice(&tag);
        let start = Instant::now();
        self.publisher
            .put(self.payload.clone())
            .wait()
            .map_err(zerr)?;
        let deadline = start + timeout;
        while let Some(sample) = self.subscriber.recv_deadline(deadline).map_err(zerr)? {
            // Anything else is the late answer to a ping that timed out while connecting.
            if sample.payload().to_bytes().get(..tag.len()) == Some(&tag[..]) {
                return Ok(Some(start.elapsed()));
            }
        }
        Ok(None)
    }

    fn sample(&mut self, n: usize, out: &mut Vec<f64>) -> anyhow::Result<()> {
        for _ in 0..n {
            match self.round_trip(ROUND_TRIP_TIMEOUT)? {
                Some(rtt) => out.push(ms(rtt)),
                None => bail!("no pong within {} s", ROUND_TRIP_TIMEOUT.as_secs()),
            }
        }
        Ok(())
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

// ---------------------------------------------------------------------------------------------
// Report

#[derive(Default)]
struct Report {
    /// By [`Link`].
    detect_ms: [Vec<f64>; 2],
    floor_ms: Vec<f64>,
    failed: usize,
    first_failure: Option<String>,
    peak_rss_kb: BTreeMap<String, u64>,
}

/// Nearest-rank percentile of ascending `sorted`: the smallest sample with at least `p` percent
/// of all samples at or below it. Always one of the samples, never an interpolation.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    // Multiply before dividing: `p / 100.0` is inexact and could push the rank up by one.
    let rank = (p * n as f64 / 100.0).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

fn check_percentile() {
    let ten: Vec<f64> = (1..=10).map(f64::from).collect();
    debug_assert_eq!(percentile(&ten, 50.0), Some(5.0));
    debug_assert_eq!(percentile(&ten, 90.0), Some(9.0));
    debug_assert_eq!(percentile(&ten, 99.0), Some(10.0));
    debug_assert_eq!(percentile(&ten, 100.0), Some(10.0));
    debug_assert_eq!(percentile(&[3.0], 50.0), Some(3.0));
    debug_assert_eq!(percentile(&[], 50.0), None);
}

struct Stats {
    n: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

impl Stats {
    fn of(samples: &[f64]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Self {
            n: sorted.len(),
            p50: percentile(&sorted, 50.0)?,
            p90: percentile(&sorted, 90.0)?,
            p99: percentile(&sorted, 99.0)?,
            max: *sorted.last()?,
        })
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "n": self.n, "p50": self.p50, "p90": self.p90, "p99": self.p99, "max": self.max,
        })
    }
}

const FLOOR_LABEL: &str = "zenoh ping-pong RTT (floor)";
const LINKS: [Link; 2] = [Link::Tls, Link::Insecure];

/// The p50 and p99 ratios of `a` to `b`.
fn ratios(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    let (a, b) = (Stats::of(a)?, Stats::of(b)?);
    Some((a.p50 / b.p50, a.p99 / b.p99))
}

impl Report {
    /// mTLS against insecure.
    fn tls_cost(&self) -> Option<(f64, f64)> {
        ratios(
            &self.detect_ms[Link::Tls as usize],
            &self.detect_ms[Link::Insecure as usize],
        )
    }

    fn print(&self, runs: usize, warmup: usize) {
        println!();
        println!(
            "floor: {PAYLOAD_LEN}-byte put/subscribe between two processes, TCP on loopback, \
             congestion control Block, after {warmup} warm-up round trips"
        );
        println!(
            "{:<30} {:>6} {:>10} {:>10} {:>10} {:>10}",
            "ms", "n", "p50", "p90", "p99", "max"
        );
        let mut rows = vec![(FLOOR_LABEL, &self.floor_ms)];
        if runs > 0 {
            for link in LINKS.into_iter().rev() {
                rows.insert(0, (link.label(), &self.detect_ms[link as usize]));
            }
        }
        for (label, samples) in rows {
            match Stats::of(samples) {
                Some(s) => println!(
                    "{label:<30} {:>6} {:>10.3} {:>10.3} {:>10.3} {:>10.3}",
                    s.n, s.p50, s.p90, s.p99, s.max
                ),
                None => println!(
                    "{label:<30} {:>6} {:>10} {:>10} {:>10} {:>10}",
                    0, "-", "-", "-", "-"
                ),
            }
        }
        for link in LINKS {
            if let Some((p50, p99)) = ratios(&self.detect_ms[link as usize], &self.floor_ms) {
                println!("{} / floor: p50 {p50:.1}x, p99 {p99:.1}x", link.label());
            }
        }
        if let Some((p50, p99)) = self.tls_cost() {
            println!("mTLS + ACL / insecure: p50 {p50:.3}x, p99 {p99:.3}x");
        }
        if runs > 0 {
            println!("failed runs: {} of {}", self.failed, 2 * runs);
            if let Some(why) = &self.first_failure {
                println!("first failure: {why}");
            }
        }
        if !self.peak_rss_kb.is_empty() {
            let peaks: Vec<String> = self
                .peak_rss_kb
                .iter()
                .map(|(process, kb)| format!("{process} {:.1}", *kb as f64 / 1024.0))
                .collect();
            println!("peak RSS (MiB, max over runs): {}", peaks.join(", "));
        }
    }

    fn json(&self, runs: usize, warmup: usize) -> serde_json::Value {
        let to_floor = |link: Link| ratios(&self.detect_ms[link as usize], &self.floor_ms);
        let (tls, insecure, cost) = (
            to_floor(Link::Tls),
            to_floor(Link::Insecure),
            self.tls_cost(),
        );
        let peak_rss_mib: serde_json::Map<String, serde_json::Value> = self
            .peak_rss_kb
            .iter()
            .map(|(process, kb)| (process.clone(), (*kb as f64 / 1024.0).into()))
            .collect();
        serde_json::json!({
            "kind": "bench",
            "bench": "detect_to_block",
            "runs": runs,
            "failed_runs": self.failed,
            "first_failure": self.first_failure,
            "detect_to_block_ms": Stats::of(&self.detect_ms[Link::Tls as usize]).map(|s| s.json()),
            "detect_to_block_insecure_ms": Stats::of(&self.detect_ms[Link::Insecure as usize]).map(|s| s.json()),
            "floor_rtt_ms": Stats::of(&self.floor_ms).map(|s| s.json()),
            "floor_payload_bytes": PAYLOAD_LEN,
            "floor_warmup_round_trips": warmup,
            "ratio_p50": tls.map(|r| r.0),
            "ratio_p99": tls.map(|r| r.1),
            "insecure_ratio_p50": insecure.map(|r| r.0),
            "insecure_ratio_p99": insecure.map(|r| r.1),
            "tls_cost_p50": cost.map(|r| r.0),
            "tls_cost_p99": cost.map(|r| r.1),
            "peak_rss_mib": peak_rss_mib,
        })
    }
}
