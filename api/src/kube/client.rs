//! The Kubernetes backend: writes KafkaCluster, KafkaTopic and KafkaUser resources (and Kafka
//! users' password Secrets) with server-side apply (field manager `eddy-api`), reads their status
//! and the cluster CA Secret, and watches KafkaClusters to wake the operation sync at once.

use super::{
    BackendError, ClusterBackend, ClusterConnection, DesiredCluster, DesiredTopic, DesiredUser,
    Result, UserCertificate, UserObservation,
};
use crate::domain::acls;
use crate::domain::connection::{ListenerInfo, sasl_mechanisms, security_protocol};
use crate::domain::operations::{Observation, ScaleDownObservation, UpgradeObservation};
use eddy_operator::crd::{
    Condition, ConditionStatus, KafkaCluster, KafkaClusterStatus, KafkaTopic, KafkaTopicSpec,
    KafkaUser, ScaleDownPhase, condition_type, find_condition, reason,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Config};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

/// Field manager of every object the API applies.
pub const FIELD_MANAGER: &str = "eddy-api";
/// Label on every KafkaCluster the API manages (the watcher selects on it).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "eddy-api");
/// Annotation requesting a rolling restart; its value is the operation's restart token.
pub const RESTART_ANNOTATION: &str = "eddy.io/manual-rolling-restart";
/// Annotation on a KafkaUser counting its password rotations: a rotation changes the KafkaUser
/// too, so the operator reconciles it even if it does not watch the Secret.
pub const CREDENTIAL_REVISION_ANNOTATION: &str = "eddy.io/credential-revision";
/// Annotation the operator sets to the restart token it has finished rolling.
pub const RESTART_DONE_ANNOTATION: &str = "eddy.io/manual-rolling-restart-done";

/// Condition reasons that end an operation as failed (the operator will not retry them).
const TERMINAL_REASONS: &[&str] = &[reason::INVALID_SPEC, reason::NOT_SUPPORTED];

