//! Certificate authorities and certificates of secure clusters (pure, no Kubernetes): a CA per
//! cluster signs broker certificates (cluster CA) or KafkaUser certificates (clients CA), with
//! rcgen; reading a certificate back (validity, SANs, issuer) with x509-parser; the renewal
//! decision. The reconcilers keep the results in Secrets.
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer as _, X509Certificate};

/// Organisation in the subject of every certificate the operator makes.
pub const ORGANIZATION: &str = "eddy.io";

const SECONDS_PER_DAY: u64 = 86_400;
/// Certificates start an hour in the past: a peer whose clock runs behind must not see a
/// certificate that is "not yet valid".
const BACKDATE: Duration = Duration::from_secs(3_600);

/// Errors of generating, signing or reading certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused to generate a key or sign a certificate.
    #[error("generating certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM certificate or key could not be read.
    #[error("reading certificate: {0}")]
    Parse(String),
    /// A validity of zero days or past the year 9999.
    #[error("invalid validity of {0} days")]
    Validity(u32),
}

/// Result alias of this module.
pub type Result<T, E = PkiError> = std::result::Result<T, E>;

/// A certificate (PEM; for an issued leaf: leaf then CA chain) and its private key (PKCS#8 PEM).
#[derive(Clone, PartialEq, Eq)]
pub struct CertKey {
    /// Certificate chain, PEM.
    pub cert_pem: String,
    /// Unencrypted PKCS#8 private key, PEM.
    pub key_pem: String,
}

impl fmt::Debug for CertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertKey")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// What an issued certificate is for (its extended key usage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// TLS server (a listener).
    Server,
    /// TLS client (a KafkaUser).
    Client,
    /// Both: a broker serves listeners and connects to other brokers and controllers.
    ServerAndClient,
}

/// A leaf certificate to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// Subject CN (`CN=alice` maps to `User:alice` with the cluster's principal mapping rule).
    pub common_name: String,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ip_addresses: Vec<IpAddr>,
    /// Extended key usage.
    pub usage: Usage,
    /// Days from now the certificate is valid.
    pub validity_days: u32,
}

/// What the operator reads back from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject CN.
    pub common_name: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ip_addresses: Vec<IpAddr>,
}

fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| PkiError::Parse(format!("random serial: {e}")))?;
    // Positive, and non-zero in its first byte so DER keeps all 16 bytes.
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

fn validity(params: &mut CertificateParams, now: SystemTime, days: u32) -> Result<()> {
    if days == 0 || days > 2_900_000 {
        return Err(PkiError::Validity(days));
    }
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + Duration::from_secs(u64::from(days) * SECONDS_PER_DAY)).into();
    Ok(())
}

fn ca_params(
    common_name: &str,
    organization: &str,
    now: SystemTime,
    days: u32,
) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, organization);
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(random_serial()?);
    validity(&mut params, now, days)?;
    Ok(params)
}

/// A new self-signed CA (ECDSA P-256) valid for `validity_days` from now.
///
/// # Errors
/// Key generation or signing failed, or the validity is out of range.
pub fn generate_ca(common_name: &str, validity_days: u32) -> Result<CertKey> {
    let key = KeyPair::generate()?;
    let params = ca_params(common_name, ORGANIZATION, SystemTime::now(), validity_days)?;
    let cert = params.self_signed(&key)?;
    Ok(CertKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The CA certificate re-signed for `validity_days` from now with the SAME key and subject
/// (Strimzi's CA certificate renewal): certificates issued under the old CA certificate verify
/// against the new one and the other way round, so neither brokers nor clients are locked out
/// while the new certificate propagates.
///
/// # Errors
/// The CA does not parse, or signing failed.
pub fn renew_ca(ca: &CertKey, validity_days: u32) -> Result<CertKey> {
    let key = KeyPair::from_pem(&ca.key_pem)?;
    let der = first_der(&ca.cert_pem)?;
    let (_, cert) = X509Certificate::from_der(&der).map_err(|e| PkiError::Parse(e.to_string()))?;
    let subject = cert.subject();
    let common_name = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_string)
        .ok_or_else(|| PkiError::Parse("CA certificate has no CN".into()))?;
    let organization = subject
        .iter_organization()
        .next()
        .and_then(|a| a.as_str().ok())
        .map_or_else(|| ORGANIZATION.to_string(), str::to_string);
    let params = ca_params(
        &common_name,
        &organization,
        SystemTime::now(),
        validity_days,
    )?;
    let renewed = params.self_signed(&key)?;
    Ok(CertKey {
        cert_pem: renewed.pem(),
        key_pem: ca.key_pem.clone(),
    })
}

/// A leaf certificate signed by `ca`, with a fresh key. `cert_pem` is the leaf followed by the
/// CA certificate (the chain a TLS peer sends).
///
/// # Errors
/// The CA does not parse, a DNS name is not valid, or signing failed.
pub fn issue(ca: &CertKey, leaf: &Leaf) -> Result<CertKey> {
    let ca_key = KeyPair::from_pem(&ca.key_pem)?;
    let ca_cert = first_pem(&ca.cert_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert, ca_key)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn.push(DnType::CommonName, leaf.common_name.as_str());
    params.distinguished_name = dn;
    params.subject_alt_names = leaf
        .dns_names
        .iter()
        .map(|d| Ok(SanType::DnsName(d.clone().try_into()?)))
        .collect::<Result<Vec<_>>>()?;
    params
        .subject_alt_names
        .extend(leaf.ip_addresses.iter().copied().map(SanType::IpAddress));
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = match leaf.usage {
        Usage::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
        Usage::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
        Usage::ServerAndClient => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    };
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial()?);
    validity(&mut params, SystemTime::now(), leaf.validity_days)?;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(CertKey {
        cert_pem: format!("{}{}", cert.pem(), ca_cert),
        key_pem: key.serialize_pem(),
    })
}

