//! The probe's own Kafka identity on secured clusters: a SCRAM-SHA-512 KafkaUser
//! `eddy-sla-probe` per cluster, created by the API on the cluster's first probe round (so also
//! for clusters created before the probe could sign in), allowed only what a probe write needs
//! on `_eddy_sla_probe`, with a generated password sealed by the API's secrets key. It is not a
//! row of `kafka_users`: users never see it in their list and cannot delete it (`eddy-` names
//! are reserved to the platform).
//!
//! Pure: the user it becomes ([`desired_probe_user`]) and the listener the probe uses
//! ([`probe_listener`]); I/O: [`ensure`] and [`security`].

use super::write::PROBE_TOPIC;
use crate::domain::acls::{AclEntry, AclOperation, AclPatternType, AclResourceType};
use crate::domain::connection::ListenerInfo;
use crate::domain::plans::Plan;
use crate::domain::security::{Mechanism, feature};
use crate::kube::{ClusterConnection, DesiredUser};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::clusters::Cluster;
use crate::store::probe_identities::{self, ProbeIdentity};
use eddy_kafka_client::sasl::{Credentials, Mechanism as SaslMechanism};
use eddy_kafka_client::scram::ScramMechanism;
use eddy_kafka_client::{Security, Tls};

/// The Kafka principal the probe signs in as (`User:eddy-sla-probe`).
pub const PROBE_USERNAME: &str = "eddy-sla-probe";

