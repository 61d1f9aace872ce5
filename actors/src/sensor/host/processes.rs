//! Process start detection for the host sensor: new processes in /proc, and which are intrusions.
//!
//! Pure and synchronous: the actor calls [`ProcessTable::poll`] on a timer and [`judge`]s what it
//! returns. The proc root is a parameter so that tests can use a fake tree.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The kernel truncates `comm` to `TASK_COMM_LEN - 1` bytes.
const COMM_MAX: usize = 15;

/// Bound on the ancestor walk, so that a cycle in a corrupt tree cannot loop forever.
const MAX_ANCESTORS: usize = 64;

/// What /proc says about one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    /// `comm`: the executable's name, truncated by the kernel to 15 bytes.
    pub name: String,
    /// argv joined by ' ', invalid UTF-8 replaced; empty for kernel threads and zombies.
    pub cmdline: String,
    /// Field 22 of stat, clock ticks after boot: a reused pid has a different value.
    pub start_ticks: u64,
}

/// Parses the contents of `/proc/<pid>/stat` into `(comm, ppid, starttime)`.
///
/// `comm` may contain spaces and parentheses, so it ends at the *last* ')'. Returns `None` on
/// malformed input; never panics.
pub fn parse_stat(stat: &str) -> Option<(String, u32, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    if close < open {
        return None;
    }
    let pid = stat[..open].trim_end();
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse::<u32>().ok()?;
    let comm = &stat[open + 1..close];
    // After comm: state (field 3), ppid (4), then fields 5 to 21, then starttime (22).
    let mut fields = stat[close + 1..].split_ascii_whitespace();
    fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let start_ticks = fields.nth(17)?.parse().ok()?;
    Some((comm.to_owned(), ppid, start_ticks))
}

/// The processes seen at the last poll, by pid.
#[derive(Debug)]
pub struct ProcessTable {
    proc_root: PathBuf,
    known: HashMap<u32, ProcessInfo>,
    /// Whether a baseline has been taken; the first successful poll reports nothing.
    primed: bool,
}

impl ProcessTable {
    /// A table over `proc_root`: "/proc" in production, a fake tree in tests.
    pub fn new(proc_root: PathBuf) -> Self {
        ProcessTable {
            proc_root,
            known: HashMap::new(),
            primed: false,
        }
    }

    /// Reads the process list and returns the processes that appeared since the previous call,
    /// oldest first.
    ///
    /// The first successful call is the baseline and returns nothing. A process counts as new
    /// when its pid is new, when its pid was reused (different `start_ticks`), or when it changed
    /// its name since the last poll: a fork that execs a shell after the poll saw the fork would
    /// otherwise pass as its allowed parent. Processes that vanished are forgotten; processes
    /// that exit between listing and reading are skipped silently. If the proc root cannot be
    /// listed the table is kept as it was, so a transient failure does not make every process
    /// look new on the next call.
    pub fn poll(&mut self) -> Vec<ProcessInfo> {
        let current = match read_processes(&self.proc_root) {
            Ok(current) => current,
            Err(err) => {
                tracing::warn!(proc_root = %self.proc_root.display(), error = %err, "Cannot list processes.");
                return Vec::new();
            }
        };
        let mut fresh = Vec::new();
        if self.primed {
            fresh.extend(
                current
                    .values()
                    .filter(|info| {
                        !self.known.get(&info.pid).is_some_and(|old| {
                            old.start_ticks == info.start_ticks && old.name == info.name
                        })
                    })
                    .cloned(),
            );
            // Oldest first, so a parent is reported before the children it started.
            fresh.sort_by_key(|info| (info.start_ticks, info.pid));
        }
        self.known = current;
        self.primed = true;
        fresh
    }

