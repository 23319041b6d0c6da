//! Alarm rules (`/v1/alarm-rules`, owners and admins) and alarms (`/v1/alarms`, every role that
//! reads clusters): rules are evaluated by `alerting::evaluate`; deleting a rule resolves its
//! open alarms (their resolve notices go out).

use crate::alerting::evaluate;
use crate::auth::extract::Principal;
use crate::domain::alarms::{RuleKind, validate_rule};
use crate::domain::roles::Permission;
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::routes::validate;
use crate::state::AppState;
use crate::store::alarms::{AlarmRow, RuleRow};
use crate::store::{self, audit, clusters};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

/// Routes under `/v1/alarm-rules` and `/v1/alarms`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/alarm-rules", get(list_rules).post(create_rule))
        .route(
            "/v1/alarm-rules/{id}",
            get(get_rule).patch(update_rule).delete(delete_rule),
        )
        .route("/v1/alarms", get(list_alarms))
}

/// A new rule: `kind` consumer_lag (threshold: messages), disk_used_percent (threshold: %,
/// default 80), broker_down, under_replicated_partitions / offline_partitions (threshold
/// default 0), operation_failed; breached for `for_minutes` (0-1440) before it opens; on one
/// cluster or (without `cluster_id`) every cluster of the account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleRequest {
    pub name: Option<String>,
    pub kind: String,
    pub cluster_id: Option<String>,
    pub threshold: Option<f64>,
    pub for_minutes: Option<i64>,
    /// Consumer-lag rules: only this group.
    pub group: Option<String>,
    /// The channels its notices go to (at least one, all of this account); every channel of
    /// the account when absent.
    pub channel_ids: Option<Vec<String>>,
}

/// Changes to a rule; what is left out stays. The kind and the cluster are the rule's identity
/// (delete it and create another to change them). `channel_ids: null` sends to every channel of
/// the account again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulePatch {
    pub name: Option<String>,
    pub threshold: Option<f64>,
    pub for_minutes: Option<i64>,
    /// Consumer-lag rules: only this group (`null`: every group).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub group: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub channel_ids: Option<Option<Vec<String>>>,
}

/// A field that is present (`Some`, possibly `null`) versus left out (`None`, by `default`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Checks a rule's channel list against the account: 1 to 20 of its channels. Returns the
/// stored form (JSON text; `None`: every channel).
async fn channel_list(
    c: &mut sqlx::AnyConnection,
    account_id: &str,
    ids: Option<&[String]>,
) -> ApiResult<Option<String>> {
    let Some(ids) = ids else {
        return Ok(None);
    };
    if ids.is_empty() || ids.len() > 20 {
        return Err(ApiError::invalid(
            "channel_ids",
            "1 to 20 channel ids (leave it out for every channel)",
        ));
    }
    for id in ids {
        if store::channels::get(&mut *c, account_id, id)
            .await?
            .is_none()
        {
            return Err(ApiError::invalid(
                "channel_ids",
                format!("no channel {id} in this account"),
            ));
        }
    }
    Ok(Some(
        serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()),
    ))
}

/// A rule as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub kind: RuleKind,
    pub cluster_id: Option<String>,
    pub threshold: Option<f64>,
    pub for_minutes: i64,
    pub group: Option<String>,
    /// `null`: every channel of the account.
    pub channel_ids: Option<Vec<String>>,
    pub created_at: String,
}

fn rule_answer(r: &RuleRow) -> ApiResult<Rule> {
    let kind = RuleKind::parse(&r.kind)
        .ok_or_else(|| ApiError::Internal(format!("stored rule kind {}", r.kind)))?;
    Ok(Rule {
        id: r.id.clone(),
        name: r.name.clone(),
        kind,
        cluster_id: r.cluster_id.clone(),
        threshold: kind
            .threshold_range()
            .and_then(|_| r.threshold.parse().ok()),
        for_minutes: r.for_secs / 60,
        group: r.group_name.clone(),
        channel_ids: r.channels(),
        created_at: store::rfc3339(r.created_at),
    })
}

