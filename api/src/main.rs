//! The `api` binary: serves the control-plane API. Zero configuration: 127.0.0.1:8080 with SQLite
//! in ./eddy-api.db; Kubernetes only when a kubeconfig is given.

use anyhow::Context as _;
use clap::Parser;
use eddy_api::kube::{ClusterBackend, Unconfigured};
use std::sync::Arc;
use std::time::Duration;

/// Eddy control-plane API.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "EDDY_API_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    #[arg(
        long,
        env = "EDDY_DATABASE_URL",
        default_value = "sqlite://eddy-api.db?mode=rwc"
    )]
    database_url: String,
    /// Plans catalog file; the built-in `api/plans/catalog.yaml` when absent.
    #[arg(long, env = "EDDY_PLANS")]
    plans: Option<std::path::PathBuf>,
    /// JWT signing keys as `kid:secret,...` (last signs); generated and stored in the database when absent.
    #[arg(
        long,
        env = "EDDY_JWT_KEYS",
        default_value = "",
        hide_env_values = true
    )]
    jwt_keys: String,
    /// Kubeconfig of the cluster where KafkaCluster resources are written. Without it, cluster
    /// mutations answer 503.
    #[arg(long, env = "EDDY_KUBECONFIG")]
    kubeconfig: Option<std::path::PathBuf>,
    /// How often every cluster's status is re-read, in seconds (the watcher wakes it sooner).
    #[arg(long, default_value_t = 5)]
    sync_interval_secs: u64,
    /// Create (or reset) the demo account and print its credentials.
    #[arg(long)]
    seed_demo: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let catalog = match &args.plans {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("read plans file {}", p.display()))?,
        None => eddy_api::app::BUILTIN_CATALOG.to_string(),
    };
    let wake = Arc::new(tokio::sync::Notify::new());
    let backend: Arc<dyn ClusterBackend> = match &args.kubeconfig {
        Some(path) => eddy_api::kube::connect(path, wake.clone())
            .await
            .context("connect to Kubernetes")?,
        None => {
            tracing::warn!("no --kubeconfig: cluster mutations will answer 503");
            Arc::new(Unconfigured)
        }
    };
    let state = eddy_api::app::build_state(&args.database_url, &catalog, &args.jwt_keys, backend)
        .await
        .context("start the API")?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    if args.seed_demo {
        let demo = eddy_api::app::seed_demo(&state)
            .await
            .context("seed the demo account")?;
        #[allow(clippy::print_stdout)]
        {
            println!("Eddy API      http://{addr}/  (OpenAPI: http://{addr}/v1/openapi.json)");
            println!(
                "demo account  email {}  password {}",
                demo.email, demo.password
            );
        }
    }
    tokio::spawn(eddy_api::ops::sync_loop(
        state.clone(),
        wake,
        Duration::from_secs(args.sync_interval_secs.max(1)),
    ));
    tracing::info!(%addr, database = %state.db.backend_name(), "serving");
    axum::serve(listener, eddy_api::build_router(state))
        .with_graceful_shutdown(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("install SIGTERM handler");
            tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
        })
        .await
        .context("serve")?;
    Ok(())
}
