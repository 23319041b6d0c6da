//! The table of every config key the broker understands: topic keys with their broker-level
//! synonyms and defaults, plus broker-only keys. DescribeConfigs, AlterConfigs, CreateTopics and
//! the properties file all validate against this one table.

use super::ConfigError;

pub use super::key::{BrokerKey, ConfigType, TopicKey};
pub use super::topic_keys::TOPIC_KEYS;

pub const BROKER_KEYS: &[BrokerKey] = &[
    BrokerKey {
        name: "sasl.enabled.mechanisms",
        default: crate::security::sasl::DEFAULT_MECHANISMS,
        ty: ConfigType::List,
        dynamic: false,
        doc: "SASL mechanisms of SASL_PLAINTEXT/SASL_SSL listeners (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; Kafka's default is GSSAPI, which Eddy does not have). Per listener: listener.name.<listener>.sasl.enabled.mechanisms.",
    },
    BrokerKey {
        name: "connections.max.reauth.ms",
        default: "0",
        ty: ConfigType::Long,
        dynamic: false,
        doc: "SASL session lifetime (KIP-368): clients re-authenticate before it ends, or their next request closes the connection; 0 = sessions never expire.",
    },
    BrokerKey {
        name: "connection.failed.authentication.delay.ms",
        default: "100",
        ty: ConfigType::Int,
        dynamic: false,
        doc: "How long after a failed SASL authentication the connection is closed.",
    },
    BrokerKey {
        name: "sasl.authentication.timeout.ms",
        default: "10000",
        ty: ConfigType::Long,
        dynamic: false,
        doc: "Eddy: a client that has not authenticated on a SASL listener this long after connecting is disconnected.",
    },
    BrokerKey {
        name: "authorizer.class.name",
        default: "",
        ty: ConfigType::Class,
        dynamic: false,
        doc: "The ACL authorizer: org.apache.kafka.metadata.authorizer.StandardAuthorizer (or kafka.security.authorizer.AclAuthorizer, same rules) turns ACL checks on; empty allows everything.",
    },
    BrokerKey {
        name: "super.users",
        default: "",
        ty: ConfigType::String,
        dynamic: false,
        doc: "Principals allowed everything by the authorizer, ';'-separated (User:admin;User:ops).",
    },
    BrokerKey {
        name: "allow.everyone.if.no.acl.found",
        default: "false",
        ty: ConfigType::Boolean,
        dynamic: false,
        doc: "With the authorizer on: whether a resource that no ACL matches is open to everyone.",
    },
    BrokerKey {
        name: "listener.security.protocol.map",
        default: crate::security::DEFAULT_PROTOCOL_MAP,
        ty: ConfigType::String,
        dynamic: false,
        doc: "Listener name to security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), NAME:PROTOCOL comma-separated.",
    },
    BrokerKey {
        name: "ssl.keystore.type",
        default: crate::security::tls::settings::DEFAULT_STORE_TYPE,
        ty: ConfigType::String,
        dynamic: false,
        doc: "Key store format. Only PEM is read (JKS and PKCS12 are refused at start); the default is PEM (Kafka's is JKS).",
    },
    BrokerKey {
        name: "ssl.keystore.location",
        default: "",
        ty: ConfigType::String,
        dynamic: false,
        doc: "PEM file with the listener's private key (unencrypted PKCS#8, PKCS#1 or SEC1) and its certificate chain; re-read when it changes.",
    },
    BrokerKey {
        name: "ssl.keystore.certificate.chain",
        default: "",
        ty: ConfigType::Password,
        dynamic: false,
        doc: "The certificate chain in PEM, inline (instead of ssl.keystore.location).",
    },
    BrokerKey {
        name: "ssl.keystore.key",
        default: "",
        ty: ConfigType::Password,
        dynamic: false,
        doc: "The unencrypted private key in PEM, inline (instead of ssl.keystore.location).",
    },
    BrokerKey {
        name: "ssl.keystore.password",
        default: "",
        ty: ConfigType::Password,
        dynamic: false,
        doc: "Not supported: PEM key stores have no store password (refused at start).",
    },
    BrokerKey {
        name: "ssl.key.password",
        default: "",
        ty: ConfigType::Password,
        dynamic: false,
        doc: "Not supported: encrypted private keys are refused at start; give an unencrypted PEM key.",
    },
    BrokerKey {
        name: "ssl.truststore.type",
        default: crate::security::tls::settings::DEFAULT_STORE_TYPE,
        ty: ConfigType::String,
        dynamic: false,
        doc: "Trust store format. Only PEM is read.",
    },
    BrokerKey {
        name: "ssl.truststore.location",
        default: "",
        ty: ConfigType::String,
        dynamic: false,
        doc: "PEM file with the CA certificates that verify client certificates (and, for inter-broker TLS, other brokers); re-read when it changes.",
    },
    BrokerKey {
        name: "ssl.truststore.certificates",
        default: "",
        ty: ConfigType::Password,
        dynamic: false,
        doc: "The trusted CA certificates in PEM, inline (instead of ssl.truststore.location).",
    },
    BrokerKey {
        name: "ssl.truststore.password",
        default: "",
        ty: ConfigType::Password,
        dynamic: false,
        doc: "Not supported: PEM trust stores have no password (refused at start).",
    },
    BrokerKey {
        name: "ssl.client.auth",
        default: crate::security::tls::settings::DEFAULT_CLIENT_AUTH,
        ty: ConfigType::String,
        dynamic: false,
        doc: "Client certificates: none, requested (verified if given; the principal is the certificate's subject) or required.",
    },
    BrokerKey {
        name: "ssl.enabled.protocols",
        default: crate::security::tls::settings::DEFAULT_ENABLED_PROTOCOLS,
        ty: ConfigType::List,
        dynamic: false,
        doc: "TLS versions offered: TLSv1.2 and/or TLSv1.3 (older versions are never enabled).",
    },
    BrokerKey {
        name: "ssl.protocol",
        default: "TLSv1.3",
        ty: ConfigType::String,
        dynamic: false,
        doc: "Accepted for compatibility; the version is negotiated within ssl.enabled.protocols.",
    },
    BrokerKey {
        name: "ssl.cipher.suites",
        default: "",
        ty: ConfigType::List,
        dynamic: false,
        doc: "Cipher suites by their IANA/Java names (TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...); empty enables every suite of the ring provider.",
    },
    BrokerKey {
        name: "ssl.principal.mapping.rules",
        default: crate::security::tls::mapping::DEFAULT_RULES,
        ty: ConfigType::String,
        dynamic: false,
        doc: "Rules mapping a client certificate's subject (RFC 2253) to the principal name: RULE:pattern/replacement/[LU],...,DEFAULT as in Kafka.",
    },
    BrokerKey {
        name: "ssl.endpoint.identification.algorithm",
        default: crate::security::tls::settings::DEFAULT_ENDPOINT_IDENTIFICATION,
        ty: ConfigType::String,
        dynamic: false,
        doc: "Inter-broker TLS client: https verifies the other broker's host name against its certificate; empty verifies the chain only.",
    },
    BrokerKey {
        name: "ssl.handshake.timeout.ms",
        default: crate::security::tls::settings::DEFAULT_HANDSHAKE_TIMEOUT_MS,
        ty: ConfigType::Long,
        dynamic: false,
        doc: "Eddy: a TLS handshake not finished within this time closes that connection (logged).",
    },
    BrokerKey {
        name: "ssl.reload.interval.ms",
        default: crate::security::tls::settings::DEFAULT_RELOAD_INTERVAL_MS,
        ty: ConfigType::Long,
        dynamic: false,
        doc: "Eddy: how often the key and trust store files are checked for changes; changed, valid files are used by new handshakes without a restart.",
    },
    BrokerKey {
        name: "controller.ssl.enabled",
        default: "false",
        ty: ConfigType::Boolean,
        dynamic: false,
        doc: "Cluster mode: the controller (Raft) transport runs over TLS with the CONTROLLER listener's ssl.* settings (listener.name.controller.ssl.* overrides); set listener.name.controller.ssl.client.auth=required so only certificates of the trust store's CA join. Every voter must agree.",
    },
    BrokerKey {
        name: "sasl.mechanism.inter.broker.protocol",
        default: crate::security::sasl::client::DEFAULT_INTER_BROKER_MECHANISM,
        ty: ConfigType::String,
        dynamic: false,
        doc: "Cluster mode: the SASL mechanism brokers authenticate to each other with when the inter-broker listener is SASL_PLAINTEXT/SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; Kafka's default GSSAPI is refused at start). The credentials are the username/password of listener.name.<listener>.<mechanism-lowercase>.sasl.jaas.config.",
    },
    BrokerKey {
        name: "controller.listener.names",
        default: "",
        ty: ConfigType::List,
        dynamic: false,
        doc: "Cluster mode: the listener whose protocol secures the controller (Raft) transport (the first name counts). SSL in listener.security.protocol.map: TLS with that listener's ssl.* settings (listener.name.<name>.ssl.* overrides); PLAINTEXT: no TLS; SASL protocols are refused at start (the Raft transport has no SASL). Unset: controller.ssl.enabled decides.",
    },
    BrokerKey {
        name: "admin.ssl.enabled",
        default: "false",
        ty: ConfigType::Boolean,
        dynamic: false,
        doc: "Eddy: the admin HTTP server (--admin-addr: /readyz, /metrics, ...) speaks HTTPS only, with the ADMIN listener's ssl.* settings (listener.name.admin.ssl.* overrides the broker-wide ssl.*; listener.name.admin.ssl.client.auth=required asks for client certificates). Rotated certificate files are picked up like a listener's. Plain HTTP connections are closed.",
    },
    BrokerKey {
        name: "inter.broker.listener.name",
        default: "",
        ty: ConfigType::String,
        dynamic: false,
        doc: "Cluster mode: the listener other brokers replicate from (its advertised address is the registered one); empty means the first listener. Over TLS when it maps to SSL.",
    },
    BrokerKey {
        name: "leader.replication.throttled.rate",
        default: "9223372036854775807",
        ty: ConfigType::Long,
        dynamic: true,
        doc: "Bytes per second this broker sends to out-of-sync followers of the replicas listed in leader.replication.throttled.replicas.",
    },
    BrokerKey {
        name: "follower.replication.throttled.rate",
        default: "9223372036854775807",
        ty: ConfigType::Long,
        dynamic: true,
        doc: "Bytes per second this broker fetches for its out-of-sync replicas listed in follower.replication.throttled.replicas.",
    },
    BrokerKey {
        name: "num.partitions",
        default: "1",
        ty: ConfigType::Int,
        dynamic: true,
        doc: "Partitions of auto-created topics and of CreateTopics without a count.",
    },
    BrokerKey {
        name: "default.replication.factor",
        default: "1",
        ty: ConfigType::Short,
        dynamic: true,
        doc: "Replication factor of auto-created topics.",
    },
    BrokerKey {
        name: "delete.topic.enable",
        default: "true",
        ty: ConfigType::Boolean,
        dynamic: false,
        doc: "false refuses every DeleteTopics with TOPIC_DELETION_DISABLED (INVALID_REQUEST before v3), as Kafka does.",
    },
    BrokerKey {
        name: "auto.create.topics.enable",
        default: "true",
        ty: ConfigType::Boolean,
        dynamic: true,
        doc: "Create unknown topics on Metadata and Produce requests.",
    },
    BrokerKey {
        name: "broker.rack",
        default: "",
        ty: ConfigType::String,
        dynamic: false,
        doc: "Rack of this broker.",
    },
    BrokerKey {
        name: "replica.lag.time.max.ms",
        default: "10000",
        ty: ConfigType::Long,
        dynamic: false,
        doc: "Cluster mode: a follower that has not caught up with the leader for this long leaves the ISR.",
    },
    BrokerKey {
        name: "log.retention.check.interval.ms",
        default: "300000",
        ty: ConfigType::Long,
        dynamic: false,
        doc: "How often the retention task runs.",
    },
    BrokerKey {
        name: "offsets.topic.num.partitions",
        default: "1",
        ty: ConfigType::Int,
        dynamic: false,
        doc: "Partitions of the internal __consumer_offsets log.",
    },
    BrokerKey {
        name: "transaction.state.log.num.partitions",
        default: "1",
        ty: ConfigType::Int,
        dynamic: false,
        doc: "Partitions of the internal __transaction_state log (in cluster mode each partition's leader coordinates its transactional ids).",
    },
    BrokerKey {
        name: "offsets.topic.replication.factor",
        default: "3",
        ty: ConfigType::Short,
        dynamic: false,
        doc: "Cluster mode: replication factor of __consumer_offsets, capped at the expected cluster size (the larger of the controller voter count and the registered brokers) with a warning.",
    },
    BrokerKey {
        name: "group.initial.rebalance.delay.ms",
        default: "3000",
        ty: ConfigType::Int,
        dynamic: false,
        doc: "Delay of the first rebalance of an empty group, to let more members join.",
    },
    BrokerKey {
        name: "group.consumer.session.timeout.ms",
        default: "45000",
        ty: ConfigType::Int,
        dynamic: false,
        doc: "KIP-848 consumer groups (group.protocol=consumer): a member whose heartbeats stop for this long is removed and its partitions go to the others.",
    },
    BrokerKey {
        name: "group.consumer.heartbeat.interval.ms",
        default: "5000",
        ty: ConfigType::Int,
        dynamic: false,
        doc: "KIP-848 consumer groups: how often members heartbeat (told to them in every ConsumerGroupHeartbeat response).",
    },
    BrokerKey {
        name: "group.consumer.migration.policy",
        default: "bidirectional",
        ty: ConfigType::String,
        dynamic: false,
        doc: "KIP-848 online migration: whether a classic group of the consumer protocol becomes a consumer group when a group.protocol=consumer member joins (upgrade, its classic members stay and are assigned by the server), and a consumer group whose last consumer-protocol member left becomes a classic group again (downgrade). One of bidirectional, upgrade, downgrade, disabled.",
    },
    BrokerKey {
        name: "group.consumer.max.size",
        default: "2147483647",
        ty: ConfigType::Int,
        dynamic: false,
        doc: "KIP-848 consumer groups: the most members a group may have (GROUP_MAX_SIZE_REACHED beyond).",
    },
    BrokerKey {
        name: "group.min.session.timeout.ms",
        default: "6000",
        ty: ConfigType::Int,
        dynamic: false,
        doc: "Smallest session timeout a member may ask for.",
    },
    BrokerKey {
        name: "group.max.session.timeout.ms",
        default: "1800000",
        ty: ConfigType::Int,
        dynamic: false,
        doc: "Largest session timeout a member may ask for.",
    },
    BrokerKey {
        name: "offsets.retention.minutes",
        default: "10080",
        ty: ConfigType::Int,
        dynamic: false,
        doc: "How long committed offsets of an empty group are kept.",
    },
    // Automatic preferred-leader balancing (cluster/leader_balance.rs), Kafka's keys.
    BrokerKey {
        name: "auto.leader.rebalance.enable",
        default: "true",
        ty: ConfigType::Boolean,
        dynamic: false,
        doc: "The active controller hands partitions back to their preferred (first) replica when that broker is in sync and its share of preferred partitions led by others exceeds leader.imbalance.per.broker.percentage.",
    },
    BrokerKey {
        name: "leader.imbalance.per.broker.percentage",
        default: "10",
        ty: ConfigType::Int,
        dynamic: false,
        doc: "The share (percent) of a broker's preferred partitions it may fail to lead before the controller moves leaders back to it.",
    },
    BrokerKey {
        name: "leader.imbalance.check.interval.seconds",
        default: "300",
        ty: ConfigType::Long,
        dynamic: false,
        doc: "How often the active controller checks the leader imbalance.",
    },
    // Client quotas and connection limits (security/quota).
    BrokerKey {
        name: "quota.window.num",
        default: "11",
        ty: ConfigType::Int,
        dynamic: false,
        doc: "Samples a client quota's rate is measured over.",
    },
    BrokerKey {
        name: "quota.window.size.seconds",
        default: "1",
        ty: ConfigType::Int,
        dynamic: false,
        doc: "Length of each client-quota sample.",
    },
    BrokerKey {
        name: "max.connections",
        default: "2147483647",
        ty: ConfigType::Int,
        dynamic: true,
        doc: "Connections the broker serves at once (all listeners); at the limit it stops accepting until one closes.",
    },
    BrokerKey {
        name: "max.connections.per.ip",
        default: "2147483647",
        ty: ConfigType::Int,
        dynamic: true,
        doc: "Connections one IP address may have open; a new one over the limit is closed.",
    },
    BrokerKey {
        name: "max.connections.per.ip.overrides",
        default: "",
        ty: ConfigType::String,
        dynamic: true,
        doc: "Per-IP exceptions to max.connections.per.ip, as ip:limit,ip:limit.",
    },
    BrokerKey {
        name: "max.connection.creation.rate",
        default: "2147483647",
        ty: ConfigType::Int,
        dynamic: true,
        doc: "New connections per second the broker accepts; over it the acceptor waits the throttle time.",
    },
];

