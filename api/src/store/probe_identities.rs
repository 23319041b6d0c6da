//! The SLA probe's identity per cluster (`sla_probe_identities`): the KafkaUser it signs in as,
//! with its password sealed by the API's secrets key.

use super::Result;
use sqlx::AnyConnection;

/// A stored probe identity.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProbeIdentity {
    pub cluster_id: String,
    pub username: String,
    pub resource_name: String,
    pub secret_name: String,
    /// Base64 of nonce + ciphertext (`alerting::secrets::SecretBox::seal`).
    pub password_sealed: String,
    /// When the operator first reported the user Ready, if it has.
    pub ready_at: Option<i64>,
    pub created_at: i64,
}

/// The probe identity of a cluster, if it has one.
pub async fn get(c: &mut AnyConnection, cluster_id: &str) -> Result<Option<ProbeIdentity>> {
    Ok(
        sqlx::query_as("SELECT * FROM sla_probe_identities WHERE cluster_id = $1")
            .bind(cluster_id)
            .fetch_optional(c)
            .await?,
    )
}

/// Records a probe identity (`Conflict` when the cluster has one already).
pub async fn insert(c: &mut AnyConnection, p: &ProbeIdentity) -> Result<()> {
    sqlx::query(
        "INSERT INTO sla_probe_identities (cluster_id, username, resource_name, secret_name, \
         password_sealed, ready_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&p.cluster_id)
    .bind(&p.username)
    .bind(&p.resource_name)
    .bind(&p.secret_name)
    .bind(&p.password_sealed)
    .bind(p.ready_at)
    .bind(p.created_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Notes that the operator reported the identity Ready at `now` (the first time only).
pub async fn mark_ready(c: &mut AnyConnection, cluster_id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE sla_probe_identities SET ready_at = $2 WHERE cluster_id = $1 AND ready_at IS NULL",
    )
    .bind(cluster_id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}
