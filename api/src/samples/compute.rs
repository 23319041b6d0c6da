//! Pure maths of the sampler, no I/O: a broker's scrape reduced to the values the plots need,
//! rates from counter deltas, p99 from histogram bucket deltas, and the cluster's points from the
//! current and previous reading of each broker. A first reading, a counter that went backwards
//! (a restarted broker) or a changed bucket layout yields no point rather than a wrong one; a
//! topic or API first seen since the previous reading of the same process counts from zero.

use super::series::{Labels, Point, Series, labels};
use std::collections::BTreeMap;

/// A monotonic counter the plots turn into a rate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CounterKey {
    pub series: Series,
    /// `None` for the broker's total, else the topic.
    pub topic: Option<String>,
}

/// Cumulative histogram buckets: (upper bound `le`, observations at or below it), ascending,
/// ending with `+Inf`.
pub type Buckets = Vec<(f64, f64)>;

/// What one scrape of one broker says, reduced to what the plots need.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrokerReading {
    pub counters: BTreeMap<CounterKey, f64>,
    /// Request latency histograms per API name.
    pub latency: BTreeMap<String, Buckets>,
    pub partitions: Option<f64>,
    pub under_replicated: Option<f64>,
    pub under_min_isr: Option<f64>,
    pub offline: Option<f64>,
    /// 1 when this broker is the active controller.
    pub active_controller: Option<f64>,
    /// Per log directory.
    pub disk_used: BTreeMap<String, f64>,
    pub disk_free: BTreeMap<String, f64>,
    /// Lag summed over each group's partitions.
    pub lag_by_group: BTreeMap<String, f64>,
}

/// A reading and the instant (unix seconds) it was taken at.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    pub at: i64,
    pub reading: BrokerReading,
}

/// One broker's part of a sampling round.
#[derive(Debug, Clone, Copy)]
pub struct BrokerRound<'a> {
    /// How the broker is labelled (its host in the bootstrap list).
    pub broker: &'a str,
    pub previous: Option<&'a Timed>,
    pub current: &'a Timed,
}

/// Per-second rate of a counter between two readings; `None` when there is no interval or the
/// counter went backwards (a reset).
pub fn rate(previous: f64, current: f64, elapsed_secs: i64) -> Option<f64> {
    if elapsed_secs <= 0 || current < previous {
        return None;
    }
    #[allow(clippy::cast_precision_loss)] // seconds between samples: far below 2^52
    Some((current - previous) / elapsed_secs as f64)
}

/// The observations between two cumulative histograms (still cumulative); `None` on a reset or a
/// changed bucket layout.
pub fn bucket_delta(previous: &[(f64, f64)], current: &[(f64, f64)]) -> Option<Buckets> {
    if previous.len() != current.len() {
        return None;
    }
    previous
        .iter()
        .zip(current)
        .map(|(&(ple, pc), &(cle, cc))| {
            // Bounds come from the same static definition; compare their bits, not with a tolerance.
            (ple.to_bits() == cle.to_bits() && cc >= pc).then_some((cle, cc - pc))
        })
        .collect()
}

/// The `q` quantile of cumulative buckets, as Prometheus's `histogram_quantile` computes it:
/// linear interpolation inside the bucket holding the rank; the highest finite bound when the
/// rank falls in `+Inf`. `None` with no observations.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let &(_, total) = buckets.last()?;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let i = buckets.iter().position(|&(_, c)| c >= rank)?;
    let (upper, count) = buckets[i];
    let (lower, below) = if i == 0 { (0.0, 0.0) } else { buckets[i - 1] };
    if upper.is_infinite() {
        return Some(lower);
    }
    let inside = count - below;
    if inside <= 0.0 {
        return Some(upper);
    }
    Some(lower + (upper - lower) * (rank - below) / inside)
}

/// Adds `b` into `a` (same layout), or returns false.
fn add_buckets(a: &mut Buckets, b: &[(f64, f64)]) -> bool {
    if a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x.0.to_bits() != y.0.to_bits()) {
        return false;
    }
    for (x, y) in a.iter_mut().zip(b) {
        x.1 += y.1;
    }
    true
}

/// Whether the broker restarted between two readings: one of its totals went backwards.
fn restarted(previous: &BrokerReading, current: &BrokerReading) -> bool {
    current
        .counters
        .iter()
        .filter(|(k, _)| k.topic.is_none())
        .any(|(k, &v)| previous.counters.get(k).is_some_and(|&p| v < p))
}

fn topic_labels(topic: Option<&String>) -> Labels {
    topic.map_or_else(Labels::new, |t| labels([("topic", t.as_str())]))
}

