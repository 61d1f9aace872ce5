//! The container testbed of the scenario tests `tests/testbed_*.rs`: the image built once per
//! test binary (deploy/container/build over the release binary), the reference vehicle's
//! compose file from `vsiem topology compose`, and the handles a scenario needs: exec in a
//! container, the monitor and the metrics (run in the gateway's container, so that the host
//! puts nothing on the vehicle's networks), kill and restart, cutting a zone or the V-SOC off
//! with nftables, each container's peak memory against its limit. Everything is taken down
//! when the testbed is dropped, also when the test panics (whose logs are printed first).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use vsiem_topology::Topology;

use super::Running;

const IMAGE: &str = "vsiem-testbed:test";
/// Every testbed project's name starts so; a leftover of a killed run is removed by the next.
const PROJECT_PREFIX: &str = "vsiem-tb-";
/// The table the testbed's own fault rules live in, apart from the enforcer's `inet vsiem`.
const FAULT_TABLE: &str = "vsiem_fault";
pub const WAIT: Duration = Duration::from_secs(60);

/// Why the testbed cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !works("docker", &["info"]) {
        return Some("a Docker engine (`docker info` failed)".into());
    }
    if !works("docker-compose", &["version"]) {
        return Some("docker-compose".into());
    }
    ["nft", "ethtool", "busybox", "ldd", "objcopy"]
        .into_iter()
        .find(|tool| !works("sh", &["-c", &format!("command -v {tool}")]))
        .map(|tool| format!("the {tool} tool (the image is built from the machine's)"))
}

/// Runs a command that must succeed; returns its stdout.
fn run(command: &mut Command) -> String {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Builds the image from the test's `vsiem` binary, once per test binary.
fn image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        run(Command::new(root.join("deploy/container/build"))
            .args([env!("CARGO_BIN_EXE_vsiem"), IMAGE]));
    });
    IMAGE
}

/// Removes every container and network a testbed left behind (a run killed before its drop).
fn remove_leftovers() {
    for (kind, list) in [("container", "ps"), ("network", "network")] {
        let mut args = vec![list];
        if kind == "container" {
            args.push("-a");
        } else {
            args.push("ls");
        }
        let filter = format!("name={PROJECT_PREFIX}");
        args.extend(["-q", "--filter", &filter]);
        let ids = run(Command::new("docker").args(&args));
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            continue;
        }
        let mut rm = Command::new("docker");
        match kind {
            "container" => rm.args(["rm", "-f"]),
            _ => rm.args(["network", "rm"]),
        };
        let _ = rm.args(ids).stdout(Stdio::null()).status();
    }
}

/// The ECUs that run a sensor agent.
pub fn agents() -> Vec<String> {
    Topology::reference()
        .ecus
        .iter()
        .filter(|e| !e.sensors.is_empty())
        .map(|e| e.name.clone())
        .collect()
}

/// Memory of one container, from its cgroup (v1 or v2).
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub peak: u64,
    pub limit: u64,
}

/// One running testbed of the reference vehicle.
pub struct Testbed {
    project: String,
    dir: PathBuf,
    compose: PathBuf,
    pub started: Instant,
}

