//! The `bench` binary: `bench run <workload.yaml>` starts a broker (or uses `--bootstrap`),
//! measures the machine, drives the workload, and writes results/<timestamp>-<name>/ with
//! result.json, result.md and plot.svg; `bench compare a.json b.json` prints both side by side.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use eddy_bench::broker_proc::{BrokerProcess, sibling_broker_bin};
use eddy_bench::report::{self, Fractions, MachineLimits, RunResult};
use eddy_bench::stats::LatencySummary;
use eddy_bench::workload::Workload;
use eddy_bench::{driver, machine, plot, procstat, security};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(
    name = "bench",
    about = "Benchmark a Kafka-compatible broker with OpenMessaging-style workloads"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one workload file.
    Run(RunArgs),
    /// Print two result.json files side by side.
    Compare { a: PathBuf, b: PathBuf },
    /// Write a throwaway CA (`ca.crt`) and a server key + certificate for 127.0.0.1
    /// (`server.pem`) into a directory (bench/security.sh).
    Certs { dir: PathBuf },
    /// Open, authenticate and drop clients for a while; print how many succeeded.
    ConnectRate(ConnectRateArgs),
}

#[derive(clap::Args)]
struct ConnectRateArgs {
    #[arg(long)]
    bootstrap: String,
    /// Seconds to keep connecting.
    #[arg(long, default_value_t = 10)]
    duration_s: u64,
    /// Client loops in parallel.
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// librdkafka property, KEY=VALUE (repeatable), e.g. `-X sasl.mechanisms=SCRAM-SHA-512`.
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    client_property: Vec<String>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The workload file (YAML), e.g. bench/workloads/1-topic-16-partitions-1kb.yaml.
    workload: PathBuf,
    /// Drive this broker instead of starting one (no broker CPU/RSS then).
    #[arg(long)]
    bootstrap: Option<String>,
    /// The broker binary to start; default: `broker` next to this executable.
    #[arg(long, env = "BENCH_BROKER_BIN")]
    broker_bin: Option<PathBuf>,
    /// Where result folders go.
    #[arg(long, default_value = "results")]
    results: PathBuf,
    /// Parent of the started broker's temporary data directory (its disk is the one measured).
    #[arg(long)]
    data_parent: Option<PathBuf>,
    /// Override the workload's measured seconds.
    #[arg(long)]
    duration_s: Option<u64>,
    /// Override the workload's warm-up seconds.
    #[arg(long)]
    warmup_s: Option<u64>,
    /// Override the workload's target rate (messages/s, 0 = max).
    #[arg(long)]
    rate: Option<u64>,
    /// Skip measuring the disk and loopback limits (fractions are then 0).
    #[arg(long)]
    skip_limits: bool,
    /// Extra librdkafka property for every client, KEY=VALUE (repeatable), e.g.
    /// `-X security.protocol=SASL_SSL -X ssl.ca.location=ca.pem`.
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    client_property: Vec<String>,
    /// Create the topics through the admin API (CreateTopics) with this replication factor
    /// instead of relying on auto-creation.
    #[arg(long)]
    replication_factor: Option<i32>,
    /// Topic config for topics created with --replication-factor, KEY=VALUE (repeatable),
    /// e.g. `--topic-config ack.durability=replicated`.
    #[arg(long, value_name = "KEY=VALUE")]
    topic_config: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Run(args) => {
            let dir = run(&args)?;
            writeln!(std::io::stdout(), "{}", dir.display())?;
        }
        Command::Compare { a, b } => {
            let (a, b) = (load(&a)?, load(&b)?);
            write!(std::io::stdout(), "{}", report::compare(&a, &b))?;
        }
        Command::Certs { dir } => security::write_certs(&dir)?,
        Command::ConnectRate(args) => {
            let target = driver::Target {
                bootstrap: args.bootstrap.clone(),
                properties: parse_properties(&args.client_property)?,
                topic_spec: None,
            };
            let r = security::connect_rate(
                &target.config(),
                args.threads,
                std::time::Duration::from_secs(args.duration_s),
            )?;
            // One machine-readable line: sessions failures seconds.
            writeln!(
                std::io::stdout(),
                "{} {} {:.3}",
                r.sessions,
                r.failures,
                r.elapsed.as_secs_f64()
            )?;
        }
    }
    Ok(())
}

/// `-X KEY=VALUE` arguments as pairs.
fn parse_properties(kvs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    kvs.iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("-X {kv}: expected KEY=VALUE"))
        })
        .collect()
}

