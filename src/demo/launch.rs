//! The demo's processes: each a real `vsiem` process, logging to its own file, stopped on every
//! exit path (also when the demo itself dies: the kernel kills them with it).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, ChildStdout, Command};

pub struct Fleet {
    logs: PathBuf,
    children: Vec<(String, Child)>,
}

impl Fleet {
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        Ok(Self {
            logs,
            children: Vec::new(),
        })
    }

    /// Starts `vsiem ARGS` as `name`; returns its stdout when `piped`.
    pub fn spawn(
        &mut self,
        name: &str,
        args: &[OsString],
        piped: bool,
    ) -> anyhow::Result<Option<ChildStdout>> {
        let exe = std::env::current_exe().context("cannot find the vsiem binary")?;
        let log = File::create(self.log(name))?;
        let mut command = Command::new(exe);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(if piped { Stdio::piped() } else { Stdio::null() })
            .stderr(log)
            .kill_on_drop(true);
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of ours.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) == 0
                {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let stdout = child.stdout.take();
        self.children.push((name.to_owned(), child));
        Ok(stdout)
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{name}.log"))
    }

    /// The first process that exited although it should run, with its status.
    pub fn exited(&mut self, except: &[&str]) -> Option<String> {
        self.children
            .iter_mut()
            .filter(|(name, _)| !except.contains(&name.as_str()))
            .find_map(|(name, child)| match child.try_wait() {
                Ok(Some(status)) => Some(format!(
                    "{name} exited ({status}); see {}",
                    self.logs.join(format!("{name}.log")).display()
                )),
                _ => None,
            })
    }

    /// Peak resident memory (VmHWM) of each running process, in KiB.
    pub fn peak_rss_kb(&self) -> BTreeMap<String, u64> {
        self.children
            .iter()
            .filter_map(|(name, child)| {
                let status =
                    std::fs::read_to_string(format!("/proc/{}/status", child.id()?)).ok()?;
                let kb = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()?;
                Some((name.clone(), kb))
            })
            .collect()
    }

    /// Asks every process to stop, then kills those still running after a grace period.
    pub async fn stop(&mut self) {
        for (_, child) in &self.children {
            if let Some(pid) = child.id().and_then(|p| libc::pid_t::try_from(p).ok()) {
                // SAFETY: kill(2) takes plain integers.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
        for (_, child) in &mut self.children {
            if tokio::time::timeout(Duration::from_secs(3), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }
}
