//! The local Kubernetes as a test fixture for other crates' end-to-end tests (the API's
//! provisioning test, the operator's e2e; the operator's chart test uses `python`): a private environment started with
//! scripts/kube-up.sh in its own slot and directory, the Helm chart installed with the real Helm
//! SDK, and small helpers to wait and run commands. Included with
//! `#[path = "../../localkube/tests/support/stack.rs"] mod stack;`; needs `anyhow`, `kube`,
//! `tokio` and `tempfile`. Everything it starts is stopped by PID files
//! (scripts/kube-down.sh) on drop.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};

/// The workspace root (every crate is one level below it).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// cargo's target directory (where the pod binaries are built).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo().join("target"), PathBuf::from)
}

/// The test venv's python (helm-python-sdk), else the system one.
pub fn python() -> PathBuf {
    let cache = std::env::var("EDDY_CACHE").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/eddy"),
        PathBuf::from,
    );
    let venv = cache.join("venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Runs a command to completion; its stdout, or an error with both outputs.
pub fn run(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Builds the binaries localkube runs: the node agent, and the broker and operator the chart's
/// images map to.
pub fn build_pod_binaries() -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for (pkg, bin) in [
        ("eddy-localkube", "node-agent"),
        ("eddy-broker", "broker"),
        ("eddy-broker", "broker-0-2-0"),
        ("eddy-operator", "operator"),
    ] {
        let mut cmd = Command::new(&cargo);
        // Without the variables cargo sets for the running test (CARGO_MANIFEST_DIR, ...): build
        // scripts such as ring's rerun when they change, which would rebuild the TLS stack on
        // every test run and again on the next plain `cargo build`.
        for (key, _) in std::env::vars_os() {
            if key
                .to_str()
                .is_some_and(|k| k.starts_with("CARGO_") && k != "CARGO_HOME")
            {
                cmd.env_remove(key);
            }
        }
        run(
            cmd.args(["build", "-q", "-p", pkg, "--bin", bin])
                .env("CARGO_TARGET_DIR", target_dir()),
            &format!("cargo build --bin {bin}"),
        )?;
    }
    Ok(())
}

/// Polls `check` every 500 ms until it yields a value or `timeout` (scaled) passes: the shared
/// poll-with-deadline helper, for checks that return `Ok(None)` while not ready and `Err` for a
/// transient failure (the last one is reported).
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let poll = Duration::from_millis(500);
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

/// A local Kubernetes in its own slot and directory, stopped (by PID files) on drop.
pub struct LocalKube {
    pub dir: tempfile::TempDir,
    _slot_lock: TcpListener,
}

impl LocalKube {
    /// Starts etcd, kube-apiserver, kube-controller-manager and the node agent. Slots are taken
    /// by binding a port (the scheme of localkube's own tests), so suites run side by side.
    pub fn start(prefix: &str) -> anyhow::Result<Self> {
        let (slot, lock) = (1..=60u16)
            .find_map(|s| {
                TcpListener::bind(("127.0.0.1", 16_900 + s))
                    .ok()
                    .map(|l| (s, l))
            })
            .context("no free localkube slot")?;
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        let env = Self {
            dir,
            _slot_lock: lock,
        };
        run(
            Command::new(repo().join("scripts/kube-up.sh"))
                .env("EDDY_KUBE_DIR", env.dir.path())
                .env("EDDY_KUBE_SLOT", slot.to_string())
                .env("EDDY_KUBE_BACKOFF_MS", "1000")
                .env("NODE_AGENT", target_dir().join("debug/node-agent"))
                .env("CARGO_TARGET_DIR", target_dir()),
            "scripts/kube-up.sh",
        )?;
        Ok(env)
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    pub fn kubectl(&self, args: &[&str]) -> anyhow::Result<String> {
        run(
            Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(self.kubeconfig())
                .args(args),
            &format!("kubectl {args:?}"),
        )
    }

    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let kc = kube::config::Kubeconfig::read_from(self.kubeconfig())?;
        let cfg =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await?;
        Ok(kube::Client::try_from(cfg)?)
    }

    /// Installs charts/eddy (CRDs, RBAC, the operator Deployment) as release `eddy` in
    /// `eddy-system` with the real Helm SDK, then waits until the KafkaCluster CRD is served.
    pub async fn install_chart(&self, values_json: &str) -> anyhow::Result<()> {
        let chart = repo().join("charts/eddy");
        run(
            Command::new(python())
                .arg(repo().join("operator/tests/helm/chart.py"))
                .args([
                    "install",
                    chart.to_str().context("utf8")?,
                    self.kubeconfig().to_str().context("utf8")?,
                    "eddy-system",
                    "eddy",
                ])
                .arg(values_json),
            "helm install",
        )?;
        eventually(
            Duration::from_secs(60),
            "KafkaCluster CRD established",
            || async {
                Ok(self
                    .kubectl(&["get", "kafkaclusters", "--all-namespaces"])
                    .ok()
                    .map(drop))
            },
        )
        .await
    }

    /// The last 40 lines of the node agent's log (pod starts, probes), for failure messages.
    pub fn logs(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("logs/node-agent.log"))
            .unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for LocalKube {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/kube-down.sh"))
            .env("EDDY_KUBE_DIR", self.dir.path())
            .output();
    }
}
