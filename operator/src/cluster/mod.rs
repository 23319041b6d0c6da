//! KafkaCluster reconciler: fetch → validate → plan → build → apply → status, one module per
//! step; `reconcile` only chains them.
pub mod apply;
pub mod balance;
pub mod build;
pub mod certs;
pub mod drain;
pub mod fetch;
pub mod roll;
pub mod scale_down;
pub mod scale_up;
pub mod security;
pub mod status;
pub mod storage;
pub mod upgrade;
pub mod validate;
pub mod voters;

pub mod plan;
pub mod quotas;
pub mod rebalance_hold;
#[cfg(test)]
mod reconcile_tests;

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource as _, ResourceExt as _};
use serde_json::json;
use tracing::{info, instrument, warn};

use crate::context::Context;
use crate::crd::{
    ClaimGrowth, ConditionStatus, KafkaCluster, PAUSE_ANNOTATION, condition_type, find_condition,
};
use build::Names;
use status::Outcome;
use validate::{Severity, ValidatedCluster, Validation};

/// Metric/kind label of this reconciler.
pub const KIND: &str = "KafkaCluster";

/// Errors of the KafkaCluster reconcile, named after the step that failed. Apply failures are
/// an outcome reported in status, not an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the StatefulSet, pods, claims or the cluster failed.
    #[error("fetching observed state: {0}")]
    Fetch(#[source] kube::Error),
    /// The resource lacks metadata the builders need.
    #[error(transparent)]
    Validate(#[from] validate::MissingMetadata),
    /// Writing the status subresource failed.
    #[error("patching status: {0}")]
    Status(#[source] kube::Error),
    /// Deleting a broker pod or recording a finished restart failed.
    #[error("rolling restart: {0}")]
    Restart(#[source] kube::Error),
}

impl Error {
    /// The step label used in metrics.
    #[must_use]
    pub fn step(&self) -> &'static str {
        match self {
            Self::Fetch(_) => "fetch",
            Self::Validate(_) => "validate",
            Self::Status(_) => "status",
            Self::Restart(_) => "restart",
        }
    }
}

/// Whether the pause annotation is set to `"true"`.
#[must_use]
pub fn is_paused(cluster: &KafkaCluster) -> bool {
    cluster
        .annotations()
        .get(PAUSE_ANNOTATION)
        .is_some_and(|v| v == "true")
}

/// Reconciles one KafkaCluster: fetch → validate → plan → build and apply → status → requeue.
///
/// # Errors
/// When observed state cannot be read or status cannot be written; apply failures are reported
/// in status instead and retried.
#[instrument(skip_all, fields(namespace = cluster.namespace(), name = cluster.name_any()))]
pub async fn reconcile(cluster: Arc<KafkaCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(KIND);
    let api = Api::namespaced(ctx.client.clone(), &cluster.namespace().unwrap_or_default());
    let now = crate::conditions::now_rfc3339();
    if is_paused(&cluster) {
        return pause(&api, &cluster, &now).await;
    }
    let names = Names::new(&cluster.name_any());
    let observed = fetch::observed(&ctx.client, &cluster, &names)
        .await
        .map_err(Error::Fetch)?;
    // The brokers' releases and finalized level: a spec.version below it is refused here.
    let releases = upgrade::observe(&observed.pods).await;
    let refused = upgrade::refused(&cluster, &releases);
    let mut validation = validate::validate_named(&cluster.spec, Some(&names), &observed.validate);
    validation.findings.extend(refused.iter().cloned());
    let validated = ValidatedCluster::new(&cluster, &validation, &observed.validate)?;
    let restart = next_restart(validated.is_some(), &observed, &now).await;
    let scale_down = if validated.is_some() {
        scale_down::run(&ctx, &cluster, &observed).await
    } else {
        scale_down::Outcome::default()
    };
    let plan = plan::plan(&plan::Input {
        cluster: &cluster,
        replicas: observed.replicas,
        pods: &observed.pods,
        buildable: validated.is_some(),
        roll: restart.as_ref(),
        move_voters: scale_down.move_voters,
    });
    let applied = apply::execute(&ctx, validated.as_ref(), &plan, &observed, scale_down.hold).await;
    let report = status::Report {
        cluster: &cluster,
        validation: &validation,
        pods: &observed.pods,
        roll: restart
            .as_ref()
            .filter(|_| applied.outcome == Outcome::Applied),
        applied: &applied,
        plan: &plan,
        scale_down: &scale_down,
        claims: &observed.validate.claims,
        offline: &releases.offline,
        now: &now,
    };
    let mut next = status::reconciled(&report);
    let settled = applied.outcome == Outcome::Applied
        && releases.healthy
        && !report.roll.is_some_and(roll::active)
        && find_condition(&next.conditions, condition_type::READY)
            .is_some_and(|c| c.status == ConditionStatus::True);
    let upgrading = upgrade::step(
        &ctx, &cluster, &releases, &refused, settled, &mut next, &now,
    )
    .await;
    write_back(&ctx, &api, &report, observed.latest.as_ref(), &next).await?;
    let finish = plan::Finish {
        outcome: &applied.outcome,
        ready: find_condition(&next.conditions, condition_type::READY)
            .is_some_and(|c| c.status == ConditionStatus::True),
        rolling: report.roll.is_some_and(roll::active),
        voters: applied.voters.as_ref().map(|s| &s.state),
        held: applied.held.is_some(),
        certificates_due: applied.certificates_due,
        scaling_down: scale_down.active(),
        scale_down_blocked: scale_down.blocked(),
    };
    let mut requeue = plan::requeue(&finish);
    let mut sooner = |retry: Duration| requeue = Some(requeue.map_or(retry, |d| d.min(retry)));
    if let Some(soon) = upgrading {
        sooner(soon);
    }
    // Claims being grown: look again until their capacity follows (claims are not watched).
    if next
        .storage_claims
        .iter()
        .any(|c| matches!(c.growth, ClaimGrowth::Growing | ClaimGrowth::Resizing))
    {
        sooner(Duration::from_secs(10));
    }
    if finish.ready {
        let mut reported = (*cluster).clone();
        let mut st = next.clone();
        // The balance step owns `status.rebalance` and writes it itself: read it as stored now.
        st.rebalance = observed
            .latest
            .as_ref()
            .and_then(|l| l.status.as_ref())
            .and_then(|s| s.rebalance.clone());
        reported.status = Some(st);
        if cluster.spec.limits.is_some() && !quotas::converge(&ctx, &reported).await {
            sooner(Duration::from_secs(30));
        }
        let settled = !finish.rolling
            && !finish.scaling_down
            && !finish.scale_down_blocked
            && !matches!(finish.voters, Some(voters::State::Pending(_)));
        if settled && scale_up::converge(&ctx, &reported).await {
            sooner(Duration::from_secs(5));
        }
    }
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

/// A paused cluster: only the ReconciliationPaused condition is written.
async fn pause(
    api: &Api<KafkaCluster>,
    cluster: &KafkaCluster,
    now: &str,
) -> Result<Action, Error> {
    let st = status::next_status(cluster, &Validation::default(), &[], &Outcome::Paused, now);
    patch_status(api, cluster, &st).await?;
    info!("reconciliation paused by annotation");
    Ok(Action::await_change())
}

/// The rolling restart's next step of a buildable cluster, asking the brokers' probes as the
/// restart planner needs; decided from the cluster as stored now.
async fn next_restart(
    buildable: bool,
    observed: &fetch::Observed,
    now: &str,
) -> Option<roll::plan::Plan> {
    let latest = observed.latest.as_ref().filter(|_| buildable)?;
    let revision = observed.update_revision.as_deref();
    Some(roll::decide(latest, &observed.pods, revision, now).await)
}

/// Records the outcome: a finished restart's token (before the status drops the restart, so it
/// cannot run twice), Events, the status, then the pod a restart deletes (after its UID is
/// stored: a restarted operator then waits for the replacement instead of deleting another).
async fn write_back(
    ctx: &Context,
    api: &Api<KafkaCluster>,
    report: &status::Report<'_>,
    latest: Option<&KafkaCluster>,
    next: &crate::crd::KafkaClusterStatus,
) -> Result<(), Error> {
    let cluster = report.cluster;
    let action = report.roll.map(|p| &p.action);
    if let Some(roll::plan::Action::Finished { token: Some(token) }) = action {
        roll::mark_done(api, &cluster.name_any(), token)
            .await
            .map_err(Error::Restart)?;
    }
    let outcome = &report.applied.outcome;
    let issued = &report.applied.certificates_issued;
    publish_events(ctx, cluster, report.validation, outcome, issued, next).await;
    if let (Some(plan), Some(latest)) = (report.roll, latest) {
        publish_roll_events(ctx, latest, plan).await;
    }
    patch_status(api, cluster, next).await?;
    if let Some(roll::plan::Action::DeletePod { broker_id, uid }) = action {
        let namespace = cluster.namespace().unwrap_or_default();
        let pod = roll::pod_name(cluster, *broker_id);
        roll::delete_pod(&ctx.client, &namespace, &pod, uid)
            .await
            .map_err(Error::Restart)?;
    }
    Ok(())
}

async fn patch_status(
    api: &Api<KafkaCluster>,
    cluster: &KafkaCluster,
    status: &crate::crd::KafkaClusterStatus,
) -> Result<(), Error> {
    let name = cluster.name_any();
    let mut body = json!({ "status": status });
    if let Some(st) = body["status"].as_object_mut() {
        // Written by the balance step only (a merge patch leaves an absent field alone): the
        // cached copy here may be older than its last write.
        st.remove("rebalance");
    }
    if status.rolling_restart.is_none() {
        // A merge patch leaves absent fields alone: null removes a finished restart.
        body["status"]["rollingRestart"] = serde_json::Value::Null;
    }
    let had_message = cluster
        .status
        .as_ref()
        .and_then(|s| s.quorum.as_ref())
        .is_some_and(|q| q.message.is_some());
    if had_message && status.quorum.as_ref().is_some_and(|q| q.message.is_none()) {
        // Likewise for a quorum message that no longer applies; only then, so the first
        // status patch of a cluster carries no nested null.
        body["status"]["quorum"]["message"] = serde_json::Value::Null;
    }
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(body))
        .await
        .map_err(Error::Status)?;
    Ok(())
}

/// One Event per notable step: a new generation applied, invalid spec, apply failure, warnings,
/// becoming ready.
async fn publish_events(
    ctx: &Context,
    cluster: &KafkaCluster,
    validation: &Validation,
    outcome: &Outcome,
    issued: &[String],
    next: &crate::crd::KafkaClusterStatus,
) {
    let previous = cluster.status.clone().unwrap_or_default();
    let new_generation = previous.observed_generation != cluster.metadata.generation;
    let was_ready = find_condition(&previous.conditions, condition_type::READY)
        .is_some_and(|c| c.status == ConditionStatus::True);
    let is_ready = find_condition(&next.conditions, condition_type::READY)
        .is_some_and(|c| c.status == ConditionStatus::True);
    let mut events = Vec::new();
    match outcome {
        Outcome::Applied if new_generation => events.push((
            EventType::Normal,
            "Applied",
            format!(
                "applied broker objects for generation {}",
                cluster.metadata.generation.unwrap_or_default()
            ),
        )),
        Outcome::Invalid if new_generation => events.push((
            EventType::Warning,
            "InvalidSpec",
            validation
                .with_severity(Severity::Invalid)
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
        )),
        Outcome::ApplyFailed(msg) => events.push((EventType::Warning, "ApplyFailed", msg.clone())),
        _ => {}
    }
    if new_generation {
        for w in validation.with_severity(Severity::Warning) {
            events.push((EventType::Warning, w.reason, w.message.clone()));
        }
    }
    if is_ready && !was_ready {
        events.push((
            EventType::Normal,
            "Ready",
            format!("{} brokers ready", next.ready_brokers),
        ));
    }
    let phase = |s: &crate::crd::KafkaClusterStatus| s.scale_down.as_ref().map(|d| d.phase);
    if let (Some(sd), true) = (next.scale_down.as_ref(), phase(&previous) != phase(next)) {
        let blocked = sd.phase == crate::crd::ScaleDownPhase::Blocked;
        events.push((
            if blocked {
                EventType::Warning
            } else {
                EventType::Normal
            },
            if blocked {
                "ScaleDownBlocked"
            } else {
                "ScaleDown"
            },
            format!("{:?}: {}", sd.phase, sd.message.clone().unwrap_or_default()),
        ));
    }
    if !issued.is_empty() {
        events.push((
            EventType::Normal,
            "CertificatesIssued",
            format!("broker certificates issued: {}", issued.join(", ")),
        ));
    }
    let reference = cluster.object_ref(&());
    for (type_, reason, note) in events {
        let ev = Event {
            type_,
            reason: reason.to_string(),
            note: Some(note.chars().take(1000).collect()),
            action: "Reconcile".to_string(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&ev, &reference).await {
            warn!(error = %e, reason, "publishing event failed");
        }
    }
}

/// Events of the rolling restart: started, a broker being restarted, finished.
async fn publish_roll_events(ctx: &Context, cluster: &KafkaCluster, plan: &roll::plan::Plan) {
    use roll::plan::Action as A;
    let was_rolling = cluster
        .status
        .as_ref()
        .is_some_and(|s| s.rolling_restart.is_some());
    let mut events = Vec::new();
    if let (false, Some(state)) = (was_rolling, &plan.state) {
        events.push((
            "RollingRestartStarted",
            format!(
                "rolling restart ({:?}) of brokers {:?}",
                state.trigger,
                state
                    .current
                    .iter()
                    .map(|c| c.broker_id)
                    .chain(state.pending.iter().copied())
                    .collect::<Vec<_>>()
            ),
        ));
    }
    match &plan.action {
        A::DeletePod { broker_id, .. } => events.push((
            "RestartingBroker",
            format!("deleting broker {broker_id}'s pod (pre-restart probe passed)"),
        )),
        A::Finished { token } => events.push((
            "RollingRestartFinished",
            format!(
                "every broker restarted{}",
                token
                    .as_ref()
                    .map(|t| format!(" (token {t})"))
                    .unwrap_or_default()
            ),
        )),
        _ => {}
    }
    let reference = cluster.object_ref(&());
    for (reason, note) in events {
        let ev = Event {
            type_: EventType::Normal,
            reason: reason.to_string(),
            note: Some(note),
            action: "RollingRestart".to_string(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&ev, &reference).await {
            warn!(error = %e, reason, "publishing event failed");
        }
    }
}

/// Requeue policy after a failed reconcile.
#[allow(clippy::needless_pass_by_value)] // signature required by `Controller::run`
pub fn error_policy(_cluster: Arc<KafkaCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(error = %error, "KafkaCluster reconcile failed");
    ctx.metrics.reconcile_failed(KIND, error.step());
    Action::requeue(Duration::from_secs(10))
}