/// Every certificate of a PEM bundle, as PEM blocks, in order.
///
/// # Errors
/// A block that is not a certificate, or no certificate at all.
pub fn split_pem(bundle: &str) -> Result<Vec<String>> {
    let blocks = pem::parse_many(bundle).map_err(|e| PkiError::Parse(e.to_string()))?;
    let certs: Vec<String> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| {
            pem::encode_config(
                &b,
                pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
            )
        })
        .collect();
    if certs.is_empty() {
        return Err(PkiError::Parse("no certificate in PEM".into()));
    }
    Ok(certs)
}

fn first_pem(bundle: &str) -> Result<String> {
    split_pem(bundle)?
        .into_iter()
        .next()
        .ok_or_else(|| PkiError::Parse("no certificate in PEM".into()))
}

fn first_der(bundle: &str) -> Result<Vec<u8>> {
    let pem = pem::parse(first_pem(bundle)?).map_err(|e| PkiError::Parse(e.to_string()))?;
    Ok(pem.into_contents())
}

fn system_time(t: x509_parser::time::ASN1Time) -> SystemTime {
    let secs = t.timestamp();
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

/// Reads the first certificate of `cert_pem`: subject CN, validity and SANs.
///
/// # Errors
/// The PEM or the certificate does not parse.
pub fn inspect(cert_pem: &str) -> Result<CertInfo> {
    let der = first_der(cert_pem)?;
    let (_, cert) = X509Certificate::from_der(&der).map_err(|e| PkiError::Parse(e.to_string()))?;
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns_names.push((*d).to_string()),
                GeneralName::IPAddress(b) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                        ip_addresses.push(IpAddr::from(v4));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                        ip_addresses.push(IpAddr::from(v6));
                    }
                }
                _ => {}
            }
        }
    }
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or_default()
        .to_string();
    Ok(CertInfo {
        common_name,
        not_before: system_time(cert.validity().not_before),
        not_after: system_time(cert.validity().not_after),
        dns_names,
        ip_addresses,
    })
}

/// The end of validity of the first certificate in `cert_pem`.
///
/// # Errors
/// The PEM or the certificate does not parse.
pub fn not_after(cert_pem: &str) -> Result<SystemTime> {
    inspect(cert_pem).map(|i| i.not_after)
}

/// Whether a certificate ending at `not_after` is due for renewal at `now`: inside the last
/// `renewal_days` of its validity (or expired). A renewal window as long as the validity
/// renews on every check (what tests use to watch renewals happen).
#[must_use]
pub fn needs_renewal(not_after: SystemTime, now: SystemTime, renewal_days: u32) -> bool {
    let window = Duration::from_secs(u64::from(renewal_days) * SECONDS_PER_DAY);
    now + window >= not_after
}

/// Whether the first certificate of `cert_pem` carries a signature `ca_pem`'s (first)
/// certificate's key made: false for certificates of another CA, or that do not parse.
#[must_use]
pub fn signed_by(cert_pem: &str, ca_pem: &str) -> bool {
    let (Ok(leaf), Ok(ca)) = (first_der(cert_pem), first_der(ca_pem)) else {
        return false;
    };
    let (Ok((_, leaf)), Ok((_, ca))) = (
        X509Certificate::from_der(&leaf),
        X509Certificate::from_der(&ca),
    ) else {
        return false;
    };
    leaf.verify_signature(Some(ca.public_key())).is_ok()
}

