//! TLS users' client certificates: signed by the cluster's clients CA (`<cluster>-clients-ca`,
//! through `crate::pki::issue`) with `CN=<username>` (the brokers' principal mapping turns it into
//! `User:<username>`), kept in the user's Secret with its key and the cluster CA certificate,
//! and re-issued when missing, signed by another CA, naming another user, or inside the renewal
//! window. Validity and renewal window come from the cluster's `clientsCa` settings. The
//! decision is pure; `certificate` reads the CAs and writes the Secret.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource as _, ResourceExt as _};

use crate::context::FIELD_MANAGER;
use crate::crd::{KafkaCluster, KafkaUser};
use crate::kafka_admin::target::{CA_CERT_KEY, cluster_ca_cert_secret};
use crate::pki::{self, CertKey, Leaf, Usage};

use super::secret::{self, Placement, USER_CRT_KEY, USER_KEY_KEY};

/// Key of the CA private key in `<cluster>-clients-ca`.
pub const CA_KEY_KEY: &str = "ca.key";
/// Default validity of user certificates, days (the contract's CA default).
pub const DEFAULT_VALIDITY_DAYS: u32 = 365;
/// Default renewal window, days.
pub const DEFAULT_RENEWAL_DAYS: u32 = 30;

/// The clients CA Secret of `cluster`.
#[must_use]
pub fn clients_ca_secret(cluster: &str) -> String {
    format!("{cluster}-clients-ca")
}

/// `clientsCa.validityDays` / `renewalDays` of the cluster spec (read by name, so this works
/// whatever else the cluster CRD holds), with the contract's defaults.
#[must_use]
pub fn validity(cluster: &KafkaCluster) -> (u32, u32) {
    let spec = serde_json::to_value(&cluster.spec).unwrap_or_default();
    let days = |key: &str, default: u32| {
        spec.get("clientsCa")
            .and_then(|c| c.get(key))
            .and_then(serde_json::Value::as_u64)
            .and_then(|d| u32::try_from(d).ok())
            .filter(|d| *d > 0)
            .unwrap_or(default)
    };
    (
        days("validityDays", DEFAULT_VALIDITY_DAYS),
        days("renewalDays", DEFAULT_RENEWAL_DAYS),
    )
}

/// Whether the certificate in the user's Secret can be kept (pure): it is present, signed by
/// the clients CA, names `username` and is outside the renewal window at `now`. Returns its
/// expiry when it can.
#[must_use]
pub fn reusable(
    cert_pem: Option<&str>,
    clients_ca_pem: &str,
    username: &str,
    now: SystemTime,
    renewal_days: u32,
) -> Option<SystemTime> {
    let cert = cert_pem?;
    let info = pki::inspect(cert).ok()?;
    (info.common_name == username
        && pki::signed_by(cert, clients_ca_pem)
        && !pki::needs_renewal(info.not_after, now, renewal_days))
    .then_some(info.not_after)
}

/// What the reconcile learns about a TLS user's certificate.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The Secret holds a valid certificate until `not_after`; renew from `renew_at` on.
    Ready {
        /// The Secret's name.
        secret: String,
        /// End of validity.
        not_after: SystemTime,
        /// When the renewal window opens.
        renew_in: Duration,
        /// Whether a certificate was issued in this reconcile.
        issued: bool,
    },
    /// A CA Secret the certificate needs does not exist yet.
    Waiting(String),
}

fn key(s: Option<&Secret>, k: &str) -> Option<String> {
    s.and_then(|s| secret::string_key(s, k))
        .filter(|v| !v.is_empty())
}

