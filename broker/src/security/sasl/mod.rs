//! SASL authentication on SASL_PLAINTEXT/SASL_SSL listeners, independent of the transport:
//! the listener's SASL settings, and the per-connection state machine (`Authenticator`) that
//! SaslHandshake and SaslAuthenticate (or pre-KIP-43 raw tokens) drive, as Kafka's
//! `SaslServerAuthenticator` does. The connection (server/sasl_gate.rs) feeds it tokens and
//! applies its verdicts; the mechanisms are `plain` and `scram`; the stored credentials and
//! their changes are `credentials`.

pub mod client;
pub mod credentials;
pub mod plain;
pub mod scram;

use scram::{ScramCredential, ScramMechanism, ScramServer, ScramStep};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Our default for `sasl.enabled.mechanisms` (Kafka's is GSSAPI, which Eddy does not have).
pub const DEFAULT_MECHANISMS: &str = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512";

/// A SASL mechanism this broker implements (shared with the client side in
/// `eddy-kafka-client`).
pub use eddy_kafka_client::sasl::Mechanism;

/// A listener's SASL settings, read from the broker settings (see `from_settings`).
#[derive(Debug, Clone)]
pub struct SaslSettings {
    pub mechanisms: Vec<Mechanism>,
    /// PLAIN users of the listener's JAAS config (`user_<name>="<password>"`).
    pub plain_users: BTreeMap<String, String>,
    /// `connections.max.reauth.ms`: the session lifetime (KIP-368); 0 = sessions never expire.
    pub max_reauth: Duration,
    /// `connection.failed.authentication.delay.ms`: how long after a failed authentication
    /// the connection is closed.
    pub failed_delay: Duration,
    /// `sasl.authentication.timeout.ms`: how long a client may take to authenticate before its
    /// connection is closed.
    pub authentication_timeout: Duration,
}

impl SaslSettings {
    /// Reads a listener's settings. `get` returns a broker setting when it is set; a
    /// `listener.name.<listener>.` prefixed key (listener name in lower case) wins over the
    /// plain one, as in Kafka.
    pub fn from_settings(
        listener: &str,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let prefix = format!("listener.name.{}.", listener.to_ascii_lowercase());
        let setting = |key: &str| get(&format!("{prefix}{key}")).or_else(|| get(key));
        let mechanisms_text =
            setting("sasl.enabled.mechanisms").unwrap_or_else(|| DEFAULT_MECHANISMS.into());
        let mut mechanisms = Vec::new();
        for name in mechanisms_text
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            let m = Mechanism::from_name(name).ok_or_else(|| {
                format!(
                    "sasl.enabled.mechanisms: unsupported mechanism {name:?} (this broker has PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512)"
                )
            })?;
            if !mechanisms.contains(&m) {
                mechanisms.push(m);
            }
        }
        if mechanisms.is_empty() {
            return Err(format!(
                "listener {listener}: sasl.enabled.mechanisms is empty"
            ));
        }
        let plain_users = match setting("plain.sasl.jaas.config") {
            Some(jaas) => plain::jaas_users(&jaas)
                .map_err(|e| format!("{prefix}plain.sasl.jaas.config: {e}"))?,
            None => BTreeMap::new(),
        };
        let ms = |key: &str, default: u64| -> Result<Duration, String> {
            match setting(key) {
                None => Ok(Duration::from_millis(default)),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| format!("{key}: expected milliseconds, got {v:?}")),
            }
        };
        Ok(SaslSettings {
            mechanisms,
            plain_users,
            max_reauth: ms("connections.max.reauth.ms", 0)?,
            failed_delay: ms("connection.failed.authentication.delay.ms", 100)?,
            authentication_timeout: ms("sasl.authentication.timeout.ms", 10_000)?,
        })
    }

    pub fn mechanism_names(&self) -> Vec<&'static str> {
        self.mechanisms.iter().map(|m| m.name()).collect()
    }
}

/// Looks up a user's SCRAM credential (the metadata image's in-memory view).
pub type CredentialLookup<'a> = &'a dyn Fn(&str, ScramMechanism) -> Option<ScramCredential>;

/// Why a handshake or an authentication step failed. `client_message` is what Kafka tells the
/// client; `Display` is the reason for the broker's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    #[error("mechanism {0:?} is not enabled on this listener")]
    UnsupportedMechanism(String),
    #[error("{0}")]
    IllegalState(&'static str),
    #[error("{mechanism} authentication failed: {reason}")]
    Failed {
        mechanism: &'static str,
        reason: String,
        /// Re-authentication rather than the first authentication.
        reauth: bool,
    },
    #[error("re-authentication as {new} on a connection of {old} (or with another mechanism)")]
    PrincipalChanged { old: String, new: String },
}

