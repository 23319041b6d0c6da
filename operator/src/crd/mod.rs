//! The custom resources of group `eddy.io/v1alpha1`: the operator's and the API's shared contract.
//!
//! This module is compiled with every feature set (the API crate depends on `eddy-operator` with
//! `default-features = false` and gets only this module): keep it free of controller code and I/O.
//! Adding optional fields is compatible; renaming or removing fields is a new API version.

mod cluster;
mod condition;
mod rebalance;
mod topic;
mod upgrade;
mod user;

pub use cluster::{
    AdvertiseMode, AuthenticationType, AuthorizationSpec, AuthorizationType, BROKER_CONFIG_KEYS,
    BrokerListenerOverride, BrokerRestart, CaSpec, CertificatesStatus, ClaimGrowth, ClaimStatus,
    DEFAULT_BROKER_VERSION, KNOWN_VERSIONS, KafkaCluster, KafkaClusterSpec, KafkaClusterStatus,
    ListenerAddress, ListenerConfiguration, ListenerSpec, ListenerStatus, ListenerType, PlanLimits,
    QuorumStatus, RESERVED_CONFIG_KEYS, RackSpec, RebalanceSpec, RebalanceStatus, ResourceList,
    ResourcesSpec, RestartPhase, RollingRestartStatus, RollingRestartTrigger, ScaleDownPhase,
    ScaleDownStatus, SecurityProtocol, StorageSpec,
};
pub use condition::{
    Condition, ConditionStatus, brokers_serving, condition_type, find_condition, reason,
};
pub use rebalance::{
    BalanceSummary, KafkaRebalance, KafkaRebalanceSpec, KafkaRebalanceStatus, MinMax,
    PartitionMove, REBALANCE_ANNOTATION, RebalanceGoal, RebalanceMode, RebalancePhase,
    RebalanceProgress, RebalanceProposal, rebalance_reason,
};
pub use topic::{KafkaTopic, KafkaTopicSpec, KafkaTopicStatus};
pub use upgrade::{BrokerVersionStatus, UpgradePhase, UpgradeStatus, VERSION_LEVELS, max_level};
pub use user::{
    AclEffect, AclOperation, AclPatternType, AclResource, AclResourceType, AclRule, KafkaUser,
    KafkaUserSpec, KafkaUserStatus, SecretKeyRef, UserAuthentication, UserAuthenticationType,
    UserAuthorization, UserQuotas, user_reason,
};

use kube::CustomResourceExt;
use serde::Serialize;

/// API group of every Eddy custom resource.
pub const GROUP: &str = "eddy.io";
/// API version of the custom resources in this module.
pub const VERSION: &str = "v1alpha1";

/// Annotation that stops the operator from changing anything owned by the annotated resource
/// while set to `"true"`; status then carries `ReconciliationPaused=True`.
pub const PAUSE_ANNOTATION: &str = "eddy.io/pause-reconciliation";

/// Annotation requesting a rolling restart of a KafkaCluster's brokers: each new value (a token)
/// restarts every broker once.
pub const MANUAL_RESTART_ANNOTATION: &str = "eddy.io/manual-rolling-restart";

/// Annotation the operator sets to the manual restart token it finished rolling.
pub const MANUAL_RESTART_DONE_ANNOTATION: &str = "eddy.io/manual-rolling-restart-done";

/// One generated CustomResourceDefinition: the file name under `crds/` and its YAML text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrdManifest {
    /// File name, `<plural>.<group>.yaml`.
    pub file_name: String,
    /// The YAML document, with a header saying it is generated.
    pub yaml: String,
}

/// Errors of rendering the CRD manifests.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// serde_json could not serialise a generated CRD.
    #[error("rendering crd {name} as json: {source}")]
    RenderJson {
        /// CRD name.
        name: String,
        /// Underlying error.
        source: serde_json::Error,
    },
    /// serde_yaml could not serialise a generated CRD.
    #[error("rendering crd {name} as yaml: {source}")]
    RenderYaml {
        /// CRD name.
        name: String,
        /// Underlying error.
        source: serde_yaml::Error,
    },
}

