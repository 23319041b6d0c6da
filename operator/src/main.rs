//! `operator`: runs the Eddy controllers (KafkaCluster, KafkaTopic, KafkaUser) while holding the
//! leader Lease, serves /metrics and /healthz, and shuts down gracefully on SIGTERM/SIGINT.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use eddy_operator::context::Context;
use eddy_operator::leader::LeaderElector;
use eddy_operator::metrics::Metrics;
use eddy_operator::{cluster, controllers};
use tokio::sync::watch;
use tracing::{error, info, warn};

/// Command line; every flag is also an environment variable.
#[derive(Debug, Parser)]
#[command(version, about = "Eddy Kubernetes operator")]
struct Args {
    /// Address of /metrics and /healthz.
    #[arg(
        long,
        env = "EDDY_OPERATOR_METRICS_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    metrics_addr: SocketAddr,
    /// Namespace of the leader Lease (the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, env = "EDDY_OPERATOR_LEASE", default_value = "eddy-operator")]
    lease_name: String,
    /// This instance's identity in the Lease (the pod name in Kubernetes).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Lease duration in seconds: how long a dead leader blocks a successor.
    #[arg(long, env = "EDDY_OPERATOR_LEASE_SECONDS", default_value_t = 15)]
    lease_seconds: u64,
    /// Log format: `text` or `json`.
    #[arg(long, env = "EDDY_LOG_FORMAT", default_value = "text")]
    log_format: String,
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = term => {},
        r = tokio::signal::ctrl_c() => { if let Err(e) = r { error!(error = %e, "ctrl-c handler"); } },
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_tracing(&args.log_format);
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("eddy-operator-{}", std::process::id()));
    let metrics = Metrics::new()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutdown signal received");
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let server = {
        let m = metrics.clone();
        let addr = args.metrics_addr;
        let stop = stopped(stop_rx.clone());
        tokio::spawn(async move { m.serve(addr, stop).await })
    };

    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes")?;
    let ctx =
        Arc::new(Context::new(client.clone(), metrics.clone(), Some(identity.clone())).await?);
    let elector = LeaderElector::new(
        client,
        &args.lease_namespace,
        &args.lease_name,
        &identity,
        Duration::from_secs(args.lease_seconds),
    );

    // Wait for leadership (bounded only by shutdown: a standby may wait indefinitely).
    info!(%identity, lease = %args.lease_name, "waiting for leadership");
    loop {
        if *stop_rx.borrow() {
            return Ok(());
        }
        match elector.try_acquire_or_renew().await {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => warn!(error = %e, "lease acquisition failed"),
        }
        let mut rx = stop_rx.clone();
        tokio::select! {
            () = tokio::time::sleep(elector.renew_interval()) => {},
            _ = rx.wait_for(|s| *s) => {},
        }
    }
    metrics.set_leader(true);
    info!(%identity, "leading: starting controllers");

    let controllers = tokio::spawn(controllers::run(ctx, stopped(stop_rx.clone())));
    // Renew until shutdown; losing the lease stops the process (a restart rejoins as standby).
    let mut lost = false;
    let mut last_renewal = tokio::time::Instant::now();
    loop {
        let mut rx = stop_rx.clone();
        tokio::select! {
            () = tokio::time::sleep(elector.renew_interval()) => {},
            _ = rx.wait_for(|s| *s) => break,
        }
        match elector.try_acquire_or_renew().await {
            Ok(true) => last_renewal = tokio::time::Instant::now(),
            Ok(false) => {
                error!("lease taken by another instance: stopping");
                lost = true;
                break;
            }
            Err(e) => {
                warn!(error = %e, "lease renewal failed");
                if last_renewal.elapsed() > Duration::from_secs(args.lease_seconds) {
                    error!("lease expired without renewal: stopping");
                    lost = true;
                    break;
                }
            }
        }
    }
    metrics.set_leader(false);
    if lost {
        metrics.set_unhealthy();
        controllers.abort();
        anyhow::bail!("lost leadership");
    }
    // Graceful: controllers finish in-flight reconciles, then the lease is released.
    if let Err(e) = tokio::time::timeout(Duration::from_secs(20), controllers).await {
        warn!(error = %e, "controllers did not stop in time");
    }
    if let Err(e) = elector.release().await {
        warn!(error = %e, "releasing the lease failed");
    }
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(Err(e))) => warn!(error = %e, "metrics server failed"),
        Ok(_) => {}
        Err(_) => warn!("metrics server did not stop in time"),
    }
    info!(kind = cluster::KIND, "operator stopped");
    Ok(())
}
