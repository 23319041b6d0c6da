//! Kafka's `ssl.*` settings for one listener (`listener.name.<name>.ssl.*` overriding the
//! broker-wide key, as Kafka reads them), the PEM material they name, and the rustls server and
//! client configurations built from them.

use super::TlsError;
use super::mapping::PrincipalMapper;
use regex::Regex;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Defaults of the keys this module reads (registered in `config/defs.rs`).
pub const DEFAULT_STORE_TYPE: &str = "PEM";
pub const DEFAULT_ENABLED_PROTOCOLS: &str = "TLSv1.2,TLSv1.3";
pub const DEFAULT_CLIENT_AUTH: &str = "none";
pub const DEFAULT_ENDPOINT_IDENTIFICATION: &str = "https";
pub const DEFAULT_HANDSHAKE_TIMEOUT_MS: &str = "10000";
pub const DEFAULT_RELOAD_INTERVAL_MS: &str = "5000";

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

/// Where a PEM item comes from: a file (re-read on reload) or the setting's value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemSource {
    File(PathBuf),
    Inline(String),
}

/// One listener's resolved TLS settings.
#[derive(Debug, Clone)]
pub struct SslSettings {
    pub listener: String,
    /// The key and certificate chain: one file holding both, or the two inline values.
    pub keystore: Option<(PemSource, PemSource)>,
    pub truststore: Option<PemSource>,
    pub client_auth: ClientAuth,
    pub protocols: Vec<&'static rustls::SupportedProtocolVersion>,
    pub cipher_suites: Vec<String>,
    pub mapper: PrincipalMapper,
    pub verify_hostname: bool,
    pub handshake_timeout: Duration,
    pub reload_interval: Duration,
}

/// The bytes of the PEM items, as last read (compared to detect a change on disk).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Material {
    pub key: Vec<u8>,
    pub chain: Vec<u8>,
    pub trust: Option<Vec<u8>>,
}