/// Whether `key` is a listener's connection limit (`listener.name.<listener>.max.connections`).
pub fn is_listener_max_connections(key: &str) -> bool {
    key.strip_prefix("listener.name.")
        .and_then(|k| k.strip_suffix(".max.connections"))
        .is_some_and(|l| !l.is_empty() && !l.contains('.'))
}

pub fn topic_key(name: &str) -> Option<&'static TopicKey> {
    TOPIC_KEYS.iter().find(|k| k.name == name)
}

pub fn broker_key(name: &str) -> Option<&'static BrokerKey> {
    broker_keys().find(|k| k.name == name)
}

/// Every broker-only key: those the broker uses, then the Kafka keys accepted that change
/// nothing yet (config/kafka_broker_keys.rs).
pub fn broker_keys() -> impl Iterator<Item = &'static BrokerKey> {
    BROKER_KEYS
        .iter()
        .chain(super::kafka_broker_keys::ACCEPTED_BROKER_KEYS)
}

/// The topic key whose broker-level synonym is `name`.
pub fn topic_key_by_synonym(name: &str) -> Option<&'static TopicKey> {
    TOPIC_KEYS
        .iter()
        .find(|k| !name.is_empty() && k.broker_synonym == name)
}

/// Default of a broker-level key (broker-only keys and topic synonyms).
pub fn broker_default(name: &str) -> &'static str {
    broker_key(name)
        .map(|k| k.default)
        .or_else(|| topic_key_by_synonym(name).map(|k| k.default))
        .unwrap_or("")
}

