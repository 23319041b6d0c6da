//! Kafka listeners: binds each configured listener, accepts connections and runs one task per
//! connection until shutdown.

pub mod connection;
pub mod sasl_gate;

use crate::broker::Broker;
use crate::config::Listener;
use crate::security::Principal;
use crate::security::sasl::SaslSettings;
use crate::security::tls::TlsServer;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Binds every listener; returns the bound addresses (ports resolved when 0 was asked).
pub async fn bind(listeners: &[Listener]) -> std::io::Result<Vec<(Listener, TcpListener)>> {
    let mut out = Vec::new();
    for l in listeners {
        let sock = TcpListener::bind((l.host.as_str(), l.port))
            .await
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("binding listener {}://{}:{}: {e}", l.name, l.host, l.port),
                )
            })?;
        out.push((l.clone(), sock));
    }
    Ok(out)
}

/// Accepts connections on `sock` until `shutdown` turns true. With `tls` (SSL and SASL_SSL
/// listeners) each connection first completes a TLS handshake within the handshake timeout;
/// a failed or stalled handshake closes that connection only.
pub async fn serve(
    broker: Arc<Broker>,
    listener: Listener,
    sock: TcpListener,
    tls: Option<Arc<TlsServer>>,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Some(t) = &tls {
        t.spawn_reload(shutdown.clone());
    }
    let local: Option<SocketAddr> = sock.local_addr().ok();
    tracing::info!(listener = %listener.name, protocol = %listener.protocol, addr = ?local, "kafka listener ready");
    let sasl = if listener.protocol.is_sasl() {
        let settings = &broker.node.config.settings;
        match SaslSettings::from_settings(&listener.name, &|k| settings.get(k).cloned()) {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                // Validated when the config was read; never serve a SASL listener without SASL.
                tracing::error!(listener = %listener.name, error = %e, "not serving the listener");
                return;
            }
        }
    } else {
        None
    };
    let info = Arc::new(connection::ListenerInfo {
        name: listener.name.clone(),
        protocol: listener.protocol,
        sasl,
    });
    loop {
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            _ = shutdown.changed() => continue,
            accepted = sock.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let broker = Arc::clone(&broker);
                    let info = Arc::clone(&info);
                    let shutdown = shutdown.clone();
                    match &tls {
                        None => {
                            let (r, w) = stream.into_split();
                            let principal = Principal::anonymous();
                            tokio::spawn(connection::run(broker, r, w, peer, info, principal, shutdown));
                        }
                        Some(tls) => {
                            tokio::spawn(serve_tls(broker, Arc::clone(tls), stream, peer, info, shutdown));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// One TLS connection: the handshake (bounded in time), then the Kafka protocol over the
/// decrypted stream with the principal the client certificate gave.
async fn serve_tls(
    broker: Arc<Broker>,
    tls: Arc<TlsServer>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    info: Arc<connection::ListenerInfo>,
    shutdown: watch::Receiver<bool>,
) {
    // rustls reads at most 4 KB per call: a read buffer below it saves most of the syscalls
    // of a large produce (BufReader passes writes straight through).
    let stream = tokio::io::BufReader::with_capacity(64 * 1024, stream);
    let (stream, principal) = match tls.accept(stream).await {
        Ok(accepted) => accepted,
        Err(e) => {
            tracing::info!(listener = %info.name, %peer, error = %e, "closing connection: tls handshake failed");
            return;
        }
    };
    tracing::debug!(listener = %info.name, %peer, %principal, "tls connection established");
    let (r, w) = tokio::io::split(stream);
    connection::run(broker, r, w, peer, info, principal, shutdown).await;
}
