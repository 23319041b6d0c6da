//! KafkaUser reconciler: fetch the cluster → plan (pure: validate against the cluster, desired
//! credential, ACLs and quotas) → credentials Secret → converge the brokers through the
//! operator's admin connection (SCRAM credential, ACL diff, quota diff) → status. A finalizer
//! removes the credential, ACLs and quotas from the brokers on deletion, released at once when
//! the cluster is gone. The password Secret a user references is watched: changing it rotates
//! the credential (its `resourceVersion` is recorded in status). TLS users get a client
//! certificate signed by the clients CA instead (`tls`), renewed before it expires.
pub mod plan;
pub mod secret;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Resource as _, ResourceExt as _};
use serde_json::json;
use tracing::{info, instrument, warn};

use crate::conditions::{condition, now_rfc3339, set_condition};
use crate::context::{Context, FIELD_MANAGER};
use crate::crd::{
    ConditionStatus, KafkaCluster, KafkaUser, KafkaUserStatus, PAUSE_ANNOTATION, condition_type,
    find_condition, reason, user_reason,
};
use crate::kafka_admin;
use crate::kafka_admin::target::{self, Target};
use eddy_kafka_client::scram::ScramMechanism;
use plan::Desired;

/// Metric/kind label of this reconciler.
pub const KIND: &str = "KafkaUser";
/// Finalizer that removes the user from the brokers.
pub const FINALIZER: &str = "eddy.io/user";
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a Ready user is re-checked against the brokers (drift, e.g. ACLs removed by hand).
const RESYNC: Duration = Duration::from_secs(300);

