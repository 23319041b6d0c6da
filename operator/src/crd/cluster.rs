//! `KafkaCluster`: a set of Eddy brokers with their storage, config and listeners.
use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Condition;

/// The broker version an empty `spec.version` means.
pub const DEFAULT_BROKER_VERSION: &str = "0.1.0";
/// Broker versions this operator knows how to run. Others get an `UnknownVersion` warning.
pub const KNOWN_VERSIONS: &[&str] = &["0.1.0", "0.2.0"];

/// Broker configuration keys the broker accepts in `spec.config` (it rejects unknown keys at
/// start, so the operator refuses others before they reach a pod).
pub const BROKER_CONFIG_KEYS: &[&str] = &[
    "num.partitions",
    "default.replication.factor",
    "auto.create.topics.enable",
    "log.retention.ms",
    "log.retention.bytes",
    "log.segment.bytes",
    "message.max.bytes",
    "min.insync.replicas",
    "log.flush.interval.ms",
    "delete.topic.enable",
    "offsets.topic.replication.factor",
    "offsets.topic.num.partitions",
    "offsets.retention.minutes",
    "replica.lag.time.max.ms",
    "group.initial.rebalance.delay.ms",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
    "auto.leader.rebalance.enable",
    "leader.imbalance.per.broker.percentage",
    "leader.imbalance.check.interval.seconds",
    "log.retention.check.interval.ms",
    "max.connections.per.ip",
    "compression.type",
];

/// Keys the operator sets itself; `spec.config` may not override them.
pub const RESERVED_CONFIG_KEYS: &[&str] = &[
    "node.id",
    "broker.id",
    "listeners",
    "advertised.listeners",
    "log.dirs",
    "log.dir",
];

/// Desired state of a Kafka cluster run by Eddy brokers.
// Each `printcolumn(..)` repeats `type_ = ..`: clippy reads that as a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "eddy.io",
    version = "v1alpha1",
    kind = "KafkaCluster",
    namespaced,
    status = "KafkaClusterStatus",
    derive = "PartialEq",
    shortname = "kc",
    category = "eddy",
    doc = "A Kafka cluster of Eddy brokers: StatefulSet, Services, config and disruption budget.",
    printcolumn(name = "Brokers", type_ = "integer", json_path = ".spec.brokers"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".status.currentVersion"
    ),
    printcolumn(
        name = "Bootstrap",
        type_ = "string",
        json_path = ".status.listeners[0].bootstrapServers"
    ),
    printcolumn(
        name = "Warning",
        type_ = "string",
        priority = 1,
        json_path = ".status.conditions[?(@.type==\"Warning\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaClusterSpec {
    /// Number of brokers (StatefulSet replicas). Broker ids are the pod ordinals 0..brokers-1.
    #[schemars(range(min = 1, max = 32))]
    pub brokers: i32,
    /// Broker version to run; the image tag unless `image` overrides it.
    #[serde(default = "default_version")]
    #[schemars(length(min = 1, max = 64))]
    pub version: String,
    /// Full broker image reference, overriding `eddy/broker:<version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Persistent storage of each broker.
    #[serde(default)]
    pub storage: StorageSpec,
    /// CPU and memory of each broker container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,
    /// Broker configuration (server.properties keys such as `num.partitions` or
    /// `log.retention.ms`): broker settings and defaults for topics. Keys the operator owns
    /// (listeners, node id, data directory) are rejected.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// Kafka listeners. Defaults to one internal plaintext listener on port 9092.
    #[serde(default = "default_listeners")]
    #[schemars(length(min = 1, max = 4))]
    pub listeners: Vec<ListenerSpec>,
    /// Kafka authorization (ACLs, super users): turns the brokers' authorizer on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationSpec>,
    /// The cluster CA, which signs the broker certificates (secure clusters only). Generated
    /// into `<cluster>-cluster-ca` unless `secretName` names a CA the user supplies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ca: Option<CaSpec>,
    /// The clients CA, which signs KafkaUser certificates and which brokers trust on
    /// `authentication: tls` listeners. Generated into `<cluster>-clients-ca` unless
    /// `secretName` names a CA the user supplies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients_ca: Option<CaSpec>,
    /// Spread brokers over failure domains (racks/zones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<RackSpec>,
    /// Plan limits enforced for this cluster (set by the control panel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<PlanLimits>,
    /// The `eddy.version` feature level to finalize once every broker runs `version`
    /// (default: the highest `version` supports). Lower than the finalized level is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub metadata_version: Option<i16>,
    /// How partitions move when brokers are removed (the drain before a scale-down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebalance: Option<RebalanceSpec>,
}

