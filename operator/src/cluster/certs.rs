//! Certificates step of a secure cluster's reconcile (no I/O; generates keys): the cluster and
//! clients CAs (generated, renewed, or read from a user's Secret), the trust bundles brokers and
//! clients read, the per-broker certificates (issued, renewed, re-issued when a pod's IP or the
//! CA changes) and the internal users' passwords, as the Secrets to apply.
//!
//! Renewal never locks anyone out:
//! - A generated CA is renewed by re-signing its certificate with the same key and subject
//!   (`pki::renew_ca`): certificates signed under the old and the new CA certificate verify
//!   against either, so brokers and clients holding the old `ca.crt` keep working. The trust
//!   bundle (`<cluster>-cluster-ca-cert`) keeps the previous, unexpired CA certificates next to
//!   the new one during the overlap.
//! - When the signing key itself changes (a user-supplied CA Secret replaced with another CA,
//!   or a generated CA whose Secret got a new `eddy.io/force-replace` value),
//!   the new CA certificate is first added to the trust bundle, and broker certificates signed by
//!   it are only issued [`TRUST_PROPAGATION`] after that bundle was published, so every broker
//!   has reloaded the new trust before any broker presents a certificate of the new CA.
//! - Brokers re-read rotated key and trust files (`ssl.reload.interval.ms`); no restart.
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::cluster::build::Names;
use crate::cluster::security::{
    self, BROKER_PASSWORD_KEY, CA_CERT_KEY, CA_KEY_KEY, OPERATOR_PASSWORD_KEY,
};
use crate::cluster::status::BrokerPod;
use crate::crd::{CaSpec, CertificatesStatus, KafkaClusterSpec};
use crate::pki::{self, CertKey, Leaf, PkiError, Usage};

/// How long a changed trust bundle is published before broker certificates of a new CA key
/// are issued: the kubelet's Secret volume refresh (about a minute) plus the brokers' reload.
pub const TRUST_PROPAGATION: Duration = Duration::from_secs(120);
/// Annotation on a `-cert` Secret: when its bundle last changed (RFC 3339).
pub const TRUST_CHANGED_ANNOTATION: &str = "eddy.io/trust-changed-at";
/// Annotation on a generated CA Secret (`<cluster>-cluster-ca`, `<cluster>-clients-ca`) asking
/// for a new CA key (Strimzi's `strimzi.io/force-replace`): each new value replaces the key
/// once, through the same trust-both-then-switch phases as a replaced user CA.
pub const FORCE_REPLACE_ANNOTATION: &str = "eddy.io/force-replace";
/// Annotation the operator writes on a generated CA Secret: the `force-replace` value it has
/// acted on, so the same value never replaces the key twice.
pub const FORCE_REPLACED_ANNOTATION: &str = "eddy.io/force-replace-done";
/// Previous CA certificates kept in a trust bundle next to the current one.
const PREVIOUS_CAS_KEPT: usize = 3;
/// Length of a generated internal password (alphanumeric).
const PASSWORD_LEN: usize = 32;

/// Errors of the certificates step.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A user-supplied CA Secret does not exist.
    #[error("certificates: CA Secret {0} not found")]
    CaSecretMissing(String),
    /// A user-supplied CA Secret lacks a key or holds something that is not a CA.
    #[error("certificates: CA Secret {name}: {reason}")]
    CaSecretInvalid {
        /// Secret name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Generating or signing failed.
    #[error("certificates: {0}")]
    Pki(#[from] PkiError),
    /// No randomness for a password.
    #[error("certificates: generating a password: {0}")]
    Random(String),
}

/// A Secret as observed: its string data and annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretData {
    /// Data, decoded as UTF-8.
    pub data: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
}

/// A Secret the operator writes.
#[derive(Clone, PartialEq, Eq)]
pub struct DesiredSecret {
    /// Name.
    pub name: String,
    /// Data.
    pub data: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
}

impl std::fmt::Debug for DesiredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesiredSecret")
            .field("name", &self.name)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What the certificates step reads.
