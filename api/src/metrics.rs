//! Prometheus metrics: request counts and latencies per route, plus operation outcomes.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use std::time::Instant;

/// The API's metrics and the registry they live in.
#[derive(Debug)]
pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub operations: IntCounterVec,
    /// Rounds of background work this replica ran (it runs them only while it leads).
    pub background_rounds: IntCounterVec,
}

impl Metrics {
    /// Registers the metrics in a fresh registry.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "eddy_api_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["method", "route", "status"],
        )
        .expect("static metric definition");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "eddy_api_http_request_duration_seconds",
                "HTTP request latency",
            ),
            &["method", "route"],
        )
        .expect("static metric definition");
        let operations = IntCounterVec::new(
            Opts::new(
                "eddy_api_operations_total",
                "Cluster operations by kind and final state",
            ),
            &["kind", "state"],
        )
        .expect("static metric definition");
        let background_rounds = IntCounterVec::new(
            Opts::new(
                "eddy_api_background_rounds_total",
                "Rounds of once-only background work run by this replica, by task",
            ),
            &["task"],
        )
        .expect("static metric definition");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(operations.clone()),
            Box::new(background_rounds.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Self {
            registry,
            requests,
            latency,
            operations,
            background_rounds,
        }
    }

    /// Whether this replica leads; when it does, counts one round of `task`. The background
    /// loops ask before each round, so only the leader evaluates, delivers, samples and probes.
    pub fn lead_round(&self, leader: &crate::leader::Leadership, task: &str) -> bool {
        let leads = leader.is_leader();
        if leads {
            self.background_rounds.with_label_values(&[task]).inc();
        }
        leads
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Middleware recording every request under its route template (not the raw path).
pub async fn track(
    State(state): State<crate::state::AppState>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let start = Instant::now();
    let resp = next.run(req).await;
    let m = &state.metrics;
    m.latency
        .with_label_values(&[&method, &route])
        .observe(start.elapsed().as_secs_f64());
    m.requests
        .with_label_values(&[&method, &route, resp.status().as_str()])
        .inc();
    resp
}
