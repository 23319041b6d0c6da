//! The TLS client side, for connections between brokers (replica fetchers, the Raft
//! transport): verifies the other broker against the listener's trust store and presents the
//! listener's key store as the client certificate. The files are read at each connection, so a
//! rotation applies to the next reconnect.

use super::{SslSettings, TlsError};
use rustls::pki_types::ServerName;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Connects to other brokers' listeners of one name over TLS.
#[derive(Debug)]
pub struct TlsClient {
    settings: SslSettings,
}

impl TlsClient {
    /// The client for `listener`'s settings; reads the material once to refuse a bad
    /// configuration at start.
    pub fn new(settings: &BTreeMap<String, String>, listener: &str) -> Result<Arc<Self>, TlsError> {
        let settings = SslSettings::resolve(settings, listener)?;
        settings.client_config(&settings.read_material()?)?;
        Ok(Arc::new(TlsClient { settings }))
    }

    /// TCP connect to `addr` (`host:port`) and the TLS handshake, within `timeout` each; the
    /// server certificate must name `host` (unless `ssl.endpoint.identification.algorithm` is
    /// empty).
    pub async fn connect(
        &self,
        addr: &str,
        timeout: Duration,
    ) -> Result<TlsStream<TcpStream>, TlsError> {
        let settings = self.settings.clone();
        let config = tokio::task::spawn_blocking(move || {
            settings
                .read_material()
                .and_then(|m| settings.client_config(&m))
        })
        .await
        .map_err(|e| TlsError::Handshake(std::io::Error::other(e)))??;
        let host = addr
            .rsplit_once(':')
            .map_or(addr, |(h, _)| h)
            .trim_matches(['[', ']']);
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            TlsError::Handshake(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{host} is not a valid TLS server name: {e}"),
            ))
        })?;
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| TlsError::HandshakeTimeout(timeout))?
            .map_err(TlsError::Handshake)?;
        let _ = tcp.set_nodelay(true);
        tokio::time::timeout(timeout, TlsConnector::from(config).connect(name, tcp))
            .await
            .map_err(|_| TlsError::HandshakeTimeout(timeout))?
            .map_err(TlsError::Handshake)
    }
}
