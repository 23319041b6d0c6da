//! The append-only audit log: every mutation and its actor, written in the mutation's transaction.

use super::{Result, new_id};
use sqlx::AnyConnection;

/// One audit entry.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub request_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub at: String,
}

/// An `audit_log` row as stored: details as JSON text, the instant in unix seconds.
#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    actor: String,
    action: String,
    target: String,
    request_id: Option<String>,
    details: String,
    at: i64,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            actor: r.actor,
            action: r.action,
            target: r.target,
            request_id: r.request_id,
            // The log is append-only and never refused: an unreadable entry shows as null.
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
            at: super::rfc3339(r.at),
        }
    }
}

/// Who did something, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `user:<id>` or `api_key:<id>`.
    pub actor: String,
    pub account_id: Option<String>,
    pub request_id: Option<String>,
}

/// Appends an entry. There is deliberately no update or delete function.
pub async fn record(
    c: &mut AnyConnection,
    who: &Actor,
    action: &str,
    target: &str,
    details: &serde_json::Value,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, account_id, actor, action, target, request_id, details, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(&who.account_id)
    .bind(&who.actor)
    .bind(action)
    .bind(target)
    .bind(&who.request_id)
    .bind(details.to_string())
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Lists an account's entries, newest first, before the cursor `before` (an entry id).
pub async fn list(
    c: &mut AnyConnection,
    account_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    let rows = sqlx::query_as::<_, AuditRow>(
        "SELECT * FROM audit_log WHERE account_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(account_id)
    .bind(before.unwrap_or(""))
    .bind(limit)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(AuditEntry::from).collect())
}
