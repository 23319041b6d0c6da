//! Apply step of the KafkaCluster reconcile (I/O): executes the plan. Server-side apply of every
//! desired object with one field manager, claim ownership (deleteClaim) and claim growth, and
//! the voter changes the plan orders around them.
use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt as _};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use tracing::{info, warn};

use super::build::external_services::Exposure;
use super::build::{self, BuildInput, DesiredObjects, PdbApi};
use super::certs::{self, CertInput, CertPlan, DesiredSecret};
use super::fetch::Observed;
use super::plan::{Plan, VoterStep};
use super::status::Outcome;
use super::validate::ValidatedCluster;
use super::{KIND, security, storage, voters};
use crate::context::{Context, FIELD_MANAGER};
use crate::crd::CertificatesStatus;

/// Errors of the apply step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Server-side apply of one object failed.
    #[error("applying {kind} {name}: {source}")]
    Apply {
        /// Kind of the object.
        kind: &'static str,
        /// Name of the object.
        name: String,
        /// Cause.
        source: kube::Error,
    },
    /// Patching a claim failed.
    #[error("patching claim {name}: {source}")]
    Claim {
        /// Claim name.
        name: String,
        /// Cause.
        source: kube::Error,
    },
}

fn params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

async fn apply_one<K>(api: &Api<K>, kind: &'static str, obj: &K) -> Result<(), Error>
where
    K: Resource + Serialize + DeserializeOwned + Clone + Debug,
{
    apply_returning(api, kind, obj).await.map(drop)
}

/// Applies `obj` and returns it as stored (with what the API server filled in).
async fn apply_returning<K>(api: &Api<K>, kind: &'static str, obj: &K) -> Result<K, Error>
where
    K: Resource + Serialize + DeserializeOwned + Clone + Debug,
{
    let name = obj.name_any();
    api.patch(&name, &params(), &Patch::Apply(obj))
        .await
        .map_err(|source| Error::Apply { kind, name, source })
}

/// Deletes the cluster's NodePort Services that are no longer desired (`stale`).
async fn prune_external_services(
    services: &Api<Service>,
    input: &BuildInput<'_>,
    desired: &[Service],
) -> Result<(), Error> {
    let selector = format!("{}={}", build::CLUSTER_LABEL, input.names.cluster);
    let existing = services
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| Error::Apply {
            kind: "Service",
            name: selector.clone(),
            source,
        })?;
    for name in build::external_services::stale(&existing.items, desired) {
        info!(
            service = name,
            "deleting a node port Service no longer needed"
        );
        match services.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(source) => {
                return Err(Error::Apply {
                    kind: "Service",
                    name: name.to_string(),
                    source,
                });
            }
        }
    }
    Ok(())
}

/// Applies every desired object, dependencies first (config before the StatefulSet).
///
/// # Errors
/// The first object that failed to apply.
pub async fn apply_all(
    client: &Client,
    input: &BuildInput<'_>,
    desired: &DesiredObjects,
    exposed: &BTreeMap<String, Exposure>,
    pdb_api: PdbApi,
) -> Result<(), Error> {
    let namespace = input.namespace.as_str();
    apply_one(
        &Api::<ServiceAccount>::namespaced(client.clone(), namespace),
        "ServiceAccount",
        &desired.service_account,
    )
    .await?;
    let services = Api::<Service>::namespaced(client.clone(), namespace);
    let mut config_map = desired.config_map.clone();
    config_map
        .data
        .get_or_insert_with(Default::default)
        .extend(build::external_services::advertised_entries(input, exposed));
    apply_one(
        &Api::<ConfigMap>::namespaced(client.clone(), namespace),
        "ConfigMap",
        &config_map,
    )
    .await?;
    apply_one(&services, "Service", &desired.headless_service).await?;
    apply_one(&services, "Service", &desired.bootstrap_service).await?;
    apply_one(
        &Api::<StatefulSet>::namespaced(client.clone(), namespace),
        "StatefulSet",
        &desired.stateful_set,
    )
    .await?;
    let ar = pdb_api.api_resource();
    let pdbs = Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &ar);
    apply_one(&pdbs, "PodDisruptionBudget", &desired.pod_disruption_budget).await
}