impl SaslError {
    /// The error message sent to the client, Kafka's wording.
    pub fn client_message(&self, enabled: &[&str]) -> String {
        match self {
            SaslError::UnsupportedMechanism(m) => {
                format!("Unsupported SASL mechanism {m}; enabled mechanisms are {enabled:?}")
            }
            SaslError::IllegalState(what) => format!("Unexpected SASL request: {what}"),
            SaslError::Failed {
                mechanism: "PLAIN", ..
            } => "Authentication failed: Invalid username or password".into(),
            SaslError::Failed {
                mechanism, reauth, ..
            } => format!(
                "Authentication failed during {} due to invalid credentials with SASL mechanism {mechanism}",
                if *reauth {
                    "re-authentication"
                } else {
                    "authentication"
                }
            ),
            SaslError::PrincipalChanged { .. } => {
                "Cannot change principals or mechanisms during re-authentication".into()
            }
        }
    }
}

/// What a SaslAuthenticate token led to.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthStep {
    /// Send this challenge; the exchange continues.
    Challenge(Vec<u8>),
    /// Authenticated as `user` (first time or re-authentication); send `token`.
    Authenticated { user: String, token: Vec<u8> },
}

enum Exchange {
    Plain,
    Scram(ScramServer),
}

enum State {
    /// Waiting for a SaslHandshake (at the start, or for a re-authentication).
    AwaitingHandshake,
    Exchanging {
        mechanism: Mechanism,
        exchange: Exchange,
    },
    /// A failure ended the exchange; the connection closes.
    Failed,
}

/// One connection's SASL state machine (no I/O).
pub struct Authenticator {
    settings: Arc<SaslSettings>,
    state: State,
    /// The user and mechanism of the last successful authentication.
    authenticated: Option<(String, Mechanism)>,
}

impl Authenticator {
    pub fn new(settings: Arc<SaslSettings>) -> Self {
        Authenticator {
            settings,
            state: State::AwaitingHandshake,
            authenticated: None,
        }
    }

    pub fn settings(&self) -> &SaslSettings {
        &self.settings
    }

    /// The authenticated user, if any.
    pub fn user(&self) -> Option<&str> {
        self.authenticated.as_ref().map(|(u, _)| u.as_str())
    }

    /// Whether an exchange is under way (handshake done, not yet authenticated).
    pub fn exchanging(&self) -> bool {
        matches!(self.state, State::Exchanging { .. })
    }

    /// A SaslHandshake for `mechanism`.
    pub fn handshake(&mut self, mechanism: &str) -> Result<Mechanism, SaslError> {
        if !matches!(self.state, State::AwaitingHandshake) {
            self.state = State::Failed;
            return Err(SaslError::IllegalState("SaslHandshake during an exchange"));
        }
        let Some(m) =
            Mechanism::from_name(mechanism).filter(|m| self.settings.mechanisms.contains(m))
        else {
            self.state = State::Failed;
            return Err(SaslError::UnsupportedMechanism(mechanism.to_string()));
        };
        self.state = State::Exchanging {
            mechanism: m,
            exchange: match m {
                Mechanism::Plain => Exchange::Plain,
                Mechanism::Scram(s) => Exchange::Scram(ScramServer::new(s)),
            },
        };
        Ok(m)
    }

