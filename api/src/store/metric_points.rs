//! Sampled broker metrics (`metric_series`, `metric_points`): the sampler's writes, the
//! downsampling and retention step, and the series the metrics endpoint reads.

use super::{Result, StoreError};
use crate::samples::compute::{StoredPoint, downsample};
use crate::samples::series::Point;
use sqlx::{AnyConnection, AnyPool};

/// Resolution of raw samples.
pub const RAW: i64 = 0;

#[derive(sqlx::FromRow)]
struct PointRow {
    cluster_id: String,
    series: String,
    labels: String,
    resolution: i64,
    ts: i64,
    value: String,
}

impl TryFrom<PointRow> for StoredPoint {
    type Error = StoreError;
    fn try_from(r: PointRow) -> Result<Self> {
        let value = r.value.parse().map_err(|e| StoreError::Corrupt {
            what: "metric point value".into(),
            detail: format!("{:?}: {e}", r.value),
        })?;
        Ok(StoredPoint {
            cluster_id: r.cluster_id,
            series: r.series,
            labels: r.labels,
            ts: r.ts,
            value,
        })
    }
}

/// The labels as stored: a JSON object with sorted keys.
fn labels_json(p: &Point) -> String {
    serde_json::to_string(&p.labels).unwrap_or_else(|_| "{}".into())
}