/// RFC 3339 (UTC, seconds) of `t`, as the status reports certificate expiry.
#[must_use]
pub fn rfc3339(t: SystemTime) -> String {
    let dt: time::OffsetDateTime = t.into();
    dt.replace_nanosecond(0)
        .unwrap_or(dt)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::client::danger::ServerCertVerifier as _;
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    use super::*;

    fn ders(pem: &str) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("pem")
    }

    /// rustls/webpki's verdict on a server presenting `chain` as `name`, trusting `roots`.
    fn verify(roots_pem: &str, chain: &str, name: &str) -> Result<(), rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        for c in ders(roots_pem) {
            roots.add(c).expect("root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("verifier");
        let certs = ders(chain);
        let server = ServerName::try_from(name.to_string()).expect("name");
        verifier
            .verify_server_cert(&certs[0], &certs[1..], &server, &[], UnixTime::now())
            .map(|_| ())
    }

    fn broker_leaf() -> Leaf {
        Leaf {
            common_name: "c-broker-0".into(),
            dns_names: vec![
                "c-broker-0.c-brokers.kafka.svc".into(),
                "c-bootstrap.kafka.svc".into(),
            ],
            ip_addresses: vec!["127.0.1.7".parse().expect("ip")],
            usage: Usage::ServerAndClient,
            validity_days: 30,
        }
    }

    #[test]
    fn a_leaf_verifies_for_its_dns_and_ip_names_only_under_its_ca() {
        let ca = generate_ca("c-cluster-ca", 365).expect("ca");
        let leaf = issue(&ca, &broker_leaf()).expect("leaf");
        assert_eq!(split_pem(&leaf.cert_pem).expect("chain").len(), 2);
        for name in [
            "c-broker-0.c-brokers.kafka.svc",
            "c-bootstrap.kafka.svc",
            "127.0.1.7",
        ] {
            verify(&ca.cert_pem, &leaf.cert_pem, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for name in ["c-broker-1.c-brokers.kafka.svc", "127.0.1.8"] {
            assert!(
                verify(&ca.cert_pem, &leaf.cert_pem, name).is_err(),
                "{name}"
            );
        }
        let other = generate_ca("other", 365).expect("ca");
        assert!(verify(&other.cert_pem, &leaf.cert_pem, "127.0.1.7").is_err());
        assert!(signed_by(&leaf.cert_pem, &ca.cert_pem));
        assert!(!signed_by(&leaf.cert_pem, &other.cert_pem));
        assert!(format!("{leaf:?}").contains("redacted"));
        assert!(!format!("{leaf:?}").contains("PRIVATE KEY"));
        assert!(leaf.key_pem.contains("BEGIN PRIVATE KEY"), "PKCS#8");
    }

    #[test]
    fn inspect_reads_back_names_and_validity() {
        let ca = generate_ca("c-cluster-ca", 365).expect("ca");
        let leaf = issue(&ca, &broker_leaf()).expect("leaf");
        let info = inspect(&leaf.cert_pem).expect("info");
        assert_eq!(info.common_name, "c-broker-0");
        assert_eq!(info.dns_names, broker_leaf().dns_names);
        assert_eq!(info.ip_addresses, broker_leaf().ip_addresses);
        let days = info
            .not_after
            .duration_since(SystemTime::now())
            .expect("future")
            .as_secs()
            / SECONDS_PER_DAY;
        assert_eq!(days, 29, "30 days minus the seconds the test took");
        assert!(info.not_before < SystemTime::now());
        assert_eq!(
            not_after(&ca.cert_pem)
                .expect("ca")
                .duration_since(SystemTime::now())
                .expect("f")
                .as_secs()
                / SECONDS_PER_DAY,
            364
        );
    }

    #[test]
    fn a_renewed_ca_and_the_old_one_both_verify_old_and_new_leaves() {
        let ca = generate_ca("c-cluster-ca", 10).expect("ca");
        let old_leaf = issue(&ca, &broker_leaf()).expect("leaf");
        let renewed = renew_ca(&ca, 365).expect("renew");
        assert_ne!(renewed.cert_pem, ca.cert_pem);
        assert!(not_after(&renewed.cert_pem).expect("t") > not_after(&ca.cert_pem).expect("t"));
        let new_leaf = issue(&renewed, &broker_leaf()).expect("leaf");
        for roots in [&ca.cert_pem, &renewed.cert_pem] {
            for leaf in [&old_leaf, &new_leaf] {
                verify(roots, &leaf.cert_pem, "127.0.1.7").expect("verifies");
            }
        }
        assert_eq!(
            inspect(&renewed.cert_pem).expect("i").common_name,
            "c-cluster-ca"
        );
    }

    #[test]
    fn client_certificates_carry_the_user_as_cn() {
        let ca = generate_ca("c-clients-ca", 365).expect("ca");
        let user = issue(
            &ca,
            &Leaf {
                common_name: "alice".into(),
                dns_names: vec![],
                ip_addresses: vec![],
                usage: Usage::Client,
                validity_days: 1,
            },
        )
        .expect("user");
        assert_eq!(inspect(&user.cert_pem).expect("i").common_name, "alice");
        assert!(matches!(
            issue(
                &ca,
                &Leaf {
                    validity_days: 0,
                    ..broker_leaf()
                }
            ),
            Err(PkiError::Validity(0))
        ));
    }

    #[test]
    fn renewal_is_due_inside_the_window_or_after_expiry() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000 * SECONDS_PER_DAY);
        let days = |d: u64| Duration::from_secs(d * SECONDS_PER_DAY);
        assert!(!needs_renewal(now + days(31), now, 30));
        assert!(needs_renewal(now + days(30), now, 30));
        assert!(needs_renewal(now + days(1), now, 30));
        assert!(needs_renewal(now - days(1), now, 30), "expired");
        assert!(
            needs_renewal(now + days(1), now, 1),
            "window as long as the validity"
        );
        assert!(!needs_renewal(now + days(1), now, 0));
    }

    #[test]
    fn rfc3339_is_utc_seconds() {
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(86_400_500)),
            "1970-01-02T00:00:00Z"
        );
    }
}
