//! Clusters: create (Idempotency-Key), list (cursor), get (ETag), resize, upgrade, restart,
//! delete (If-Match, deletion protection), connection details and operations.

use crate::auth::extract::Principal;
use crate::domain::billing::Period;
use crate::domain::connection::{ConnectionInfo, certificate_listener_first, connection_info};
use crate::domain::operations::{ClusterState, OpKind, OpState};
use crate::domain::plans::check_resize;
use crate::domain::resize::{self, ResizePreview};
use crate::domain::roles::Permission;
use crate::domain::security::{check_acls, check_mechanism};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::ops::{self, Mutation};
use crate::routes::validate;
use crate::state::AppState;
use crate::store::clusters::Cluster;
use crate::store::operations::{Operation, Step};
use crate::store::{self, audit, clusters, kafka_users, metric_points, operations, rfc3339};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

/// Routes under `/v1/clusters` and `/v1/operations`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/clusters", get(list_clusters).post(create_cluster))
        .route(
            "/v1/clusters/{id}",
            get(get_cluster)
                .patch(update_cluster)
                .delete(delete_cluster),
        )
        .route("/v1/clusters/{id}/resize", post(resize_cluster))
        .route("/v1/clusters/{id}/resize/preview", post(preview_resize))
        .route("/v1/clusters/{id}/upgrade", post(upgrade_cluster))
        .route("/v1/clusters/{id}/restart", post(restart_cluster))
        .route("/v1/clusters/{id}/connection", get(connection))
        .route("/v1/clusters/{id}/operations", get(list_operations))
        .route("/v1/operations/{id}", get(get_operation))
}

/// A cluster as users see it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterView {
    pub id: String,
    pub name: String,
    pub plan_id: String,
    pub region: String,
    pub version: String,
    pub storage_gb: i64,
    pub state: ClusterState,
    pub deletion_protection: bool,
    pub bootstrap_servers: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// An operation as users see it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OperationView {
    pub id: String,
    pub cluster_id: String,
    pub kind: OpKind,
    pub state: OpState,
    pub steps: Vec<Step>,
    pub error: Option<String>,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    pub created_by: String,
    pub created_at: String,
    pub finished_at: Option<String>,
}

/// The answer to every mutation: the cluster and the operation carrying it out.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    pub cluster: ClusterView,
    pub operation: OperationView,
}

/// A page of clusters.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterPage {
    pub items: Vec<ClusterView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Paging parameters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// A new cluster.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCluster {
    pub name: String,
    pub plan_id: String,
    /// Defaults to the first region of the catalog.
    pub region: Option<String>,
    /// Defaults to the plan's included storage.
    pub storage_gb: Option<i64>,
    /// Defaults to the newest supported version.
    pub version: Option<String>,
    /// Defaults to true: deleting needs it switched off first.
    pub deletion_protection: Option<bool>,
}

/// A plan change (and/or storage growth).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResizeCluster {
    pub plan_id: String,
    pub storage_gb: Option<i64>,
}

/// A version upgrade.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeCluster {
    pub version: String,
}

/// Settings that need no operation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCluster {
    pub deletion_protection: Option<bool>,
}

fn view(k: &Cluster) -> ClusterView {
    ClusterView {
        id: k.id.clone(),
        name: k.name.clone(),
        plan_id: k.plan_id.clone(),
        region: k.region.clone(),
        version: k.version.clone(),
        storage_gb: k.storage_gb,
        state: k.state,
        deletion_protection: k.deletion_protection,
        bootstrap_servers: k.bootstrap.clone(),
        created_at: rfc3339(k.created_at),
        updated_at: rfc3339(k.updated_at),
    }
}

/// The user-facing view of an operation.
pub fn op_view(o: &Operation) -> OperationView {
    OperationView {
        id: o.id.clone(),
        cluster_id: o.cluster_id.clone(),
        kind: o.kind,
        state: o.state,
        steps: o.steps.clone(),
        error: o.error.clone(),
        params: o.params.clone(),
        created_by: o.created_by.clone(),
        created_at: rfc3339(o.created_at),
        finished_at: o.finished_at.map(rfc3339),
    }
}

fn with_etag(status: StatusCode, k: &Cluster, body: impl Serialize) -> Response {
    let mut resp = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&k.etag()) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

