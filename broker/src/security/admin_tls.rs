//! The admin HTTP server's optional TLS (`admin.ssl.enabled`): an `axum::serve` listener whose
//! connections are TLS streams. It uses the `ADMIN` listener's `ssl.*` settings
//! (`listener.name.admin.ssl.*` overrides the broker-wide `ssl.*`), including
//! `ssl.client.auth` and the reload of rotated certificate files.
//!
//! Handshakes run in their own tasks (each bounded by `ssl.handshake.timeout.ms`), so a client
//! that stalls or speaks plain HTTP only closes its own connection.

use crate::security::tls::TlsServer;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;

/// Handshaken connections waiting for the HTTP server; a full queue pauses accepting.
const QUEUE: usize = 64;

/// The admin HTTP listener with TLS: `accept` yields connections whose handshake succeeded.
pub struct AdminTlsListener {
    addr: SocketAddr,
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl AdminTlsListener {
    /// Accepts on `listener` until shutdown, running each handshake with `tls`.
    pub fn spawn(
        listener: TcpListener,
        tls: Arc<TlsServer>,
        mut shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(QUEUE);
        tls.spawn_reload(shutdown.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = shutdown.wait_for(|s| *s) => return,
                    r = listener.accept() => r,
                };
                let (sock, peer) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "admin http: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = tx.clone().reserve_owned().await else {
                    return;
                };
                let tls = Arc::clone(&tls);
                tokio::spawn(async move {
                    match tls.accept(sock).await {
                        Ok((stream, _principal)) => {
                            permit.send((stream, peer));
                        }
                        Err(e) => {
                            tracing::info!(%peer, error = %e, "admin http: tls handshake failed; closing the connection");
                        }
                    }
                });
            }
        });
        Ok(AdminTlsListener { addr, rx })
    }
}

impl axum::serve::Listener for AdminTlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop stopped (shutdown): wait for the graceful shutdown to end serving.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
