//! The Kubernetes backend: writes KafkaCluster resources with server-side apply (field manager
//! `eddy-api`), reads their status, and watches them to wake the operation sync at once.

use super::{BackendError, ClusterBackend, ConnectionInfo, DesiredCluster, DesiredTopic, Result};
use crate::domain::operations::Observation;
use eddy_operator::crd::{
    AuthenticationType, ConditionStatus, KafkaCluster, KafkaClusterSpec, KafkaTopic,
    KafkaTopicSpec, PlanLimits, StorageSpec, condition_type, find_condition, reason,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Config};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

/// Field manager of every object the API applies.
pub const FIELD_MANAGER: &str = "eddy-api";
/// Label on every KafkaCluster the API manages (the watcher selects on it).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "eddy-api");
/// Annotation requesting a rolling restart; its value is the operation's restart token.
pub const RESTART_ANNOTATION: &str = "eddy.io/manual-rolling-restart";
/// Annotation the operator sets to the restart token it has finished rolling.
pub const RESTART_DONE_ANNOTATION: &str = "eddy.io/manual-rolling-restart-done";

/// Condition reasons that end an operation as failed (the operator will not retry them).
const TERMINAL_REASONS: &[&str] = &[reason::INVALID_SPEC, reason::NOT_SUPPORTED];

/// A backend talking to a real kube-apiserver.
pub struct KubeBackend {
    client: Client,
    namespaces_ready: Mutex<HashSet<String>>,
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

/// Builds the KafkaCluster object for a desired cluster (pure; unit-tested).
pub fn kafka_cluster(d: &DesiredCluster) -> KafkaCluster {
    let labels = BTreeMap::from([
        (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
        ("eddy.io/cluster-id".to_string(), d.cluster_id.clone()),
        ("eddy.io/account-id".to_string(), d.account_id.clone()),
        ("eddy.io/plan".to_string(), d.plan_id.clone()),
    ]);
    let annotations = d
        .restart_token
        .as_ref()
        .map(|t| BTreeMap::from([(RESTART_ANNOTATION.to_string(), t.clone())]));
    let spec = KafkaClusterSpec {
        brokers: i32::try_from(d.brokers).unwrap_or(i32::MAX),
        version: d.version.clone(),
        image: None,
        // A deleted managed cluster takes its data with it: nobody pays for orphaned volumes.
        storage: StorageSpec {
            size: format!("{}Gi", d.storage_gb),
            class: None,
            delete_claim: true,
        },
        resources: None,
        config: BTreeMap::new(),
        listeners: vec![eddy_operator::crd::ListenerSpec::default()],
        authorization: None,
        rack: None,
        limits: Some(PlanLimits {
            max_partitions: i32::try_from(d.max_partitions).ok(),
            producer_byte_rate: Some(d.ingress_bytes_per_sec),
            consumer_byte_rate: Some(d.egress_bytes_per_sec),
        }),
    };
    let mut k = KafkaCluster::new(&d.name, spec);
    k.metadata = ObjectMeta {
        name: Some(d.name.clone()),
        namespace: Some(d.namespace.clone()),
        labels: Some(labels),
        annotations,
        ..ObjectMeta::default()
    };
    k
}

/// Builds the KafkaTopic object for a desired topic (pure).
pub fn kafka_topic(t: &DesiredTopic) -> KafkaTopic {
    let spec = KafkaTopicSpec {
        cluster: t.cluster.clone(),
        topic_name: Some(t.topic_name.clone()),
        partitions: i32::try_from(t.partitions).unwrap_or(i32::MAX),
        replicas: Some(i16::try_from(t.replicas).unwrap_or(i16::MAX)),
        config: BTreeMap::from([("retention.ms".to_string(), t.retention_ms.to_string())]),
    };
    let mut k = KafkaTopic::new(&t.name, spec);
    k.metadata.namespace = Some(t.namespace.clone());
    k.metadata.labels = Some(BTreeMap::from([(
        MANAGED_BY.0.to_string(),
        MANAGED_BY.1.to_string(),
    )]));
    k
}

/// Reads an observation out of a KafkaCluster (pure; unit-tested).
pub fn observation(k: Option<&KafkaCluster>) -> Observation {
    let Some(k) = k else {
        return Observation::default();
    };
    let status = k.status.clone().unwrap_or_default();
    let ready_cond = find_condition(&status.conditions, condition_type::READY);
    let ready = ready_cond.is_some_and(|c| c.status == ConditionStatus::True);
    let failure = ready_cond
        .filter(|c| {
            c.status == ConditionStatus::False && TERMINAL_REASONS.contains(&c.reason.as_str())
        })
        .map(|c| format!("{}: {}", c.reason, c.message));
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
        completed_restart,
        bootstrap: status
            .listeners
            .first()
            .map(|l| l.bootstrap_servers.clone()),
    }
}

impl KubeBackend {
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
        let api: Api<KafkaCluster> = Api::all(self.client.clone());
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

impl ClusterBackend for KubeBackend {
    fn apply<'a>(&'a self, d: &'a DesiredCluster) -> BoxFuture<'a, Result<i64>> {
        Box::pin(async move {
            self.ensure_namespace(&d.namespace).await?;
            let api: Api<KafkaCluster> = Api::namespaced(self.client.clone(), &d.namespace);
            let obj = kafka_cluster(d);
            let applied = api
                .patch(
                    &d.name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&obj),
                )
                .await
                .map_err(kube_err)?;
            applied
                .metadata
                .generation
                .ok_or_else(|| BackendError::Unavailable("applied object has no generation".into()))
        })
    }