fn accepted(k: &Cluster, o: &Operation) -> Response {
    let mut resp = with_etag(
        StatusCode::ACCEPTED,
        k,
        Accepted {
            cluster: view(k),
            operation: op_view(o),
        },
    );
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/operations/{}", o.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

async fn load(state: &AppState, p: &Principal, id: &str) -> ApiResult<Cluster> {
    let mut c = state.db.pool.acquire().await?;
    clusters::get(&mut c, &p.account_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("cluster".into()))
}

/// Checks `If-Match` against the cluster's ETag: 428 when absent, 412 when stale.
fn check_if_match(headers: &HeaderMap, k: &Cluster) -> ApiResult<i64> {
    let v = headers
        .get(header::IF_MATCH)
        .ok_or(ApiError::PreconditionRequired)?;
    let v = v.to_str().map_err(|_| ApiError::PreconditionFailed)?;
    if v.trim() == "*" || v.split(',').any(|t| t.trim() == k.etag()) {
        Ok(k.revision)
    } else {
        Err(ApiError::PreconditionFailed)
    }
}

/// The cluster a change targets, with the revision the caller read (`If-Match`), for callers
/// allowed to change clusters.
async fn load_for_change(
    state: &AppState,
    p: &Principal,
    id: &str,
    headers: &HeaderMap,
) -> ApiResult<(Cluster, i64)> {
    p.require(Permission::WriteClusters)?;
    let k = load(state, p, id).await?;
    let rev = check_if_match(headers, &k)?;
    Ok((k, rev))
}

/// Starts a `kind` operation turning the cluster read at `rev` into `cluster`; answers 202.
async fn start_change(
    state: &AppState,
    p: &Principal,
    kind: OpKind,
    cluster: Cluster,
    rev: i64,
    params: serde_json::Value,
) -> ApiResult<Response> {
    let mutation = Mutation {
        kind,
        cluster,
        expected_revision: Some(rev),
        params,
    };
    let (k, o) = ops::start(state, p, mutation).await?;
    Ok(accepted(&k, &o))
}

fn mutable(k: &Cluster) -> ApiResult<()> {
    if k.state.accepts_mutations() {
        Ok(())
    } else {
        Err(ApiError::conflict(
            "operation_in_progress",
            format!(
                "the cluster is {} and accepts no other change until that finishes",
                k.state.as_str()
            ),
        ))
    }
}

/// Lists the account's clusters, oldest first, with cursor pagination.
#[utoipa::path(get, path = "/v1/clusters", tag = "clusters", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ClusterPage), (status = 401, body = crate::error::Problem)))]
pub async fn list_clusters(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<ClusterPage>> {
    p.require(Permission::ReadClusters)?;
    let limit = validate::limit(q.limit)?;
    let cursor = validate::cursor(q.cursor.as_deref())?;
    let mut c = state.db.pool.acquire().await?;
    let mut rows = clusters::list(&mut c, &p.account_id, cursor, limit + 1).await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = if more {
        rows.last().map(|k| k.id.clone())
    } else {
        None
    };
    Ok(Json(ClusterPage {
        items: rows.iter().map(view).collect(),
        next_cursor,
    }))
}

/// Creates a cluster: 202 with the create operation. Repeating a request with the same
/// `Idempotency-Key` returns the same cluster and operation instead of creating another.
#[utoipa::path(post, path = "/v1/clusters", tag = "clusters", security(("bearer" = [])), request_body = CreateCluster,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 202, body = Accepted), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem), (status = 503, body = crate::error::Problem)))]
pub async fn create_cluster(
    State(state): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateCluster>,
) -> ApiResult<Response> {
    p.require(Permission::WriteClusters)?;
    validate::cluster_name(&req.name)?;
    let plan = state.catalog.plan(&req.plan_id)?;
    let region = match &req.region {
        Some(r) => state.catalog.region(r)?,
        None => state
            .catalog
            .regions
            .first()
            .ok_or_else(|| ApiError::Internal("no region".into()))?,
    };
    let storage_gb = req.storage_gb.unwrap_or(plan.included_storage_gb);
    plan.check_storage(storage_gb)?;
    let version = req
        .version
        .clone()
        .unwrap_or_else(|| state.catalog.latest_version().to_string());
    if !state.catalog.versions.contains(&version) {
        return Err(ApiError::invalid(
            "version",
            format!("unknown version {version}"),
        ));
    }
    let key = match headers.get("idempotency-key") {
        Some(v) => {
            let k = v
                .to_str()
                .map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))?;
            if k.is_empty() || k.len() > 255 {
                return Err(ApiError::invalid("Idempotency-Key", "1 to 255 characters"));
            }
            Some(k.to_string())
        }
        None => None,
    };
    let fingerprint = crate::auth::hash_secret(&serde_json::to_string(&req).unwrap_or_default());
    if let Some(k) = &key
        && let Some(resp) = replay(&state, &p, k, &fingerprint).await?
    {
        return Ok(resp);
    }
    let now = store::now();
    let id = store::new_id();
    let cluster = Cluster {
        resource_name: format!("{}-{}", req.name, &id[id.len() - 8..]),
        id,
        account_id: p.account_id.clone(),
        name: req.name.clone(),
        plan_id: plan.id.clone(),
        region: region.id.clone(),
        namespace: region.namespace.clone(),
        version,
        storage_gb,
        state: ClusterState::Creating,
        deletion_protection: req.deletion_protection.unwrap_or(true),
        revision: 1,
        generation: None,
        bootstrap: None,
        idempotency_key: key.clone(),
        request_fingerprint: Some(fingerprint.clone()),
        created_by: p.actor().actor,
        created_at: now,
        updated_at: now,
    };
    let params = serde_json::to_value(&req).unwrap_or_default();
    match ops::start(
        &state,
        &p,
        Mutation {
            kind: OpKind::Create,
            cluster,
            expected_revision: None,
            params,
        },
    )
    .await
    {
        Ok((k, o)) => Ok(accepted(&k, &o)),
        // Lost a race with the same key, or the name is taken by a live cluster.
        Err(ApiError::Conflict { .. }) if key.is_some() => {
            let k = key.unwrap_or_default();
            replay(&state, &p, &k, &fingerprint)
                .await?
                .ok_or_else(name_taken)
        }
        Err(ApiError::Conflict {
            code: "conflict", ..
        }) => Err(name_taken()),
        Err(e) => Err(e),
    }
}