    /// One authentication token (SaslAuthenticate's auth_bytes, or a raw pre-KIP-43 frame).
    pub fn authenticate(
        &mut self,
        token: &[u8],
        credentials: CredentialLookup<'_>,
    ) -> Result<AuthStep, SaslError> {
        let result = self.step(token, credentials);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn step(
        &mut self,
        token: &[u8],
        credentials: CredentialLookup<'_>,
    ) -> Result<AuthStep, SaslError> {
        let reauth = self.authenticated.is_some();
        let State::Exchanging {
            mechanism,
            exchange,
        } = &mut self.state
        else {
            return Err(SaslError::IllegalState(
                "SaslAuthenticate without a SaslHandshake",
            ));
        };
        let mechanism = *mechanism;
        let failed = |reason: String| SaslError::Failed {
            mechanism: mechanism.name(),
            reason,
            reauth,
        };
        let (user, token) = match exchange {
            Exchange::Plain => {
                let msg = plain::parse(token).map_err(|e| failed(e.to_string()))?;
                if !self.verify_plain(&msg, credentials) {
                    return Err(failed(
                        plain::PlainError::InvalidCredentials(msg.user).to_string(),
                    ));
                }
                (msg.user, Vec::new())
            }
            Exchange::Scram(server) => {
                let m = server.mechanism();
                let nonce = scram::server_nonce().map_err(|e| failed(e.to_string()))?;
                match server
                    .step(token, &|user| credentials(user, m), &nonce)
                    .map_err(|e| failed(e.to_string()))?
                {
                    ScramStep::Challenge(c) => return Ok(AuthStep::Challenge(c)),
                    ScramStep::Authenticated { user, server_final } => (user, server_final),
                }
            }
        };
        if let Some((old, old_mechanism)) = &self.authenticated
            && (*old != user || *old_mechanism != mechanism)
        {
            return Err(SaslError::PrincipalChanged {
                old: format!("User:{old}"),
                new: format!("User:{user}"),
            });
        }
        self.authenticated = Some((user.clone(), mechanism));
        self.state = State::AwaitingHandshake;
        Ok(AuthStep::Authenticated { user, token })
    }

    /// PLAIN: the listener's JAAS users first, then the user's SCRAM credentials.
    fn verify_plain(&self, msg: &plain::PlainMessage, credentials: CredentialLookup<'_>) -> bool {
        if let Some(expected) = self.settings.plain_users.get(&msg.user) {
            return bool::from(expected.as_bytes().ct_eq(msg.password.as_bytes()));
        }
        [ScramMechanism::Sha512, ScramMechanism::Sha256]
            .into_iter()
            .find_map(|m| credentials(&msg.user, m).map(|c| (m, c)))
            .is_some_and(|(m, c)| c.verifies(m, &msg.password))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &[(&str, &str)]) -> Arc<SaslSettings> {
        let map: BTreeMap<String, String> = extra
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        Arc::new(
            SaslSettings::from_settings("SASL_PLAINTEXT", &|k| map.get(k).cloned())
                .expect("settings"),
        )
    }

    #[test]
    fn settings_take_listener_overrides_and_refuse_unknown_mechanisms() {
        let s = settings(&[]);
        assert_eq!(
            s.mechanism_names(),
            ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
        );
        assert_eq!(s.max_reauth, Duration::ZERO);
        let s = settings(&[
            ("sasl.enabled.mechanisms", "PLAIN"),
            (
                "listener.name.sasl_plaintext.sasl.enabled.mechanisms",
                "SCRAM-SHA-512",
            ),
            ("connections.max.reauth.ms", "5000"),
        ]);
        assert_eq!(s.mechanism_names(), ["SCRAM-SHA-512"]);
        assert_eq!(s.max_reauth, Duration::from_secs(5));
        let get = |k: &str| (k == "sasl.enabled.mechanisms").then(|| "GSSAPI".to_string());
        assert!(SaslSettings::from_settings("X", &get).is_err());
    }

    #[test]
    fn plain_checks_jaas_users_then_scram_credentials() {
        let s = settings(&[(
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="adm";"#,
        )]);
        let cred =
            ScramCredential::from_password(ScramMechanism::Sha256, "bobpw", 4096).expect("cred");
        let lookup = |u: &str, m: ScramMechanism| {
            (u == "bob" && m == ScramMechanism::Sha256).then(|| cred.clone())
        };
        for (token, ok) in [
            (&b"\0admin\0adm"[..], true),
            (b"\0admin\0bad", false),
            (b"\0bob\0bobpw", true),
            (b"\0bob\0nope", false),
            (b"\0carol\0x", false),
        ] {
            let mut a = Authenticator::new(Arc::clone(&s));
            a.handshake("PLAIN").expect("handshake");
            let r = a.authenticate(token, &lookup);
            assert_eq!(r.is_ok(), ok, "{token:?}: {r:?}");
            if let Err(e) = r {
                assert!(e.client_message(&[]).contains("Authentication failed"));
            }
        }
    }

    #[test]
    fn handshake_and_state_errors() {
        let s = settings(&[("sasl.enabled.mechanisms", "SCRAM-SHA-512")]);
        let none = |_: &str, _: ScramMechanism| None;
        let mut a = Authenticator::new(Arc::clone(&s));
        assert!(matches!(
            a.handshake("PLAIN"),
            Err(SaslError::UnsupportedMechanism(_))
        ));
        let mut a = Authenticator::new(Arc::clone(&s));
        assert!(matches!(
            a.authenticate(b"x", &none),
            Err(SaslError::IllegalState(_))
        ));
        let mut a = Authenticator::new(s);
        a.handshake("SCRAM-SHA-512").expect("handshake");
        let e = a
            .authenticate(b"n,,n=ghost,r=abc", &none)
            .expect_err("unknown user");
        assert_eq!(
            e.client_message(&[]),
            "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
        );
    }

    #[test]
    fn reauthentication_keeps_the_principal() {
        let s = settings(&[(
            "plain.sasl.jaas.config",
            r#"PlainLoginModule required user_a="pa" user_b="pb";"#,
        )]);
        let none = |_: &str, _: ScramMechanism| None;
        let mut a = Authenticator::new(s);
        a.handshake("PLAIN").expect("handshake");
        a.authenticate(b"\0a\0pa", &none).expect("first");
        a.handshake("PLAIN").expect("re-handshake");
        a.authenticate(b"\0a\0pa", &none).expect("same principal");
        a.handshake("PLAIN").expect("re-handshake");
        assert!(matches!(
            a.authenticate(b"\0b\0pb", &none),
            Err(SaslError::PrincipalChanged { .. })
        ));
    }
}
