//! The agent: wires node registration, scheduler, provisioner and one worker per pod together.
//!
//! A watch per Node (pods with `spec.nodeName` = that node) feeds each pod's latest version to its
//! worker through a `watch` channel; a pod that disappears from the API gets `None`. On SIGTERM
//! the agent stops every pod's processes (grace capped) before exiting, so nothing outlives it.

use crate::backoff::Backoff;
use crate::env::ApiServer;
use crate::image_map::ImageMap;
use crate::ipam::Ipam;
use crate::node::{self, NodeSpec};
use crate::pod_worker;
use crate::provisioner;
use crate::scheduler::{self, Candidate};
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;
use kube::{Api, Client};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

/// Errors of starting the agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("creating state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("pod ip range: {0}")]
    Ipam(#[from] crate::ipam::Error),
    #[error(transparent)]
    Node(#[from] node::Error),
    #[error(transparent)]
    Provisioner(#[from] provisioner::Error),
}

/// Shared by every task of the agent.
pub struct Ctx {
    pub client: Client,
    pub state_dir: PathBuf,
    pub images: ImageMap,
    pub api: ApiServer,
    pub host_ip: Ipv4Addr,
    pub backoff: Backoff,
    pub agent_exe: PathBuf,
    pub ipam: Mutex<Ipam>,
    /// Every running pod's `/etc/hosts` (pod DNS), rewritten when pods come, go or move.
    pub hosts: crate::hosts::Registry,
    /// Becomes true when the agent stops.
    pub shutdown: watch::Receiver<bool>,
}

/// What the agent is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub state_dir: PathBuf,
    pub images: ImageMap,
    pub api: ApiServer,
    pub node_names: Vec<String>,
    pub kubelet_port: u16,
    pub pod_ip_prefix: String,
    pub backoff: Backoff,
    pub agent_exe: PathBuf,
    /// TLS identity of the kubelet API (`kubectl logs`); without it the API is not served.
    pub kubelet_tls: Option<crate::logs::Tls>,
}

/// Runs the agent until SIGTERM/SIGINT, then stops all pod processes.
pub async fn run(client: Client, opts: Options) -> Result<(), Error> {
    let pods_dir = opts.state_dir.join("pods");
    for d in [&pods_dir, &opts.state_dir.join("volumes")] {
        std::fs::create_dir_all(d).map_err(|source| Error::StateDir {
            path: d.clone(),
            source,
        })?;
    }
    let leftovers = crate::process::kill_leftovers(&pods_dir);
    if leftovers > 0 {
        warn!(
            leftovers,
            "killed container processes left by a previous agent run"
        );
    }
    let (shutdown_tx, shutdown) = watch::channel(false);
    let host_ip = Ipv4Addr::LOCALHOST;
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        state_dir: opts.state_dir.clone(),
        images: opts.images.clone(),
        api: opts.api.clone(),
        host_ip,
        backoff: opts.backoff,
        agent_exe: opts.agent_exe.clone(),
        ipam: Mutex::new(Ipam::new(&opts.pod_ip_prefix)?),
        hosts: crate::hosts::Registry::default(),
        shutdown,
    });
    provisioner::ensure_storage_class(&client).await?;
    let nodes: Vec<NodeSpec> = opts
        .node_names
        .iter()
        .zip(opts.kubelet_port..)
        .map(|(name, kubelet_port)| NodeSpec {
            name: name.clone(),
            ip: host_ip,
            kubelet_port,
        })
        .collect();
    let mut tasks = JoinSet::new();
    for n in &nodes {
        node::register(&client, n).await?;
        info!(node = %n.name, "node registered");
        tasks.spawn(node::heartbeat(client.clone(), n.clone()));
        if let Some(tls) = opts.kubelet_tls.clone() {
            let (ctx, n) = (ctx.clone(), n.clone());
            tasks.spawn(async move {
                if let Err(e) = crate::logs::serve(ctx, n, tls).await {
                    warn!(error = %e, "kubelet api stopped: kubectl logs will not work");
                }
            });
        }
    }
    let candidates = nodes
        .iter()
        .map(|n| Candidate {
            name: n.name.clone(),
            labels: [
                ("kubernetes.io/hostname".to_owned(), n.name.clone()),
                ("kubernetes.io/os".to_owned(), "linux".to_owned()),
            ]
            .into(),
            pods: 0,
        })
        .collect();
    let sched_client = client.clone();
    tasks.spawn(async move {
        if let Err(e) = scheduler::run(sched_client, candidates).await {
            warn!(error = %e, "scheduler stopped");
        }
    });
    // No kube-proxy here: the agent opens every Service's node ports on the Node address.
    tasks.spawn(crate::node_port::run(client.clone(), host_ip));
    tasks.spawn(provisioner::run(
        client.clone(),
        opts.state_dir.join("volumes"),
    ));
    let workers = Arc::new(tokio::sync::Mutex::new(JoinSet::new()));
    for n in &nodes {
        tasks.spawn(dispatch(ctx.clone(), n.name.clone(), workers.clone()));
    }
    wait_for_signal().await;
    info!("stopping: terminating pod processes");
    let _ = shutdown_tx.send(true);
    tasks.abort_all();
    let mut workers = workers.lock().await;
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        while workers.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!("some pod workers did not finish in time");
    }
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// Feeds the pods bound to `node` to their workers, starting a worker for each new pod.
async fn dispatch(ctx: Arc<Ctx>, node: String, workers: Arc<tokio::sync::Mutex<JoinSet<()>>>) {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let cfg = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let mut stream = std::pin::pin!(watcher(api, cfg));
    let mut senders: HashMap<String, watch::Sender<Option<Arc<Pod>>>> = HashMap::new();
    while let Some(ev) = stream.try_next().await.transpose() {
        senders.retain(|_, tx| !tx.is_closed());
        match ev {
            Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                let pod = Arc::new(pod);
                if let Some(tx) = senders.get(&uid) {
                    let _ = tx.send(Some(pod));
                    continue;
                }
                let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                let finished = matches!(phase, Some("Succeeded" | "Failed"));
                if finished && pod.metadata.deletion_timestamp.is_none() {
                    continue;
                }
                let (tx, rx) = watch::channel(Some(pod));
                senders.insert(uid, tx);
                workers.lock().await.spawn(pod_worker::run(ctx.clone(), rx));
            }
            Ok(watcher::Event::Delete(pod)) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                if let Some(tx) = senders.remove(&uid) {
                    let _ = tx.send(None);
                }
            }
            Ok(_) => {}
            Err(e) => warn!(node = %node, error = %e, "pod watch"),
        }
    }
}
