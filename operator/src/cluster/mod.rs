//! KafkaCluster reconciler: fetch → validate → build → apply → status.
pub mod build;
pub mod validate;
