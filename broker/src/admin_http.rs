//! Admin HTTP (the operator's contract, default 127.0.0.1:9600): /metrics, /healthz, /readyz,
//! /v1/broker/state and the restart probes (/v1/broker/pre-restart-probe and
//! /v1/broker/post-restart-probe, which always answer 200 with the verdict in the body), and the
//! metadata quorum (GET /v1/cluster/quorum, PUT /v1/cluster/voters).

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
        .route("/v1/cluster/quorum", get(quorum))
        .route("/v1/cluster/voters", axum::routing::put(change_voters))
        .route(
            "/v1/broker/maintenance",
            axum::routing::put(|s| maintenance(s, true)).delete(|s| maintenance(s, false)),
        )
        .with_state(broker)
}

async fn metrics(State(b): State<Arc<Broker>>) -> impl IntoResponse {
    let size: u64 = b
        .node
        .topics()
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| p.size_bytes())
        .sum();
    b.node.metrics.log_size.set(size as i64);
    b.groups.update_lag_metrics(&b.node);
    refresh_gauges(&b, size);
    (
        [("content-type", "text/plain; version=0.0.4")],
        b.node.metrics.render(),
    )
}

/// Sets the gauges computed at scrape time: partition health, the active controller and the
/// log directory's disk space (`used` is the partition logs' bytes).
fn refresh_gauges(b: &Broker, used: u64) {
    let m = &b.node.metrics;
    let me = b.node.node_id();
    let controller = b.cluster().map_or(Some(me), |c| c.controller_id()) == Some(me);
    m.active_controller.set(i64::from(controller));
    let (mut under_replicated, mut under_min_isr, mut offline) = (0, 0, 0);
    for v in probes::replica_views(&b.node) {
        if v.leader < 0 {
            // Kafka's OfflinePartitionsCount: reported by the active controller only.
            offline += i64::from(controller);
        } else if v.leader == me {
            under_replicated += i64::from(v.isr.len() < v.replicas.len());
            under_min_isr += i64::from(v.isr.len() < v.min_insync_replicas.min(v.replicas.len()));
        }
    }
    m.under_replicated_partitions.set(under_replicated);
    m.under_min_isr_partitions.set(under_min_isr);
    m.offline_partitions.set(offline);
    let dir = &b.node.config.data_dir;
    let label = dir.display().to_string();
    m.log_dir_used
        .with_label_values(&[label.as_str()])
        .set(i64::try_from(used).unwrap_or(i64::MAX));
    if let Some((total, free)) = crate::node::disk_space(dir) {
        m.log_dir_total
            .with_label_values(&[label.as_str()])
            .set(total);
        m.log_dir_free
            .with_label_values(&[label.as_str()])
            .set(free);
    }
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
    let partitions: usize = b.node.topics().iter().map(|t| t.partitions.len()).sum();
    // The release and feature levels: the operator's upgrade reads them per broker.
    let finalized = b.metadata().finalized_features();
    Json(serde_json::json!({
        "state": b.state(),
        "node_id": b.node.node_id(),
        "cluster_id": b.node.cluster_id,
        "partitions": partitions,
        "version": crate::features::identity().version,
        "supported_features": crate::features::supported(),
        "finalized_features": finalized.levels,
        "finalized_features_epoch": finalized.epoch,
    }))
}

async fn pre_restart_probe(State(b): State<Arc<Broker>>) -> impl IntoResponse {
    Json(probes::pre_restart(
        b.node.node_id(),
        b.state(),
        &probes::replica_views(&b.node),
    ))
}

async fn post_restart_probe(State(b): State<Arc<Broker>>) -> impl IntoResponse {
    Json(probes::post_restart(
        b.node.node_id(),
        b.state(),
        &probes::replica_views(&b.node),
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
                    |configs| crate::probes::min_insync_replicas(&b.node, configs),
                    c.controller_id(),
                    &img,
                ))
                .unwrap_or_default(),
            )
        }
        None => Json(serde_json::json!({
            "cluster_id": b.node.cluster_id,
            "controller_id": b.node.node_id(),
            "live_brokers": [b.node.node_id()],
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
    let id = b.node.node_id();
    match c
        .write(crate::cluster::image::Command::SetMaintenance { id, on })
        .await
    {
        Ok(_) => {
            let img = c.image().clone();
            crate::control::quorum::reconcile(&b.node, &img);
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

fn voter_error(e: crate::cluster::quorum::VoterError) -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(serde_json::json!({ "error": e.reason })),
    )
}

fn needs_cluster() -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::CONFLICT,
        Json(serde_json::json!({
            "error": "the controller quorum needs cluster mode (--controller-quorum-voters)"
        })),
    )
}

/// The metadata quorum: leader, voters, learners and their controller addresses.
async fn quorum(State(b): State<Arc<Broker>>) -> impl IntoResponse {
    let Some(c) = b.cluster().cloned() else {
        return needs_cluster();
    };
    match c.quorum_view().await {
        Ok(v) => (
            StatusCode::OK,
            Json(serde_json::to_value(v).unwrap_or_default()),
        ),
        Err(e) => voter_error(e),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VotersBody {
    voters: Vec<i64>,
}

/// PUT `{"voters": [0,1,2]}`: makes exactly these brokers the voters (forwarded to the active
/// controller), adding missing ones as learners and waiting (bounded) until they caught up.
async fn change_voters(State(b): State<Arc<Broker>>, body: axum::body::Bytes) -> impl IntoResponse {
    let Some(c) = b.cluster().cloned() else {
        return needs_cluster();
    };
    let body: VotersBody = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({
                    "error": format!("expected {{\"voters\": [node ids]}}: {e}")
                })),
            );
        }
    };
    let mut ids = Vec::new();
    for v in body.voters {
        let Ok(id) = u64::try_from(v) else {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": format!("invalid node id {v}") })),
            );
        };
        if ids.contains(&id) {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": format!("node {id} is listed twice") })),
            );
        }
        ids.push(id);
    }
    if ids.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": "the voter set must not be empty" })),
        );
    }
    match c.change_voters(ids).await {
        Ok(v) => (
            StatusCode::OK,
            Json(serde_json::to_value(v).unwrap_or_default()),
        ),
        Err(e) => voter_error(e),
    }
}
