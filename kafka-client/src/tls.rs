//! TLS for a [`Client`] (rustls with the ring provider, as everywhere in the workspace): trust
//! the CA certificates of a PEM bundle, optionally present a client certificate, and verify the
//! broker under the host connected to (a DNS name or an IP address SAN) or a name the caller
//! chooses.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::{Client, Config, Error, Result};

/// How a [`Client`] sets up TLS: the trusted CAs, the client certificate if any, and the name
/// the broker's certificate must carry.
#[derive(Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
    server_name: Option<String>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

fn pem_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Tls(format!("{what}: {e}"))
}

impl Tls {
    /// Trusts the CA certificates in `ca_pem` (one or more PEM certificates); no client
    /// certificate.
    ///
    /// # Errors
    /// [`Error::Tls`] when the PEM holds no usable certificate.
    pub fn trusting(ca_pem: &[u8]) -> Result<Self> {
        Self::build(ca_pem, None)
    }

    /// Trusts `ca_pem` and presents `cert_pem` (leaf and chain) with its PKCS#8/PKCS#1/SEC1
    /// `key_pem` (mutual TLS).
    ///
    /// # Errors
    /// [`Error::Tls`] when a PEM does not parse.
    pub fn with_client_certificate(ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> Result<Self> {
        Self::build(ca_pem, Some((cert_pem, key_pem)))
    }

    fn build(ca_pem: &[u8], identity: Option<(&[u8], &[u8])>) -> Result<Self> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|e| pem_error("ca certificate", e))?;
            roots
                .add(cert)
                .map_err(|e| pem_error("ca certificate", e))?;
        }
        if roots.is_empty() {
            return Err(Error::Tls("the CA bundle holds no certificate".into()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| pem_error("tls versions", e))?
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert_pem, key_pem)) => {
                let chain = CertificateDer::pem_slice_iter(cert_pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| pem_error("client certificate", e))?;
                let key = PrivateKeyDer::from_pem_slice(key_pem)
                    .map_err(|e| pem_error("client key", e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| pem_error("client certificate", e))?
            }
        };
        Ok(Self {
            config: Arc::new(config),
            server_name: None,
        })
    }

    /// Verifies the broker's certificate under `name` instead of the host connected to (a
    /// pod's DNS name when connecting to its IP).
    #[must_use]
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    fn server_name(&self, address: &str) -> Result<ServerName<'static>> {
        let host = match &self.server_name {
            Some(n) => n.as_str(),
            None => address
                .rsplit_once(':')
                .map_or(address, |(h, _)| h)
                .trim_matches(['[', ']']),
        };
        ServerName::try_from(host.to_string())
            .map_err(|e| Error::Tls(format!("{host} is not a valid TLS server name: {e}")))
    }
}

/// How a [`Client`] secures its connection: TLS, SASL, both or neither (PLAINTEXT,
/// SSL, SASL_PLAINTEXT, SASL_SSL).
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// TLS set-up, when the listener is SSL or SASL_SSL.
    pub tls: Option<Tls>,
    /// SASL credentials, when the listener is SASL_PLAINTEXT or SASL_SSL.
    pub sasl: Option<crate::sasl::Credentials>,
}

impl Security {
    /// No TLS, no SASL.
    #[must_use]
    pub fn plaintext() -> Self {
        Self::default()
    }

    /// Kafka's `security.protocol` name of this set-up.
    #[must_use]
    pub fn protocol(&self) -> &'static str {
        match (self.tls.is_some(), self.sasl.is_some()) {
            (false, false) => "PLAINTEXT",
            (true, false) => "SSL",
            (false, true) => "SASL_PLAINTEXT",
            (true, true) => "SASL_SSL",
        }
    }
}

impl Client {
    /// Connects to `address` over TLS: TCP connect and handshake, each bounded by the timeout.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Io`], or [`Error::Tls`] when the handshake fails (an
    /// untrusted certificate or one not naming the broker).
    pub async fn connect_tls(address: &str, config: Config, tls: &Tls) -> Result<Self> {
        let name = tls.server_name(address)?;
        let timeout = config.timeout;
        let timed_out = |op| Error::Timeout {
            address: address.to_string(),
            op,
        };
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| timed_out("connect"))?
            .map_err(|source| Error::Io {
                address: address.to_string(),
                source,
            })?;
        tcp.set_nodelay(true).map_err(|source| Error::Io {
            address: address.to_string(),
            source,
        })?;
        let stream = tokio::time::timeout(
            timeout,
            TlsConnector::from(Arc::clone(&tls.config)).connect(name, tcp),
        )
        .await
        .map_err(|_| timed_out("tls handshake"))?
        .map_err(|e| Error::Tls(format!("handshake with {address}: {e}")))?;
        Ok(Self::over(stream, address, config))
    }

    /// Connects to `address` as `security` says (TLS, then ApiVersions negotiation, then SASL,
    /// the order of Kafka's clients).
    ///
    /// # Errors
    /// Connection, TLS, negotiation or authentication failures.
    pub async fn connect_secure(
        address: &str,
        config: Config,
        security: &Security,
    ) -> Result<Self> {
        let mut client = match &security.tls {
            Some(tls) => Self::connect_tls(address, config, tls).await?,
            None => Self::connect(address, config).await?,
        };
        client.negotiate().await?;
        if let Some(credentials) = &security.sasl {
            client.authenticate(credentials).await?;
        }
        Ok(client)
    }
}