impl Testbed {
    /// The reference vehicle in containers for `scenario`, with `drive` for its signals, up
    /// and every agent watching: the monitor, what it printed until then (`seen`: whatever a
    /// scenario judges, it judges from the start) and `rx` following the bus from then on;
    /// `None` when Docker is missing and VSIEM_SKIP_DOCKER_TESTS=1 opts out, a failure saying
    /// so without it.
    pub fn up(
        scenario: &str,
        drive: &str,
    ) -> Option<(Self, Running, mpsc::Receiver<Value>, Vec<Value>)> {
        if let Some(missing) = missing_prerequisite() {
            if std::env::var_os("VSIEM_SKIP_DOCKER_TESTS").is_some() {
                eprintln!("skipped (VSIEM_SKIP_DOCKER_TESTS): needs {missing}");
                return None;
            }
            panic!(
                "this test needs {missing}; set VSIEM_SKIP_DOCKER_TESTS=1 to skip it explicitly"
            );
        }
        let started = Instant::now();
        let image = image();
        remove_leftovers();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("testbed-{scenario}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("topology")).unwrap();
        let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("topology");
        for file in ["reference.toml", "reference-intel.json"] {
            std::fs::copy(reference.join(file), dir.join("topology").join(file)).unwrap();
        }
        super::bus::issue_pki(&Topology::reference(), &format!("testbed-{scenario}/pki"));
        let compose = dir.join("compose.yml");
        let yaml = run(Command::new(env!("CARGO_BIN_EXE_vsiem")).args([
            "topology",
            "compose",
            "--topology",
            &dir.join("topology/reference.toml").to_string_lossy(),
            "--pki",
            &dir.join("pki").to_string_lossy(),
            "--state",
            &dir.join("state").to_string_lossy(),
            "--image",
            image,
            "--drive",
            drive,
        ]));
        std::fs::write(&compose, yaml).unwrap();
        let testbed = Self {
            project: format!("{PROJECT_PREFIX}{scenario}"),
            dir,
            compose,
            started,
        };
        // The gateway first, then its monitor, then the ECUs: each agent's liveliness is then
        // seen as it comes, not from the history a late subscriber asks for.
        testbed.compose(&["up", "-d", "--no-color", "gateway", "vsoc"]);
        let (monitor, rx) = testbed.monitor();
        testbed.compose(&["up", "-d", "--no-color"]);
        let agents = agents();
        let mut seen = Vec::new();
        collect_until(&rx, &mut seen, WAIT, "every agent up", |seen| {
            agents.iter().all(|agent| {
                seen.iter()
                    .any(|l| l["kind"] == "alive" && l["up"] == true && l["ecu"] == *agent)
            })
        });
        Some((testbed, monitor, rx, seen))
    }

    fn compose(&self, args: &[&str]) -> String {
        run(Command::new("docker-compose")
            .args(["-p", &self.project, "-f"])
            .arg(&self.compose)
            .args(args))
    }

    /// The Docker name of a service's container.
    pub fn container(&self, service: &str) -> String {
        format!("{}_{service}_1", self.project)
    }

    /// The host directory mounted writable at /var/lib/vsiem in `service`.
    pub fn state(&self, service: &str) -> PathBuf {
        self.dir.join("state").join(service)
    }

    /// `docker exec SERVICE ARGS`, whatever its outcome.
    pub fn exec(&self, service: &str, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("exec")
            .arg(self.container(service))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("docker exec runs")
    }

    /// `docker exec SERVICE ARGS`, which must succeed; its stdout.
    pub fn exec_ok(&self, service: &str, args: &[&str]) -> String {
        let output = self.exec(service, args);
        assert!(
            output.status.success(),
            "{service}: {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `vsiem ARGS --addressing container` in `service` (topology and PKI from its
    /// environment), as a command to spawn.
    pub fn vsiem(&self, service: &str, args: &[&str]) -> Command {
        let mut command = Command::new("docker");
        command
            .arg("exec")
            .arg(self.container(service))
            .arg("vsiem")
            .args(args)
            .args(["--addressing", "container"]);
        command
    }

    /// `vsiem attack --scenario reference --from PLACE` in `service` (the attacker's steps from
    /// its vantage point), as a command to spawn: it prints the steps as JSON lines.
    pub fn attack_command(&self, service: &str, place: &str) -> Command {
        let ivi = Topology::reference()
            .ecu_address("ivi", vsiem_topology::AddressMode::Container)
            .expect("the reference vehicle has an IVI");
        let media = format!("{ivi}:{}", vsiem_actors::sim::ivi_media::PORT);
        let args = [
            "attack",
            "--scenario",
            "reference",
            "--from",
            place,
            "--ivi-media",
            &media,
        ];
        let mut command = self.vsiem(service, &args);
        command.stdin(Stdio::null());
        command
    }

    /// Runs `attack_command`, which must succeed; the steps it printed.
    pub fn attack(&self, service: &str, place: &str) -> Vec<Value> {
        let output = self
            .attack_command(service, place)
            .output()
            .expect("docker exec runs");
        assert!(output.status.success(), "the attack failed: {output:?}");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON step"))
            .collect()
    }

    /// The reference attack's exploit from the attacker's container, which must reach the
    /// IVI's media service.
    pub fn exploit(&self) {
        let exploit = self.attack("attacker", "outside");
        assert!(
            exploit
                .first()
                .and_then(|step| step["outcome"].as_str())
                .is_some_and(|o| o.starts_with("OK")),
            "the exploit did not reach the IVI's media service: {exploit:?}"
        );
    }

    /// The incident versions in the V-SOC's store (its state directory), in the order stored.
    pub fn vsoc_store(&self) -> Vec<Value> {
        super::escalation::read_store(&self.state("vsoc").join("vsoc-incidents.jsonl"))
    }

    /// Polls the metrics, draining `rx` into `seen`, until every sensor's lane has caught up
    /// with what the monitor saw it send (`caught_up`); panics with the last answer and why
    /// after `timeout`.
    pub fn wait_caught_up(
        &self,
        rx: &mpsc::Receiver<Value>,
        seen: &mut Vec<Value>,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let mut last = (None, String::from("no metrics answered"));
        while Instant::now() < deadline {
            seen.extend(rx.try_iter());
            if let Some(m) = self.metrics() {
                match caught_up(&m, seen) {
                    Ok(()) => return m,
                    Err(why) => last = (Some(m), why),
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!(
            "the sensors' lanes never caught up within {timeout:?}: {}; last: {:#?}",
            last.1, last.0
        );
    }

    /// `vsiem monitor --json` in the gateway's container (its pid kept for `stop_monitor`:
    /// ending `docker exec` leaves the process inside running).
    pub fn monitor(&self) -> (Running, mpsc::Receiver<Value>) {
        let mut command = Command::new("docker");
        command.arg("exec").arg(self.container("gateway")).args([
            "sh",
            "-c",
            "echo $$ > /var/lib/vsiem/monitor.pid; \
             exec vsiem monitor --json --addressing container",
        ]);
        super::follow(command)
    }

    /// Stops the monitor in the gateway's container (a flood would make it print every event).
    pub fn stop_monitor(&self) {
        self.exec_ok(
            "gateway",
            &["sh", "-c", "kill $(cat /var/lib/vsiem/monitor.pid)"],
        );
    }

    /// One answer of the gateway's metrics, or `None`.
    pub fn metrics(&self) -> Option<Value> {
        let output = self
            .vsiem("gateway", &["monitor", "--metrics"])
            .stdin(Stdio::null())
            .output()
            .ok()?;
        serde_json::from_slice(&output.stdout).ok()
    }

    /// Polls the metrics until `want` holds; panics with the last answer after `timeout`.
    pub fn wait_metrics(
        &self,
        timeout: Duration,
        what: &str,
        want: impl Fn(&Value) -> bool,
    ) -> Value {
        super::bus::poll_metrics(
            timeout,
            Duration::from_millis(500),
            what,
            || self.metrics(),
            want,
        )
    }

    /// SIGKILL to every process of `service` (the container stops, as a crashed ECU would).
    pub fn kill(&self, service: &str) {
        run(Command::new("docker").args(["kill", &self.container(service)]));
    }

    /// Starts a stopped `service` again, with its state directory as it was.
    pub fn start(&self, service: &str) {
        run(Command::new("docker").args(["start", &self.container(service)]));
    }

    /// Whether `service` runs, and whether the kernel killed it for memory.
    pub fn status(&self, service: &str) -> (bool, bool) {
        let out = run(Command::new("docker").args([
            "inspect",
            "-f",
            "{{.State.Running}} {{.State.OOMKilled}}",
            &self.container(service),
        ]));
        let mut words = out.split_whitespace();
        (words.next() == Some("true"), words.next() == Some("true"))
    }

    /// Asserts that every container of the testbed still runs, none was killed for memory,
    /// and each stayed below its limit (`memory`, from `report`).
    pub fn assert_within_limits(&self, memory: &BTreeMap<String, Memory>) {
        let services = self.compose(&["ps", "--services"]);
        for service in services.split_whitespace() {
            assert_eq!(
                self.status(service),
                (true, false),
                "{service} (running, OOM-killed)"
            );
        }
        for (service, m) in memory {
            assert!(m.peak < m.limit, "{service} reached its memory limit");
        }
    }

    /// Drops, in `service`'s container, every packet matching one of `rules` (a hook, `input`,
    /// `output` or `forward`, and an nft match), in the testbed's own table; `heal` removes
    /// them all.
    fn fault(&self, service: &str, rules: &[(&str, String)]) {
        let mut script = format!("table inet {FAULT_TABLE} {{\n");
        for hook in ["input", "output", "forward"] {
            script.push_str(&format!(
                "  chain {hook} {{ type filter hook {hook} priority -20; policy accept; }}\n"
            ));
        }
        script.push_str("}\n");
        for (hook, rule) in rules {
            script.push_str(&format!("add rule inet {FAULT_TABLE} {hook} {rule} drop\n"));
        }
        let file = format!("/var/lib/vsiem/{FAULT_TABLE}.nft");
        std::fs::write(
            self.state(service).join(format!("{FAULT_TABLE}.nft")),
            script,
        )
        .unwrap();
        self.exec_ok(service, &["nft", "-f", &file]);
    }

    /// Cuts `zone` off the gateway, as a zonal switch that lost its uplink would: nothing
    /// between the zone's ECUs and the gateway itself (its router, its ingest), nothing
    /// forwarded into or out of the zone. The ECUs of the zone still reach each other.
    pub fn partition_zone(&self, zone: &str) {
        self.fault(
            "gateway",
            &[
                ("input", format!("iifname \"{zone}\"")),
                ("output", format!("oifname \"{zone}\"")),
                ("forward", format!("iifname \"{zone}\"")),
                ("forward", format!("oifname \"{zone}\"")),
            ],
        );
    }

    /// The V-SOC unreachable: the TCU forwards nothing to or from it.
    pub fn cut_vsoc(&self) {
        let vsoc = Topology::reference().vsoc_address(vsiem_topology::AddressMode::Container);
        self.fault(
            "tcu",
            &[
                ("forward", format!("ip daddr {vsoc}")),
                ("forward", format!("ip saddr {vsoc}")),
            ],
        );
    }

    /// Removes the faults of `partition_zone` (in the gateway) or `cut_vsoc` (in the TCU).
    pub fn heal(&self, service: &str) {
        self.exec_ok(service, &["nft", "delete", "table", "inet", FAULT_TABLE]);
    }

    /// The peak memory and the limit of every running container, by service.
    pub fn memory(&self) -> BTreeMap<String, Memory> {
        let services = self.compose(&["ps", "--services", "--filter", "status=running"]);
        services
            .split_whitespace()
            .filter_map(|service| {
                // cgroup v1, then v2.
                let read = |files: [&str; 2]| -> Option<Memory> {
                    let out = self.exec(service, &["cat", files[0], files[1]]);
                    let text = String::from_utf8_lossy(&out.stdout);
                    let mut numbers = text.split_whitespace().map(str::parse::<u64>);
                    Some(Memory {
                        peak: numbers.next()?.ok()?,
                        limit: numbers.next()?.ok()?,
                    })
                };
                let memory = read([
                    "/sys/fs/cgroup/memory/memory.max_usage_in_bytes",
                    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                ])
                .or_else(|| read(["/sys/fs/cgroup/memory.peak", "/sys/fs/cgroup/memory.max"]))?;
                Some((service.to_owned(), memory))
            })
            .collect()
    }

    /// Prints the scenario's numbers: per sensor, events `sent` (by `sent`, from what the
    /// monitor saw, or as the senders said; "-" where unknown), received, duplicated and lost
    /// at the gateway; peak memory per container against its limit; the runtime so far.
    pub fn report(
        &self,
        scenario: &str,
        sent: &BTreeMap<String, u64>,
        metrics: &Value,
    ) -> BTreeMap<String, Memory> {
        self.report_with(scenario, sent, metrics, &[])
    }

    /// `report`, and the scenario's own numbers (a recovery time...), one line each.
    pub fn report_with(
        &self,
        scenario: &str,
        sent: &BTreeMap<String, u64>,
        metrics: &Value,
        numbers: &[(&str, String)],
    ) -> BTreeMap<String, Memory> {
        println!(
            "== {scenario}: events per sensor (recorded = by every gateway run, durable; \
             received, duplicated = by this run)"
        );
        println!(
            "{:<22} {:>8} {:>9} {:>9} {:>11} {:>6}",
            "sensor", "sent", "recorded", "received", "duplicated", "lost"
        );
        let count = |s: &Value, f: &str| s[f].as_u64().unwrap_or(0);
        if let Some(sensors) = metrics["sensors"].as_object() {
            for (name, s) in sensors
                .iter()
                .filter(|(_, s)| count(s, "received") > 0 || count(s, "recorded") > 0)
            {
                println!(
                    "{name:<22} {:>8} {:>9} {:>9} {:>11} {:>6}",
                    sent.get(name).map_or("-".into(), u64::to_string),
                    count(s, "recorded"),
                    count(s, "received"),
                    count(s, "duplicates") + count(s, "replays"),
                    count(s, "lost"),
                );
            }
        }
        let memory = self.memory();
        println!("== {scenario}: peak memory per container");
        for (service, m) in &memory {
            println!(
                "{service:<14} {:>7.1} MiB of {:>6.0} MiB ({:.0}%)",
                m.peak as f64 / 1048576.0,
                m.limit as f64 / 1048576.0,
                100.0 * m.peak as f64 / m.limit as f64
            );
        }
        for (what, number) in numbers {
            println!("== {scenario}: {what}: {number}");
        }
        println!(
            "== {scenario}: {:.1} s",
            self.started.elapsed().as_secs_f64()
        );
        memory
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = Command::new("docker-compose")
                .args(["-p", &self.project, "-f"])
                .arg(&self.compose)
                .args(["logs", "--no-color", "--tail", "30"])
                .output();
            if let Ok(logs) = logs {
                eprintln!("{}", String::from_utf8_lossy(&logs.stdout));
            }
        }
        let _ = Command::new("docker-compose")
            .args(["-p", &self.project, "-f"])
            .arg(&self.compose)
            .args(["down", "-v", "-t", "1", "--remove-orphans"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Drains `rx` into `seen` until `want` holds of everything seen; panics after `timeout`.
pub fn collect_until(
    rx: &mpsc::Receiver<Value>,
    seen: &mut Vec<Value>,
    timeout: Duration,
    what: &str,
    want: impl Fn(&[Value]) -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !want(seen) {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("no {what} within {timeout:?}; saw {seen:#?}"));
        if let Ok(line) = rx.recv_timeout(left) {
            seen.push(line);
        }
    }
}

/// Drains `rx` into `seen` for `d`.
pub fn collect_for(rx: &mpsc::Receiver<Value>, seen: &mut Vec<Value>, d: Duration) {
    let deadline = Instant::now() + d;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Ok(line) = rx.recv_timeout(left) {
            seen.push(line);
        }
    }
}

/// Highest sequence number the monitor saw each sensor send ("ecu/sensor"), resends included.
pub fn sent(seen: &[Value]) -> BTreeMap<String, u64> {
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    for l in seen.iter().filter(|l| l["kind"] == "event") {
        let key = format!("{}/{}", text(&l["ecu"]), text(&l["sensor"]));
        let seq = l["seq"].as_u64().unwrap_or(0);
        let entry = sent.entry(key).or_default();
        *entry = (*entry).max(seq);
    }
    sent
}

/// Whether every event the monitor saw a sensor send was recorded exactly once: per sensor of
/// the gateway's durable records, `recorded == last_seq` (each sequence number once, the
/// store having been made before the sensors' first events), no gap, nothing lost or stale,
/// its lane empty, and `last_seq` at least the highest sequence number seen. The gateway's own
/// reporters (ingest, escalator...) publish without a lane and may have no record.
pub fn caught_up(metrics: &Value, seen: &[Value]) -> Result<(), String> {
    let count = |s: &Value, f: &str| s[f].as_u64().unwrap_or(0);
    let sensors = metrics["sensors"]
        .as_object()
        .ok_or("no sensors in the metrics")?;
    for (name, s) in sensors.iter().filter(|(_, s)| !s["last_seq"].is_null()) {
        let (recorded, last) = (count(s, "recorded"), count(s, "last_seq"));
        if recorded != last {
            return Err(format!("{name}: recorded {recorded}, last_seq {last}"));
        }
        for field in ["gaps", "lost", "stale", "queue_depth"] {
            if count(s, field) != 0 {
                return Err(format!("{name}: {field} {}", count(s, field)));
            }
        }
    }
    for (name, seq) in sent(seen) {
        let last = sensors.get(&name).map(|s| count(s, "last_seq"));
        match last {
            None if name.starts_with("gateway/") => {}
            None => return Err(format!("{name}: sent up to {seq}, no record")),
            Some(last) if last < seq => {
                return Err(format!("{name}: sent up to {seq}, recorded up to {last}"))
            }
            Some(_) => {}
        }
    }
    Ok(())
}
