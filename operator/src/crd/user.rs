//! `KafkaUser`: credentials, ACLs and quotas of one Kafka principal on a KafkaCluster.
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Condition;

/// Desired state of one Kafka user (principal `User:<name>`).
// Each `printcolumn(..)` repeats `type_ = ..`: clippy reads that as a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "eddy.io",
    version = "v1alpha1",
    kind = "KafkaUser",
    namespaced,
    status = "KafkaUserStatus",
    derive = "PartialEq",
    shortname = "ku",
    category = "eddy",
    doc = "A Kafka user on a KafkaCluster in the same namespace: SCRAM credentials or a TLS client certificate, ACLs, quotas.",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster"),
    printcolumn(name = "Username", type_ = "string", json_path = ".status.username"),
    printcolumn(
        name = "Authentication",
        type_ = "string",
        json_path = ".spec.authentication.type"
    ),
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
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaUserSpec {
    /// Name of the KafkaCluster (same namespace) the user lives on.
    #[schemars(length(min = 1, max = 63))]
    pub cluster: String,
    /// The Kafka principal's name (`User:<username>`); `metadata.name` when absent. Lets a
    /// user name that is not a valid Kubernetes name (upper case, `_`, `@`) be managed. No
    /// white space, `,`, `=`, `"` or backslash (they would need escaping in SASL and JAAS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 249), regex(pattern = r#"^[^\s,="\\]+$"#))]
    pub username: Option<String>,
    /// How the user authenticates.
    pub authentication: UserAuthentication,
    /// ACLs granted to the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<UserAuthorization>,
    /// Client quotas of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotas: Option<UserQuotas>,
}

/// Credentials of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAuthentication {
    /// Mechanism.
    #[serde(rename = "type")]
    pub type_: UserAuthenticationType,
    /// Secret key holding the password (SCRAM only), read and never written by the operator;
    /// changing the Secret rotates the credential on the brokers. Absent: a password is
    /// generated once into a Secret named like the KafkaUser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretKeyRef>,
}

/// Authentication mechanism of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum UserAuthenticationType {
    /// SASL SCRAM-SHA-256.
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    /// SASL SCRAM-SHA-512.
    #[serde(rename = "scram-sha-512")]
    ScramSha512,
    /// TLS client certificate.
    #[serde(rename = "tls")]
    Tls,
}

/// A key of a Secret in the user's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    pub name: String,
    /// Key inside the Secret.
    pub key: String,
}

/// ACLs of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAuthorization {
    /// ACL rules; the principal is the user.
    #[serde(default)]
    pub acls: Vec<AclRule>,
}

/// One ACL rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AclRule {
    /// What the rule applies to.
    pub resource: AclResource,
    /// Operations allowed or denied.
    #[schemars(length(min = 1))]
    pub operations: Vec<AclOperation>,
    /// Client host the rule applies to; `*` for any.
    #[serde(default = "any_host")]
    pub host: String,
    /// Allow or deny.
    #[serde(default)]
    pub effect: AclEffect,
}

fn any_host() -> String {
    "*".to_string()
}

/// Resource an ACL applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AclResource {
    /// Resource kind.
    #[serde(rename = "type")]
    pub type_: AclResourceType,
    /// Resource name (ignored for `cluster`); `*` for all.
    #[serde(default)]
    pub name: String,
    /// Literal name or name prefix.
    #[serde(default)]
    pub pattern_type: AclPatternType,
}

/// Kafka resource kinds ACLs apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AclResourceType {
    /// A topic.
    Topic,
    /// A consumer group.
    Group,
    /// The cluster.
    Cluster,
    /// A transactional id.
    TransactionalId,
}

/// How an ACL resource name matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AclPatternType {
    /// Exact name.
    #[default]
    Literal,
    /// Name prefix.
    Prefix,
}

/// Kafka ACL operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub enum AclOperation {
    /// Every operation.
    All,
    /// Read.
    Read,
    /// Write.
    Write,
    /// Create.
    Create,
    /// Delete.
    Delete,
    /// Alter.
    Alter,
    /// Describe.
    Describe,
    /// ClusterAction.
    ClusterAction,
    /// DescribeConfigs.
    DescribeConfigs,
    /// AlterConfigs.
    AlterConfigs,
    /// IdempotentWrite.
    IdempotentWrite,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AclEffect {
    /// Grant.
    #[default]
    Allow,
    /// Refuse.
    Deny,
}

/// Client quotas of a user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserQuotas {
    /// Produce bytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub producer_byte_rate: Option<i64>,
    /// Fetch bytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub consumer_byte_rate: Option<i64>,
    /// Share of broker request-handler time, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub request_percentage: Option<i32>,
}

/// Observed state of a user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaUserStatus {
    /// Ready, Warning, ReconciliationPaused.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Kafka principal name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Secret holding the credentials, once they exist on the brokers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// `resourceVersion` of the Secret whose password the brokers hold (SCRAM): when the
    /// Secret changes, the credential is rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret_version: Option<String>,
    /// Expiry of the user's client certificate (TLS users), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_not_after: Option<String>,
}

impl KafkaUser {
    /// The Kafka user name: `spec.username`, else `metadata.name`.
    #[must_use]
    pub fn kafka_username(&self) -> String {
        self.spec
            .username
            .clone()
            .or_else(|| self.metadata.name.clone())
            .unwrap_or_default()
    }

    /// The Secret the user's credentials are in: the referenced password Secret, else the
    /// Secret named like the KafkaUser (written by the operator).
    #[must_use]
    pub fn credentials_secret(&self) -> String {
        self.spec
            .authentication
            .password
            .as_ref()
            .map(|p| p.name.clone())
            .or_else(|| self.metadata.name.clone())
            .unwrap_or_default()
    }
}

/// Condition reasons of KafkaUser only (the shared ones are in [`super::reason`]).
pub mod user_reason {
    /// An admin call to the brokers failed (retried).
    pub const BROKER_ERROR: &str = "BrokerError";
    /// The Secret `authentication.password` names, or its key, does not exist (yet).
    pub const PASSWORD_SECRET_NOT_FOUND: &str = "PasswordSecretNotFound";
    /// The cluster's clients CA, which signs TLS users' certificates, is not available.
    pub const CLIENTS_CA_NOT_FOUND: &str = "ClientsCaNotFound";
}
