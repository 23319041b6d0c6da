//! The cluster backend: where the API writes KafkaCluster resources and reads their status.
//! A small trait so routes can be tested without Kubernetes; the real implementation talks to a
//! kube-apiserver. When no Kubernetes is configured, `Unconfigured` answers every call with
//! `Unavailable` (503), never a pretend success.

pub mod client;

use crate::domain::acls::AclEntry;
use crate::domain::connection::ListenerInfo;
use crate::domain::operations::Observation;
use crate::domain::security::{ClusterSecurity, Mechanism};
use futures::future::BoxFuture;

/// Errors of the cluster backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Kubernetes cannot be reached or answered with a transient fault.
    #[error("kubernetes backend unavailable: {0}")]
    Unavailable(String),
    /// The apiserver refused the object (validation).
    #[error("kubernetes rejected the resource: {0}")]
    Rejected(String),
    #[error("{0}")]
    Unsupported(String),
}

/// Result alias of the backend.
pub type Result<T, E = BackendError> = std::result::Result<T, E>;

/// What the API wants a cluster to be: everything it puts into the KafkaCluster spec.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DesiredCluster {
    pub namespace: String,
    pub name: String,
    /// The API's cluster id, put into a label so status maps back to the row.
    pub cluster_id: String,
    pub account_id: String,
    pub plan_id: String,
    pub brokers: i64,
    pub version: String,
    pub storage_gb: i64,
    pub max_partitions: i64,
    pub ingress_bytes_per_sec: i64,
    pub egress_bytes_per_sec: i64,
    pub max_connections: i64,
    /// Listeners and authorization, from the plan's features.
    pub security: ClusterSecurity,
    /// Set to request a rolling restart; the operator reports it back when done.
    pub restart_token: Option<String>,
}

/// A KafkaTopic the API wants, on the KafkaCluster `cluster` of the same namespace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DesiredTopic {
    pub namespace: String,
    /// Resource name (Kubernetes-safe); the Kafka topic name is `topic_name`.
    pub name: String,
    pub cluster: String,
    pub topic_name: String,
    pub partitions: i64,
    pub replicas: i64,
    pub retention_ms: i64,
    /// Further Kafka configurations (checked by `domain::topic_configs`).
    pub configs: std::collections::BTreeMap<String, String>,
}

/// A Kafka user the API wants: a KafkaUser on the KafkaCluster `cluster` of the same namespace,
/// and for SCRAM users the Secret holding its password.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DesiredUser {
    pub namespace: String,
    /// KafkaUser resource name (Kubernetes-safe); the Kafka principal is `User:<username>`.
    pub name: String,
    /// The KafkaCluster resource name.
    pub cluster: String,
    /// The API's cluster id, as a label.
    pub cluster_id: String,
    pub username: String,
    pub mechanism: Mechanism,
    /// The Secret with the `password` key (SCRAM users), written by the API and referenced
    /// through `authentication.password`.
    pub secret_name: Option<String>,
    pub acls: Vec<AclEntry>,
    /// Bumped on every password rotation and written as an annotation, so the KafkaUser changes
    /// (and the operator reconciles) when only the Secret did.
    pub credential_revision: i64,
    /// The plan's ingress and egress limits as the user's quotas (bytes per second): the broker
    /// throttles each user to them (`spec.quotas`).
    pub producer_byte_rate: i64,
    pub consumer_byte_rate: i64,
}

/// What the operator reports for one KafkaUser.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct UserObservation {
    /// KafkaUser resource name.
    pub name: String,
    pub ready: bool,
    /// The Ready condition's reason and message, when there is one.
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// What the backend knows about reaching a cluster: its listeners (recommended first) and the
/// cluster CA certificate, when the cluster has TLS listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConnection {
    pub listeners: Vec<ListenerInfo>,
    pub ca_certificate: Option<String>,
}

/// A TLS user's client certificate as the operator issued it into the user's Secret (named like
/// the KafkaUser: `user.crt`, `user.key`, `ca.crt`).
#[derive(Clone, PartialEq, Eq)]
pub struct UserCertificate {
    /// The client certificate (PEM), signed by the cluster's clients CA.
    pub certificate: String,
    /// Its private key (PEM): shown to users once, never in a read.
    pub private_key: String,
    /// The cluster CA certificate clients trust for the brokers (PEM).
    pub ca_certificate: String,
}

impl std::fmt::Debug for UserCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserCertificate")
            .field("certificate", &self.certificate)
            .field("private_key", &"[hidden]")
            .finish_non_exhaustive()
    }
}

