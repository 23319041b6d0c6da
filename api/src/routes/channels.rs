//! Notification channels (`/v1/channels`): create, list, read, update, delete, send a test
//! notification, and read the delivery log. Owners and admins only. Secrets are sealed on the
//! way in and never answered: responses carry a hint (the last 4 characters).

use crate::alerting::channel_input::{self, ChannelFields};
use crate::alerting::delivery::{self, open_channel};
use crate::alerting::providers::{Action, ChannelConfig, ChannelKind, Notice};
use crate::auth::extract::Principal;
use crate::domain::alarms::Severity;
use crate::domain::roles::Permission;
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::routes::validate;
use crate::state::AppState;
use crate::store::channels::{self, ChannelRow};
use crate::store::{self, audit};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

/// Routes under `/v1/channels`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/channels", get(list_channels).post(create_channel))
        .route(
            "/v1/channels/{id}",
            get(get_channel)
                .patch(update_channel)
                .delete(delete_channel),
        )
        .route("/v1/channels/{id}/test", post(test_channel))
        .route("/v1/channels/{id}/deliveries", get(delivery_log))
}

/// A new channel. `secret`: the PagerDuty integration key, OpsGenie API key, VictorOps REST
/// API key or webhook HMAC secret; `url`: the Slack or webhook URL; `region` (OpsGenie: us|eu);
/// `routing_key` (VictorOps).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelRequest {
    pub name: String,
    pub kind: String,
    pub secret: Option<String>,
    pub url: Option<String>,
    pub region: Option<String>,
    pub routing_key: Option<String>,
}

/// A change of a channel: a new name and/or new settings (the settings given replace all of
/// its settings, which are then validated as on create; its kind never changes).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    pub name: Option<String>,
    pub secret: Option<String>,
    pub url: Option<String>,
    pub region: Option<String>,
    pub routing_key: Option<String>,
}

/// A channel as answered: never a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub kind: ChannelKind,
    #[serde(flatten)]
    pub config: ChannelConfig,
    /// The last characters of the secret and URL, to tell channels apart.
    pub secret_hint: String,
    pub created_at: String,
    pub updated_at: String,
}

fn answer(row: &ChannelRow) -> ApiResult<Channel> {
    Ok(Channel {
        id: row.id.clone(),
        name: row.name.clone(),
        kind: ChannelKind::parse(&row.kind)
            .ok_or_else(|| ApiError::Internal(format!("stored channel kind {}", row.kind)))?,
        config: serde_json::from_str(&row.config)
            .map_err(|e| ApiError::Internal(format!("stored channel config: {e}")))?,
        secret_hint: row.secret_hint.clone(),
        created_at: store::rfc3339(row.created_at),
        updated_at: store::rfc3339(row.updated_at),
    })
}

fn kind_of(s: &str) -> ApiResult<ChannelKind> {
    ChannelKind::parse(s).ok_or_else(|| {
        ApiError::invalid(
            "kind",
            "kind is one of pagerduty, opsgenie, victorops, slack, webhook",
        )
    })
}

/// Validates and seals a channel's settings into `row`.
fn seal_into(
    state: &AppState,
    row: &mut ChannelRow,
    kind: ChannelKind,
    f: &ChannelFields,
) -> ApiResult<()> {
    let (config, secret) =
        channel_input::validate(kind, f).map_err(|e| ApiError::invalid(e.field, e.detail))?;
    let plain = serde_json::to_vec(&secret).map_err(|e| ApiError::Internal(e.to_string()))?;
    row.secret_box = state
        .alerting
        .secrets
        .seal(&row.id, &plain)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    row.secret_hint = channel_input::hint(&secret);
    row.config = serde_json::to_string(&config).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(())
}

/// Creates a channel.
#[utoipa::path(post, path = "/v1/channels", tag = "alarms", security(("bearer" = [])), request_body = ChannelRequest,
    responses((status = 201, body = Channel), (status = 422, body = crate::error::Problem)))]
pub async fn create_channel(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(req): ApiJson<ChannelRequest>,
) -> ApiResult<(StatusCode, Json<Channel>)> {
    p.require(Permission::ManageAlarms)?;
    validate::display_name("name", &req.name)?;
    let kind = kind_of(&req.kind)?;
    let now = store::now();
    let mut row = ChannelRow {
        id: store::new_id(),
        account_id: p.account_id.clone(),
        name: req.name.trim().to_string(),
        kind: kind.as_str().into(),
        config: String::new(),
        secret_box: String::new(),
        secret_hint: String::new(),
        created_by: p.actor().actor,
        created_at: now,
        updated_at: now,
    };
    let fields = ChannelFields {
        secret: req.secret,
        url: req.url,
        region: req.region,
        routing_key: req.routing_key,
    };
    seal_into(&state, &mut row, kind, &fields)?;
    let mut tx = state.db.pool.begin().await?;
    channels::insert(&mut tx, &row).await?;
    audit::record(
        &mut tx,
        &p.actor(),
        "channel.create",
        &row.id,
        &json!({"name": row.name, "kind": row.kind}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(answer(&row)?)))
}

