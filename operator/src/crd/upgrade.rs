//! The version-upgrade part of `KafkaCluster`: which `eddy.version` feature level each broker
//! release supports, and the two-phase upgrade's status (roll the binaries with the finalized
//! level pinned, then finalize the new level).
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Broker releases this operator runs with the highest `eddy.version` level each supports,
/// oldest first (every release supports level 1). Must match the broker's `features::RELEASES`.
pub const VERSION_LEVELS: &[(&str, i16)] = &[("0.1.0", 1), ("0.2.0", 2)];

/// The highest `eddy.version` level release `version` supports, when the operator knows it.
#[must_use]
pub fn max_level(version: &str) -> Option<i16> {
    VERSION_LEVELS
        .iter()
        .find(|(v, _)| *v == version)
        .map(|(_, level)| *level)
}

/// Where a version upgrade (or rollback) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum UpgradePhase {
    /// Brokers restart one at a time onto `toVersion`; the finalized level stays, so going
    /// back to `fromVersion` is still an ordinary roll.
    Rolling,
    /// Every broker runs `toVersion` and the cluster is healthy: the operator finalizes the
    /// new `eddy.version` level (UpdateFeatures). From here on a downgrade is refused.
    Finalizing,
    /// Every broker runs `toVersion` at the wanted level.
    Done,
    /// `spec.version` went back to `fromVersion` before the new level was finalized, and every
    /// broker runs it again.
    RolledBack,
    /// The requested version or `metadataVersion` would lower the finalized level: nothing is
    /// applied and nothing rolls (`message` says why).
    Refused,
}

/// One broker's release as it reports it (admin `GET /v1/broker/state`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerVersionStatus {
    /// Broker id (pod ordinal).
    pub broker_id: i32,
    /// The release the broker reports, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The highest `eddy.version` level its binary supports, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_level: Option<i16>,
}

/// The cluster's version upgrade: kept in status so a restarted operator resumes it (every
/// field is also recomputable from the brokers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStatus {
    /// Where it stands.
    pub phase: UpgradePhase,
    /// The version the brokers ran before (equal to `toVersion` when nothing changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<String>,
    /// The version being rolled to (`spec.version`).
    pub to_version: String,
    /// The `eddy.version` level the cluster finalized, as the brokers report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalized_level: Option<i16>,
    /// The level the operator finalizes once every broker runs `toVersion`:
    /// `spec.metadataVersion`, else the highest `toVersion` supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_level: Option<i16>,
    /// Each broker's release.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub brokers: Vec<BrokerVersionStatus>,
    /// What the operator waits for, or why it refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
