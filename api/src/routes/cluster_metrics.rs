//! `GET /v1/clusters/{id}/metrics`: the sampled broker series of a cluster, for the console's
//! plots.

use crate::auth::extract::Principal;
use crate::domain::roles::Permission;
use crate::error::{ApiError, ApiResult};
use crate::samples::compute::{StoredPoint, downsample};
use crate::samples::series::Series;
use crate::state::AppState;
use crate::store::{self, clusters, metric_points};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// The route.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/clusters/{id}/metrics", get(cluster_metrics))
}

/// Which series, from when, at what step.
#[derive(Debug, Deserialize, IntoParams)]
pub struct MetricsQuery {
    /// Comma-separated series names (`produce_throughput`, `consume_throughput`, `messages_in`,
    /// `request_latency_p99`, `partitions`, `disk_used`, `disk_free`,
    /// `under_replicated_partitions`, `under_min_isr_partitions`, `offline_partitions`,
    /// `active_controllers`, `consumer_lag`); all when absent.
    pub series: Option<String>,
    /// Unix seconds, or a duration back from now: `15m`, `1h`, `24h`, `7d` (also `s`). Default `1h`.
    pub since: Option<String>,
    /// Average points into windows of this many seconds (1 to 86400); raw points when absent.
    /// (Text here so that a bad value is a problem document like the others.)
    #[param(value_type = Option<i64>)]
    pub step: Option<String>,
}

/// One series of one label set.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SeriesView {
    pub name: String,
    /// E.g. `{"topic": "orders"}`, `{"broker": "10.0.0.5"}`; empty for a cluster-wide series.
    pub labels: BTreeMap<String, String>,
    /// `bytes/s`, `messages/s`, `seconds`, `partitions`, `bytes` or `messages`.
    pub unit: String,
    /// `[unix seconds, value]` pairs, oldest first.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub points: Vec<(i64, f64)>,
}

/// The answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MetricsView {
    pub series: Vec<SeriesView>,
}

/// Longest look-back of a relative `since` (the averages are kept about this long).
const MAX_LOOKBACK_SECS: i64 = 31 * 24 * 3600;

/// Parses `since` at instant `now`: unix seconds, or `<n>s|m|h|d` back from now.
pub fn parse_since(raw: &str, now: i64) -> Result<i64, String> {
    let bad =
        || format!("since must be unix seconds or a duration like 15m, 1h, 24h, 7d, not {raw:?}");
    let raw = raw.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse().map_err(|_| bad());
    }
    let (split, _) = raw.char_indices().last().ok_or_else(bad)?;
    let (n, unit) = raw.split_at(split);
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let secs = n
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|s| (1..=MAX_LOOKBACK_SECS).contains(s))
        .ok_or_else(bad)?;
    Ok(now - secs)
}

/// Parses the `series` list; every name must be known.
pub fn parse_series(raw: Option<&str>) -> Result<Vec<Series>, String> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(Series::ALL.to_vec());
    };
    let mut out = Vec::new();
    for name in raw.split(',').map(str::trim) {
        let s = Series::parse(name).ok_or_else(|| {
            let known: Vec<_> = Series::ALL.iter().map(|s| s.name()).collect();
            format!("unknown series {name:?}; known: {}", known.join(", "))
        })?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// Groups a series' points (ordered by labels, then time) into one view per label set.
fn views(series: Series, points: &[StoredPoint]) -> ApiResult<Vec<SeriesView>> {
    let mut out: Vec<SeriesView> = Vec::new();
    let mut last_labels: Option<&str> = None;
    for p in points {
        if last_labels != Some(p.labels.as_str()) {
            let labels = serde_json::from_str(&p.labels)
                .map_err(|e| ApiError::Internal(format!("stored labels {:?}: {e}", p.labels)))?;
            out.push(SeriesView {
                name: series.name().to_string(),
                labels,
                unit: series.unit().to_string(),
                points: Vec::new(),
            });
            last_labels = Some(&p.labels);
        }
        if let Some(v) = out.last_mut() {
            v.points.push((p.ts, p.value));
        }
    }
    Ok(out)
}

/// The cluster's sampled series. Points are raw samples for the last couple of hours and
/// 5-minute averages before that; with a Prometheus server configured, its `query_range`
/// answers at `step` (default: about 240 points).
#[utoipa::path(get, path = "/v1/clusters/{id}/metrics", tag = "clusters", security(("bearer" = [])),
    params(("id" = String, Path), MetricsQuery),
    responses((status = 200, body = MetricsView), (status = 400, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn cluster_metrics(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<MetricsQuery>,
) -> ApiResult<Json<MetricsView>> {
    p.require(Permission::ReadClusters)?;
    let wanted = parse_series(q.series.as_deref()).map_err(ApiError::BadRequest)?;
    let since = parse_since(q.since.as_deref().unwrap_or("1h"), store::now())
        .map_err(ApiError::BadRequest)?;
    let step = q
        .step
        .as_deref()
        .map(|raw| {
            raw.parse::<i64>()
                .ok()
                .filter(|s| (1..=86_400).contains(s))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("step must be 1 to 86400 seconds, not {raw:?}"))
                })
        })
        .transpose()?;
    let now = store::now();
    let mut c = state.db.pool.acquire().await?;
    let k = clusters::get(&mut c, &p.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("cluster".into()))?;
    let mut series = Vec::new();
    if let Some(prom) = &state.prometheus {
        drop(c);
        // About 240 points per line unless a step is asked for; never below 15 s.
        let step = step.unwrap_or(((now - since) / 240).max(15));
        for s in wanted {
            let views = prom
                .read(s, &k.namespace, &k.resource_name, (since, now, step))
                .await
                .map_err(|e| ApiError::unavailable(e.to_string()))?;
            series.extend(views);
        }
        return Ok(Json(MetricsView { series }));
    }
    for s in wanted {
        let mut points = metric_points::read(&mut c, &k.id, s.name(), since).await?;
        if let Some(step) = step {
            // `downsample` orders by labels, then window: the order `views` groups by.
            points = downsample(&points, step);
        }
        series.extend(views(s, &points)?);
    }
    Ok(Json(MetricsView { series }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_unix_seconds_or_a_duration() {
        assert_eq!(parse_since("1700000000", 5), Ok(1_700_000_000));
        assert_eq!(parse_since("15m", 10_000), Ok(10_000 - 900));
        assert_eq!(parse_since("1h", 10_000), Ok(10_000 - 3600));
        assert_eq!(parse_since("24h", 100_000), Ok(100_000 - 86_400));
        assert_eq!(parse_since("7d", 1_000_000), Ok(1_000_000 - 7 * 86_400));
        assert_eq!(parse_since("30s", 100), Ok(70));
        for bad in [
            "",
            "h",
            "1x",
            "-1h",
            "1.5h",
            "0m",
            "99999999999d",
            "1h ago",
            "١h",
            "h١",
        ] {
            assert!(parse_since(bad, 100).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn series_lists_are_checked_and_default_to_all() {
        assert_eq!(parse_series(None), Ok(Series::ALL.to_vec()));
        assert_eq!(parse_series(Some("")), Ok(Series::ALL.to_vec()));
        assert_eq!(
            parse_series(Some("partitions, produce_throughput,partitions")),
            Ok(vec![Series::Partitions, Series::ProduceThroughput])
        );
        assert!(parse_series(Some("partitions,nope")).is_err());
    }
}
