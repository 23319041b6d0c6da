//! The broker-metrics sampler: every interval, for every cluster that has a bootstrap address,
//! scrape each broker's Prometheus `/metrics` (its admin port at each host of the bootstrap
//! list), turn the readings into the console's series (`compute`) and store them
//! (`store::metric_points`), then downsample and expire old points. Rates need the previous
//! reading of each broker, kept in memory here: after a restart of the API the first round
//! stores gauges only.

pub mod compute;
pub mod prometheus;
pub mod scrape;
pub mod series;

use crate::state::AppState;
use crate::store::{self, StoreError, clusters, metric_points};
use compute::{BrokerRound, Timed};
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

/// How many brokers are scraped at once.
const PARALLEL_SCRAPES: usize = 16;

/// Settings of the sampler.
#[derive(Debug, Clone, Copy)]
pub struct SamplerConfig {
    /// The brokers' admin (metrics) port.
    pub admin_port: u16,
    /// Deadline of one scrape: a slow broker costs at most this, and only its own points.
    pub scrape_timeout: Duration,
    pub retention: metric_points::Retention,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            admin_port: 9600,
            scrape_timeout: Duration::from_secs(5),
            retention: metric_points::Retention::default(),
        }
    }
}

/// What one round did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    pub clusters: usize,
    pub brokers_read: usize,
    /// `host: error` of brokers that could not be read.
    pub failures: Vec<String>,
    pub points: usize,
    pub maintenance: metric_points::Maintenance,
}

/// The sampler and the previous reading of every broker it follows.
pub struct Sampler {
    config: SamplerConfig,
    client: scrape::HttpClient,
    /// (cluster id, broker host) → the last reading.
    previous: Mutex<HashMap<(String, String), Timed>>,
}

/// The hosts of a bootstrap list (`host:port,host:port`), in order, without duplicates.
pub fn bootstrap_hosts(bootstrap: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    bootstrap
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            // `[v6]:port`, `host:port`, or a bare host.
            if let Some(rest) = entry.strip_prefix('[') {
                rest.split(']').next().unwrap_or(rest).to_string()
            } else {
                match entry.rsplit_once(':') {
                    Some((h, _)) if !h.contains(':') => h.to_string(),
                    _ => entry.to_string(),
                }
            }
        })
        .filter(|h| seen.insert(h.clone()))
        .collect()
}

impl Sampler {
    /// A sampler with no previous readings.
    pub fn new(config: SamplerConfig) -> Self {
        Self {
            config,
            client: scrape::http_client(),
            previous: Mutex::new(HashMap::new()),
        }
    }

    /// One round at instant `now` (unix seconds): scrape every broker of every cluster with a
    /// bootstrap address, store the points, forget brokers no longer listed, then maintain.
    pub async fn sample_once(&self, state: &AppState, now: i64) -> Result<RoundReport, StoreError> {
        let watched = {
            let mut c = state.db.pool.acquire().await?;
            clusters::watched(&mut c).await?
        };
        let targets: Vec<(String, String)> = watched
            .iter()
            .filter_map(|k| Some((k.id.clone(), k.bootstrap.clone()?)))
            .flat_map(|(id, b)| {
                bootstrap_hosts(&b)
                    .into_iter()
                    .map(move |h| (id.clone(), h))
            })
            .collect();
        let (port, timeout) = (self.config.admin_port, self.config.scrape_timeout);
        let readings: Vec<_> = futures::stream::iter(targets)
            .map(|(cluster, host)| async move {
                let r = scrape::scrape(&self.client, &host, port, timeout).await;
                (cluster, host, r)
            })
            .buffer_unordered(PARALLEL_SCRAPES)
            .collect()
            .await;
        let mut report = RoundReport::default();
        let mut by_cluster: HashMap<String, Vec<(String, Timed)>> = HashMap::new();
        for (cluster, host, r) in readings {
            match r {
                Ok(reading) => {
                    report.brokers_read += 1;
                    by_cluster
                        .entry(cluster)
                        .or_default()
                        .push((host, Timed { at: now, reading }));
                }
                Err(e) => {
                    tracing::debug!(%cluster, %host, error = %e, "broker metrics unavailable");
                    report.failures.push(format!("{host}: {e}"));
                }
            }
        }
        report.clusters = by_cluster.len();
        let mut batches = Vec::new();
        {
            let mut previous = self
                .previous
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (cluster, mut brokers) in by_cluster {
                brokers.sort_by(|a, b| a.0.cmp(&b.0));
                let round: Vec<BrokerRound<'_>> = brokers
                    .iter()
                    .map(|(host, current)| BrokerRound {
                        broker: host,
                        previous: previous.get(&(cluster.clone(), host.clone())),
                        current,
                    })
                    .collect();
                let points = compute::cluster_points(&round);
                batches.push((cluster.clone(), points));
                for (host, current) in brokers {
                    previous.insert((cluster.clone(), host), current);
                }
            }
            // A broker that was not read this round starts over: its next reading has no rate.
            previous.retain(|_, t| t.at == now);
        }
        for (cluster, points) in batches {
            report.points += points.len();
            metric_points::record(&state.db.pool, &cluster, now, &points).await?;
        }
        report.maintenance =
            metric_points::maintain(&state.db.pool, self.config.retention, now).await?;
        Ok(report)
    }

    /// Samples every `interval` until the process ends; a failed round is logged and retried at
    /// the next tick.
    pub async fn run(self, state: AppState, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !state.metrics.lead_round(&state.leader, "sampling") {
                continue;
            }
            match self.sample_once(&state, store::now()).await {
                Ok(r) => tracing::debug!(
                    clusters = r.clusters,
                    brokers = r.brokers_read,
                    failures = r.failures.len(),
                    points = r.points,
                    "metrics sampled"
                ),
                Err(e) => tracing::warn!(error = %e, "metrics sampling failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bootstrap_hosts;

    #[test]
    fn bootstrap_lists_give_their_hosts_once() {
        assert_eq!(
            bootstrap_hosts("a:9092, b:9092,a:9093,,[::1]:9092,c"),
            vec!["a", "b", "::1", "c"]
        );
        assert!(bootstrap_hosts("").is_empty());
    }
}