fn load(path: &Path) -> anyhow::Result<RunResult> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn run(args: &RunArgs) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(&args.workload)
        .with_context(|| format!("reading {}", args.workload.display()))?;
    let mut w =
        Workload::from_yaml(&text).with_context(|| format!("in {}", args.workload.display()))?;
    if let Some(d) = args.duration_s {
        w.duration_s = d;
    }
    if let Some(d) = args.warmup_s {
        w.warmup_s = d;
    }
    if let Some(r) = args.rate {
        w.rate = r;
    }
    w.validate()?;
    let unix_s = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let started_at = report::utc_timestamp(unix_s);

    // The broker: ours, started fresh, or the one given.
    let mut broker = match &args.bootstrap {
        Some(_) => None,
        None => {
            let Some(bin) = args.broker_bin.clone().or_else(sibling_broker_bin) else {
                bail!(
                    "no broker binary: build it (cargo build --release -p eddy-broker) or pass --broker-bin"
                );
            };
            let mut settings = vec![
                format!("num.partitions={}", w.partitions_per_topic),
                "auto.create.topics.enable=true".to_string(),
            ];
            settings.extend(w.broker_config.iter().map(|(k, v)| format!("{k}={v}")));
            tracing::info!(bin = %bin.display(), "starting broker");
            Some(BrokerProcess::start(
                &bin,
                &settings,
                args.data_parent.as_deref(),
            )?)
        }
    };
    let bootstrap = match (&args.bootstrap, &broker) {
        (Some(b), _) => b.clone(),
        (None, Some(b)) => b.bootstrap(),
        (None, None) => bail!("no broker to drive"),
    };

    let limits_dir = match &broker {
        Some(b) => b
            .data_dir
            .parent()
            .map_or_else(std::env::temp_dir, Path::to_path_buf),
        None => args.data_parent.clone().unwrap_or_else(std::env::temp_dir),
    };
    let machine = if args.skip_limits {
        MachineLimits {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            ..MachineLimits::default()
        }
    } else {
        tracing::info!(dir = %limits_dir.display(), "measuring disk and loopback limits");
        machine::measure(&limits_dir)?
    };
    tracing::info!(?machine, "machine limits");

    let pid = broker.as_ref().and_then(BrokerProcess::pid);
    let idle_rss = pid.and_then(procstat::read).map_or(0.0, |(_, rss)| rss);
    let sampler_t0 = std::time::Instant::now();
    let sampler = procstat::Sampler::start(pid, sampler_t0);
    let run_id = format!("{unix_s}");
    tracing::info!(workload = %w.name, %bootstrap, "driving load");
    let properties = parse_properties(&args.client_property)?;
    let topic_spec = match args.replication_factor {
        Some(rf) => Some(driver::TopicSpec {
            replication_factor: rf,
            configs: parse_properties(&args.topic_config)?,
        }),
        None => None,
    };
    let target = driver::Target {
        bootstrap: bootstrap.clone(),
        properties,
        topic_spec,
    };
    let outcome = driver::drive(&w, &target, &run_id)?;
    let samples = sampler.finish();
    // Re-base broker samples on the producers' start.
    let offset = outcome.t0.duration_since(sampler_t0).as_secs_f64();
    let samples: Vec<_> = samples
        .into_iter()
        .map(|mut s| {
            s.t_s -= offset;
            s
        })
        .filter(|s| s.t_s >= 0.0)
        .collect();
    if let Some(b) = broker.as_mut()
        && !b.stop()
    {
        tracing::warn!(log = %b.log_path.display(), "broker did not stop cleanly");
    }

    let measured_s = w.duration_s as f64;
    let publish = outcome.publish.throughput(measured_s);
    let consume = outcome.end_to_end.throughput(measured_s);
    let usage = pid.map(|_| {
        report::broker_usage(
            idle_rss,
            &samples,
            w.warmup_s as f64,
            (w.warmup_s + w.duration_s) as f64,
        )
    });
    let result = RunResult {
        fractions: Fractions::compute(
            publish.mb_per_s,
            consume.mb_per_s,
            usage.map_or(0.0, |u| u.avg_cpu_cores),
            &machine,
        ),
        series: report::series(&outcome.publish, &outcome.end_to_end, &samples),
        publish_latency: LatencySummary::of(&outcome.publish.measured),
        end_to_end_latency: LatencySummary::of(&outcome.end_to_end.measured),
        workload: w.clone(),
        started_at,
        bootstrap,
        broker_started_by_bench: broker.is_some(),
        measured_s,
        publish,
        consume,
        totals: outcome.totals,
        broker: usage,
        cpu: report::CpuShare::from_samples(
            &samples,
            w.warmup_s as f64,
            (w.warmup_s + w.duration_s) as f64,
        ),
        machine,
    };
    let stamp = result.started_at.replace([':', '-'], "");
    let dir = args.results.join(format!("{stamp}-{}", w.name));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join("result.json"),
        serde_json::to_string_pretty(&result)?,
    )?;
    std::fs::write(dir.join("result.md"), report::markdown(&result))?;
    std::fs::write(dir.join("plot.svg"), plot::svg(&result))?;
    tracing::info!(
        publish_mb_s = result.publish.mb_per_s,
        consume_mb_s = result.consume.mb_per_s,
        publish_p99_ms = result.publish_latency.p99_ms,
        e2e_p99_ms = result.end_to_end_latency.p99_ms,
        sent = result.totals.sent,
        acked = result.totals.acked,
        consumed = result.totals.consumed,
        "run finished"
    );
    Ok(dir)
}
