//! Operations: one row per cluster mutation, with its steps; at most one active per cluster,
//! enforced by a partial unique index.

use super::columns::json;
use super::{Result, StoreError};
use crate::domain::operations::{OpKind, OpState};
use sqlx::AnyConnection;

/// One step an operation went through.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Step {
    pub name: String,
    pub state: OpState,
    pub at: String,
}

/// A stored operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub id: String,
    pub cluster_id: String,
    pub account_id: String,
    pub kind: OpKind,
    pub state: OpState,
    pub params: serde_json::Value,
    pub steps: Vec<Step>,
    pub error: Option<String>,
    pub target_generation: Option<i64>,
    pub restart_token: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

/// An `operations` row as stored: kind and state by name, params and steps as JSON text.
#[derive(sqlx::FromRow)]
struct OperationRow {
    id: String,
    cluster_id: String,
    account_id: String,
    kind: OpKind,
    state: OpState,
    params: String,
    steps: String,
    error: Option<String>,
    target_generation: Option<i64>,
    restart_token: Option<String>,
    created_by: String,
    created_at: i64,
    updated_at: i64,
    finished_at: Option<i64>,
}

impl TryFrom<OperationRow> for Operation {
    type Error = StoreError;

    fn try_from(r: OperationRow) -> Result<Self> {
        Ok(Operation {
            id: r.id,
            cluster_id: r.cluster_id,
            account_id: r.account_id,
            kind: r.kind,
            state: r.state,
            params: json("operation params", &r.params)?,
            steps: json("operation steps", &r.steps)?,
            error: r.error,
            target_generation: r.target_generation,
            restart_token: r.restart_token,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
            finished_at: r.finished_at,
        })
    }
}

/// Inserts an operation. Fails with [`StoreError::Conflict`] when the cluster already has an
/// active one; callers map that to 409.
pub async fn insert(c: &mut AnyConnection, o: &Operation) -> Result<()> {
    sqlx::query(
        "INSERT INTO operations (id, cluster_id, account_id, kind, state, active, params, steps, \
         error, target_generation, restart_token, created_by, created_at, updated_at, finished_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&o.id)
    .bind(&o.cluster_id)
    .bind(&o.account_id)
    .bind(o.kind.as_str())
    .bind(o.state.as_str())
    .bind(o.state.is_active().then_some(1i64))
    .bind(o.params.to_string())
    .bind(serde_json::to_string(&o.steps).unwrap_or_default())
    .bind(&o.error)
    .bind(o.target_generation)
    .bind(&o.restart_token)
    .bind(&o.created_by)
    .bind(o.created_at)
    .bind(o.updated_at)
    .bind(o.finished_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Writes an operation's new state, steps and outcome.
pub async fn update(c: &mut AnyConnection, o: &Operation) -> Result<()> {
    sqlx::query(
        "UPDATE operations SET state = $2, active = $3, steps = $4, error = $5, \
         target_generation = $6, updated_at = $7, finished_at = $8 WHERE id = $1",
    )
    .bind(&o.id)
    .bind(o.state.as_str())
    .bind(o.state.is_active().then_some(1i64))
    .bind(serde_json::to_string(&o.steps).unwrap_or_default())
    .bind(&o.error)
    .bind(o.target_generation)
    .bind(o.updated_at)
    .bind(o.finished_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Loads an operation of an account.
pub async fn get(c: &mut AnyConnection, account_id: &str, id: &str) -> Result<Option<Operation>> {
    let row = sqlx::query_as::<_, OperationRow>(
        "SELECT * FROM operations WHERE id = $1 AND account_id = $2",
    )
    .bind(id)
    .bind(account_id)
    .fetch_optional(c)
    .await?;
    row.map(Operation::try_from).transpose()
}

/// The cluster's active operation, if any.
pub async fn active_for(c: &mut AnyConnection, cluster_id: &str) -> Result<Option<Operation>> {
    let row = sqlx::query_as::<_, OperationRow>(
        "SELECT * FROM operations WHERE cluster_id = $1 AND active = 1",
    )
    .bind(cluster_id)
    .fetch_optional(c)
    .await?;
    row.map(Operation::try_from).transpose()
}

/// A cluster's operations, newest first.
pub async fn list_for(
    c: &mut AnyConnection,
    cluster_id: &str,
    limit: i64,
) -> Result<Vec<Operation>> {
    let rows = sqlx::query_as::<_, OperationRow>(
        "SELECT * FROM operations WHERE cluster_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(cluster_id)
    .bind(limit)
    .fetch_all(c)
    .await?;
    rows.into_iter().map(Operation::try_from).collect()
}
