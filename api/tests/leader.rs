//! Leader election between API replicas on one real PostgreSQL: two `api` processes (the
//! binary, as deployments run it) share a database; exactly one runs the background work
//! (its `eddy_api_leader` gauge is 1 and only its background-round counters move), and when
//! it is killed the other takes over.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::broker::free_port;
use common::postgres::PgServer;
use std::io::{Read as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Loopback address of this test's API processes.
const HOST: &str = "127.0.0.33";

/// An `api` process, killed by PID when dropped.
struct Api {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl Api {
    fn start(database_url: &str) -> Self {
        let port = free_port(HOST);
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_api"))
            .args(["--listen", &format!("{HOST}:{port}")])
            .args(["--database-url", database_url])
            .args(["--secrets-key", &"ab".repeat(32)])
            .args(["--alarm-interval-secs", "1"])
            .args(["--sla-probe-interval-secs", "1"])
            .args(["--leader-retry-secs", "1"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("spawn the api binary");
        Self { child, port, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// `/metrics` as text, or `None` when the process does not answer (yet).
    fn metrics(&self) -> Option<String> {
        let mut s = std::net::TcpStream::connect((HOST, self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: api\r\n\r\n")
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        out.starts_with("HTTP/1.0 200").then_some(out)
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the sample named exactly `name` (with its labels) in a `/metrics` text.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

const LEADER: &str = "eddy_api_leader";
const EVALUATIONS: &str = "eddy_api_background_rounds_total{task=\"alarm_evaluation\"}";
const PROBES: &str = "eddy_api_background_rounds_total{task=\"sla_probe\"}";

/// Both processes' metrics once both answer.
fn both(a: &Api, b: &Api) -> Option<(String, String)> {
    Some((a.metrics()?, b.metrics()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_leads_and_another_takes_over_when_it_dies() {
    let pg = tokio::task::spawn_blocking(PgServer::start)
        .await
        .unwrap()
        .unwrap();
    common::create_database(&pg).await;
    let url = pg.url("eddy_test");
    let first = Api::start(&url);
    // The second starts once the first answers (it ran the migrations).
    eddy_test_support::eventually(
        "the first api answers",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || first.metrics(),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", first.log()));
    let second = Api::start(&url);
    let apis = [first, second];

    // Exactly one leads, and only its background rounds move.
    let (leader, standby) = eddy_test_support::eventually(
        "one leader among two replicas that both answer",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let (a, b) = both(&apis[0], &apis[1])?;
            match (sample(&a, LEADER), sample(&b, LEADER)) {
                (l, s) if l == 1.0 && s == 0.0 => Some((0, 1)),
                (l, s) if l == 0.0 && s == 1.0 => Some((1, 0)),
                _ => None,
            }
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", apis[0].log(), apis[1].log()));
    let rounds = eddy_test_support::eventually(
        "the leader evaluates and probes round after round",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let m = apis[leader].metrics()?;
            (sample(&m, EVALUATIONS) >= 3.0 && sample(&m, PROBES) >= 3.0).then_some(m)
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", apis[leader].log()));
    assert_eq!(sample(&rounds, LEADER), 1.0);
    let idle = apis[standby].metrics().unwrap();
    assert_eq!(sample(&idle, LEADER), 0.0, "{idle}");
    assert_eq!(sample(&idle, EVALUATIONS), 0.0, "{idle}");
    assert_eq!(sample(&idle, PROBES), 0.0, "{idle}");

    // The leader dies (SIGKILL: no goodbye); PostgreSQL drops its session and lock, and the
    // standby takes over and starts working.
    let [a, b] = apis;
    let (dead, survivor) = if leader == 0 { (a, b) } else { (b, a) };
    drop(dead);
    let took_over = eddy_test_support::eventually(
        "the standby takes over",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let m = survivor.metrics()?;
            (sample(&m, LEADER) == 1.0 && sample(&m, EVALUATIONS) >= 1.0).then_some(m)
        },
    );
    assert!(took_over.is_ok(), "{took_over:?}\n{}", survivor.log());
    assert!(survivor.log().contains("API leadership changed"));
}
