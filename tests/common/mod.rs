//! Helpers shared by the end-to-end tests: running the real `vsiem` binary and reading the JSON
//! lines it prints.

#![allow(dead_code)] // Each test binary uses its own subset of these helpers.

pub mod bus;
pub mod escalation;
pub mod netns;
pub mod testbed;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// `vsiem`, with the reference vehicle's PKI of this test run (`VSIEM_PKI`) and the test
/// binary's state directory (`VSIEM_STATE_DIR`).
pub fn vsiem() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vsiem"));
    command
        .env("RUST_LOG", "warn")
        .env("VSIEM_PKI", bus::pki_dir())
        .env("VSIEM_STATE_DIR", bus::state_dir());
    command
}

/// Runs `vsiem demo --json ARGS` and returns its exit status and JSON lines.
pub fn demo(args: &[&str]) -> (Output, Vec<Value>) {
    let output = vsiem()
        .arg("demo")
        .arg("--json")
        .args(args)
        .output()
        .expect("vsiem demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (output, lines)
}

/// Runs `vsiem replay --json ARGS CAPTURE`, which must succeed, and returns what it printed.
pub fn replay(args: &[&str], capture: &std::path::Path) -> String {
    let output = vsiem()
        .args(["replay", "--json"])
        .args(args)
        .arg(capture)
        .output()
        .expect("vsiem replay runs");
    assert!(
        output.status.success(),
        "{}: {}",
        capture.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

pub fn of_kind<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["kind"] == kind).collect()
}

pub fn summary(lines: &[Value]) -> &Value {
    lines
        .last()
        .filter(|l| l["kind"] == "summary")
        .expect("the last line is the summary")
}

/// A `vsiem` process killed when dropped, whatever the test's outcome.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start(args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut command = vsiem();
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    Running(command.spawn().expect("vsiem starts"))
}

/// `vsiem monitor --json`, its lines delivered through a channel.
pub fn monitor() -> (Running, mpsc::Receiver<Value>) {
    monitor_with(&[])
}

/// `vsiem monitor --json ARGS`, its lines delivered through a channel.
pub fn monitor_with(args: &[&str]) -> (Running, mpsc::Receiver<Value>) {
    let mut command = vsiem();
    command.args(["monitor", "--json"]).args(args);
    follow(command)
}

/// Runs `command` (a `vsiem ... --json` that prints JSON lines), its lines delivered through a
/// channel.
pub fn follow(mut command: Command) -> (Running, mpsc::Receiver<Value>) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("vsiem starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            if tx.send(value).is_err() {
                return;
            }
        }
    });
    (Running(child), rx)
}

/// Waits for the first line satisfying `want`; panics with what was seen after `timeout`.
pub fn wait_for(
    rx: &mpsc::Receiver<Value>,
    timeout: Duration,
    what: &str,
    want: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if want(&line) => return line,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    panic!("no {what} within {timeout:?}; saw {seen:#?}");
}

/// Waits until the liveliness of every agent in `ecus` was seen up, in whatever order.
pub fn wait_up(rx: &mpsc::Receiver<Value>, timeout: Duration, ecus: &[&str]) {
    let mut waiting: Vec<&str> = ecus.to_vec();
    while !waiting.is_empty() {
        let what = format!("{} up", waiting.join(", "));
        let agent = wait_for(rx, timeout, &what, |l| {
            l["kind"] == "alive" && l["up"] == true && ecus.iter().any(|e| l["ecu"] == *e)
        });
        waiting.retain(|e| agent["ecu"] != *e);
    }
}
