//! Clusters: rows, cursor-paginated listing, optimistic-concurrency updates by revision.

use super::Result;
use crate::domain::operations::ClusterState;
use sqlx::AnyConnection;

/// A stored cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub id: String,
    pub account_id: String,
    pub name: String,
    /// Name of the KafkaCluster resource.
    pub resource_name: String,
    pub plan_id: String,
    pub region: String,
    pub namespace: String,
    pub version: String,
    pub storage_gb: i64,
    pub state: ClusterState,
    pub deletion_protection: bool,
    /// Bumped on every change; the ETag is derived from it.
    pub revision: i64,
    /// The KafkaCluster generation last written.
    pub generation: Option<i64>,
    pub bootstrap: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_fingerprint: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Cluster {
    /// The strong ETag of this revision.
    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.revision)
    }
}

/// A `clusters` row as stored: the flag as an integer, the state by name.
#[derive(sqlx::FromRow)]
struct ClusterRow {
    id: String,
    account_id: String,
    name: String,
    resource_name: String,
    plan_id: String,
    region: String,
    namespace: String,
    version: String,
    storage_gb: i64,
    state: ClusterState,
    deletion_protection: i64,
    revision: i64,
    generation: Option<i64>,
    bootstrap: Option<String>,
    idempotency_key: Option<String>,
    request_fingerprint: Option<String>,
    created_by: String,
    created_at: i64,
    updated_at: i64,
}

impl From<ClusterRow> for Cluster {
    fn from(r: ClusterRow) -> Self {
        Cluster {
            id: r.id,
            account_id: r.account_id,
            name: r.name,
            resource_name: r.resource_name,
            plan_id: r.plan_id,
            region: r.region,
            namespace: r.namespace,
            version: r.version,
            storage_gb: r.storage_gb,
            state: r.state,
            deletion_protection: r.deletion_protection != 0,
            revision: r.revision,
            generation: r.generation,
            bootstrap: r.bootstrap,
            idempotency_key: r.idempotency_key,
            request_fingerprint: r.request_fingerprint,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Inserts a new cluster.
pub async fn insert(c: &mut AnyConnection, k: &Cluster) -> Result<()> {
    sqlx::query(
        "INSERT INTO clusters (id, account_id, name, resource_name, plan_id, region, namespace, \
         version, storage_gb, state, deletion_protection, revision, generation, bootstrap, \
         idempotency_key, request_fingerprint, created_by, created_at, updated_at) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
    )
    .bind(&k.id)
    .bind(&k.account_id)
    .bind(&k.name)
    .bind(&k.resource_name)
    .bind(&k.plan_id)
    .bind(&k.region)
    .bind(&k.namespace)
    .bind(&k.version)
    .bind(k.storage_gb)
    .bind(k.state.as_str())
    .bind(i64::from(k.deletion_protection))
    .bind(k.revision)
    .bind(k.generation)
    .bind(&k.bootstrap)
    .bind(&k.idempotency_key)
    .bind(&k.request_fingerprint)
    .bind(&k.created_by)
    .bind(k.created_at)
    .bind(k.updated_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Loads a live (not deleted) cluster of an account.
pub async fn get(c: &mut AnyConnection, account_id: &str, id: &str) -> Result<Option<Cluster>> {
    let row = sqlx::query_as::<_, ClusterRow>(
        "SELECT * FROM clusters WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(account_id)
    .fetch_optional(c)
    .await?;
    Ok(row.map(Cluster::from))
}

/// Loads a cluster by id, whatever its account or state (for the status watcher).
pub async fn get_any(c: &mut AnyConnection, id: &str) -> Result<Option<Cluster>> {
    let row = sqlx::query_as::<_, ClusterRow>("SELECT * FROM clusters WHERE id = $1")
        .bind(id)
        .fetch_optional(c)
        .await?;
    Ok(row.map(Cluster::from))
}

/// Finds a cluster created with an idempotency key.
pub async fn by_idempotency_key(
    c: &mut AnyConnection,
    account_id: &str,
    key: &str,
) -> Result<Option<Cluster>> {
    let row = sqlx::query_as::<_, ClusterRow>(
        "SELECT * FROM clusters WHERE account_id = $1 AND idempotency_key = $2",
    )
    .bind(account_id)
    .bind(key)
    .fetch_optional(c)
    .await?;
    Ok(row.map(Cluster::from))
}

/// Lists live clusters of an account in id order, after the cursor `after`.
pub async fn list(
    c: &mut AnyConnection,
    account_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Cluster>> {
    let rows = sqlx::query_as::<_, ClusterRow>(
        "SELECT * FROM clusters WHERE account_id = $1 AND deleted_at IS NULL AND id > $2 \
         ORDER BY id LIMIT $3",
    )
    .bind(account_id)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(Cluster::from).collect())
}

/// Clusters whose status must be followed: anything not deleted.
pub async fn watched(c: &mut AnyConnection) -> Result<Vec<Cluster>> {
    let rows = sqlx::query_as::<_, ClusterRow>(
        "SELECT * FROM clusters WHERE deleted_at IS NULL ORDER BY id",
    )
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(Cluster::from).collect())
}

/// Writes a changed cluster if its stored revision is still `expected_revision`, bumping it.
/// Returns `false` when someone else changed it first (the caller answers 412).
pub async fn update_if(
    c: &mut AnyConnection,
    k: &Cluster,
    expected_revision: i64,
    now: i64,
) -> Result<bool> {
    let deleted_at = (k.state == ClusterState::Deleted).then_some(now);
    let r = sqlx::query(
        "UPDATE clusters SET plan_id = $3, version = $4, storage_gb = $5, state = $6, \
         deletion_protection = $7, revision = revision + 1, generation = $8, bootstrap = $9, \
         updated_at = $10, deleted_at = $11 WHERE id = $1 AND revision = $2",
    )
    .bind(&k.id)
    .bind(expected_revision)
    .bind(&k.plan_id)
    .bind(&k.version)
    .bind(k.storage_gb)
    .bind(k.state.as_str())
    .bind(i64::from(k.deletion_protection))
    .bind(k.generation)
    .bind(&k.bootstrap)
    .bind(now)
    .bind(deleted_at)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}
