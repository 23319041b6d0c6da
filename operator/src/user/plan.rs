//! Plan step of the KafkaUser reconcile (pure): validate the spec against its cluster, turn it
//! into what the brokers must hold (a SCRAM credential or none, a set of ACL bindings, a quota
//! map for the user entity), and diff that against what the brokers report.

use std::collections::{BTreeMap, BTreeSet};

use eddy_kafka_client::scram::ScramMechanism;

use crate::crd::{
    AclEffect, AclOperation, AclPatternType, AclResourceType, AclRule, AuthenticationType,
    KafkaClusterSpec, KafkaUserSpec, UserAuthenticationType, UserQuotas,
};
use crate::kafka_admin::security::{
    AclBinding, ScramInfo, pattern_type, permission, resource_type,
};
use crate::kafka_admin::target::{BROKER_USER, OPERATOR_USER};

/// The quota keys a KafkaUser manages (others on the entity are left alone).
pub const QUOTA_KEYS: [&str; 3] = [
    "producer_byte_rate",
    "consumer_byte_rate",
    "request_percentage",
];
/// The name of the cluster resource in Kafka's ACLs.
pub const CLUSTER_RESOURCE: &str = "kafka-cluster";

/// What the brokers must hold for one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// The user name.
    pub username: String,
    /// `User:<username>`.
    pub principal: String,
    /// The SCRAM mechanism of the credential, or `None` for a TLS user (no credential).
    pub scram: Option<ScramMechanism>,
    /// Every ACL of the principal.
    pub acls: BTreeSet<AclBinding>,
    /// Quotas of the user entity, by key.
    pub quotas: BTreeMap<String, f64>,
}

/// The authentication a cluster's listeners offer, by the user-facing name.
fn offered(cluster: &KafkaClusterSpec) -> BTreeSet<&'static str> {
    cluster
        .listeners
        .iter()
        .flat_map(|l| {
            let mut out: Vec<&'static str> = l
                .authentication
                .sasl_mechanisms()
                .iter()
                .filter_map(|m| match *m {
                    "SCRAM-SHA-512" => Some("scram-sha-512"),
                    "SCRAM-SHA-256" => Some("scram-sha-256"),
                    _ => None,
                })
                .collect();
            if l.authentication == AuthenticationType::Tls {
                out.push("tls");
            }
            out
        })
        .collect()
}

fn mechanism_name(t: UserAuthenticationType) -> &'static str {
    match t {
        UserAuthenticationType::ScramSha256 => "scram-sha-256",
        UserAuthenticationType::ScramSha512 => "scram-sha-512",
        UserAuthenticationType::Tls => "tls",
    }
}

/// Kafka's operation code.
#[must_use]
pub fn operation_code(op: AclOperation) -> i8 {
    match op {
        AclOperation::All => 2,
        AclOperation::Read => 3,
        AclOperation::Write => 4,
        AclOperation::Create => 5,
        AclOperation::Delete => 6,
        AclOperation::Alter => 7,
        AclOperation::Describe => 8,
        AclOperation::ClusterAction => 9,
        AclOperation::DescribeConfigs => 10,
        AclOperation::AlterConfigs => 11,
        AclOperation::IdempotentWrite => 12,
    }
}

/// The operations Kafka defines on each resource type (`AclEntry.supportedOperations`).
fn supported(t: AclResourceType) -> &'static [AclOperation] {
    use AclOperation::{
        All, Alter, AlterConfigs, ClusterAction, Create, Delete, Describe, DescribeConfigs,
        IdempotentWrite, Read, Write,
    };
    match t {
        AclResourceType::Topic => &[
            All,
            Read,
            Write,
            Create,
            Delete,
            Alter,
            Describe,
            DescribeConfigs,
            AlterConfigs,
        ],
        AclResourceType::Group => &[All, Read, Describe, Delete],
        AclResourceType::Cluster => &[
            All,
            Create,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
            Alter,
            Describe,
        ],
        AclResourceType::TransactionalId => &[All, Describe, Write],
    }
}

