//! Secure cluster shape (pure): when a KafkaCluster is secure, and the broker settings, paths
//! and container arguments a secure cluster's brokers get. Certificates themselves are planned
//! in [`super::certs`]; the builders call into this module.
use std::collections::BTreeMap;

use crate::cluster::build::Names;
use crate::cluster::validate::{REPLICATION_LISTENER, REPLICATION_PORT};
use crate::crd::{AuthenticationType, KafkaClusterSpec, ListenerSpec, SecurityProtocol};

/// SCRAM user of the operator's admin connections (a super user).
pub const OPERATOR_USER: &str = "eddy-operator";
/// SCRAM user brokers replicate with (a super user).
pub const BROKER_USER: &str = "eddy-broker";
/// `<cluster>-internal-users` key of the operator's password.
pub const OPERATOR_PASSWORD_KEY: &str = "operator-password";
/// `<cluster>-internal-users` key of the brokers' password.
pub const BROKER_PASSWORD_KEY: &str = "broker-password";
/// Mechanism of both internal users and of the replication listener.
pub const INTERNAL_MECHANISM: &str = "SCRAM-SHA-512";
/// Principal mapping: a client certificate `CN=alice,...` is `User:alice`, like SCRAM user
/// `alice`.
pub const PRINCIPAL_MAPPING_RULES: &str = "RULE:^CN=([^,]*).*$/$1/,DEFAULT";
/// Kafka's authorizer class, which the broker implements.
pub const AUTHORIZER_CLASS: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// Where the `<cluster>-broker-certs` Secret is mounted (`<pod>.pem` is a broker's keystore).
pub const BROKER_CERTS_MOUNT: &str = "/etc/eddy-tls/broker";
/// Where `<cluster>-cluster-ca-cert` is mounted (trust of replication and controller TLS).
pub const CLUSTER_CA_MOUNT: &str = "/etc/eddy-tls/cluster-ca";
/// Where `<cluster>-clients-ca-cert` is mounted (trust of `authentication: tls` listeners).
pub const CLIENTS_CA_MOUNT: &str = "/etc/eddy-tls/clients-ca";
/// The CA bundle's key in the `-cert` Secrets.
pub const CA_CERT_KEY: &str = "ca.crt";
/// The CA key's key in the CA Secrets.
pub const CA_KEY_KEY: &str = "ca.key";
/// Container env var with the operator user's password (from the internal-users Secret).
pub const OPERATOR_PASSWORD_ENV: &str = "EDDY_OPERATOR_PASSWORD";
/// Container env var with the broker user's password (from the internal-users Secret).
pub const BROKER_PASSWORD_ENV: &str = "EDDY_BROKER_PASSWORD";

/// Whether the cluster is secure: a TLS or authenticating listener, or authorization. Only a
/// secure cluster gets CAs, certificates, the replication listener and controller TLS; any
/// other cluster's objects stay as they were before security existed.
#[must_use]
pub fn is_secure(spec: &KafkaClusterSpec) -> bool {
    spec.authorization.is_some()
        || spec
            .listeners
            .iter()
            .any(|l| l.tls || l.authentication != AuthenticationType::None)
}

/// The operator-owned listener of a secure cluster: SASL_SSL with SCRAM-SHA-512 on 9091,
/// advertised by DNS name (its certificate's names are known before the pod has an IP).
#[must_use]
pub fn replication_listener() -> ListenerSpec {
    ListenerSpec {
        name: REPLICATION_LISTENER.to_string(),
        port: REPLICATION_PORT,
        type_: crate::crd::ListenerType::Internal,
        tls: true,
        authentication: AuthenticationType::ScramSha512,
        advertise: crate::crd::AdvertiseMode::Dns,
        configuration: None,
    }
}

/// The listeners the brokers run: the spec's, plus `replication` first in a secure cluster.
#[must_use]
pub fn broker_listeners(spec: &KafkaClusterSpec) -> Vec<ListenerSpec> {
    let mut all = Vec::with_capacity(spec.listeners.len() + 1);
    if is_secure(spec) {
        all.push(replication_listener());
    }
    all.extend(spec.listeners.iter().cloned());
    all
}

fn broker_name(l: &ListenerSpec) -> String {
    l.name.to_uppercase().replace('-', "_")
}

fn config_name(l: &ListenerSpec) -> String {
    broker_name(l).to_lowercase()
}