/// Kafka's `ConfigDef` type check and `ValidString`/`ValidList` membership, with Kafka's
/// messages (a list is checked item by item).
fn check_type(key: &str, value: &str, ty: ConfigType, allowed: &[&str]) -> Result<(), ConfigError> {
    let bad = |reason: &str| ConfigError::InvalidValue {
        key: key.into(),
        value: if ty == ConfigType::Password {
            "[hidden]".into()
        } else {
            value.into()
        },
        reason: reason.into(),
    };
    match ty {
        ConfigType::Boolean if value != "true" && value != "false" => {
            Err(bad("Expected value to be either true or false"))
        }
        ConfigType::Int if value.parse::<i32>().is_err() => Err(bad("Not a number of type INT")),
        ConfigType::Short if value.parse::<i16>().is_err() => {
            Err(bad("Not a number of type SHORT"))
        }
        ConfigType::Long if value.parse::<i64>().is_err() => Err(bad("Not a number of type LONG")),
        ConfigType::Double if value.parse::<f64>().is_err() => {
            Err(bad("Not a number of type DOUBLE"))
        }
        ConfigType::List if !allowed.is_empty() => {
            let items: Vec<&str> = value.split(',').map(str::trim).collect();
            if items.iter().any(|i| !allowed.contains(i)) || value.trim().is_empty() {
                Err(bad(&format!(
                    "String must be one of: {}",
                    allowed.join(", ")
                )))
            } else {
                Ok(())
            }
        }
        _ if !allowed.is_empty() && !allowed.contains(&value) => Err(bad(&format!(
            "String must be one of: {}",
            allowed.join(", ")
        ))),
        _ => Ok(()),
    }
}

