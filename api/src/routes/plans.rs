//! The plans catalog, readable without signing in (it is the price list).

use crate::domain::plans::{Plan, Region};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

/// Routes under `/v1/plans`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/plans", get(list_plans))
        .route("/v1/plans/{id}", get(get_plan))
}

/// The catalog as served.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogView {
    pub catalog_version: i64,
    pub versions: Vec<String>,
    /// The highest `eddy.version` feature level each version supports.
    pub version_levels: std::collections::BTreeMap<String, i16>,
    pub regions: Vec<Region>,
    pub plans: Vec<Plan>,
}

/// Every plan with its limits, features, price history and allowed transitions.
#[utoipa::path(get, path = "/v1/plans", tag = "plans", responses((status = 200, body = CatalogView)))]
pub async fn list_plans(State(state): State<AppState>) -> Json<CatalogView> {
    let c = &state.catalog;
    Json(CatalogView {
        catalog_version: c.version,
        versions: c.versions.clone(),
        version_levels: c.version_levels.clone(),
        regions: c.regions.clone(),
        plans: c.plans.clone(),
    })
}

/// One plan.
#[utoipa::path(get, path = "/v1/plans/{id}", tag = "plans", params(("id" = String, Path)),
    responses((status = 200, body = Plan), (status = 404, body = crate::error::Problem)))]
pub async fn get_plan(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Plan>> {
    state
        .catalog
        .plan(&id)
        .cloned()
        .map(Json)
        .map_err(|_| ApiError::NotFound(format!("plan {id}")))
}
