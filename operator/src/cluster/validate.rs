//! Validate step of the KafkaCluster reconcile (pure): semantic checks the schema cannot express.
//!
//! `Invalid` findings stop the build (nothing is applied, Ready=False/InvalidSpec); `Warning`
//! findings are reported in the Warning condition while the operator carries on.
use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource as _;

use crate::crd::{
    AuthenticationType, BROKER_CONFIG_KEYS, CaSpec, KNOWN_VERSIONS, KafkaCluster, KafkaClusterSpec,
    RESERVED_CONFIG_KEYS, reason,
};
use crate::quantity;

use crate::cluster::build::Names;
use crate::cluster::build::quorum::CONTROLLER_PORT;

/// Port of the operator-owned `replication` listener of secure clusters (inter-broker traffic
/// and the operator's admin connections); reserved in every cluster.
pub const REPLICATION_PORT: i32 = 9091;
/// Name of that listener (`REPLICATION` to the broker).
pub const REPLICATION_LISTENER: &str = "replication";

/// The broker's admin HTTP port; no listener may take it.
pub const ADMIN_PORT: i32 = 9600;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Reported; reconciliation continues.
    Warning,
    /// Reconciliation refuses to build anything from this spec.
    Invalid,
}

/// One problem found in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Warning or Invalid.
    pub severity: Severity,
    /// Machine-readable reason (one of [`crate::crd::reason`]).
    pub reason: &'static str,
    /// What is wrong and what the operator does about it.
    pub message: String,
}

/// What the validate step needs to know about the world (fetched before).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Storage size already provisioned in the StatefulSet's claim template, if it exists.
    pub provisioned_storage: Option<String>,
    /// The data claims with what their StorageClass allows.
    pub claims: Vec<super::storage::ClaimView>,
}

/// The outcome of validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validation {
    /// Every finding, in check order.
    pub findings: Vec<Finding>,
    /// The storage size to build with: the spec's, unless that would shrink provisioned storage.
    pub effective_storage: String,
}

impl Validation {
    /// Findings of `severity`.
    pub fn with_severity(&self, severity: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity == severity)
    }

    /// Whether the spec can be built.
    #[must_use]
    pub fn is_buildable(&self) -> bool {
        self.with_severity(Severity::Invalid).next().is_none()
    }
}

/// A KafkaCluster whose spec passed validation, with the identity and sizes the builders need.
/// Only [`ValidatedCluster::new`] makes one, so the build step never sees an invalid spec.
#[derive(Debug, Clone)]
pub struct ValidatedCluster<'a> {
    /// The validated spec.
    pub spec: &'a KafkaClusterSpec,
    /// The cluster's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Controller owner reference to put on every object.
    pub owner: OwnerReference,
    /// Size of the claim template: the provisioned one (the template is immutable), else the
    /// effective size.
    pub template_storage: String,
    /// The storage size claims should have (never a shrink).
    pub effective_storage: String,
}

