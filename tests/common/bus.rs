//! The tests' own view of the backbone: the run's PKI, a Zenoh client of the gateway on the
//! demo's loopback addresses, the gateway's metrics endpoint, and the test double publisher
//! `vsiem sim flood`.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use vsiem_actors::bus::{self, keys};
use vsiem_schemas::{catalog, read};
use vsiem_topology::{pki, AddressMode, Topology};
use zenoh::pubsub::Subscriber;
use zenoh::{Session, Wait as _};

pub fn vin() -> String {
    Topology::reference().vin().to_owned()
}

/// The reference vehicle's PKI, issued once per test binary (the scenarios run one at a time).
pub fn pki_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| issue_pki(&Topology::reference(), "pki"))
}

/// The state directory (`VSIEM_STATE_DIR`) of this test binary's gateways and agents, emptied
/// once per run: processes a scenario restarts find their durable state, and no scenario finds
/// another's (or an earlier run's).
pub fn state_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let name = exe.file_stem().expect("a file name").to_string_lossy();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("state")
            .join(name.as_ref());
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("the old state is removed");
        }
        std::fs::create_dir_all(&dir).expect("the state directory is made");
        dir
    })
}

/// Issues `topology`'s PKI into the test scratch directory `name`, replacing what was there.
pub fn issue_pki(topology: &Topology, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    pki::init(topology, &dir, true).expect("a PKI is issued");
    dir
}

/// A client session of the gateway's router as the monitor (it reads, and writes nothing).
pub fn session() -> Session {
    session_as(pki::MONITOR)
}

/// A client session of the gateway's router with `identity`'s certificate.
pub fn session_as(identity: &str) -> Session {
    let security = bus::Security::Tls(pki::files(pki_dir(), identity));
    zenoh::open(config(&security))
        .wait()
        .expect("a session with the gateway")
}

/// The configuration of a client of the gateway's router (every one of its loopback endpoints)
/// that waits for it.
pub fn config(security: &bus::Security) -> zenoh::Config {
    let t = Topology::reference();
    let connect = t
        .gateway()
        .interfaces
        .iter()
        .filter_map(|i| t.host_address(&i.zone, i.host, AddressMode::Loopback))
        .map(|ip| bus::endpoint(matches!(security, bus::Security::Tls(_)), ip, 7447))
        .collect();
    bus::config(&bus::Role::Client { connect }, security).expect("a valid configuration")
}

/// The gateway's metrics, or `None` if it did not answer within a few seconds.
pub fn metrics(session: &Session) -> Option<Value> {
    let replies = session
        .get(keys::metrics(&vin(), "gateway"))
        .timeout(Duration::from_secs(5))
        .wait()
        .ok()?;
    let reply = replies.recv().ok()?;
    let sample = reply.result().ok()?;
    serde_json::from_slice(&sample.payload().to_bytes()).ok()
}

/// Polls the metrics until `want` holds; panics with the last answer after `timeout`.
pub fn wait_metrics(
    session: &Session,
    timeout: Duration,
    what: &str,
    want: impl Fn(&Value) -> bool,
) -> Value {
    poll_metrics(
        timeout,
        Duration::from_millis(200),
        what,
        || metrics(session),
        want,
    )
}

/// Polls `fetch` (the gateway's metrics, however they are read) every `period` until `want`
/// holds; panics with the last answer after `timeout`.
pub fn poll_metrics(
    timeout: Duration,
    period: Duration,
    what: &str,
    fetch: impl Fn() -> Option<Value>,
    want: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(m) = fetch() {
            if want(&m) {
                return m;
            }
            last = Some(m);
        }
        std::thread::sleep(period);
    }
    panic!("metrics never showed {what} within {timeout:?}; last: {last:#?}");
}

/// `vsiem sim flood` arguments of the compromised IVI's flood: its process sensor at `rate`
/// events/s for `duration_ms`.
pub fn ivi_flood_args<'a>(rate: &'a str, duration_ms: &'a str) -> [&'a str; 8] {
    [
        "--ecu",
        "ivi",
        "--sensor",
        "processes",
        "--rate",
        rate,
        "--duration-ms",
        duration_ms,
    ]
}

/// `vsiem sim flood` arguments of the steady traffic beside a flood: the body controller's
/// SOME/IP sensor sending `count` events at `rate` events/s.
pub fn steady_args<'a>(rate: &'a str, count: &'a str) -> [&'a str; 10] {
    [
        "--ecu",
        "body-dc",
        "--sensor",
        "someip",
        "--event",
        "someip.unknown_method",
        "--rate",
        rate,
        "--count",
        count,
    ]
}

/// Starts `vsiem sim flood ARGS`, the test double of a sensor agent.
pub fn flood(args: &[&str]) -> Child {
    super::vsiem()
        .args(["sim", "flood"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("vsiem sim flood starts")
}

/// Waits for a `vsiem sim flood` and returns what it says it published.
pub fn published(child: Child) -> Value {
    let output = child.wait_with_output().expect("vsiem sim flood ends");
    assert!(
        output.status.success(),
        "vsiem sim flood failed: {output:?}"
    );
    serde_json::from_slice(&output.stdout).expect("one JSON line")
}

/// One report the gateway's ingest raised about a sensor (a SensorHealth event).
#[derive(Debug, Clone)]
pub struct Report {
    pub name: &'static str,
    pub subject: String,
    pub reason: String,
    pub dropped: u64,
}

/// Every report the gateway raised about sensors and its backbone since `reports` was called.
pub struct Reports {
    seen: Arc<Mutex<Vec<Report>>>,
    _subscriber: Subscriber<()>,
}

pub fn reports(session: &Session) -> Reports {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let subscriber = session
        .declare_subscriber(keys::event(&vin(), "gateway", "*"))
        .callback(move |sample| {
            let bytes = sample.payload().to_bytes();
            let event = read::event(&bytes).expect("the gateway's events verify");
            let health = event.context_as_sensor_health().expect("a health report");
            sink.lock().unwrap().push(Report {
                name: catalog::name_of(event.event_id()),
                subject: health.subject().unwrap_or_default().to_owned(),
                reason: health.reason().unwrap_or_default().to_owned(),
                dropped: health.dropped(),
            });
        })
        .wait()
        .expect("a subscriber of the gateway's reports");
    Reports {
        seen,
        _subscriber: subscriber,
    }
}

impl Reports {
    /// The reports of type `name` about `subject` so far.
    pub fn about(&self, name: &str, subject: &str) -> Vec<Report> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|r| r.name == name && r.subject == subject)
            .cloned()
            .collect()
    }

    /// The drops that reports of type `name` about `subject` added up to so far.
    pub fn dropped(&self, name: &str, subject: &str) -> u64 {
        self.about(name, subject).iter().map(|r| r.dropped).sum()
    }

    /// Waits until `want` holds of the reports; panics with all of them after `timeout`.
    pub fn wait(&self, timeout: Duration, what: &str, want: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if want(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "no {what} within {timeout:?}; reports: {:#?}",
            self.seen.lock().unwrap()
        );
    }
}