/// Errors of the KafkaUser reconcile, named after the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the cluster failed.
    #[error("fetching cluster: {0}")]
    Fetch(#[source] kube::Error),
    /// Reading or writing the user's Secret failed.
    #[error("credentials secret: {0}")]
    Secret(#[source] kube::Error),
    /// Issuing a TLS user's certificate failed.
    #[error("client certificate: {0}")]
    Certificate(String),
    /// No randomness for a generated password.
    #[error("generating a password: {0}")]
    Password(#[source] eddy_kafka_client::scram::ScramError),
    /// The admin connection's CA or credentials cannot be read.
    #[error("admin connection: {0}")]
    Target(#[source] target::Error),
    /// A Kafka admin call failed.
    #[error("kafka admin on {address}: {source}")]
    Kafka {
        /// Broker address.
        address: String,
        /// Cause.
        source: kafka_admin::Error,
    },
    /// Writing status failed.
    #[error("patching status: {0}")]
    Status(#[source] kube::Error),
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
}

impl Error {
    fn step(&self) -> &'static str {
        match self {
            Self::Fetch(_) => "fetch",
            Self::Secret(_) | Self::Password(_) => "secret",
            Self::Certificate(_) => "certificate",
            Self::Target(_) => "target",
            Self::Kafka { .. } => "kafka",
            Self::Status(_) => "status",
            Self::Finalizer(_) => "finalizer",
        }
    }
}

fn is_ready(conditions: &[crate::crd::Condition]) -> bool {
    find_condition(conditions, condition_type::READY)
        .is_some_and(|c| c.status == ConditionStatus::True)
}

/// Runs the KafkaUser controller until `shutdown`. Besides KafkaUsers it watches Secrets (a
/// user's password Secret changed: rotate) and KafkaClusters (a cluster became ready: users
/// waiting for it go on at once).
pub async fn controller(
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let controller = Controller::new(
        Api::<KafkaUser>::all(client.clone()),
        watcher::Config::default(),
    );
    let users = controller.store();
    let waiting = controller.store();
    controller
        .watches(
            Api::<Secret>::all(client.clone()),
            watcher::Config::default(),
            move |secret: Secret| {
                let ns = secret.namespace();
                let name = secret.name_any();
                users
                    .state()
                    .into_iter()
                    .filter(|u| u.namespace() == ns && u.credentials_secret() == name)
                    .map(|u| ObjectRef::from_obj(&*u))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            Api::<KafkaCluster>::all(client),
            watcher::Config::default(),
            move |cluster: KafkaCluster| {
                let ns = cluster.namespace();
                let name = cluster.name_any();
                waiting
                    .state()
                    .into_iter()
                    .filter(|u| {
                        u.namespace() == ns
                            && u.spec.cluster == name
                            && !u.status.as_ref().is_some_and(|s| is_ready(&s.conditions))
                    })
                    .map(|u| ObjectRef::from_obj(&*u))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                warn!(error = %e, "KafkaUser controller");
            }
        })
        .await;
}

/// Reconciles one KafkaUser (with its finalizer).
///
/// # Errors
/// Kubernetes or Kafka failures; retried by [`error_policy`].
#[instrument(skip_all, fields(namespace = user.namespace(), name = user.name_any()))]
pub async fn reconcile(user: Arc<KafkaUser>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(KIND);
    let api: Api<KafkaUser> =
        Api::namespaced(ctx.client.clone(), &user.namespace().unwrap_or_default());
    finalizer(&api, FINALIZER, user, |event| async {
        match event {
            finalizer::Event::Apply(u) => apply(&u, &ctx).await,
            finalizer::Event::Cleanup(u) => cleanup(&u, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// The status being built for one reconcile, with the condition helpers.
struct Report<'a> {
    user: &'a KafkaUser,
    status: KafkaUserStatus,
    now: String,
}

impl Report<'_> {
    fn set(&mut self, type_: &str, ok: bool, why: &str, message: impl Into<String>) {
        let s = if ok {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        };
        set_condition(
            &mut self.status.conditions,
            condition(type_, s, why, message, self.user.metadata.generation),
            &self.now,
        );
    }

    /// Ready=False for `why`, without a warning (waiting on something else).
    fn waiting(&mut self, why: &str, message: impl Into<String>) {
        self.set(condition_type::READY, false, why, message);
    }

    /// Ready=False and Warning=True for `why` (something the user must fix or a failure).
    async fn refused(&mut self, ctx: &Context, why: &str, message: String) {
        let new_generation = self.status.observed_generation != self.user.metadata.generation
            || find_condition(&self.status.conditions, condition_type::READY)
                .is_none_or(|c| c.reason != why);
        self.set(condition_type::READY, false, why, message.clone());
        self.set(condition_type::WARNING, true, why, message.clone());
        self.status.observed_generation = self.user.metadata.generation;
        if new_generation {
            publish(ctx, self.user, EventType::Warning, why, message).await;
        }
    }

    async fn write(&self, ctx: &Context) -> Result<(), Error> {
        let api: Api<KafkaUser> = Api::namespaced(
            ctx.client.clone(),
            &self.user.namespace().unwrap_or_default(),
        );
        api.patch_status(
            &self.user.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": self.status })),
        )
        .await
        .map_err(Error::Status)?;
        Ok(())
    }
}

async fn apply(user: &KafkaUser, ctx: &Context) -> Result<Action, Error> {
    let ns = user.namespace().unwrap_or_default();
    let mut report = Report {
        user,
        status: user.status.clone().unwrap_or_default(),
        now: now_rfc3339(),
    };
    let paused = user
        .annotations()
        .get(PAUSE_ANNOTATION)
        .is_some_and(|v| v == "true");
    report.set(
        condition_type::RECONCILIATION_PAUSED,
        paused,
        reason::PAUSED,
        "",
    );
    if paused {
        report.write(ctx).await?;
        return Ok(Action::await_change());
    }
    let username = user.kafka_username();
    report.status.username = Some(username.clone());

    let clusters: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(cluster) = clusters
        .get_opt(&user.spec.cluster)
        .await
        .map_err(Error::Fetch)?
    else {
        report.waiting(
            reason::CLUSTER_NOT_FOUND,
            format!("KafkaCluster {} not found", user.spec.cluster),
        );
        report.write(ctx).await?;
        return Ok(Action::requeue(Duration::from_secs(30)));
    };
    let desired = match plan::desired(&user.spec, &username, &cluster.spec) {
        Ok(d) => d,
        Err(message) => {
            report.refused(ctx, reason::INVALID_SPEC, message).await;
            report.write(ctx).await?;
            // The cluster may change under the user (a listener added): look again later.
            return Ok(Action::requeue(Duration::from_secs(60)));
        }
    };
    let cluster_ready = cluster
        .status
        .as_ref()
        .is_some_and(|s| crate::crd::brokers_serving(&s.conditions));
    if !cluster_ready {
        report.waiting(
            reason::CLUSTER_NOT_READY,
            format!("KafkaCluster {} is not ready", user.spec.cluster),
        );
        report.write(ctx).await?;
        return Ok(Action::requeue(Duration::from_secs(10)));
    }
    let target = match target::resolve(&ctx.client, &cluster).await {
        Ok(t) if !t.endpoints.is_empty() => t,
        Ok(_) => {
            report.waiting(
                reason::CLUSTER_NOT_READY,
                format!(
                    "KafkaCluster {} has no broker address yet",
                    user.spec.cluster
                ),
            );
            report.write(ctx).await?;
            return Ok(Action::requeue(Duration::from_secs(10)));
        }
        Err(e) => {
            report.waiting(
                reason::CLUSTER_NOT_READY,
                format!("KafkaCluster {}: {e}", user.spec.cluster),
            );
            report.write(ctx).await?;
            return Ok(Action::requeue(Duration::from_secs(10)));
        }
    };

    let mut certificate = None;
    let credential = match desired.scram {
        Some(_) => match scram_password(user, ctx, &username).await? {
            Ok(c) => Some(c),
            Err(message) => {
                report.waiting(user_reason::PASSWORD_SECRET_NOT_FOUND, message);
                report.write(ctx).await?;
                return Ok(Action::requeue(Duration::from_secs(30)));
            }
        },
        None => match tls::certificate(&ctx.client, user, &cluster, &username).await? {
            tls::Outcome::Ready {
                secret,
                not_after,
                renew_in,
                issued,
            } => {
                if issued {
                    publish(
                        ctx,
                        user,
                        EventType::Normal,
                        "CertificateIssued",
                        format!(
                            "client certificate CN={username} issued, valid until {}",
                            crate::pki::rfc3339(not_after)
                        ),
                    )
                    .await;
                }
                certificate = Some((secret, not_after, renew_in));
                None
            }
            tls::Outcome::Waiting(message) => {
                report.waiting(user_reason::CLIENTS_CA_NOT_FOUND, message);
                report.write(ctx).await?;
                return Ok(Action::requeue(Duration::from_secs(10)));
            }
        },
    };

    let changed = credential
        .as_ref()
        .is_some_and(|c| report.status.password_secret_version.as_deref() != Some(&c.version));
    let converged = converge(
        ctx,
        user,
        &target,
        &desired,
        credential.as_ref().map(|c| c.password.as_str()),
        changed,
        cluster.spec.authorization.is_some(),
    )
    .await;
    if let Err(e) = converged {
        report
            .refused(ctx, user_reason::BROKER_ERROR, e.to_string())
            .await;
        report.write(ctx).await?;
        return Err(e);
    }
    report.status.secret = credential
        .as_ref()
        .map(|c| c.secret.clone())
        .or_else(|| certificate.as_ref().map(|c| c.0.clone()));
    report.status.password_secret_version = credential.map(|c| c.version);
    report.status.certificate_not_after = certificate.as_ref().map(|c| crate::pki::rfc3339(c.1));
    report.status.observed_generation = user.metadata.generation;
    report.set(condition_type::WARNING, false, reason::NO_WARNINGS, "");
    report.set(
        condition_type::READY,
        true,
        reason::READY,
        format!(
            "user {username} exists on cluster {} with {} ACLs",
            user.spec.cluster,
            desired.acls.len()
        ),
    );
    report.write(ctx).await?;
    // A TLS user's certificate is renewed when its renewal window opens.
    let renew = certificate.map_or(RESYNC, |c| c.2.max(Duration::from_secs(1)));
    Ok(Action::requeue(RESYNC.min(renew)))
}

/// A SCRAM password and where it came from.
struct Password {
    password: String,
    /// The Secret holding it.
    secret: String,
    /// That Secret's `resourceVersion`: a new one means the password may have changed.
    version: String,
}

/// The user's password: read from the referenced Secret (never written), or the generated
/// one in the Secret named like the KafkaUser (generated once, kept afterwards). `Ok(Err)`
/// when the referenced Secret or key does not exist.
async fn scram_password(
    user: &KafkaUser,
    ctx: &Context,
    username: &str,
) -> Result<Result<Password, String>, Error> {
    let ns = user.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    if let Some(r) = &user.spec.authentication.password {
        let found = secrets.get_opt(&r.name).await.map_err(Error::Secret)?;
        let Some(found) = found else {
            return Ok(Err(format!("password Secret {} not found", r.name)));
        };
        return Ok(match secret::string_key(&found, &r.key) {
            Some(p) if !p.is_empty() => Ok(Password {
                password: p,
                secret: r.name.clone(),
                version: found.resource_version().unwrap_or_default(),
            }),
            _ => Err(format!("password Secret {} has no key {}", r.name, r.key)),
        });
    }
    let name = user.name_any();
    let existing = secrets.get_opt(&name).await.map_err(Error::Secret)?;
    let password = match existing
        .as_ref()
        .and_then(|s| secret::string_key(s, secret::PASSWORD_KEY))
        .filter(|p| !p.is_empty())
    {
        Some(p) => p,
        None => secret::generate_password().map_err(Error::Password)?,
    };
    let Some(owner) = user.controller_owner_ref(&()) else {
        return Ok(Err("the KafkaUser has no uid yet".to_string()));
    };
    let desired = secret::scram_secret(
        &secret::Placement {
            name: name.clone(),
            namespace: ns,
            cluster: user.spec.cluster.clone(),
            owner,
        },
        username,
        &password,
    );
    // Server-side apply: a no-op when nothing changed (the resourceVersion stays).
    let applied = secrets
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&desired),
        )
        .await
        .map_err(Error::Secret)?;
    Ok(Ok(Password {
        password,
        secret: name,
        version: applied.resource_version().unwrap_or_default(),
    }))
}

/// Converges the brokers on `desired`: the SCRAM credential (written when missing or when the
/// password changed; other mechanisms removed), the ACL set, the quotas.
async fn converge(
    ctx: &Context,
    user: &KafkaUser,
    target: &Target,
    desired: &Desired,
    password: Option<&str>,
    password_changed: bool,
    authorizer: bool,
) -> Result<(), Error> {
    let (address, mut admin) = kafka_admin::connect_any(target, ADMIN_TIMEOUT)
        .await
        .map_err(|(address, source)| Error::Kafka { address, source })?;
    let kafka = |source| Error::Kafka {
        address: address.clone(),
        source,
    };
    let name = &desired.username;
    let observed = admin.describe_scram(name).await.map_err(kafka)?;
    let steps = plan::scram_steps(desired.scram, &observed, password_changed);
    if let (Some(m), Some(p)) = (steps.upsert, password) {
        admin.upsert_scram(name, m, p).await.map_err(kafka)?;
        publish(
            ctx,
            user,
            EventType::Normal,
            "CredentialsUpdated",
            format!("{m} credential of {name} written"),
        )
        .await;
    }
    for m in &steps.delete {
        admin.delete_scram(name, *m).await.map_err(kafka)?;
    }
    if authorizer {
        let observed = admin
            .describe_acls(&desired.principal)
            .await
            .map_err(kafka)?;
        let (create, delete) = plan::acl_diff(&desired.acls, &observed);
        admin.delete_acls(&delete).await.map_err(kafka)?;
        admin.create_acls(&create).await.map_err(kafka)?;
        if !create.is_empty() || !delete.is_empty() {
            publish(
                ctx,
                user,
                EventType::Normal,
                "AclsUpdated",
                format!(
                    "ACLs of {}: {} created, {} deleted",
                    desired.principal,
                    create.len(),
                    delete.len()
                ),
            )
            .await;
        }
    }
    let observed = admin
        .describe_user_quotas(Some(name))
        .await
        .map_err(kafka)?;
    let (set, remove) = plan::quota_diff(&desired.quotas, &observed);
    admin
        .alter_user_quotas(Some(name), &set, &remove)
        .await
        .map_err(kafka)?;
    info!(user = %name, %address, "user converged");
    Ok(())
}

/// Removes the user's credentials, ACLs and quotas from the brokers. Never blocks deletion
/// when the cluster is gone, being deleted, or has no running broker left.
async fn cleanup(user: &KafkaUser, ctx: &Context) -> Result<Action, Error> {
    let ns = user.namespace().unwrap_or_default();
    let clusters: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), &ns);
    let username = user.kafka_username();
    let cluster = clusters
        .get_opt(&user.spec.cluster)
        .await
        .map_err(Error::Fetch)?;
    let Some(cluster) = cluster.filter(|c| c.metadata.deletion_timestamp.is_none()) else {
        info!(user = %username, "cluster gone: releasing finalizer");
        return Ok(Action::await_change());
    };
    let no_broker = cluster.status.as_ref().is_none_or(|s| s.ready_brokers == 0);
    let removed = remove_from_brokers(ctx, &cluster, &username).await;
    match removed {
        Ok(()) => {
            publish(
                ctx,
                user,
                EventType::Normal,
                "Deleted",
                format!("removed {username}'s credentials, ACLs and quotas"),
            )
            .await;
            Ok(Action::await_change())
        }
        Err(e) if no_broker => {
            warn!(error = %e, user = %username, "no broker running: releasing finalizer");
            Ok(Action::await_change())
        }
        Err(e) => Err(e),
    }
}

async fn remove_from_brokers(
    ctx: &Context,
    cluster: &KafkaCluster,
    username: &str,
) -> Result<(), Error> {
    let target = target::resolve(&ctx.client, cluster)
        .await
        .map_err(Error::Target)?;
    let (address, mut admin) = kafka_admin::connect_any(&target, ADMIN_TIMEOUT)
        .await
        .map_err(|(address, source)| Error::Kafka { address, source })?;
    let kafka = |source| Error::Kafka {
        address: address.clone(),
        source,
    };
    for m in ScramMechanism::ALL {
        admin.delete_scram(username, m).await.map_err(kafka)?;
    }
    if cluster.spec.authorization.is_some() {
        let acls = admin
            .describe_acls(&format!("User:{username}"))
            .await
            .map_err(kafka)?;
        admin.delete_acls(&acls).await.map_err(kafka)?;
    }
    let quotas = admin
        .describe_user_quotas(Some(username))
        .await
        .map_err(kafka)?;
    let (_, remove) = plan::quota_diff(&std::collections::BTreeMap::new(), &quotas);
    admin
        .alter_user_quotas(Some(username), &std::collections::BTreeMap::new(), &remove)
        .await
        .map_err(kafka)?;
    Ok(())
}

async fn publish(ctx: &Context, user: &KafkaUser, type_: EventType, reason: &str, note: String) {
    let ev = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: "Reconcile".to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &user.object_ref(&())).await {
        warn!(error = %e, "publishing event failed");
    }
}

/// Requeue policy after a failed reconcile.
#[allow(clippy::needless_pass_by_value)] // signature required by `Controller::run`
pub fn error_policy(_user: Arc<KafkaUser>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(error = %error, "KafkaUser reconcile failed");
    ctx.metrics.reconcile_failed(KIND, error.step());
    Action::requeue(Duration::from_secs(10))
}