/// The bindings of one rule, or why it cannot exist in Kafka.
fn rule_bindings(i: usize, rule: &AclRule, principal: &str) -> Result<Vec<AclBinding>, String> {
    let r = &rule.resource;
    let at = || format!("authorization.acls[{i}]");
    let (type_code, name) = match r.type_ {
        AclResourceType::Topic => (resource_type::TOPIC, r.name.clone()),
        AclResourceType::Group => (resource_type::GROUP, r.name.clone()),
        AclResourceType::TransactionalId => (resource_type::TRANSACTIONAL_ID, r.name.clone()),
        AclResourceType::Cluster => {
            if !r.name.is_empty() && r.name != CLUSTER_RESOURCE {
                return Err(format!(
                    "{}: the cluster resource is named {CLUSTER_RESOURCE:?}, not {:?}",
                    at(),
                    r.name
                ));
            }
            if r.pattern_type == AclPatternType::Prefix {
                return Err(format!("{}: the cluster resource cannot be a prefix", at()));
            }
            (resource_type::CLUSTER, CLUSTER_RESOURCE.to_string())
        }
    };
    if name.is_empty() {
        return Err(format!(
            "{}: a {:?} resource needs a name (`*` for all)",
            at(),
            r.type_
        ));
    }
    let pattern = match r.pattern_type {
        AclPatternType::Literal => pattern_type::LITERAL,
        AclPatternType::Prefix if name == "*" => {
            return Err(format!(
                "{}: `*` is a literal wildcard, not a prefix (use patternType literal)",
                at()
            ));
        }
        AclPatternType::Prefix => pattern_type::PREFIXED,
    };
    if rule.host.is_empty() {
        return Err(format!("{}: host is empty (`*` for any host)", at()));
    }
    let allowed = supported(r.type_);
    let mut out = Vec::new();
    for op in &rule.operations {
        if !allowed.contains(op) {
            return Err(format!(
                "{}: operation {op:?} does not exist on a {:?} resource (Kafka allows {allowed:?})",
                at(),
                r.type_
            ));
        }
        out.push(AclBinding {
            resource_type: type_code,
            resource_name: name.clone(),
            pattern_type: pattern,
            principal: principal.to_string(),
            host: rule.host.clone(),
            operation: operation_code(*op),
            permission: match rule.effect {
                AclEffect::Allow => permission::ALLOW,
                AclEffect::Deny => permission::DENY,
            },
        });
    }
    Ok(out)
}

/// The quota map of `quotas` (`None` → no quotas).
#[must_use]
#[allow(clippy::cast_precision_loss)] // byte rates far below 2^52
pub fn desired_quotas(quotas: Option<&UserQuotas>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    if let Some(q) = quotas {
        if let Some(v) = q.producer_byte_rate {
            out.insert(QUOTA_KEYS[0].to_string(), v as f64);
        }
        if let Some(v) = q.consumer_byte_rate {
            out.insert(QUOTA_KEYS[1].to_string(), v as f64);
        }
        if let Some(v) = q.request_percentage {
            out.insert(QUOTA_KEYS[2].to_string(), f64::from(v));
        }
    }
    out
}

