//! Fetch step of the KafkaCluster reconcile (I/O): the StatefulSet's provisioned storage, size
//! and revision, the data volume claims, the broker pods, the KafkaCluster as stored now and,
//! for a secure cluster, its certificate and credential Secrets.
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt as _};
use tracing::debug;

use super::build::{Names, selector_labels};
use super::certs::SecretData;
use super::security;
use super::status::BrokerPod;
use super::storage::ClaimView;
use super::validate;
use crate::crd::KafkaCluster;

/// Observed state the validate and apply steps need.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Input of the validate step.
    pub validate: validate::Observed,
    /// The cluster's data volume claims.
    pub claims: Vec<PersistentVolumeClaim>,
    /// The StatefulSet's `status.updateRevision`: pods of another revision are due a restart.
    pub update_revision: Option<String>,
    /// The StatefulSet's `spec.replicas`, when it exists (the size before this reconcile).
    pub replicas: Option<i32>,
    /// The live broker pods.
    pub pods: Vec<BrokerPod>,
    /// Ordinals of broker pods being deleted (a scale-down is done only once they are gone).
    pub terminating: Vec<i32>,
    /// The KafkaCluster read now: the controller's cache can lag behind the previous
    /// reconcile's status write, and a stale restart step could restart a broker twice.
    pub latest: Option<KafkaCluster>,
    /// A secure cluster's Secrets by name: the ones the operator writes and user-supplied CAs.
    pub secrets: BTreeMap<String, SecretData>,
}

fn selector(names: &Names) -> String {
    selector_labels(&names.cluster)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads the StatefulSet, the claims, the broker pods and the cluster itself.
///
/// # Errors
/// API errors other than the StatefulSet not existing.
pub async fn observed(
    client: &Client,
    cluster: &KafkaCluster,
    names: &Names,
) -> Result<Observed, kube::Error> {
    let namespace = cluster.namespace().unwrap_or_default();
    let namespace = namespace.as_str();
    let sts = Api::<StatefulSet>::namespaced(client.clone(), namespace)
        .get_opt(&names.stateful_set)
        .await?;
    let update_revision = sts
        .as_ref()
        .and_then(|s| s.status.as_ref())
        .and_then(|s| s.update_revision.clone());
    let replicas = sts.as_ref().and_then(|s| s.spec.replicas);
    let provisioned_storage = sts.and_then(|s| {
        s.spec
            .volume_claim_templates?
            .into_iter()
            .find(|c| c.metadata.name.as_deref() == Some("data"))?
            .spec?
            .resources?
            .requests?
            .get("storage")
            .map(|q| q.0.clone())
    });
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&selector(names)))
        .await?
        .items;
    let classes = expandable_classes(client, &claims).await;
    let claim_views = claims
        .iter()
        .map(|c| {
            let class = c.spec.as_ref().and_then(|s| s.storage_class_name.as_ref());
            ClaimView::of(c, class.and_then(|n| classes.get(n).copied().flatten()))
        })
        .collect();
    let (pods, terminating) = broker_pods_and_terminating(client, namespace, names).await?;
    let latest = Api::<KafkaCluster>::namespaced(client.clone(), namespace)
        .get(&cluster.name_any())
        .await?;
    let secrets = if security::is_secure(&cluster.spec) {
        secrets(client, namespace, cluster, names).await?
    } else {
        BTreeMap::new()
    };
    Ok(Observed {
        validate: validate::Observed {
            provisioned_storage,
            claims: claim_views,
        },
        claims,
        update_revision,
        replicas,
        pods,
        terminating,
        latest: Some(latest),
        secrets,
    })
}

/// Whether each StorageClass the claims name allows volume expansion; `None` where the class
/// cannot be read (the operator then patches and the API server decides).
async fn expandable_classes(
    client: &Client,
    claims: &[PersistentVolumeClaim],
) -> BTreeMap<String, Option<bool>> {
    let api = Api::<StorageClass>::all(client.clone());
    let mut out = BTreeMap::new();
    for claim in claims {
        let Some(name) = claim
            .spec
            .as_ref()
            .and_then(|s| s.storage_class_name.clone())
        else {
            continue;
        };
        if out.contains_key(&name) {
            continue;
        }
        let expandable = match api.get_opt(&name).await {
            Ok(Some(class)) => Some(class.allow_volume_expansion == Some(true)),
            Ok(None) => None,
            Err(e) => {
                debug!(class = %name, error = %e, "storage class not readable");
                None
            }
        };
        out.insert(name, expandable);
    }
    out
}

/// Reads the Secrets of a secure cluster that exist: those the operator writes and the CA
/// Secrets the spec names.
///
/// # Errors
/// API errors other than a Secret not existing.
pub async fn secrets(
    client: &Client,
    namespace: &str,
    cluster: &KafkaCluster,
    names: &Names,
) -> Result<BTreeMap<String, SecretData>, kube::Error> {
    let api = Api::<Secret>::namespaced(client.clone(), namespace);
    let user_cas = [&cluster.spec.cluster_ca, &cluster.spec.clients_ca]
        .into_iter()
        .filter_map(|ca| ca.as_ref()?.secret_name.clone());
    let wanted: Vec<String> = names
        .operator_secrets()
        .iter()
        .map(|n| (*n).to_string())
        .chain(user_cas)
        .collect();
    let mut out = BTreeMap::new();
    for name in wanted {
        if out.contains_key(&name) {
            continue;
        }
        if let Some(secret) = api.get_opt(&name).await? {
            let data = secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                .collect();
            let annotations = secret.metadata.annotations.unwrap_or_default();
            out.insert(name, SecretData { data, annotations });
        }
    }
    Ok(out)
}

/// Reads the broker pods.
///
/// # Errors
/// API errors.
pub async fn broker_pods(
    client: &Client,
    namespace: &str,
    names: &Names,
) -> Result<Vec<BrokerPod>, kube::Error> {
    Ok(broker_pods_and_terminating(client, namespace, names)
        .await?
        .0)
}

/// The live broker pods, and the ordinals of broker pods being deleted (still terminating).
///
/// # Errors
/// API errors.
pub async fn broker_pods_and_terminating(
    client: &Client,
    namespace: &str,
    names: &Names,
) -> Result<(Vec<BrokerPod>, Vec<i32>), kube::Error> {
    let pods = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&selector(names)))
        .await?;
    let terminating = pods
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some())
        .filter_map(|p| names.ordinal_of(&p.name_any()))
        .collect();
    let live = pods
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| {
            let ordinal = names.ordinal_of(&p.name_any())?;
            let status = p.status.as_ref();
            let ready = status
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            Some(BrokerPod {
                ordinal,
                ip: status.and_then(|s| s.pod_ip.clone()),
                host_ip: status.and_then(|s| s.host_ip.clone()),
                ready,
                image: p
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.clone()),
                uid: p.metadata.uid.clone().unwrap_or_default(),
                revision: p.labels().get("controller-revision-hash").cloned(),
            })
        })
        .collect();
    Ok((live, terminating))
}
