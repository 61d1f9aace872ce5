//! Test hosts in Linux network namespaces (root): namespaces joined by veth pairs, commands run
//! inside them, and probes of whether a UDP datagram or a TCP connection gets through. Shared
//! by the tests that need real network stacks (`tests/live_attack.rs`, and
//! `actors/tests/nftables_enforcement.rs`, which includes this file with `#[path]`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Runs a command that must succeed.
pub fn sh(args: &[&str]) {
    let status = Command::new(args[0])
        .args(&args[1..])
        .status()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(status.success(), "{args:?} failed");
}

/// What a root test needs of the machine (root and these tools), or why it cannot run.
pub fn missing_prerequisite(tools: &[&str]) -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("root (network namespaces, nftables, raw sockets)".into());
    }
    tools.iter().find_map(|tool| {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status();
        (!found.is_ok_and(|s| s.success())).then(|| format!("the {tool} tool"))
    })
}

/// False when the test must not run: it lacks a prerequisite and VSIEM_SKIP_ROOT_TESTS=1
/// opts out explicitly. Without the opt-out a missing prerequisite fails the test, saying so.
pub fn prerequisites_met(tools: &[&str]) -> bool {
    let Some(missing) = missing_prerequisite(tools) else {
        return true;
    };
    if std::env::var_os("VSIEM_SKIP_ROOT_TESTS").is_some() {
        eprintln!("skipped (VSIEM_SKIP_ROOT_TESTS): needs {missing}");
        return false;
    }
    panic!("this test needs {missing}; set VSIEM_SKIP_ROOT_TESTS=1 to skip it explicitly");
}

/// A network namespace, deleted (with its interfaces) when dropped.
pub struct Netns(pub String);

impl Netns {
    /// A namespace named `vsiem-<role>-<pid>`, its loopback up.
    pub fn new(role: &str) -> Self {
        let ns = Self(format!("vsiem-{role}-{}", std::process::id()));
        sh(&["ip", "netns", "add", &ns.0]);
        sh(&["ip", "-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    /// `program` run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }

    /// `ip ARGS` inside the namespace, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["ip", "-n", &self.0];
        all.extend(args);
        sh(&all);
    }

    /// Python code run inside the namespace, in the background.
    pub fn python(&self, code: &str) -> Child {
        self.command("python3")
            .args(["-c", code])
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// One end of a veth pair: its namespace, interface name, address (with prefix) and MAC.
pub struct End<'a> {
    pub ns: &'a Netns,
    pub dev: &'a str,
    pub address: &'a str,
    pub mac: Option<&'a str>,
}

/// Joins two namespaces with a veth pair, each end addressed and up.
pub fn veth(a: &End<'_>, b: &End<'_>) {
    sh(&[
        "ip", "link", "add", a.dev, "netns", &a.ns.0, "type", "veth", "peer", "name", b.dev,
        "netns", &b.ns.0,
    ]);
    for end in [a, b] {
        if let Some(mac) = end.mac {
            end.ns.ip(&["link", "set", "dev", end.dev, "address", mac]);
        }
        end.ns.ip(&["addr", "add", end.address, "dev", end.dev]);
        end.ns.ip(&["link", "set", end.dev, "up"]);
    }
}

/// Whether a UDP datagram sent from `from` (15 tries over 1.5 s) reaches a listener on
/// `to_ip:port` in `to`.
pub fn udp_reaches(from: &Netns, to: &Netns, to_ip: &str, port: u16) -> bool {
    let mut listener = to.python(&format!(
        "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('{to_ip}', {port})); s.settimeout(3.0); s.recv(64)"
    ));
    std::thread::sleep(Duration::from_millis(300));
    // A datagram nftables drops fails the send with EPERM; the listener is the judge.
    let sent = from
        .command("python3")
        .args(["-c", &format!(
            "import socket, time\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor _ in range(15):\n  try: s.sendto(b'x', ('{to_ip}', {port}))\n  except OSError: pass\n  time.sleep(0.1)"
        )])
        .status()
        .expect("python3 runs");
    assert!(sent.success(), "the sender failed");
    listener.wait().expect("listener ends").success()
}

/// Whether a TCP connection from `from` to a listener on `to_ip:port` in `to` succeeds.
pub fn tcp_reaches(from: &Netns, to: &Netns, to_ip: &str, port: u16) -> bool {
    let mut listener = to.python(&format!(
        "import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('{to_ip}', {port})); s.listen(1); s.settimeout(3.0); s.accept()"
    ));
    // Retried: the listener may not be listening yet when the first attempt goes out.
    let connected = from
        .command("python3")
        .args(["-c", &format!(
            "import socket, sys, time\nfor _ in range(15):\n  try: socket.create_connection(('{to_ip}', {port}), timeout=0.5); sys.exit(0)\n  except OSError: time.sleep(0.1)\nsys.exit(1)"
        )])
        .stderr(Stdio::null())
        .status()
        .expect("python3 runs")
        .success();
    let accepted = listener.wait().expect("listener ends").success();
    connected && accepted
}
