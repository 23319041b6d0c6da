//! Eddy control-plane API: accounts, plans, clusters as operations, billing.
//!
//! Layout: `domain/` holds the pure rules (billing maths, plans, roles, the operation state
//! machine); `store/` the SQL (same queries on SQLite and PostgreSQL); `routes/` one router per
//! resource; `ops` drives operations; `kube/` is where KafkaCluster resources are written;
//! `samples/` scrapes the brokers' metrics into the series the console plots; `alerting/`
//! evaluates alarm rules and delivers their notices; `probe/` is the SLA probe.

pub mod alerting;
pub mod app;
pub mod auth;
pub mod domain;
pub mod error;
pub mod json;
pub mod kube;
pub mod leader;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod probe;
pub mod ratelimit;
pub mod routes;
pub mod samples;
pub mod state;
pub mod store;

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole HTTP API.
pub fn build_router(state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(routes::meta::router())
        .merge(routes::console::router())
        .merge(routes::auth::router())
        .merge(routes::accounts::router())
        .merge(routes::plans::router())
        .merge(routes::clusters::router())
        .merge(routes::topics::router())
        .merge(routes::kafka_users::router())
        .merge(routes::cluster_metrics::router())
        .merge(routes::billing::router())
        .merge(routes::audit::router())
        .merge(routes::channels::router())
        .merge(routes::alarms::router())
        .merge(routes::sla::router())
        .fallback(|| async { ApiError::NotFound("route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .with_state(state)
}
