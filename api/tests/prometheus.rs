//! Plots read from a Prometheus server (`--prometheus-url`): Debian's `prometheus` scrapes a
//! real broker every second with the `cluster`/`namespace` labels the chart's PodMonitor gives
//! broker pods, kcat produces and a group falls behind, and `GET /v1/clusters/{id}/metrics`
//! answers from Prometheus, as do metric alarm rules (a consumer-lag alarm, then a broker-down
//! one once the broker stops); an unreachable Prometheus is a 503 problem.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use axum::http::StatusCode;
use common::broker::{Broker, free_port, kcat};
use common::{TestApp, resource_name};
use eddy_api::samples::prometheus::PrometheusSource;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// Loopback address of this test's broker and Prometheus.
const HOST: &str = "127.0.0.28";

/// A Prometheus server scraping one broker, killed by PID when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str, labels: &Value) -> Self {
        let bin = std::env::var_os("EDDY_PROMETHEUS_BIN")
            .map_or_else(|| PathBuf::from("/usr/bin/prometheus"), PathBuf::from);
        assert!(
            bin.exists(),
            "{} is missing: run scripts/install-test-deps.sh (apt package prometheus)",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let config = json!({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{
                "job_name": "eddy-brokers",
                "static_configs": [{"targets": [target], "labels": labels}],
            }],
        });
        // JSON is YAML: Prometheus reads it as its configuration file.
        std::fs::write(dir.path().join("prometheus.yml"), config.to_string()).unwrap();
        let port = free_port(HOST);
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={HOST}:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        Self { child, port, dir }
    }

    fn url(&self) -> String {
        format!("http://{HOST}:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The largest value of `name` with `labels`, if it has points.
fn max_of(body: &Value, name: &str, labels: &Value) -> Option<f64> {
    body["series"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name && &s["labels"] == labels)?
        .get("points")?
        .as_array()?
        .iter()
        .filter_map(|p| p[1].as_f64())
        .reduce(f64::max)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plots_come_from_prometheus_when_it_is_configured() {
    let broker = Broker::start(HOST);
    let mut app = TestApp::new(common::Db::Sqlite).await;
    let (owner, _, _) = app.signup("ann@example.com").await;
    let body = app.create_cluster(&owner, "orders", "shared-small").await;
    let id = body["cluster"]["id"].as_str().unwrap().to_string();
    let resource = resource_name(&body);
    let namespace = app.backend.object(&resource).unwrap().0.namespace;
    app.backend
        .report_bootstrap(&resource, true, &broker.bootstrap());
    app.sync().await;
    let prom = Prometheus::start(
        &format!("{HOST}:{}", broker.admin_port),
        &json!({"cluster": resource, "namespace": namespace, "broker": format!("{resource}-0")}),
    );
    app.state.prometheus = Some(Arc::new(
        PrometheusSource::new(&prom.url(), Duration::from_secs(5), "1m").unwrap(),
    ));
    let path = format!(
        "/v1/clusters/{id}/metrics?since=5m&series=produce_throughput,consumer_lag,partitions,active_controllers,request_latency_p99"
    );
    // Prometheus is up and has scraped the broker once: partitions has a point.
    let first = eddy_test_support::eventually_async(
        "a first scrape visible through the API",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let r = app.get(&path, &owner).await;
            if r.status == StatusCode::OK
                && max_of(&r.body, "active_controllers", &json!({})).is_some()
            {
                Ok(r.body)
            } else {
                Err(r.body)
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nprometheus log:\n{}", prom.log()));
    assert_eq!(max_of(&first, "active_controllers", &json!({})), Some(1.0));
    assert!(
        max_of(
            &first,
            "partitions",
            &json!({"broker": format!("{resource}-0")})
        )
        .is_some(),
        "{first}"
    );

    let records: String = (0..200)
        .map(|i| format!("record-{i:04}-{}\n", "x".repeat(100)))
        .collect();
    kcat(
        &broker,
        &["-P", "-t", "orders", "-p", "0"],
        records.as_bytes(),
    );
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

    let body = eddy_test_support::eventually_async(
        "throughput and lag through Prometheus",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let r = app.get(&path, &owner).await;
            let produce = max_of(&r.body, "produce_throughput", &json!({})).unwrap_or(0.0);
            let lag = max_of(&r.body, "consumer_lag", &json!({"group": "billing"}));
            if produce > 0.0 && lag == Some(50.0) {
                Ok(r.body)
            } else {
                Err(r.body)
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nprometheus log:\n{}", prom.log()));
    // 200 records of 112 bytes arrived within one 1-minute rate window.
    let produce = max_of(&body, "produce_throughput", &json!({})).unwrap();
    assert!(produce > 200.0 * 112.0 / 60.0 / 2.0, "{produce}");
    let per_topic = max_of(&body, "produce_throughput", &json!({"topic": "orders"}));
    assert!(per_topic.is_some_and(|v| v > 0.0), "{body}");
    let p99 = max_of(&body, "request_latency_p99", &json!({"api": "Produce"}));
    assert!(p99.is_some_and(|v| v > 0.0), "{body}");
    let series = body["series"].as_array().unwrap();
    assert!(series.iter().all(|s| s["unit"].is_string()));
    // The API's own tables stay empty: the sampler is not what answered.
    assert_eq!(app.count("metric_points").await, 0);

    // Metric alarm rules read the same series from Prometheus: the group 50 behind opens a
    // consumer-lag alarm; the broker is up, so no broker-down alarm, until it is stopped.
    app.state.alerting = Arc::new(eddy_api::alerting::Alerting {
        sample_interval_secs: 2,
        ..eddy_api::alerting::Alerting::new(
            eddy_api::alerting::secrets::SecretBox::ephemeral().unwrap(),
        )
    });
    for rule in [
        json!({"kind": "consumer_lag", "threshold": 10, "for_minutes": 0, "cluster_id": id, "group": "billing"}),
        json!({"kind": "broker_down", "cluster_id": id}),
    ] {
        let r = app.post("/v1/alarm-rules", &owner, rule).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let open_alarms = || async {
        let r = app.get("/v1/alarms", &owner).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["state"] == "open")
            .map(|a| {
                (
                    a["kind"].as_str().unwrap().to_string(),
                    a["subject"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let r = eddy_api::alerting::evaluate::evaluate_once(&app.state, eddy_api::store::now())
        .await
        .unwrap();
    assert_eq!((r.opened, r.resolved), (1, 0), "{:?}", open_alarms().await);
    assert_eq!(
        open_alarms().await,
        [("consumer_lag".to_string(), "group=billing".to_string())]
    );
    drop(broker);
    let down = eddy_test_support::eventually_async(
        "a broker-down alarm from Prometheus",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            eddy_api::alerting::evaluate::evaluate_once(&app.state, eddy_api::store::now())
                .await
                .unwrap();
            let open = open_alarms().await;
            open.iter().any(|(k, _)| k == "broker_down").then_some(open)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nprometheus log:\n{}", prom.log()));
    assert!(
        down.contains(&("broker_down".to_string(), format!("broker={resource}-0"))),
        "{down:?}"
    );
    assert_eq!(app.count("metric_points").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_prometheus_is_a_503_problem() {
    let mut app = TestApp::new(common::Db::Sqlite).await;
    let (owner, _, _) = app.signup("ann@example.com").await;
    let id = app.active_cluster(&owner, "orders", "shared-small").await;
    // A port nothing listens on.
    let port = free_port(HOST);
    app.state.prometheus = Some(Arc::new(
        PrometheusSource::new(
            &format!("http://{HOST}:{port}"),
            Duration::from_secs(2),
            "1m",
        )
        .unwrap(),
    ));
    let r = app
        .get(
            &format!("/v1/clusters/{id}/metrics?series=partitions"),
            &owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    assert_eq!(r.headers["content-type"], "application/problem+json");
    assert!(r.headers.contains_key("retry-after"));
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("query prometheus"),
        "{:?}",
        r.body
    );
    // Bad queries are still refused before Prometheus is asked.
    let r = app
        .get(&format!("/v1/clusters/{id}/metrics?series=nope"), &owner)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
