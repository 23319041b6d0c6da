//! Topics recorded per cluster (their KafkaTopic resources are the operator's input).

use super::Result;
use sqlx::AnyConnection;
use std::collections::BTreeMap;

/// A stored topic.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Topic {
    pub id: String,
    pub cluster_id: String,
    pub name: String,
    #[serde(skip)]
    pub resource_name: String,
    pub partitions: i64,
    pub replicas: i64,
    pub retention_hours: i64,
    /// Kafka configurations set through the API beyond partitions and retention.
    #[serde(serialize_with = "configs_object")]
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub configs: String,
    pub created_by: String,
    #[serde(skip)]
    pub created_at: i64,
}

/// The stored `configs` (a JSON object of strings; anything else reads as none).
pub fn configs_of(raw: &str) -> BTreeMap<String, String> {
    serde_json::from_str(raw).unwrap_or_default()
}

/// How `configs` is stored.
pub fn configs_raw(configs: &BTreeMap<String, String>) -> String {
    serde_json::to_string(configs).unwrap_or_else(|_| "{}".into())
}

fn configs_object<S: serde::Serializer>(raw: &str, s: S) -> std::result::Result<S::Ok, S::Error> {
    use serde::Serialize;
    configs_of(raw).serialize(s)
}

/// Serialises limit checks per cluster: a no-op write takes the cluster row's lock on PostgreSQL
/// (SQLite already serialises writers).
pub async fn lock_cluster(c: &mut AnyConnection, cluster_id: &str) -> Result<()> {
    sqlx::query("UPDATE clusters SET updated_at = updated_at WHERE id = $1")
        .bind(cluster_id)
        .execute(c)
        .await?;
    Ok(())
}

/// Topics of a cluster, by name.
pub async fn list(c: &mut AnyConnection, cluster_id: &str) -> Result<Vec<Topic>> {
    Ok(
        sqlx::query_as("SELECT * FROM topics WHERE cluster_id = $1 ORDER BY name")
            .bind(cluster_id)
            .fetch_all(c)
            .await?,
    )
}

/// Records a topic.
pub async fn insert(c: &mut AnyConnection, t: &Topic) -> Result<()> {
    sqlx::query(
        "INSERT INTO topics (id, cluster_id, name, resource_name, partitions, replicas, retention_hours, \
         configs, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&t.id)
    .bind(&t.cluster_id)
    .bind(&t.name)
    .bind(&t.resource_name)
    .bind(t.partitions)
    .bind(t.replicas)
    .bind(t.retention_hours)
    .bind(&t.configs)
    .bind(&t.created_by)
    .bind(t.created_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Changes a topic's partition count, retention and configurations.
pub async fn update(
    c: &mut AnyConnection,
    id: &str,
    partitions: i64,
    retention_hours: i64,
    configs: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE topics SET partitions = $2, retention_hours = $3, configs = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(partitions)
    .bind(retention_hours)
    .bind(configs)
    .execute(c)
    .await?;
    Ok(())
}

/// Forgets a topic; returns whether it existed.
pub async fn delete(c: &mut AnyConnection, cluster_id: &str, name: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM topics WHERE cluster_id = $1 AND name = $2")
        .bind(cluster_id)
        .bind(name)
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}
