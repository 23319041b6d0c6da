//! The broker process's entry, shared by the bin targets (`broker` is release 0.1.0,
//! `broker-0-2-0` release 0.2.0): each `main` only picks its [`Identity`]. Parses flags, env and
//! the config file, starts the broker, stops it gracefully on SIGTERM or Ctrl-C.

use crate::config::{BrokerConfig, Cli};
use crate::features::Identity;
use clap::Parser;

/// glibc's malloc raises its mmap threshold dynamically (up to 32 MiB) each time a large
/// mmapped block is freed, after which the multi-megabyte produce frames and fetch responses of
/// a busy period come from the heap and stay resident: 96 MB RSS idle after a 2.7 GB load,
/// against 15 MB with a fixed threshold. The threshold can only be fixed before the first
/// allocation (without `unsafe` FFI, which this workspace forbids), so the broker re-executes
/// itself once with glibc's tunables set; the process id stays the same. An operator's own
/// setting of either variable is left alone.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fix_malloc_thresholds() {
    use std::os::unix::process::CommandExt;
    const VARS: [(&str, &str); 2] = [
        ("MALLOC_MMAP_THRESHOLD_", "262144"),
        ("MALLOC_TRIM_THRESHOLD_", "1048576"),
    ];
    if VARS.iter().any(|(k, _)| std::env::var_os(k).is_some()) {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .envs(VARS)
        .exec();
    // Only reached when exec failed: run with glibc's defaults.
    eprintln!("broker: re-executing with fixed malloc thresholds failed ({err}); continuing");
}

/// Runs the broker process as release `identity`.
///
/// # Errors
/// Configuration or start-up failures (the message names the step).
pub fn main(identity: Identity) -> anyhow::Result<()> {
    crate::features::set_identity(identity);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fix_malloc_thresholds();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = BrokerConfig::from_cli(&cli)?;
    let identity = crate::features::identity();
    tracing::info!(
        version = identity.version,
        eddy_version_max = identity.eddy_version_max,
        "eddy broker"
    );
    let running = crate::start(config).await?;
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
