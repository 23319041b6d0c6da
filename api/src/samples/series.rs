//! The series the console plots: their names, units and label sets. The one list the sampler
//! writes and `GET /v1/clusters/{id}/metrics` accepts.

use std::collections::BTreeMap;

/// Labels of one series' point, in a stable order (stored as a JSON object).
pub type Labels = BTreeMap<String, String>;

/// A plotted series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Series {
    /// Record bytes produced per second: the cluster (no labels) and per `topic`.
    ProduceThroughput,
    /// Record bytes fetched per second: the cluster (no labels) and per `topic`.
    ConsumeThroughput,
    /// Records produced per second: the cluster (no labels) and per `topic`.
    MessagesIn,
    /// 99th percentile of request latency over the sampling interval, per `api`.
    RequestLatencyP99,
    /// Partitions served, per `broker`.
    Partitions,
    /// Bytes of partition logs, per `broker` and log `dir`.
    DiskUsed,
    /// Bytes free on the log directory's file system, per `broker` and `dir`.
    DiskFree,
    /// Partitions whose ISR is smaller than their replica set (the cluster).
    UnderReplicatedPartitions,
    /// Partitions whose ISR is below `min.insync.replicas` (the cluster): acks=all writes fail.
    UnderMinIsrPartitions,
    /// Partitions without a leader (the cluster).
    OfflinePartitions,
    /// Brokers that report being the active controller (the cluster): 1 is healthy, 0 means
    /// no controller, more than 1 a split.
    ActiveControllers,
    /// Messages not yet committed, per consumer `group` (summed over its partitions).
    ConsumerLag,
}

impl Series {
    /// Every series, in the order responses list them.
    pub const ALL: [Series; 12] = [
        Series::ProduceThroughput,
        Series::ConsumeThroughput,
        Series::MessagesIn,
        Series::RequestLatencyP99,
        Series::Partitions,
        Series::DiskUsed,
        Series::DiskFree,
        Series::UnderReplicatedPartitions,
        Series::UnderMinIsrPartitions,
        Series::OfflinePartitions,
        Series::ActiveControllers,
        Series::ConsumerLag,
    ];

    /// The name in URLs, responses and the database.
    pub fn name(self) -> &'static str {
        match self {
            Self::ProduceThroughput => "produce_throughput",
            Self::ConsumeThroughput => "consume_throughput",
            Self::MessagesIn => "messages_in",
            Self::RequestLatencyP99 => "request_latency_p99",
            Self::Partitions => "partitions",
            Self::DiskUsed => "disk_used",
            Self::DiskFree => "disk_free",
            Self::UnderReplicatedPartitions => "under_replicated_partitions",
            Self::UnderMinIsrPartitions => "under_min_isr_partitions",
            Self::OfflinePartitions => "offline_partitions",
            Self::ActiveControllers => "active_controllers",
            Self::ConsumerLag => "consumer_lag",
        }
    }

    /// The unit of its values.
    pub fn unit(self) -> &'static str {
        match self {
            Self::ProduceThroughput | Self::ConsumeThroughput => "bytes/s",
            Self::MessagesIn => "messages/s",
            Self::RequestLatencyP99 => "seconds",
            Self::Partitions
            | Self::UnderReplicatedPartitions
            | Self::UnderMinIsrPartitions
            | Self::OfflinePartitions => "partitions",
            Self::ActiveControllers => "brokers",
            Self::DiskUsed | Self::DiskFree => "bytes",
            Self::ConsumerLag => "messages",
        }
    }

    /// Parses a name; `None` for a series this build does not know.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// One value of one series at the sampling instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub series: Series,
    pub labels: Labels,
    pub value: f64,
}

/// Builds labels from pairs.
pub fn labels<const N: usize>(pairs: [(&str, &str); N]) -> Labels {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for s in Series::ALL {
            assert_eq!(Series::parse(s.name()), Some(s));
            assert!(!s.unit().is_empty());
        }
        let mut names: Vec<_> = Series::ALL.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Series::ALL.len());
        assert_eq!(Series::parse("bogus"), None);
    }
}
