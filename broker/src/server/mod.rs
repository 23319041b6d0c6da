//! Kafka listeners: binds each configured listener, accepts connections and runs one task per
//! connection until shutdown.

pub mod connection;
pub mod sasl_gate;
pub mod send_file;

use crate::broker::Broker;
use crate::config::Listener;
use crate::security::Principal;
use crate::security::quota::ConnectionRefusal;
use crate::security::quota::connections::ConnectionLimitConfig;
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

/// The connection limits in force for `listener` (invalid settings fall back to no limit,
/// with a warning).
fn connection_limits(broker: &Broker, listener: &str) -> ConnectionLimitConfig {
    ConnectionLimitConfig::from_settings(
        |k| broker.node.broker_setting(k),
        &[listener.to_string()],
    )
    .unwrap_or_else(|e| {
        tracing::warn!(error = %e, "invalid connection limit setting; not limiting connections");
        ConnectionLimitConfig::default()
    })
}

/// Accepts connections on `sock` until `shutdown` turns true, within the connection limits.
/// With `tls` (SSL and SASL_SSL listeners) each connection first completes a TLS handshake
/// within the handshake timeout; a failed or stalled handshake closes that connection only.
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
    let limits = Arc::clone(broker.quotas.connections());
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Connection limits (security/quota/connections.rs), re-read as they are dynamic.
        let cfg = connection_limits(&broker, &listener.name);
        if !limits.has_slot(&listener.name, &cfg) {
            // At max.connections (or the listener's): accept nothing until one closes.
            tokio::select! {
                _ = shutdown.changed() => {}
                () = limits.closed.notified() => {}
                () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
            }
            continue;
        }
        tokio::select! {
            _ = shutdown.changed() => continue,
            accepted = sock.accept() => match accepted {
                Ok((stream, peer)) => {
                    let delay = limits.record_creation(&cfg);
                    let ip_rate = crate::security::quota::resolve::resolve_ip(
                        &broker.quotas.quotas(),
                        crate::security::quota::CONNECTION_CREATION_RATE,
                        &peer.ip().to_string(),
                    );
                    match limits.admit(&listener.name, peer.ip(), &cfg, ip_rate) {
                        Ok(slot) => {
                            let _ = stream.set_nodelay(true);
                            let broker = Arc::clone(&broker);
                            let info = Arc::clone(&info);
                            let shutdown = shutdown.clone();
                            let tls = tls.clone();
                            tokio::spawn(async move {
                                match tls {
                                    None => {
                                        let (r, w) = stream.into_split();
                                        let principal = Principal::anonymous();
                                        connection::run(broker, r, w, peer, info, principal, shutdown)
                                            .await;
                                    }
                                    Some(tls) => {
                                        serve_tls(broker, tls, stream, peer, info, shutdown).await;
                                    }
                                }
                                drop(slot);
                            });
                        }
                        Err(refusal @ ConnectionRefusal::TooManyForIp { .. }) => {
                            tracing::warn!(%peer, listener = %listener.name, reason = %refusal, "closing new connection");
                            drop(stream);
                        }
                        Err(refusal @ ConnectionRefusal::IpRateThrottled { close_after_ms, .. }) => {
                            tracing::warn!(%peer, listener = %listener.name, reason = %refusal, "closing new connection after its throttle time");
                            tokio::spawn(async move {
                                tokio::time::sleep(std::time::Duration::from_millis(close_after_ms)).await;
                                drop(stream);
                            });
                        }
                    }
                    if delay > 0 {
                        // max.connection.creation.rate: the acceptor waits the throttle time.
                        tokio::select! {
                            _ = shutdown.changed() => {}
                            () = tokio::time::sleep(std::time::Duration::from_millis(delay)) => {}
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