/// Where KafkaCluster resources live.
pub trait ClusterBackend: Send + Sync + 'static {
    /// Creates or updates the KafkaCluster; returns the resource's generation after the write.
    fn apply<'a>(&'a self, desired: &'a DesiredCluster) -> BoxFuture<'a, Result<i64>>;
    /// Deletes the KafkaCluster (idempotent).
    fn delete<'a>(&'a self, namespace: &'a str, name: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Reads what the operator reports for it.
    fn observe<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Observation>>;
    /// Creates or updates a KafkaTopic.
    fn apply_topic<'a>(&'a self, topic: &'a DesiredTopic) -> BoxFuture<'a, Result<()>>;
    /// Deletes a KafkaTopic (idempotent).
    fn delete_topic<'a>(&'a self, namespace: &'a str, name: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Listeners from the KafkaCluster status and the cluster CA certificate.
    fn connection<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<ClusterConnection>>;
    /// Writes a Kafka user: the password Secret first when `password` is given (create,
    /// rotate), then the KafkaUser.
    fn apply_user<'a>(
        &'a self,
        user: &'a DesiredUser,
        password: Option<&'a str>,
    ) -> BoxFuture<'a, Result<()>>;
    /// Deletes a KafkaUser and its password Secret (idempotent).
    fn delete_user<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        secret_name: Option<&'a str>,
    ) -> BoxFuture<'a, Result<()>>;
    /// What the operator reports for the KafkaUsers of the KafkaCluster `cluster`.
    fn user_states<'a>(
        &'a self,
        namespace: &'a str,
        cluster: &'a str,
    ) -> BoxFuture<'a, Result<Vec<UserObservation>>>;
    /// The certificate the operator issued to the TLS KafkaUser `name`, `None` until it has.
    fn user_certificate<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<UserCertificate>>>;
    /// Drops the TLS KafkaUser `name`'s certificate (its Secret) so that the operator issues a
    /// new one with a new key on its next reconcile (idempotent).
    fn drop_certificate<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<()>>;
}

/// The backend used when no Kubernetes is configured: every call is a 503 explaining why.
#[derive(Debug, Default)]
pub struct Unconfigured;

const NO_KUBE: &str = "no Kubernetes configured: start the API with --kubeconfig (or KUBECONFIG)";

impl ClusterBackend for Unconfigured {
    fn apply<'a>(&'a self, _: &'a DesiredCluster) -> BoxFuture<'a, Result<i64>> {
        Box::pin(async { Err(BackendError::Unavailable(NO_KUBE.into())) })
    }
    fn delete<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Err(BackendError::Unavailable(NO_KUBE.into())) })
    }
    fn observe<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<Observation>> {
        Box::pin(async { Err(BackendError::Unavailable(NO_KUBE.into())) })
    }
    fn apply_topic<'a>(&'a self, _: &'a DesiredTopic) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Err(BackendError::Unavailable(NO_KUBE.into())) })
    }
    fn delete_topic<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Err(BackendError::Unavailable(NO_KUBE.into())) })
    }
    fn connection<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<ClusterConnection>> {
        Box::pin(async { Err(BackendError::Unavailable(NO_KUBE.into())) })
    }
    fn apply_user<'a>(
        &'a self,
        _: &'a DesiredUser,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Err(BackendError::Unavailable(NO_KUBE.into())) })
    }
    fn delete_user<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Err(BackendError::Unavailable(NO_KUBE.into())) })
    }
    fn user_states<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Vec<UserObservation>>> {
        Box::pin(async { Err(BackendError::Unavailable(NO_KUBE.into())) })
    }
    fn user_certificate<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Option<UserCertificate>>> {
        Box::pin(async { Err(BackendError::Unavailable(NO_KUBE.into())) })
    }
    fn drop_certificate<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Err(BackendError::Unavailable(NO_KUBE.into())) })
    }
}

/// Connects the Kubernetes backend described by a kubeconfig file and starts its KafkaCluster
/// watcher, which notifies `wake` on every change.
pub async fn connect(
    kubeconfig: &std::path::Path,
    wake: std::sync::Arc<tokio::sync::Notify>,
    external: ExternalAccess,
) -> Result<std::sync::Arc<dyn ClusterBackend>> {
    let backend = client::KubeBackend::connect(kubeconfig)
        .await?
        .with_external(external);
    backend.spawn_watcher(wake);
    Ok(std::sync::Arc::new(backend))
}

/// How clients outside the Kubernetes cluster reach the TLS listeners of the clusters the API
/// creates (`--external-listeners`): the operator's listener `type` (operator/README.md,
/// "Listeners"). The plaintext-transport listener on 9092 always stays internal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ExternalAccess {
    /// Only from inside the cluster's network (pod addresses).
    #[default]
    Internal,
    /// A node port per broker and one for bootstrap, advertised at the node's address.
    Nodeport,
    /// A LoadBalancer Service per broker and one for bootstrap (needs a load balancer
    /// controller; the cluster is not Ready until every Service has an address).
    Loadbalancer,
}

impl ExternalAccess {
    /// The listener `type` of the KafkaCluster spec.
    pub fn listener_type(self) -> &'static str {
        match self {
            ExternalAccess::Internal => "internal",
            ExternalAccess::Nodeport => "nodeport",
            ExternalAccess::Loadbalancer => "loadbalancer",
        }
    }
}