impl SslSettings {
    /// Reads the settings of `listener` (its `listener.name.<lower-name>.` overrides first).
    pub fn resolve(settings: &BTreeMap<String, String>, listener: &str) -> Result<Self, TlsError> {
        let prefix = format!("listener.name.{}.", listener.to_ascii_lowercase());
        let raw = |key: &str| -> Option<String> {
            settings
                .get(&format!("{prefix}{key}"))
                .or_else(|| settings.get(key))
                .map(|v| v.trim().to_string())
        };
        let get = |key: &str| raw(key).filter(|v| !v.is_empty());
        let invalid = |key: &str, reason: &str| TlsError::Setting {
            listener: listener.to_string(),
            key: key.to_string(),
            reason: reason.to_string(),
        };
        for (key, what) in [
            ("ssl.keystore.type", "key store"),
            ("ssl.truststore.type", "trust store"),
        ] {
            let ty = get(key).unwrap_or_else(|| DEFAULT_STORE_TYPE.into());
            if !ty.eq_ignore_ascii_case("PEM") {
                return Err(invalid(
                    key,
                    &format!("{ty} {what}s are not supported: convert it to PEM and set {key}=PEM"),
                ));
            }
        }
        for key in [
            "ssl.key.password",
            "ssl.keystore.password",
            "ssl.truststore.password",
        ] {
            if get(key).is_some() {
                return Err(invalid(
                    key,
                    "encrypted keys and password-protected stores are not supported: give an unencrypted PEM key (PKCS#8, PKCS#1 or SEC1)",
                ));
            }
        }
        let location = get("ssl.keystore.location");
        let inline_chain = get("ssl.keystore.certificate.chain");
        let inline_key = get("ssl.keystore.key");
        let keystore = match (location, inline_chain, inline_key) {
            (Some(path), None, None) => Some((
                PemSource::File(path.clone().into()),
                PemSource::File(path.into()),
            )),
            (None, Some(chain), Some(key)) => {
                Some((PemSource::Inline(key), PemSource::Inline(chain)))
            }
            (None, None, None) => None,
            (Some(_), _, _) => {
                return Err(invalid(
                    "ssl.keystore.location",
                    "give either ssl.keystore.location or ssl.keystore.certificate.chain with ssl.keystore.key, not both",
                ));
            }
            (None, _, _) => {
                return Err(invalid(
                    "ssl.keystore.key",
                    "ssl.keystore.certificate.chain and ssl.keystore.key go together",
                ));
            }
        };
        let truststore = match (
            get("ssl.truststore.location"),
            get("ssl.truststore.certificates"),
        ) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "ssl.truststore.location",
                    "give either ssl.truststore.location or ssl.truststore.certificates, not both",
                ));
            }
            (Some(path), None) => Some(PemSource::File(path.into())),
            (None, Some(pem)) => Some(PemSource::Inline(pem)),
            (None, None) => None,
        };
        let client_auth = match get("ssl.client.auth")
            .unwrap_or_else(|| DEFAULT_CLIENT_AUTH.into())
            .to_ascii_lowercase()
            .as_str()
        {
            "none" => ClientAuth::None,
            "requested" => ClientAuth::Requested,
            "required" => ClientAuth::Required,
            _ => {
                return Err(invalid(
                    "ssl.client.auth",
                    "expected none, requested or required",
                ));
            }
        };
        let mut protocols = Vec::new();
        for p in get("ssl.enabled.protocols")
            .unwrap_or_else(|| DEFAULT_ENABLED_PROTOCOLS.into())
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match p {
                "TLSv1.2" => protocols.push(&rustls::version::TLS12),
                "TLSv1.3" => protocols.push(&rustls::version::TLS13),
                old => tracing::warn!(
                    listener,
                    protocol = old,
                    "ssl.enabled.protocols names a protocol older than TLSv1.2, which is never enabled"
                ),
            }
        }
        if protocols.is_empty() {
            return Err(invalid(
                "ssl.enabled.protocols",
                "enable TLSv1.2 and/or TLSv1.3",
            ));
        }
        let cipher_suites = get("ssl.cipher.suites")
            .map(|s| {
                s.split(',')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let mapper = PrincipalMapper::parse(
            &get("ssl.principal.mapping.rules")
                .unwrap_or_else(|| super::mapping::DEFAULT_RULES.into()),
        )
        .map_err(|e| invalid("ssl.principal.mapping.rules", &e.to_string()))?;
        let millis = |key: &str, default: &str| -> Result<Duration, TlsError> {
            let v = get(key).unwrap_or_else(|| default.into());
            v.parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(Duration::from_millis)
                .ok_or_else(|| invalid(key, "expected a positive number of milliseconds"))
        };
        let s = SslSettings {
            listener: listener.to_string(),
            keystore,
            truststore,
            client_auth,
            protocols,
            cipher_suites,
            mapper,
            verify_hostname: raw("ssl.endpoint.identification.algorithm")
                .is_none_or(|a| a.eq_ignore_ascii_case("https")),
            handshake_timeout: millis("ssl.handshake.timeout.ms", DEFAULT_HANDSHAKE_TIMEOUT_MS)?,
            reload_interval: millis("ssl.reload.interval.ms", DEFAULT_RELOAD_INTERVAL_MS)?,
        };
        s.provider()?;
        Ok(s)
    }

    fn invalid(&self, key: &str, reason: impl Into<String>) -> TlsError {
        TlsError::Setting {
            listener: self.listener.clone(),
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    /// The files this listener's material is read from (watched for changes).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        let sources = self
            .keystore
            .iter()
            .flat_map(|(k, c)| [k, c])
            .chain(self.truststore.iter());
        for s in sources {
            if let PemSource::File(p) = s
                && !out.contains(p)
            {
                out.push(p.clone());
            }
        }
        out
    }

    /// Reads the key, chain and trust store (files from disk; blocking, small files).
    pub fn read_material(&self) -> Result<Material, TlsError> {
        let read = |what: &'static str, s: &PemSource| -> Result<Vec<u8>, TlsError> {
            match s {
                PemSource::File(path) => std::fs::read(path).map_err(|source| TlsError::Read {
                    what,
                    path: path.clone(),
                    source,
                }),
                PemSource::Inline(text) => Ok(normalize_inline_pem(text).into_bytes()),
            }
        };
        let (key, chain) = match &self.keystore {
            Some((k, c)) => (read("key store", k)?, read("key store", c)?),
            None => (Vec::new(), Vec::new()),
        };
        let trust = match &self.truststore {
            Some(t) => Some(read("trust store", t)?),
            None => None,
        };
        Ok(Material { key, chain, trust })
    }

    /// The ring provider, limited to `ssl.cipher.suites` when it is set (Java's names; a TLS
    /// 1.3 suite is `TLS_AES_128_GCM_SHA256`), in that order of preference. Without the
    /// setting, the cheapest suites come first (see `cheapest_first`).
    fn provider(&self) -> Result<Arc<CryptoProvider>, TlsError> {
        let mut provider = rustls::crypto::ring::default_provider();
        if self.cipher_suites.is_empty() {
            cheapest_first(&mut provider.cipher_suites, has_aes_instructions());
        } else {
            let all = std::mem::take(&mut provider.cipher_suites);
            for name in &self.cipher_suites {
                let found = all.iter().find(|s| {
                    let ours = s.suite().as_str().unwrap_or_default();
                    ours == name || ours.strip_prefix("TLS13_") == name.strip_prefix("TLS_")
                });
                match found {
                    Some(s) => provider.cipher_suites.push(*s),
                    None => {
                        return Err(self.invalid(
                            "ssl.cipher.suites",
                            format!("unsupported cipher suite {name}"),
                        ));
                    }
                }
            }
        }
        Ok(Arc::new(provider))
    }

    /// The listener's rustls server configuration from `material`.
    pub fn server_config(&self, material: &Material) -> Result<Arc<ServerConfig>, TlsError> {
        if self.keystore.is_none() {
            return Err(self.invalid(
                "ssl.keystore.location",
                "an SSL listener needs a key store: ssl.keystore.location, or ssl.keystore.certificate.chain and ssl.keystore.key",
            ));
        }
        let provider = self.provider()?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&self.protocols)?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            auth => {
                let roots = self.roots(material, "ssl.client.auth")?;
                let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let v = if auth == ClientAuth::Requested {
                    v.allow_unauthenticated()
                } else {
                    v
                };
                builder.with_client_cert_verifier(
                    v.build().map_err(|e| TlsError::Verifier(e.to_string()))?,
                )
            }
        };
        let (chain, key) = self.identity(material)?;
        let mut config = builder.with_single_cert(chain, key)?;
        // The server's order picks the suite: librdkafka (OpenSSL) lists AES-256-GCM first,
        // whose 14 AES rounds cost both sides more per byte than AES-128-GCM's 10.
        config.ignore_client_order = true;
        Ok(Arc::new(config))
    }

    /// A client configuration for connecting to another broker's listener with these settings:
    /// the trust store verifies the server; the key store, if any, is the client certificate.
    pub fn client_config(&self, material: &Material) -> Result<Arc<ClientConfig>, TlsError> {
        let provider = self.provider()?;
        let roots = Arc::new(self.roots(material, "ssl.truststore.location")?);
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&self.protocols)?;
        let builder = if self.verify_hostname {
            builder.with_root_certificates(roots)
        } else {
            let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| TlsError::Verifier(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoHostnameVerifier(inner)))
        };
        let config = match &self.keystore {
            Some(_) => {
                let (chain, key) = self.identity(material)?;
                builder.with_client_auth_cert(chain, key)?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }

    fn roots(&self, material: &Material, needed_by: &str) -> Result<RootCertStore, TlsError> {
        let pem = material.trust.as_deref().ok_or_else(|| {
            self.invalid(
                needed_by,
                "needs a trust store: ssl.truststore.location or ssl.truststore.certificates",
            )
        })?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| pem_error("trust store", &e))?;
            roots.add(cert)?;
        }
        if roots.is_empty() {
            return Err(TlsError::Pem {
                what: "trust store",
                reason: "no CERTIFICATE found".into(),
            });
        }
        Ok(roots)
    }

    fn identity(
        &self,
        material: &Material,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let key_text = String::from_utf8_lossy(&material.key);
        if key_text.contains("ENCRYPTED PRIVATE KEY") || key_text.contains("Proc-Type: 4,ENCRYPTED")
        {
            return Err(TlsError::Pem {
                what: "key store",
                reason: "the private key is encrypted; encrypted keys (ssl.key.password) are not supported: give an unencrypted PEM key".into(),
            });
        }
        let key = PrivateKeyDer::from_pem_slice(&material.key)
            .map_err(|e| pem_error("key store private key", &e))?;
        let chain = CertificateDer::pem_slice_iter(&material.chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_error("key store certificate chain", &e))?;
        if chain.is_empty() {
            return Err(TlsError::Pem {
                what: "key store",
                reason: "no CERTIFICATE found".into(),
            });
        }
        Ok((chain, key))
    }
}

