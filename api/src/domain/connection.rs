//! Connection details, with no I/O: each listener as clients see it (security protocol, SASL
//! mechanisms) and ready-to-paste client configurations for librdkafka/confluent-kafka, the Java
//! client, kafka-python and KafkaJS. Passwords are always the `<password>` placeholder: the API
//! never returns a stored password.

use serde::{Deserialize, Serialize};

/// The placeholder every snippet carries where the user's password goes.
pub const PASSWORD_PLACEHOLDER: &str = "<password>";
/// The placeholder for the username when the request names no user.
pub const USERNAME_PLACEHOLDER: &str = "<username>";
/// File the snippets expect the cluster CA certificate in (`ca_certificate` of the answer).
pub const CA_FILE: &str = "ca.crt";

/// One listener of a cluster, as clients connect to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListenerInfo {
    pub name: String,
    /// `internal`, `nodeport` or `loadbalancer`.
    #[serde(rename = "type")]
    pub type_: String,
    pub bootstrap_servers: String,
    /// Kafka `security.protocol`: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    pub security_protocol: String,
    /// SASL mechanisms the listener accepts (empty without SASL).
    pub sasl_mechanisms: Vec<String>,
    /// `none`, `scram-sha-512`, `scram-sha-256` or `tls` (client certificates).
    pub authentication: String,
    pub tls: bool,
}

/// Kafka's `security.protocol` of a listener with this TLS setting and authentication.
pub fn security_protocol(tls: bool, authentication: &str) -> &'static str {
    let sasl = authentication.starts_with("scram");
    match (tls, sasl) {
        (true, true) => "SASL_SSL",
        (true, false) => "SSL",
        (false, true) => "SASL_PLAINTEXT",
        (false, false) => "PLAINTEXT",
    }
}

/// The SASL mechanisms a listener with this authentication accepts, its preferred one first:
/// the operator's SCRAM listeners take both SCRAM-SHA-512 and SCRAM-SHA-256 users.
pub fn sasl_mechanisms(authentication: &str) -> Vec<String> {
    match authentication {
        "scram-sha-512" | "scram" => vec!["SCRAM-SHA-512".into(), "SCRAM-SHA-256".into()],
        "scram-sha-256" => vec!["SCRAM-SHA-256".into(), "SCRAM-SHA-512".into()],
        _ => vec![],
    }
}

/// The SASL mechanism a snippet for `l` uses: the user's own (`preferred`) when the listener
/// accepts it, else the listener's first.
fn snippet_mechanism<'a>(l: &'a ListenerInfo, preferred: Option<&str>) -> Option<&'a str> {
    preferred
        .and_then(|p| l.sasl_mechanisms.iter().find(|m| m.as_str() == p))
        .or_else(|| l.sasl_mechanisms.first())
        .map(String::as_str)
}

/// Ready-to-paste client configurations for one listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClientConfigs {
    /// librdkafka properties (confluent-kafka, kcat `-F`).
    pub librdkafka: String,
    /// Java client properties.
    pub java: String,
    /// kafka-python, a `KafkaProducer` constructor.
    pub kafka_python: String,
    /// KafkaJS, a `Kafka` constructor.
    pub kafkajs: String,
}

/// A listener with its client configurations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListenerConnection {
    #[serde(flatten)]
    pub listener: ListenerInfo,
    pub clients: ClientConfigs,
}

/// Everything a client needs to connect, except the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConnectionInfo {
    /// The recommended listener's bootstrap servers (the first of `listeners`).
    pub bootstrap_servers: String,
    /// The recommended listener's `security.protocol`.
    pub security_protocol: String,
    /// The recommended listener's SASL mechanism, if it uses SASL.
    pub sasl_mechanism: Option<String>,
    /// The Kafka user the snippets are written for (`?user=`), else null and the snippets say
    /// `<username>`.
    pub username: Option<String>,
    /// The cluster CA certificate (PEM) clients trust for TLS listeners: save it as `ca.crt`.
    pub ca_certificate: Option<String>,
    /// Every listener, the recommended one first.
    pub listeners: Vec<ListenerConnection>,
}

/// Moves the client-certificate (mTLS) listener first, keeping the others' order: the listener
/// a certificate user signs in through is the one recommended to it.
pub fn certificate_listener_first(listeners: &mut [ListenerInfo]) {
    if let Some(i) = listeners.iter().position(|l| l.authentication == "tls") {
        listeners[..=i].rotate_right(1);
    }
}

/// Connection details for `listeners` (recommended first), the CA and an optional user with
/// the SASL mechanism its credential is for (`SCRAM-SHA-256`...; `None` for the listeners' own).
pub fn connection_info(
    listeners: Vec<ListenerInfo>,
    ca_certificate: Option<String>,
    username: Option<&str>,
    mechanism: Option<&str>,
) -> Option<ConnectionInfo> {
    let first = listeners.first()?.clone();
    let user = username.unwrap_or(USERNAME_PLACEHOLDER);
    Some(ConnectionInfo {
        bootstrap_servers: first.bootstrap_servers.clone(),
        security_protocol: first.security_protocol.clone(),
        sasl_mechanism: snippet_mechanism(&first, mechanism).map(str::to_string),
        username: username.map(str::to_string),
        ca_certificate,
        listeners: listeners
            .into_iter()
            .map(|l| ListenerConnection {
                clients: client_configs(&l, user, mechanism),
                listener: l,
            })
            .collect(),
    })
}

