//! The `broker` binary: parses flags/env/config file, starts the broker, stops it gracefully on
//! SIGTERM or Ctrl-C.

use clap::Parser;
use eddy_broker::config::{BrokerConfig, Cli};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = BrokerConfig::from_cli(&cli)?;
    let running = eddy_broker::start(config).await?;
    for (name, addr) in &running.kafka_addrs {
        tracing::info!(listener = %name, %addr, "serving kafka");
    }
    tracing::info!(addr = %running.admin_addr, "serving admin http");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt: shutting down"),
    }
    running.shutdown().await;
    Ok(())
}