/// Removes schema defaults Kubernetes 1.20 rejects: zero values (`''`, `false`, `0`, `[]`)
/// decode as null there ("in body must be of type string: null"). Serde applies the same
/// defaults when reading, so nothing is lost.
fn strip_zero_defaults(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let zero = map.get("default").is_some_and(|d| {
                d.as_str() == Some("")
                    || d.as_bool() == Some(false)
                    || d.as_i64() == Some(0)
                    || d.as_array().is_some_and(Vec::is_empty)
            });
            if zero {
                map.remove("default");
            }
            map.values_mut().for_each(strip_zero_defaults);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_zero_defaults),
        _ => {}
    }
}

fn render<T: Serialize>(name: &str, crd: &T) -> Result<CrdManifest, Error> {
    let mut value = serde_json::to_value(crd).map_err(|source| Error::RenderJson {
        name: name.to_string(),
        source,
    })?;
    strip_zero_defaults(&mut value);
    let body = serde_yaml::to_string(&value).map_err(|source| Error::RenderYaml {
        name: name.to_string(),
        source,
    })?;
    Ok(CrdManifest {
        file_name: format!("{name}.yaml"),
        yaml: format!(
            "# Generated by `cargo run -p eddy-operator --bin crdgen` from operator/src/crd/: do not edit.\n{body}"
        ),
    })
}

/// Renders every CRD of this module, in a stable order.
///
/// # Errors
/// Fails only if YAML serialisation fails, which would be a bug in the types.
pub fn manifests() -> Result<Vec<CrdManifest>, Error> {
    Ok(vec![
        render(KafkaCluster::crd_name(), &KafkaCluster::crd())?,
        render(KafkaTopic::crd_name(), &KafkaTopic::crd())?,
        render(KafkaUser::crd_name(), &KafkaUser::crd())?,
        render(KafkaRebalance::crd_name(), &KafkaRebalance::crd())?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_cluster_gets_documented_defaults() {
        let spec: KafkaClusterSpec = serde_json::from_str(r#"{"brokers": 1}"#).expect("parse");
        assert_eq!(spec.version, DEFAULT_BROKER_VERSION);
        assert_eq!(spec.storage, StorageSpec::default());
        assert!(!spec.storage.delete_claim);
        assert_eq!(spec.listeners, vec![ListenerSpec::default()]);
        assert_eq!(
            spec.broker_image(),
            format!("eddy/broker:{DEFAULT_BROKER_VERSION}")
        );
    }

    #[test]
    fn crd_schema_carries_structural_validation() {
        let crd = serde_json::to_value(KafkaCluster::crd()).expect("json");
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(spec["properties"]["brokers"]["minimum"], 1.0);
        assert_eq!(spec["required"][0], "brokers");
        let types = &spec["properties"]["listeners"]["items"]["properties"]["type"]["enum"];
        assert_eq!(types.as_array().map(Vec::len), Some(3));
        assert_eq!(
            crd["spec"]["versions"][0]["subresources"]["status"],
            serde_json::json!({})
        );
    }

    #[test]
    fn manifests_carry_no_zero_defaults_old_apiservers_reject() {
        for m in manifests().expect("manifests") {
            for bad in [
                "default: ''",
                "default: false",
                "default: 0\n",
                "default: []",
            ] {
                assert!(!m.yaml.contains(bad), "{} contains {bad}", m.file_name);
            }
            assert!(
                m.yaml.contains("default:")
                    || m.file_name.starts_with("kafkausers")
                    || m.file_name.starts_with("kafkarebalances")
            );
        }
    }

    #[test]
    fn topic_name_defaults_to_metadata_name() {
        let spec: KafkaTopicSpec = serde_json::from_str(r#"{"cluster": "c"}"#).expect("parse");
        // No replication factor: the reconciler uses min(3, brokers).
        assert_eq!((spec.partitions, spec.replicas), (1, None));
        let topic = KafkaTopic::new("orders", spec);
        assert_eq!(topic.kafka_name(), "orders");
    }
}
