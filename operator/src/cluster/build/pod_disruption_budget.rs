//! PodDisruptionBudget builder: at most one broker voluntarily evicted at a time. Built as a
//! dynamic object because the API version depends on the server (policy/v1 from Kubernetes 1.21,
//! policy/v1beta1 before; chosen by discovery).
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

use super::{BuildInput, labels::selector_labels};

/// The PodDisruptionBudget API version the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdbApi {
    /// policy/v1 (Kubernetes ≥ 1.21).
    V1,
    /// policy/v1beta1 (Kubernetes ≤ 1.24).
    V1beta1,
}

impl PdbApi {
    /// The API resource for `Api::<DynamicObject>`.
    #[must_use]
    pub fn api_resource(self) -> ApiResource {
        let version = match self {
            Self::V1 => "v1",
            Self::V1beta1 => "v1beta1",
        };
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("policy", version, "PodDisruptionBudget"),
            "poddisruptionbudgets",
        )
    }
}

/// Builds the PodDisruptionBudget.
#[must_use]
pub fn build(input: &BuildInput<'_>) -> DynamicObject {
    let ar = input.pdb_api.api_resource();
    let mut pdb = DynamicObject::new(&input.names.pod_disruption_budget, &ar).data(json!({
        "spec": {
            "maxUnavailable": 1,
            "selector": { "matchLabels": selector_labels(&input.names.cluster) },
        }
    }));
    pdb.metadata = input.meta(&input.names.pod_disruption_budget);
    pdb
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::ClusterFixture;
    use super::*;

    #[test]
    fn api_version_follows_discovery() {
        let fx = ClusterFixture::new("c", 3);
        for (api, version) in [
            (PdbApi::V1, "policy/v1"),
            (PdbApi::V1beta1, "policy/v1beta1"),
        ] {
            let pdb = build(&fx.input(api));
            let v = serde_json::to_value(&pdb).expect("json");
            assert_eq!(v["apiVersion"], version);
            assert_eq!(v["kind"], "PodDisruptionBudget");
            assert_eq!(v["spec"]["maxUnavailable"], 1);
            assert_eq!(v["spec"]["selector"]["matchLabels"]["eddy.io/cluster"], "c");
        }
    }
}