/// Broker settings of a secure cluster that go into server.properties (no secrets, no per-pod
/// paths: those are container arguments, see [`broker_args`]); empty for other clusters except
/// `max.connections`.
#[must_use]
pub fn broker_settings(spec: &KafkaClusterSpec) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(max) = spec.limits.as_ref().and_then(|l| l.max_connections) {
        out.insert("max.connections".to_string(), max.to_string());
    }
    if !is_secure(spec) {
        return out;
    }
    let listeners = broker_listeners(spec);
    let mut map: Vec<String> = listeners
        .iter()
        .map(|l| format!("{}:{}", broker_name(l), l.security_protocol().as_str()))
        .collect();
    map.push(format!("CONTROLLER:{}", SecurityProtocol::Ssl.as_str()));
    let mut set = |k: String, v: String| {
        out.insert(k, v);
    };
    set("listener.security.protocol.map".into(), map.join(","));
    set(
        "inter.broker.listener.name".into(),
        broker_name(&replication_listener()),
    );
    set(
        "sasl.mechanism.inter.broker.protocol".into(),
        INTERNAL_MECHANISM.into(),
    );
    set("sasl.enabled.mechanisms".into(), INTERNAL_MECHANISM.into());
    // Replication, controller and SSL listeners trust the cluster CA; `tls` listeners override.
    set(
        "ssl.truststore.location".into(),
        format!("{CLUSTER_CA_MOUNT}/{CA_CERT_KEY}"),
    );
    set(
        "ssl.principal.mapping.rules".into(),
        PRINCIPAL_MAPPING_RULES.into(),
    );
    set("controller.ssl.enabled".into(), "true".into());
    set(
        "listener.name.controller.ssl.client.auth".into(),
        "required".into(),
    );
    for l in &listeners {
        let name = config_name(l);
        // Client SCRAM listeners take both SCRAM mechanisms (SCRAM-SHA-256 users too); the
        // replication listener only the brokers' and operator's own.
        let mechanisms = if l.name == REPLICATION_LISTENER {
            l.authentication.sasl_mechanisms().get(..1).unwrap_or(&[])
        } else {
            l.authentication.sasl_mechanisms()
        };
        if !mechanisms.is_empty() {
            set(
                format!("listener.name.{name}.sasl.enabled.mechanisms"),
                mechanisms.join(","),
            );
        }
        if l.authentication == AuthenticationType::Tls {
            set(
                format!("listener.name.{name}.ssl.client.auth"),
                "required".into(),
            );
            set(
                format!("listener.name.{name}.ssl.truststore.location"),
                format!("{CLIENTS_CA_MOUNT}/{CA_CERT_KEY}"),
            );
        }
    }
    if let Some(authz) = &spec.authorization {
        set("authorizer.class.name".into(), AUTHORIZER_CLASS.into());
        let mut supers = vec![
            format!("User:{OPERATOR_USER}"),
            format!("User:{BROKER_USER}"),
        ];
        for u in &authz.super_users {
            if !supers.contains(u) {
                supers.push(u.clone());
            }
        }
        set("super.users".into(), supers.join(";"));
    }
    out
}

/// Container arguments of a secure cluster's brokers: the per-pod keystore, the internal SCRAM
/// users and the inter-broker login. Passwords appear only as `$(VAR)` references to env vars
/// filled from the internal-users Secret; the kubelet expands them.
#[must_use]
pub fn broker_args(spec: &KafkaClusterSpec) -> Vec<String> {
    if !is_secure(spec) {
        return Vec::new();
    }
    let replication = config_name(&replication_listener());
    let mechanism = INTERNAL_MECHANISM.to_lowercase();
    vec![
        "--set".into(),
        format!("ssl.keystore.location={BROKER_CERTS_MOUNT}/$(POD_NAME).pem"),
        "--add-scram".into(),
        format!("{INTERNAL_MECHANISM}=[name={OPERATOR_USER},password=$({OPERATOR_PASSWORD_ENV})]"),
        "--add-scram".into(),
        format!("{INTERNAL_MECHANISM}=[name={BROKER_USER},password=$({BROKER_PASSWORD_ENV})]"),
        "--set".into(),
        format!(
            "listener.name.{replication}.{mechanism}.sasl.jaas.config=\
             org.apache.kafka.common.security.scram.ScramLoginModule required \
             username=\"{BROKER_USER}\" password=\"$({BROKER_PASSWORD_ENV})\";"
        ),
    ]
}

