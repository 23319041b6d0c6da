//! Where metric alarm rules read their series: the API's own samples (`metric_points`), or the
//! Prometheus server the plots read when `--prometheus-url` is set (the sampler does not run
//! then, so the rules must read what the plots read). Either way the answer is one list of
//! points per label set, keyed by the labels as JSON, as the evaluator judges them.

use crate::samples::series::Series;
use crate::state::AppState;
use crate::store::clusters::Cluster;
use crate::store::{StoreError, metric_points};
use sqlx::AnyConnection;
use std::collections::BTreeMap;

/// A series' points per label set (the labels as a JSON object), oldest first.
pub type SeriesPoints = BTreeMap<String, Vec<(i64, f64)>>;

/// Why a series could not be read this round.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The database failed: the round fails.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Prometheus did not answer: the cluster's alarms for this rule are neither opened nor
    /// resolved this round (unknown, not clear).
    #[error(transparent)]
    Prometheus(#[from] crate::samples::prometheus::PrometheusError),
}

/// `series` of `cluster` from `since` to `now`; from Prometheus at `step` seconds when one is
/// configured.
pub async fn read(
    state: &AppState,
    c: &mut AnyConnection,
    cluster: &Cluster,
    series: Series,
    (since, now, step): (i64, i64, i64),
) -> Result<SeriesPoints, SourceError> {
    let mut out: SeriesPoints = BTreeMap::new();
    if let Some(prom) = &state.prometheus {
        let views = prom
            .read(
                series,
                &cluster.namespace,
                &cluster.resource_name,
                (since, now, step.max(1)),
            )
            .await?;
        for v in views {
            let labels = serde_json::to_string(&v.labels).unwrap_or_else(|_| "{}".into());
            out.entry(labels).or_default().extend(v.points);
        }
    } else {
        for p in metric_points::read(c, &cluster.id, series.name(), since).await? {
            out.entry(p.labels).or_default().push((p.ts, p.value));
        }
    }
    for pts in out.values_mut() {
        pts.sort_by_key(|(ts, _)| *ts);
        pts.dedup_by_key(|(ts, _)| *ts);
    }
    Ok(out)
}

/// Whether a broker label Prometheus reports (the pod name the PodMonitor gives,
/// `<cluster>-<ordinal>`) is one of the cluster's current `brokers`: a broker removed by a
/// scale-down stops reporting and is not down.
pub fn current_pod(resource: &str, broker: &str, brokers: i64) -> bool {
    broker
        .strip_prefix(resource)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|n| n.parse::<i64>().ok())
        .is_some_and(|n| (0..brokers).contains(&n))
}

#[cfg(test)]
mod tests {
    use super::current_pod;

    #[test]
    fn only_the_current_ordinals_count() {
        assert!(current_pod("orders-1a", "orders-1a-0", 3));
        assert!(current_pod("orders-1a", "orders-1a-2", 3));
        assert!(!current_pod("orders-1a", "orders-1a-3", 3));
        assert!(!current_pod("orders-1a", "orders-1b-0", 3));
        assert!(!current_pod("orders-1a", "orders-1a-x", 3));
        assert!(!current_pod("orders-1a", "10.0.0.5:9092", 3));
    }
}