/// Quotes a string for Python and JavaScript source (JSON string syntax is valid in both).
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The client configurations of one listener for `user` signing in with `mechanism` when the
/// listener accepts it, else the listener's first (password always the placeholder).
pub fn client_configs(l: &ListenerInfo, user: &str, mechanism: Option<&str>) -> ClientConfigs {
    let sasl = snippet_mechanism(l, mechanism);
    let cert_auth = l.authentication == "tls";
    let mut rd = vec![
        format!("bootstrap.servers={}", l.bootstrap_servers),
        format!("security.protocol={}", l.security_protocol),
    ];
    let mut java = rd.clone();
    let brokers: Vec<String> = l
        .bootstrap_servers
        .split(',')
        .map(|b| quoted(b.trim()))
        .collect();
    let mut py = vec![
        format!("    bootstrap_servers=[{}],", brokers.join(", ")),
        format!("    security_protocol={},", quoted(&l.security_protocol)),
    ];
    let mut js = vec![format!("  brokers: [{}],", brokers.join(", "))];
    if let Some(mech) = sasl {
        rd.push(format!("sasl.mechanisms={mech}"));
        rd.push(format!("sasl.username={user}"));
        rd.push(format!("sasl.password={PASSWORD_PLACEHOLDER}"));
        java.push(format!("sasl.mechanism={mech}"));
        java.push(format!(
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
             username=\"{user}\" password=\"{PASSWORD_PLACEHOLDER}\";"
        ));
        py.push(format!("    sasl_mechanism={},", quoted(mech)));
        py.push(format!("    sasl_plain_username={},", quoted(user)));
        py.push(format!(
            "    sasl_plain_password={},",
            quoted(PASSWORD_PLACEHOLDER)
        ));
    }
    if l.tls {
        rd.push(format!("ssl.ca.location={CA_FILE}"));
        java.push("ssl.truststore.type=PEM".into());
        java.push(format!("ssl.truststore.location={CA_FILE}"));
        py.push(format!("    ssl_cafile={},", quoted(CA_FILE)));
        let mut ssl = vec![format!(
            "ca: [fs.readFileSync({}, \"utf-8\")]",
            quoted(CA_FILE)
        )];
        if cert_auth {
            rd.push("ssl.certificate.location=user.crt".into());
            rd.push("ssl.key.location=user.key".into());
            // The Java client reads key and chain from one PEM file: `cat user.key user.crt`.
            java.push("ssl.keystore.type=PEM".into());
            java.push("ssl.keystore.location=user.pem".into());
            py.push("    ssl_certfile=\"user.crt\",".into());
            py.push("    ssl_keyfile=\"user.key\",".into());
            ssl.push("cert: fs.readFileSync(\"user.crt\", \"utf-8\")".into());
            ssl.push("key: fs.readFileSync(\"user.key\", \"utf-8\")".into());
        }
        js.push(format!("  ssl: {{ {} }},", ssl.join(", ")));
    }
    if let Some(mech) = sasl {
        js.push(format!(
            "  sasl: {{ mechanism: {}, username: {}, password: {} }},",
            quoted(&mech.to_lowercase()),
            quoted(user),
            quoted(PASSWORD_PLACEHOLDER)
        ));
    }
    let js_head = if l.tls {
        "const fs = require(\"fs\");\nconst { Kafka } = require(\"kafkajs\");\n"
    } else {
        "const { Kafka } = require(\"kafkajs\");\n"
    };
    ClientConfigs {
        librdkafka: rd.join("\n") + "\n",
        java: java.join("\n") + "\n",
        kafka_python: format!(
            "from kafka import KafkaProducer\nproducer = KafkaProducer(\n{}\n)\n",
            py.join("\n")
        ),
        kafkajs: format!(
            "{js_head}const kafka = new Kafka({{\n{}\n}});\n",
            js.join("\n")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(tls: bool, auth: &str) -> ListenerInfo {
        ListenerInfo {
            name: "tls".into(),
            type_: "internal".into(),
            bootstrap_servers: "10.0.0.1:9094,10.0.0.2:9094".into(),
            security_protocol: security_protocol(tls, auth).into(),
            sasl_mechanisms: sasl_mechanisms(auth),
            authentication: auth.into(),
            tls,
        }
    }

    #[test]
    fn protocols_follow_tls_and_authentication() {
        assert_eq!(security_protocol(true, "scram-sha-512"), "SASL_SSL");
        assert_eq!(security_protocol(true, "tls"), "SSL");
        assert_eq!(security_protocol(false, "scram-sha-256"), "SASL_PLAINTEXT");
        assert_eq!(security_protocol(false, "none"), "PLAINTEXT");
        assert_eq!(
            sasl_mechanisms("scram-sha-512"),
            ["SCRAM-SHA-512", "SCRAM-SHA-256"]
        );
        assert!(sasl_mechanisms("tls").is_empty());
    }

    #[test]
    fn scram_over_tls_snippets_carry_user_placeholder_and_ca() {
        let c = client_configs(&listener(true, "scram-sha-512"), "alice", None);
        assert_eq!(
            c.librdkafka,
            "bootstrap.servers=10.0.0.1:9094,10.0.0.2:9094\nsecurity.protocol=SASL_SSL\n\
             sasl.mechanisms=SCRAM-SHA-512\nsasl.username=alice\nsasl.password=<password>\n\
             ssl.ca.location=ca.crt\n"
        );
        assert!(
            c.java
                .contains("ScramLoginModule required username=\"alice\" password=\"<password>\";")
        );
        assert!(
            c.java
                .contains("ssl.truststore.type=PEM\nssl.truststore.location=ca.crt")
        );
        assert!(
            c.kafka_python
                .contains("sasl_plain_password=\"<password>\"")
        );
        assert!(
            c.kafka_python
                .contains("bootstrap_servers=[\"10.0.0.1:9094\", \"10.0.0.2:9094\"]")
        );
        assert!(c.kafkajs.contains(
            "sasl: { mechanism: \"scram-sha-512\", username: \"alice\", password: \"<password>\" }"
        ));
        assert!(
            c.kafkajs
                .contains("ssl: { ca: [fs.readFileSync(\"ca.crt\", \"utf-8\")] }")
        );
    }

    #[test]
    fn certificate_and_plaintext_listeners() {
        let c = client_configs(&listener(true, "tls"), "alice", None);
        assert!(c.librdkafka.contains("security.protocol=SSL\n"));
        assert!(c.librdkafka.contains("ssl.certificate.location=user.crt"));
        assert!(!c.librdkafka.contains("sasl"));
        let c = client_configs(&listener(false, "none"), "x", None);
        assert_eq!(
            c.librdkafka,
            "bootstrap.servers=10.0.0.1:9094,10.0.0.2:9094\nsecurity.protocol=PLAINTEXT\n"
        );
        assert!(!c.kafkajs.contains("ssl") && !c.kafkajs.contains("sasl"));
    }

    #[test]
    fn the_first_listener_is_recommended_and_no_password_is_ever_filled_in() {
        let info = connection_info(
            vec![
                listener(true, "scram-sha-512"),
                listener(false, "scram-sha-512"),
            ],
            Some("PEM".into()),
            None,
            None,
        )
        .unwrap();
        assert_eq!(info.security_protocol, "SASL_SSL");
        assert_eq!(info.sasl_mechanism.as_deref(), Some("SCRAM-SHA-512"));
        assert!(info.username.is_none());
        assert_eq!(info.listeners.len(), 2);
        assert!(
            info.listeners[1]
                .clients
                .librdkafka
                .contains("sasl.username=<username>")
        );
        let json = serde_json::to_string(&info).unwrap();
        assert!(!json.contains("\"password\""));
        assert!(connection_info(vec![], None, None, None).is_none());
    }

    #[test]
    fn certificate_users_get_the_mtls_listener_first() {
        let mut l = vec![
            listener(true, "scram-sha-512"),
            listener(true, "tls"),
            listener(false, "scram-sha-512"),
        ];
        certificate_listener_first(&mut l);
        let auth: Vec<_> = l
            .iter()
            .map(|l| (l.authentication.as_str(), l.tls))
            .collect();
        assert_eq!(
            auth,
            [
                ("tls", true),
                ("scram-sha-512", true),
                ("scram-sha-512", false)
            ]
        );
        let info = connection_info(l, Some("PEM".into()), Some("carol"), None).unwrap();
        assert_eq!(info.security_protocol, "SSL");
        assert!(info.sasl_mechanism.is_none());
        let rd = &info.listeners[0].clients.librdkafka;
        assert!(rd.contains("ssl.certificate.location=user.crt\nssl.key.location=user.key"));
        assert!(!rd.contains("sasl"));
    }

    #[test]
    fn a_scram_sha_256_user_gets_snippets_for_its_mechanism() {
        let info = connection_info(
            vec![listener(true, "scram-sha-512"), listener(true, "tls")],
            Some("PEM".into()),
            Some("bob"),
            Some("SCRAM-SHA-256"),
        )
        .unwrap();
        assert_eq!(info.sasl_mechanism.as_deref(), Some("SCRAM-SHA-256"));
        let c = &info.listeners[0].clients;
        assert!(
            c.librdkafka
                .contains("sasl.mechanisms=SCRAM-SHA-256\nsasl.username=bob\n")
        );
        assert!(c.java.contains("sasl.mechanism=SCRAM-SHA-256\n"));
        assert!(c.kafka_python.contains("sasl_mechanism=\"SCRAM-SHA-256\""));
        assert!(c.kafkajs.contains("mechanism: \"scram-sha-256\""));
        // A mechanism the listener does not take falls back to the listener's own.
        let c = client_configs(&listener(true, "scram-sha-512"), "x", Some("PLAIN"));
        assert!(c.librdkafka.contains("sasl.mechanisms=SCRAM-SHA-512\n"));
    }
}