#[derive(Debug, Clone, Copy)]
pub struct CertInput<'a> {
    /// The validated spec.
    pub spec: &'a KafkaClusterSpec,
    /// Object names.
    pub names: &'a Names,
    /// Namespace.
    pub namespace: &'a str,
    /// Broker pods observed (their IPs go into their certificates).
    pub pods: &'a [BrokerPod],
    /// Brokers to hold certificates for: ids `0..brokers`.
    pub brokers: i32,
    /// Secrets observed by name.
    pub existing: &'a BTreeMap<String, SecretData>,
    /// What the external listeners' Services were assigned (load balancer addresses go into
    /// the broker certificates).
    pub exposed: &'a BTreeMap<String, crate::cluster::build::external_services::Exposure>,
    /// Now.
    pub now: SystemTime,
}

/// What the certificates step decided.
#[derive(Debug, Clone)]
pub struct CertPlan {
    /// Secrets to apply, in order (CAs and trust before the broker certificates).
    pub secrets: Vec<DesiredSecret>,
    /// CA expiry for the status.
    pub certificates: CertificatesStatus,
    /// The soonest a certificate becomes due (renewal, or a CA change waiting for trust).
    pub next_due: Option<Duration>,
    /// `<pod>: why` for each broker certificate issued now.
    pub issued: Vec<String>,
}

/// One CA resolved for this reconcile.
struct Ca {
    signer: CertKey,
    /// Every certificate of the user's `ca.crt` beyond the signer (user-supplied only).
    extra_trust: Vec<String>,
    not_after: SystemTime,
    renewal_days: u32,
    validity_days: u32,
}