/// Kafka's `Range` validator for a numeric value: "Value must be at least" / "no more than".
pub(super) fn check_range(
    key: &str,
    value: &str,
    min: Option<f64>,
    max: Option<f64>,
) -> Result<(), ConfigError> {
    let Ok(n) = value.parse::<f64>() else {
        return Ok(());
    };
    let bad = |reason: String| ConfigError::InvalidValue {
        key: key.into(),
        value: value.into(),
        reason,
    };
    let show = |b: f64| {
        if b.fract() == 0.0 && b.abs() < 1e18 {
            format!("{}", b as i64)
        } else {
            format!("{b}")
        }
    };
    match (min, max) {
        (Some(lo), _) if n < lo => Err(bad(format!("Value must be at least {}", show(lo)))),
        (_, Some(hi)) if n > hi => Err(bad(format!("Value must be no more than {}", show(hi)))),
        _ => Ok(()),
    }
}

/// Kafka's range of a topic key's value (LogConfig's validators; `segment.bytes` keeps the
/// pre-4.0 minimum of one record's overhead so that tests can roll small segments).
fn topic_range(key: &str) -> (Option<f64>, Option<f64>) {
    match key {
        "segment.bytes" => (Some(14.0), None),
        "segment.ms" | "min.insync.replicas" | "max.compaction.lag.ms" | "flush.messages" => {
            (Some(1.0), None)
        }
        "max.message.bytes"
        | "flush.ms"
        | "segment.jitter.ms"
        | "index.interval.bytes"
        | "file.delete.delay.ms"
        | "delete.retention.ms"
        | "min.compaction.lag.ms"
        | "message.timestamp.after.max.ms"
        | "message.timestamp.before.max.ms" => (Some(0.0), None),
        "retention.ms" => (Some(-1.0), None),
        "local.retention.ms" | "local.retention.bytes" => (Some(-2.0), None),
        "segment.index.bytes" => (Some(4.0), None),
        "min.cleanable.dirty.ratio" => (Some(0.0), Some(1.0)),
        "compression.lz4.level" => (Some(1.0), Some(17.0)),
        "compression.zstd.level" => (Some(-131_072.0), Some(22.0)),
        _ => (None, None),
    }
}