/// Creates a rule.
#[utoipa::path(post, path = "/v1/alarm-rules", tag = "alarms", security(("bearer" = [])), request_body = RuleRequest,
    responses((status = 201, body = Rule), (status = 422, body = crate::error::Problem)))]
pub async fn create_rule(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(req): ApiJson<RuleRequest>,
) -> ApiResult<(StatusCode, Json<Rule>)> {
    p.require(Permission::ManageAlarms)?;
    let kind = RuleKind::parse(&req.kind).ok_or_else(|| {
        let names: Vec<&str> = RuleKind::ALL.iter().map(|k| k.as_str()).collect();
        ApiError::invalid("kind", format!("kind is one of {}", names.join(", ")))
    })?;
    let spec = validate_rule(kind, req.threshold, req.for_minutes, req.group.as_deref())
        .map_err(|e| ApiError::invalid(e.field, e.detail))?;
    let name = req.name.unwrap_or_else(|| kind.as_str().replace('_', " "));
    validate::display_name("name", &name)?;
    let now = store::now();
    let mut tx = state.db.pool.begin().await?;
    if let Some(id) = &req.cluster_id {
        clusters::get(&mut tx, &p.account_id, id)
            .await?
            .filter(|k| k.state != crate::domain::operations::ClusterState::Deleted)
            .ok_or_else(|| ApiError::invalid("cluster_id", "no such cluster in this account"))?;
    }
    let channel_ids = channel_list(&mut tx, &p.account_id, req.channel_ids.as_deref()).await?;
    let row = RuleRow {
        id: store::new_id(),
        account_id: p.account_id.clone(),
        cluster_id: req.cluster_id,
        name: name.trim().to_string(),
        kind: kind.as_str().into(),
        threshold: spec.threshold.to_string(),
        for_secs: spec.for_secs,
        group_name: spec.group,
        channel_ids,
        created_by: p.actor().actor,
        created_at: now,
    };
    store::alarms::insert_rule(&mut tx, &row).await?;
    audit::record(
        &mut tx,
        &p.actor(),
        "alarm_rule.create",
        &row.id,
        &json!({"kind": row.kind, "cluster_id": row.cluster_id, "threshold": spec.threshold,
                "for_secs": row.for_secs}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(rule_answer(&row)?)))
}