/// Partition movement settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebalanceSpec {
    /// Replication throttle while partitions move (bytes per second, per broker, for replicas
    /// catching up; in-sync replicas are never throttled). Default 50 MiB/s; 0 turns the
    /// throttle off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub throttle_bytes_per_second: Option<i64>,
    /// How long a drain before a scale-down may take before the operator cancels the
    /// reassignments it started, keeps every broker and reports the scale-down blocked.
    /// Default 3600 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30))]
    pub drain_timeout_seconds: Option<i64>,
    /// Whether brokers added by a scale-up get a fair share of the replicas and preferred
    /// leaders, moved there automatically (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_scale_up: Option<bool>,
}

/// Default replication throttle of a drain (50 MiB/s).
pub const DEFAULT_THROTTLE_BYTES_PER_SECOND: i64 = 50 * 1024 * 1024;
/// Default deadline of a drain.
pub const DEFAULT_DRAIN_TIMEOUT_SECONDS: i64 = 3600;

impl RebalanceSpec {
    /// The throttle in force (`None`: off).
    #[must_use]
    pub fn throttle(spec: Option<&Self>) -> Option<i64> {
        let t = spec
            .and_then(|s| s.throttle_bytes_per_second)
            .unwrap_or(DEFAULT_THROTTLE_BYTES_PER_SECOND);
        (t > 0).then_some(t)
    }

    /// The drain's deadline.
    #[must_use]
    pub fn drain_timeout(spec: Option<&Self>) -> std::time::Duration {
        std::time::Duration::from_secs(
            spec.and_then(|s| s.drain_timeout_seconds)
                .unwrap_or(DEFAULT_DRAIN_TIMEOUT_SECONDS)
                .max(0)
                .unsigned_abs(),
        )
    }
}

fn default_version() -> String {
    DEFAULT_BROKER_VERSION.to_string()
}

fn default_listeners() -> Vec<ListenerSpec> {
    vec![ListenerSpec::default()]
}

/// A certificate authority of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaSpec {
    /// Let the operator generate (and renew) the CA. False requires `secretName`.
    #[serde(default = "default_true")]
    pub generate_certificate_authority: bool,
    /// A Secret with `ca.crt` and `ca.key` the user supplies: the operator reads it and never
    /// writes it (nor renews the CA; replacing the Secret's content is the user's renewal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Days a generated CA certificate, and each certificate it signs, is valid.
    #[serde(default = "default_validity_days")]
    #[schemars(range(min = 1, max = 36500))]
    pub validity_days: i32,
    /// Certificates are renewed this many days before they expire. A window as long as the
    /// validity renews on every reconcile (useful in tests only).
    #[serde(default = "default_renewal_days")]
    #[schemars(range(min = 0, max = 36500))]
    pub renewal_days: i32,
}

impl Default for CaSpec {
    fn default() -> Self {
        Self {
            generate_certificate_authority: true,
            secret_name: None,
            validity_days: default_validity_days(),
            renewal_days: default_renewal_days(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_validity_days() -> i32 {
    365
}

fn default_renewal_days() -> i32 {
    30
}

/// Persistent volume of each broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Volume size as a Kubernetes quantity (`10Gi`). Storage only grows: a smaller value is
    /// ignored with a `StorageShrinkIgnored` warning.
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))]
    pub size: String,
    /// StorageClass of the volume claims; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Delete the volume claims when the KafkaCluster is deleted. Default false: data outlives
    /// the cluster object until an operator deletes the claims.
    #[serde(default)]
    pub delete_claim: bool,
}

