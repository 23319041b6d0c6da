//! `KafkaRebalance`: an on-demand partition rebalance of a KafkaCluster (Strimzi's model): the
//! operator proposes moves for the chosen goals, a user approves them with the
//! `eddy.io/rebalance: approve` annotation, and the operator executes them through throttled
//! reassignments. The proposal lives in the status so an operator restart resumes it.
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Condition;

/// Annotation driving a KafkaRebalance: `approve`, `stop` or `refresh`. The operator removes it
/// once it has acted.
pub const REBALANCE_ANNOTATION: &str = "eddy.io/rebalance";

/// Desired rebalance of one KafkaCluster.
// Each `printcolumn(..)` repeats `type_ = ..`: clippy reads that as a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "eddy.io",
    version = "v1alpha1",
    kind = "KafkaRebalance",
    namespaced,
    status = "KafkaRebalanceStatus",
    derive = "PartialEq",
    shortname = "kr",
    category = "eddy",
    doc = "A partition rebalance of a KafkaCluster in the same namespace: proposal, approval (annotation eddy.io/rebalance=approve), throttled execution.",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster"),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Moves",
        type_ = "integer",
        json_path = ".status.proposal.replicaMoves"
    ),
    printcolumn(
        name = "Remaining",
        type_ = "integer",
        json_path = ".status.progress.partitionsRemaining"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaRebalanceSpec {
    /// Name of the KafkaCluster (same namespace) to rebalance.
    #[schemars(length(min = 1, max = 63))]
    pub cluster: String,
    /// `full` balances over every broker; `add-brokers` moves replicas only onto
    /// `spec.brokers`; `remove-brokers` empties `spec.brokers` onto the others.
    #[serde(default)]
    pub mode: RebalanceMode,
    /// The brokers added or removed (the two broker modes only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub brokers: Vec<i32>,
    /// The goals, highest priority first; a move is made only if it improves a goal without
    /// making a higher one worse. Empty: every goal in the default order (rackSpread,
    /// replicaCount, diskBytes, topicReplicaSpread, leaderCount).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub goals: Vec<RebalanceGoal>,
    /// Replication throttle while partitions move (bytes/s per broker); default the cluster's
    /// `spec.rebalance.throttleBytesPerSecond` (50 MiB/s); 0 turns it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub throttle_bytes_per_second: Option<i64>,
}

/// Which brokers a rebalance may move replicas onto or off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RebalanceMode {
    /// Balance over every broker.
    #[default]
    Full,
    /// Move replicas only onto the listed (new) brokers.
    AddBrokers,
    /// Move every replica off the listed brokers, then balance over the others.
    RemoveBrokers,
}

/// One balance goal.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum RebalanceGoal {
    /// Replicas per broker within one of each other.
    ReplicaCount,
    /// Preferred leaders per broker within one of each other.
    LeaderCount,
    /// Bytes on disk per broker as even as the partitions' sizes allow.
    DiskBytes,
    /// A partition's replicas in distinct racks where there are enough racks.
    RackSpread,
    /// Each topic's replicas spread evenly over the brokers.
    TopicReplicaSpread,
}

impl RebalanceGoal {
    /// The default goals, in priority order.
    pub const DEFAULT: [Self; 5] = [
        Self::RackSpread,
        Self::ReplicaCount,
        Self::DiskBytes,
        Self::TopicReplicaSpread,
        Self::LeaderCount,
    ];
}

/// Where a rebalance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RebalancePhase {
    /// The proposal is being computed (or waits for the cluster to be ready and idle).
    PendingProposal,
    /// A proposal is in the status; annotate `eddy.io/rebalance=approve` to execute it.
    ProposalReady,
    /// The approved moves are running.
    Rebalancing,
    /// Stopped by `eddy.io/rebalance=stop`: reassignments in flight were cancelled.
    Stopped,
    /// Every approved move is done.
    Ready,
    /// The rebalance cannot be planned; see the Ready condition.
    NotReady,
}