/// Validates `spec` (user `name`) against its cluster and builds what the brokers must hold.
///
/// # Errors
/// A message for the InvalidSpec condition: a reserved user name, a mechanism no listener of
/// the cluster offers, a password Secret on a TLS user, ACLs on a cluster without an
/// authorizer, or an ACL Kafka cannot represent (an operation the resource type lacks...).
pub fn desired(
    spec: &KafkaUserSpec,
    username: &str,
    cluster: &KafkaClusterSpec,
) -> Result<Desired, String> {
    if username == OPERATOR_USER || username == BROKER_USER {
        return Err(format!(
            "user name {username:?} is reserved for the operator's own principals"
        ));
    }
    let mechanism = mechanism_name(spec.authentication.type_);
    let offered = offered(cluster);
    if !offered.contains(mechanism) {
        let offers = if offered.is_empty() {
            "none: no listener authenticates clients".to_string()
        } else {
            offered.iter().copied().collect::<Vec<_>>().join(", ")
        };
        return Err(format!(
            "authentication {mechanism} is not offered by any listener of cluster {} (offered: {offers})",
            spec.cluster
        ));
    }
    let scram = match spec.authentication.type_ {
        UserAuthenticationType::ScramSha256 => Some(ScramMechanism::Sha256),
        UserAuthenticationType::ScramSha512 => Some(ScramMechanism::Sha512),
        UserAuthenticationType::Tls => {
            if spec.authentication.password.is_some() {
                return Err(
                    "authentication.password is for SCRAM users; a tls user authenticates with its certificate"
                        .to_string(),
                );
            }
            None
        }
    };
    let principal = format!("User:{username}");
    let rules = spec
        .authorization
        .as_ref()
        .map(|a| a.acls.as_slice())
        .unwrap_or_default();
    if !rules.is_empty() && cluster.authorization.is_none() {
        return Err(format!(
            "authorization.acls given but cluster {} has no authorization (spec.authorization): they would not be enforced",
            spec.cluster
        ));
    }
    let mut acls = BTreeSet::new();
    for (i, rule) in rules.iter().enumerate() {
        acls.extend(rule_bindings(i, rule, &principal)?);
    }
    Ok(Desired {
        username: username.to_string(),
        principal,
        scram,
        acls,
        quotas: desired_quotas(spec.quotas.as_ref()),
    })
}

/// SCRAM changes: the credential to (re)write, and other mechanisms' credentials to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScramSteps {
    /// Write the desired mechanism's credential (missing, or the password changed).
    pub upsert: Option<ScramMechanism>,
    /// Delete these (a mechanism the user no longer uses, or every one of a TLS user).
    pub delete: Vec<ScramMechanism>,
}

/// What to do with the user's SCRAM credentials given what the broker holds and whether the
/// password Secret changed since the credential was written.
#[must_use]
pub fn scram_steps(
    desired: Option<ScramMechanism>,
    observed: &[ScramInfo],
    password_changed: bool,
) -> ScramSteps {
    let has = |m: ScramMechanism| observed.iter().any(|o| o.mechanism == m);
    ScramSteps {
        upsert: desired.filter(|m| password_changed || !has(*m)),
        delete: ScramMechanism::ALL
            .into_iter()
            .filter(|m| Some(*m) != desired && has(*m))
            .collect(),
    }
}

/// ACL changes: bindings to create and to delete so the principal has exactly `desired`.
#[must_use]
pub fn acl_diff(
    desired: &BTreeSet<AclBinding>,
    observed: &[AclBinding],
) -> (Vec<AclBinding>, Vec<AclBinding>) {
    let observed: BTreeSet<&AclBinding> = observed.iter().collect();
    let create = desired
        .iter()
        .filter(|a| !observed.contains(a))
        .cloned()
        .collect();
    let delete = observed
        .into_iter()
        .filter(|a| !desired.contains(*a))
        .cloned()
        .collect();
    (create, delete)
}

/// Quota changes on a user entity: keys to set, and managed keys ([`QUOTA_KEYS`]) to remove.
#[must_use]
pub fn quota_diff(
    desired: &BTreeMap<String, f64>,
    observed: &BTreeMap<String, f64>,
) -> (BTreeMap<String, f64>, Vec<String>) {
    quota_diff_of(desired, observed, &QUOTA_KEYS)
}

/// Quota changes on an entity when only `managed` keys are ours: keys to set (desired and
/// different), and managed keys to remove (observed, no longer desired). Shared with the
/// cluster's default-user quotas (`cluster::quotas`).
#[must_use]
pub fn quota_diff_of(
    desired: &BTreeMap<String, f64>,
    observed: &BTreeMap<String, f64>,
    managed: &[&str],
) -> (BTreeMap<String, f64>, Vec<String>) {
    let set = desired
        .iter()
        .filter(|(k, v)| {
            observed
                .get(*k)
                .is_none_or(|o| (o - *v).abs() > f64::EPSILON)
        })
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let remove = observed
        .keys()
        .filter(|k| managed.contains(&k.as_str()) && !desired.contains_key(*k))
        .cloned()
        .collect();
    (set, remove)
}

#[cfg(test)]
mod tests;