impl Default for StorageSpec {
    fn default() -> Self {
        Self {
            size: "1Gi".to_string(),
            class: None,
            delete_claim: false,
        }
    }
}

/// CPU and memory requests and limits of the broker container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesSpec {
    /// Guaranteed resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ResourceList>,
    /// Maximum resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ResourceList>,
}

/// A CPU and memory pair of Kubernetes quantities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceList {
    /// CPU quantity (`500m`, `2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?m?$"))]
    pub cpu: Option<String>,
    /// Memory quantity (`512Mi`, `4Gi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))]
    pub memory: Option<String>,
}

/// One Kafka listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerSpec {
    /// Listener name, unique in the cluster; the broker sees it upper-cased (`plaintext` →
    /// `PLAINTEXT`).
    #[schemars(regex(pattern = r"^[a-z][a-z0-9-]{0,24}$"))]
    pub name: String,
    /// Port the brokers listen on (9600 is the admin port, 9091 the operator's replication
    /// listener and 9095 the controller's: none can be used).
    #[schemars(range(min = 1024, max = 65535))]
    pub port: i32,
    /// How clients reach the listener.
    #[serde(rename = "type", default)]
    pub type_: ListenerType,
    /// Serve TLS on this listener.
    #[serde(default)]
    pub tls: bool,
    /// Client authentication on this listener.
    #[serde(default)]
    pub authentication: AuthenticationType,
    /// What each broker advertises to clients: its pod IP (default) or its stable DNS name
    /// `<pod>.<cluster>-brokers.<namespace>.svc`.
    #[serde(default)]
    pub advertise: AdvertiseMode,
    /// Per-broker overrides of a `nodeport` or `loadbalancer` listener (Strimzi's
    /// `configuration.brokers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<ListenerConfiguration>,
}

/// Overrides of how an external (`nodeport`, `loadbalancer`) listener is advertised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerConfiguration {
    /// Per broker: the host clients reach it at, instead of the address of the Node it runs on
    /// (`status.hostIP`, node ports) or of its load balancer, e.g. a public DNS name or a NAT
    /// address. It is put in the broker's certificate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub brokers: Vec<BrokerListenerOverride>,
}

/// One broker's advertised host override.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerListenerOverride {
    /// Broker id (pod ordinal).
    #[schemars(range(min = 0))]
    pub broker: i32,
    /// Host (DNS name or IP address) the broker advertises on this listener.
    #[schemars(regex(pattern = r"^[A-Za-z0-9]([A-Za-z0-9.:-]{0,251}[A-Za-z0-9])?$"))]
    pub advertised_host: String,
}

impl ListenerSpec {
    /// The advertised host override of broker `ordinal` on this listener, if any.
    #[must_use]
    pub fn advertised_host(&self, ordinal: i32) -> Option<&str> {
        self.configuration
            .as_ref()?
            .brokers
            .iter()
            .find(|b| b.broker == ordinal)
            .map(|b| b.advertised_host.as_str())
    }
}

impl Default for ListenerSpec {
    fn default() -> Self {
        Self {
            name: "plaintext".to_string(),
            port: 9092,
            type_: ListenerType::Internal,
            tls: false,
            authentication: AuthenticationType::None,
            advertise: AdvertiseMode::PodIp,
            configuration: None,
        }
    }
}

/// Exposure of a listener.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ListenerType {
    /// Reachable inside the Kubernetes cluster: brokers advertise their pod addresses.
    #[default]
    Internal,
    /// Exposed through a NodePort Service per broker plus a bootstrap NodePort Service; each
    /// broker advertises `<its Node's address>:<its node port>`.
    Nodeport,
    /// Exposed through a LoadBalancer Service per broker plus a bootstrap one; each broker
    /// advertises its load balancer's address and the listener port (`Ready=False`,
    /// `WaitingForLoadBalancer`, until every one has an address).
    Loadbalancer,
}

/// Address a broker advertises on a listener.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AdvertiseMode {
    /// The pod IP: works without cluster DNS, changes when a pod is recreated.
    #[default]
    #[serde(rename = "podIP")]
    PodIp,
    /// The pod's DNS name under the headless Service: stable, needs cluster DNS.
    #[serde(rename = "dns")]
    Dns,
}