/// Observed state of a rebalance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaRebalanceStatus {
    /// Ready (True once executed) and Warning (a refused edit or annotation).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` last reconciled.
    #[serde(default)]
    pub observed_generation: Option<i64>,
    /// Where the rebalance stands.
    #[serde(default)]
    pub phase: Option<RebalancePhase>,
    /// The proposal (kept while and after it runs, so a restart resumes it).
    #[serde(default)]
    pub proposal: Option<RebalanceProposal>,
    /// Progress of the execution.
    #[serde(default)]
    pub progress: Option<RebalanceProgress>,
    /// Topics whose replication the moves throttle (removed when they end).
    #[serde(default)]
    pub throttled_topics: Vec<String>,
}

/// The moves the operator proposes and what they achieve.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebalanceProposal {
    /// The `metadata.generation` the proposal was made for.
    #[serde(default)]
    pub generation: Option<i64>,
    /// Partitions whose replicas change (a new broker receives a copy).
    pub replica_moves: i32,
    /// Partitions whose preferred leader changes without moving data.
    pub leader_moves: i32,
    /// Bytes copied to brokers that do not hold the partitions yet.
    pub bytes_to_move: i64,
    /// Time the copy takes at the throttle (the busiest receiving broker); none when
    /// unthrottled.
    #[serde(default)]
    pub estimated_seconds: Option<i64>,
    /// The throttle the moves run at (bytes/s per broker; none: unthrottled).
    #[serde(default)]
    pub throttle_bytes_per_second: Option<i64>,
    /// Balance now.
    pub before: BalanceSummary,
    /// Balance once the moves are done.
    pub after: BalanceSummary,
    /// Every move: the partition and its replicas before and after.
    #[serde(default)]
    pub moves: Vec<PartitionMove>,
}

/// Per-goal balance numbers of a layout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BalanceSummary {
    /// Fewest and most replicas on one broker.
    pub replicas_per_broker: MinMax,
    /// Fewest and most preferred leaders on one broker.
    pub leaders_per_broker: MinMax,
    /// Fewest and most bytes on one broker.
    pub disk_bytes_per_broker: MinMax,
    /// Partitions with two replicas in one rack although enough racks exist.
    pub partitions_sharing_a_rack: i32,
    /// Sum over topics of (most − fewest replicas of the topic on one broker).
    pub topic_replica_spread: i32,
    /// Replicas on brokers being removed (remove-brokers).
    pub replicas_on_removed_brokers: i32,
}

/// A smallest and a largest value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MinMax {
    /// Smallest.
    pub min: i64,
    /// Largest.
    pub max: i64,
}

/// One partition's reassignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartitionMove {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Replicas before, preferred leader first.
    pub from: Vec<i32>,
    /// Replicas after, preferred leader first.
    pub to: Vec<i32>,
}

/// How far the execution is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebalanceProgress {
    /// Moves not finished yet (in flight included).
    pub partitions_remaining: i32,
    /// Reassignments running now.
    pub in_flight: i32,
    /// Batches (of at most the in-flight limit) finished.
    pub batches_done: i32,
    /// Batches in all.
    pub batches_total: i32,
    /// When the execution was approved (RFC 3339).
    #[serde(default)]
    pub started_at: Option<String>,
}

/// Condition reasons of KafkaRebalance.
pub mod rebalance_reason {
    /// The proposal waits for the cluster to be ready and idle (no scale, roll or balance).
    pub const WAITING: &str = "Waiting";
    /// A proposal is ready for approval.
    pub const PROPOSAL_READY: &str = "ProposalReady";
    /// The approved moves are running.
    pub const REBALANCING: &str = "Rebalancing";
    /// Stopped by the annotation.
    pub const STOPPED: &str = "Stopped";
    /// The spec cannot be planned (unknown broker, too few brokers left, ...).
    pub const INVALID_REBALANCE: &str = "InvalidRebalance";
    /// The spec changed while the moves run: refused, the approved proposal continues.
    pub const SPEC_CHANGE_REFUSED: &str = "SpecChangeRefusedWhileRebalancing";
    /// `approve` on a rebalance that is already running or done.
    pub const ALREADY_APPROVED: &str = "AlreadyApproved";
    /// An annotation value the operator does not know.
    pub const UNKNOWN_ANNOTATION: &str = "UnknownAnnotation";
    /// The brokers could not be reached (retried).
    pub const BROKER_ERROR: &str = "BrokerError";
}
