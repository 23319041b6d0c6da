//! The audit log, read-only over HTTP.

use crate::auth::extract::Principal;
use crate::domain::roles::Permission;
use crate::error::ApiResult;
use crate::routes::validate;
use crate::state::AppState;
use crate::store::audit::{self, AuditEntry};
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Routes under `/v1/audit`.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/audit", get(list_audit))
}

/// Paging through the log, newest first.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    pub limit: Option<i64>,
    /// Entries older than this entry id.
    pub before: Option<String>,
}

/// A page of the log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub next_before: Option<String>,
}

/// The account's audit log (owner, admin).
#[utoipa::path(get, path = "/v1/audit", tag = "account", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = crate::error::Problem)))]
pub async fn list_audit(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    p.require(Permission::ReadAudit)?;
    let limit = validate::limit(q.limit)?;
    let before = validate::cursor(q.before.as_deref())?;
    let mut c = state.db.pool.acquire().await?;
    let items = audit::list(&mut c, &p.account_id, before, limit).await?;
    let next_before = (items.len() == usize::try_from(limit).unwrap_or(0))
        .then(|| items.last().map(|e| e.id.clone()))
        .flatten();
    Ok(Json(AuditPage { items, next_before }))
}
