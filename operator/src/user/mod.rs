//! KafkaUser reconciler. The operator does not yet configure SCRAM, mTLS principals or ACLs on its brokers, so a KafkaUser
//! cannot be made real: it gets Ready=False and a Warning naming what is missing, never a fake
//! success. No finalizer: nothing is created outside Kubernetes, so deletion is never blocked.
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::{Controller, watcher};
use kube::{Resource as _, ResourceExt as _};
use serde_json::json;
use tracing::{instrument, warn};

use crate::conditions::{condition, now_rfc3339, set_condition};
use crate::context::Context;
use crate::crd::{
    ConditionStatus, KafkaUser, KafkaUserSpec, KafkaUserStatus, PAUSE_ANNOTATION,
    UserAuthenticationType, condition_type, reason,
};

/// Metric/kind label of this reconciler.
pub const KIND: &str = "KafkaUser";

/// Errors of the KafkaUser reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing status failed.
    #[error("patching status: {0}")]
    Status(#[source] kube::Error),
}

/// Why `spec` cannot be served by the current broker (pure).
#[must_use]
pub fn unsupported(spec: &KafkaUserSpec) -> (&'static str, String) {
    let mut missing = vec![match spec.authentication.type_ {
        UserAuthenticationType::ScramSha256 | UserAuthenticationType::ScramSha512 => {
            "SCRAM credentials (the operator does not manage SCRAM users yet)"
        }
        UserAuthenticationType::Tls => {
            "TLS client authentication (the operator does not issue client certificates yet)"
        }
    }];
    if spec.authorization.is_some() {
        missing.push("ACLs (the operator does not apply ACLs yet)");
    }
    if spec.quotas.is_some() {
        missing.push("quotas (the operator does not apply quotas yet)");
    }
    let reason = match spec.authentication.type_ {
        UserAuthenticationType::Tls => reason::NOT_SUPPORTED,
        _ => reason::SCRAM_NOT_SUPPORTED,
    };
    (
        reason,
        format!("user not created: unsupported {}", missing.join(", ")),
    )
}

/// Runs the KafkaUser controller until `shutdown`.
pub async fn controller(
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    Controller::new(
        Api::<KafkaUser>::all(ctx.client.clone()),
        watcher::Config::default(),
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

/// Reconciles one KafkaUser: reports why it cannot exist yet.
///
/// # Errors
/// When status cannot be written.
#[instrument(skip_all, fields(namespace = user.namespace(), name = user.name_any()))]
pub async fn reconcile(user: Arc<KafkaUser>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(KIND);
    let api: Api<KafkaUser> =
        Api::namespaced(ctx.client.clone(), &user.namespace().unwrap_or_default());
    let generation = user.metadata.generation;
    let now = now_rfc3339();
    let mut status: KafkaUserStatus = user.status.clone().unwrap_or_default();
    let paused = user
        .annotations()
        .get(PAUSE_ANNOTATION)
        .is_some_and(|v| v == "true");
    set_condition(
        &mut status.conditions,
        condition(
            condition_type::RECONCILIATION_PAUSED,
            if paused {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            reason::PAUSED,
            "",
            generation,
        ),
        &now,
    );
    if !paused {
        let (why, message) = unsupported(&user.spec);
        let new_generation = status.observed_generation != generation;
        set_condition(
            &mut status.conditions,
            condition(
                condition_type::READY,
                ConditionStatus::False,
                why,
                message.clone(),
                generation,
            ),
            &now,
        );
        set_condition(
            &mut status.conditions,
            condition(
                condition_type::WARNING,
                ConditionStatus::True,
                why,
                message.clone(),
                generation,
            ),
            &now,
        );
        status.observed_generation = generation;
        status.username = Some(user.name_any());
        status.secret = None;
        if new_generation {
            let ev = Event {
                type_: EventType::Warning,
                reason: why.to_string(),
                note: Some(message),
                action: "Reconcile".to_string(),
                secondary: None,
            };
            if let Err(e) = ctx.recorder.publish(&ev, &user.object_ref(&())).await {
                warn!(error = %e, "publishing event failed");
            }
        }
    }
    api.patch_status(
        &user.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .map_err(Error::Status)?;
    Ok(Action::await_change())
}

/// Requeue policy after a failed reconcile.
#[allow(clippy::needless_pass_by_value)] // signature required by `Controller::run`
pub fn error_policy(_user: Arc<KafkaUser>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(error = %error, "KafkaUser reconcile failed");
    ctx.metrics.reconcile_failed(KIND, "status");
    Action::requeue(Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scram_users_are_reported_unsupported_never_ready() {
        let spec: KafkaUserSpec = serde_json::from_value(json!({
            "cluster": "c",
            "authentication": { "type": "scram-sha-512" },
            "authorization": { "acls": [] }
        }))
        .expect("spec");
        let (why, message) = unsupported(&spec);
        assert_eq!(why, reason::SCRAM_NOT_SUPPORTED);
        assert!(
            message.contains("SCRAM") && message.contains("ACLs"),
            "{message}"
        );
    }
}