    /// The names of a process's ancestors, nearest first, from the current table.
    ///
    /// Stops after pid 1 (whose name is included), at a parent pid of 0, at an unknown pid, or
    /// after 64 steps to survive cycles in a corrupt tree. Empty for an unknown `pid`.
    pub fn ancestors(&self, pid: u32) -> Vec<&str> {
        let mut names = Vec::new();
        let Some(mut current) = self.known.get(&pid) else {
            return names;
        };
        while names.len() < MAX_ANCESTORS && current.pid > 1 && current.ppid != 0 {
            let Some(parent) = self.known.get(&current.ppid) else {
                break;
            };
            names.push(parent.name.as_str());
            current = parent;
        }
        names
    }
}

/// Lists the numeric entries of `proc_root`, skipping processes that cannot be read.
fn read_processes(proc_root: &Path) -> io::Result<HashMap<u32, ProcessInfo>> {
    let mut processes = HashMap::new();
    for entry in fs::read_dir(proc_root)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        // Only digits: `u32::from_str` would also take "+12", which is not a pid directory.
        let Some(pid) = name
            .to_str()
            .filter(|name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(info) = read_process(&entry.path(), pid) {
            processes.insert(pid, info);
        }
    }
    Ok(processes)
}

/// Reads one process; `None` if it exited meanwhile or its files are malformed.
fn read_process(dir: &Path, pid: u32) -> Option<ProcessInfo> {
    let stat = fs::read(dir.join("stat")).ok()?;
    let (name, ppid, start_ticks) = parse_stat(&String::from_utf8_lossy(&stat))?;
    let cmdline = fs::read(dir.join("cmdline")).ok()?;
    Some(ProcessInfo {
        pid,
        ppid,
        name,
        cmdline: join_cmdline(&cmdline),
        start_ticks,
    })
}

/// Joins NUL-separated argv with spaces.
fn join_cmdline(raw: &[u8]) -> String {
    let args = raw.strip_suffix(&[0]).unwrap_or(raw);
    if args.is_empty() {
        return String::new();
    }
    args.split(|&b| b == 0)
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The verdict of the IVI/TCU rule "a process that belongs to the ECU's software (it or an
/// ancestor has an allowed name) but is not itself allowed is an intrusion".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The process has an allowed name.
    Allowed,
    /// Neither the process nor any ancestor belongs to the ECU's software.
    OutOfScope,
    /// Started within the ECU's software tree but not allowed; `parent` is its direct parent's name.
    Unexpected { parent: String },
}

/// Applies the IVI/TCU rule to a new process, given its ancestors' names nearest first.
///
/// On a single demo machine the ECU's processes share the host with everything else, so the
/// scope is the ECU's software tree. An allowed name longer than 15 bytes also matches its
/// truncation, since that is all `comm` can hold.
pub fn judge(info: &ProcessInfo, ancestors: &[&str], allowed: &[String]) -> Verdict {
    let is_allowed = |comm: &str| allowed.iter().any(|name| comm_matches(comm, name));
    if is_allowed(&info.name) {
        Verdict::Allowed
    } else if ancestors.iter().any(|name| is_allowed(name)) {
        Verdict::Unexpected {
            parent: ancestors.first().copied().unwrap_or_default().to_owned(),
        }
    } else {
        Verdict::OutOfScope
    }
}

