//! Sampled broker metrics (`metric_points`): the sampler's writes, the downsampling and
//! retention step, and the series the metrics endpoint reads.

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

async fn insert(
    c: &mut AnyConnection,
    cluster_id: &str,
    series: &str,
    labels: &str,
    resolution: i64,
    ts: i64,
    value: f64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO metric_points (cluster_id, series, labels, resolution, ts, value) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(cluster_id)
    .bind(series)
    .bind(labels)
    .bind(resolution)
    .bind(ts)
    // `{}` of an f64 prints the shortest text that parses back to the same value.
    .bind(value.to_string())
    .execute(c)
    .await?;
    Ok(())
}

/// Records one sampling round of a cluster, in one transaction. Non-finite values are skipped.
pub async fn record(pool: &AnyPool, cluster_id: &str, ts: i64, points: &[Point]) -> Result<()> {
    let mut tx = pool.begin().await?;
    for p in points.iter().filter(|p| p.value.is_finite()) {
        insert(
            &mut tx,
            cluster_id,
            p.series.name(),
            &labels_json(p),
            RAW,
            ts,
            p.value,
        )
        .await?;
    }
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
}

/// Downsamples and expires, at instant `now`, in one transaction: raw points of complete
/// `rollup_secs` windows older than `raw_secs` become one average per window (the window's start
/// as its time), and averages older than `rollup_secs_kept` are deleted. Windows are aligned, so
/// a window is rolled up once, whole.
pub async fn maintain(pool: &AnyPool, retention: Retention, now: i64) -> Result<Maintenance> {
    let width = retention.rollup_secs.max(1);
    let cutoff = (now - retention.raw_secs).div_euclid(width) * width;
    let mut tx = pool.begin().await?;
    let rows: Vec<PointRow> = sqlx::query_as(
        "SELECT cluster_id, series, labels, ts, value FROM metric_points \
         WHERE resolution = $1 AND ts < $2",
    )
    .bind(RAW)
    .bind(cutoff)
    .fetch_all(&mut *tx)
    .await?;
    let raw = rows
        .into_iter()
        .map(StoredPoint::try_from)
        .collect::<Result<Vec<_>>>()?;
    let averages = downsample(&raw, width);
    for a in &averages {
        insert(
            &mut tx,
            &a.cluster_id,
            &a.series,
            &a.labels,
            width,
            a.ts,
            a.value,
        )
        .await?;
    }
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
    tx.commit().await?;
    Ok(Maintenance {
        raw_rolled_up: rolled,
        averages_written: averages.len() as u64,
        deleted,
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
    let rows: Vec<PointRow> = sqlx::query_as(
        "SELECT cluster_id, series, labels, ts, value FROM metric_points \
         WHERE cluster_id = $1 AND series = $2 AND ts >= $3 ORDER BY labels, ts",
    )
    .bind(cluster_id)
    .bind(series)
    .bind(since)
    .fetch_all(c)
    .await?;
    rows.into_iter().map(StoredPoint::try_from).collect()
}

/// Every stored point with its resolution, oldest first (for tests and diagnostics).
pub async fn all(c: &mut AnyConnection, cluster_id: &str) -> Result<Vec<(i64, StoredPoint)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        resolution: i64,
        #[sqlx(flatten)]
        point: PointRow,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT cluster_id, series, labels, resolution, ts, value FROM metric_points \
         WHERE cluster_id = $1 ORDER BY ts, series, labels",
    )
    .bind(cluster_id)
    .fetch_all(c)
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.resolution, StoredPoint::try_from(r.point)?)))
        .collect()
}
