//! Test harness: a private local Kubernetes per test (own state dir, ports and pod IP range),
//! started with `scripts/kube-up.sh` and always stopped with `scripts/kube-down.sh` on drop.
#![allow(dead_code)]

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One running environment; dropping it stops every process it started.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub slot: u16,
    pub client: Client,
    /// How long `kube-up.sh` took (control plane up and the Node Ready).
    pub startup: Duration,
    /// Held for the environment's lifetime: a bound port is the slot's cross-process lock.
    _slot_lock: TcpListener,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// cargo's target directory (where the broker binary is built).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo().join("target"), PathBuf::from)
}

fn take_slot() -> anyhow::Result<(u16, TcpListener)> {
    for slot in 1..=60u16 {
        if let Ok(l) = TcpListener::bind(("127.0.0.1", 16_900 + slot)) {
            return Ok((slot, l));
        }
    }
    bail!("no free localkube slot (ports 16901..16960 all taken)")
}

/// Runs `scripts/kube-down.sh` for the state directory `dir`.
pub fn kube_down(dir: &Path) -> anyhow::Result<String> {
    let out = Command::new(repo().join("scripts/kube-down.sh"))
        .env("EDDY_KUBE_DIR", dir)
        .output()
        .context("running scripts/kube-down.sh")?;
    if !out.status.success() {
        bail!(
            "kube-down.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Env {
    /// Starts etcd, kube-apiserver, kube-controller-manager and the node agent.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(&[]).await
    }

    /// Starts an environment whose image map has `extra` entries besides `eddy/fixture`.
    pub async fn start_with(extra: &[(&str, PathBuf)]) -> anyhow::Result<Self> {
        let (slot, lock) = take_slot()?;
        let dir = tempfile::Builder::new()
            .prefix("localkube-test-")
            .tempdir()?;
        let mut map = format!(
            "eddy/fixture: {}\n",
            env!("CARGO_BIN_EXE_localkube-fixture")
        );
        for (image, bin) in extra {
            map.push_str(&format!("{image}: {}\n", bin.display()));
        }
        std::fs::write(dir.path().join("images.yaml"), map)?;
        let started = Instant::now();
        let out = Command::new(repo().join("scripts/kube-up.sh"))
            .env("EDDY_KUBE_DIR", dir.path())
            .env("EDDY_KUBE_SLOT", slot.to_string())
            .env("NODE_AGENT", env!("CARGO_BIN_EXE_node-agent"))
            .env("EDDY_IMAGE_MAP", dir.path().join("images.yaml"))
            .env("EDDY_KUBE_BACKOFF_MS", "1000")
            .env("CARGO_TARGET_DIR", target_dir())
            .output()
            .context("running scripts/kube-up.sh")?;
        let startup = started.elapsed();
        if !out.status.success() {
            let _ = kube_down(dir.path());
            bail!(
                "kube-up.sh failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let client = match client(&dir.path().join("kubeconfig")).await {
            Ok(c) => c,
            Err(e) => {
                let _ = kube_down(dir.path());
                return Err(e);
            }
        };
        Ok(Self {
            dir,
            slot,
            client,
            startup,
            _slot_lock: lock,
        })
    }

    /// The pod IP prefix of this environment (`127.<20+slot>`).
    pub fn pod_net(&self) -> String {
        format!("127.{}", 20 + self.slot)
    }

    /// Every PID file the environment wrote (components and container processes).
    pub fn pid_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut dirs = vec![self.dir.path().join("run")];
        if let Ok(pods) = std::fs::read_dir(self.dir.path().join("agent/pods")) {
            dirs.extend(pods.flatten().map(|e| e.path()));
        }
        for d in dirs {
            for f in std::fs::read_dir(d).into_iter().flatten().flatten() {
                if f.path().extension().is_some_and(|e| e == "pid") {
                    out.push(f.path());
                }
            }
        }
        out
    }

    /// The agent's log, for failure messages.
    pub fn agent_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logs/node-agent.log")).unwrap_or_default()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Err(e) = kube_down(self.dir.path()) {
            eprintln!("stopping the test environment: {e}");
        }
    }
}

async fn client(kubeconfig: &Path) -> anyhow::Result<Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await?;
    Ok(Client::try_from(cfg)?)
}

/// Polls `check` every 200 ms until it returns `Some`, or fails after `timeout` (scaled) with
/// `what`: the shared poll-with-deadline helper, for checks that return `Ok(None)` while not
/// ready and `Err` for a transient failure (the last one is reported).
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let poll = Duration::from_millis(200);
    let value = eddy_test_support::eventually_async(what, timeout, poll, || {
        let check = check();
        async move {
            match check.await {
                Ok(Some(v)) => Ok(v),
                Ok(None) => Err("not yet".to_owned()),
                Err(e) => Err(format!("error: {e:#}")),
            }
        }
    })
    .await?;
    Ok(value)
}

/// The pod's condition `kind` is "True".
pub fn condition(pod: &Pod, kind: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == kind && c.status == "True"))
}

/// Waits until the named pod is Ready and returns it.
pub async fn ready_pod(api: &Api<Pod>, name: &str, timeout: Duration) -> anyhow::Result<Pod> {
    eventually(timeout, &format!("pod {name} Ready"), || async {
        Ok(api
            .get_opt(name)
            .await?
            .filter(|p| condition(p, "Ready") && p.metadata.deletion_timestamp.is_none()))
    })
    .await
}

/// A tiny HTTP/1.0 GET returning the body (for the fixture's endpoints).
pub async fn http_get(addr: &str, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .await?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await?;
    let (head, body) = buf.split_once("\r\n\r\n").context("malformed response")?;
    if !head.contains(" 200 ") {
        bail!("GET {path}: {head}");
    }
    Ok(body.to_owned())
}

/// Whether a process with this PID exists (zombies count as gone).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}
