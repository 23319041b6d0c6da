//! A cluster's availability as the SLA probe measured it (`/v1/clusters/{id}/availability`):
//! per month, the minutes counted, probed and down, and the credit the invoice will give.

use crate::auth::extract::Principal;
use crate::domain::billing::{Period, sla_target};
use crate::domain::plans::Tier;
use crate::domain::roles::Permission;
use crate::domain::sla::month_availability;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{self, clusters};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Routes under `/v1/clusters/{id}/availability`.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/clusters/{id}/availability", get(availability))
}

/// Which month (default: the current one, up to now).
#[derive(Debug, Deserialize, IntoParams)]
pub struct MonthQuery {
    pub year: Option<i32>,
    pub month: Option<u8>,
}

/// A month's measured availability.
#[derive(Debug, Serialize, ToSchema)]
pub struct Availability {
    pub cluster_id: String,
    pub year: i32,
    pub month: u8,
    /// Whether the SLA applies (dedicated plans); shared clusters are probed too when the
    /// probe is on, but earn no credit.
    pub sla: bool,
    /// Minutes counted: the month from its start (or the cluster's creation) to its end (or
    /// now).
    pub minutes: i64,
    /// Minutes with at least one probe write.
    pub probed_minutes: i64,
    /// Minutes whose every probe write failed.
    pub down_minutes: i64,
    /// Percent, 4 decimals.
    #[schema(value_type = String)]
    pub availability_percent: Decimal,
    #[schema(value_type = String)]
    pub sla_target_percent: Decimal,
    /// The share of the cluster's charges the month's invoice credits, in percent.
    #[schema(value_type = String)]
    pub credit_percent: Decimal,
}

/// The cluster's availability in a month.
#[utoipa::path(get, path = "/v1/clusters/{id}/availability", tag = "clusters", security(("bearer" = [])),
    params(("id" = String, Path), MonthQuery),
    responses((status = 200, body = Availability), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn availability(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<MonthQuery>,
) -> ApiResult<Json<Availability>> {
    p.require(Permission::ReadClusters)?;
    let now = store::now();
    let today = time::OffsetDateTime::from_unix_timestamp(now)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let year = q.year.unwrap_or(today.year());
    let month = q.month.unwrap_or(u8::from(today.month()));
    let period =
        Period::month(year, month).map_err(|e| ApiError::invalid("month", e.to_string()))?;
    let mut c = state.db.pool.acquire().await?;
    let cluster = clusters::get(&mut c, &p.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("cluster".into()))?;
    let minutes = store::sla::minutes(&mut c, &cluster.id, period.start, period.end).await?;
    let a = month_availability(&period, cluster.created_at, now, &minutes);
    let sla = state
        .catalog
        .plan(&cluster.plan_id)
        .is_ok_and(|plan| plan.tier == Tier::Dedicated);
    Ok(Json(Availability {
        cluster_id: cluster.id,
        year,
        month,
        sla,
        minutes: a.minutes,
        probed_minutes: a.probed_minutes,
        down_minutes: a.down_minutes,
        availability_percent: (a.availability * Decimal::ONE_HUNDRED)
            .round_dp(4)
            .normalize(),
        sla_target_percent: (sla_target() * Decimal::ONE_HUNDRED).normalize(),
        credit_percent: if sla {
            (a.credit_fraction * Decimal::ONE_HUNDRED).normalize()
        } else {
            Decimal::ZERO
        },
    }))
}
