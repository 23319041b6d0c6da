//! Kafka listeners: binds each configured listener, accepts connections and runs one task per
//! connection until shutdown.

pub mod connection;
pub mod sasl_gate;

use crate::broker::Broker;
use crate::config::Listener;
use crate::security::sasl::SaslSettings;
use crate::security::{Principal, SecurityProtocol};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Binds every listener; returns the bound addresses (ports resolved when 0 was asked).
pub async fn bind(listeners: &[Listener]) -> std::io::Result<Vec<(Listener, TcpListener)>> {
    let mut out = Vec::new();
    for l in listeners {
        if !matches!(
            l.protocol,
            SecurityProtocol::Plaintext | SecurityProtocol::SaslPlaintext
        ) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!(
                    "listener {} uses {}, which this broker does not support yet (PLAINTEXT and SASL_PLAINTEXT only)",
                    l.name, l.protocol
                ),
            ));
        }
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

/// Accepts connections on `sock` until `shutdown` turns true.
pub async fn serve(
    broker: Arc<Broker>,
    listener: Listener,
    sock: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
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
                    let (r, w) = stream.into_split();
                    let principal = Principal::anonymous();
                    tokio::spawn(connection::run(broker, r, w, peer, info, principal, shutdown));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
}