/// Applies the external listeners' Services (and deletes those no longer desired) before
/// anything else: what the API server and a load balancer controller assign to them goes into
/// the broker certificates and each broker's advertised file before a broker could start
/// without it.
///
/// # Errors
/// The first Service that failed to apply, or listing them.
pub async fn apply_external_services(
    client: &Client,
    input: &BuildInput<'_>,
    desired: &DesiredObjects,
) -> Result<BTreeMap<String, Exposure>, Error> {
    let services = Api::<Service>::namespaced(client.clone(), &input.namespace);
    let mut applied = Vec::with_capacity(desired.external_services.len());
    for svc in &desired.external_services {
        applied.push(apply_returning(&services, "Service", svc).await?);
    }
    prune_external_services(&services, input, &desired.external_services).await?;
    Ok(build::external_services::allocated(&applied))
}

/// Makes the claims owned by the KafkaCluster exactly when `delete_claim` (so the garbage
/// collector deletes them with it, without a finalizer), and grows claims below `size` whose
/// StorageClass allows it (`storage::to_grow`).
///
/// # Errors
/// The first claim patch that failed (after trying every other one).
pub async fn reconcile_claims(
    client: &Client,
    namespace: &str,
    claims: &[PersistentVolumeClaim],
    views: &[storage::ClaimView],
    owner: &OwnerReference,
    delete_claim: bool,
    size: &str,
) -> Result<(), Error> {
    let api = Api::<PersistentVolumeClaim>::namespaced(client.clone(), namespace);
    let grow: Vec<&str> = storage::to_grow(size, views)
        .into_iter()
        .map(|c| c.name.as_str())
        .collect();
    let mut first_error = None;
    for claim in claims {
        let name = claim.name_any();
        let mut owners: Vec<OwnerReference> = claim.owner_references().to_vec();
        let owned = owners.iter().any(|o| o.uid == owner.uid);
        let mut ownership = None;
        if delete_claim && !owned {
            let mut ours = owner.clone();
            ours.controller = Some(false);
            ours.block_owner_deletion = Some(false);
            owners.push(ours);
            ownership = Some(json!({ "metadata": { "ownerReferences": owners } }));
        } else if !delete_claim && owned {
            owners.retain(|o| o.uid != owner.uid);
            ownership = Some(json!({ "metadata": { "ownerReferences": owners } }));
        }
        let growth = grow
            .contains(&name.as_str())
            .then(|| json!({ "spec": { "resources": { "requests": { "storage": size } } } }));
        // Ownership and growth are separate patches, and one claim's failure does not stop the
        // others: a claim its storage class cannot grow (admission forbids it) must still be
        // deleted with its cluster instead of leaking.
        for patch in [ownership, growth].into_iter().flatten() {
            if let Err(source) = api
                .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
            {
                first_error.get_or_insert(Error::Claim {
                    name: name.clone(),
                    source,
                });
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// What the apply step did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Whether the objects were applied.
    pub outcome: Outcome,
    /// The voter change made, if the plan asked for one.
    pub voters: Option<voters::Sync>,
    /// The StatefulSet size held for a voter change, if any.
    pub held: Option<i32>,
    /// A secure cluster's CA expiry.
    pub certificates: Option<CertificatesStatus>,
    /// When a certificate of a secure cluster next needs the operator (renewal due).
    pub certificates_due: Option<std::time::Duration>,
    /// Broker certificates issued in this reconcile, `<pod>: why`.
    pub certificates_issued: Vec<String>,
    /// What the external listeners' Services were assigned (node ports, load balancer
    /// addresses), by Service name.
    pub exposed: BTreeMap<String, Exposure>,
}

impl Applied {
    fn failed(outcome: Outcome, held: Option<i32>) -> Self {
        Self {
            outcome,
            voters: None,
            held,
            certificates: None,
            certificates_due: None,
            certificates_issued: Vec::new(),
            exposed: BTreeMap::new(),
        }
    }
}

/// The Secret object of one planned Secret, owned by the cluster.
fn secret_object(input: &BuildInput<'_>, desired: &DesiredSecret) -> Secret {
    let mut metadata = input.meta(&desired.name);
    if !desired.annotations.is_empty() {
        metadata.annotations = Some(desired.annotations.clone());
    }
    Secret {
        metadata,
        type_: Some("Opaque".to_string()),
        data: Some(
            desired
                .data
                .iter()
                .map(|(k, v)| (k.clone(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    }
}

/// Plans and applies a secure cluster's Secrets (CAs and trust first, broker certificates
/// last), before the pods that mount them.
///
/// # Errors
/// The certificates step's error or the first Secret that failed to apply, as a message.
async fn apply_certificates(
    client: &Client,
    input: &BuildInput<'_>,
    observed: &Observed,
    exposed: &BTreeMap<String, Exposure>,
) -> Result<CertPlan, String> {
    let highest_pod = observed
        .pods
        .iter()
        .map(|p| p.ordinal + 1)
        .max()
        .unwrap_or(0);
    let brokers = input
        .spec
        .brokers
        .max(observed.replicas.unwrap_or(0))
        .max(input.replicas.unwrap_or(0))
        .max(highest_pod);
    let plan = certs::plan(&CertInput {
        spec: input.spec,
        names: &input.names,
        namespace: &input.namespace,
        pods: &observed.pods,
        brokers,
        existing: &observed.secrets,
        exposed,
        now: std::time::SystemTime::now(),
    })
    .map_err(|e| e.to_string())?;
    let api = Api::<Secret>::namespaced(client.clone(), &input.namespace);
    for desired in &plan.secrets {
        apply_one(&api, "Secret", &secret_object(input, desired))
            .await
            .map_err(|e| e.to_string())?;
    }
    if !plan.issued.is_empty() {
        info!(issued = ?plan.issued, "broker certificates issued");
    }
    Ok(plan)
}

/// Executes the plan: a voter change the shrink waits for, the desired objects (built from the
/// validated cluster, at the size `hold` keeps while brokers are drained), the claims, then a
/// voter change after a scale-up. Failures to apply are an outcome (reported in status and
/// retried), not an error.
pub async fn execute(
    ctx: &Context,
    cluster: Option<&ValidatedCluster<'_>>,
    plan: &Plan,
    observed: &Observed,
    hold: Option<i32>,
) -> Applied {
    let Some(cluster) = cluster else {
        return Applied::failed(Outcome::Invalid, None);
    };
    let mut voter_sync = match plan.voters {
        VoterStep::BeforeShrink { .. } => {
            Some(voters::sync(&observed.pods, &plan.desired_voters).await)
        }
        VoterStep::None | VoterStep::AfterApply => None,
    };
    let held = hold.or_else(|| plan.hold_replicas(voter_sync.as_ref()));
    // build
    let mut input = BuildInput::new(cluster, ctx.pdb_api);
    input.quorum_voters = i32::try_from(plan.initial_voters.len()).unwrap_or(1);
    input.replicas = held;
    let desired = build::build(&input);
    // external listeners' Services first: their addresses go into certificates and config
    let exposed = match apply_external_services(&ctx.client, &input, &desired).await {
        Ok(exposed) => exposed,
        Err(e) => {
            ctx.metrics.reconcile_failed(KIND, "apply");
            return Applied::failed(Outcome::ApplyFailed(e.to_string()), held);
        }
    };
    // certificates and credentials of a secure cluster, before the pods that mount them
    let certificates = if security::is_secure(cluster.spec) {
        match apply_certificates(&ctx.client, &input, observed, &exposed).await {
            Ok(plan) => Some(plan),
            Err(message) => {
                ctx.metrics.reconcile_failed(KIND, "certificates");
                return Applied::failed(Outcome::ApplyFailed(message), held);
            }
        }
    } else {
        None
    };
    // apply
    if let Err(e) = apply_all(&ctx.client, &input, &desired, &exposed, ctx.pdb_api).await {
        ctx.metrics.reconcile_failed(KIND, "apply");
        return Applied::failed(Outcome::ApplyFailed(e.to_string()), held);
    }
    if let Err(e) = reconcile_claims(
        &ctx.client,
        &cluster.namespace,
        &observed.claims,
        &observed.validate.claims,
        &cluster.owner,
        cluster.spec.storage.delete_claim,
        &cluster.effective_storage,
    )
    .await
    {
        warn!(error = %e, "claim ownership or resize failed; retrying next reconcile");
    }
    if plan.voters == VoterStep::AfterApply {
        voter_sync = Some(plan.settle(voters::sync(&observed.pods, &plan.desired_voters).await));
    }
    Applied {
        outcome: Outcome::Applied,
        voters: voter_sync,
        held,
        certificates_due: certificates.as_ref().and_then(|c| c.next_due),
        certificates_issued: certificates
            .as_ref()
            .map(|c| c.issued.clone())
            .unwrap_or_default(),
        certificates: certificates.map(|c| c.certificates),
        exposed,
    }
}