/// The authorizer's keys: a known authorizer class, principals in `super.users`.
fn check_security_key(key: &str, value: &str) -> Result<(), String> {
    use crate::security::acl::AUTHORIZER_CLASSES;
    match key {
        "authorizer.class.name" if !value.is_empty() && !AUTHORIZER_CLASSES.contains(&value) => {
            Err(format!(
                "supported authorizers: {}",
                AUTHORIZER_CLASSES.join(", ")
            ))
        }
        "super.users" => value
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .try_for_each(|s| s.parse::<crate::security::Principal>().map(|_| ())),
        _ => Ok(()),
    }
}

/// Validates a topic-level key and value.
pub fn validate_topic_key(key: &str, value: &str) -> Result<(), ConfigError> {
    let k = topic_key(key).ok_or_else(|| ConfigError::UnknownKey(key.into()))?;
    check_type(key, value, k.ty, k.allowed)?;
    let (min, max) = topic_range(key);
    check_range(key, value, min, max)?;
    let invalid = |reason: &str| ConfigError::InvalidValue {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    };
    match key {
        // GzipCompression.LEVEL_VALIDATOR: the codec's default or 1-9.
        "compression.gzip.level" if value != "-1" => check_range(key, value, Some(1.0), Some(9.0))
            .map_err(|_| invalid("Value must be between 1 and 9, or -1 for the default")),
        "remote.storage.enable" if value == "true" => Err(invalid(
            "tiered storage (KIP-405) is not supported by this broker",
        )),
        "leader.replication.throttled.replicas" | "follower.replication.throttled.replicas" => {
            super::throttled_replicas::ThrottledReplicas::parse(value)
                .map(|_| ())
                .map_err(|reason| invalid(&reason))
        }
        _ => Ok(()),
    }
}