/// The id of a cluster's series with one label set: the first 8 bytes of a SHA-256 of the three,
/// so that writers need no lookup (a collision among a database's series is ~n²/2⁶⁵).
pub fn series_id(cluster_id: &str, name: &str, labels: &str) -> i64 {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for part in [cluster_id, name, labels] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Rows per multi-row INSERT: 4 parameters each, far below both databases' limits.
const CHUNK: usize = 200;

/// Writes points, creating their series as needed: two multi-row statements per `CHUNK`.
async fn insert_many(c: &mut AnyConnection, resolution: i64, points: &[StoredPoint]) -> Result<()> {
    for chunk in points.chunks(CHUNK) {
        let mut series: Vec<(i64, &StoredPoint)> = chunk
            .iter()
            .map(|p| (series_id(&p.cluster_id, &p.series, &p.labels), p))
            .collect();
        let ids: Vec<i64> = series.iter().map(|(id, _)| *id).collect();
        series.sort_by_key(|(id, _)| *id);
        series.dedup_by_key(|(id, _)| *id);
        // Only `$n` placeholders are generated here; every value is bound.
        let rows = |n: usize| {
            (0..n)
                .map(|i| {
                    format!(
                        "(${}, ${}, ${}, ${})",
                        4 * i + 1,
                        4 * i + 2,
                        4 * i + 3,
                        4 * i + 4
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sql = format!(
            "INSERT INTO metric_series (id, cluster_id, name, labels) VALUES {} \
             ON CONFLICT (id) DO NOTHING",
            rows(series.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, p) in &series {
            q = q
                .bind(*id)
                .bind(&p.cluster_id)
                .bind(&p.series)
                .bind(&p.labels);
        }
        q.execute(&mut *c).await?;
        let sql = format!(
            "INSERT INTO metric_points (series_id, resolution, ts, value) VALUES {}",
            rows(chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, p) in ids.iter().zip(chunk) {
            // `{}` of an f64 prints the shortest text that parses back to the same value.
            q = q
                .bind(*id)
                .bind(resolution)
                .bind(p.ts)
                .bind(p.value.to_string());
        }
        q.execute(&mut *c).await?;
    }
    Ok(())
}

/// Points joined with their series, as `PointRow` reads them, and a condition.
macro_rules! points_where {
    ($cond:literal) => {
        concat!(
            "SELECT s.cluster_id, s.name AS series, s.labels, p.resolution, p.ts, p.value ",
            "FROM metric_points p JOIN metric_series s ON s.id = p.series_id WHERE ",
            $cond
        )
    };
}

/// Records one sampling round of a cluster, in one transaction. Non-finite values are skipped.
pub async fn record(pool: &AnyPool, cluster_id: &str, ts: i64, points: &[Point]) -> Result<()> {
    let rows: Vec<StoredPoint> = points
        .iter()
        .filter(|p| p.value.is_finite())
        .map(|p| StoredPoint {
            cluster_id: cluster_id.to_string(),
            series: p.series.name().to_string(),
            labels: labels_json(p),
            ts,
            value: p.value,
        })
        .collect();
    let mut tx = pool.begin().await?;
    insert_many(&mut tx, RAW, &rows).await?;
    tx.commit().await?;
    Ok(())
}

/// How long points are kept, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw points older than this become averages.
    pub raw_secs: i64,
    /// Width of an average.
    pub rollup_secs: i64,
    /// Averages older than this are deleted.
    pub rollup_secs_kept: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            raw_secs: 2 * 3600,
            rollup_secs: 300,
            rollup_secs_kept: 7 * 24 * 3600,
        }
    }
}

/// What one maintenance pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Maintenance {
    pub raw_rolled_up: u64,
    pub averages_written: u64,
    pub deleted: u64,
    /// Series left without points, forgotten.
    pub series_deleted: u64,
}

/// Downsamples and expires, at instant `now`, in one transaction: raw points of complete
/// `rollup_secs` windows older than `raw_secs` become one average per window (the window's start
/// as its time), averages older than `rollup_secs_kept` are deleted, and so are series left
/// without points. Windows are aligned, so a window is rolled up once, whole.
pub async fn maintain(pool: &AnyPool, retention: Retention, now: i64) -> Result<Maintenance> {
    let width = retention.rollup_secs.max(1);
    let cutoff = (now - retention.raw_secs).div_euclid(width) * width;
    let mut tx = pool.begin().await?;
    let rows: Vec<PointRow> = sqlx::query_as(points_where!("p.resolution = $1 AND p.ts < $2"))
        .bind(RAW)
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await?;
    let raw = rows
        .into_iter()
        .map(StoredPoint::try_from)
        .collect::<Result<Vec<_>>>()?;
    let averages = downsample(&raw, width);
    insert_many(&mut tx, width, &averages).await?;
    let rolled = sqlx::query("DELETE FROM metric_points WHERE resolution = $1 AND ts < $2")
        .bind(RAW)
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let deleted = sqlx::query("DELETE FROM metric_points WHERE resolution <> $1 AND ts < $2")
        .bind(RAW)
        .bind(now - retention.rollup_secs_kept)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let series_deleted = sqlx::query(
        "DELETE FROM metric_series WHERE NOT EXISTS \
         (SELECT 1 FROM metric_points p WHERE p.series_id = metric_series.id)",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(Maintenance {
        raw_rolled_up: rolled,
        averages_written: averages.len() as u64,
        deleted,
        series_deleted,
    })
}

/// Points of a cluster's `series` at or after `since`, raw and averaged alike, by labels then
/// time.
pub async fn read(
    c: &mut AnyConnection,
    cluster_id: &str,
    series: &str,
    since: i64,
) -> Result<Vec<StoredPoint>> {
    let rows: Vec<PointRow> = sqlx::query_as(points_where!(
        "s.cluster_id = $1 AND s.name = $2 AND p.ts >= $3 ORDER BY s.labels, p.ts"
    ))
    .bind(cluster_id)
    .bind(series)
    .bind(since)
    .fetch_all(c)
    .await?;
    rows.into_iter().map(StoredPoint::try_from).collect()
}

/// Every stored point of a cluster with its resolution, oldest first (for tests and
/// diagnostics).
pub async fn all(c: &mut AnyConnection, cluster_id: &str) -> Result<Vec<(i64, StoredPoint)>> {
    let rows: Vec<PointRow> = sqlx::query_as(points_where!(
        "s.cluster_id = $1 ORDER BY p.ts, s.name, s.labels"
    ))
    .bind(cluster_id)
    .fetch_all(c)
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.resolution, StoredPoint::try_from(r)?)))
        .collect()
}
