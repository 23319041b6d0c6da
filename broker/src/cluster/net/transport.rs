//! The controller transport's byte streams: plain TCP, or TLS when `controller.ssl.enabled` is
//! set (the `CONTROLLER` listener's `ssl.*` settings: the trust store verifies peers, the key
//! store is this node's certificate on both sides; with `ssl.client.auth=required` only
//! certificates of that CA reach the quorum).

use crate::security::tls::TlsServer;
use crate::security::tls::client::TlsClient;
use eddy_kafka_client::Transport;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;

/// Bound on connecting and on the TLS handshake to a peer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Both sides of TLS on the controller transport.
#[derive(Debug, Clone)]
pub struct ControllerTls {
    pub server: Arc<TlsServer>,
    pub client: Arc<TlsClient>,
}

static TLS: OnceLock<ControllerTls> = OnceLock::new();

/// Turns TLS on for every controller connection of this process (once, at start).
pub fn enable_tls(tls: ControllerTls) {
    let _ = TLS.set(tls);
}

/// The server side, when TLS is on (for its reload task).
pub fn tls_server() -> Option<Arc<TlsServer>> {
    TLS.get().map(|t| Arc::clone(&t.server))
}

/// Connects to a peer's controller listener.
pub(super) async fn connect(addr: &str) -> std::io::Result<Box<dyn Transport>> {
    match TLS.get() {
        None => {
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
            let _ = stream.set_nodelay(true);
            Ok(Box::new(stream))
        }
        Some(tls) => tls
            .client
            .connect(addr, CONNECT_TIMEOUT)
            .await
            .map(|s| Box::new(s) as Box<dyn Transport>)
            .map_err(std::io::Error::other),
    }
}

/// A connection accepted on the controller listener, after the TLS handshake when TLS is on;
/// `None` (logged) when the handshake fails.
pub(super) async fn accept(stream: TcpStream) -> Option<Box<dyn Transport>> {
    let _ = stream.set_nodelay(true);
    let Some(tls) = TLS.get() else {
        return Some(Box::new(stream));
    };
    let peer = stream.peer_addr().ok();
    match tls.server.accept(stream).await {
        Ok((s, principal)) => {
            tracing::debug!(?peer, %principal, "controller tls connection established");
            Some(Box::new(s))
        }
        Err(e) => {
            tracing::info!(?peer, error = %e, "closing controller connection: tls handshake failed");
            None
        }
    }
}
