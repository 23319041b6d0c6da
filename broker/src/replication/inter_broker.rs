//! How followers reach their leaders: the listener `inter.broker.listener.name` names (the first
//! listener without it), over TLS with that listener's trust store and key store when its
//! protocol is SSL.

use crate::config::BrokerConfig;
use crate::security::tls::TlsError;
use crate::security::tls::client::TlsClient;
use eddy_kafka_client::{Client as KafkaConn, Config as KafkaConfig};
use std::sync::Arc;

/// Why the inter-broker listener cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InterBrokerError {
    #[error("inter.broker.listener.name {0:?} is not one of this broker's listeners")]
    UnknownListener(String),
    #[error(
        "inter.broker.listener.name {name:?} uses {protocol}, which inter-broker connections do not support yet (PLAINTEXT and SSL only)"
    )]
    Unsupported { name: String, protocol: String },
    #[error("inter-broker tls: {0}")]
    Tls(#[from] TlsError),
}

/// The listener followers connect to, and the TLS client when it is SSL.
#[derive(Debug, Clone, Default)]
pub struct InterBroker {
    /// `None`: the address each broker registered (its first listener).
    pub listener: Option<String>,
    pub tls: Option<Arc<TlsClient>>,
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
        if l.protocol.is_sasl() {
            return Err(InterBrokerError::Unsupported {
                name: l.name.clone(),
                protocol: l.protocol.to_string(),
            });
        }
        let tls = if l.protocol.is_tls() {
            Some(TlsClient::new(&config.settings, &l.name)?)
        } else {
            None
        };
        Ok(InterBroker {
            listener: Some(l.name.clone()),
            tls,
        })
    }

    /// A connection to the leader at `addr`, over TLS when the inter-broker listener is SSL.
    pub async fn connect(&self, addr: &str, config: KafkaConfig) -> Result<KafkaConn, String> {
        match &self.tls {
            None => KafkaConn::connect(addr, config)
                .await
                .map_err(|e| e.to_string()),
            Some(tls) => tls
                .connect(addr, config.timeout)
                .await
                .map(|s| KafkaConn::over(s, addr, config))
                .map_err(|e| e.to_string()),
        }
    }
}
