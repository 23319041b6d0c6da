//! The broker-metrics sampler and `GET /v1/clusters/{id}/metrics`: a real broker process on
//! 127.0.0.23 scraped by two sampling rounds at injected instants with kcat traffic between
//! them; a silent broker beside a healthy one; downsampling and retention on both databases; the
//! endpoint's 400/403/404 answers.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use axum::http::StatusCode;
use common::broker::{Broker, kcat};
use common::{TestApp, resource_name};
use eddy_api::samples::series::{Point, Series, labels};
use eddy_api::samples::{Sampler, SamplerConfig};
use eddy_api::store::metric_points::{self, Retention};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::time::Duration;

/// The loopback address the test broker serves on (not 127.0.0.1: its own stretch of ports).
const HOST: &str = "127.0.0.23";

/// A fixed sampling instant: the test never reads the wall clock for what it asserts.
const T0: i64 = 1_900_000_000;

on_both_databases!(
    downsampling_and_retention,
    bad_queries_are_problems,
    roles_and_accounts_are_enforced,
);

/// A free port of `HOST`.
fn free_port() -> u16 {
    common::broker::free_port(HOST)
}

/// The points of `name` with `labels` in a metrics response.
fn points(body: &Value, name: &str, labels: &Value) -> Vec<(i64, f64)> {
    body["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name && &s["labels"] == labels)
        .map(|s| {
            s["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_a_real_broker_gives_throughput_and_partitions() {
    let broker = Broker::start(HOST);
    let app = TestApp::new(common::Db::Sqlite).await;
    let (owner, _, _) = app.signup("ann@example.com").await;
    let body = app.create_cluster(&owner, "orders", "shared-small").await;
    let id = body["cluster"]["id"].as_str().unwrap().to_string();
    app.backend
        .report_bootstrap(&resource_name(&body), true, &broker.bootstrap());
    app.sync().await;
    let sampler = Sampler::new(SamplerConfig {
        admin_port: broker.admin_port,
        ..SamplerConfig::default()
    });
    // The first round: the broker answers (polled until its admin port is up), no rates yet.
    let first = eddy_test_support::eventually_async(
        "the broker's /metrics read",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let r = sampler.sample_once(&app.state, T0).await.unwrap();
            if r.brokers_read == 1 { Ok(r) } else { Err(r) }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nbroker log:\n{}", broker.log()));
    assert_eq!(first.clusters, 1);

    let records: String = (0..200)
        .map(|i| format!("record-{i:04}-{}\n", "x".repeat(100)))
        .collect();
    kcat(
        &broker,
        &["-P", "-t", "orders", "-p", "0"],
        records.as_bytes(),
    );
    // A group consumes all 200 and commits; 50 more follow: its lag is 50.
    let consumed = kcat(
        &broker,
        &[
            "-G",
            "billing",
            "-X",
            "auto.offset.reset=earliest",
            "-e",
            "-f",
            "%s\n",
            "orders",
        ],
        b"",
    );
    assert_eq!(consumed.lines().count(), 200);
    let more: String = (0..50).map(|i| format!("late-{i}\n")).collect();
    kcat(&broker, &["-P", "-t", "orders", "-p", "0"], more.as_bytes());

    let second = sampler.sample_once(&app.state, T0 + 30).await.unwrap();
    assert_eq!((second.brokers_read, second.failures.len()), (1, 0));

    let r = app
        .get(
            &format!(
                "/v1/clusters/{id}/metrics?series=produce_throughput,consume_throughput,messages_in,partitions,request_latency_p99,disk_used,consumer_lag,active_controllers,under_min_isr_partitions&since={}",
                T0 - 60
            ),
            &owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let produce = points(&r.body, "produce_throughput", &json!({}));
    assert_eq!(
        produce.len(),
        1,
        "only the second round has a rate: {:?}",
        r.body
    );
    assert_eq!(produce[0].0, T0 + 30);
    // 200 records of 112 bytes (and 50 small ones) in batches, over 30 s: more than
    // 200 × 112 / 30 bytes/s.
    assert!(produce[0].1 > 200.0 * 112.0 / 30.0, "{produce:?}");
    let per_topic = points(&r.body, "produce_throughput", &json!({"topic": "orders"}));
    assert_eq!(per_topic, produce, "one topic carries all of it");
    assert!(points(&r.body, "consume_throughput", &json!({}))[0].1 > 0.0);
    let messages = points(&r.body, "messages_in", &json!({}));
    assert!((messages[0].1 - 250.0 / 30.0).abs() < 1e-9, "{messages:?}");
    let lag = points(&r.body, "consumer_lag", &json!({"group": "billing"}));
    assert_eq!(lag, vec![(T0 + 30, 50.0)], "{:?}", r.body);
    let partitions = points(&r.body, "partitions", &json!({"broker": HOST}));
    assert_eq!(partitions.len(), 2, "a gauge in both rounds: {:?}", r.body);
    assert_eq!(partitions[0].0, T0);
    assert!(partitions[1].1 >= 1.0, "{partitions:?}");
    let p99 = points(&r.body, "request_latency_p99", &json!({"api": "Produce"}));
    assert!(p99.len() == 1 && p99[0].1 > 0.0, "{:?}", r.body);
    // A single node is its cluster's active controller; nothing is below min ISR.
    let controllers = points(&r.body, "active_controllers", &json!({}));
    assert_eq!(controllers.len(), 2, "{:?}", r.body);
    assert!(controllers.iter().all(|p| p.1 == 1.0), "{controllers:?}");
    let under_min_isr = points(&r.body, "under_min_isr_partitions", &json!({}));
    assert!(
        under_min_isr.iter().all(|p| p.1 == 0.0),
        "{under_min_isr:?}"
    );
    let series = r.body["series"].as_array().unwrap();
    let disk = series.iter().find(|s| s["name"] == "disk_used").unwrap();
    assert_eq!(disk["unit"], "bytes");
    assert_eq!(disk["labels"]["broker"], HOST);
}

/// A port free on both 127.0.0.24 and 127.0.0.25 (the sampler uses one admin port for all).
fn port_free_on_24_and_25() -> u16 {
    (0..100)
        .map(|_| free_port())
        .find(|&p| {
            TcpListener::bind(("127.0.0.24", p)).is_ok()
                && TcpListener::bind(("127.0.0.25", p)).is_ok()
        })
        .expect("a port free on 127.0.0.24 and 127.0.0.25")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_broker_times_out_without_holding_the_others() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let (owner, _, _) = app.signup("ann@example.com").await;
    let body = app.create_cluster(&owner, "orders", "shared-small").await;
    let id = body["cluster"]["id"].as_str().unwrap().to_string();
    let port = port_free_on_24_and_25();
    // 127.0.0.24 accepts connections and never answers; 127.0.0.25 serves a broker's metrics.
    let silent = tokio::net::TcpListener::bind(("127.0.0.24", port))
        .await
        .unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..8 {
            let Ok((conn, _)) = silent.accept().await else {
                break;
            };
            held.push(conn);
        }
        std::future::pending::<()>().await;
    });
    let fake = tokio::net::TcpListener::bind(("127.0.0.25", port))
        .await
        .unwrap();
    let metrics = "# TYPE eddy_partitions gauge\neddy_partitions 3\n";
    let fake = tokio::spawn(async move {
        let router = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || async move { metrics }),
        );
        axum::serve(fake, router).await.unwrap();
    });
    app.backend.report_bootstrap(
        &resource_name(&body),
        true,
        "127.0.0.24:9092,127.0.0.25:9092",
    );
    app.sync().await;
    let sampler = Sampler::new(SamplerConfig {
        admin_port: port,
        scrape_timeout: Duration::from_secs(1),
        ..SamplerConfig::default()
    });
    let r = sampler.sample_once(&app.state, T0).await.unwrap();
    silent.abort();
    fake.abort();
    assert_eq!((r.brokers_read, r.failures.len()), (1, 1), "{r:?}");
    assert!(
        r.failures[0].starts_with("127.0.0.24: ") && r.failures[0].contains("no answer within"),
        "{r:?}"
    );
    let r = app
        .get(
            &format!("/v1/clusters/{id}/metrics?series=partitions&since={T0}"),
            &owner,
        )
        .await;
    assert_eq!(
        points(&r.body, "partitions", &json!({"broker": "127.0.0.25"})),
        vec![(T0, 3.0)],
        "{:?}",
        r.body
    );
    assert!(points(&r.body, "partitions", &json!({"broker": "127.0.0.24"})).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_scrape_gives_no_points() {
    let app = TestApp::new(common::Db::Sqlite).await;
    let (owner, _, _) = app.signup("ann@example.com").await;
    let body = app.create_cluster(&owner, "orders", "shared-small").await;
    // Nothing listens on this port of 127.0.0.24: the connection is refused at once.
    let port = free_port();
    app.backend
        .report_bootstrap(&resource_name(&body), true, &format!("127.0.0.24:{port}"));
    app.sync().await;
    let sampler = Sampler::new(SamplerConfig {
        admin_port: port,
        scrape_timeout: Duration::from_secs(2),
        ..SamplerConfig::default()
    });
    let r = sampler.sample_once(&app.state, T0).await.unwrap();
    assert_eq!(
        (r.brokers_read, r.failures.len(), r.points),
        (0, 1, 0),
        "{r:?}"
    );
    assert_eq!(app.count("metric_points").await, 0);
}

fn point(series: Series, value: f64) -> Point {
    Point {
        series,
        labels: labels([("topic", "a")]),
        value,
    }
}

async fn downsampling_and_retention(app: TestApp) {
    let (owner, _, _) = app.signup("ann@example.com").await;
    let id = app.active_cluster(&owner, "orders", "shared-small").await;
    let pool = &app.state.db.pool;
    let retention = Retention {
        raw_secs: 7200,
        rollup_secs: 300,
        rollup_secs_kept: 7 * 86_400,
    };
    // Raw points every 30 s for 3 hours, ending at `end`: value = minutes since `start`.
    let start = T0 - T0.rem_euclid(300); // window-aligned
    let end = start + 3 * 3600;
    let mut ts = start;
    while ts < end {
        let minutes = (ts - start) as f64 / 60.0;
        metric_points::record(pool, &id, ts, &[point(Series::ProduceThroughput, minutes)])
            .await
            .unwrap();
        ts += 30;
    }
    let m = metric_points::maintain(pool, retention, end).await.unwrap();
    // Points older than 2 h (the first hour: 120 raw points) become 12 five-minute averages.
    assert_eq!(
        (m.raw_rolled_up, m.averages_written, m.deleted),
        (120, 12, 0)
    );
    let mut c = pool.acquire().await.unwrap();
    let all = metric_points::all(&mut c, &id).await.unwrap();
    let (averages, raw): (Vec<_>, Vec<_>) = all.iter().partition(|(res, _)| *res == 300);
    assert_eq!((averages.len(), raw.len()), (12, 240));
    // Window [start, start+300): ten points at 0, 0.5, … 4.5 minutes: average 2.25.
    assert_eq!(averages[0].1.ts, start);
    assert!((averages[0].1.value - 2.25).abs() < 1e-9);
    assert!(raw.iter().all(|(_, p)| p.ts >= end - 7200));
    // Running again at the same instant changes nothing (windows are rolled up once, whole).
    let again = metric_points::maintain(pool, retention, end).await.unwrap();
    assert_eq!(again, metric_points::Maintenance::default());
    assert_eq!(
        app.count("metric_series").await,
        1,
        "one cluster, series, label set"
    );
    // The endpoint reads both resolutions in time order.
    let r = app
        .get(
            &format!("/v1/clusters/{id}/metrics?series=produce_throughput&since={start}"),
            &owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let pts = points(&r.body, "produce_throughput", &json!({"topic": "a"}));
    assert_eq!(pts.len(), 252);
    assert!(pts.windows(2).all(|w| w[0].0 < w[1].0));
    // `step` averages into wider windows: 3 hours in 1-hour steps.
    let r = app
        .get(
            &format!("/v1/clusters/{id}/metrics?series=produce_throughput&since={start}&step=3600"),
            &owner,
        )
        .await;
    let hourly = points(&r.body, "produce_throughput", &json!({"topic": "a"}));
    assert_eq!(
        hourly.len(),
        3 + usize::from(start % 3600 != 0),
        "{hourly:?}"
    );
    // Eight days later every average has expired and every raw point has been rolled up.
    let later = metric_points::maintain(pool, retention, end + 8 * 86_400)
        .await
        .unwrap();
    assert_eq!((later.raw_rolled_up, later.averages_written), (240, 24));
    assert_eq!(later.deleted, 12 + 24);
    assert_eq!(later.series_deleted, 1, "the series has no points left");
    assert_eq!(app.count("metric_points").await, 0);
    assert_eq!(app.count("metric_series").await, 0);
    // A round larger than one multi-row INSERT (200 rows): 450 label sets, all written.
    let many: Vec<Point> = (0..450)
        .map(|i| Point {
            series: Series::MessagesIn,
            labels: labels([("topic", format!("t{i}").as_str())]),
            value: f64::from(i),
        })
        .collect();
    metric_points::record(pool, &id, end, &many).await.unwrap();
    assert_eq!(app.count("metric_points").await, 450);
    assert_eq!(app.count("metric_series").await, 450);
    let mut c = pool.acquire().await.unwrap();
    let back = metric_points::read(&mut c, &id, "messages_in", end)
        .await
        .unwrap();
    let sum: f64 = back.iter().map(|p| p.value).sum();
    assert_eq!(sum, f64::from(449 * 450 / 2));
}

async fn bad_queries_are_problems(app: TestApp) {
    let (owner, _, _) = app.signup("ann@example.com").await;
    let id = app.active_cluster(&owner, "orders", "shared-small").await;
    for (query, detail) in [
        ("series=produce_throughput,bogus", "unknown series"),
        ("since=yesterday", "since"),
        ("since=-5m", "since"),
        ("since=0h", "since"),
        ("step=0", "step"),
        ("step=abc", "step"),
        ("step=86401", "step"),
    ] {
        let r = app
            .get(&format!("/v1/clusters/{id}/metrics?{query}"), &owner)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {:?}", r.body);
        assert_eq!(
            r.headers["content-type"], "application/problem+json",
            "{query}"
        );
        assert_eq!(r.code(), "bad_request");
        assert!(
            r.body["detail"].as_str().unwrap().contains(detail),
            "{query}: {:?}",
            r.body
        );
    }
    let doc = app
        .call(axum::http::Method::GET, "/v1/openapi.json", None, None, &[])
        .await;
    assert!(doc.body["paths"]["/v1/clusters/{id}/metrics"]["get"].is_object());
    // The console plots the last hour of every series with uPlot (tests/console.rs draws them).
    let page = app
        .call(axum::http::Method::GET, "/assets/app.js", None, None, &[])
        .await;
    let page = page.body.as_str().unwrap();
    assert!(page.contains("/metrics?since=") && page.contains("u-legend"));
    // No samples yet: an empty list, not an error.
    let r = app
        .get(&format!("/v1/clusters/{id}/metrics?since=15m"), &owner)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({"series": []}));
}

async fn roles_and_accounts_are_enforced(app: TestApp) {
    let (owner, _, _) = app.signup("ann@example.com").await;
    let id = app.active_cluster(&owner, "orders", "shared-small").await;
    let path = format!("/v1/clusters/{id}/metrics");
    for role in ["viewer", "member", "admin"] {
        let t = app
            .member(&owner, &format!("{role}@example.com"), role)
            .await;
        assert_eq!(app.get(&path, &t).await.status, StatusCode::OK, "{role}");
    }
    let billing = app
        .member(&owner, "bill@example.com", "billing_manager")
        .await;
    let r = app.get(&path, &billing).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let (other, _, _) = app.signup("eve@example.com").await;
    let r = app.get(&path, &other).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    assert_eq!(r.code(), "not_found");
    let r = app
        .call(axum::http::Method::GET, &path, None, None, &[])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// A broker's `/metrics` as the sampler sees it with `topics` topics, 6 APIs in use and 2 groups:
/// the counters grow with `round`.
fn synthetic_body(topics: usize, round: u64) -> String {
    use std::fmt::Write as _;
    let mut b = String::new();
    let n = round * 1000;
    for (name, v) in [
        ("eddy_bytes_in_total", n * 100),
        ("eddy_bytes_out_total", n * 90),
        ("eddy_messages_in_total", n),
    ] {
        writeln!(b, "# TYPE {name} counter\n{name} {v}").unwrap();
    }
    for name in [
        "eddy_topic_bytes_in_total",
        "eddy_topic_bytes_out_total",
        "eddy_topic_messages_in_total",
    ] {
        writeln!(b, "# TYPE {name} counter").unwrap();
        for t in 0..topics {
            writeln!(b, "{name}{{topic=\"topic-{t}\"}} {}", n * (t as u64 + 1)).unwrap();
        }
    }
    writeln!(b, "# TYPE eddy_request_duration_seconds histogram").unwrap();
    for api in [
        "Produce",
        "Fetch",
        "Metadata",
        "OffsetCommit",
        "Heartbeat",
        "ListOffsets",
    ] {
        for (i, le) in ["0.0005", "0.001", "0.005", "0.01", "0.1", "1", "+Inf"]
            .iter()
            .enumerate()
        {
            let c = n * (i as u64 + 1);
            writeln!(
                b,
                "eddy_request_duration_seconds_bucket{{api=\"{api}\",le=\"{le}\"}} {c}"
            )
            .unwrap();
        }
    }
    writeln!(
        b,
        "# TYPE eddy_partitions gauge\neddy_partitions {}",
        topics * 3
    )
    .unwrap();
    writeln!(
        b,
        "# TYPE eddy_log_dir_used_bytes gauge\neddy_log_dir_used_bytes{{dir=\"/data\"}} {}",
        n * 100
    )
    .unwrap();
    writeln!(
        b,
        "# TYPE eddy_log_dir_free_bytes gauge\neddy_log_dir_free_bytes{{dir=\"/data\"}} 1000000000"
    )
    .unwrap();
    writeln!(
        b,
        "# TYPE eddy_under_replicated_partitions gauge\neddy_under_replicated_partitions 0"
    )
    .unwrap();
    writeln!(
        b,
        "# TYPE eddy_offline_partitions gauge\neddy_offline_partitions 0"
    )
    .unwrap();
    writeln!(
        b,
        "# TYPE eddy_under_min_isr_partitions gauge\neddy_under_min_isr_partitions 0"
    )
    .unwrap();
    writeln!(
        b,
        "# TYPE eddy_active_controller gauge\neddy_active_controller 1"
    )
    .unwrap();
    writeln!(b, "# TYPE eddy_consumer_lag gauge").unwrap();
    for g in 0..2 {
        for t in 0..topics {
            for p in 0..3 {
                writeln!(
                    b,
                    "eddy_consumer_lag{{group=\"g{g}\",topic=\"topic-{t}\",partition=\"{p}\"}} 5"
                )
                .unwrap();
            }
        }
    }
    b
}

/// This process's CPU time (user + system), from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split(' ')
        .skip(11)
        .take(2)
        .map(|v| v.parse().unwrap())
        .collect();
    Duration::from_millis((f[0] + f[1]) * 10) // USER_HZ is 100 on Linux
}

/// Not a test: the cost of sampling 100 one-broker clusters with 10 topics each, every 15 s, on
/// SQLite (`cargo nextest run -p eddy-api --test metrics --run-ignored only --no-capture`).
/// The brokers are one in-process server on 127.0.0.26 (its CPU is counted too: an upper bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark, run by hand"]
#[allow(clippy::print_stdout)]
async fn bench_sampling_100_clusters() {
    use std::sync::atomic::{AtomicU64, Ordering};
    const CLUSTERS: usize = 100;
    const ROUNDS: u64 = 20;
    let app = TestApp::new(common::Db::Sqlite).await;
    let (owner, _, _) = app.signup("ann@example.com").await;
    let port = free_port();
    for i in 0..CLUSTERS {
        let body = app
            .create_cluster(&owner, &format!("c{i:03}"), "shared-small")
            .await;
        app.backend
            .report_bootstrap(&resource_name(&body), true, "127.0.0.26:9092");
    }
    app.sync().await;
    let round = std::sync::Arc::new(AtomicU64::new(1));
    let served = round.clone();
    let listener = tokio::net::TcpListener::bind(("127.0.0.26", port))
        .await
        .unwrap();
    let server = tokio::spawn(async move {
        let router = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let r = served.load(Ordering::Relaxed);
                async move { synthetic_body(10, r) }
            }),
        );
        axum::serve(listener, router).await.unwrap();
    });
    let sampler = Sampler::new(SamplerConfig {
        admin_port: port,
        ..SamplerConfig::default()
    });
    let (cpu0, wall0) = (cpu_time(), std::time::Instant::now());
    let mut points = 0;
    for i in 0..ROUNDS {
        round.store(i + 1, Ordering::Relaxed);
        let r = sampler
            .sample_once(&app.state, T0 + 15 * i as i64)
            .await
            .unwrap();
        assert_eq!(r.brokers_read, CLUSTERS, "{r:?}");
        points += r.points;
    }
    let (cpu, wall) = (cpu_time() - cpu0, wall0.elapsed());
    server.abort();
    let rows = app.count("metric_points").await;
    use sqlx::Row as _;
    let bytes: i64 = sqlx::query(
        "SELECT page_count * page_size AS b FROM pragma_page_count(), pragma_page_size()",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap()
    .try_get("b")
    .unwrap();
    let per_round = points as f64 / ROUNDS as f64;
    let rounds_per_day = 86_400.0 / 15.0;
    println!(
        "{CLUSTERS} clusters × {ROUNDS} rounds: CPU {cpu:?} ({:.1} ms per round, {:.2} % of one core at 15 s), wall {wall:?}",
        cpu.as_secs_f64() * 1000.0 / ROUNDS as f64,
        cpu.as_secs_f64() / ROUNDS as f64 / 15.0 * 100.0
    );
    println!(
        "{per_round:.0} points per round ({:.0} per cluster), {rows} rows, database {bytes} bytes ({:.0} bytes per row); \
         per day {:.1} M rows written; kept: 2 h raw + 7 d of 5-min averages = {:.2} M rows, about {:.0} MiB",
        per_round / CLUSTERS as f64,
        bytes as f64 / rows as f64,
        per_round * rounds_per_day / 1e6,
        per_round * (7200.0 / 15.0 + 7.0 * 288.0) / 1e6,
        per_round * (7200.0 / 15.0 + 7.0 * 288.0) * bytes as f64 / rows as f64 / 1048576.0
    );
}
