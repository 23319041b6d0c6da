//! TLS for the SSL and SASL_SSL listeners: the server configuration built from Kafka's `ssl.*`
//! PEM settings, the handshake under a time bound, the mTLS principal, and reloading the key
//! and trust stores when their files change (a Kubernetes Secret rotation) — new handshakes use
//! the new material, established connections keep theirs.

pub mod client;
pub mod mapping;
pub mod principal;
pub mod settings;

use crate::security::Principal;
pub use settings::{ClientAuth, Material, SslSettings};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Why TLS could not be configured, or a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("listener {listener}: {key}: {reason}")]
    Setting {
        listener: String,
        key: String,
        reason: String,
    },
    #[error("reading the {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the {what}: {reason}")]
    Pem { what: &'static str, reason: String },
    #[error("building the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("building the certificate verifier: {0}")]
    Verifier(String),
    #[error("tls handshake failed: {0}")]
    Handshake(std::io::Error),
    #[error("tls handshake did not finish within {0:?}")]
    HandshakeTimeout(Duration),
    #[error("client certificate: {0}")]
    Principal(#[from] principal::PrincipalError),
}

/// The current server configuration and the material it was built from.
struct Loaded {
    config: Arc<rustls::ServerConfig>,
    material: Material,
    /// The last material that failed to load, so that a bad file is logged once, not on
    /// every check.
    rejected: Option<Material>,
}

/// One TLS listener's server side: hands out the current configuration to each handshake and
/// swaps it when the files change.
pub struct TlsServer {
    settings: SslSettings,
    loaded: RwLock<Loaded>,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("listener", &self.settings.listener)
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Reads `listener`'s settings and material; any error refuses the start.
    pub fn new(settings: &BTreeMap<String, String>, listener: &str) -> Result<Arc<Self>, TlsError> {
        let settings = SslSettings::resolve(settings, listener)?;
        let material = settings.read_material()?;
        let config = settings.server_config(&material)?;
        Ok(Arc::new(TlsServer {
            settings,
            loaded: RwLock::new(Loaded {
                config,
                material,
                rejected: None,
            }),
        }))
    }

    pub fn settings(&self) -> &SslSettings {
        &self.settings
    }

    fn config(&self) -> Arc<rustls::ServerConfig> {
        match self.loaded.read() {
            Ok(l) => Arc::clone(&l.config),
            Err(poisoned) => Arc::clone(&poisoned.into_inner().config),
        }
    }

    /// Runs the server handshake on `io` within `ssl.handshake.timeout.ms` and returns the
    /// stream with its principal: the client certificate's mapped subject, or `User:ANONYMOUS`
    /// without one.
    pub async fn accept<IO>(&self, io: IO) -> Result<(TlsStream<IO>, Principal), TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = TlsAcceptor::from(self.config());
        let timeout = self.settings.handshake_timeout;
        let stream = tokio::time::timeout(timeout, acceptor.accept(io))
            .await
            .map_err(|_| TlsError::HandshakeTimeout(timeout))?
            .map_err(TlsError::Handshake)?;
        let principal = match stream.get_ref().1.peer_certificates() {
            Some([cert, ..]) => principal::principal_of(cert, &self.settings.mapper)?,
            _ => Principal::anonymous(),
        };
        Ok((stream, principal))
    }

    /// Re-reads the files; when their contents changed and the new material is valid, later
    /// handshakes use it. Returns whether the configuration was replaced. Blocking (reads a
    /// few small files).
    pub fn reload_if_changed(&self) -> bool {
        let material = match self.settings.read_material() {
            Ok(m) => m,
            Err(e) => {
                // A rotation may be half-way (files swapped one by one): keep the old material.
                tracing::debug!(listener = %self.settings.listener, error = %e, "tls material unreadable; keeping the current certificate");
                return false;
            }
        };
        {
            let l = match self.loaded.read() {
                Ok(l) => l,
                Err(p) => p.into_inner(),
            };
            if l.material == material || l.rejected.as_ref() == Some(&material) {
                return false;
            }
        }
        let mut l = match self.loaded.write() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        match self.settings.server_config(&material) {
            Ok(config) => {
                let serial = leaf_serial(&material);
                tracing::info!(listener = %self.settings.listener, serial = %serial, "tls key/trust store changed on disk: new handshakes use the new certificate");
                l.config = config;
                l.material = material;
                l.rejected = None;
                true
            }
            Err(e) => {
                tracing::error!(listener = %self.settings.listener, error = %e, "tls key/trust store changed on disk but is invalid; keeping the current certificate");
                l.rejected = Some(material);
                false
            }
        }
    }

    /// Checks the files every `ssl.reload.interval.ms` until shutdown.
    pub fn spawn_reload(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        if self.settings.files().is_empty() {
            return;
        }
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.settings.reload_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.wait_for(|s| *s) => return,
                    _ = tick.tick() => {}
                }
                let me2 = Arc::clone(&me);
                if tokio::task::spawn_blocking(move || me2.reload_if_changed())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}

/// The serial of the first certificate of the chain, in hex ("?" if unreadable).
fn leaf_serial(material: &Material) -> String {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(&material.chain)
        .next()
        .and_then(Result::ok)
        .and_then(|c| principal::serial_of(&c).ok())
        .unwrap_or_else(|| "?".into())
}

/// Which of `listeners` (name, protocol) wrap their connections in TLS, each with its server.
pub fn servers_for<'a>(
    listeners: impl IntoIterator<Item = (&'a str, crate::security::SecurityProtocol)>,
    settings: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Arc<TlsServer>>, TlsError> {
    let mut out = BTreeMap::new();
    for (name, protocol) in listeners {
        if protocol.is_tls() && !out.contains_key(name) {
            out.insert(name.to_string(), TlsServer::new(settings, name)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