/// Client authentication of a listener.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthenticationType {
    /// Anyone who can connect is `User:ANONYMOUS`.
    #[default]
    #[serde(rename = "none")]
    None,
    /// SASL SCRAM with KafkaUser credentials, SCRAM-SHA-512 first (`scram` is accepted as an
    /// alias). The listener also accepts SCRAM-SHA-256: a KafkaUser signs in with the mechanism
    /// its credential was made for, and one listener serves both kinds of users.
    #[serde(rename = "scram-sha-512", alias = "scram")]
    ScramSha512,
    /// SASL SCRAM with KafkaUser credentials, SCRAM-SHA-256 first (SCRAM-SHA-512 accepted too).
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    /// TLS client certificates signed by the clients CA (`mtls` is accepted as an alias); the
    /// listener must have `tls: true`. `CN=alice` is `User:alice`.
    #[serde(rename = "tls", alias = "mtls")]
    Tls,
}

/// The schema lists the old spellings `scram` and `mtls` too, so resources written before they
/// were renamed still pass the API server's validation (they read as `scram-sha-512`/`tls`).
impl JsonSchema for AuthenticationType {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AuthenticationType".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Client authentication of a listener: none, scram-sha-512, \
                scram-sha-256 or tls (client certificates; needs tls: true). `scram` and `mtls` \
                are accepted as scram-sha-512 and tls.",
            "type": "string",
            "enum": ["none", "scram-sha-512", "scram-sha-256", "tls", "scram", "mtls"]
        })
    }
}

impl AuthenticationType {
    /// The listener's preferred SASL mechanism (the one it is named after), if it uses SASL.
    #[must_use]
    pub fn sasl_mechanism(self) -> Option<&'static str> {
        match self {
            Self::ScramSha512 => Some("SCRAM-SHA-512"),
            Self::ScramSha256 => Some("SCRAM-SHA-256"),
            Self::None | Self::Tls => None,
        }
    }

    /// Every SASL mechanism the listener accepts, the preferred one first: a SCRAM listener
    /// takes both SCRAM-SHA-512 and SCRAM-SHA-256 users (`sasl.enabled.mechanisms`).
    #[must_use]
    pub fn sasl_mechanisms(self) -> &'static [&'static str] {
        match self {
            Self::ScramSha512 => &["SCRAM-SHA-512", "SCRAM-SHA-256"],
            Self::ScramSha256 => &["SCRAM-SHA-256", "SCRAM-SHA-512"],
            Self::None | Self::Tls => &[],
        }
    }
}

/// Kafka's security protocol of a listener (`listener.security.protocol.map`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SecurityProtocol {
    /// No TLS, no SASL.
    Plaintext,
    /// TLS (with client certificates when `authentication: tls`).
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// The name Kafka uses.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }
}

impl ListenerSpec {
    /// The listener's security protocol from `tls` and `authentication`.
    #[must_use]
    pub fn security_protocol(&self) -> SecurityProtocol {
        match (self.tls, self.authentication.sasl_mechanism().is_some()) {
            (false, false) => SecurityProtocol::Plaintext,
            (true, false) => SecurityProtocol::Ssl,
            (false, true) => SecurityProtocol::SaslPlaintext,
            (true, true) => SecurityProtocol::SaslSsl,
        }
    }
}

/// Kafka authorization of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationSpec {
    /// Authorizer kind.
    #[serde(rename = "type")]
    pub type_: AuthorizationType,
    /// Principals allowed everything (`User:admin`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub super_users: Vec<String>,
}

/// Authorizer kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AuthorizationType {
    /// Kafka ACLs managed through KafkaUser resources.
    Simple,
}

/// Rack awareness: brokers spread over the values of a node label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RackSpec {
    /// Node label whose value is the broker's rack (`topology.kubernetes.io/zone`).
    #[schemars(length(min = 1, max = 253))]
    pub topology_key: String,
}

/// Limits of the plan this cluster was sold as.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanLimits {
    /// Maximum partitions over all KafkaTopics of this cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_partitions: Option<i32>,
    /// Produce quota per client, bytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub producer_byte_rate: Option<i64>,
    /// Fetch quota per client, bytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub consumer_byte_rate: Option<i64>,
    /// Connections each broker serves at once (the broker's `max.connections`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_connections: Option<i32>,
}