fn days(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

fn resolve_ca(
    spec: Option<&CaSpec>,
    generated_name: &str,
    common_name: &str,
    input: &CertInput<'_>,
    out: &mut Vec<DesiredSecret>,
) -> Result<Ca, CertError> {
    let default = CaSpec::default();
    let spec = spec.unwrap_or(&default);
    let validity_days = days(spec.validity_days).max(1);
    let renewal_days = days(spec.renewal_days);
    if let Some(name) = spec.secret_name.as_deref() {
        let secret = input
            .existing
            .get(name)
            .ok_or_else(|| CertError::CaSecretMissing(name.to_string()))?;
        let invalid = |reason: String| CertError::CaSecretInvalid {
            name: name.to_string(),
            reason,
        };
        let cert = secret
            .data
            .get(CA_CERT_KEY)
            .ok_or_else(|| invalid(format!("no {CA_CERT_KEY}")))?;
        let key = secret
            .data
            .get(CA_KEY_KEY)
            .ok_or_else(|| invalid(format!("no {CA_KEY_KEY}")))?;
        let mut certs = pki::split_pem(cert).map_err(|e| invalid(e.to_string()))?;
        let first = certs.remove(0);
        let not_after = pki::not_after(&first).map_err(|e| invalid(e.to_string()))?;
        let signer = CertKey {
            cert_pem: first,
            key_pem: key.clone(),
        };
        // Prove the key signs for the certificate before using it.
        let probe = pki::issue(
            &signer,
            &Leaf {
                common_name: "probe".into(),
                dns_names: vec![],
                ip_addresses: vec![],
                usage: Usage::Client,
                validity_days: 1,
            },
        )
        .map_err(|e| invalid(format!("{CA_KEY_KEY} does not match {CA_CERT_KEY}: {e}")))?;
        if !pki::signed_by(&probe.cert_pem, &signer.cert_pem) {
            return Err(invalid(format!(
                "{CA_KEY_KEY} does not match {CA_CERT_KEY}"
            )));
        }
        return Ok(Ca {
            signer,
            extra_trust: certs,
            not_after,
            renewal_days,
            validity_days,
        });
    }
    let stored_secret = input.existing.get(generated_name);
    let force = stored_secret.and_then(|s| s.annotations.get(FORCE_REPLACE_ANNOTATION));
    let replace_key = force.is_some_and(|v| {
        stored_secret.and_then(|s| s.annotations.get(FORCE_REPLACED_ANNOTATION)) != Some(v)
    });
    let stored = stored_secret.and_then(|s| {
        let cert = s.data.get(CA_CERT_KEY)?;
        let key = s.data.get(CA_KEY_KEY)?;
        let not_after = pki::not_after(cert).ok()?;
        Some((
            CertKey {
                cert_pem: cert.clone(),
                key_pem: key.clone(),
            },
            not_after,
        ))
    });
    let signer = match stored {
        Some(_) if replace_key => pki::generate_ca(common_name, validity_days)?,
        Some((ca, not_after)) if !pki::needs_renewal(not_after, input.now, renewal_days) => ca,
        Some((ca, _)) => pki::renew_ca(&ca, validity_days)?,
        None => pki::generate_ca(common_name, validity_days)?,
    };
    let not_after = pki::not_after(&signer.cert_pem)?;
    out.push(DesiredSecret {
        name: generated_name.to_string(),
        data: BTreeMap::from([
            (CA_CERT_KEY.to_string(), signer.cert_pem.clone()),
            (CA_KEY_KEY.to_string(), signer.key_pem.clone()),
        ]),
        annotations: force
            .map(|v| BTreeMap::from([(FORCE_REPLACED_ANNOTATION.to_string(), v.clone())]))
            .unwrap_or_default(),
    });
    Ok(Ca {
        signer,
        extra_trust: Vec::new(),
        not_after,
        renewal_days,
        validity_days,
    })
}

/// The trust bundle: the current CA certificate, the user's extra ones, and previously
/// published CA certificates that are still valid (newest first, a few at most). Returns the
/// Secret and when its content last changed.
fn trust_bundle(ca: &Ca, name: &str, input: &CertInput<'_>) -> (DesiredSecret, SystemTime) {
    let previous = input.existing.get(name);
    let mut certs = vec![ca.signer.cert_pem.clone()];
    certs.extend(ca.extra_trust.iter().cloned());
    let old: Vec<String> = previous
        .and_then(|p| p.data.get(CA_CERT_KEY))
        .and_then(|b| pki::split_pem(b).ok())
        .unwrap_or_default();
    let mut kept = 0;
    for c in old {
        if kept >= PREVIOUS_CAS_KEPT || certs.contains(&c) {
            continue;
        }
        if pki::not_after(&c).is_ok_and(|t| t > input.now) {
            certs.push(c);
            kept += 1;
        }
    }
    let bundle = certs.concat();
    let unchanged = previous
        .and_then(|p| p.data.get(CA_CERT_KEY))
        .is_some_and(|b| *b == bundle);
    let changed_at = previous
        .filter(|_| unchanged)
        .and_then(|p| p.annotations.get(TRUST_CHANGED_ANNOTATION))
        .and_then(|t| parse_rfc3339(t))
        .unwrap_or(input.now);
    let secret = DesiredSecret {
        name: name.to_string(),
        data: BTreeMap::from([(CA_CERT_KEY.to_string(), bundle)]),
        annotations: BTreeMap::from([(
            TRUST_CHANGED_ANNOTATION.to_string(),
            pki::rfc3339(changed_at),
        )]),
    };
    (secret, changed_at)
}

fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

/// Whether the trust bundle as brokers have it (observed before this reconcile) holds `ca` and
/// has been out long enough for every broker to have reloaded it.
fn trusted_everywhere(ca: &Ca, name: &str, input: &CertInput<'_>, changed_at: SystemTime) -> bool {
    let published = input
        .existing
        .get(name)
        .and_then(|p| p.data.get(CA_CERT_KEY))
        .is_some_and(|b| b.contains(ca.signer.cert_pem.trim()));
    published
        && input
            .now
            .duration_since(changed_at)
            .is_ok_and(|d| d >= TRUST_PROPAGATION)
}

fn until_due(not_after: SystemTime, renewal_days: u32, now: SystemTime) -> Duration {
    let window = Duration::from_secs(u64::from(renewal_days) * 86_400);
    not_after
        .checked_sub(window)
        .and_then(|due| due.duration_since(now).ok())
        .unwrap_or(Duration::ZERO)
}

/// Why broker `ordinal`'s stored certificate must be re-issued now, if it must.
fn reissue_reason(
    stored: Option<&CertKey>,
    ca: &Ca,
    dns: &[String],
    ips: &[IpAddr],
    ca_trusted: bool,
    now: SystemTime,
) -> Option<&'static str> {
    let Some(stored) = stored else {
        return Some("new broker");
    };
    let Ok(info) = pki::inspect(&stored.cert_pem) else {
        return Some("unreadable certificate");
    };
    if info.not_after <= now {
        return Some("expired");
    }
    let current_key = pki::signed_by(&stored.cert_pem, &ca.signer.cert_pem);
    if !current_key && !ca_trusted {
        // Anything issued now would carry the new key before every peer trusts it: the
        // certificate of the old key stays until then, even when due or its IP changed.
        return None;
    }
    if pki::needs_renewal(info.not_after, now, ca.renewal_days) {
        return Some("renewal window reached");
    }
    let want_dns: BTreeSet<&String> = dns.iter().collect();
    let have_dns: BTreeSet<&String> = info.dns_names.iter().collect();
    let want_ips: BTreeSet<&IpAddr> = ips.iter().collect();
    let have_ips: BTreeSet<&IpAddr> = info.ip_addresses.iter().collect();
    if want_dns != have_dns || want_ips != have_ips {
        return Some("addresses changed");
    }
    if !current_key {
        return Some("CA key changed");
    }
    None
}