/// Broker keys that may also be set per listener (`listener.name.<listener>.<key>`).
const SASL_LISTENER_KEYS: &[&str] = &[
    "sasl.enabled.mechanisms",
    "connections.max.reauth.ms",
    "connection.failed.authentication.delay.ms",
    "sasl.authentication.timeout.ms",
];

/// Validates a broker-level key (broker-only keys and topic synonyms) and its value.
pub fn validate_broker_key(key: &str, value: &str) -> Result<(), ConfigError> {
    use super::kafka_broker_keys::{FLAG_KEYS, broker_allowed, broker_range};
    if let Some((_, flag)) = FLAG_KEYS.iter().find(|(k, _)| *k == key) {
        return Err(ConfigError::InvalidValue {
            key: key.into(),
            value: value.into(),
            reason: format!("Eddy takes this setting from {flag}, not from the config file"),
        });
    }
    if let Some(k) = broker_key(key) {
        check_type(key, value, k.ty, broker_allowed(key))?;
        let (min, max) = broker_range(key);
        check_range(key, value, min, max)?;
        if let Err(reason) = check_security_key(key, value) {
            return Err(ConfigError::InvalidValue {
                key: key.into(),
                value: value.into(),
                reason,
            });
        }
        if key.ends_with(".replication.throttled.rate") && value.parse::<i64>().unwrap_or(-1) < 0 {
            return Err(ConfigError::InvalidValue {
                key: key.into(),
                value: value.into(),
                reason: "must be at least 0".into(),
            });
        }
        return Ok(());
    }
    if let Some(t) = topic_key_by_synonym(key) {
        return validate_topic_key(t.name, value);
    }
    // Kafka's per-listener overrides: `listener.name.<lower-case name>.<key>` for the ssl.* and
    // SASL keys.
    if let Some((_, inner)) = key
        .strip_prefix("listener.name.")
        .and_then(|rest| rest.split_once('.'))
    {
        if inner.starts_with("ssl.") {
            return validate_broker_key(inner, value);
        }
        if inner == "plain.sasl.jaas.config" {
            return crate::security::sasl::plain::jaas_users(value)
                .map(|_| ())
                .map_err(|reason| ConfigError::InvalidValue {
                    key: key.into(),
                    value: "[hidden]".into(),
                    reason,
                });
        }
        if let Some(mechanism) = inner.strip_suffix(".sasl.jaas.config")
            && ["scram-sha-256", "scram-sha-512"].contains(&mechanism)
        {
            return crate::security::sasl::plain::jaas_options(value)
                .map(|_| ())
                .map_err(|reason| ConfigError::InvalidValue {
                    key: key.into(),
                    value: "[hidden]".into(),
                    reason,
                });
        }
        if SASL_LISTENER_KEYS.contains(&inner) {
            return validate_broker_key(inner, value);
        }
    }
    if is_listener_max_connections(key) {
        return check_type(key, value, ConfigType::Int, &[]);
    }
    Err(ConfigError::UnknownKey(key.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_default_is_valid() {
        for k in TOPIC_KEYS {
            validate_topic_key(k.name, k.default).unwrap();
            if !k.broker_synonym.is_empty() {
                validate_broker_key(k.broker_synonym, k.default).unwrap();
            }
        }
    }

    #[test]
    fn every_broker_default_is_valid_and_every_key_is_declared_once() {
        let mut seen = std::collections::BTreeSet::new();
        for k in broker_keys() {
            assert!(seen.insert(k.name), "{} declared twice", k.name);
            if !k.default.is_empty() {
                validate_broker_key(k.name, k.default)
                    .unwrap_or_else(|e| panic!("default of {}: {e}", k.name));
            }
        }
        for k in TOPIC_KEYS {
            assert!(
                seen.insert(k.name) || k.name == k.broker_synonym,
                "{}",
                k.name
            );
            if !k.broker_synonym.is_empty() && k.broker_synonym != k.name {
                assert!(seen.insert(k.broker_synonym), "{}", k.broker_synonym);
            }
        }
    }

    #[test]
    fn kafka_keys_are_accepted_and_validated_with_kafkas_messages() {
        for (key, value) in [
            ("delete.retention.ms", "86400000"),
            ("min.cleanable.dirty.ratio", "0.9"),
            ("max.compaction.lag.ms", "1000"),
            ("message.timestamp.after.max.ms", "0"),
            ("compression.type", "zstd"),
            ("compression.gzip.level", "9"),
            ("compression.gzip.level", "-1"),
            ("compression.zstd.level", "-7"),
            ("cleanup.policy", "compact, delete"),
            ("preallocate", "true"),
        ] {
            validate_topic_key(key, value).unwrap_or_else(|e| panic!("{key}={value}: {e}"));
        }
        for (key, value) in [
            ("sasl.kerberos.service.name", "kafka"),
            ("num.io.threads", "16"),
            ("log.cleaner.threads", "2"),
            ("transaction.state.log.replication.factor", "3"),
            ("ssl.keymanager.algorithm", "PKIX"),
            ("process.roles", "broker,controller"),
            ("log.retention.hours", "24"),
            ("log.cleaner.delete.retention.ms", "1000"),
            ("compression.zstd.level", "5"),
        ] {
            validate_broker_key(key, value).unwrap_or_else(|e| panic!("{key}={value}: {e}"));
        }
        let message = |r: Result<(), ConfigError>| r.unwrap_err().to_string();
        assert_eq!(
            message(validate_topic_key("delete.retention.ms", "-5")),
            "Invalid value -5 for configuration delete.retention.ms: Value must be at least 0"
        );
        assert_eq!(
            message(validate_topic_key("min.cleanable.dirty.ratio", "1.5")),
            "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"
        );
        assert_eq!(
            message(validate_topic_key("segment.jitter.ms", "soon")),
            "Invalid value soon for configuration segment.jitter.ms: Not a number of type LONG"
        );
        assert_eq!(
            message(validate_topic_key("compression.type", "brotli")),
            "Invalid value brotli for configuration compression.type: String must be one of: \
             uncompressed, zstd, lz4, snappy, gzip, producer"
        );
        assert!(validate_topic_key("compression.gzip.level", "0").is_err());
        assert!(validate_topic_key("compression.lz4.level", "18").is_err());
        assert!(validate_topic_key("remote.storage.enable", "true").is_err());
        assert!(validate_topic_key("cleanup.policy", "compact,shred").is_err());
        assert_eq!(
            message(validate_broker_key("num.io.threads", "0")),
            "Invalid value 0 for configuration num.io.threads: Value must be at least 1"
        );
        assert!(validate_broker_key("preallocate", "x").is_err());
        assert!(validate_broker_key("log.preallocate", "x").is_err());
        assert!(validate_broker_key("metrics.recording.level", "LOUD").is_err());
        assert!(validate_broker_key("transaction.state.log.replication.factor", "40000").is_err());
        assert!(message(validate_broker_key("node.id", "1")).contains("--node-id"));
        assert!(message(validate_broker_key("log.dirs", "/var/kafka")).contains("--data-dir"));
    }

    #[test]
    fn bad_values_and_keys_are_rejected() {
        assert!(validate_topic_key("retention.ms", "soon").is_err());
        assert!(validate_topic_key("cleanup.policy", "shred").is_err());
        assert!(validate_topic_key("segment.bytes", "1").is_err());
        assert!(matches!(
            validate_broker_key("no.such.key", "1"),
            Err(ConfigError::UnknownKey(_))
        ));
        validate_broker_key("listener.name.secure.ssl.client.auth", "required").unwrap();
        assert!(validate_broker_key("listener.name.secure.ssl.handshake.timeout.ms", "x").is_err());
        assert!(validate_broker_key("listener.name.secure.no.such.key", "1").is_err());
    }
}