    fn delete<'a>(&'a self, namespace: &'a str, name: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let api: Api<KafkaCluster> = Api::namespaced(self.client.clone(), namespace);
            match api.delete(name, &DeleteParams::background()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                Err(e) => Err(kube_err(e)),
            }
        })
    }

    fn observe<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Observation>> {
        Box::pin(async move {
            let api: Api<KafkaCluster> = Api::namespaced(self.client.clone(), namespace);
            let k = api.get_opt(name).await.map_err(kube_err)?;
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
            match api.delete(name, &DeleteParams::background()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                Err(e) => Err(kube_err(e)),
            }
        })
    }

    fn connection<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<ConnectionInfo>> {
        Box::pin(async move {
            let api: Api<KafkaCluster> = Api::namespaced(self.client.clone(), namespace);
            let k = api
                .get_opt(name)
                .await
                .map_err(kube_err)?
                .ok_or_else(|| BackendError::Unavailable("KafkaCluster not found".into()))?;
            let listener = k.spec.listeners.first().cloned().unwrap_or_default();
            let bootstrap = k
                .status
                .as_ref()
                .and_then(|s| s.listeners.iter().find(|l| l.name == listener.name))
                .map(|l| l.bootstrap_servers.clone())
                .ok_or_else(|| {
                    BackendError::Unavailable(
                        "the operator has not published bootstrap servers yet".into(),
                    )
                })?;
            // The API writes listeners without TLS or authentication (the broker supports
            // neither yet) and the operator refuses any other kind: there are no credentials
            // to hand out, and the answer says so rather than invent some.
            if listener.tls || listener.authentication != AuthenticationType::None {
                return Err(BackendError::Unsupported(format!(
                    "listener {} asks for TLS or authentication, which the broker does not support yet",
                    listener.name
                )));
            }
            Ok(ConnectionInfo::unauthenticated(bootstrap))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_operator::crd::{Condition, KafkaClusterStatus, ListenerStatus};

    fn desired() -> DesiredCluster {
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
            restart_token: Some("tok".into()),
        }
    }

    #[test]
    fn desired_cluster_becomes_a_labelled_kafka_cluster() {
        let k = kafka_cluster(&desired());
        let v = serde_json::to_value(&k).unwrap();
        assert_eq!(v["apiVersion"], "eddy.io/v1alpha1");
        assert_eq!(v["kind"], "KafkaCluster");
        assert_eq!(v["metadata"]["labels"]["eddy.io/cluster-id"], "c1");
        assert_eq!(
            v["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "eddy-api"
        );
        assert_eq!(v["metadata"]["annotations"][RESTART_ANNOTATION], "tok");
        assert_eq!(v["spec"]["storage"]["size"], "5Gi");
        assert_eq!(v["spec"]["limits"]["producerByteRate"], 100);
        assert_eq!(v["spec"]["brokers"], 1);
    }

    fn with_status(ready: ConditionStatus, why: &str) -> KafkaCluster {
        let mut k = kafka_cluster(&desired());
        k.status = Some(KafkaClusterStatus {
            conditions: vec![Condition {
                type_: condition_type::READY.into(),
                status: ready,
                reason: why.into(),
                message: "m".into(),
                last_transition_time: None,
                observed_generation: Some(3),
            }],
            observed_generation: Some(3),
            listeners: vec![ListenerStatus {
                name: "plaintext".into(),
                bootstrap_servers: "127.0.1.1:9092".into(),
                addresses: vec![],
            }],
            ..KafkaClusterStatus::default()
        });
        k
    }

    #[test]
    fn status_maps_to_observations() {
        assert_eq!(observation(None), Observation::default());
        let o = observation(Some(&with_status(ConditionStatus::True, reason::READY)));
        assert!(o.exists && o.ready && o.failure.is_none());
        assert_eq!(
            (o.observed_generation, o.bootstrap.as_deref()),
            (Some(3), Some("127.0.1.1:9092"))
        );
        let o = observation(Some(&with_status(
            ConditionStatus::False,
            reason::BROKERS_STARTING,
        )));
        assert!(
            !o.ready && o.failure.is_none(),
            "still starting is not a failure"
        );
        let o = observation(Some(&with_status(
            ConditionStatus::False,
            reason::INVALID_SPEC,
        )));
        assert!(o.failure.unwrap().starts_with("InvalidSpec"));
    }
}
