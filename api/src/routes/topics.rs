//! Topics (KafkaTopic resources) of a cluster, within the plan's limits.

use crate::auth::extract::Principal;
use crate::domain::operations::ClusterState;
use crate::domain::plans::check_topic;
use crate::domain::roles::Permission;
use crate::domain::topic_configs;
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::kube::DesiredTopic;
use crate::state::AppState;
use crate::store::topics::{self, Topic};
use crate::store::{self, audit, clusters};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Routes under `/v1/clusters/{id}/topics`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/clusters/{id}/topics",
            get(list_topics).post(create_topic),
        )
        .route(
            "/v1/clusters/{id}/topics/{name}",
            delete(delete_topic).patch(update_topic),
        )
}

/// A new topic.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTopic {
    /// Kafka topic name: 1-249 of `[a-zA-Z0-9._-]`.
    pub name: String,
    pub partitions: Option<i64>,
    pub replicas: Option<i64>,
    /// Defaults to the smaller of 24 hours and the plan's maximum.
    pub retention_hours: Option<i64>,
    /// Further Kafka topic configurations (`cleanup.policy`, `max.message.bytes`, ...; see
    /// the API README for the keys and their bounds).
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

/// A topic's configuration change: partitions only grow (Kafka cannot shrink them); the
/// replication factor is fixed at creation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTopic {
    pub partitions: Option<i64>,
    pub retention_hours: Option<i64>,
    /// Changes to the topic's configurations: a value sets the key, `null` removes it (Kafka's
    /// default applies again); keys not named keep their values.
    #[serde(default)]
    pub configs: BTreeMap<String, Option<String>>,
}

/// Refuses configurations the API does not set (422 on `configs.<key>`).
fn check_configs(configs: &BTreeMap<String, String>, replicas: i64) -> ApiResult<()> {
    topic_configs::check(configs, replicas)
        .map_err(|e| ApiError::invalid(&format!("configs.{}", e.key), e.detail))
}

fn topic_name(s: &str) -> ApiResult<()> {
    let ok = (1..=249).contains(&s.len())
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "name",
            "1-249 of [a-zA-Z0-9._-], not . or ..",
        ))
    }
}

/// The caller's cluster, refused (409 `not_ready`) once it is deleting, deleted or failed.
pub(crate) async fn live_cluster(
    state: &AppState,
    p: &Principal,
    id: &str,
) -> ApiResult<clusters::Cluster> {
    let mut c = state.db.pool.acquire().await?;
    let k = clusters::get(&mut c, &p.account_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("cluster".into()))?;
    if matches!(
        k.state,
        ClusterState::Deleting | ClusterState::Deleted | ClusterState::Failed
    ) {
        return Err(ApiError::conflict(
            "not_ready",
            format!("the cluster is {}", k.state.as_str()),
        ));
    }
    Ok(k)
}

/// The cluster's topics.
#[utoipa::path(get, path = "/v1/clusters/{id}/topics", tag = "clusters", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = [Topic])))]
pub async fn list_topics(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Topic>>> {
    p.require(Permission::ReadClusters)?;
    let mut c = state.db.pool.acquire().await?;
    let k = clusters::get(&mut c, &p.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("cluster".into()))?;
    Ok(Json(topics::list(&mut c, &k.id).await?))
}

/// Creates a topic (a KafkaTopic resource) if the plan's limits allow it.
#[utoipa::path(post, path = "/v1/clusters/{id}/topics", tag = "clusters", security(("bearer" = [])), request_body = CreateTopic,
    params(("id" = String, Path)),
    responses((status = 201, body = Topic), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_topic(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CreateTopic>,
) -> ApiResult<(StatusCode, Json<Topic>)> {
    p.require(Permission::WriteClusters)?;
    topic_name(&req.name)?;
    let k = live_cluster(&state, &p, &id).await?;
    let plan = state.catalog.plan(&k.plan_id)?;
    let partitions = req.partitions.unwrap_or(1);
    let replicas = req.replicas.unwrap_or(1);
    let retention_hours = req
        .retention_hours
        .unwrap_or(plan.limits.max_retention_hours.min(24));
    let now = store::now();
    let mut tx = state.db.pool.begin().await?;
    topics::lock_cluster(&mut tx, &k.id).await?;
    let existing: Vec<i64> = topics::list(&mut tx, &k.id)
        .await?
        .iter()
        .map(|t| t.partitions)
        .collect();
    check_topic(plan, &existing, partitions, replicas, retention_hours)?;
    check_configs(&req.configs, replicas)?;
    let tid = store::new_id();
    let topic = Topic {
        resource_name: format!("{}-t-{}", k.resource_name, &tid[tid.len() - 8..]),
        id: tid,
        cluster_id: k.id.clone(),
        name: req.name.clone(),
        partitions,
        replicas,
        retention_hours,
        configs: topics::configs_raw(&req.configs),
        created_by: p.actor().actor,
        created_at: now,
    };
    if let Err(e) = topics::insert(&mut tx, &topic).await {
        if let store::StoreError::Conflict(_) = &e {
            return Err(ApiError::conflict(
                "topic_exists",
                "a topic with this name exists",
            ));
        }
        return Err(e.into());
    }
    audit::record(
        &mut tx,
        &p.actor(),
        "topic.create",
        &k.id,
        &json!({"topic": topic.name, "partitions": partitions, "configs": req.configs}),
        now,
    )
    .await?;
    let desired = DesiredTopic {
        namespace: k.namespace.clone(),
        name: topic.resource_name.clone(),
        cluster: k.resource_name.clone(),
        topic_name: topic.name.clone(),
        partitions,
        replicas,
        retention_ms: retention_hours * 3_600_000,
        configs: req.configs.clone(),
    };
    state.backend.apply_topic(&desired).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(topic)))
}