/// A backend talking to a real kube-apiserver.
pub struct KubeBackend {
    client: Client,
    namespaces_ready: Mutex<HashSet<String>>,
    /// The listener type of the clusters' TLS listeners.
    external: super::ExternalAccess,
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(kube_err)`
fn kube_err(e: kube::Error) -> BackendError {
    match &e {
        kube::Error::Api(s) if s.code == 400 || s.code == 422 => {
            BackendError::Rejected(s.message.clone())
        }
        _ => BackendError::Unavailable(e.to_string()),
    }
}

/// The KafkaCluster API resource, for untyped reads and writes: the API writes and reads the
/// fields of the issue-15 contract (listener authentication `scram-sha-512`, `maxConnections`,
/// the richer listener status) as JSON, so it does not depend on the CRD types' release.
fn kafka_cluster_resource() -> ApiResource {
    ApiResource::erase::<KafkaCluster>(&())
}

fn kafka_user_resource() -> ApiResource {
    ApiResource::erase::<KafkaUser>(&())
}

/// The name of the Secret holding a cluster's public CA certificate (`ca.crt`).
pub fn cluster_ca_secret(cluster: &str) -> String {
    format!("{cluster}-cluster-ca-cert")
}

/// Builds the KafkaCluster object for a desired cluster (pure; unit-tested): the plan's brokers,
/// storage and limits, and the listeners and authorization its features give.
pub fn kafka_cluster(d: &DesiredCluster, external: super::ExternalAccess) -> Value {
    let labels = BTreeMap::from([
        (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
        ("eddy.io/cluster-id".to_string(), d.cluster_id.clone()),
        ("eddy.io/account-id".to_string(), d.account_id.clone()),
        ("eddy.io/plan".to_string(), d.plan_id.clone()),
    ]);
    let mut metadata = json!({"name": d.name, "namespace": d.namespace, "labels": labels});
    if let Some(t) = &d.restart_token {
        metadata["annotations"] = json!({ RESTART_ANNOTATION: t });
    }
    let listeners: Vec<Value> = d
        .security
        .listeners
        .iter()
        .map(|l| {
            // Only TLS listeners leave the cluster's network.
            let kind = if l.tls {
                external.listener_type()
            } else {
                "internal"
            };
            json!({"name": l.name, "port": l.port, "type": kind, "tls": l.tls,
                   "authentication": l.authentication.as_str()})
        })
        .collect();
    let mut spec = json!({
        "brokers": i32::try_from(d.brokers).unwrap_or(i32::MAX),
        "version": d.version,
        // A deleted managed cluster takes its data with it: nobody pays for orphaned volumes.
        "storage": {"size": format!("{}Gi", d.storage_gb), "deleteClaim": true},
        "listeners": listeners,
        "limits": {
            "maxPartitions": i32::try_from(d.max_partitions).ok(),
            "producerByteRate": d.ingress_bytes_per_sec,
            "consumerByteRate": d.egress_bytes_per_sec,
            "maxConnections": i32::try_from(d.max_connections).ok(),
        },
    });
    if d.security.authorization {
        spec["authorization"] = json!({"type": "simple"});
    }
    json!({"apiVersion": "eddy.io/v1alpha1", "kind": "KafkaCluster", "metadata": metadata, "spec": spec})
}

/// Removes `spec.limits.maxConnections` from a KafkaCluster object when the apiserver refused
/// exactly that field as undeclared (an older CRD); returns whether it did.
fn without_max_connections(message: &str, obj: &mut Value) -> bool {
    message.contains(".spec.limits.maxConnections: field not declared in schema")
        && obj
            .pointer_mut("/spec/limits")
            .and_then(Value::as_object_mut)
            .and_then(|l| l.remove("maxConnections"))
            .is_some()
}

/// The owner reference that ties an object to its KafkaCluster (deleted with it).
fn owned_by_cluster(name: &str, uid: &str) -> Value {
    json!([{"apiVersion": "eddy.io/v1alpha1", "kind": "KafkaCluster", "name": name, "uid": uid}])
}

/// The labels of a Kafka user's objects.
fn user_labels(u: &DesiredUser) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
        ("eddy.io/cluster".to_string(), u.cluster.clone()),
        ("eddy.io/cluster-id".to_string(), u.cluster_id.clone()),
    ])
}

/// Builds the KafkaUser object of a desired user (pure; unit-tested): `spec.username` is the
/// chosen name, the password comes from the API's Secret, ACLs only where the plan has them.
pub fn kafka_user(u: &DesiredUser, authorization: bool, cluster_uid: &str) -> Value {
    let mut authentication = json!({"type": u.mechanism.as_str()});
    if let Some(secret) = &u.secret_name {
        authentication["password"] = json!({"name": secret, "key": "password"});
    }
    let mut spec = json!({
        "cluster": u.cluster,
        "username": u.username,
        "authentication": authentication,
        "quotas": {"producerByteRate": u.producer_byte_rate, "consumerByteRate": u.consumer_byte_rate},
    });
    if authorization {
        spec["authorization"] = json!({"acls": acls::to_crd(&u.acls)});
    }
    json!({
        "apiVersion": "eddy.io/v1alpha1",
        "kind": "KafkaUser",
        "metadata": {
            "name": u.name,
            "namespace": u.namespace,
            "labels": user_labels(u),
            "annotations": {CREDENTIAL_REVISION_ANNOTATION: u.credential_revision.to_string()},
            "ownerReferences": owned_by_cluster(&u.cluster, cluster_uid),
        },
        "spec": spec,
    })
}

/// Builds the password Secret of a SCRAM user (pure).
pub fn password_secret(u: &DesiredUser, secret: &str, password: &str, cluster_uid: &str) -> Secret {
    let mut s = Secret {
        metadata: ObjectMeta {
            name: Some(secret.to_string()),
            namespace: Some(u.namespace.clone()),
            labels: Some(user_labels(u)),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([
            (
                "username".to_string(),
                ByteString(u.username.clone().into_bytes()),
            ),
            (
                "password".to_string(),
                ByteString(password.as_bytes().to_vec()),
            ),
        ])),
        type_: Some("Opaque".into()),
        ..Secret::default()
    };
    s.metadata.owner_references =
        serde_json::from_value(owned_by_cluster(&u.cluster, cluster_uid)).ok();
    s
}

/// The Ready state of a KafkaUser object (pure).
pub fn user_observation(obj: &DynamicObject) -> UserObservation {
    let conditions: Vec<Condition> = obj
        .data
        .pointer("/status/conditions")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default();
    let ready = find_condition(&conditions, condition_type::READY);
    UserObservation {
        name: obj.metadata.name.clone().unwrap_or_default(),
        ready: ready.is_some_and(|c| c.status == ConditionStatus::True),
        reason: ready.map(|c| c.reason.clone()),
        message: ready.map(|c| c.message.clone()),
    }
}

fn str_at<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

/// The listeners of a KafkaCluster object as clients see them (pure; unit-tested): the spec's
/// listeners in order (the first is the recommended one), each with the bootstrap servers and
/// security the operator publishes in its status. Listeners not published yet are left out.
pub fn listeners(obj: &DynamicObject) -> Vec<ListenerInfo> {
    let empty = Vec::new();
    let spec = obj
        .data
        .pointer("/spec/listeners")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let status = obj
        .data
        .pointer("/status/listeners")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    spec.iter()
        .filter_map(|l| {
            let name = str_at(l, "name")?;
            let st = status.iter().find(|s| str_at(s, "name") == Some(name))?;
            let bootstrap = str_at(st, "bootstrapServers").filter(|b| !b.is_empty())?;
            let tls = st
                .get("tls")
                .or_else(|| l.get("tls"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let authentication = str_at(st, "authentication")
                .or_else(|| str_at(l, "authentication"))
                .unwrap_or("none");
            let authentication = match authentication {
                "scram" => "scram-sha-512",
                "mtls" => "tls",
                a => a,
            };
            let sasl = st
                .get("saslMechanisms")
                .and_then(|m| serde_json::from_value::<Vec<String>>(m.clone()).ok())
                .unwrap_or_else(|| sasl_mechanisms(authentication));
            Some(ListenerInfo {
                name: name.to_string(),
                type_: str_at(st, "type")
                    .or_else(|| str_at(l, "type"))
                    .unwrap_or("internal")
                    .to_string(),
                bootstrap_servers: bootstrap.to_string(),
                security_protocol: str_at(st, "securityProtocol")
                    .unwrap_or_else(|| security_protocol(tls, authentication))
                    .to_string(),
                sasl_mechanisms: sasl,
                authentication: authentication.to_string(),
                tls,
            })
        })
        .collect()
}

/// Builds the KafkaTopic object for a desired topic (pure).
pub fn kafka_topic(t: &DesiredTopic) -> KafkaTopic {
    let spec = KafkaTopicSpec {
        cluster: t.cluster.clone(),
        topic_name: Some(t.topic_name.clone()),
        partitions: i32::try_from(t.partitions).unwrap_or(i32::MAX),
        replicas: Some(i16::try_from(t.replicas).unwrap_or(i16::MAX)),
        config: t
            .configs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .chain([("retention.ms".to_string(), t.retention_ms.to_string())])
            .collect(),
    };
    let mut k = KafkaTopic::new(&t.name, spec);
    k.metadata.namespace = Some(t.namespace.clone());
    k.metadata.labels = Some(BTreeMap::from([(
        MANAGED_BY.0.to_string(),
        MANAGED_BY.1.to_string(),
    )]));
    k
}

/// Reads an observation out of a KafkaCluster object (pure; unit-tested).
pub fn observation(k: Option<&DynamicObject>) -> Observation {
    let Some(k) = k else {
        return Observation::default();
    };
    let status: KafkaClusterStatus = k
        .data
        .get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default();
    let ready_cond = find_condition(&status.conditions, condition_type::READY);
    let ready = ready_cond.is_some_and(|c| c.status == ConditionStatus::True);
    let reconciling = find_condition(&status.conditions, condition_type::RECONCILING)
        .filter(|c| c.status == ConditionStatus::True);
    let failure = ready_cond
        .filter(|c| {
            c.status == ConditionStatus::False && TERMINAL_REASONS.contains(&c.reason.as_str())
        })
        .or_else(|| reconciling.filter(|c| c.reason == reason::SCALE_DOWN_BLOCKED))
        .map(|c| format!("{}: {}", c.reason, c.message));
    // A scale-down still draining, or held back by a KafkaRebalance: not done yet.
    let settling = reconciling.is_some_and(|c| {
        c.reason == reason::SCALING_DOWN || c.reason == reason::REBALANCE_IN_PROGRESS
    });
    let completed_restart = k
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(RESTART_DONE_ANNOTATION))
        .cloned();
    Observation {
        exists: true,
        observed_generation: status.observed_generation,
        ready,
        failure,
        settling,
        completed_restart,
        bootstrap: listeners(k).first().map(|l| l.bootstrap_servers.clone()),
        upgrade: status.upgrade.as_ref().map(upgrade_observation),
        scale_down: status
            .scale_down
            .as_ref()
            .filter(|d| !matches!(d.phase, ScaleDownPhase::Done | ScaleDownPhase::Blocked))
            .map(|d| ScaleDownObservation {
                phase: format!("{:?}", d.phase),
                brokers: d.brokers.clone(),
            }),
    }
}

/// The operator's upgrade status as the operation state machine reads it (pure).
fn upgrade_observation(u: &eddy_operator::crd::UpgradeStatus) -> UpgradeObservation {
    UpgradeObservation {
        phase: format!("{:?}", u.phase),
        to_version: u.to_version.clone(),
        on_target: u
            .brokers
            .iter()
            .filter(|b| b.version.as_deref() == Some(u.to_version.as_str()))
            .count(),
        brokers: u.brokers.len(),
        finalized_level: u.finalized_level,
        target_level: u.target_level,
        message: u.message.clone(),
    }
}

impl KubeBackend {
    /// The same backend exposing the clusters' TLS listeners as `external` says.
    #[must_use]
    pub fn with_external(self, external: super::ExternalAccess) -> Self {
        Self { external, ..self }
    }

    /// Connects with a kubeconfig file.
    pub async fn connect(path: &std::path::Path) -> Result<Self> {
        // kube's rustls has no provider chosen by features; pick ring once per process (an
        // error only means one is installed already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let kc = Kubeconfig::read_from(path)
            .map_err(|e| BackendError::Unavailable(format!("read kubeconfig: {e}")))?;
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|e| BackendError::Unavailable(format!("load kubeconfig: {e}")))?;
        let client = Client::try_from(config).map_err(kube_err)?;
        Ok(Self {
            client,
            external: super::ExternalAccess::default(),
            namespaces_ready: Mutex::new(HashSet::new()),
        })
    }

    async fn ensure_namespace(&self, ns: &str) -> Result<()> {
        if self
            .namespaces_ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(ns)
        {
            return Ok(());
        }
        let api: Api<Namespace> = Api::all(self.client.clone());
        let obj = Namespace {
            metadata: ObjectMeta {
                name: Some(ns.to_string()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let mut value =
            serde_json::to_value(&obj).map_err(|e| BackendError::Rejected(e.to_string()))?;
        value["apiVersion"] = "v1".into();
        value["kind"] = "Namespace".into();
        api.patch(
            ns,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(&value),
        )
        .await
        .map_err(kube_err)?;
        self.namespaces_ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(ns.to_string());
        Ok(())
    }

    /// Watches managed KafkaClusters in every namespace and notifies `wake` on each change.
    pub fn spawn_watcher(&self, wake: Arc<tokio::sync::Notify>) {
        // Metadata only (`PartialObjectMeta`): every change, status included, bumps the
        // resourceVersion, and the watch never fails to decode a spec a newer CRD wrote.
        let api: Api<PartialObjectMeta<KafkaCluster>> = Api::all(self.client.clone());
        let cfg = watcher::Config::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));
        tokio::spawn(async move {
            let mut events = watcher(api, cfg).default_backoff().boxed();
            while let Some(ev) = events.next().await {
                match ev {
                    Ok(_) => wake.notify_one(),
                    Err(e) => tracing::warn!(error = %e, "watch KafkaClusters"),
                }
            }
        });
    }
}

impl KubeBackend {
    fn clusters(&self, ns: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), ns, &kafka_cluster_resource())
    }

    fn users(&self, ns: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), ns, &kafka_user_resource())
    }

    /// The KafkaCluster's uid (for owner references) and whether it has the authorizer on.
    async fn cluster_owner(&self, ns: &str, name: &str) -> Result<(String, bool)> {
        let k = self
            .clusters(ns)
            .get_opt(name)
            .await
            .map_err(kube_err)?
            .ok_or_else(|| BackendError::Unavailable(format!("KafkaCluster {name} not found")))?;
        let uid = k
            .metadata
            .uid
            .clone()
            .ok_or_else(|| BackendError::Unavailable("KafkaCluster has no uid".into()))?;
        Ok((
            uid,
            k.data
                .pointer("/spec/authorization")
                .is_some_and(|a| !a.is_null()),
        ))
    }
}

async fn delete_ignoring_absent<K>(api: &Api<K>, name: &str) -> Result<()>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(kube_err(e)),
    }
}

impl ClusterBackend for KubeBackend {
    fn apply<'a>(&'a self, d: &'a DesiredCluster) -> BoxFuture<'a, Result<i64>> {
        Box::pin(async move {
            self.ensure_namespace(&d.namespace).await?;
            let api = self.clusters(&d.namespace);
            let params = PatchParams::apply(FIELD_MANAGER).force();
            let mut obj = kafka_cluster(d, self.external);
            let applied = match api.patch(&d.name, &params, &Patch::Apply(&obj)).await {
                // Version skew: a KafkaCluster CRD from before issue 15 has no connection limit
                // and server-side apply refuses the field. Write the rest, and say so.
                Err(kube::Error::Api(s)) if without_max_connections(&s.message, &mut obj) => {
                    tracing::warn!(
                        cluster = %d.name,
                        "the KafkaCluster CRD has no spec.limits.maxConnections (an operator older \
                         than issue 15): the plan's connection limit is not written"
                    );
                    api.patch(&d.name, &params, &Patch::Apply(&obj)).await
                }
                other => other,
            }
            .map_err(kube_err)?;
            applied
                .metadata
                .generation
                .ok_or_else(|| BackendError::Unavailable("applied object has no generation".into()))
        })
    }

    fn delete<'a>(&'a self, namespace: &'a str, name: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { delete_ignoring_absent(&self.clusters(namespace), name).await })
    }

    fn observe<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Observation>> {
        Box::pin(async move {
            let k = self
                .clusters(namespace)
                .get_opt(name)
                .await
                .map_err(kube_err)?;
            Ok(observation(k.as_ref()))
        })
    }

    fn apply_topic<'a>(&'a self, t: &'a DesiredTopic) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let api: Api<KafkaTopic> = Api::namespaced(self.client.clone(), &t.namespace);
            let obj = kafka_topic(t);
            api.patch(
                &t.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&obj),
            )
            .await
            .map_err(kube_err)?;
            Ok(())
        })
    }

    fn delete_topic<'a>(&'a self, namespace: &'a str, name: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let api: Api<KafkaTopic> = Api::namespaced(self.client.clone(), namespace);
            delete_ignoring_absent(&api, name).await
        })
    }

    fn connection<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<ClusterConnection>> {
        Box::pin(async move {
            let k = self
                .clusters(namespace)
                .get_opt(name)
                .await
                .map_err(kube_err)?
                .ok_or_else(|| BackendError::Unavailable("KafkaCluster not found".into()))?;
            let listeners = listeners(&k);
            if listeners.is_empty() {
                return Err(BackendError::Unavailable(
                    "the operator has not published bootstrap servers yet".into(),
                ));
            }
            let ca_certificate = if listeners.iter().any(|l| l.tls) {
                let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
                let ca = secrets
                    .get_opt(&cluster_ca_secret(name))
                    .await
                    .map_err(kube_err)?
                    .and_then(|s| s.data)
                    .and_then(|mut d| d.remove("ca.crt"))
                    .and_then(|b| String::from_utf8(b.0).ok());
                if ca.is_none() {
                    return Err(BackendError::Unavailable(format!(
                        "the operator has not published the cluster CA ({}) yet",
                        cluster_ca_secret(name)
                    )));
                }
                ca
            } else {
                None
            };
            Ok(ClusterConnection {
                listeners,
                ca_certificate,
            })
        })
    }

    fn apply_user<'a>(
        &'a self,
        u: &'a DesiredUser,
        password: Option<&'a str>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let (uid, authorization) = self.cluster_owner(&u.namespace, &u.cluster).await?;
            if let (Some(secret), Some(password)) = (&u.secret_name, password) {
                let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &u.namespace);
                secrets
                    .patch(
                        secret,
                        &PatchParams::apply(FIELD_MANAGER).force(),
                        &Patch::Apply(&password_secret(u, secret, password, &uid)),
                    )
                    .await
                    .map_err(kube_err)?;
            }
            self.users(&u.namespace)
                .patch(
                    &u.name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&kafka_user(u, authorization, &uid)),
                )
                .await
                .map_err(kube_err)?;
            Ok(())
        })
    }

    fn delete_user<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        secret_name: Option<&'a str>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            // The KafkaUser first: the operator removes the credential from the brokers; the
            // Secret it read goes next.
            delete_ignoring_absent(&self.users(namespace), name).await?;
            if let Some(secret) = secret_name {
                let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
                delete_ignoring_absent(&secrets, secret).await?;
            }
            Ok(())
        })
    }

    fn user_states<'a>(
        &'a self,
        namespace: &'a str,
        cluster: &'a str,
    ) -> BoxFuture<'a, Result<Vec<UserObservation>>> {
        Box::pin(async move {
            let selector = format!(
                "{}={},eddy.io/cluster={cluster}",
                MANAGED_BY.0, MANAGED_BY.1
            );
            let list = self
                .users(namespace)
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(kube_err)?;
            Ok(list.items.iter().map(user_observation).collect())
        })
    }

    fn user_certificate<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<UserCertificate>>> {
        Box::pin(async move {
            let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
            let Some(mut data) = secrets
                .get_opt(name)
                .await
                .map_err(kube_err)?
                .and_then(|s| s.data)
            else {
                return Ok(None);
            };
            let mut text = |key: &str| {
                data.remove(key)
                    .and_then(|b| String::from_utf8(b.0).ok())
                    .filter(|s| !s.is_empty())
            };
            Ok(match (text("user.crt"), text("user.key"), text("ca.crt")) {
                (Some(certificate), Some(private_key), Some(ca_certificate)) => {
                    Some(UserCertificate {
                        certificate,
                        private_key,
                        ca_certificate,
                    })
                }
                _ => None,
            })
        })
    }

    fn drop_certificate<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
            delete_ignoring_absent(&secrets, name).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::security::{Mechanism, cluster_security};

    fn features(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_string()).collect()
    }

    fn desired(plan_features: &[&str]) -> DesiredCluster {
        DesiredCluster {
            namespace: "ns".into(),
            name: "orders-1234abcd".into(),
            cluster_id: "c1".into(),
            account_id: "a1".into(),
            plan_id: "shared-small".into(),
            brokers: 1,
            version: "0.1.0".into(),
            storage_gb: 5,
            max_partitions: 50,
            ingress_bytes_per_sec: 100,
            egress_bytes_per_sec: 200,
            max_connections: 10,
            security: cluster_security("p", &features(plan_features)).unwrap(),
            restart_token: Some("tok".into()),
        }
    }

    fn kafka_cluster_internal(d: &DesiredCluster) -> Value {
        kafka_cluster(d, crate::kube::ExternalAccess::Internal)
    }

    #[test]
    fn external_access_types_only_the_tls_listeners() {
        let d = desired(&["sasl_scram", "tls", "mtls"]);
        let v = kafka_cluster(&d, crate::kube::ExternalAccess::Nodeport);
        let types: Vec<(&str, &str)> = v["spec"]["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["name"].as_str().unwrap(), l["type"].as_str().unwrap()))
            .collect();
        assert_eq!(
            types,
            vec![
                ("tls", "nodeport"),
                ("mtls", "nodeport"),
                ("internal", "internal")
            ]
        );
    }

    #[test]
    fn desired_cluster_becomes_a_labelled_secure_kafka_cluster() {
        let v = kafka_cluster_internal(&desired(&["sasl_scram", "tls"]));
        assert_eq!(v["apiVersion"], "eddy.io/v1alpha1");
        assert_eq!(v["kind"], "KafkaCluster");
        assert_eq!(v["metadata"]["labels"]["eddy.io/cluster-id"], "c1");
        assert_eq!(
            v["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "eddy-api"
        );
        assert_eq!(v["metadata"]["annotations"][RESTART_ANNOTATION], "tok");
        assert_eq!(v["spec"]["storage"]["size"], "5Gi");
        assert_eq!(
            v["spec"]["limits"],
            json!({"maxPartitions": 50, "producerByteRate": 100, "consumerByteRate": 200, "maxConnections": 10})
        );
        assert_eq!(v["spec"]["brokers"], 1);
        assert_eq!(
            v["spec"]["listeners"],
            json!([
                {"name": "tls", "port": 9094, "type": "internal", "tls": true, "authentication": "scram-sha-512"},
                {"name": "internal", "port": 9092, "type": "internal", "tls": false, "authentication": "scram-sha-512"}
            ])
        );
        assert!(v["spec"].get("authorization").is_none());
        let v = kafka_cluster_internal(&desired(&["sasl_scram", "tls", "mtls", "acls"]));
        assert_eq!(v["spec"]["authorization"], json!({"type": "simple"}));
        assert_eq!(v["spec"]["listeners"][1]["authentication"], "tls");
    }

    fn user(mechanism: Mechanism) -> DesiredUser {
        DesiredUser {
            namespace: "ns".into(),
            name: "orders-1234abcd-u-89abcdef".into(),
            cluster: "orders-1234abcd".into(),
            cluster_id: "c1".into(),
            username: "alice".into(),
            mechanism,
            secret_name: mechanism
                .has_password()
                .then(|| "orders-1234abcd-u-89abcdef-password".into()),
            acls: vec![
                serde_json::from_value(
                    json!({"resource_type": "topic", "resource_name": "*", "operations": ["All"]}),
                )
                .unwrap(),
            ],
            credential_revision: 2,
            producer_byte_rate: 1000,
            consumer_byte_rate: 2000,
        }
    }

    #[test]
    fn an_older_crd_without_max_connections_gets_the_rest() {
        let mut v = kafka_cluster_internal(&desired(&["sasl_scram", "tls"]));
        assert!(!without_max_connections("some other failure", &mut v));
        assert_eq!(v["spec"]["limits"]["maxConnections"], 10);
        let msg = "failed to create typed patch object: .spec.limits.maxConnections: field not declared in schema";
        assert!(without_max_connections(msg, &mut v));
        assert!(v["spec"]["limits"].get("maxConnections").is_none());
        assert_eq!(v["spec"]["limits"]["producerByteRate"], 100);
        assert!(
            !without_max_connections(msg, &mut v),
            "nothing left to remove"
        );
    }

    #[test]
    fn desired_user_becomes_a_kafka_user_and_a_password_secret() {
        let u = user(Mechanism::ScramSha512);
        let v = kafka_user(&u, true, "uid-1");
        assert_eq!(v["kind"], "KafkaUser");
        assert_eq!(v["spec"]["username"], "alice");
        assert_eq!(
            v["spec"]["quotas"],
            json!({"producerByteRate": 1000, "consumerByteRate": 2000})
        );
        assert_eq!(v["spec"]["cluster"], "orders-1234abcd");
        assert_eq!(
            v["spec"]["authentication"],
            json!({"type": "scram-sha-512", "password": {"name": "orders-1234abcd-u-89abcdef-password", "key": "password"}})
        );
        assert_eq!(
            v["spec"]["authorization"]["acls"][0]["resource"]["name"],
            "*"
        );
        assert_eq!(
            v["metadata"]["labels"]["eddy.io/cluster"],
            "orders-1234abcd"
        );
        assert_eq!(
            v["metadata"]["annotations"][CREDENTIAL_REVISION_ANNOTATION],
            "2"
        );
        assert_eq!(v["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        // The object deserializes as the CRD type (the contract's extra `username` aside).
        assert!(serde_json::from_value::<KafkaUser>(v).is_ok());
        assert!(
            kafka_user(&u, false, "uid-1")["spec"]
                .get("authorization")
                .is_none()
        );
        let tls = kafka_user(&user(Mechanism::Tls), false, "u");
        assert_eq!(tls["spec"]["authentication"], json!({"type": "tls"}));
        let s = password_secret(&u, "sec", "pw", "uid-1");
        let data = s.data.unwrap();
        assert_eq!(data["password"].0, b"pw");
        assert_eq!(data["username"].0, b"alice");
        assert_eq!(s.metadata.owner_references.unwrap()[0].uid, "uid-1");
    }

    fn object(v: Value) -> DynamicObject {
        serde_json::from_value(v).unwrap()
    }

    fn with_status(ready: &str, why: &str) -> DynamicObject {
        let mut v = kafka_cluster_internal(&desired(&["sasl_scram", "tls"]));
        v["status"] = json!({
            "conditions": [{"type": "Ready", "status": ready, "reason": why, "message": "m", "observedGeneration": 3}],
            "observedGeneration": 3,
            "listeners": [
                {"name": "replication", "bootstrapServers": "127.0.1.1:9091", "addresses": []},
                {"name": "internal", "bootstrapServers": "127.0.1.1:9092", "addresses": []},
                {"name": "tls", "bootstrapServers": "127.0.1.1:9094", "addresses": [], "type": "internal",
                 "tls": true, "authentication": "scram-sha-512", "securityProtocol": "SASL_SSL",
                 "saslMechanisms": ["SCRAM-SHA-512"], "caSecret": "orders-1234abcd-cluster-ca-cert"}
            ]
        });
        object(v)
    }

    #[test]
    fn a_scale_down_settles_before_it_is_done_and_a_blocked_one_fails() {
        let with_reconciling = |why: &str| {
            let mut obj = with_status("True", reason::READY);
            obj.data["status"]["conditions"]
                .as_array_mut()
                .unwrap()
                .push(
                    json!({"type": "Reconciling", "status": "True", "reason": why,
                             "message": "t-0 has 3 replicas but only 1 brokers would remain"}),
                );
            observation(Some(&obj))
        };
        let o = with_reconciling(reason::SCALING_DOWN);
        assert!(o.ready && o.settling && o.failure.is_none());
        let o = with_reconciling(reason::REBALANCE_IN_PROGRESS);
        assert!(o.ready && o.settling && o.failure.is_none());
        let o = with_reconciling(reason::SCALE_DOWN_BLOCKED);
        assert!(!o.settling);
        assert!(
            o.failure
                .is_some_and(|f| f.starts_with("ScaleDownBlocked: t-0 has 3 replicas"))
        );
        let o = with_reconciling(reason::ROLLING_RESTART);
        assert!(!o.settling && o.failure.is_none());
    }

    #[test]
    fn status_maps_to_observations() {
        assert_eq!(observation(None), Observation::default());
        let o = observation(Some(&with_status("True", reason::READY)));
        assert!(o.exists && o.ready && o.failure.is_none());
        assert_eq!(
            (o.observed_generation, o.bootstrap.as_deref()),
            (Some(3), Some("127.0.1.1:9094")),
            "the first spec listener is the cluster's bootstrap"
        );
        let o = observation(Some(&with_status("False", reason::BROKERS_STARTING)));
        assert!(
            !o.ready && o.failure.is_none(),
            "still starting is not a failure"
        );
        let o = observation(Some(&with_status("False", reason::INVALID_SPEC)));
        assert!(o.failure.unwrap().starts_with("InvalidSpec"));
        // The operator's upgrade status: phase, brokers on the new version, levels.
        let mut k = with_status("True", reason::READY);
        k.data["status"]["upgrade"] = json!({
            "phase": "Rolling", "fromVersion": "0.1.0", "toVersion": "0.2.0",
            "finalizedLevel": 1, "targetLevel": 2,
            "brokers": [{"brokerId": 0, "version": "0.2.0", "maxLevel": 2},
                        {"brokerId": 1, "version": "0.1.0", "maxLevel": 1},
                        {"brokerId": 2}]
        });
        let up = observation(Some(&k)).upgrade.expect("upgrade");
        assert_eq!(
            (up.phase.as_str(), up.on_target, up.brokers, up.target_level),
            ("Rolling", 1, 3, Some(2))
        );
        assert_eq!(up.step(), "rolling brokers to 0.2.0: 1 of 3 upgraded");
    }

    #[test]
    fn listeners_combine_spec_order_and_published_status() {
        let l = listeners(&with_status("True", reason::READY));
        assert_eq!(
            l.len(),
            2,
            "the operator's replication listener is not for clients"
        );
        assert_eq!(
            (
                l[0].name.as_str(),
                l[0].security_protocol.as_str(),
                l[0].sasl_mechanisms.clone()
            ),
            ("tls", "SASL_SSL", vec!["SCRAM-SHA-512".to_string()])
        );
        // An operator that publishes only addresses: the security comes from the spec.
        assert_eq!(
            (
                l[1].security_protocol.as_str(),
                l[1].authentication.as_str(),
                l[1].tls
            ),
            ("SASL_PLAINTEXT", "scram-sha-512", false)
        );
        let mut bare = kafka_cluster_internal(&desired(&["sasl_scram", "tls"]));
        bare["status"] = json!({"listeners": []});
        assert!(listeners(&object(bare)).is_empty());
    }

    #[test]
    fn user_status_reads_the_ready_condition() {
        let mut v = kafka_user(&user(Mechanism::ScramSha512), true, "u");
        assert!(!user_observation(&object(v.clone())).ready);
        v["status"] = json!({"conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": ""}]});
        let o = user_observation(&object(v));
        assert!(o.ready);
        assert_eq!(o.name, "orders-1234abcd-u-89abcdef");
        assert_eq!(o.reason.as_deref(), Some("Ready"));
    }
}