fn pem_error(what: &'static str, e: &rustls::pki_types::pem::Error) -> TlsError {
    TlsError::Pem {
        what,
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PEM item of the expected kind".into()
            }
            other => other.to_string(),
        },
    }
}

/// Inline PEM in a properties file often loses its line breaks (a `\` continuation joins the
/// lines): put each BEGIN/END marker and the base64 body back on lines of their own.
pub fn normalize_inline_pem(text: &str) -> String {
    let Ok(block) = Regex::new(r"(?s)-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END ([A-Z0-9 ]+)-----")
    else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len() + 64);
    for c in block.captures_iter(text) {
        let body: String = c[2].split_whitespace().collect();
        out.push_str(&format!("-----BEGIN {}-----\n", &c[1]));
        for line in body.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str(&format!("-----END {}-----\n", &c[3]));
    }
    out
}

/// `ssl.endpoint.identification.algorithm=` (empty): the chain is verified against the trust
/// store, the host name is not (Kafka's behaviour with the check disabled).
#[derive(Debug)]
struct NoHostnameVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for NoHostnameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Orders `suites` by what a byte costs: with AES instructions AES-128-GCM (10 rounds) before
/// AES-256-GCM (14) before ChaCha20-Poly1305; without them ChaCha20-Poly1305 first. TLS 1.3
/// suites stay ahead of TLS 1.2 ones. Stable: equal suites keep ring's order.
pub fn cheapest_first(suites: &mut [rustls::SupportedCipherSuite], aes_instructions: bool) {
    suites.sort_by_key(|s| {
        let name = s.suite().as_str().unwrap_or_default();
        let tls12 = matches!(s, rustls::SupportedCipherSuite::Tls12(_));
        let cost = match (name.contains("AES_128_GCM"), name.contains("AES_256_GCM")) {
            (true, _) => 0,
            (_, true) => 1,
            _ if aes_instructions => 2,
            _ => -1,
        };
        (tls12, cost)
    });
}

/// Whether this CPU has AES instructions (AES-NI, ARMv8 AES), which ring's AES-GCM uses.
fn has_aes_instructions() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}
