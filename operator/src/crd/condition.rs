//! Status conditions shared by every Eddy resource: types, machine-readable reasons, lookup.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A Kubernetes-style condition (the same shape as `metav1.Condition`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, one of [`condition_type`].
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// Machine-readable CamelCase reason, one of [`reason`].
    pub reason: String,
    /// Human-readable detail. Omitted when empty: the local 1.20 apiserver turns an empty
    /// string in a status merge patch into null and then rejects it as "must be of type string".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When the status last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// The `metadata.generation` this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Tri-state status of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known yet.
    Unknown,
}

/// Condition types.
pub mod condition_type {
    /// The resource is serving as specified.
    pub const READY: &str = "Ready";
    /// The operator is changing owned objects towards the spec.
    pub const RECONCILING: &str = "Reconciling";
    /// A semantic problem the operator works around or refuses; see the reason.
    pub const WARNING: &str = "Warning";
    /// Reconciliation is paused by the `eddy.io/pause-reconciliation` annotation.
    pub const RECONCILIATION_PAUSED: &str = "ReconciliationPaused";
}

/// Machine-readable condition reasons. The API crate maps these to operation states.
pub mod reason {
    /// Every owned object matches the spec and every broker is ready.
    pub const READY: &str = "Ready";
    /// Owned objects are applied; brokers are starting.
    pub const BROKERS_STARTING: &str = "BrokersStarting";
    /// Every broker is ready but some partitions have no leader: the cluster is not Ready.
    pub const PARTITIONS_OFFLINE: &str = "PartitionsOffline";
    /// Owned objects are being applied.
    pub const APPLYING: &str = "Applying";
    /// Nothing left to change.
    pub const RECONCILED: &str = "Reconciled";
    /// The spec cannot be built into objects; see the message.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Applying owned objects failed; the operator retries.
    pub const APPLY_FAILED: &str = "ApplyFailed";
    /// The annotation pauses reconciliation.
    pub const PAUSED: &str = "Paused";
    /// No warnings.
    pub const NO_WARNINGS: &str = "NoWarnings";
    /// `spec.version` is not a broker version this operator knows.
    pub const UNKNOWN_VERSION: &str = "UnknownVersion";
    /// `spec.storage.size` is smaller than the size already provisioned.
    pub const STORAGE_SHRINK: &str = "StorageShrinkIgnored";
    /// `spec.storage.size` grew but a claim's StorageClass does not allow volume expansion.
    pub const STORAGE_GROWTH_NOT_SUPPORTED: &str = "StorageGrowthNotSupported";
    /// A CA's renewal window is not shorter than its validity (renews on every reconcile).
    pub const RENEWAL_WINDOW: &str = "RenewalWindowNotBelowValidity";
    /// Authorization is on but every listener lets clients in as `User:ANONYMOUS`.
    pub const NO_AUTHENTICATED_LISTENER: &str = "NoAuthenticatedListener";
    /// The controller quorum's voters are being changed after a resize (or cannot be yet).
    pub const QUORUM_RESIZING: &str = "QuorumResizing";
    /// A requested feature the broker does not support yet (TLS, SCRAM, ACLs, quotas...).
    pub const NOT_SUPPORTED: &str = "NotSupported";
    /// A `loadbalancer` listener's Service has no load balancer address yet.
    pub const WAITING_FOR_LOAD_BALANCER: &str = "WaitingForLoadBalancer";
    /// A topic replication factor exceeds the number of brokers.
    pub const REPLICATION_FACTOR_TOO_HIGH: &str = "ReplicationFactorAboveBrokerCount";
    /// `spec.version` supports only levels below the finalized `eddy.version`: refused.
    pub const DOWNGRADE_REFUSED: &str = "DowngradeRefused";
    /// `spec.metadataVersion` is below the finalized level or above what `spec.version`
    /// supports: refused.
    pub const METADATA_VERSION_REFUSED: &str = "MetadataVersionRefused";
    /// A partition decrease was requested; Kafka cannot remove partitions.
    pub const PARTITION_DECREASE: &str = "PartitionDecreaseRejected";
    /// The referenced KafkaCluster does not exist.
    pub const CLUSTER_NOT_FOUND: &str = "ClusterNotFound";
    /// The referenced KafkaCluster is not ready yet.
    pub const CLUSTER_NOT_READY: &str = "ClusterNotReady";
    /// The Kafka admin protocol call failed; see the message.
    pub const KAFKA_ERROR: &str = "KafkaError";
    /// The plan's partition limit would be exceeded.
    pub const PLAN_LIMIT_EXCEEDED: &str = "PlanLimitExceeded";
    /// Brokers are being restarted one at a time (Reconciling=True).
    pub const ROLLING_RESTART: &str = "RollingRestart";
    /// A broker's pre- or post-restart probe holds the rolling restart (Reconciling=True).
    pub const RESTART_BLOCKED: &str = "RollingRestartBlocked";
    /// Brokers are being drained, unregistered and removed (Reconciling=True).
    pub const SCALING_DOWN: &str = "ScalingDown";
    /// The drain before a scale-down cannot finish; every broker is kept (Reconciling=True).
    pub const SCALE_DOWN_BLOCKED: &str = "ScaleDownBlocked";
    /// A scale-down waits, nothing moved yet, for a KafkaRebalance of the cluster that is
    /// executing its moves (Reconciling=True).
    pub const REBALANCE_IN_PROGRESS: &str = "RebalanceInProgress";
}

/// Finds the condition of `type_` in `conditions`.
#[must_use]
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether a KafkaCluster's brokers all serve: Ready, or not Ready only because some partitions
/// are offline (topics and users can still be managed then — an offline RF=1 topic must not
/// block every other change).
#[must_use]
pub fn brokers_serving(conditions: &[Condition]) -> bool {
    find_condition(conditions, condition_type::READY).is_some_and(|c| {
        c.status == ConditionStatus::True || c.reason == reason::PARTITIONS_OFFLINE
    })
}