/// Why a cluster could not be probed this round: these are the platform's problems (no
/// identity yet, Kubernetes unreadable), not the cluster's, so they are not counted as down.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("probe identity: {0}")]
    Store(#[from] StoreError),
    #[error("probe identity: database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("probe identity: kubernetes: {0}")]
    Backend(#[from] crate::kube::BackendError),
    #[error("probe identity: {0}")]
    Secret(#[from] crate::alerting::secrets::SecretError),
    #[error("probe identity: random password: {0}")]
    Random(String),
    #[error("probe identity: the operator has not reported {0} Ready yet")]
    NotReady(String),
    #[error("probe identity: the cluster publishes no SCRAM-SHA-512 listener")]
    NoListener,
    #[error("probe identity: the cluster CA certificate is not published yet")]
    NoCa,
    #[error("probe identity: the cluster CA certificate: {0}")]
    BadCa(String),
}

/// The ACLs the probe needs on clusters with an authorizer: describe (metadata), create (the
/// first write creates the topic), write and read its own topic, nothing else.
pub fn probe_acls() -> Vec<AclEntry> {
    vec![AclEntry {
        resource_type: AclResourceType::Topic,
        resource_name: PROBE_TOPIC.into(),
        pattern_type: AclPatternType::Literal,
        operations: vec![
            AclOperation::Describe,
            AclOperation::Create,
            AclOperation::Write,
            AclOperation::Read,
        ],
        host: "*".into(),
        effect: crate::domain::acls::AclEffect::Allow,
    }]
}

/// The KafkaUser of a cluster's probe identity. ACLs only when the plan turns the authorizer on
/// (the operator refuses ACLs on a cluster without one); the plan's quotas as for any user.
pub fn desired_probe_user(cluster: &Cluster, plan: &Plan, p: &ProbeIdentity) -> DesiredUser {
    let acls = if plan.features.iter().any(|f| f == feature::ACLS) {
        probe_acls()
    } else {
        Vec::new()
    };
    DesiredUser {
        namespace: cluster.namespace.clone(),
        name: p.resource_name.clone(),
        cluster: cluster.resource_name.clone(),
        cluster_id: cluster.id.clone(),
        username: p.username.clone(),
        mechanism: Mechanism::ScramSha512,
        secret_name: Some(p.secret_name.clone()),
        acls,
        credential_revision: 1,
        producer_byte_rate: plan.limits.ingress_bytes_per_sec,
        consumer_byte_rate: plan.limits.egress_bytes_per_sec,
    }
}

/// The listener the probe writes through: SCRAM-SHA-512 over TLS (the one the API gives users
/// first) when the cluster has it, else SCRAM-SHA-512 without TLS.
pub fn probe_listener(listeners: &[ListenerInfo]) -> Option<&ListenerInfo> {
    let scram = |l: &&ListenerInfo| l.sasl_mechanisms.iter().any(|m| m == "SCRAM-SHA-512");
    listeners
        .iter()
        .filter(scram)
        .find(|l| l.tls)
        .or_else(|| listeners.iter().find(scram))
}

/// The sealed password's associated data: a sealed value copied to another cluster's row does
/// not open.
fn seal_context(cluster_id: &str) -> String {
    format!("sla-probe:{cluster_id}")
}

fn new_password() -> Result<String, IdentityError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| IdentityError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The cluster's probe identity, created when missing: the row (password sealed) and the
/// KafkaUser with its password Secret, committed only once Kubernetes took the write. Then,
/// until the operator first reports the user Ready, [`IdentityError::NotReady`].
pub async fn ensure(
    state: &AppState,
    cluster: &Cluster,
    plan: &Plan,
    now: i64,
) -> Result<ProbeIdentity, IdentityError> {
    let existing = {
        let mut c = state.db.pool.acquire().await?;
        probe_identities::get(&mut c, &cluster.id).await?
    };
    let mut identity = match existing {
        Some(p) => p,
        None => {
            let password = new_password()?;
            let resource_name = format!("{}-sla-probe", cluster.resource_name);
            let p = ProbeIdentity {
                cluster_id: cluster.id.clone(),
                username: PROBE_USERNAME.into(),
                secret_name: format!("{resource_name}-password"),
                resource_name,
                password_sealed: state
                    .alerting
                    .secrets
                    .seal(&seal_context(&cluster.id), password.as_bytes())?,
                ready_at: None,
                created_at: now,
            };
            let mut tx = state.db.pool.begin().await?;
            match probe_identities::insert(&mut tx, &p).await {
                Ok(()) => {}
                // Another replica or round created it first: use that one.
                Err(StoreError::Conflict(_)) => {
                    drop(tx);
                    let mut c = state.db.pool.acquire().await?;
                    return probe_identities::get(&mut c, &cluster.id)
                        .await?
                        .ok_or_else(|| IdentityError::NotReady(PROBE_USERNAME.into()));
                }
                Err(e) => return Err(e.into()),
            }
            state
                .backend
                .apply_user(&desired_probe_user(cluster, plan, &p), Some(&password))
                .await?;
            tx.commit().await?;
            p
        }
    };
    if identity.ready_at.is_none() {
        let states = state
            .backend
            .user_states(&cluster.namespace, &cluster.resource_name)
            .await?;
        if !states
            .iter()
            .any(|u| u.name == identity.resource_name && u.ready)
        {
            return Err(IdentityError::NotReady(identity.resource_name));
        }
        let mut c = state.db.pool.acquire().await?;
        probe_identities::mark_ready(&mut c, &cluster.id, now).await?;
        identity.ready_at = Some(now);
    }
    Ok(identity)
}

/// Where and how the probe connects as `identity`: the listener from [`probe_listener`], with
/// TLS trusting the cluster CA when the listener has TLS.
pub fn security(
    state: &AppState,
    identity: &ProbeIdentity,
    connection: &ClusterConnection,
) -> Result<(String, Security), IdentityError> {
    let listener = probe_listener(&connection.listeners).ok_or(IdentityError::NoListener)?;
    let password = state.alerting.secrets.open(
        &seal_context(&identity.cluster_id),
        &identity.password_sealed,
    )?;
    let tls = if listener.tls {
        let ca = connection
            .ca_certificate
            .as_deref()
            .ok_or(IdentityError::NoCa)?;
        Some(Tls::trusting(ca.as_bytes()).map_err(|e| IdentityError::BadCa(e.to_string()))?)
    } else {
        None
    };
    Ok((
        listener.bootstrap_servers.clone(),
        Security {
            tls,
            sasl: Some(Credentials {
                mechanism: SaslMechanism::Scram(ScramMechanism::Sha512),
                username: identity.username.clone(),
                password: String::from_utf8_lossy(&password).into_owned(),
            }),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(name: &str, tls: bool, mechanisms: &[&str]) -> ListenerInfo {
        ListenerInfo {
            name: name.into(),
            type_: "internal".into(),
            bootstrap_servers: format!("{name}:9092"),
            security_protocol: String::new(),
            sasl_mechanisms: mechanisms.iter().map(|m| (*m).to_string()).collect(),
            authentication: String::new(),
            tls,
        }
    }

    #[test]
    fn the_probe_prefers_scram_over_tls_and_never_takes_a_certificate_listener() {
        let all = [
            listener("mtls", true, &[]),
            listener("internal", false, &["SCRAM-SHA-512"]),
            listener("tls", true, &["SCRAM-SHA-256", "SCRAM-SHA-512"]),
        ];
        assert_eq!(probe_listener(&all).map(|l| l.name.as_str()), Some("tls"));
        assert_eq!(
            probe_listener(&all[..2]).map(|l| l.name.as_str()),
            Some("internal")
        );
        assert!(probe_listener(&all[..1]).is_none());
    }

    #[test]
    fn the_probe_may_touch_only_its_topic() {
        let acls = probe_acls();
        assert!(crate::domain::acls::validate(&acls).is_ok());
        assert!(
            acls.iter()
                .all(|a| a.resource_type == AclResourceType::Topic
                    && a.resource_name == PROBE_TOPIC
                    && a.pattern_type == AclPatternType::Literal)
        );
        assert!(!acls[0].operations.contains(&AclOperation::Delete));
    }
}