/// Observed state of a Kafka cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaClusterStatus {
    /// Ready, Reconciling, Warning, ReconciliationPaused.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Bootstrap addresses per listener.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<ListenerStatus>,
    /// Version every broker runs, once they all run the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,
    /// Ids of the brokers that exist (pod ordinals).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub broker_ids: Vec<i32>,
    /// Brokers whose readiness probe passes.
    #[serde(default)]
    pub ready_brokers: i32,
    /// Storage size provisioned in the volume claim templates (storage only grows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_size: Option<String>,
    /// Each data claim: requested size, capacity, and whether it is growing or cannot grow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storage_claims: Vec<ClaimStatus>,
    /// The rolling restart in progress, if any: kept here so an operator restart resumes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_restart: Option<RollingRestartStatus>,
    /// The brokers' metadata (controller) quorum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<QuorumStatus>,
    /// Expiry of the certificate authorities of a secure cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<CertificatesStatus>,
    /// The version upgrade: phase, each broker's release, the finalized feature level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<super::UpgradeStatus>,
    /// The last scale-down: the drain of the brokers that go, and where it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<ScaleDownStatus>,
    /// The balance of replicas over the brokers after a scale-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebalance: Option<RebalanceStatus>,
}

/// Where the replicas' balance over the brokers stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebalanceStatus {
    /// The brokers the replicas are (being) balanced over.
    pub brokers: Vec<i32>,
    /// Whether partitions are still moving.
    pub moving: bool,
    /// Partitions still to move.
    #[serde(default)]
    pub partitions_remaining: i32,
    /// What is happening.
    #[serde(default)]
    pub message: Option<String>,
    /// Topics whose replication the moves throttle (removed when they end).
    #[serde(default)]
    pub throttled_topics: Vec<String>,
}

/// One broker data claim's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimStatus {
    /// Claim name.
    pub name: String,
    /// Its StorageClass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// The size the claim asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<String>,
    /// The size its volume has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<String>,
    /// Where it stands against `spec.storage.size`.
    pub growth: ClaimGrowth,
}

/// A claim against the cluster's storage size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ClaimGrowth {
    /// At least the wanted size.
    Sized,
    /// Below it: the operator asks for the new size.
    Growing,
    /// Asked for, the volume not yet grown (the resizer is at work; no broker restart).
    Resizing,
    /// Below it, and its StorageClass does not allow expansion.
    CannotGrow,
}

/// Step of a scale-down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ScaleDownPhase {
    /// Held back before anything moved: a KafkaRebalance of this cluster is executing its
    /// moves (Reconciling reason `RebalanceInProgress`); the drain starts when it ends.
    Waiting,
    /// Replicas are moving off the brokers that go.
    Draining,
    /// Drained; the controller voters are moving off them.
    MovingVoters,
    /// Drained and no voter: the brokers are being unregistered.
    Unregistering,
    /// Unregistered; the StatefulSet shrinks and their pods stop.
    Shrinking,
    /// The drain cannot finish: every broker is kept; see the message.
    Blocked,
    /// Finished.
    Done,
}

/// A scale-down: the drain before the StatefulSet shrinks. Its optional fields serialise as
/// null and empty lists as `[]`: the status is written with merge patches, where an absent field
/// would keep a stale value (the same holds for [`RebalanceStatus`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleDownStatus {
    /// Step reached.
    pub phase: ScaleDownPhase,
    /// The brokers being removed.
    pub brokers: Vec<i32>,
    /// When the drain started (RFC 3339): its deadline counts from here.
    pub started_at: String,
    /// Partitions that still have a replica on a broker being removed.
    #[serde(default)]
    pub partitions_remaining: i32,
    /// What is happening or why the scale-down is blocked.
    #[serde(default)]
    pub message: Option<String>,
    /// The generation a blocked scale-down was blocked at: a drain that ran past its deadline
    /// is not retried until the spec changes.
    #[serde(default)]
    pub blocked_generation: Option<i64>,
    /// Topics whose replication the drain throttles (removed when it ends).
    #[serde(default)]
    pub throttled_topics: Vec<String>,
}

