//! Workload files: what one benchmark run drives (topics, sizes, rates, client settings), parsed
//! from YAML and validated before anything starts. Pure: no I/O besides the caller's string.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Errors of reading a workload.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("parsing workload yaml: {0}")]
    Parse(#[from] serde_yaml::Error),
    #[error("validating workload: {0}")]
    Invalid(String),
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, WorkloadError>;

/// The smallest payload: it carries the intended send time (8 bytes) and the producer's sequence
/// number (8 bytes), from which end-to-end latency is computed on the consumer side.
pub const MIN_MESSAGE_SIZE: usize = 16;

/// One benchmark workload, in the spirit of the OpenMessaging Benchmark's workload files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Short name, used in the results folder name.
    pub name: String,
    /// Number of topics.
    #[serde(default = "one")]
    pub topics: u32,
    /// Partitions of each topic.
    pub partitions_per_topic: u32,
    /// Payload size in bytes (at least 16).
    pub message_size: usize,
    /// Whether records carry a key (drawn from `key_space` distinct keys).
    #[serde(default)]
    pub keyed: bool,
    /// Distinct keys when `keyed`.
    #[serde(default = "default_key_space")]
    pub key_space: u32,
    /// Producers per topic.
    #[serde(default = "one")]
    pub producers_per_topic: u32,
    /// Consumers per topic; each is assigned a share of the topic's partitions.
    #[serde(default = "one")]
    pub consumers_per_topic: u32,
    /// Target publish rate in messages per second over all producers; 0 = as fast as possible.
    pub rate: u64,
    /// Seconds of load before measuring.
    #[serde(default)]
    pub warmup_s: u64,
    /// Seconds measured after the warm-up.
    pub duration_s: u64,
    /// Producer acks: "all", "1" or "0".
    #[serde(default = "default_acks")]
    pub acks: String,
    /// Producer compression: none, gzip, snappy, lz4, zstd.
    #[serde(default = "default_compression")]
    pub compression: String,
    /// Producer batch size in bytes.
    #[serde(default = "default_batch_size")]
    pub batch_size: u64,
    /// Producer linger in milliseconds.
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
    /// Extra broker settings (`key: value`) for a broker the bench starts itself (ignored with
    /// `--bootstrap`), e.g. retention for the long-run workload.
    #[serde(default)]
    pub broker_config: BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}
fn default_key_space() -> u32 {
    1000
}
fn default_acks() -> String {
    "all".into()
}
fn default_compression() -> String {
    "none".into()
}
fn default_batch_size() -> u64 {
    131_072
}
fn default_linger_ms() -> u64 {
    1
}

impl Workload {
    /// Parses and validates a workload file's text.
    pub fn from_yaml(text: &str) -> Result<Self> {
        let w: Workload = serde_yaml::from_str(text)?;
        w.validate()?;
        Ok(w)
    }

    /// Checks the values a run cannot work with.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(WorkloadError::Invalid(m.to_string()));
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return bad("name must be non-empty and use only [A-Za-z0-9._-]");
        }
        if self.topics == 0 || self.partitions_per_topic == 0 {
            return bad("topics and partitions_per_topic must be at least 1");
        }
        if self.producers_per_topic == 0 || self.consumers_per_topic == 0 {
            return bad("producers_per_topic and consumers_per_topic must be at least 1");
        }
        if self.message_size < MIN_MESSAGE_SIZE {
            return bad("message_size must be at least 16 bytes (the latency header)");
        }
        if self.duration_s == 0 {
            return bad("duration_s must be at least 1");
        }
        if self.keyed && self.key_space == 0 {
            return bad("key_space must be at least 1 when keyed");
        }
        if !["all", "-1", "1", "0"].contains(&self.acks.as_str()) {
            return bad("acks must be all, 1 or 0");
        }
        if !["none", "gzip", "snappy", "lz4", "zstd"].contains(&self.compression.as_str()) {
            return bad("compression must be none, gzip, snappy, lz4 or zstd");
        }
        Ok(())
    }

    /// Total producers over all topics.
    pub fn total_producers(&self) -> u64 {
        u64::from(self.topics) * u64::from(self.producers_per_topic)
    }

    /// Target rate of one producer (messages/s); 0 = as fast as possible.
    pub fn rate_per_producer(&self) -> f64 {
        if self.rate == 0 {
            0.0
        } else {
            self.rate as f64 / self.total_producers() as f64
        }
    }

    /// The partitions (of `partitions_per_topic`) that consumer `index` of a topic reads:
    /// round-robin, so every partition has exactly one reader.
    pub fn consumer_partitions(&self, index: u32) -> Vec<i32> {
        (0..self.partitions_per_topic)
            .filter(|p| p % self.consumers_per_topic == index)
            .filter_map(|p| i32::try_from(p).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "name: t\npartitions_per_topic: 4\nmessage_size: 100\nrate: 10\nduration_s: 2\n";

    #[test]
    fn minimal_workload_gets_defaults() {
        let w = Workload::from_yaml(MINIMAL).unwrap();
        assert_eq!(w.topics, 1);
        assert_eq!(w.acks, "all");
        assert_eq!(w.compression, "none");
        assert_eq!(w.producers_per_topic, 1);
        assert!(!w.keyed);
        assert!(w.broker_config.is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        assert!(matches!(
            Workload::from_yaml(&format!("{MINIMAL}colour: red\n")),
            Err(WorkloadError::Parse(_))
        ));
        let small = MINIMAL.replace("message_size: 100", "message_size: 8");
        assert!(matches!(
            Workload::from_yaml(&small),
            Err(WorkloadError::Invalid(_))
        ));
        let acks = format!("{MINIMAL}acks: two\n");
        assert!(matches!(
            Workload::from_yaml(&acks),
            Err(WorkloadError::Invalid(_))
        ));
        let name = MINIMAL.replace("name: t", "name: a/b");
        assert!(matches!(
            Workload::from_yaml(&name),
            Err(WorkloadError::Invalid(_))
        ));
    }

    #[test]
    fn rate_is_split_over_producers() {
        let mut w = Workload::from_yaml(MINIMAL).unwrap();
        w.topics = 2;
        w.producers_per_topic = 5;
        w.rate = 1000;
        assert!((w.rate_per_producer() - 100.0).abs() < 1e-9);
        w.rate = 0;
        assert!(w.rate_per_producer().abs() < f64::EPSILON);
    }

    #[test]
    fn every_partition_has_exactly_one_consumer() {
        let mut w = Workload::from_yaml(MINIMAL).unwrap();
        w.partitions_per_topic = 10;
        w.consumers_per_topic = 3;
        let mut all: Vec<i32> = (0..3).flat_map(|i| w.consumer_partitions(i)).collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn shipped_workloads_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            Workload::from_yaml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
        assert!(n >= 5, "the five standard workloads ship");
    }
}
