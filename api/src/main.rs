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
    /// How clients outside the Kubernetes cluster reach the clusters' TLS listeners: `internal`
    /// (pod addresses only), `nodeport` or `loadbalancer` (the operator's listener types).
    #[arg(long, env = "EDDY_EXTERNAL_LISTENERS", value_enum, default_value_t)]
    external_listeners: eddy_api::kube::ExternalAccess,
    /// How often every cluster's status is re-read, in seconds (the watcher wakes it sooner).
    #[arg(long, default_value_t = 5)]
    sync_interval_secs: u64,
    /// How often every cluster's brokers are scraped for the console's plots, in seconds; 0
    /// disables sampling.
    #[arg(long, env = "EDDY_METRICS_INTERVAL_SECS", default_value_t = 30)]
    metrics_interval_secs: u64,
    /// The brokers' admin port, where their Prometheus `/metrics` is served (the operator's).
    #[arg(long, env = "EDDY_BROKER_ADMIN_PORT", default_value_t = 9600)]
    broker_admin_port: u16,
    /// Deadline of one broker scrape, in seconds.
    #[arg(long, default_value_t = 5)]
    metrics_scrape_timeout_secs: u64,
    /// How long raw metric points are kept before they become 5-minute averages, in seconds.
    #[arg(long, default_value_t = 7200)]
    metrics_raw_retention_secs: i64,
    /// How long 5-minute averages are kept, in seconds.
    #[arg(long, default_value_t = 604_800)]
    metrics_rollup_retention_secs: i64,
    /// Read the plots from this Prometheus server (`http://host:port`, scraping the brokers
    /// with the chart's PodMonitor: `cluster` and `namespace` labels) instead of sampling the
    /// brokers into the database; the sampler does not run then.
    #[arg(long, env = "EDDY_PROMETHEUS_URL")]
    prometheus_url: Option<String>,
    /// The range of `rate()` in Prometheus queries (at least four of its scrape intervals).
    #[arg(long, env = "EDDY_PROMETHEUS_RATE_WINDOW", default_value = "1m")]
    prometheus_rate_window: String,
    /// The 256-bit key (64 hex digits) that encrypts alarm channels' secrets; overrides
    /// `--secrets-key-file`.
    #[arg(long, env = "EDDY_SECRETS_KEY", hide_env_values = true)]
    secrets_key: Option<String>,
    /// File holding that key; created with a random key (mode 0600) when missing. Keep it with
    /// the database's backups: without it the channels' secrets cannot be read.
    #[arg(
        long,
        env = "EDDY_SECRETS_KEY_FILE",
        default_value = "eddy-api.secrets-key"
    )]
    secrets_key_file: std::path::PathBuf,
    /// How often alarm rules are evaluated, in seconds; 0 disables evaluation.
    #[arg(long, env = "EDDY_ALARM_INTERVAL_SECS", default_value_t = 30)]
    alarm_interval_secs: u64,
    /// How often the SLA probe writes to each active dedicated cluster, in seconds; 0 disables.
    #[arg(long, env = "EDDY_SLA_PROBE_INTERVAL_SECS", default_value_t = 5)]
    sla_probe_interval_secs: u64,
    /// On PostgreSQL, how often a standby replica tries to become the leader (and the leader
    /// checks its lock's connection), in seconds: the longest a takeover waits.
    #[arg(long, env = "EDDY_LEADER_RETRY_SECS", default_value_t = 5)]
    leader_retry_secs: u64,
    /// Let Slack and webhook channels reach loopback, private and link-local addresses (off:
    /// an account's admin could otherwise make the API call services on its own network).
    #[arg(long, env = "EDDY_ALARM_ALLOW_PRIVATE_URLS")]
    alarm_allow_private_urls: bool,
    /// PagerDuty Events API base URL.
    #[arg(
        long,
        env = "EDDY_PAGERDUTY_URL",
        default_value = "https://events.pagerduty.com"
    )]
    pagerduty_url: String,
    /// OpsGenie API base URL (US).
    #[arg(
        long,
        env = "EDDY_OPSGENIE_URL",
        default_value = "https://api.opsgenie.com"
    )]
    opsgenie_url: String,
    /// OpsGenie API base URL (EU).
    #[arg(
        long,
        env = "EDDY_OPSGENIE_EU_URL",
        default_value = "https://api.eu.opsgenie.com"
    )]
    opsgenie_eu_url: String,
    /// Splunk On-Call (VictorOps) REST endpoint base URL.
    #[arg(
        long,
        env = "EDDY_VICTOROPS_URL",
        default_value = "https://alert.victorops.com"
    )]
    victorops_url: String,
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
        Some(path) => eddy_api::kube::connect(path, wake.clone(), args.external_listeners)
            .await
            .context("connect to Kubernetes")?,
        None => {
            tracing::warn!("no --kubeconfig: cluster mutations will answer 503");
            Arc::new(Unconfigured)
        }
    };
    let mut state =
        eddy_api::app::build_state(&args.database_url, &catalog, &args.jwt_keys, backend)
            .await
            .context("start the API")?;
    if let Some(url) = &args.prometheus_url {
        let source = eddy_api::samples::prometheus::PrometheusSource::new(
            url,
            Duration::from_secs(args.metrics_scrape_timeout_secs.max(1) * 2),
            &args.prometheus_rate_window,
        )
        .map_err(anyhow::Error::msg)?;
        state.prometheus = Some(Arc::new(source));
    }
    let secrets = match &args.secrets_key {
        Some(hex) => eddy_api::alerting::secrets::SecretBox::from_hex(hex),
        None => eddy_api::alerting::secrets::SecretBox::load_or_create(&args.secrets_key_file),
    }
    .context("load the secrets key")?;
    let mut alerting = eddy_api::alerting::Alerting::new(secrets);
    alerting.endpoints = eddy_api::alerting::providers::Endpoints {
        pagerduty: args.pagerduty_url.clone(),
        opsgenie_us: args.opsgenie_url.clone(),
        opsgenie_eu: args.opsgenie_eu_url.clone(),
        victorops: args.victorops_url.clone(),
    };
    alerting.sample_interval_secs = i64::try_from(args.metrics_interval_secs.max(1)).unwrap_or(30);
    alerting.allow_private_targets = args.alarm_allow_private_urls;
    state.alerting = Arc::new(alerting);
    // Several replicas on one PostgreSQL: only the holder of the advisory lock runs the
    // background work. SQLite: this process is the only one.
    if state.db.backend == eddy_api::store::Backend::Postgres {
        state.leader = eddy_api::leader::Leadership::standby();
        tokio::spawn(eddy_api::leader::campaign(
            args.database_url.clone(),
            state.leader.clone(),
            Duration::from_secs(args.leader_retry_secs.max(1)),
        ));
    }
    state
        .metrics
        .registry
        .register(Box::new(state.leader.gauge()))
        .context("register the leader gauge")?;
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
    if args.metrics_interval_secs > 0 && state.prometheus.is_none() {
        let config = eddy_api::samples::SamplerConfig {
            admin_port: args.broker_admin_port,
            scrape_timeout: Duration::from_secs(args.metrics_scrape_timeout_secs.max(1)),
            retention: eddy_api::store::metric_points::Retention {
                raw_secs: args.metrics_raw_retention_secs.max(0),
                rollup_secs: 300,
                rollup_secs_kept: args.metrics_rollup_retention_secs.max(0),
            },
        };
        tokio::spawn(eddy_api::samples::Sampler::new(config).run(
            state.clone(),
            Duration::from_secs(args.metrics_interval_secs),
        ));
    }
    tokio::spawn(eddy_api::alerting::delivery::run(state.clone()));
    if args.alarm_interval_secs > 0 {
        tokio::spawn(eddy_api::alerting::evaluate::run(
            state.clone(),
            Duration::from_secs(args.alarm_interval_secs),
        ));
    }
    if args.sla_probe_interval_secs > 0 {
        tokio::spawn(eddy_api::probe::run(
            state.clone(),
            Duration::from_secs(args.sla_probe_interval_secs),
        ));
    }
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