/// The points of one sampling round of a cluster: rates summed over the brokers that have one,
/// p99 of the summed bucket deltas per API, gauges per broker, partition health summed
/// (under-replicated: each broker counts what it leads) or maximal (offline: the controller
/// reports it), and lag summed per group.
pub fn cluster_points(round: &[BrokerRound<'_>]) -> Vec<Point> {
    let mut rates: BTreeMap<(Series, Labels), f64> = BTreeMap::new();
    let mut latency: BTreeMap<String, Buckets> = BTreeMap::new();
    let mut points = Vec::new();
    let mut under_replicated: Option<f64> = None;
    let mut under_min_isr: Option<f64> = None;
    let mut offline: Option<f64> = None;
    let mut controllers: Option<f64> = None;
    let mut lag: BTreeMap<String, f64> = BTreeMap::new();
    for b in round {
        let cur = &b.current.reading;
        if let Some(prev) = b.previous.filter(|p| !restarted(&p.reading, cur)) {
            let elapsed = b.current.at - prev.at;
            for (key, &value) in &cur.counters {
                // The broker creates a topic's counters at its first append: a topic new since
                // the previous reading (of the same, not restarted, process) counted from zero.
                let before = match (prev.reading.counters.get(key), &key.topic) {
                    (Some(&before), _) => before,
                    (None, Some(_)) => 0.0,
                    (None, None) => continue,
                };
                if let Some(r) = rate(before, value, elapsed) {
                    *rates
                        .entry((key.series, topic_labels(key.topic.as_ref())))
                        .or_default() += r;
                }
            }
            for (api, buckets) in &cur.latency {
                // Likewise an API's histogram appears at its first request.
                let zero: Buckets = buckets.iter().map(|&(le, _)| (le, 0.0)).collect();
                let before = prev.reading.latency.get(api).unwrap_or(&zero);
                let Some(delta) = bucket_delta(before, buckets) else {
                    continue;
                };
                match latency.get_mut(api) {
                    // A broker whose layout differs from the others' is left out of the sum.
                    Some(sum) => {
                        add_buckets(sum, &delta);
                    }
                    None => {
                        latency.insert(api.clone(), delta);
                    }
                }
            }
        }
        if let Some(p) = cur.partitions {
            points.push(Point {
                series: Series::Partitions,
                labels: labels([("broker", b.broker)]),
                value: p,
            });
        }
        for (series, dirs) in [
            (Series::DiskUsed, &cur.disk_used),
            (Series::DiskFree, &cur.disk_free),
        ] {
            for (dir, &value) in dirs {
                points.push(Point {
                    series,
                    labels: labels([("broker", b.broker), ("dir", dir.as_str())]),
                    value,
                });
            }
        }
        // Each broker counts the partitions it leads: the cluster's count is the sum.
        for (sum, v) in [
            (&mut under_replicated, cur.under_replicated),
            (&mut under_min_isr, cur.under_min_isr),
            (&mut controllers, cur.active_controller),
        ] {
            if let Some(v) = v {
                *sum.get_or_insert(0.0) += v;
            }
        }
        if let Some(o) = cur.offline {
            offline = Some(offline.map_or(o, |m: f64| m.max(o)));
        }
        for (group, &l) in &cur.lag_by_group {
            *lag.entry(group.clone()).or_default() += l;
        }
    }
    for ((series, labels), value) in rates {
        points.push(Point {
            series,
            labels,
            value,
        });
    }
    for (api, buckets) in latency {
        if let Some(p99) = histogram_quantile(0.99, &buckets) {
            points.push(Point {
                series: Series::RequestLatencyP99,
                labels: labels([("api", api.as_str())]),
                value: p99,
            });
        }
    }
    for (series, value) in [
        (Series::UnderReplicatedPartitions, under_replicated),
        (Series::UnderMinIsrPartitions, under_min_isr),
        (Series::OfflinePartitions, offline),
        (Series::ActiveControllers, controllers),
    ] {
        if let Some(value) = value {
            points.push(Point {
                series,
                labels: Labels::new(),
                value,
            });
        }
    }
    for (group, value) in lag {
        points.push(Point {
            series: Series::ConsumerLag,
            labels: labels([("group", group.as_str())]),
            value,
        });
    }
    points
}

/// One stored point, for downsampling.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPoint {
    pub cluster_id: String,
    pub series: String,
    /// The labels' JSON text.
    pub labels: String,
    pub ts: i64,
    pub value: f64,
}

/// Averages points into `width`-second buckets per cluster, series and labels; each average is
/// stamped with its bucket's start.
pub fn downsample(points: &[StoredPoint], width: i64) -> Vec<StoredPoint> {
    let mut sums: BTreeMap<(&str, &str, &str, i64), (f64, u32)> = BTreeMap::new();
    for p in points {
        let start = p.ts.div_euclid(width) * width;
        let e = sums
            .entry((&p.cluster_id, &p.series, &p.labels, start))
            .or_default();
        e.0 += p.value;
        e.1 += 1;
    }
    sums.into_iter()
        .map(|((cluster_id, series, labels, ts), (sum, n))| StoredPoint {
            cluster_id: cluster_id.to_string(),
            series: series.to_string(),
            labels: labels.to_string(),
            ts,
            value: sum / f64::from(n),
        })
        .collect()
}

#[cfg(test)]
#[path = "compute_tests.rs"]
mod tests;
