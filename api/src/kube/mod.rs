//! The cluster backend: where the API writes KafkaCluster resources and reads their status.
//! A small trait so routes can be tested without Kubernetes; the real implementation talks to a
//! kube-apiserver. When no Kubernetes is configured, `Unconfigured` answers every call with
//! `Unavailable` (503), never a pretend success.

pub mod client;

use crate::domain::operations::Observation;
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
}

/// Why connection details carry no credentials today.
pub const NO_CREDENTIALS: &str = "no credentials: the operator does not configure SASL/SCRAM or TLS listeners yet, so the \
    listener accepts unauthenticated PLAINTEXT connections; reach it only from networks you trust";

/// Connection details for clients.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ConnectionInfo {
    pub bootstrap_servers: String,
    /// Kafka `security.protocol` for clients: `PLAINTEXT` today.
    pub security_protocol: String,
    /// How clients authenticate: `none` today (the operator configures no SASL yet).
    pub authentication: String,
    /// Always null until the operator configures SASL/SCRAM.
    pub sasl_mechanism: Option<String>,
    /// Always null until the operator configures SASL/SCRAM.
    pub username: Option<String>,
    /// Always null until the operator configures SASL/SCRAM.
    pub password: Option<String>,
    /// Why there are no credentials, when there are none.
    pub note: Option<String>,
}

impl ConnectionInfo {
    /// A listener without authentication: no credentials, and a note saying why.
    pub fn unauthenticated(bootstrap_servers: String) -> Self {
        Self {
            bootstrap_servers,
            security_protocol: "PLAINTEXT".into(),
            authentication: "none".into(),
            sasl_mechanism: None,
            username: None,
            password: None,
            note: Some(NO_CREDENTIALS.into()),
        }
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
    /// Bootstrap address and client credentials.
    fn connection<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<ConnectionInfo>>;
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
    fn connection<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<ConnectionInfo>> {
        Box::pin(async { Err(BackendError::Unavailable(NO_KUBE.into())) })
    }
}

/// Connects the Kubernetes backend described by a kubeconfig file and starts its KafkaCluster
/// watcher, which notifies `wake` on every change.
pub async fn connect(
    kubeconfig: &std::path::Path,
    wake: std::sync::Arc<tokio::sync::Notify>,
) -> Result<std::sync::Arc<dyn ClusterBackend>> {
    let backend = client::KubeBackend::connect(kubeconfig).await?;
    backend.spawn_watcher(wake);
    Ok(std::sync::Arc::new(backend))
}
