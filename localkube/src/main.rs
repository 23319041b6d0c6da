//! `node-agent`: runs the local node agent (`run`), or prepares a container's mounts (`mount-exec`).
use anyhow::Context;
use clap::{Parser, Subcommand};
use eddy_localkube::agent::{self, Options};
use eddy_localkube::backoff::Backoff;
use eddy_localkube::env::ApiServer;
use eddy_localkube::image_map::ImageMap;
use eddy_localkube::mount_exec::{self, Bind};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    about = "Eddy's local Kubernetes node agent: scheduler + kubelet running pods as processes"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Register the Node(s) and run their pods until SIGTERM.
    Run(RunArgs),
    /// Internal: bind-mount volumes in a fresh mount namespace, then exec the container program.
    MountExec(MountExecArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// kubeconfig of the agent's identity (scheduler + kubelet + provisioner rights).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: PathBuf,
    /// State: pod directories, logs, PIDs, provisioned volumes.
    #[arg(long)]
    state_dir: PathBuf,
    /// How many Nodes to register (localkube-0, localkube-1, ...).
    #[arg(long, default_value_t = 1)]
    nodes: u16,
    /// Prefix of Node names.
    #[arg(long, default_value = "localkube")]
    node_prefix: String,
    /// Two loopback octets; pods get <prefix>.x.y.
    #[arg(long, default_value = "127.20")]
    pod_ip_prefix: String,
    /// API server address as pods see it (KUBERNETES_SERVICE_HOST/PORT).
    #[arg(long, default_value = "127.0.0.1")]
    api_host: String,
    #[arg(long)]
    api_port: u16,
    /// First kubelet API port (node i uses this + i).
    #[arg(long, default_value_t = 10250)]
    kubelet_port: u16,
    /// TLS certificate (PEM) of the kubelet API that serves `kubectl logs`.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) of the kubelet API.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Image map YAML (repository[:tag] → binary); default: eddy/{broker,operator,api} from cargo.
    #[arg(long)]
    image_map: Option<PathBuf>,
    /// First crash-restart delay in milliseconds (the kubelet uses 10 s).
    #[arg(long, default_value_t = 10_000)]
    backoff_base_ms: u64,
}

#[derive(clap::Args)]
struct MountExecArgs {
    #[arg(long)]
    cwd: PathBuf,
    /// SRC=DST bind mounts, read-write.
    #[arg(long)]
    bind: Vec<String>,
    /// SRC=DST bind mounts, read-only.
    #[arg(long)]
    bind_ro: Vec<String>,
    /// Program and arguments.
    #[arg(last = true, required = true)]
    program: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::MountExec(a) => {
            let mut binds = Vec::new();
            for b in &a.bind {
                binds.push(Bind::parse(b, false)?);
            }
            for b in &a.bind_ro {
                binds.push(Bind::parse(b, true)?);
            }
            binds.sort_by_key(|b| b.dst.components().count());
            Err(mount_exec::mount_and_exec(&binds, &a.cwd, &a.program).into())
        }
        Cmd::Run(a) => {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .init();
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("starting the tokio runtime")?
                .block_on(run(a))
        }
    }
}

async fn run(a: RunArgs) -> anyhow::Result<()> {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(&a.kubeconfig).context("reading the kubeconfig")?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .context("loading the kubeconfig")?;
    let client = kube::Client::try_from(config).context("building the kubernetes client")?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    let images = match &a.image_map {
        Some(p) => ImageMap::load(p)?,
        None => ImageMap::builtin(&target),
    };
    let opts = Options {
        state_dir: a.state_dir,
        images,
        api: ApiServer {
            host: a.api_host,
            port: a.api_port,
        },
        node_names: (0..a.nodes)
            .map(|i| format!("{}-{i}", a.node_prefix))
            .collect(),
        kubelet_port: a.kubelet_port,
        pod_ip_prefix: a.pod_ip_prefix,
        backoff: Backoff {
            base: Duration::from_millis(a.backoff_base_ms),
        },
        kubelet_tls: a
            .tls_cert
            .zip(a.tls_key)
            .map(|(cert, key)| eddy_localkube::logs::Tls { cert, key }),
        agent_exe: std::env::current_exe().context("locating node-agent's own binary")?,
    };
    agent::run(client, opts).await?;
    Ok(())
}