/// The account's channels.
#[utoipa::path(get, path = "/v1/channels", tag = "alarms", security(("bearer" = [])), responses((status = 200, body = [Channel])))]
pub async fn list_channels(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Vec<Channel>>> {
    p.require(Permission::ManageAlarms)?;
    let mut c = state.db.pool.acquire().await?;
    let rows = channels::list(&mut c, &p.account_id).await?;
    Ok(Json(rows.iter().map(answer).collect::<ApiResult<_>>()?))
}

async fn load(state: &AppState, p: &Principal, id: &str) -> ApiResult<ChannelRow> {
    let mut c = state.db.pool.acquire().await?;
    channels::get(&mut c, &p.account_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("channel".into()))
}

/// One channel.
#[utoipa::path(get, path = "/v1/channels/{id}", tag = "alarms", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Channel), (status = 404, body = crate::error::Problem)))]
pub async fn get_channel(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Channel>> {
    p.require(Permission::ManageAlarms)?;
    Ok(Json(answer(&load(&state, &p, &id).await?)?))
}

/// Renames a channel or replaces its settings (secrets included).
#[utoipa::path(patch, path = "/v1/channels/{id}", tag = "alarms", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ChannelPatch,
    responses((status = 200, body = Channel), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update_channel(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ChannelPatch>,
) -> ApiResult<Json<Channel>> {
    p.require(Permission::ManageAlarms)?;
    let mut row = load(&state, &p, &id).await?;
    if let Some(name) = &req.name {
        validate::display_name("name", name)?;
        row.name = name.trim().to_string();
    }
    let settings = ChannelFields {
        secret: req.secret,
        url: req.url,
        region: req.region,
        routing_key: req.routing_key,
    };
    if settings != ChannelFields::default() {
        let kind = kind_of(&row.kind)?;
        seal_into(&state, &mut row, kind, &settings)?;
    }
    let now = store::now();
    row.updated_at = now;
    let mut tx = state.db.pool.begin().await?;
    channels::update(&mut tx, &row).await?;
    audit::record(
        &mut tx,
        &p.actor(),
        "channel.update",
        &row.id,
        &json!({"name": row.name, "settings_replaced": settings != ChannelFields::default()}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(answer(&row)?))
}

/// Deletes a channel with its pending deliveries and its log.
#[utoipa::path(delete, path = "/v1/channels/{id}", tag = "alarms", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn delete_channel(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    p.require(Permission::ManageAlarms)?;
    let now = store::now();
    let mut tx = state.db.pool.begin().await?;
    if !channels::delete(&mut tx, &p.account_id, &id).await? {
        return Err(ApiError::NotFound("channel".into()));
    }
    audit::record(&mut tx, &p.actor(), "channel.delete", &id, &json!({}), now).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The queued test notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestQueued {
    pub delivery_id: String,
    pub dedup_key: String,
}

/// Queues a test notification to this channel (a low-severity event; VictorOps gets INFO).
/// Its outcome shows in the delivery log.
#[utoipa::path(post, path = "/v1/channels/{id}/test", tag = "alarms", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 202, body = TestQueued), (status = 404, body = crate::error::Problem)))]
pub async fn test_channel(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<TestQueued>)> {
    p.require(Permission::ManageAlarms)?;
    let row = load(&state, &p, &id).await?;
    // A channel whose secret no longer opens (the key changed) is refused now, not retried.
    open_channel(&state.alerting, &row).map_err(ApiError::Internal)?;
    let now = store::now();
    let dedup_key = format!("eddy-test-{}", store::new_id());
    let notice = Notice {
        action: Action::Test,
        dedup_key: dedup_key.clone(),
        summary: format!("Test notification from Eddy to channel {}", row.name),
        severity: Severity::Info,
        source: "eddy".into(),
        details: json!({"channel_id": row.id, "test": true}),
    };
    let mut tx = state.db.pool.begin().await?;
    let only = [row.id.clone()];
    let ids = delivery::enqueue(&mut tx, &p.account_id, Some(&only), None, &notice, now).await?;
    audit::record(
        &mut tx,
        &p.actor(),
        "channel.test",
        &row.id,
        &json!({}),
        now,
    )
    .await?;
    tx.commit().await?;
    state.alerting.wake.notify_one();
    let delivery_id = ids
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("test delivery not queued".into()))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TestQueued {
            delivery_id,
            dedup_key,
        }),
    ))
}

/// Paging of the delivery log.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LogQuery {
    pub limit: Option<i64>,
}

/// One attempt in the delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogEntry {
    pub delivery_id: String,
    pub attempt: i64,
    /// The provider's HTTP status, when it answered.
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub at: String,
    /// The delivery's state now: pending (retrying), delivered or failed.
    pub state: String,
    pub action: Option<Action>,
    pub dedup_key: String,
    pub summary: Option<String>,
}

/// A channel's delivery log, newest attempt first.
#[utoipa::path(get, path = "/v1/channels/{id}/deliveries", tag = "alarms", security(("bearer" = [])),
    params(("id" = String, Path), LogQuery),
    responses((status = 200, body = [LogEntry]), (status = 404, body = crate::error::Problem)))]
pub async fn delivery_log(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Json<Vec<LogEntry>>> {
    p.require(Permission::ManageAlarms)?;
    let limit = validate::limit(q.limit)?;
    let row = load(&state, &p, &id).await?;
    let mut c = state.db.pool.acquire().await?;
    let rows = channels::attempts(&mut c, &row.id, limit).await?;
    Ok(Json(
        rows.into_iter()
            .map(|a| {
                let notice: Option<Notice> = serde_json::from_str(&a.notice).ok();
                LogEntry {
                    delivery_id: a.delivery_id,
                    attempt: a.attempt,
                    status_code: a.status_code,
                    error: a.error,
                    at: store::rfc3339(a.at),
                    state: a.state,
                    action: notice.as_ref().map(|n| n.action),
                    dedup_key: a.dedup_key,
                    summary: notice.map(|n| n.summary),
                }
            })
            .collect(),
    ))
}