/// DNS names a broker's certificate carries: its pod names under the headless Service and the
/// bootstrap Service's names.
#[must_use]
pub fn broker_dns_names(names: &Names, namespace: &str, ordinal: i32) -> Vec<String> {
    let pod = names.pod(ordinal);
    let headless = &names.headless_service;
    let bootstrap = &names.bootstrap_service;
    vec![
        format!("{pod}.{headless}.{namespace}.svc.cluster.local"),
        format!("{pod}.{headless}.{namespace}.svc"),
        format!("{pod}.{headless}"),
        format!("{bootstrap}.{namespace}.svc.cluster.local"),
        format!("{bootstrap}.{namespace}.svc"),
        format!("{bootstrap}.{namespace}"),
        bootstrap.clone(),
    ]
}

/// The external addresses broker `ordinal` advertises, for its certificate: on `nodeport`
/// listeners its `advertisedHost` override, else the address of its Node (`host_ip`, once the
/// pod is scheduled); on `loadbalancer` listeners the override, else its Service's load
/// balancer address (`exposed`). DNS names and IP addresses apart.
#[must_use]
pub fn external_addresses(
    spec: &KafkaClusterSpec,
    names: &Names,
    ordinal: i32,
    host_ip: Option<&str>,
    exposed: &std::collections::BTreeMap<
        String,
        crate::cluster::build::external_services::Exposure,
    >,
) -> (Vec<String>, Vec<std::net::IpAddr>) {
    let (mut dns, mut ips) = (Vec::new(), Vec::new());
    for l in spec
        .listeners
        .iter()
        .filter(|l| l.type_ != crate::crd::ListenerType::Internal)
    {
        let exposure = exposed
            .get(&names.node_port_service(ordinal, &l.name))
            .cloned()
            .unwrap_or_default();
        let Some((host, _)) = crate::cluster::build::external_services::external_address(
            l,
            Some(&exposure),
            Some(ordinal),
            host_ip,
        )
        .or_else(|| {
            // A node port not yet known still has a known host.
            (l.type_ == crate::crd::ListenerType::Nodeport)
                .then(|| l.advertised_host(ordinal).or(host_ip))
                .flatten()
                .map(|h| (h.to_string(), 0))
        }) else {
            continue;
        };
        match host.parse::<std::net::IpAddr>() {
            Ok(ip) if !ips.contains(&ip) => ips.push(ip),
            Ok(_) => {}
            Err(_) if !dns.contains(&host) => dns.push(host),
            Err(_) => {}
        }
    }
    (dns, ips)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_port_brokers_name_their_node_or_their_override() {
        let s = spec(serde_json::json!({
            "brokers": 2,
            "listeners": [
                {"name": "internal", "port": 9092},
                {"name": "ext", "port": 9094, "type": "nodeport", "configuration": {"brokers": [
                    {"broker": 1, "advertisedHost": "kafka-1.example.com"}]}},
                {"name": "ext2", "port": 9095, "type": "nodeport"},
            ],
        }));
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        let n = Names::new("c");
        let none = std::collections::BTreeMap::new();
        assert_eq!(
            external_addresses(&s, &n, 0, Some("10.1.2.3"), &none),
            (vec![], vec![ip("10.1.2.3")])
        );
        assert_eq!(
            external_addresses(&s, &n, 1, Some("10.1.2.3"), &none),
            (
                vec!["kafka-1.example.com".to_string()],
                vec![ip("10.1.2.3")]
            )
        );
        assert_eq!(external_addresses(&s, &n, 0, None, &none), (vec![], vec![]));
        let lb = spec(serde_json::json!({
            "brokers": 1,
            "listeners": [{"name": "lb", "port": 9094, "type": "loadbalancer"}],
        }));
        let exposed = std::collections::BTreeMap::from([(
            "c-broker-0-lb".to_string(),
            crate::cluster::build::external_services::Exposure {
                node_port: Some(30001),
                ingress: Some("lb-0.example.com".into()),
            },
        )]);
        assert_eq!(
            external_addresses(&lb, &n, 0, Some("10.1.2.3"), &exposed),
            (vec!["lb-0.example.com".to_string()], vec![]),
            "a load balancer's address, not the Node's"
        );
        assert_eq!(
            external_addresses(&lb, &n, 0, Some("10.1.2.3"), &none),
            (vec![], vec![])
        );
        assert_eq!(
            external_addresses(&secure(), &n, 0, Some("10.1.2.3"), &none),
            (vec![], vec![]),
            "no nodeport listener, no external address"
        );
    }

    fn spec(v: serde_json::Value) -> KafkaClusterSpec {
        serde_json::from_value(v).expect("spec")
    }

    fn secure() -> KafkaClusterSpec {
        spec(serde_json::json!({
            "brokers": 3,
            "listeners": [
                {"name": "plain", "port": 9092},
                {"name": "mtls", "port": 9093, "tls": true, "authentication": "tls"},
                {"name": "sasl-tls", "port": 9094, "tls": true, "authentication": "scram-sha-512"},
            ],
            "authorization": {"type": "simple", "superUsers": ["User:admin"]},
            "limits": {"maxConnections": 100},
        }))
    }

    #[test]
    fn a_plaintext_cluster_gets_nothing_new() {
        let s = spec(serde_json::json!({"brokers": 3}));
        assert!(!is_secure(&s));
        assert!(broker_settings(&s).is_empty());
        assert!(broker_args(&s).is_empty());
        assert_eq!(broker_listeners(&s), s.listeners);
    }

    #[test]
    fn any_tls_authentication_or_authorization_makes_a_cluster_secure() {
        for v in [
            serde_json::json!({"brokers": 1, "listeners": [{"name": "a", "port": 9093, "tls": true}]}),
            serde_json::json!({"brokers": 1, "listeners": [{"name": "a", "port": 9094, "authentication": "scram-sha-256"}]}),
            serde_json::json!({"brokers": 1, "authorization": {"type": "simple"}}),
        ] {
            assert!(is_secure(&spec(v)));
        }
    }

    #[test]
    fn secure_settings_map_every_listener_and_lock_down_replication_and_the_quorum() {
        let s = broker_settings(&secure());
        let get = |k: &str| s.get(k).map(String::as_str);
        assert_eq!(
            get("listener.security.protocol.map"),
            Some("REPLICATION:SASL_SSL,PLAIN:PLAINTEXT,MTLS:SSL,SASL_TLS:SASL_SSL,CONTROLLER:SSL")
        );
        assert_eq!(get("inter.broker.listener.name"), Some("REPLICATION"));
        assert_eq!(
            get("sasl.mechanism.inter.broker.protocol"),
            Some("SCRAM-SHA-512")
        );
        assert_eq!(
            get("listener.name.replication.sasl.enabled.mechanisms"),
            Some("SCRAM-SHA-512")
        );
        assert_eq!(
            get("listener.name.sasl_tls.sasl.enabled.mechanisms"),
            Some("SCRAM-SHA-512,SCRAM-SHA-256")
        );
        assert_eq!(get("listener.name.mtls.ssl.client.auth"), Some("required"));
        assert_eq!(
            get("listener.name.mtls.ssl.truststore.location"),
            Some("/etc/eddy-tls/clients-ca/ca.crt")
        );
        assert_eq!(
            get("ssl.truststore.location"),
            Some("/etc/eddy-tls/cluster-ca/ca.crt")
        );
        assert_eq!(get("controller.ssl.enabled"), Some("true"));
        assert_eq!(
            get("listener.name.controller.ssl.client.auth"),
            Some("required")
        );
        assert_eq!(
            get("ssl.principal.mapping.rules"),
            Some(PRINCIPAL_MAPPING_RULES)
        );
        assert_eq!(get("authorizer.class.name"), Some(AUTHORIZER_CLASS));
        assert_eq!(
            get("super.users"),
            Some("User:eddy-operator;User:eddy-broker;User:admin")
        );
        assert_eq!(get("max.connections"), Some("100"));
        assert!(
            s.values().all(|v| !v.contains("password")),
            "no secret in the ConfigMap: {s:?}"
        );
    }

    #[test]
    fn args_reference_passwords_through_env_only() {
        let args = broker_args(&secure());
        assert!(
            args.contains(
                &"ssl.keystore.location=/etc/eddy-tls/broker/$(POD_NAME).pem".to_string()
            )
        );
        assert!(args.contains(
            &"SCRAM-SHA-512=[name=eddy-operator,password=$(EDDY_OPERATOR_PASSWORD)]".to_string()
        ));
        assert!(args.iter().any(|a| a.starts_with(
            "listener.name.replication.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"eddy-broker\" password=\"$(EDDY_BROKER_PASSWORD)\";"
        )));
    }

    #[test]
    fn broker_names_cover_pod_and_bootstrap_dns() {
        let names = broker_dns_names(&Names::new("c"), "kafka", 2);
        assert!(names.contains(&"c-broker-2.c-brokers.kafka.svc".to_string()));
        assert!(names.contains(&"c-broker-2.c-brokers.kafka.svc.cluster.local".to_string()));
        assert!(names.contains(&"c-bootstrap.kafka.svc".to_string()));
    }
}