/// Changes a topic's partition count (up only), retention within the plan's limits or its
/// configurations, and rewrites its KafkaTopic.
#[utoipa::path(patch, path = "/v1/clusters/{id}/topics/{name}", tag = "clusters", security(("bearer" = [])), request_body = UpdateTopic,
    params(("id" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = Topic), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update_topic(
    State(state): State<AppState>,
    p: Principal,
    Path((id, name)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateTopic>,
) -> ApiResult<Json<Topic>> {
    p.require(Permission::WriteClusters)?;
    let k = live_cluster(&state, &p, &id).await?;
    let plan = state.catalog.plan(&k.plan_id)?;
    let now = store::now();
    let mut tx = state.db.pool.begin().await?;
    topics::lock_cluster(&mut tx, &k.id).await?;
    let (mine, others): (Vec<Topic>, Vec<Topic>) = topics::list(&mut tx, &k.id)
        .await?
        .into_iter()
        .partition(|t| t.name == name);
    let mut topic = mine
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound("topic".into()))?;
    let partitions = req.partitions.unwrap_or(topic.partitions);
    if partitions < topic.partitions {
        return Err(ApiError::invalid(
            "partitions",
            format!(
                "partitions only grow: the topic has {}, Kafka cannot remove any",
                topic.partitions
            ),
        ));
    }
    let retention_hours = req.retention_hours.unwrap_or(topic.retention_hours);
    let existing: Vec<i64> = others.iter().map(|t| t.partitions).collect();
    check_topic(plan, &existing, partitions, topic.replicas, retention_hours)?;
    let configs = topic_configs::merge(&topics::configs_of(&topic.configs), &req.configs);
    check_configs(&configs, topic.replicas)?;
    let raw = topics::configs_raw(&configs);
    topics::update(&mut tx, &topic.id, partitions, retention_hours, &raw).await?;
    audit::record(
        &mut tx,
        &p.actor(),
        "topic.update",
        &k.id,
        &json!({"topic": name, "partitions": partitions, "retention_hours": retention_hours, "configs": req.configs}),
        now,
    )
    .await?;
    topic.partitions = partitions;
    topic.retention_hours = retention_hours;
    topic.configs = raw;
    let desired = DesiredTopic {
        namespace: k.namespace.clone(),
        name: topic.resource_name.clone(),
        cluster: k.resource_name.clone(),
        topic_name: topic.name.clone(),
        partitions,
        replicas: topic.replicas,
        retention_ms: retention_hours * 3_600_000,
        configs,
    };
    state.backend.apply_topic(&desired).await?;
    tx.commit().await?;
    Ok(Json(topic))
}

/// Deletes a topic.
#[utoipa::path(delete, path = "/v1/clusters/{id}/topics/{name}", tag = "clusters", security(("bearer" = [])),
    params(("id" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn delete_topic(
    State(state): State<AppState>,
    p: Principal,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    p.require(Permission::WriteClusters)?;
    let k = live_cluster(&state, &p, &id).await?;
    let now = store::now();
    let mut tx = state.db.pool.begin().await?;
    let t = topics::list(&mut tx, &k.id)
        .await?
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(|| ApiError::NotFound("topic".into()))?;
    topics::delete(&mut tx, &k.id, &name).await?;
    audit::record(
        &mut tx,
        &p.actor(),
        "topic.delete",
        &k.id,
        &json!({"topic": name}),
        now,
    )
    .await?;
    state
        .backend
        .delete_topic(&k.namespace, &t.resource_name)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
