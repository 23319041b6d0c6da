//! Kafka users recorded per cluster (their KafkaUser resources are the operator's input): name,
//! mechanism, ACLs and revisions, never a password.

use super::{Result, columns};
use crate::domain::acls::AclEntry;
use crate::domain::security::Mechanism;
use sqlx::AnyConnection;

/// A stored Kafka user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaUser {
    pub id: String,
    pub cluster_id: String,
    /// The Kafka principal's name (`User:<name>`).
    pub name: String,
    /// Name of the KafkaUser resource.
    pub resource_name: String,
    /// The Secret holding the password (SCRAM users).
    pub secret_name: Option<String>,
    pub mechanism: Mechanism,
    pub acls: Vec<AclEntry>,
    pub revision: i64,
    pub credential_revision: i64,
    pub idempotency_key: Option<String>,
    pub request_fingerprint: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl KafkaUser {
    /// The strong ETag of this revision.
    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.revision)
    }
}

/// A `kafka_users` row as stored: mechanism by name, ACLs as JSON text.
#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    cluster_id: String,
    name: String,
    resource_name: String,
    secret_name: Option<String>,
    mechanism: String,
    acls: String,
    revision: i64,
    credential_revision: i64,
    idempotency_key: Option<String>,
    request_fingerprint: Option<String>,
    created_by: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for KafkaUser {
    type Error = super::StoreError;

    fn try_from(r: Row) -> Result<Self> {
        let mechanism =
            Mechanism::parse(&r.mechanism).ok_or_else(|| super::StoreError::Corrupt {
                what: "kafka user mechanism".into(),
                detail: r.mechanism.clone(),
            })?;
        Ok(KafkaUser {
            acls: columns::json("kafka user acls", &r.acls)?,
            id: r.id,
            cluster_id: r.cluster_id,
            name: r.name,
            resource_name: r.resource_name,
            secret_name: r.secret_name,
            mechanism,
            revision: r.revision,
            credential_revision: r.credential_revision,
            idempotency_key: r.idempotency_key,
            request_fingerprint: r.request_fingerprint,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn acls_json(acls: &[AclEntry]) -> String {
    serde_json::to_string(acls).unwrap_or_else(|_| "[]".into())
}

/// Kafka users of a cluster, by name.
pub async fn list(c: &mut AnyConnection, cluster_id: &str) -> Result<Vec<KafkaUser>> {
    let rows: Vec<Row> =
        sqlx::query_as("SELECT * FROM kafka_users WHERE cluster_id = $1 ORDER BY name")
            .bind(cluster_id)
            .fetch_all(c)
            .await?;
    rows.into_iter().map(KafkaUser::try_from).collect()
}

/// One Kafka user of a cluster.
pub async fn get(c: &mut AnyConnection, cluster_id: &str, name: &str) -> Result<Option<KafkaUser>> {
    let row: Option<Row> =
        sqlx::query_as("SELECT * FROM kafka_users WHERE cluster_id = $1 AND name = $2")
            .bind(cluster_id)
            .bind(name)
            .fetch_optional(c)
            .await?;
    row.map(KafkaUser::try_from).transpose()
}

/// The user created with an `Idempotency-Key` on a cluster.
pub async fn by_idempotency_key(
    c: &mut AnyConnection,
    cluster_id: &str,
    key: &str,
) -> Result<Option<KafkaUser>> {
    let row: Option<Row> =
        sqlx::query_as("SELECT * FROM kafka_users WHERE cluster_id = $1 AND idempotency_key = $2")
            .bind(cluster_id)
            .bind(key)
            .fetch_optional(c)
            .await?;
    row.map(KafkaUser::try_from).transpose()
}

/// Records a Kafka user (a duplicate name or key is `Conflict`).
pub async fn insert(c: &mut AnyConnection, u: &KafkaUser) -> Result<()> {
    sqlx::query(
        "INSERT INTO kafka_users (id, cluster_id, name, resource_name, secret_name, mechanism, acls, \
         revision, credential_revision, idempotency_key, request_fingerprint, created_by, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&u.id)
    .bind(&u.cluster_id)
    .bind(&u.name)
    .bind(&u.resource_name)
    .bind(&u.secret_name)
    .bind(u.mechanism.as_str())
    .bind(acls_json(&u.acls))
    .bind(u.revision)
    .bind(u.credential_revision)
    .bind(&u.idempotency_key)
    .bind(&u.request_fingerprint)
    .bind(&u.created_by)
    .bind(u.created_at)
    .bind(u.updated_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Writes a user's ACLs and credential revision if it is still at `revision`; returns whether
/// it was (the caller answers 412 otherwise). The stored revision becomes `revision + 1`.
pub async fn update_if(
    c: &mut AnyConnection,
    u: &KafkaUser,
    revision: i64,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE kafka_users SET acls = $3, credential_revision = $4, revision = revision + 1, \
         updated_at = $5 WHERE id = $1 AND revision = $2",
    )
    .bind(&u.id)
    .bind(revision)
    .bind(acls_json(&u.acls))
    .bind(u.credential_revision)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Forgets a Kafka user; returns whether it existed.
pub async fn delete(c: &mut AnyConnection, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM kafka_users WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}