/// When the cluster's certificate authorities expire (RFC 3339).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificatesStatus {
    /// End of validity of the cluster CA certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ca_not_after: Option<String>,
    /// End of validity of the clients CA certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients_ca_not_after: Option<String>,
}

/// The controller quorum of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuorumStatus {
    /// Broker ids in `--controller-quorum-voters` of the pod template: the first min(N, 3)
    /// brokers of the size the cluster was created with. Fixed for the cluster's life, so a
    /// resize does not change the pod template (which would restart every broker); later voter
    /// changes go through the brokers' admin API.
    #[serde(default)]
    pub initial_voters: Vec<i32>,
    /// Voters the brokers reported last (`GET /v1/cluster/quorum`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voters: Option<Vec<i32>>,
    /// Voters wanted for the current size: the first min(N, 3) broker ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub desired_voters: Vec<i32>,
    /// Current controller (Raft leader) as reported by the brokers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<i32>,
    /// What the operator is doing about the voters, or why it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Why brokers are being restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RollingRestartTrigger {
    /// The `eddy.io/manual-rolling-restart` annotation got a new value: every broker restarts.
    ManualRestart,
    /// The pod template changed (config or version): pods of an older revision restart.
    PodTemplateChanged,
}

/// Step of the broker being restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RestartPhase {
    /// Polling the broker's pre-restart probe until it is safe to restart.
    PreRestartCheck,
    /// The pod was deleted; waiting for its replacement to run and be ready.
    WaitingForPod,
    /// Polling the new broker's post-restart probe until it caught up.
    PostRestartCheck,
}

/// The broker being restarted now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerRestart {
    /// Broker id (pod ordinal).
    pub broker_id: i32,
    /// Step reached.
    pub phase: RestartPhase,
    /// UID of the pod deleted, so its replacement is told apart from it. Serialised as null
    /// when absent so a status merge patch removes a stale value.
    #[serde(default)]
    pub deleted_pod_uid: Option<String>,
}

/// A rolling restart: one broker at a time, unready brokers first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollingRestartStatus {
    /// What started it.
    pub trigger: RollingRestartTrigger,
    /// The manual restart token (annotation value) being rolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Brokers still to restart (not counting `current`).
    #[serde(default)]
    pub pending: Vec<i32>,
    /// Brokers restarted so far.
    #[serde(default)]
    pub restarted: Vec<i32>,
    /// The broker being restarted. Serialised as null when absent so a status merge patch
    /// removes the previous broker.
    #[serde(default)]
    pub current: Option<BrokerRestart>,
    /// When the restart started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
}

/// Where clients reach one listener.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerStatus {
    /// Listener name from the spec.
    pub name: String,
    /// `host:port,host:port` to give a Kafka client as `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// Each broker's advertised address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<ListenerAddress>,
    /// How clients reach the listener (as in the spec).
    #[serde(rename = "type", default)]
    pub type_: ListenerType,
    /// Whether the listener serves TLS.
    #[serde(default)]
    pub tls: bool,
    /// Client authentication (as in the spec).
    #[serde(default)]
    pub authentication: AuthenticationType,
    /// Kafka `security.protocol` a client sets: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_protocol: Option<SecurityProtocol>,
    /// SASL mechanisms the listener accepts (empty without SASL).
    #[serde(default)]
    pub sasl_mechanisms: Vec<String>,
    /// For TLS listeners: the Secret whose `ca.crt` clients trust (`<cluster>-cluster-ca-cert`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<String>,
}

/// One advertised host and port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerAddress {
    /// Broker id.
    pub broker_id: i32,
    /// Host (pod IP or DNS name).
    pub host: String,
    /// Port.
    pub port: i32,
}

impl KafkaClusterSpec {
    /// The image the brokers run.
    #[must_use]
    pub fn broker_image(&self) -> String {
        self.image
            .clone()
            .unwrap_or_else(|| format!("eddy/broker:{}", self.version))
    }
}