/// The account's rules.
#[utoipa::path(get, path = "/v1/alarm-rules", tag = "alarms", security(("bearer" = [])), responses((status = 200, body = [Rule])))]
pub async fn list_rules(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Vec<Rule>>> {
    p.require(Permission::ManageAlarms)?;
    let mut c = state.db.pool.acquire().await?;
    let rows = store::alarms::rules(&mut c, &p.account_id).await?;
    Ok(Json(
        rows.iter().map(rule_answer).collect::<ApiResult<_>>()?,
    ))
}

/// One rule.
#[utoipa::path(get, path = "/v1/alarm-rules/{id}", tag = "alarms", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Rule), (status = 404, body = crate::error::Problem)))]
pub async fn get_rule(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Rule>> {
    p.require(Permission::ManageAlarms)?;
    let mut c = state.db.pool.acquire().await?;
    let r = store::alarms::rule(&mut c, &p.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("alarm rule".into()))?;
    Ok(Json(rule_answer(&r)?))
}

/// Changes a rule's name, threshold, duration, group or channels (422 for invalid values,
/// nothing changed). Its open alarms stay open; the next evaluation judges them by the new
/// terms and resolves those no longer breached.
#[utoipa::path(patch, path = "/v1/alarm-rules/{id}", tag = "alarms", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = RulePatch,
    responses((status = 200, body = Rule), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update_rule(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RulePatch>,
) -> ApiResult<Json<Rule>> {
    p.require(Permission::ManageAlarms)?;
    let now = store::now();
    let mut tx = state.db.pool.begin().await?;
    let mut row = store::alarms::rule(&mut tx, &p.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("alarm rule".into()))?;
    let current = rule_answer(&row)?;
    let group = match &req.group {
        Some(g) => g.clone(),
        None => current.group.clone(),
    };
    let spec = validate_rule(
        current.kind,
        req.threshold.or(current.threshold),
        Some(req.for_minutes.unwrap_or(current.for_minutes)),
        group.as_deref(),
    )
    .map_err(|e| ApiError::invalid(e.field, e.detail))?;
    if let Some(name) = &req.name {
        validate::display_name("name", name)?;
        row.name = name.trim().to_string();
    }
    if let Some(ids) = &req.channel_ids {
        row.channel_ids = channel_list(&mut tx, &p.account_id, ids.as_deref()).await?;
    }
    row.threshold = spec.threshold.to_string();
    row.for_secs = spec.for_secs;
    row.group_name = spec.group;
    store::alarms::update_rule(&mut tx, &row).await?;
    audit::record(
        &mut tx,
        &p.actor(),
        "alarm_rule.update",
        &row.id,
        &json!({"threshold": spec.threshold, "for_secs": row.for_secs,
                "group": row.group_name, "channels": row.channels()}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(rule_answer(&row)?))
}

/// Deletes a rule; its open alarms resolve (and their resolve notices are sent).
#[utoipa::path(delete, path = "/v1/alarm-rules/{id}", tag = "alarms", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn delete_rule(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    p.require(Permission::ManageAlarms)?;
    let now = store::now();
    let mut tx = state.db.pool.begin().await?;
    let rule = store::alarms::rule(&mut tx, &p.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("alarm rule".into()))?;
    for a in store::alarms::open_for_rule(&mut tx, &rule.id).await? {
        let name = clusters::get(&mut tx, &p.account_id, &a.cluster_id)
            .await?
            .map_or_else(|| "deleted cluster".to_string(), |k| k.name);
        evaluate::resolve_alarm(
            &mut tx,
            &a.dedup_key,
            &name,
            rule.channels().as_deref(),
            now,
        )
        .await?;
    }
    store::alarms::delete_rule(&mut tx, &p.account_id, &rule.id).await?;
    audit::record(
        &mut tx,
        &p.actor(),
        "alarm_rule.delete",
        &rule.id,
        &json!({}),
        now,
    )
    .await?;
    tx.commit().await?;
    state.alerting.wake.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

/// Which alarms to list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AlarmQuery {
    /// `open` (default) or `all` (open and recently resolved, newest first).
    pub state: Option<String>,
    pub limit: Option<i64>,
}

/// An alarm.
#[derive(Debug, Serialize, ToSchema)]
pub struct Alarm {
    pub id: String,
    pub rule_id: String,
    pub cluster_id: String,
    pub kind: String,
    pub subject: String,
    pub dedup_key: String,
    pub summary: String,
    pub value: String,
    /// `open` or `resolved`.
    pub state: &'static str,
    pub opened_at: String,
    pub resolved_at: Option<String>,
}

impl From<AlarmRow> for Alarm {
    fn from(a: AlarmRow) -> Self {
        Alarm {
            state: if a.resolved_at.is_some() {
                "resolved"
            } else {
                "open"
            },
            id: a.id,
            rule_id: a.rule_id,
            cluster_id: a.cluster_id,
            kind: a.kind,
            subject: a.subject,
            dedup_key: a.dedup_key,
            summary: a.summary,
            value: a.value,
            opened_at: store::rfc3339(a.opened_at),
            resolved_at: a.resolved_at.map(store::rfc3339),
        }
    }
}

/// Open alarms, or open and recent ones.
#[utoipa::path(get, path = "/v1/alarms", tag = "alarms", security(("bearer" = [])), params(AlarmQuery),
    responses((status = 200, body = [Alarm]), (status = 422, body = crate::error::Problem)))]
pub async fn list_alarms(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<AlarmQuery>,
) -> ApiResult<Json<Vec<Alarm>>> {
    p.require(Permission::ReadClusters)?;
    let open_only = match q.state.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(_) => return Err(ApiError::invalid("state", "state is open or all")),
    };
    let limit = validate::limit(q.limit)?;
    let mut c = state.db.pool.acquire().await?;
    let rows = store::alarms::list(&mut c, &p.account_id, open_only, limit).await?;
    Ok(Json(rows.into_iter().map(Alarm::from).collect()))
}