/// Why a spec that validated still cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("building objects: KafkaCluster has no {0}")]
pub struct MissingMetadata(pub &'static str);

impl<'a> ValidatedCluster<'a> {
    /// `Ok(None)` when `validation` found the spec invalid.
    ///
    /// # Errors
    /// [`MissingMetadata`] when name, namespace or uid is missing (the resource was not read
    /// from the API server).
    pub fn new(
        cluster: &'a KafkaCluster,
        validation: &Validation,
        observed: &Observed,
    ) -> Result<Option<Self>, MissingMetadata> {
        if !validation.is_buildable() {
            return Ok(None);
        }
        let name = cluster
            .metadata
            .name
            .clone()
            .ok_or(MissingMetadata("name"))?;
        let namespace = cluster
            .metadata
            .namespace
            .clone()
            .ok_or(MissingMetadata("namespace"))?;
        let owner = cluster
            .controller_owner_ref(&())
            .ok_or(MissingMetadata("uid"))?;
        Ok(Some(Self {
            spec: &cluster.spec,
            name,
            namespace,
            owner,
            template_storage: observed
                .provisioned_storage
                .clone()
                .unwrap_or_else(|| validation.effective_storage.clone()),
            effective_storage: validation.effective_storage.clone(),
        }))
    }
}

/// Checks a certificate authority's spec: a user-supplied Secret must be named, and not be one
/// of the Secrets the operator writes.
fn check_ca(
    field: &str,
    ca: Option<&CaSpec>,
    names: Option<&Names>,
    push: &mut impl FnMut(Severity, &'static str, String),
) {
    let Some(ca) = ca else { return };
    let mut invalid = |message: String| push(Severity::Invalid, reason::INVALID_SPEC, message);
    match ca.secret_name.as_deref().map(str::trim) {
        Some("") => invalid(format!("{field}.secretName is empty")),
        None if !ca.generate_certificate_authority => invalid(format!(
            "{field}: generateCertificateAuthority is false but no secretName names the CA to use"
        )),
        Some(name) => {
            if let Some(names) = names
                && names.operator_secrets().contains(&name)
            {
                invalid(format!(
                    "{field}.secretName {name} is a Secret the operator writes; name the Secret \
                     holding your CA's ca.crt and ca.key"
                ));
            }
        }
        None => {}
    }
    if ca.validity_days < 1 || ca.renewal_days < 0 {
        invalid(format!(
            "{field}: validityDays must be at least 1 and renewalDays at least 0"
        ));
    } else if ca.renewal_days >= ca.validity_days {
        push(
            Severity::Warning,
            reason::RENEWAL_WINDOW,
            format!(
                "{field}: renewalDays {} is not below validityDays {}: certificates are renewed \
                 on every reconcile (meant for tests)",
                ca.renewal_days, ca.validity_days
            ),
        );
    }
}

/// Checks `spec` against what the broker supports and what already exists.
#[must_use]
pub fn validate(spec: &KafkaClusterSpec, observed: &Observed) -> Validation {
    validate_named(spec, None, observed)
}

/// [`validate`] knowing the cluster's object names (checks a user-supplied CA Secret's name
/// against the Secrets the operator writes).
#[must_use]
pub fn validate_named(
    spec: &KafkaClusterSpec,
    names: Option<&Names>,
    observed: &Observed,
) -> Validation {
    let mut findings = Vec::new();
    let mut push = |severity, reason, message: String| {
        findings.push(Finding {
            severity,
            reason,
            message,
        });
    };
    check_config(spec, &mut push);
    check_listeners(spec, &mut push);
    if !KNOWN_VERSIONS.contains(&spec.version.as_str()) {
        push(
            Severity::Warning,
            reason::UNKNOWN_VERSION,
            format!(
                "version {} is not one this operator knows ({}); running image {} anyway",
                spec.version,
                KNOWN_VERSIONS.join(", "),
                spec.broker_image()
            ),
        );
    }
    if spec.authorization.is_some()
        && spec
            .listeners
            .iter()
            .all(|l| l.authentication == AuthenticationType::None)
    {
        push(
            Severity::Warning,
            reason::NO_AUTHENTICATED_LISTENER,
            "authorization is on but no listener authenticates clients: every client is \
             User:ANONYMOUS and needs ACLs for that principal"
                .to_string(),
        );
    }
    if let Some(authz) = &spec.authorization {
        for u in &authz.super_users {
            let name = u.strip_prefix("User:").unwrap_or_default();
            if name.is_empty() || u.contains(';') || u.trim() != u {
                push(
                    Severity::Invalid,
                    reason::INVALID_SPEC,
                    format!(
                        "authorization.superUsers entry {u:?} is not a principal User:<name> \
                         (the brokers would refuse to start)"
                    ),
                );
            }
        }
    }
    check_ca("clusterCa", spec.cluster_ca.as_ref(), names, &mut push);
    check_ca("clientsCa", spec.clients_ca.as_ref(), names, &mut push);
    if let Some(limits) = &spec.limits
        && (limits.producer_byte_rate.is_some() || limits.consumer_byte_rate.is_some())
    {
        push(
            Severity::Warning,
            reason::NOT_SUPPORTED,
            "byte-rate quotas in spec.limits are not enforced: the operator does not configure broker quotas yet"
                .to_string(),
        );
    }
    if let Some(rack) = &spec.rack {
        push(
            Severity::Warning,
            reason::NOT_SUPPORTED,
            format!(
                "brokers are spread over {} but do not learn their rack: the broker does not \
                 accept broker.rack yet",
                rack.topology_key
            ),
        );
    }
    let effective_storage = check_storage(spec, observed, &mut push);
    if let Some(message) = super::storage::refused_message(&effective_storage, &observed.claims) {
        push(
            Severity::Warning,
            reason::STORAGE_GROWTH_NOT_SUPPORTED,
            message,
        );
    }
    Validation {
        findings,
        effective_storage,
    }
}

fn check_config(spec: &KafkaClusterSpec, push: &mut impl FnMut(Severity, &'static str, String)) {
    for (key, value) in &spec.config {
        if RESERVED_CONFIG_KEYS.contains(&key.as_str()) {
            push(
                Severity::Invalid,
                reason::INVALID_SPEC,
                format!("config key {key} is set by the operator and cannot be overridden"),
            );
        } else if !BROKER_CONFIG_KEYS.contains(&key.as_str()) {
            push(
                Severity::Invalid,
                reason::INVALID_SPEC,
                format!(
                    "config key {key} is not supported by the broker (supported: {})",
                    BROKER_CONFIG_KEYS.join(", ")
                ),
            );
        } else if key == "auto.create.topics.enable" {
            if value != "true" && value != "false" {
                push(
                    Severity::Invalid,
                    reason::INVALID_SPEC,
                    format!("config {key}={value}: expected true or false"),
                );
            }
        } else if value.parse::<i64>().is_err() {
            push(
                Severity::Invalid,
                reason::INVALID_SPEC,
                format!("config {key}={value}: expected an integer"),
            );
        }
    }
    for key in ["default.replication.factor", "min.insync.replicas"] {
        if let Some(n) = spec.config.get(key).and_then(|v| v.parse::<i64>().ok())
            && n > i64::from(spec.brokers)
        {
            push(
                Severity::Warning,
                reason::REPLICATION_FACTOR_TOO_HIGH,
                format!(
                    "config {key}={n} exceeds the {} broker(s): topics relying on it cannot be \
                     created or written",
                    spec.brokers
                ),
            );
        }
    }
}

fn check_listeners(spec: &KafkaClusterSpec, push: &mut impl FnMut(Severity, &'static str, String)) {
    let mut names = BTreeSet::new();
    let mut ports = BTreeSet::new();
    for l in &spec.listeners {
        if !names.insert(l.name.as_str()) {
            push(
                Severity::Invalid,
                reason::INVALID_SPEC,
                format!("listener name {} is used twice", l.name),
            );
        }
        if l.port == ADMIN_PORT
            || l.port == CONTROLLER_PORT
            || l.port == REPLICATION_PORT
            || !ports.insert(l.port)
        {
            push(
                Severity::Invalid,
                reason::INVALID_SPEC,
                format!(
                    "listener {} port {} is taken (by another listener, the admin port \
                     {ADMIN_PORT}, the controller port {CONTROLLER_PORT} or the replication \
                     port {REPLICATION_PORT})",
                    l.name, l.port
                ),
            );
        }
        if matches!(
            l.name.as_str(),
            "admin" | "controller" | REPLICATION_LISTENER
        ) {
            push(
                Severity::Invalid,
                reason::INVALID_SPEC,
                format!("listener name {} is reserved for a broker port", l.name),
            );
        }
        if l.authentication == AuthenticationType::Tls && !l.tls {
            push(
                Severity::Invalid,
                reason::INVALID_SPEC,
                format!(
                    "listener {}: authentication tls needs tls: true (client certificates are \
                     part of the TLS handshake)",
                    l.name
                ),
            );
        }
    }
}

fn check_storage(
    spec: &KafkaClusterSpec,
    observed: &Observed,
    push: &mut impl FnMut(Severity, &'static str, String),
) -> String {
    let wanted = spec.storage.size.clone();
    let Some(current) = observed.provisioned_storage.clone() else {
        return wanted;
    };
    match (
        quantity::parse_bytes(&wanted),
        quantity::parse_bytes(&current),
    ) {
        (Ok(w), Ok(c)) if w < c => {
            push(
                Severity::Warning,
                reason::STORAGE_SHRINK,
                format!(
                    "storage size {wanted} is below the provisioned {current}; storage only grows, keeping {current}"
                ),
            );
            current
        }
        (Ok(_), Ok(_)) => wanted,
        (Err(e), _) | (_, Err(e)) => {
            push(Severity::Invalid, reason::INVALID_SPEC, e.to_string());
            current
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{AuthorizationSpec, AuthorizationType, ListenerSpec, PlanLimits};

    fn spec(brokers: i32) -> KafkaClusterSpec {
        serde_json::from_value(serde_json::json!({ "brokers": brokers })).expect("spec")
    }

    fn reasons(v: &Validation, s: Severity) -> Vec<&'static str> {
        v.with_severity(s).map(|f| f.reason).collect()
    }

    #[test]
    fn default_single_broker_is_clean() {
        let v = validate(&spec(1), &Observed::default());
        assert!(v.findings.is_empty(), "{:?}", v.findings);
        assert_eq!(v.effective_storage, "1Gi");
    }

    #[test]
    fn several_brokers_form_one_cluster_without_warnings() {
        let v = validate(&spec(3), &Observed::default());
        assert!(v.is_buildable());
        assert!(reasons(&v, Severity::Warning).is_empty());
    }

    #[test]
    fn listeners_cannot_take_the_controller_port_or_name() {
        let mut s = spec(1);
        s.listeners[0].port = 9095;
        assert_eq!(
            reasons(&validate(&s, &Observed::default()), Severity::Invalid),
            vec![reason::INVALID_SPEC]
        );
        let mut s = spec(1);
        s.listeners[0].name = "controller".into();
        assert!(!validate(&s, &Observed::default()).is_buildable());
    }

    #[test]
    fn replication_factor_above_broker_count_warns() {
        let mut s = spec(1);
        s.config
            .insert("default.replication.factor".into(), "3".into());
        let v = validate(&s, &Observed::default());
        assert!(v.is_buildable());
        assert_eq!(
            reasons(&v, Severity::Warning),
            vec![reason::REPLICATION_FACTOR_TOO_HIGH]
        );
    }

    #[test]
    fn unknown_version_warns_and_still_builds() {
        let mut s = spec(1);
        s.version = "9.9.9".into();
        let v = validate(&s, &Observed::default());
        assert!(v.is_buildable());
        assert_eq!(
            reasons(&v, Severity::Warning),
            vec![reason::UNKNOWN_VERSION]
        );
    }

    #[test]
    fn storage_shrink_keeps_provisioned_size() {
        let mut s = spec(1);
        s.storage.size = "5Gi".into();
        let mut observed = Observed {
            provisioned_storage: Some("10Gi".into()),
            claims: vec![crate::cluster::storage::ClaimView {
                name: "data-c-0".into(),
                class: Some("local".into()),
                requested: Some("10Gi".into()),
                capacity: Some("10Gi".into()),
                expandable: Some(false),
            }],
        };
        let v = validate(&s, &observed);
        assert_eq!(reasons(&v, Severity::Warning), vec![reason::STORAGE_SHRINK]);
        assert_eq!(v.effective_storage, "10Gi");
        s.storage.size = "20Gi".into();
        let v = validate(&s, &observed);
        assert_eq!(v.effective_storage, "20Gi");
        // Growth its class refuses is a warning; the cluster is still built.
        assert_eq!(
            reasons(&v, Severity::Warning),
            vec![reason::STORAGE_GROWTH_NOT_SUPPORTED]
        );
        assert!(v.is_buildable());
        observed.claims[0].expandable = Some(true);
        assert!(reasons(&validate(&s, &observed), Severity::Warning).is_empty());
    }

    #[test]
    fn unsupported_and_reserved_config_keys_are_invalid() {
        for key in ["listeners", "node.id", "ssl.keystore.location"] {
            let mut s = spec(1);
            s.config.insert(key.into(), "1".into());
            let v = validate(&s, &Observed::default());
            assert!(!v.is_buildable(), "{key}");
        }
        let mut s = spec(1);
        s.config.insert("log.retention.ms".into(), "a week".into());
        assert!(!validate(&s, &Observed::default()).is_buildable());
    }

    #[test]
    fn listener_clashes_and_unsupported_features_are_invalid() {
        let mut s = spec(1);
        s.listeners.push(ListenerSpec {
            port: 9600,
            ..ListenerSpec::default()
        });
        let v = validate(&s, &Observed::default());
        assert_eq!(reasons(&v, Severity::Invalid).len(), 2, "{:?}", v.findings);

        let mut s = spec(1);
        for t in [
            crate::crd::ListenerType::Nodeport,
            crate::crd::ListenerType::Loadbalancer,
        ] {
            s.listeners[0].type_ = t;
            assert!(validate(&s, &Observed::default()).is_buildable());
        }
    }

    fn secure_spec() -> KafkaClusterSpec {
        serde_json::from_value(serde_json::json!({
            "brokers": 3,
            "listeners": [
                {"name": "plain", "port": 9092},
                {"name": "mtls", "port": 9093, "tls": true, "authentication": "tls"},
                {"name": "scram", "port": 9094, "tls": true, "authentication": "scram-sha-512"},
                {"name": "old", "port": 9095, "authentication": "scram"},
            ],
            "authorization": {"type": "simple", "superUsers": ["User:admin"]},
        }))
        .expect("spec")
    }

    #[test]
    fn tls_scram_and_client_certificate_listeners_are_accepted() {
        let mut s = secure_spec();
        s.listeners.pop();
        let v = validate(&s, &Observed::default());
        assert!(v.findings.is_empty(), "{:?}", v.findings);
        assert_eq!(
            s.listeners[2].authentication,
            AuthenticationType::ScramSha512
        );
    }

    #[test]
    fn reserved_ports_names_and_tls_auth_without_tls_are_invalid() {
        // 9095 is the controller port; the old `scram` alias still parses.
        let s = secure_spec();
        assert_eq!(
            s.listeners[3].authentication,
            AuthenticationType::ScramSha512
        );
        assert!(!validate(&s, &Observed::default()).is_buildable());
        for (name, port) in [("repl", 9091), ("replication", 9096), ("adm", 9600)] {
            let mut s = spec(1);
            s.listeners[0].name = name.into();
            s.listeners[0].port = port;
            assert!(!validate(&s, &Observed::default()).is_buildable(), "{name}");
        }
        let mut s = spec(1);
        s.listeners[0].authentication = AuthenticationType::Tls;
        let v = validate(&s, &Observed::default());
        assert_eq!(reasons(&v, Severity::Invalid), vec![reason::INVALID_SPEC]);
        assert!(v.findings[0].message.contains("tls: true"));
        s.listeners[0].tls = true;
        assert!(validate(&s, &Observed::default()).is_buildable());
    }

    #[test]
    fn super_users_must_be_user_principals() {
        for (user, ok) in [
            ("User:admin", true),
            ("admin", false),
            ("User:", false),
            ("User:a;User:b", false),
            ("Group:ops", false),
        ] {
            let mut s = spec(1);
            s.listeners[0].authentication = AuthenticationType::ScramSha512;
            s.authorization = Some(AuthorizationSpec {
                type_: AuthorizationType::Simple,
                super_users: vec![user.into()],
            });
            assert_eq!(
                validate(&s, &Observed::default()).is_buildable(),
                ok,
                "{user}"
            );
        }
    }

    #[test]
    fn certificate_authorities_are_checked() {
        let names = Names::new("c");
        let check = |ca: serde_json::Value| {
            let mut s = spec(1);
            s.cluster_ca = Some(serde_json::from_value(ca).expect("ca"));
            validate_named(&s, Some(&names), &Observed::default())
        };
        assert!(check(serde_json::json!({})).findings.is_empty());
        assert!(!check(serde_json::json!({"secretName": ""})).is_buildable());
        assert!(!check(serde_json::json!({"generateCertificateAuthority": false})).is_buildable());
        assert!(!check(serde_json::json!({"secretName": "c-cluster-ca-cert"})).is_buildable());
        assert!(
            check(
                serde_json::json!({"secretName": "my-ca", "generateCertificateAuthority": false})
            )
            .findings
            .is_empty()
        );
        let v = check(serde_json::json!({"validityDays": 1, "renewalDays": 1}));
        assert!(v.is_buildable());
        assert_eq!(reasons(&v, Severity::Warning), vec![reason::RENEWAL_WINDOW]);
    }

    #[test]
    fn authorization_without_an_authenticating_listener_warns_quotas_warn() {
        let mut s = spec(1);
        s.authorization = Some(AuthorizationSpec {
            type_: AuthorizationType::Simple,
            super_users: vec![],
        });
        s.limits = Some(PlanLimits {
            producer_byte_rate: Some(1),
            ..PlanLimits::default()
        });
        let v = validate(&s, &Observed::default());
        assert!(v.is_buildable());
        assert_eq!(
            reasons(&v, Severity::Warning),
            vec![reason::NO_AUTHENTICATED_LISTENER, reason::NOT_SUPPORTED]
        );
    }
}
