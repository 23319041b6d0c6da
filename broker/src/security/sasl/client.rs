//! The SASL client side brokers use to authenticate to each other (inter-broker connections
//! to a SASL_PLAINTEXT/SASL_SSL listener), configured as Kafka brokers are:
//! `sasl.mechanism.inter.broker.protocol` picks the mechanism and
//! `listener.name.<listener>.<mechanism-lowercase>.sasl.jaas.config` holds the login module's
//! `username` and `password`. Pure: the exchange (SaslHandshake + SaslAuthenticate) is the
//! shared client's (`eddy_kafka_client::sasl`), run by replication/inter_broker.rs.

use super::Mechanism;
use eddy_kafka_client::sasl::Credentials;

/// Kafka's default for `sasl.mechanism.inter.broker.protocol` (a mechanism Eddy lacks).
pub const DEFAULT_INTER_BROKER_MECHANISM: &str = "GSSAPI";

/// Why the inter-broker SASL client cannot be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslClientError {
    #[error(
        "sasl.mechanism.inter.broker.protocol={0} is not supported (this broker has PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512; Kafka's default GSSAPI is not available)"
    )]
    UnsupportedMechanism(String),
    #[error(
        "{key} is not set: the inter-broker listener uses SASL and needs the broker's own credentials"
    )]
    MissingJaas { key: String },
    #[error("{key}: {reason}")]
    BadJaas { key: String, reason: String },
}

/// The credentials and mechanism a broker authenticates with to other brokers.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslClientConfig {
    pub mechanism: Mechanism,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for SaslClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslClientConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"[hidden]")
            .finish()
    }
}

/// The JAAS key holding `listener`'s credentials for `mechanism`, as Kafka names it.
pub fn jaas_key(listener: &str, mechanism: &str) -> String {
    format!(
        "listener.name.{}.{}.sasl.jaas.config",
        listener.to_ascii_lowercase(),
        mechanism.to_ascii_lowercase()
    )
}

/// The `username` and `password` options of a JAAS config (`ScramLoginModule required
/// username="broker" password="secret";`; PlainLoginModule's `user_*` options are ignored).
pub fn jaas_credentials(jaas: &str) -> Result<(String, String), String> {
    let options = super::plain::jaas_options(jaas)?;
    let get = |name: &str| {
        options
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("the JAAS config has no {name} option"))
    };
    Ok((get("username")?, get("password")?))
}

impl SaslClientConfig {
    /// The credentials the shared client authenticates with.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            mechanism: self.mechanism,
            username: self.username.clone(),
            password: self.password.clone(),
        }
    }

    /// Reads the inter-broker client settings for `listener`. `get` returns a broker setting
    /// when it is set.
    pub fn from_settings(
        listener: &str,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, SaslClientError> {
        let name = get("sasl.mechanism.inter.broker.protocol")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| DEFAULT_INTER_BROKER_MECHANISM.into());
        let mechanism = Mechanism::from_name(&name)
            .ok_or_else(|| SaslClientError::UnsupportedMechanism(name.clone()))?;
        let key = jaas_key(listener, &name);
        let jaas = get(&key).ok_or_else(|| SaslClientError::MissingJaas { key: key.clone() })?;
        let (username, password) =
            jaas_credentials(&jaas).map_err(|reason| SaslClientError::BadJaas { key, reason })?;
        Ok(SaslClientConfig {
            mechanism,
            username,
            password,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::scram::ScramMechanism;
    use super::*;
    use std::collections::BTreeMap;

    fn read(pairs: &[(&str, &str)]) -> Result<SaslClientConfig, SaslClientError> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        SaslClientConfig::from_settings("INTERNAL", &|k| map.get(k).cloned())
    }

    #[test]
    fn settings_are_read_as_kafka_brokers_read_them() {
        assert!(matches!(
            read(&[]),
            Err(SaslClientError::UnsupportedMechanism(m)) if m == "GSSAPI"
        ));
        assert!(matches!(
            read(&[("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-512")]),
            Err(SaslClientError::MissingJaas { key }) if key == "listener.name.internal.scram-sha-512.sasl.jaas.config"
        ));
        let c = read(&[
            ("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-512"),
            (
                "listener.name.internal.scram-sha-512.sasl.jaas.config",
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="s\"ecret";"#,
            ),
        ])
        .expect("config");
        assert_eq!(c.mechanism, Mechanism::Scram(ScramMechanism::Sha512));
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("broker", "s\"ecret")
        );
        assert!(!format!("{c:?}").contains("ecret"));
        let c = read(&[
            ("sasl.mechanism.inter.broker.protocol", "PLAIN"),
            (
                "listener.name.internal.plain.sasl.jaas.config",
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="b" password="p" user_b="p";"#,
            ),
        ])
        .expect("plain");
        assert_eq!(
            eddy_kafka_client::sasl::Exchange::new(&c.credentials())
                .expect("exchange")
                .first(),
            b"\0b\0p"
        );
        assert!(matches!(
            read(&[
                ("sasl.mechanism.inter.broker.protocol", "PLAIN"),
                (
                    "listener.name.internal.plain.sasl.jaas.config",
                    "PlainLoginModule required user_b=\"p\";"
                ),
            ]),
            Err(SaslClientError::BadJaas { .. })
        ));
    }
}