/// Ensures the user's Secret holds a valid client certificate.
///
/// # Errors
/// Reading or writing Secrets failed, or signing failed.
pub async fn certificate(
    client: &kube::Client,
    user: &KafkaUser,
    cluster: &KafkaCluster,
    username: &str,
) -> Result<Outcome, super::Error> {
    let ns = user.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let get = |name: String| {
        let secrets = secrets.clone();
        async move { secrets.get_opt(&name).await.map_err(super::Error::Secret) }
    };
    let ca_name = clients_ca_secret(&cluster.name_any());
    let clients_ca = get(ca_name.clone()).await?;
    let (Some(ca_cert), Some(ca_key)) = (
        key(clients_ca.as_ref(), CA_CERT_KEY),
        key(clients_ca.as_ref(), CA_KEY_KEY),
    ) else {
        return Ok(Outcome::Waiting(format!(
            "the clients CA Secret {ca_name} does not exist yet"
        )));
    };
    let cluster_ca_name = cluster_ca_cert_secret(&cluster.name_any());
    let Some(cluster_ca) = key(get(cluster_ca_name.clone()).await?.as_ref(), CA_CERT_KEY) else {
        return Ok(Outcome::Waiting(format!(
            "the cluster CA Secret {cluster_ca_name} does not exist yet"
        )));
    };
    let name = user.name_any();
    let existing = get(name.clone()).await?;
    let (validity_days, renewal_days) = validity(cluster);
    let now = SystemTime::now();
    let kept = reusable(
        key(existing.as_ref(), USER_CRT_KEY).as_deref(),
        &ca_cert,
        username,
        now,
        renewal_days,
    )
    .zip(key(existing.as_ref(), USER_KEY_KEY));
    let issued = kept.is_none();
    let (cert, key_pem, not_after) = match kept {
        Some((not_after, key_pem)) => {
            let cert = key(existing.as_ref(), USER_CRT_KEY).unwrap_or_default();
            (cert, key_pem, not_after)
        }
        None => {
            let ca = CertKey {
                cert_pem: ca_cert.clone(),
                key_pem: ca_key,
            };
            let leaf = pki::issue(
                &ca,
                &Leaf {
                    common_name: username.to_string(),
                    dns_names: Vec::new(),
                    ip_addresses: Vec::new(),
                    usage: Usage::Client,
                    validity_days,
                },
            )
            .map_err(|e| super::Error::Certificate(e.to_string()))?;
            let not_after = pki::not_after(&leaf.cert_pem)
                .map_err(|e| super::Error::Certificate(e.to_string()))?;
            (leaf.cert_pem, leaf.key_pem, not_after)
        }
    };
    let Some(owner) = user.controller_owner_ref(&()) else {
        return Ok(Outcome::Waiting("the KafkaUser has no uid yet".into()));
    };
    let desired = secret::tls_secret(
        &Placement {
            name: name.clone(),
            namespace: ns,
            cluster: user.spec.cluster.clone(),
            owner,
        },
        username,
        &cert,
        &key_pem,
        &cluster_ca,
    );
    secrets
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&desired),
        )
        .await
        .map_err(super::Error::Secret)?;
    let window = Duration::from_secs(u64::from(renewal_days) * 86_400);
    let renew_in = not_after
        .checked_sub(window)
        .and_then(|at| at.duration_since(now).ok())
        .unwrap_or_default();
    Ok(Outcome::Ready {
        secret: name,
        not_after,
        renew_in,
        issued,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> CertKey {
        pki::generate_ca("clients", 30).expect("ca")
    }

    fn leaf(ca: &CertKey, cn: &str, days: u32) -> String {
        pki::issue(
            ca,
            &Leaf {
                common_name: cn.into(),
                dns_names: vec![],
                ip_addresses: vec![],
                usage: Usage::Client,
                validity_days: days,
            },
        )
        .expect("leaf")
        .cert_pem
    }

    #[test]
    fn a_certificate_is_kept_only_while_valid_for_this_user_and_this_ca() {
        let ca = ca();
        let now = SystemTime::now();
        let good = leaf(&ca, "alice", 30);
        assert!(reusable(Some(&good), &ca.cert_pem, "alice", now, 5).is_some());
        assert!(
            reusable(None, &ca.cert_pem, "alice", now, 5).is_none(),
            "missing"
        );
        assert!(
            reusable(Some(&good), &ca.cert_pem, "bob", now, 5).is_none(),
            "another user"
        );
        let other = ca_other();
        assert!(
            reusable(Some(&good), &other.cert_pem, "alice", now, 5).is_none(),
            "another CA (a replaced clients CA)"
        );
        assert!(
            reusable(Some(&good), &ca.cert_pem, "alice", now, 30).is_none(),
            "inside the renewal window"
        );
        assert!(reusable(Some("garbage"), &ca.cert_pem, "alice", now, 5).is_none());
    }

    fn ca_other() -> CertKey {
        pki::generate_ca("other", 30).expect("ca")
    }

    #[test]
    fn validity_comes_from_the_clients_ca_settings() {
        let c: KafkaCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "eddy.io/v1alpha1", "kind": "KafkaCluster",
            "metadata": {"name": "c"}, "spec": {"brokers": 1},
        }))
        .expect("cluster");
        assert_eq!(validity(&c), (DEFAULT_VALIDITY_DAYS, DEFAULT_RENEWAL_DAYS));
    }
}
