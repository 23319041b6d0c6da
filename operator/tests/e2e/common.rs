//! What the operator's end-to-end tests share: the Python Kafka tools (`kafka_tool.py`,
//! `secure_tool.py`) and their JSON answers, a background producer that is always told to stop,
//! and small readers of pods and claims. Included with `#[path = "e2e/common.rs"] mod common;`
//! next to `mod stack;` (localkube's fixture).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::Context as _;
use eddy_operator::crd::{KafkaCluster, find_condition};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::Api;
use kube::api::ListParams;

use crate::stack::{LocalKube, eventually, python, repo, run};

/// The set-up every cluster e2e starts with: the chart (text logs, a 5 s lease so a killed
/// operator is replaced quickly), the `kafka` namespace, `manifest` applied, and the cluster
/// `name` Ready with `brokers` brokers registered and listed by Metadata. Returns the bootstrap
/// address of its first listener.
pub async fn start_cluster(
    kube: &LocalKube,
    client: &kube::Client,
    manifest: &str,
    name: &str,
    brokers: usize,
) -> anyhow::Result<String> {
    kube.install_chart(r#"{"operator": {"logFormat": "text", "leaseSeconds": 5}}"#)
        .await?;
    kube.kubectl(&["create", "namespace", "kafka"])?;
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), manifest)?;
    kube.kubectl(&["apply", "-f", file.path().to_str().context("utf8")?])?;
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), "kafka");
    let ready = eventually(
        std::time::Duration::from_secs(240),
        &format!("{brokers} brokers Ready"),
        || async {
            let c = clusters.get(name).await?;
            let ready = c
                .status
                .as_ref()
                .and_then(|s| find_condition(&s.conditions, "Ready"))
                .is_some_and(|r| format!("{:?}", r.status) == "True")
                && c.status
                    .as_ref()
                    .is_some_and(|s| s.broker_ids.len() == brokers);
            Ok(ready.then_some(c))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    let bootstrap = ready.status.context("status")?.listeners[0]
        .bootstrap_servers
        .clone();
    let ids: Vec<i64> = (0..i64::try_from(brokers)?).collect();
    eventually(
        std::time::Duration::from_secs(60),
        &format!("Metadata lists {brokers} brokers"),
        || async {
            let v = kafka_tool(&["view", &bootstrap, "-"])?;
            Ok((ints(&v["brokers"]) == ids).then_some(()))
        },
    )
    .await?;
    Ok(bootstrap)
}

/// Runs `operator/tests/e2e/<script>` with `args` and parses its JSON answer.
pub fn python_tool(script: &str, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = run(
        Command::new(python())
            .arg(repo().join("operator/tests/e2e").join(script))
            .args(args),
        &format!("{script} {}", args.join(" ")),
    )?;
    Ok(serde_json::from_str(out.trim())?)
}

/// `kafka_tool.py` (confluent-kafka, plaintext).
pub fn kafka_tool(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    python_tool("kafka_tool.py", args)
}

/// The integers of a JSON array.
pub fn ints(v: &serde_json::Value) -> Vec<i64> {
    v.as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_i64).collect())
        .unwrap_or_default()
}

/// The strings of a JSON array.
pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The `values` a tool's consume read.
pub fn values(v: &serde_json::Value) -> BTreeSet<String> {
    strings(&v["values"]).into_iter().collect()
}

/// The Ready condition's status and reason.
pub fn ready_reason(c: &KafkaCluster) -> Option<(String, String)> {
    let st = c.status.as_ref()?;
    find_condition(&st.conditions, "Ready").map(|r| (format!("{:?}", r.status), r.reason.clone()))
}

/// Broker pod name → UID, for the pods of `cluster` not being deleted.
pub async fn pod_uids(pods: &Api<Pod>, cluster: &str) -> anyhow::Result<BTreeMap<String, String>> {
    Ok(pods
        .list(&ListParams::default().labels(&format!("eddy.io/cluster={cluster}")))
        .await?
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| Some((p.metadata.name?, p.metadata.uid?)))
        .collect())
}

