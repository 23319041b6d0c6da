//! The KafkaUser's own Secret (pure builders): named like the KafkaUser, labelled with its
//! cluster, owned by the KafkaUser (deleted with it). SCRAM users get `username`, `password`
//! and `sasl.jaas.config`; TLS users `username`, `user.crt`, `user.key` and `ca.crt` (the
//! cluster CA their clients trust). A password Secret the user references is never written.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use eddy_kafka_client::scram::{self, ScramError};

/// Key of the user name.
pub const USERNAME_KEY: &str = "username";
/// Key of the generated password.
pub const PASSWORD_KEY: &str = "password";
/// Key of the ready-to-use JAAS line for Java clients.
pub const JAAS_KEY: &str = "sasl.jaas.config";
/// Keys of a TLS user's certificate, private key and trusted CA.
pub const USER_CRT_KEY: &str = "user.crt";
/// Key of the TLS user's private key (PKCS#8 PEM).
pub const USER_KEY_KEY: &str = "user.key";
/// Key of the cluster CA certificate in a TLS user's Secret.
pub const CA_CRT_KEY: &str = "ca.crt";
/// Label naming the cluster.
pub const CLUSTER_LABEL: &str = "eddy.io/cluster";
/// Length of generated passwords (alphanumeric: ~190 bits).
pub const PASSWORD_LENGTH: usize = 32;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A fresh random alphanumeric password (rejection sampling: no modulo bias).
///
/// # Errors
/// When the operating system has no randomness to give.
pub fn generate_password() -> Result<String, ScramError> {
    let limit = u8::try_from(256 - 256 % ALPHABET.len()).unwrap_or(u8::MAX);
    let mut out = String::with_capacity(PASSWORD_LENGTH);
    // Each byte is kept with probability 248/256: a few rounds always suffice.
    for _ in 0..16 {
        for b in scram::random_bytes(PASSWORD_LENGTH * 2)? {
            if b < limit && out.len() < PASSWORD_LENGTH {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
        if out.len() == PASSWORD_LENGTH {
            return Ok(out);
        }
    }
    Err(ScramError::Random("too few usable random bytes".into()))
}

/// Kafka's SCRAM JAAS line for `username`/`password` (quotes and backslashes escaped).
#[must_use]
pub fn jaas_config(username: &str, password: &str) -> String {
    let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{}\" password=\"{}\";",
        q(username),
        q(password)
    )
}

/// Where a user's Secret goes and who owns it.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Secret name (the KafkaUser's name).
    pub name: String,
    /// Namespace (the KafkaUser's and its cluster's).
    pub namespace: String,
    /// The cluster, for the label.
    pub cluster: String,
    /// Owner reference to the KafkaUser.
    pub owner: OwnerReference,
}

fn secret(at: &Placement, data: BTreeMap<String, String>) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(at.name.clone()),
            namespace: Some(at.namespace.clone()),
            labels: Some(BTreeMap::from([(
                CLUSTER_LABEL.to_string(),
                at.cluster.clone(),
            )])),
            owner_references: Some(vec![at.owner.clone()]),
            ..ObjectMeta::default()
        },
        data: Some(
            data.into_iter()
                .map(|(k, v)| (k, ByteString(v.into_bytes())))
                .collect(),
        ),
        type_: Some("Opaque".to_string()),
        ..Secret::default()
    }
}

/// The Secret of a SCRAM user with a generated password.
#[must_use]
pub fn scram_secret(at: &Placement, username: &str, password: &str) -> Secret {
    secret(
        at,
        BTreeMap::from([
            (USERNAME_KEY.to_string(), username.to_string()),
            (PASSWORD_KEY.to_string(), password.to_string()),
            (JAAS_KEY.to_string(), jaas_config(username, password)),
        ]),
    )
}

/// The Secret of a TLS user: its certificate (leaf + clients CA chain), key, and the cluster CA
/// certificate its clients trust.
#[must_use]
pub fn tls_secret(
    at: &Placement,
    username: &str,
    cert_pem: &str,
    key_pem: &str,
    cluster_ca_pem: &str,
) -> Secret {
    secret(
        at,
        BTreeMap::from([
            (USERNAME_KEY.to_string(), username.to_string()),
            (USER_CRT_KEY.to_string(), cert_pem.to_string()),
            (USER_KEY_KEY.to_string(), key_pem.to_string()),
            (CA_CRT_KEY.to_string(), cluster_ca_pem.to_string()),
        ]),
    )
}

/// `key` of `secret` as UTF-8, when present.
#[must_use]
pub fn string_key(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()?
        .get(key)
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Placement {
        Placement {
            name: "alice".into(),
            namespace: "ns".into(),
            cluster: "c".into(),
            owner: OwnerReference {
                api_version: "eddy.io/v1alpha1".into(),
                kind: "KafkaUser".into(),
                name: "alice".into(),
                uid: "u1".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            },
        }
    }

    #[test]
    fn generated_passwords_are_long_alphanumeric_and_distinct() {
        let a = generate_password().expect("password");
        let b = generate_password().expect("password");
        assert_eq!(a.len(), PASSWORD_LENGTH);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn the_scram_secret_holds_what_clients_need() {
        let s = scram_secret(&at(), "Alice", "pw\"x");
        assert_eq!(
            s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(CLUSTER_LABEL))
                .map(String::as_str),
            Some("c")
        );
        assert_eq!(string_key(&s, USERNAME_KEY).as_deref(), Some("Alice"));
        assert_eq!(string_key(&s, PASSWORD_KEY).as_deref(), Some("pw\"x"));
        assert_eq!(
            string_key(&s, JAAS_KEY).as_deref(),
            Some(
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="Alice" password="pw\"x";"#
            )
        );
        assert_eq!(
            s.metadata
                .owner_references
                .map(|o| o[0].kind.clone())
                .as_deref(),
            Some("KafkaUser")
        );
    }
}