fn name_taken() -> ApiError {
    ApiError::conflict("name_taken", "a cluster with this name already exists")
}

async fn replay(
    state: &AppState,
    p: &Principal,
    key: &str,
    fingerprint: &str,
) -> ApiResult<Option<Response>> {
    let mut c = state.db.pool.acquire().await?;
    let Some(k) = clusters::by_idempotency_key(&mut c, &p.account_id, key).await? else {
        return Ok(None);
    };
    if k.request_fingerprint.as_deref() != Some(fingerprint) {
        return Err(ApiError::conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
        ));
    }
    let ops = operations::list_for(&mut c, &k.id, 100).await?;
    let create = ops
        .iter()
        .find(|o| o.kind == OpKind::Create)
        .ok_or_else(|| ApiError::Internal("create operation missing".into()))?;
    Ok(Some(accepted(&k, create)))
}

/// One cluster, with its ETag.
#[utoipa::path(get, path = "/v1/clusters/{id}", tag = "clusters", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ClusterView, headers(("ETag" = String))), (status = 404, body = crate::error::Problem)))]
pub async fn get_cluster(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    p.require(Permission::ReadClusters)?;
    let k = load(&state, &p, &id).await?;
    Ok(with_etag(StatusCode::OK, &k, view(&k)))
}

/// Changes settings that need no operation (deletion protection). Needs If-Match.
#[utoipa::path(patch, path = "/v1/clusters/{id}", tag = "clusters", security(("bearer" = [])), request_body = UpdateCluster,
    params(("id" = String, Path), ("If-Match" = String, Header)),
    responses((status = 200, body = ClusterView), (status = 412, body = crate::error::Problem), (status = 428, body = crate::error::Problem)))]
pub async fn update_cluster(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<UpdateCluster>,
) -> ApiResult<Response> {
    let (mut k, rev) = load_for_change(&state, &p, &id, &headers).await?;
    let now = store::now();
    if let Some(d) = req.deletion_protection {
        k.deletion_protection = d;
    }
    let mut tx = state.db.pool.begin().await?;
    if !clusters::update_if(&mut tx, &k, rev, now).await? {
        return Err(ApiError::PreconditionFailed);
    }
    k.revision = rev + 1;
    k.updated_at = now;
    audit::record(
        &mut tx,
        &p.actor(),
        "cluster.update",
        &k.id,
        &json!({"deletion_protection": k.deletion_protection}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(with_etag(StatusCode::OK, &k, view(&k)))
}

/// Changes plan and/or grows storage (same tier only; storage never shrinks). Needs If-Match.
#[utoipa::path(post, path = "/v1/clusters/{id}/resize", tag = "clusters", security(("bearer" = [])), request_body = ResizeCluster,
    params(("id" = String, Path), ("If-Match" = String, Header)),
    responses((status = 202, body = Accepted), (status = 409, body = crate::error::Problem), (status = 412, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem), (status = 428, body = crate::error::Problem)))]