fn comm_matches(comm: &str, name: &str) -> bool {
    comm == name || (name.len() > COMM_MAX && name.as_bytes()[..COMM_MAX] == *comm.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stat line shaped like the kernel's, with every field through 52.
    fn stat_line(pid: u32, comm: &str, ppid: u32, start: u64) -> String {
        format!(
            "{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 1514 78020 0 623 39 74 1862 681 \
             20 0 1 0 {start} 36679680 2022 18446744073709551615 1 1 0 0 0 0 0 4096 1256 0 0 0 \
             17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        )
    }

    /// A stat line and the `(comm, ppid, starttime)` expected from it.
    type StatCase<'a> = (&'a str, Option<(&'a str, u32, u64)>);

    #[test]
    fn parse_stat_cases() {
        let cases: &[StatCase] = &[
            (&stat_line(1, "systemd", 0, 7), Some(("systemd", 0, 7))),
            (&stat_line(1234, "a) b) c", 1, 99), Some(("a) b) c", 1, 99))),
            (
                &stat_line(42, "Web Content", 41, 123_456),
                Some(("Web Content", 41, 123_456)),
            ),
            (&stat_line(43, "(sd-pam)", 1, 5), Some(("(sd-pam)", 1, 5))),
            (&stat_line(44, "", 1, 5), Some(("", 1, 5))),
            (&stat_line(45, "nämé", 1, 5), Some(("nämé", 1, 5))),
            // Exactly up to starttime is enough.
            (
                "7 (x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555",
                Some(("x", 1, 555)),
            ),
            // Truncated before starttime.
            ("7 (x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0", None),
            ("7 (x) S 1", None),
            ("7 (x) S", None),
            ("7 (x)", None),
            ("7 (x", None),
            ("", None),
            ("garbage", None),
            (")(", None),
            ("7 )x( S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555", None),
            // No or bad pid.
            ("(x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555", None),
            ("-7 (x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555", None),
            (
                "99999999999 (x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555",
                None,
            ),
            // Non-numeric ppid or starttime.
            ("7 (x) S one 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555", None),
            ("7 (x) S -1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555", None),
            ("7 (x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5x5", None),
        ];
        for (input, expected) in cases {
            let expected = expected.map(|(comm, ppid, start)| (comm.to_owned(), ppid, start));
            assert_eq!(parse_stat(input), expected, "input: {input:?}");
        }
    }

    #[test]
    fn parse_stat_reads_our_own_stat() {
        let stat = fs::read_to_string("/proc/self/stat").unwrap();
        let (comm, ppid, start) = parse_stat(&stat).unwrap();
        assert!(!comm.is_empty());
        // SAFETY: getppid has no preconditions.
        assert_eq!(ppid as libc::pid_t, unsafe { libc::getppid() });
        assert!(start > 0);
    }

    #[test]
    fn cmdline_is_joined_lossily() {
        assert_eq!(join_cmdline(b""), "");
        assert_eq!(join_cmdline(b"sleep\x005\x00"), "sleep 5");
        assert_eq!(join_cmdline(b"sh\x00-c\x00\x00"), "sh -c ");
        assert_eq!(join_cmdline(b"rewritten title"), "rewritten title");
        assert_eq!(join_cmdline(b"bad\xff\x00"), "bad\u{fffd}");
    }

    /// A fake proc tree in a temporary directory.
    struct FakeProc(tempfile::TempDir);

    impl FakeProc {
        fn new() -> Self {
            let fake = FakeProc(tempfile::tempdir().unwrap());
            // Non-process entries, as in the real /proc.
            fs::create_dir(fake.root().join("self")).unwrap();
            fs::create_dir(fake.root().join("+12")).unwrap();
            fs::write(fake.root().join("uptime"), "1.0 1.0\n").unwrap();
            fake
        }

        fn root(&self) -> PathBuf {
            self.0.path().to_path_buf()
        }

        fn add(&self, pid: u32, ppid: u32, comm: &str, start: u64, argv: &[&str]) {
            let dir = self.root().join(pid.to_string());
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("stat"), stat_line(pid, comm, ppid, start)).unwrap();
            let mut cmdline = Vec::new();
            for arg in argv {
                cmdline.extend_from_slice(arg.as_bytes());
                cmdline.push(0);
            }
            fs::write(dir.join("cmdline"), cmdline).unwrap();
        }

        fn remove(&self, pid: u32) {
            fs::remove_dir_all(self.root().join(pid.to_string())).unwrap();
        }

        /// init, the IVI's media player, and a shell unrelated to the IVI.
        fn ivi() -> Self {
            let fake = FakeProc::new();
            fake.add(1, 0, "systemd", 1, &["/sbin/init"]);
            fake.add(
                100,
                1,
                "ivi-media",
                50,
                &["/opt/ivi/apps/ivi-media", "--fast"],
            );
            fake.add(200, 1, "bash", 60, &["-bash"]);
            fake
        }
    }

    fn pids(infos: &[ProcessInfo]) -> Vec<u32> {
        infos.iter().map(|info| info.pid).collect()
    }

    #[test]
    fn first_poll_is_the_baseline_then_new_processes_appear() {
        let fake = FakeProc::ivi();
        let mut table = ProcessTable::new(fake.root());
        assert!(table.poll().is_empty());
        assert_eq!(table.known.len(), 3, "non-numeric entries are ignored");
        assert!(table.poll().is_empty());

        fake.add(301, 100, "sh", 80, &["/bin/sh", "-c", "id"]);
        fake.add(300, 1, "cron", 70, &["cron"]);
        let fresh = table.poll();
        assert_eq!(pids(&fresh), [300, 301], "oldest first");
        assert_eq!(
            fresh[1],
            ProcessInfo {
                pid: 301,
                ppid: 100,
                name: "sh".to_owned(),
                cmdline: "/bin/sh -c id".to_owned(),
                start_ticks: 80,
            }
        );
        assert!(table.poll().is_empty());
    }

    #[test]
    fn reused_pid_is_new() {
        let fake = FakeProc::ivi();
        let mut table = ProcessTable::new(fake.root());
        table.poll();
        fake.add(200, 1, "bash", 90, &["-bash"]);
        assert_eq!(pids(&table.poll()), [200]);
    }

    #[test]
    fn exec_in_a_known_process_is_new() {
        let fake = FakeProc::ivi();
        fake.add(101, 100, "ivi-media", 55, &["/opt/ivi/apps/ivi-media"]);
        let mut table = ProcessTable::new(fake.root());
        table.poll();
        // Same pid and start time, new image: the fork was seen before it exec'd a shell.
        fake.add(101, 100, "sh", 55, &["/bin/sh"]);
        let fresh = table.poll();
        assert_eq!(pids(&fresh), [101]);
        assert_eq!(fresh[0].name, "sh");
    }

    #[test]
    fn vanished_process_is_forgotten() {
        let fake = FakeProc::ivi();
        let mut table = ProcessTable::new(fake.root());
        table.poll();
        fake.remove(200);
        assert!(table.poll().is_empty());
        assert!(table.ancestors(200).is_empty());
        // Forgotten, so the same pid and start time are new again.
        fake.add(200, 1, "bash", 60, &["-bash"]);
        assert_eq!(pids(&table.poll()), [200]);
    }

    #[test]
    fn unreadable_process_is_skipped() {
        let fake = FakeProc::ivi();
        let mut table = ProcessTable::new(fake.root());
        table.poll();
        // Exited between listing and reading: the directory is there, its files are not.
        fs::create_dir(fake.root().join("400")).unwrap();
        fs::create_dir(fake.root().join("401")).unwrap();
        fs::write(fake.root().join("401/stat"), stat_line(401, "x", 1, 9)).unwrap();
        fs::create_dir(fake.root().join("402")).unwrap();
        fs::write(fake.root().join("402/stat"), "402 (garbage").unwrap();
        fs::write(fake.root().join("402/cmdline"), "").unwrap();
        assert!(table.poll().is_empty());
    }

    #[test]
    fn unlistable_root_keeps_the_table() {
        let fake = FakeProc::ivi();
        let mut table = ProcessTable::new(fake.root());
        table.poll();
        let moved = fake.0.path().with_extension("moved");
        fs::rename(fake.root(), &moved).unwrap();
        assert!(table.poll().is_empty());
        assert_eq!(table.ancestors(100), ["systemd"]);
        fs::rename(&moved, fake.root()).unwrap();
        assert!(
            table.poll().is_empty(),
            "nothing looks new after the failure"
        );
    }

    #[test]
    fn ancestors_nearest_first() {
        let fake = FakeProc::ivi();
        fake.add(101, 100, "sh", 70, &["sh"]);
        fake.add(102, 101, "nc", 71, &["nc"]);
        fake.add(500, 499, "orphan", 72, &["orphan"]);
        fake.add(2, 0, "kthreadd", 1, &[]);
        fake.add(3, 2, "kworker/0:0", 1, &[]);
        let mut table = ProcessTable::new(fake.root());
        table.poll();
        assert_eq!(table.ancestors(102), ["sh", "ivi-media", "systemd"]);
        assert_eq!(table.ancestors(100), ["systemd"]);
        assert!(table.ancestors(1).is_empty());
        assert!(table.ancestors(500).is_empty(), "unknown parent");
        assert!(table.ancestors(999).is_empty(), "unknown pid");
        assert_eq!(table.ancestors(3), ["kthreadd"]);
    }

    #[test]
    fn ancestors_survive_a_cycle() {
        let fake = FakeProc::new();
        fake.add(10, 11, "a", 1, &[]);
        fake.add(11, 10, "b", 1, &[]);
        let mut table = ProcessTable::new(fake.root());
        table.poll();
        let names = table.ancestors(10);
        assert_eq!(names.len(), MAX_ANCESTORS);
        assert_eq!(names[..3], ["b", "a", "b"]);
    }

    #[test]
    fn judge_table() {
        let allowed: Vec<String> = [
            "ivi-hmi",
            "ivi-media",
            "ivi-nav",
            "ivi-update",
            "a-very-long-daemon-name",
        ]
        .map(str::to_owned)
        .to_vec();
        let unexpected = |parent: &str| Verdict::Unexpected {
            parent: parent.to_owned(),
        };
        let cases: &[(&str, &[&str], Verdict)] = &[
            ("ivi-media", &["systemd"], Verdict::Allowed),
            ("ivi-update", &["ivi-hmi", "systemd"], Verdict::Allowed),
            ("sh", &["ivi-media", "systemd"], unexpected("ivi-media")),
            ("nc", &["sh", "ivi-media", "systemd"], unexpected("sh")),
            ("bash", &["sshd", "systemd"], Verdict::OutOfScope),
            ("bash", &[], Verdict::OutOfScope),
            ("ivi-medi", &["systemd"], Verdict::OutOfScope),
            ("IVI-MEDIA", &["systemd"], Verdict::OutOfScope),
            // comm holds only 15 bytes of a longer allowed name.
            ("a-very-long-dae", &["systemd"], Verdict::Allowed),
            ("sh", &["a-very-long-dae"], unexpected("a-very-long-dae")),
            ("a-very-long", &["systemd"], Verdict::OutOfScope),
        ];
        for (name, ancestors, expected) in cases {
            let info = ProcessInfo {
                pid: 7,
                ppid: 6,
                name: (*name).to_owned(),
                cmdline: String::new(),
                start_ticks: 1,
            };
            assert_eq!(
                &judge(&info, ancestors, &allowed),
                expected,
                "{name} under {ancestors:?}"
            );
        }
    }

    #[test]
    fn judge_with_nothing_allowed_is_out_of_scope() {
        let info = ProcessInfo {
            pid: 7,
            ppid: 6,
            name: "sh".to_owned(),
            cmdline: String::new(),
            start_ticks: 1,
        };
        assert_eq!(judge(&info, &["ivi-media"], &[]), Verdict::OutOfScope);
    }

    /// Kills and reaps the child even if an assertion fails.
    struct Reaped(std::process::Child);

    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn real_proc_sees_a_spawned_child() {
        let mut table = ProcessTable::new(PathBuf::from("/proc"));
        assert!(table.poll().is_empty());
        let child = Reaped(
            std::process::Command::new("sleep")
                .arg("5")
                .spawn()
                .unwrap(),
        );
        let pid = child.0.id();
        // Right after `spawn` the kernel may still be setting up the new image: wait until its
        // command line is readable, as it is for any process a poll finds a moment later.
        for _ in 0..200 {
            if std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep"))
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let fresh = table.poll();
        let info = fresh
            .iter()
            .find(|info| info.pid == pid)
            .unwrap_or_else(|| panic!("pid {pid} not among {fresh:?}"));
        assert_eq!(info.ppid, std::process::id());
        assert_eq!(info.name, "sleep");
        assert_eq!(info.cmdline, "sleep 5");
        assert!(!table.ancestors(pid).is_empty());
    }
}
