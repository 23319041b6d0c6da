//! Notification channels (secrets sealed), the delivery queue and the delivery log.

use super::Result;
use sqlx::AnyConnection;

/// A stored channel; `secret_box` is sealed and never leaves the server.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChannelRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub kind: String,
    pub config: String,
    pub secret_box: String,
    pub secret_hint: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Records a channel.
pub async fn insert(c: &mut AnyConnection, ch: &ChannelRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO notification_channels (id, account_id, name, kind, config, secret_box, \
         secret_hint, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&ch.id)
    .bind(&ch.account_id)
    .bind(&ch.name)
    .bind(&ch.kind)
    .bind(&ch.config)
    .bind(&ch.secret_box)
    .bind(&ch.secret_hint)
    .bind(&ch.created_by)
    .bind(ch.created_at)
    .bind(ch.updated_at)
    .execute(c)
    .await?;
    Ok(())
}

/// An account's channels, oldest first.
pub async fn list(c: &mut AnyConnection, account_id: &str) -> Result<Vec<ChannelRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM notification_channels WHERE account_id = $1 ORDER BY id")
            .bind(account_id)
            .fetch_all(c)
            .await?,
    )
}

/// One channel of an account.
pub async fn get(c: &mut AnyConnection, account_id: &str, id: &str) -> Result<Option<ChannelRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM notification_channels WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .fetch_optional(c)
            .await?,
    )
}

/// Renames a channel and replaces its settings.
pub async fn update(c: &mut AnyConnection, ch: &ChannelRow) -> Result<()> {
    sqlx::query(
        "UPDATE notification_channels SET name = $2, config = $3, secret_box = $4, \
         secret_hint = $5, updated_at = $6 WHERE id = $1",
    )
    .bind(&ch.id)
    .bind(&ch.name)
    .bind(&ch.config)
    .bind(&ch.secret_box)
    .bind(&ch.secret_hint)
    .bind(ch.updated_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Deletes a channel with its queue and log; returns whether it existed.
pub async fn delete(c: &mut AnyConnection, account_id: &str, id: &str) -> Result<bool> {
    sqlx::query("DELETE FROM notification_attempts WHERE channel_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM notification_deliveries WHERE channel_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    let r = sqlx::query("DELETE FROM notification_channels WHERE account_id = $1 AND id = $2")
        .bind(account_id)
        .bind(id)
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// A queued (or finished) delivery.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub account_id: String,
    pub channel_id: String,
    pub alarm_id: Option<String>,
    pub dedup_key: String,
    /// The provider-neutral notice as JSON.
    pub notice: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Queues a delivery.
pub async fn enqueue(c: &mut AnyConnection, d: &DeliveryRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO notification_deliveries (id, account_id, channel_id, alarm_id, dedup_key, \
         notice, state, attempts, next_attempt_at, last_status, last_error, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&d.id)
    .bind(&d.account_id)
    .bind(&d.channel_id)
    .bind(&d.alarm_id)
    .bind(&d.dedup_key)
    .bind(&d.notice)
    .bind(&d.state)
    .bind(d.attempts)
    .bind(d.next_attempt_at)
    .bind(d.last_status)
    .bind(&d.last_error)
    .bind(d.created_at)
    .bind(d.updated_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Deliveries due at `now`, oldest first (at most `limit`), each the oldest pending one of its
/// channel and dedup key (a resolve waits behind its retrying trigger). Deliveries waiting for
/// their backoff are not read, so many of them never hold up due ones.
pub async fn due(c: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<DeliveryRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM notification_deliveries d WHERE d.state = 'pending' \
         AND d.next_attempt_at <= $1 AND NOT EXISTS (SELECT 1 FROM notification_deliveries e \
         WHERE e.state = 'pending' AND e.channel_id = d.channel_id \
         AND e.dedup_key = d.dedup_key AND e.id < d.id) ORDER BY d.id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// One delivery of an account.
pub async fn delivery(
    c: &mut AnyConnection,
    account_id: &str,
    id: &str,
) -> Result<Option<DeliveryRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM notification_deliveries WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .fetch_optional(c)
            .await?,
    )
}

/// Records an attempt and the delivery's new state.
pub async fn record_attempt(
    c: &mut AnyConnection,
    d: &DeliveryRow,
    status: Option<i64>,
    error: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO notification_attempts (id, delivery_id, channel_id, attempt, status_code, \
         error, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(super::new_id())
    .bind(&d.id)
    .bind(&d.channel_id)
    .bind(d.attempts)
    .bind(status)
    .bind(error)
    .bind(now)
    .execute(&mut *c)
    .await?;
    sqlx::query(
        "UPDATE notification_deliveries SET state = $2, attempts = $3, next_attempt_at = $4, \
         last_status = $5, last_error = $6, updated_at = $7 WHERE id = $1",
    )
    .bind(&d.id)
    .bind(&d.state)
    .bind(d.attempts)
    .bind(d.next_attempt_at)
    .bind(status)
    .bind(error)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// One line of a channel's delivery log.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttemptRow {
    pub id: String,
    pub delivery_id: String,
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub at: i64,
    pub state: String,
    pub dedup_key: String,
    pub notice: String,
}

/// A channel's delivery log, newest first.
pub async fn attempts(
    c: &mut AnyConnection,
    channel_id: &str,
    limit: i64,
) -> Result<Vec<AttemptRow>> {
    Ok(sqlx::query_as(
        "SELECT a.id, a.delivery_id, a.attempt, a.status_code, a.error, a.at, d.state, \
         d.dedup_key, d.notice FROM notification_attempts a \
         JOIN notification_deliveries d ON d.id = a.delivery_id \
         WHERE a.channel_id = $1 ORDER BY a.id DESC LIMIT $2",
    )
    .bind(channel_id)
    .bind(limit)
    .fetch_all(c)
    .await?)
}
