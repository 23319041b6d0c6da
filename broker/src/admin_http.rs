//! Admin HTTP (the operator's contract, default 127.0.0.1:9600): /metrics, /healthz, /readyz,
//! /v1/broker/state and the restart probes (/v1/broker/pre-restart-probe and
//! /v1/broker/post-restart-probe, which always answer 200 with the verdict in the body).

use crate::broker::{Broker, BrokerState};
use crate::probes;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use std::sync::Arc;

pub fn router(broker: Arc<Broker>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/v1/broker/state", get(state))
        .route("/v1/broker/pre-restart-probe", get(pre_restart_probe))
        .route("/v1/broker/post-restart-probe", get(post_restart_probe))
        .with_state(broker)
}

async fn metrics(State(b): State<Arc<Broker>>) -> impl IntoResponse {
    let size: u64 = b
        .topics()
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| p.size_bytes())
        .sum();
    b.metrics.log_size.set(size as i64);
    b.groups.update_lag_metrics(&b);
    (
        [("content-type", "text/plain; version=0.0.4")],
        b.metrics.render(),
    )
}

async fn readyz(State(b): State<Arc<Broker>>) -> impl IntoResponse {
    match b.state() {
        BrokerState::Running => (StatusCode::OK, "ready"),
        other => (
            StatusCode::SERVICE_UNAVAILABLE,
            match other {
                BrokerState::Starting => "starting",
                BrokerState::Recovering => "recovering",
                _ => "draining",
            },
        ),
    }
}

async fn state(State(b): State<Arc<Broker>>) -> impl IntoResponse {
    let partitions: usize = b.topics().iter().map(|t| t.partitions.len()).sum();
    Json(serde_json::json!({
        "state": b.state(),
        "node_id": b.node_id(),
        "cluster_id": b.cluster_id,
        "partitions": partitions,
    }))
}

async fn pre_restart_probe(State(b): State<Arc<Broker>>) -> impl IntoResponse {
    Json(probes::pre_restart(
        b.node_id(),
        b.state(),
        &probes::replica_views(&b),
    ))
}

async fn post_restart_probe(State(b): State<Arc<Broker>>) -> impl IntoResponse {
    Json(probes::post_restart(
        b.node_id(),
        b.state(),
        &probes::replica_views(&b),
    ))
}
