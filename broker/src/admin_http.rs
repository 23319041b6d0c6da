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
        .route("/v1/cluster/health", get(cluster_health))
        .route(
            "/v1/broker/maintenance",
            axum::routing::put(|s| maintenance(s, true)).delete(|s| maintenance(s, false)),
        )
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

/// Under-replicated and offline partitions, the controller and the live brokers. A single node
/// is its own controller and every partition has one replica.
async fn cluster_health(State(b): State<Arc<Broker>>) -> impl IntoResponse {
    match b.cluster() {
        Some(c) => {
            let img = c.image().clone();
            Json(
                serde_json::to_value(crate::cluster::health::cluster_health(
                    &b,
                    c.controller_id(),
                    &img,
                ))
                .unwrap_or_default(),
            )
        }
        None => Json(serde_json::json!({
            "cluster_id": b.cluster_id,
            "controller_id": b.node_id(),
            "live_brokers": [b.node_id()],
            "under_replicated": [],
            "under_min_isr": [],
            "offline": [],
            "healthy": b.state() == BrokerState::Running,
        })),
    }
}

/// PUT: move this broker's leaderships to other in-sync replicas and keep them away; DELETE:
/// allow it to lead again. Answers once the controller applied the change.
async fn maintenance(State(b): State<Arc<Broker>>, on: bool) -> impl IntoResponse {
    let Some(c) = b.cluster().cloned() else {
        return (
            StatusCode::CONFLICT,
            Json(serde_json::json!({
                "error": "maintenance needs cluster mode: a single node has nowhere to move its leaderships"
            })),
        );
    };
    let id = b.node_id();
    match c
        .write(crate::cluster::image::Command::SetMaintenance { id, on })
        .await
    {
        Ok(_) => {
            let img = c.image().clone();
            b.reconcile(&img);
            let still_leading: Vec<String> = img
                .topics
                .values()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| p.leader == id)
                        .map(move |(i, _)| format!("{}-{i}", t.name))
                })
                .collect();
            (
                StatusCode::OK,
                Json(serde_json::json!({
                    "node_id": id,
                    "maintenance": on,
                    "still_leading": still_leading,
                })),
            )
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": e })),
        ),
    }
}
