//! `KafkaTopic`: a topic on a KafkaCluster, created and altered through the Kafka admin protocol.
use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Condition;

/// Desired state of one Kafka topic.
// Each `printcolumn(..)` repeats `type_ = ..`: clippy reads that as a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "eddy.io",
    version = "v1alpha1",
    kind = "KafkaTopic",
    namespaced,
    status = "KafkaTopicStatus",
    derive = "PartialEq",
    shortname = "kt",
    category = "eddy",
    doc = "A Kafka topic on a KafkaCluster in the same namespace.",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster"),
    printcolumn(name = "Topic", type_ = "string", json_path = ".status.topicName"),
    printcolumn(name = "Partitions", type_ = "integer", json_path = ".spec.partitions"),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".status.replicas"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaTopicSpec {
    /// Name of the KafkaCluster (same namespace) the topic lives on.
    #[schemars(length(min = 1, max = 63))]
    pub cluster: String,
    /// Kafka topic name; defaults to `metadata.name` (which cannot hold `_` or capitals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-zA-Z0-9._-]{1,249}$"))]
    pub topic_name: Option<String>,
    /// Number of partitions. Can grow, never shrink.
    #[serde(default = "one_i32")]
    #[schemars(range(min = 1, max = 10000))]
    pub partitions: i32,
    /// Replication factor; at most the cluster's broker count. Default: min(3, brokers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 32))]
    pub replicas: Option<i16>,
    /// Topic configuration (`retention.ms`, `cleanup.policy`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
}

fn one_i32() -> i32 {
    1
}

/// Observed state of a topic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaTopicStatus {
    /// Ready, Warning, ReconciliationPaused.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The topic's name on the brokers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,
    /// Partitions the topic has on the brokers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
    /// Kafka topic id (UUID), when the broker reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    /// Replication factor the operator creates the topic with (`spec.replicas`, else
    /// min(3, brokers) at the time); an existing topic keeps the factor it was created with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
}

impl KafkaTopic {
    /// The topic's name on the brokers: `spec.topicName` or else `metadata.name`.
    #[must_use]
    pub fn kafka_name(&self) -> String {
        self.spec
            .topic_name
            .clone()
            .or_else(|| self.metadata.name.clone())
            .unwrap_or_default()
    }
}
