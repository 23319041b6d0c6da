//! Alarm rules and alarms. An alarm opens at most once per dedup key (a partial unique index)
//! and resolves once.

use super::Result;
use sqlx::AnyConnection;

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RuleRow {
    pub id: String,
    pub account_id: String,
    pub cluster_id: Option<String>,
    pub name: String,
    pub kind: String,
    /// Decimal text.
    pub threshold: String,
    pub for_secs: i64,
    pub group_name: Option<String>,
    /// JSON array of channel ids; `None`: every channel of the account.
    pub channel_ids: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

impl RuleRow {
    /// The channels its notices go to; `None`: every channel of the account.
    pub fn channels(&self) -> Option<Vec<String>> {
        self.channel_ids
            .as_deref()
            .map(|s| serde_json::from_str(s).unwrap_or_default())
    }
}

/// Records a rule.
pub async fn insert_rule(c: &mut AnyConnection, r: &RuleRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO alarm_rules (id, account_id, cluster_id, name, kind, threshold, for_secs, \
         group_name, channel_ids, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&r.id)
    .bind(&r.account_id)
    .bind(&r.cluster_id)
    .bind(&r.name)
    .bind(&r.kind)
    .bind(&r.threshold)
    .bind(r.for_secs)
    .bind(&r.group_name)
    .bind(&r.channel_ids)
    .bind(&r.created_by)
    .bind(r.created_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Writes a rule's changeable terms (name, threshold, duration, group, channels).
pub async fn update_rule(c: &mut AnyConnection, r: &RuleRow) -> Result<()> {
    sqlx::query(
        "UPDATE alarm_rules SET name = $3, threshold = $4, for_secs = $5, group_name = $6, \
         channel_ids = $7 WHERE id = $1 AND account_id = $2",
    )
    .bind(&r.id)
    .bind(&r.account_id)
    .bind(&r.name)
    .bind(&r.threshold)
    .bind(r.for_secs)
    .bind(&r.group_name)
    .bind(&r.channel_ids)
    .execute(c)
    .await?;
    Ok(())
}

/// An account's rules, oldest first.
pub async fn rules(c: &mut AnyConnection, account_id: &str) -> Result<Vec<RuleRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM alarm_rules WHERE account_id = $1 ORDER BY id")
            .bind(account_id)
            .fetch_all(c)
            .await?,
    )
}

/// Every rule (the evaluator's input).
pub async fn all_rules(c: &mut AnyConnection) -> Result<Vec<RuleRow>> {
    Ok(sqlx::query_as("SELECT * FROM alarm_rules ORDER BY id")
        .fetch_all(c)
        .await?)
}

/// One rule of an account.
pub async fn rule(c: &mut AnyConnection, account_id: &str, id: &str) -> Result<Option<RuleRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM alarm_rules WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .fetch_optional(c)
            .await?,
    )
}

/// Deletes a rule; returns whether it existed.
pub async fn delete_rule(c: &mut AnyConnection, account_id: &str, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM alarm_rules WHERE account_id = $1 AND id = $2")
        .bind(account_id)
        .bind(id)
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// A stored alarm.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AlarmRow {
    pub id: String,
    pub account_id: String,
    pub rule_id: String,
    pub cluster_id: String,
    pub kind: String,
    pub subject: String,
    pub dedup_key: String,
    pub summary: String,
    pub value: String,
    pub opened_at: i64,
    pub resolved_at: Option<i64>,
}

/// Opens an alarm; [`super::StoreError::Conflict`] when one with its dedup key is open.
pub async fn open(c: &mut AnyConnection, a: &AlarmRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO alarms (id, account_id, rule_id, cluster_id, kind, subject, dedup_key, \
         summary, value, opened_at, resolved_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)",
    )
    .bind(&a.id)
    .bind(&a.account_id)
    .bind(&a.rule_id)
    .bind(&a.cluster_id)
    .bind(&a.kind)
    .bind(&a.subject)
    .bind(&a.dedup_key)
    .bind(&a.summary)
    .bind(&a.value)
    .bind(a.opened_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Resolves the open alarm with `dedup_key`; returns it when this call resolved it.
pub async fn resolve(c: &mut AnyConnection, dedup_key: &str, now: i64) -> Result<Option<AlarmRow>> {
    let open: Option<AlarmRow> =
        sqlx::query_as("SELECT * FROM alarms WHERE dedup_key = $1 AND resolved_at IS NULL")
            .bind(dedup_key)
            .fetch_optional(&mut *c)
            .await?;
    let Some(mut a) = open else { return Ok(None) };
    let r = sqlx::query("UPDATE alarms SET resolved_at = $2 WHERE id = $1 AND resolved_at IS NULL")
        .bind(&a.id)
        .bind(now)
        .execute(c)
        .await?;
    if r.rows_affected() != 1 {
        return Ok(None);
    }
    a.resolved_at = Some(now);
    Ok(Some(a))
}

/// A rule's open alarms.
pub async fn open_for_rule(c: &mut AnyConnection, rule_id: &str) -> Result<Vec<AlarmRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM alarms WHERE rule_id = $1 AND resolved_at IS NULL ORDER BY id",
    )
    .bind(rule_id)
    .fetch_all(c)
    .await?)
}

/// An account's alarms, newest first: open ones, or all (open and recent) when `open_only` is
/// false.
pub async fn list(
    c: &mut AnyConnection,
    account_id: &str,
    open_only: bool,
    limit: i64,
) -> Result<Vec<AlarmRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM alarms WHERE account_id = $1 AND ($2 = 0 OR resolved_at IS NULL) \
         ORDER BY id DESC LIMIT $3",
    )
    .bind(account_id)
    .bind(i64::from(open_only))
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// A cluster's finished operations (failed or succeeded) since `since`, oldest first.
pub async fn finished_operations(
    c: &mut AnyConnection,
    cluster_id: &str,
    since: i64,
) -> Result<Vec<(String, String, String, i64, Option<String>)>> {
    Ok(sqlx::query_as(
        "SELECT id, kind, state, finished_at, error FROM operations WHERE cluster_id = $1 \
         AND state IN ('failed', 'succeeded') AND finished_at >= $2 ORDER BY finished_at, id",
    )
    .bind(cluster_id)
    .bind(since)
    .fetch_all(c)
    .await?)
}

/// The newest sample time of each label set of a cluster's `series` (the broker-down rule
/// needs no more than that).
pub async fn latest_sample_times(
    c: &mut AnyConnection,
    cluster_id: &str,
    series: &str,
) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT s.labels, MAX(p.ts) AS ts FROM metric_series s \
         JOIN metric_points p ON p.series_id = s.id \
         WHERE s.cluster_id = $1 AND s.name = $2 GROUP BY s.labels",
    )
    .bind(cluster_id)
    .bind(series)
    .fetch_all(c)
    .await?)
}
