//! Container processes: how one run of a container is started, signalled and reaped.
//!
//! Each run is its own process group (so SIGTERM/SIGKILL reach anything it forked) whose PID is
//! written to a file next to its log, letting `kube-down.sh` clean up even after a crash of the
//! agent. With volume mounts the run goes through `unshare` + `node-agent mount-exec`, which
//! `exec`s the program, so the PID stays the container's own.

use crate::mount_exec::Bind;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Errors of starting a container process.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("opening log file {path}: {source}")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("starting {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("writing pid file {path}: {source}")]
    PidFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How to start one container run.
#[derive(Debug, Clone)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub binds: Vec<Bind>,
    pub log: PathBuf,
    pub pid_file: PathBuf,
    /// This binary, for the `mount-exec` step.
    pub agent_exe: PathBuf,
}

/// Starts the run; stdout and stderr are appended to the log file.
pub fn spawn(l: &Launch) -> Result<tokio::process::Child, Error> {
    let log = File::options()
        .create(true)
        .append(true)
        .open(&l.log)
        .map_err(|source| Error::Log {
            path: l.log.clone(),
            source,
        })?;
    let log2 = log.try_clone().map_err(|source| Error::Log {
        path: l.log.clone(),
        source,
    })?;
    let mut cmd = if l.binds.is_empty() {
        let mut c = tokio::process::Command::new(&l.program);
        c.args(&l.args).current_dir(&l.cwd);
        c
    } else {
        let mut c = tokio::process::Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "--"])
            .arg(&l.agent_exe)
            .arg("mount-exec")
            .arg("--cwd")
            .arg(&l.cwd);
        for b in &l.binds {
            c.arg(if b.read_only { "--bind-ro" } else { "--bind" })
                .arg(b.to_arg());
        }
        c.arg("--").arg(&l.program).args(&l.args);
        c
    };
    cmd.env_clear()
        .envs(l.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .process_group(0);
    let child = cmd.spawn().map_err(|source| Error::Spawn {
        program: l.program.display().to_string(),
        source,
    })?;
    if let Some(pid) = child.id() {
        std::fs::write(&l.pid_file, pid.to_string()).map_err(|source| Error::PidFile {
            path: l.pid_file.clone(),
            source,
        })?;
    }
    Ok(child)
}

/// Sends `signal` to the run's process group; a group that is already gone is not an error.
pub fn signal_group(pid: u32, signal: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = killpg(Pid::from_raw(pid), signal);
    }
}

/// Kills leftovers of a previous agent run: every process group named by a `*.pid` file under
/// `pods_dir/*/`. Returns how many it signalled.
pub fn kill_leftovers(pods_dir: &Path) -> usize {
    let mut n = 0;
    for pod in std::fs::read_dir(pods_dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(pod.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "pid") {
                if let Some(pid) = std::fs::read_to_string(&p)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok())
                {
                    signal_group(pid, Signal::SIGKILL);
                    n += 1;
                }
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    n
}
