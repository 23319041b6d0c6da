//! The SLA probe's per-minute results (`sla_probe_minutes`).

use super::Result;
use crate::domain::billing::Downtime;
use crate::domain::sla::{ProbeMinute, down_intervals, minute_of};
use sqlx::{AnyConnection, AnyPool};

/// Counts one probe write at `ts` in its minute.
pub async fn record(
    pool: &AnyPool,
    cluster_id: &str,
    ts: i64,
    ok: bool,
    error: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sla_probe_minutes (cluster_id, minute, attempts, successes, last_error) \
         VALUES ($1, $2, 1, $3, $4) ON CONFLICT (cluster_id, minute) DO UPDATE SET \
         attempts = sla_probe_minutes.attempts + 1, \
         successes = sla_probe_minutes.successes + excluded.successes, \
         last_error = COALESCE(excluded.last_error, sla_probe_minutes.last_error)",
    )
    .bind(cluster_id)
    .bind(minute_of(ts))
    .bind(i64::from(ok))
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct MinuteRow {
    minute: i64,
    attempts: i64,
    successes: i64,
}

/// A cluster's minutes in `[start, end)`, in order.
pub async fn minutes(
    c: &mut AnyConnection,
    cluster_id: &str,
    start: i64,
    end: i64,
) -> Result<Vec<ProbeMinute>> {
    let rows: Vec<MinuteRow> = sqlx::query_as(
        "SELECT minute, attempts, successes FROM sla_probe_minutes \
         WHERE cluster_id = $1 AND minute >= $2 AND minute < $3 ORDER BY minute",
    )
    .bind(cluster_id)
    .bind(start)
    .bind(end)
    .fetch_all(c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ProbeMinute {
            minute: r.minute,
            attempts: r.attempts,
            successes: r.successes,
        })
        .collect())
}

/// The down minutes of an account's clusters in `[start, end)` as downtime intervals (the
/// invoice's SLA evidence).
pub async fn account_downtime(
    c: &mut AnyConnection,
    account_id: &str,
    start: i64,
    end: i64,
) -> Result<Vec<Downtime>> {
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT m.cluster_id, m.minute, m.attempts, m.successes FROM sla_probe_minutes m \
         JOIN clusters k ON k.id = m.cluster_id WHERE k.account_id = $1 \
         AND m.minute >= $2 AND m.minute < $3 AND m.successes = 0 ORDER BY m.cluster_id, m.minute",
    )
    .bind(account_id)
    .bind(start)
    .bind(end)
    .fetch_all(c)
    .await?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let cluster = rows[i].0.clone();
        let mut minutes = Vec::new();
        while i < rows.len() && rows[i].0 == cluster {
            let (_, minute, attempts, successes) = rows[i];
            minutes.push(ProbeMinute {
                minute,
                attempts,
                successes,
            });
            i += 1;
        }
        out.extend(down_intervals(&cluster, &minutes));
    }
    Ok(out)
}
