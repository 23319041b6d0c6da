//! Build step of the KafkaCluster reconcile (pure): the desired Kubernetes objects, one builder
//! file per kind. Builders take a [`BuildInput`] and never do I/O.
mod bootstrap_service;
mod config_map;
pub mod external_services;
mod headless_service;
mod labels;
mod pod_disruption_budget;
pub mod quorum;
mod service_account;
mod stateful_set;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::DynamicObject;

pub use config_map::{CONFIG_FILE, server_properties};
pub use labels::{CLUSTER_LABEL, Names, selector_labels};
pub use pod_disruption_budget::PdbApi;
pub use stateful_set::{CONFIG_HASH_ANNOTATION, CONFIG_MOUNT, DATA_MOUNT};

use crate::cluster::validate::ValidatedCluster;
use crate::crd::KafkaClusterSpec;

/// Everything a builder may read.
#[derive(Debug, Clone)]
pub struct BuildInput<'a> {
    /// The validated spec being built.
    pub spec: &'a KafkaClusterSpec,
    /// Its namespace.
    pub namespace: String,
    /// Object names derived from the cluster name.
    pub names: Names,
    /// Controller owner reference to put on every object.
    pub owner: OwnerReference,
    /// Storage size for the claim template (validated: never a shrink).
    pub storage_size: String,
    /// Which PodDisruptionBudget API the server offers.
    pub pdb_api: PdbApi,
    /// How many brokers (ids `0..n`) the pod template names as controller quorum voters: the
    /// first min(N, 3) of the size the cluster was created with (`status.quorum.initialVoters`),
    /// so a resize leaves the template, and the running brokers, alone.
    pub quorum_voters: i32,
    /// The StatefulSet size, when the plan holds it (voters must move off the brokers a
    /// scale-down removes first); `spec.brokers` otherwise.
    pub replicas: Option<i32>,
}

impl<'a> BuildInput<'a> {
    /// Gathers the input from a validated cluster.
    #[must_use]
    pub fn new(cluster: &ValidatedCluster<'a>, pdb_api: PdbApi) -> Self {
        Self {
            spec: cluster.spec,
            namespace: cluster.namespace.clone(),
            names: Names::new(&cluster.name),
            owner: cluster.owner.clone(),
            storage_size: cluster.template_storage.clone(),
            pdb_api,
            quorum_voters: quorum::initial_voter_count(cluster.spec.brokers),
            replicas: None,
        }
    }

    /// Metadata of an owned object named `name` with the cluster's labels.
    #[must_use]
    pub fn meta(&self, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(self.namespace.clone()),
            labels: Some(self.labels()),
            owner_references: Some(vec![self.owner.clone()]),
            ..ObjectMeta::default()
        }
    }

    /// Labels of every owned object.
    #[must_use]
    pub fn labels(&self) -> BTreeMap<String, String> {
        labels::labels(&self.names.cluster, &self.spec.version)
    }
}

/// The desired objects of one KafkaCluster, in apply order.
#[derive(Debug, Clone)]
pub struct DesiredObjects {
    /// Identity of the broker pods (no API token mounted).
    pub service_account: ServiceAccount,
    /// server.properties for the brokers.
    pub config_map: ConfigMap,
    /// Governing headless Service: stable per-pod DNS names.
    pub headless_service: Service,
    /// ClusterIP Service over every broker for bootstrapping clients.
    pub bootstrap_service: Service,
    /// NodePort Services of `nodeport` listeners (bootstrap and one per broker); applied
    /// before the ConfigMap, which carries the node ports they were given.
    pub external_services: Vec<Service>,
    /// The brokers.
    pub stateful_set: StatefulSet,
    /// At most one broker voluntarily disrupted at a time (policy/v1 or v1beta1).
    pub pod_disruption_budget: DynamicObject,
}

/// Builds every desired object.
#[must_use]
pub fn build(input: &BuildInput<'_>) -> DesiredObjects {
    let config_map = config_map::build(input);
    let properties = config_map
        .data
        .as_ref()
        .and_then(|d| d.get(CONFIG_FILE))
        .cloned()
        .unwrap_or_default();
    DesiredObjects {
        service_account: service_account::build(input),
        headless_service: headless_service::build(input),
        bootstrap_service: bootstrap_service::build(input),
        external_services: external_services::build(input),
        stateful_set: stateful_set::build(input, &properties),
        pod_disruption_budget: pod_disruption_budget::build(input),
        config_map,
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Test builders for KafkaCluster resources.
    use super::*;

    use crate::cluster::validate::{Observed, ValidatedCluster, Validation};
    use crate::crd::KafkaCluster;

    /// A KafkaCluster as read from the API server, with chainable tweaks.
    pub struct ClusterFixture(pub KafkaCluster);

    impl ClusterFixture {
        pub fn new(name: &str, brokers: i32) -> Self {
            let spec: KafkaClusterSpec =
                serde_json::from_value(serde_json::json!({ "brokers": brokers })).expect("spec");
            let mut c = KafkaCluster::new(name, spec);
            c.metadata.namespace = Some("kafka".into());
            c.metadata.uid = Some("0b7e8d5c-uid".into());
            c.metadata.generation = Some(1);
            Self(c)
        }

        pub fn with(mut self, f: impl FnOnce(&mut KafkaClusterSpec)) -> Self {
            f(&mut self.0.spec);
            self
        }

        /// The cluster as the validate step passes it on (storage as in the spec).
        pub fn validated(&self) -> ValidatedCluster<'_> {
            let validation = Validation {
                findings: Vec::new(),
                effective_storage: self.0.spec.storage.size.clone(),
            };
            ValidatedCluster::new(&self.0, &validation, &Observed::default())
                .expect("metadata")
                .expect("valid")
        }

        pub fn input(&self, pdb_api: PdbApi) -> BuildInput<'_> {
            BuildInput::new(&self.validated(), pdb_api)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::ClusterFixture;
    use super::*;

    #[test]
    fn every_object_is_owned_by_the_cluster_and_labelled() {
        let fx = ClusterFixture::new("orders", 3);
        let d = build(&fx.input(PdbApi::V1));
        let metas = [
            &d.service_account.metadata,
            &d.config_map.metadata,
            &d.headless_service.metadata,
            &d.bootstrap_service.metadata,
            &d.stateful_set.metadata,
            &d.pod_disruption_budget.metadata,
        ];
        for m in metas {
            let owners = m.owner_references.as_ref().expect("owner refs");
            assert_eq!(owners.len(), 1);
            assert_eq!(owners[0].kind, "KafkaCluster");
            assert_eq!(owners[0].controller, Some(true));
            assert_eq!(m.namespace.as_deref(), Some("kafka"));
            let labels = m.labels.as_ref().expect("labels");
            assert_eq!(
                labels.get("eddy.io/cluster").map(String::as_str),
                Some("orders")
            );
        }
    }

    #[test]
    fn missing_uid_is_an_error() {
        let mut fx = ClusterFixture::new("orders", 1);
        fx.0.metadata.uid = None;
        let validation = crate::cluster::validate::Validation::default();
        let err = crate::cluster::validate::ValidatedCluster::new(
            &fx.0,
            &validation,
            &crate::cluster::validate::Observed::default(),
        )
        .expect_err("no uid");
        assert!(err.to_string().contains("uid"));
    }
}