fn password() -> Result<String, CertError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(PASSWORD_LEN);
    let mut buf = [0u8; 64];
    // Rejection sampling: bytes >= 248 would bias the first characters.
    for _ in 0..8 {
        getrandom::fill(&mut buf).map_err(|e| CertError::Random(e.to_string()))?;
        for b in buf {
            if b < 248 && out.len() < PASSWORD_LEN {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
        if out.len() == PASSWORD_LEN {
            return Ok(out);
        }
    }
    Err(CertError::Random("not enough random bytes".into()))
}

fn internal_users(input: &CertInput<'_>) -> Result<DesiredSecret, CertError> {
    let existing = input.existing.get(&input.names.internal_users);
    let mut data = BTreeMap::new();
    for key in [OPERATOR_PASSWORD_KEY, BROKER_PASSWORD_KEY] {
        // Generated once: a changed password would lock running brokers out of each other.
        let value = match existing
            .and_then(|s| s.data.get(key))
            .filter(|v| !v.is_empty())
        {
            Some(v) => v.clone(),
            None => password()?,
        };
        data.insert(key.to_string(), value);
    }
    Ok(DesiredSecret {
        name: input.names.internal_users.clone(),
        data,
        annotations: BTreeMap::new(),
    })
}

/// Plans every Secret of a secure cluster.
///
/// # Errors
/// A user-supplied CA Secret that is missing or invalid, or a generation failure.
pub fn plan(input: &CertInput<'_>) -> Result<CertPlan, CertError> {
    let names = input.names;
    let mut secrets = Vec::new();
    let cluster_ca = resolve_ca(
        input.spec.cluster_ca.as_ref(),
        &names.cluster_ca,
        &names.cluster_ca,
        input,
        &mut secrets,
    )?;
    let clients_ca = resolve_ca(
        input.spec.clients_ca.as_ref(),
        &names.clients_ca,
        &names.clients_ca,
        input,
        &mut secrets,
    )?;
    let (cluster_trust, cluster_changed) = trust_bundle(&cluster_ca, &names.cluster_ca_cert, input);
    let (clients_trust, _) = trust_bundle(&clients_ca, &names.clients_ca_cert, input);
    secrets.push(cluster_trust);
    secrets.push(clients_trust);
    secrets.push(internal_users(input)?);

    let ca_trusted =
        trusted_everywhere(&cluster_ca, &names.cluster_ca_cert, input, cluster_changed);
    let mut next_due = vec![
        until_due(cluster_ca.not_after, cluster_ca.renewal_days, input.now),
        until_due(clients_ca.not_after, clients_ca.renewal_days, input.now),
    ];
    let mut held_for_trust = false;
    let stored = input.existing.get(&names.broker_certs);
    let mut data = BTreeMap::new();
    let mut issued = Vec::new();
    for ordinal in 0..input.brokers.max(0) {
        let pod = names.pod(ordinal);
        let mut dns = security::broker_dns_names(names, input.namespace, ordinal);
        let this_pod = input.pods.iter().find(|p| p.ordinal == ordinal);
        let (external_dns, external_ips) = security::external_addresses(
            input.spec,
            names,
            ordinal,
            this_pod.and_then(|p| p.host_ip.as_deref()),
            input.exposed,
        );
        dns.extend(external_dns);
        let current = stored.and_then(|s| {
            Some(CertKey {
                cert_pem: s.data.get(&format!("{pod}.crt"))?.clone(),
                key_pem: s.data.get(&format!("{pod}.key"))?.clone(),
            })
        });
        // The pod's IP once it has one; while it has none (restarting), keep the IP it had.
        let ips: Vec<IpAddr> = match input
            .pods
            .iter()
            .find(|p| p.ordinal == ordinal)
            .and_then(|p| p.ip.as_deref())
            .and_then(|ip| ip.parse().ok())
        {
            Some(ip) => std::iter::once(ip)
                .chain(external_ips.into_iter().filter(|e| *e != ip))
                .collect(),
            None => current
                .as_ref()
                .and_then(|c| pki::inspect(&c.cert_pem).ok())
                .map(|i| i.ip_addresses)
                .unwrap_or_default(),
        };
        let why = reissue_reason(
            current.as_ref(),
            &cluster_ca,
            &dns,
            &ips,
            ca_trusted,
            input.now,
        );
        held_for_trust |= why.is_none()
            && !ca_trusted
            && current
                .as_ref()
                .is_some_and(|c| !pki::signed_by(&c.cert_pem, &cluster_ca.signer.cert_pem));
        let cert = match (why, current) {
            (None, Some(kept)) => kept,
            (why, _) => {
                issued.push(format!("{pod}: {}", why.unwrap_or("new broker")));
                pki::issue(
                    &cluster_ca.signer,
                    &Leaf {
                        common_name: pod.clone(),
                        dns_names: dns,
                        ip_addresses: ips,
                        usage: Usage::ServerAndClient,
                        validity_days: cluster_ca.validity_days,
                    },
                )?
            }
        };
        if let Ok(t) = pki::not_after(&cert.cert_pem) {
            next_due.push(until_due(t, cluster_ca.renewal_days, input.now));
        }
        data.insert(
            format!("{pod}.pem"),
            format!("{}{}", cert.key_pem, cert.cert_pem),
        );
        data.insert(format!("{pod}.crt"), cert.cert_pem);
        data.insert(format!("{pod}.key"), cert.key_pem);
    }
    if held_for_trust {
        next_due.push(
            TRUST_PROPAGATION.saturating_sub(
                input
                    .now
                    .duration_since(cluster_changed)
                    .unwrap_or_default(),
            ),
        );
    }
    secrets.push(DesiredSecret {
        name: names.broker_certs.clone(),
        data,
        annotations: BTreeMap::new(),
    });
    Ok(CertPlan {
        secrets,
        certificates: CertificatesStatus {
            cluster_ca_not_after: Some(pki::rfc3339(cluster_ca.not_after)),
            clients_ca_not_after: Some(pki::rfc3339(clients_ca.not_after)),
        },
        next_due: next_due.into_iter().min(),
        issued,
    })
}

#[cfg(test)]
#[path = "certs_force_replace_tests.rs"]
mod force_replace_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> KafkaClusterSpec {
        serde_json::from_value(v).expect("spec")
    }

    fn secure() -> KafkaClusterSpec {
        spec(serde_json::json!({
            "brokers": 2,
            "listeners": [{"name": "tls", "port": 9093, "tls": true}],
        }))
    }

    fn pod(ordinal: i32, ip: Option<&str>) -> BrokerPod {
        BrokerPod {
            ordinal,
            ip: ip.map(str::to_string),
            host_ip: None,
            ready: true,
            image: None,
            uid: format!("u{ordinal}"),
            revision: None,
        }
    }

    fn observed(plan: &CertPlan) -> BTreeMap<String, SecretData> {
        plan.secrets
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    SecretData {
                        data: s.data.clone(),
                        annotations: s.annotations.clone(),
                    },
                )
            })
            .collect()
    }

    fn run(
        spec: &KafkaClusterSpec,
        pods: &[BrokerPod],
        existing: &BTreeMap<String, SecretData>,
        now: SystemTime,
    ) -> CertPlan {
        let names = Names::new("c");
        plan(&CertInput {
            spec,
            names: &names,
            namespace: "kafka",
            pods,
            brokers: spec.brokers,
            existing,
            exposed: &BTreeMap::new(),
            now,
        })
        .expect("plan")
    }

    fn secret<'a>(p: &'a CertPlan, name: &str) -> &'a DesiredSecret {
        p.secrets.iter().find(|s| s.name == name).expect(name)
    }

    #[test]
    fn a_new_secure_cluster_gets_cas_trust_users_and_a_certificate_per_broker() {
        let s = secure();
        let now = SystemTime::now();
        let p = run(&s, &[pod(0, Some("127.0.1.5"))], &BTreeMap::new(), now);
        let names: Vec<&str> = p.secrets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "c-cluster-ca",
                "c-clients-ca",
                "c-cluster-ca-cert",
                "c-clients-ca-cert",
                "c-internal-users",
                "c-broker-certs"
            ]
        );
        let ca = &secret(&p, "c-cluster-ca").data;
        assert!(ca["ca.key"].contains("PRIVATE KEY"));
        assert!(!secret(&p, "c-cluster-ca-cert").data["ca.crt"].contains("PRIVATE"));
        let certs = &secret(&p, "c-broker-certs").data;
        assert_eq!(certs.len(), 6, "crt, key and pem of two brokers");
        assert!(pki::signed_by(&certs["c-broker-0.crt"], &ca["ca.crt"]));
        let info = pki::inspect(&certs["c-broker-0.crt"]).expect("info");
        assert_eq!(
            info.ip_addresses,
            vec!["127.0.1.5".parse::<IpAddr>().expect("ip")]
        );
        assert!(
            info.dns_names
                .contains(&"c-broker-0.c-brokers.kafka.svc".to_string())
        );
        assert!(
            pki::inspect(&certs["c-broker-1.crt"])
                .expect("i")
                .ip_addresses
                .is_empty()
        );
        assert!(certs["c-broker-1.pem"].starts_with("-----BEGIN PRIVATE KEY"));
        let users = &secret(&p, "c-internal-users").data;
        assert_eq!(users["operator-password"].len(), 32);
        assert_ne!(users["operator-password"], users["broker-password"]);
        assert_eq!(p.issued.len(), 2);
        assert!(p.certificates.cluster_ca_not_after.is_some());
    }

    #[test]
    fn a_second_reconcile_changes_nothing_until_an_ip_appears() {
        let s = secure();
        let now = SystemTime::now();
        let first = run(&s, &[pod(0, None)], &BTreeMap::new(), now);
        let seen = observed(&first);
        let again = run(&s, &[pod(0, None)], &seen, now + Duration::from_secs(5));
        assert!(again.issued.is_empty(), "{:?}", again.issued);
        assert_eq!(
            observed(&again),
            seen,
            "CAs, passwords, certs, annotations kept"
        );
        let with_ip = run(&s, &[pod(0, Some("127.0.1.9")), pod(1, None)], &seen, now);
        assert_eq!(
            with_ip.issued,
            vec!["c-broker-0: addresses changed".to_string()]
        );
        // A pod that lost its IP while restarting keeps the certificate it had.
        let seen = observed(&with_ip);
        let restarting = run(&s, &[pod(0, None)], &seen, now);
        assert!(restarting.issued.is_empty());
        let moved = run(&s, &[pod(0, Some("127.0.1.10"))], &seen, now);
        assert_eq!(
            moved.issued,
            vec!["c-broker-0: addresses changed".to_string()]
        );
        // Never a new password.
        assert_eq!(
            secret(&moved, "c-internal-users").data,
            secret(&first, "c-internal-users").data
        );
    }

    #[test]
    fn renewal_keeps_the_ca_key_and_the_old_certificate_in_the_bundle() {
        let mut s = secure();
        s.cluster_ca = Some(CaSpec {
            validity_days: 10,
            renewal_days: 3,
            ..CaSpec::default()
        });
        let now = SystemTime::now();
        let first = run(&s, &[], &BTreeMap::new(), now);
        let seen = observed(&first);
        let due = first.next_due.expect("due");
        assert!(due > Duration::from_secs(6 * 86_400) && due <= Duration::from_secs(7 * 86_400));
        let later = now + Duration::from_secs(8 * 86_400);
        let renewed = run(&s, &[], &seen, later);
        let old_ca = &secret(&first, "c-cluster-ca").data;
        let new_ca = &secret(&renewed, "c-cluster-ca").data;
        assert_eq!(old_ca["ca.key"], new_ca["ca.key"]);
        assert_ne!(old_ca["ca.crt"], new_ca["ca.crt"]);
        let bundle = &secret(&renewed, "c-cluster-ca-cert").data["ca.crt"];
        assert!(bundle.starts_with(new_ca["ca.crt"].trim()));
        assert!(
            bundle.contains(old_ca["ca.crt"].trim()),
            "old CA still trusted"
        );
        assert_eq!(renewed.issued.len(), 2, "{:?}", renewed.issued);
        let leaf = &secret(&renewed, "c-broker-certs").data["c-broker-0.crt"];
        assert!(
            pki::signed_by(leaf, &old_ca["ca.crt"]),
            "same key: old CA verifies new leaves"
        );
    }

    #[test]
    fn a_window_as_long_as_the_validity_reissues_every_time() {
        let mut s = secure();
        s.cluster_ca = Some(CaSpec {
            validity_days: 1,
            renewal_days: 1,
            ..CaSpec::default()
        });
        let now = SystemTime::now();
        let first = run(&s, &[], &BTreeMap::new(), now);
        // Certificates are stamped with the real clock in whole seconds, which may be a second
        // past `now` on a busy machine: look again a minute later, still within the window.
        let again = run(&s, &[], &observed(&first), now + Duration::from_secs(60));
        assert_eq!(again.issued.len(), 2);
        assert_eq!(again.next_due, Some(Duration::ZERO));
    }

    #[test]
    fn a_user_ca_is_read_never_written_and_a_new_key_waits_for_trust() {
        let user_ca = pki::generate_ca("my-ca", 100).expect("ca");
        let mut s = secure();
        s.cluster_ca = Some(CaSpec {
            generate_certificate_authority: false,
            secret_name: Some("my-ca".into()),
            ..CaSpec::default()
        });
        let user_secret = |ca: &CertKey| SecretData {
            data: BTreeMap::from([
                ("ca.crt".to_string(), ca.cert_pem.clone()),
                ("ca.key".to_string(), ca.key_pem.clone()),
            ]),
            annotations: BTreeMap::new(),
        };
        let names = Names::new("c");
        let missing = plan(&CertInput {
            spec: &s,
            names: &names,
            namespace: "kafka",
            pods: &[],
            brokers: 1,
            existing: &BTreeMap::new(),
            exposed: &BTreeMap::new(),
            now: SystemTime::now(),
        });
        assert!(matches!(missing, Err(CertError::CaSecretMissing(n)) if n == "my-ca"));
        let mut existing = BTreeMap::from([("my-ca".to_string(), user_secret(&user_ca))]);
        let now = SystemTime::now();
        let first = run(&s, &[], &existing, now);
        assert!(
            first
                .secrets
                .iter()
                .all(|x| x.name != "my-ca" && x.name != "c-cluster-ca")
        );
        let leaf = secret(&first, "c-broker-certs").data["c-broker-0.crt"].clone();
        assert!(pki::signed_by(&leaf, &user_ca.cert_pem));
        // The user replaces the CA with another key.
        let replacement = pki::generate_ca("my-ca-2", 100).expect("ca");
        existing.extend(observed(&first));
        existing.insert("my-ca".into(), user_secret(&replacement));
        let step1 = run(&s, &[], &existing, now + Duration::from_secs(10));
        assert!(
            step1.issued.is_empty(),
            "not before brokers trust the new CA"
        );
        let bundle = &secret(&step1, "c-cluster-ca-cert").data["ca.crt"];
        assert!(
            bundle.contains(replacement.cert_pem.trim())
                && bundle.contains(user_ca.cert_pem.trim())
        );
        assert!(step1.next_due.expect("due") <= TRUST_PROPAGATION);
        existing.extend(observed(&step1));
        let soon = run(&s, &[], &existing, now + Duration::from_secs(30));
        assert!(soon.issued.is_empty());
        let after = run(
            &s,
            &[],
            &existing,
            now + Duration::from_secs(10) + TRUST_PROPAGATION,
        );
        assert_eq!(after.issued.len(), 2, "{:?}", after.issued);
        let leaf = &secret(&after, "c-broker-certs").data["c-broker-0.crt"];
        assert!(pki::signed_by(leaf, &replacement.cert_pem));
        // A key that does not belong to the certificate is refused.
        existing.insert(
            "my-ca".into(),
            SecretData {
                data: BTreeMap::from([
                    ("ca.crt".to_string(), user_ca.cert_pem.clone()),
                    ("ca.key".to_string(), replacement.key_pem.clone()),
                ]),
                annotations: BTreeMap::new(),
            },
        );
        let err = plan(&CertInput {
            spec: &s,
            names: &names,
            namespace: "kafka",
            pods: &[],
            brokers: 1,
            existing: &existing,
            exposed: &BTreeMap::new(),
            now,
        })
        .expect_err("mismatch");
        assert!(err.to_string().contains("does not match"), "{err}");
    }
}
