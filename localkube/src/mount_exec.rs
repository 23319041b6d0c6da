//! `node-agent mount-exec`: the first step inside a container's private mount namespace.
//!
//! The agent starts every container as `unshare --mount --propagation private -- node-agent
//! mount-exec --bind SRC=DST ... -- PROGRAM ARGS`. This step bind-mounts each volume at its real
//! `mountPath` (visible to this process tree only), changes directory and `exec`s the program, so
//! the container process keeps the PID the agent started and sees `/var/lib/eddy`,
//! `/etc/eddy` or `/var/run/secrets/kubernetes.io/serviceaccount` exactly as in a real pod.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Errors of preparing the container's mounts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("parsing bind {0:?}: expected SRC=DST")]
    Spec(String),
    #[error("creating mount point {path}: {source}")]
    MountPoint {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("running mount for {dst}: {detail}")]
    Mount { dst: PathBuf, detail: String },
    #[error("entering working directory {path}: {source}")]
    Cwd {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("executing {program}: {source}")]
    Exec {
        program: String,
        source: std::io::Error,
    },
    #[error("no program to execute after --")]
    NoProgram,
}

/// One bind mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub src: PathBuf,
    pub dst: PathBuf,
    pub read_only: bool,
}

impl Bind {
    /// The command-line form `SRC=DST`.
    #[must_use]
    pub fn to_arg(&self) -> String {
        format!("{}={}", self.src.display(), self.dst.display())
    }

    /// Parses `SRC=DST`.
    pub fn parse(s: &str, read_only: bool) -> Result<Self, Error> {
        let (src, dst) = s.split_once('=').ok_or_else(|| Error::Spec(s.to_owned()))?;
        if src.is_empty() || !dst.starts_with('/') {
            return Err(Error::Spec(s.to_owned()));
        }
        Ok(Self {
            src: src.into(),
            dst: dst.into(),
            read_only,
        })
    }
}

/// Mounts `binds` (in order), enters `cwd` and replaces this process with `program`.
/// Only returns on failure.
pub fn mount_and_exec(binds: &[Bind], cwd: &Path, program: &[String]) -> Error {
    for b in binds {
        if let Err(e) = mount_one(b) {
            return e;
        }
    }
    if let Err(source) = std::env::set_current_dir(cwd) {
        return Error::Cwd {
            path: cwd.to_path_buf(),
            source,
        };
    }
    let Some((first, rest)) = program.split_first() else {
        return Error::NoProgram;
    };
    let source = Command::new(first).args(rest).exec();
    Error::Exec {
        program: first.clone(),
        source,
    }
}

fn mount_one(b: &Bind) -> Result<(), Error> {
    let mount_point = |source| Error::MountPoint {
        path: b.dst.clone(),
        source,
    };
    if b.src.is_dir() {
        std::fs::create_dir_all(&b.dst).map_err(mount_point)?;
    } else if !b.dst.exists() {
        if let Some(parent) = b.dst.parent() {
            std::fs::create_dir_all(parent).map_err(mount_point)?;
        }
        std::fs::write(&b.dst, b"").map_err(mount_point)?;
    }
    run_mount(
        &b.dst,
        &["--bind".as_ref(), b.src.as_os_str(), b.dst.as_os_str()],
    )?;
    if b.read_only {
        run_mount(
            &b.dst,
            &["-o".as_ref(), "remount,bind,ro".as_ref(), b.dst.as_os_str()],
        )?;
    }
    Ok(())
}

fn run_mount(dst: &Path, args: &[&std::ffi::OsStr]) -> Result<(), Error> {
    let out = Command::new("mount")
        .args(args)
        .output()
        .map_err(|e| Error::Mount {
            dst: dst.to_path_buf(),
            detail: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Mount {
            dst: dst.to_path_buf(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_round_trips_and_rejects_relative_targets() {
        let b = Bind::parse("/s/a=/var/lib/eddy", true).unwrap();
        assert_eq!(Bind::parse(&b.to_arg(), true).unwrap(), b);
        assert!(Bind::parse("/s=rel", false).is_err());
        assert!(Bind::parse("nope", false).is_err());
    }
}