pub async fn resize_cluster(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ResizeCluster>,
) -> ApiResult<Response> {
    let (k, rev) = load_for_change(&state, &p, &id, &headers).await?;
    mutable(&k)?;
    let (to, storage) = check_resize_request(&state, &k, &req).await?;
    let params = json!({"from_plan": k.plan_id, "plan_id": to.id, "from_storage_gb": k.storage_gb, "storage_gb": storage});
    let cluster = Cluster {
        plan_id: to.id.clone(),
        storage_gb: storage,
        ..k
    };
    start_change(&state, &p, OpKind::Resize, cluster, rev, params).await
}

/// Checks a resize of `k` as requested: the plan transition, storage, and that the cluster's
/// Kafka users stay within the new plan's features. Returns the new plan and storage.
async fn check_resize_request<'a>(
    state: &'a AppState,
    k: &Cluster,
    req: &ResizeCluster,
) -> ApiResult<(&'a crate::domain::plans::Plan, i64)> {
    let from = state.catalog.plan(&k.plan_id)?;
    let to = state.catalog.plan(&req.plan_id)?;
    let storage = req
        .storage_gb
        .unwrap_or(k.storage_gb.max(to.included_storage_gb));
    check_resize(from, to, k.storage_gb, storage)?;
    // The cluster's Kafka users must stay within the new plan's features (certificate users
    // need mtls, ACLs need acls): otherwise the resize would lock them out or drop their ACLs.
    let mut c = state.db.pool.acquire().await?;
    for u in kafka_users::list(&mut c, &k.id).await? {
        check_mechanism(&to.id, &to.features, u.mechanism)?;
        check_acls(&to.id, &to.features, u.acls.len())?;
    }
    if to.id == k.plan_id && storage == k.storage_gb {
        return Err(ApiError::invalid("plan_id", "nothing to change"));
    }
    Ok((to, storage))
}

/// What a resize would do, without doing it: brokers added or drained, an estimate of the bytes
/// the operator will move, and the monthly price before and after with this month's pro-rated
/// change. The same checks as the resize (422 for what it would refuse); no If-Match needed.
#[utoipa::path(post, path = "/v1/clusters/{id}/resize/preview", tag = "clusters", security(("bearer" = [])), request_body = ResizeCluster,
    params(("id" = String, Path)),
    responses((status = 200, body = ResizePreview), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn preview_resize(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ResizeCluster>,
) -> ApiResult<Json<ResizePreview>> {
    p.require(Permission::ReadClusters)?;
    let k = load(&state, &p, &id).await?;
    let (to, storage) = check_resize_request(&state, &k, &req).await?;
    let from = state.catalog.plan(&k.plan_id)?;
    let now = store::now();
    let period = Period::containing(now)
        .map_err(|e| ApiError::Internal(format!("billing period of {now}: {e}")))?;
    let disk_used = latest_disk_used(&state, &k.id, now).await?;
    Ok(Json(resize::preview(
        from,
        to,
        k.storage_gb,
        storage,
        now,
        &period,
        disk_used,
    )))
}

/// The cluster's disk use summed over its brokers and log directories, from the last sample of
/// each in the past 15 minutes; `None` when there is none.
async fn latest_disk_used(state: &AppState, cluster_id: &str, now: i64) -> ApiResult<Option<u64>> {
    let mut c = state.db.pool.acquire().await?;
    let points = metric_points::read(&mut c, cluster_id, "disk_used", now - 900).await?;
    // Ordered by labels then time: the last point of each label set is its latest.
    let mut latest: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
    for point in &points {
        latest.insert(&point.labels, point.value);
    }
    if latest.is_empty() {
        return Ok(None);
    }
    let total: f64 = latest.values().map(|v| v.max(0.0)).sum();
    // Saturating float → integer: disk bytes fit in u64.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Some(total as u64))
}

/// Upgrades to a newer version (no downgrades). Needs If-Match.
#[utoipa::path(post, path = "/v1/clusters/{id}/upgrade", tag = "clusters", security(("bearer" = [])), request_body = UpgradeCluster,
    params(("id" = String, Path), ("If-Match" = String, Header)),
    responses((status = 202, body = Accepted), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn upgrade_cluster(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<UpgradeCluster>,
) -> ApiResult<Response> {
    let (k, rev) = load_for_change(&state, &p, &id, &headers).await?;
    mutable(&k)?;
    state.catalog.check_upgrade(&k.version, &req.version)?;
    let params = json!({"from_version": k.version, "version": req.version});
    let cluster = Cluster {
        version: req.version.clone(),
        ..k
    };
    start_change(&state, &p, OpKind::Upgrade, cluster, rev, params).await
}

/// Rolling restart, one broker at a time (the operator gates each step). Needs If-Match.
#[utoipa::path(post, path = "/v1/clusters/{id}/restart", tag = "clusters", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = String, Header)),
    responses((status = 202, body = Accepted), (status = 409, body = crate::error::Problem)))]