/// Deletes the operator's pods (the Helm release in `eddy-system`): its Deployment starts a
/// replacement, which must take the lease and resume whatever was under way. Returns the names.
pub async fn kill_operator(client: &kube::Client) -> anyhow::Result<Vec<String>> {
    let pods = Api::<Pod>::namespaced(client.clone(), "eddy-system");
    let listed = pods
        .list(&ListParams::default().labels("app.kubernetes.io/component=operator"))
        .await?;
    let mut names = Vec::new();
    for pod in listed.items {
        let name = pod.metadata.name.unwrap_or_default();
        pods.delete(&name, &kube::api::DeleteParams::default())
            .await?;
        names.push(name);
    }
    Ok(names)
}

/// Like `eventually`, but driven by a watch of the object `name`: `step` sees every version the
/// API server stores, so a phase that lasts less than a poll interval is not missed. `start`
/// (the action whose effects are watched) runs once the watch has listed the object, so not even
/// the first of those effects can pass before the watch sees it. The watch backs off and resumes
/// after errors; `limit` bounds the whole wait.
pub async fn watch_until<K, T, F, Fut>(
    api: &Api<K>,
    name: &str,
    limit: std::time::Duration,
    what: &str,
    start: impl FnOnce() -> anyhow::Result<()>,
    mut step: F,
) -> anyhow::Result<T>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    F: FnMut(K) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    use futures::StreamExt as _;
    use kube::runtime::WatchStreamExt as _;
    use kube::runtime::watcher::{Config, Event, watcher};
    let events = watcher(
        api.clone(),
        Config::default().fields(&format!("metadata.name={name}")),
    )
    .default_backoff();
    let mut start = Some(start);
    let watched = async {
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::Apply(object) | Event::InitApply(object)) => {
                    if let Some(start) = start.take() {
                        start()?;
                    }
                    if let Some(value) = step(object).await? {
                        return Ok(value);
                    }
                }
                Ok(_) => {}
                Err(e) => eprintln!("watch of {name}: {e}"),
            }
        }
        anyhow::bail!("the watch of {name} ended before {what}")
    };
    tokio::time::timeout(limit, watched)
        .await
        .map_err(|_| anyhow::anyhow!("timed out after {limit:?} waiting for {what}"))?
}

/// A claim's requested storage.
pub fn claim_request(claim: &PersistentVolumeClaim) -> Option<String> {
    claim
        .spec
        .as_ref()?
        .resources
        .as_ref()?
        .requests
        .as_ref()?
        .get("storage")
        .map(|q| q.0.clone())
}

/// A tool's `produce` mode running in the background until its stop file appears; dropping it
/// writes the stop file, so the producer stops even when an assertion fails first.
pub struct Producer {
    child: Option<Child>,
    stop: PathBuf,
}

impl Producer {
    /// Starts `<script> produce <args…> <stop file>`; the stop file lives in `dir`.
    pub fn start(script: &str, args: &[&str], dir: &std::path::Path) -> anyhow::Result<Self> {
        Self::start_mode(script, "produce", args, dir)
    }

    /// Starts `<script> <mode> <args…> <stop file>` (a mode that produces until the stop file).
    pub fn start_mode(
        script: &str,
        mode: &str,
        args: &[&str],
        dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let stop = dir.join(format!("stop-producer-{}", std::process::id()));
        let _ = std::fs::remove_file(&stop);
        let child = Command::new(python())
            .arg(repo().join("operator/tests/e2e").join(script))
            .arg(mode)
            .args(args)
            .arg(&stop)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {script} {mode}"))?;
        Ok(Self {
            child: Some(child),
            stop,
        })
    }

    /// Stops the producer and returns its report (`sent`, `acked`, `nfailed`, …) and the
    /// values it saw acknowledged.
    pub fn finish(mut self) -> anyhow::Result<(serde_json::Value, Vec<String>)> {
        std::fs::write(&self.stop, b"stop")?;
        let child = self.child.take().context("producer already finished")?;
        let out = child.wait_with_output()?;
        anyhow::ensure!(out.status.success(), "producer failed: {out:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let acked = strings(&report["acked"]);
        Ok((report, acked))
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.stop, b"stop");
        if let Some(mut child) = self.child.take() {
            // Bounded: the tool checks its stop file between records.
            for _ in 0..100 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
