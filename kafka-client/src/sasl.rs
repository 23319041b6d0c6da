//! The SASL client side, one implementation for brokers (inter-broker connections) and the
//! operator (admin connections): the mechanisms, the credentials, the tokens of one exchange
//! (pure), and [`Client::authenticate`], which runs SaslHandshake v1 + SaslAuthenticate v1 as
//! Kafka's `SaslClientAuthenticator` does.

use std::time::Duration;

use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;

use crate::scram::{self, ScramClient, ScramError, ScramMechanism};
use crate::{Client, Error, Result};

/// A SASL mechanism Eddy implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// PLAIN (RFC 4616): the password in clear, so only over TLS.
    Plain,
    /// SCRAM-SHA-256 or SCRAM-SHA-512.
    Scram(ScramMechanism),
}

impl Mechanism {
    /// Kafka's name of the mechanism (`PLAIN`, `SCRAM-SHA-512`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(m) => m.name(),
        }
    }

    /// The mechanism Kafka calls `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        if name == "PLAIN" {
            return Some(Mechanism::Plain);
        }
        ScramMechanism::from_name(name).map(Mechanism::Scram)
    }
}

/// Who a client authenticates as, and how. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The mechanism.
    pub mechanism: Mechanism,
    /// The user name (the principal `User:<username>`).
    pub username: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"[hidden]")
            .finish()
    }
}

/// One client-side exchange: the tokens to send, in order, given the server's answers.
pub enum Exchange {
    /// PLAIN: one token.
    Plain {
        /// `\0user\0password`.
        token: Vec<u8>,
    },
    /// SCRAM: client-first, then client-final, then the server-final check.
    Scram {
        /// The SCRAM state machine.
        client: Box<ScramClient>,
        /// Whether client-final went out.
        sent_final: bool,
    },
}

impl Exchange {
    /// A fresh exchange for `credentials` (SCRAM takes a random nonce).
    ///
    /// # Errors
    /// When the operating system has no randomness for the nonce.
    pub fn new(credentials: &Credentials) -> Result<Self, ScramError> {
        Ok(match credentials.mechanism {
            Mechanism::Plain => Exchange::Plain {
                token: format!("\0{}\0{}", credentials.username, credentials.password).into_bytes(),
            },
            Mechanism::Scram(m) => Exchange::Scram {
                client: Box::new(ScramClient::new(
                    m,
                    &credentials.username,
                    &credentials.password,
                    &scram::nonce()?,
                )),
                sent_final: false,
            },
        })
    }

    /// The first token.
    #[must_use]
    pub fn first(&self) -> Vec<u8> {
        match self {
            Exchange::Plain { token } => token.clone(),
            Exchange::Scram { client, .. } => client.client_first(),
        }
    }

    /// The server answered the last token with `answer` (successfully): the next token to
    /// send, or `None` when the exchange is complete (SCRAM's server-final verified).
    ///
    /// # Errors
    /// A malformed or forged server message.
    pub fn next(&mut self, answer: &[u8]) -> Result<Option<Vec<u8>>, ScramError> {
        match self {
            Exchange::Plain { .. } => Ok(None),
            Exchange::Scram { client, sent_final } if !*sent_final => {
                *sent_final = true;
                client.server_first(answer).map(Some)
            }
            Exchange::Scram { client, .. } => client.server_final(answer).map(|()| None),
        }
    }
}

impl Client {
    /// Authenticates this connection with SaslHandshake v1 + SaslAuthenticate v1 (the version
    /// with `session_lifetime_ms`), as Kafka's `SaslClientAuthenticator`. Returns the session
    /// lifetime the broker granted, when sessions expire (KIP-368).
    ///
    /// # Errors
    /// [`Error::Authentication`] when the broker refuses the mechanism or the credentials (or
    /// cannot prove it knows them); I/O, timeout and codec errors otherwise.
    pub async fn authenticate(&mut self, credentials: &Credentials) -> Result<Option<Duration>> {
        let mechanism = credentials.mechanism.name();
        let address = self.address().to_string();
        let failed = |reason: String| Error::Authentication {
            address: address.clone(),
            mechanism,
            user: credentials.username.clone(),
            reason,
        };
        let hs = self
            .call_at(
                &SaslHandshakeRequest::default()
                    .with_mechanism(StrBytes::from_static_str(mechanism)),
                1,
            )
            .await?;
        if hs.error_code != 0 {
            let enabled: Vec<&str> = hs.mechanisms.iter().map(StrBytes::as_str).collect();
            return Err(failed(format!(
                "SaslHandshake answered error code {} (the listener enables {enabled:?})",
                hs.error_code
            )));
        }
        let mut exchange = Exchange::new(credentials).map_err(|e| failed(e.to_string()))?;
        let mut token = Some(exchange.first());
        let mut lifetime_ms = 0i64;
        // PLAIN: one round; SCRAM: two.
        for _ in 0..2 {
            let Some(t) = token.take() else { break };
            let r = self
                .call_at(
                    &SaslAuthenticateRequest::default().with_auth_bytes(t.into()),
                    1,
                )
                .await?;
            if r.error_code != 0 {
                return Err(failed(format!(
                    "error code {}: {}",
                    r.error_code,
                    r.error_message.as_ref().map_or("", |m| m.as_str())
                )));
            }
            lifetime_ms = r.session_lifetime_ms;
            token = exchange
                .next(&r.auth_bytes)
                .map_err(|e| failed(e.to_string()))?;
        }
        if token.is_some() {
            return Err(failed("the exchange did not complete".into()));
        }
        Ok(u64::try_from(lifetime_ms)
            .ok()
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanisms_by_kafka_name_and_hidden_passwords() {
        for name in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
            assert_eq!(Mechanism::from_name(name).map(Mechanism::name), Some(name));
        }
        assert_eq!(Mechanism::from_name("GSSAPI"), None);
        let c = Credentials {
            mechanism: Mechanism::Plain,
            username: "b".into(),
            password: "p4ss".into(),
        };
        assert!(!format!("{c:?}").contains("p4ss"));
        let mut plain = Exchange::new(&c).expect("exchange");
        assert_eq!(plain.first(), b"\0b\0p4ss");
        assert_eq!(plain.next(b"").expect("done"), None);
        let scram = Exchange::new(&Credentials {
            mechanism: Mechanism::Scram(ScramMechanism::Sha512),
            ..c
        })
        .expect("exchange");
        assert!(scram.first().starts_with(b"n,,n=b,r="));
    }
}