pub async fn restart_cluster(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (k, rev) = load_for_change(&state, &p, &id, &headers).await?;
    mutable(&k)?;
    start_change(&state, &p, OpKind::Restart, k, rev, json!({})).await
}

/// Deletes a cluster (refused while deletion protection is on). Needs If-Match.
#[utoipa::path(delete, path = "/v1/clusters/{id}", tag = "clusters", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = String, Header)),
    responses((status = 202, body = Accepted), (status = 409, body = crate::error::Problem), (status = 412, body = crate::error::Problem)))]
pub async fn delete_cluster(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (k, rev) = load_for_change(&state, &p, &id, &headers).await?;
    if k.deletion_protection {
        return Err(ApiError::conflict(
            "deletion_protected",
            "switch deletion_protection off before deleting",
        ));
    }
    if k.state == ClusterState::Deleting {
        return Err(ApiError::conflict(
            "operation_in_progress",
            "the cluster is already being deleted",
        ));
    }
    start_change(&state, &p, OpKind::Delete, k, rev, json!({})).await
}

/// Which Kafka user the connection snippets are written for.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ConnectionQuery {
    /// A Kafka user of the cluster; the snippets say `<username>` without it.
    pub user: Option<String>,
}

/// Every listener (bootstrap servers, security protocol, SASL mechanisms) from the operator's
/// status, the cluster CA certificate, and client configurations with a `<password>`
/// placeholder: the API never returns a stored password.
#[utoipa::path(get, path = "/v1/clusters/{id}/connection", tag = "clusters", security(("bearer" = [])),
    params(("id" = String, Path), ConnectionQuery),
    responses((status = 200, body = ConnectionInfo), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 503, body = crate::error::Problem)))]
pub async fn connection(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<ConnectionQuery>,
) -> ApiResult<Json<ConnectionInfo>> {
    p.require(Permission::WriteClusters)?;
    let k = load(&state, &p, &id).await?;
    if matches!(
        k.state,
        ClusterState::Creating | ClusterState::Deleting | ClusterState::Deleted
    ) {
        return Err(ApiError::conflict(
            "not_ready",
            format!("the cluster is {}", k.state.as_str()),
        ));
    }
    let mechanism = match &q.user {
        Some(user) => {
            let mut c = state.db.pool.acquire().await?;
            Some(
                kafka_users::get(&mut c, &k.id, user)
                    .await?
                    .ok_or_else(|| ApiError::NotFound("kafka user".into()))?
                    .mechanism,
            )
        }
        None => None,
    };
    let mut conn = state
        .backend
        .connection(&k.namespace, &k.resource_name)
        .await?;
    // A certificate user signs in through the mTLS listener: recommend that one.
    if mechanism == Some(crate::domain::security::Mechanism::Tls) {
        certificate_listener_first(&mut conn.listeners);
    }
    let mechanism = mechanism.and_then(crate::domain::security::Mechanism::sasl_name);
    connection_info(
        conn.listeners,
        conn.ca_certificate,
        q.user.as_deref(),
        mechanism,
    )
    .map(Json)
    .ok_or_else(|| ApiError::unavailable("the operator has not published any listener yet"))
}

/// A cluster's operations, newest first.
#[utoipa::path(get, path = "/v1/clusters/{id}/operations", tag = "clusters", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = [OperationView])))]
pub async fn list_operations(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<OperationView>>> {
    p.require(Permission::ReadClusters)?;
    let k = load(&state, &p, &id).await?;
    let mut c = state.db.pool.acquire().await?;
    let list = operations::list_for(&mut c, &k.id, 100).await?;
    Ok(Json(list.iter().map(op_view).collect()))
}

/// One operation.
#[utoipa::path(get, path = "/v1/operations/{id}", tag = "clusters", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = OperationView), (status = 404, body = crate::error::Problem)))]
pub async fn get_operation(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<OperationView>> {
    p.require(Permission::ReadClusters)?;
    let mut c = state.db.pool.acquire().await?;
    let o = operations::get(&mut c, &p.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("operation".into()))?;
    Ok(Json(op_view(&o)))
}
