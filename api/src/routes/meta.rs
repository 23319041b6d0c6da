//! Health, metrics and the OpenAPI document (the web console is `console.rs`).

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

/// `/healthz`, `/metrics`, `/v1/openapi.json`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi))
}

/// Healthy when the database answers; 503 otherwise.
pub async fn healthz(State(state): State<AppState>) -> ApiResult<&'static str> {
    state
        .db
        .ping()
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok("ok\n")
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// The OpenAPI 3.1 document generated from the handlers' annotations.
pub async fn openapi() -> impl IntoResponse {
    Json(crate::openapi::ApiDoc::openapi())
}
