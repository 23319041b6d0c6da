//! How followers reach their leaders: the listener `inter.broker.listener.name` names (the first
//! listener without it), over TLS with that listener's trust store and key store when its
//! protocol is SSL or SASL_SSL, authenticated with SaslHandshake v1 + SaslAuthenticate when it
//! is SASL_* (`sasl.mechanism.inter.broker.protocol` and the listener's
//! `<mechanism>.sasl.jaas.config` credentials, as Kafka brokers read them).

use crate::config::BrokerConfig;
use crate::security::sasl::client::{SaslClientConfig, SaslClientError};
use crate::security::tls::TlsError;
use crate::security::tls::client::TlsClient;
use eddy_kafka_client::{Client as KafkaConn, Config as KafkaConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why the inter-broker listener cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InterBrokerError {
    #[error("inter.broker.listener.name {0:?} is not one of this broker's listeners")]
    UnknownListener(String),
    #[error("inter-broker tls: {0}")]
    Tls(#[from] TlsError),
    #[error("inter-broker sasl on listener {listener}: {source}")]
    Sasl {
        listener: String,
        source: SaslClientError,
    },
}

/// Why a connection to another broker failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The other broker refused our credentials (or the exchange broke): worth a clear log
    /// line and a backoff, not a quiet retry.
    #[error("inter-broker {mechanism} authentication as {user:?} failed: {reason}")]
    Authentication {
        mechanism: &'static str,
        user: String,
        reason: String,
    },
}

/// A connection to another broker, and when its SASL session ends (KIP-368): the caller
/// reconnects before then.
pub struct Connection {
    pub conn: KafkaConn,
    pub session_ends: Option<Instant>,
}

/// The listener followers connect to, and the TLS client when it is SSL.
#[derive(Debug, Clone, Default)]
pub struct InterBroker {
    /// `None`: the address each broker registered (its first listener).
    pub listener: Option<String>,
    pub tls: Option<Arc<TlsClient>>,
    /// The broker's own credentials when the listener is SASL_*.
    pub sasl: Option<Arc<SaslClientConfig>>,
}

impl InterBroker {
    pub fn from_config(config: &BrokerConfig) -> Result<Self, InterBrokerError> {
        let named = config.get("inter.broker.listener.name");
        let listener = if named.is_empty() {
            config.listeners.first()
        } else {
            config
                .listeners
                .iter()
                .find(|l| l.name.eq_ignore_ascii_case(&named))
        };
        let Some(l) = listener else {
            return match named.is_empty() {
                true => Ok(InterBroker::default()),
                false => Err(InterBrokerError::UnknownListener(named)),
            };
        };
        let sasl = if l.protocol.is_sasl() {
            let get = |k: &str| config.settings.get(k).cloned();
            let c = SaslClientConfig::from_settings(&l.name, &get).map_err(|source| {
                InterBrokerError::Sasl {
                    listener: l.name.clone(),
                    source,
                }
            })?;
            Some(Arc::new(c))
        } else {
            None
        };
        let tls = if l.protocol.is_tls() {
            Some(TlsClient::new(&config.settings, &l.name)?)
        } else {
            None
        };
        Ok(InterBroker {
            listener: Some(l.name.clone()),
            tls,
            sasl,
        })
    }

    /// A connection to the leader at `addr`, over TLS when the inter-broker listener is
    /// SSL/SASL_SSL, authenticated when it is SASL_*.
    pub async fn connect(
        &self,
        addr: &str,
        config: KafkaConfig,
    ) -> Result<Connection, ConnectError> {
        let mut conn = match &self.tls {
            None => KafkaConn::connect(addr, config)
                .await
                .map_err(|e| ConnectError::Connect(e.to_string()))?,
            Some(tls) => tls
                .connect(addr, config.timeout)
                .await
                .map(|s| KafkaConn::over(s, addr, config))
                .map_err(|e| ConnectError::Connect(e.to_string()))?,
        };
        let session_ends = match &self.sasl {
            None => None,
            Some(sasl) => authenticate(&mut conn, sasl).await?,
        };
        Ok(Connection { conn, session_ends })
    }
}

/// Reconnect this long before the session's end at the latest (Kafka's clients re-authenticate
/// at 85-95% of the lifetime).
fn reauth_at(lifetime: Duration) -> Duration {
    lifetime.mul_f64(0.85)
}

/// SaslHandshake v1 + SaslAuthenticate v1 with the shared client
/// (`eddy_kafka_client::sasl`). Returns when the session must be renewed, if it expires.
async fn authenticate(
    conn: &mut KafkaConn,
    sasl: &SaslClientConfig,
) -> Result<Option<Instant>, ConnectError> {
    let started = Instant::now();
    match conn.authenticate(&sasl.credentials()).await {
        Ok(lifetime) => Ok(lifetime.map(|l| started + reauth_at(l))),
        Err(eddy_kafka_client::Error::Authentication {
            mechanism,
            user,
            reason,
            ..
        }) => Err(ConnectError::Authentication {
            mechanism,
            user,
            reason,
        }),
        Err(e) => Err(ConnectError::Connect(format!("sasl: {e}"))),
    }
}
