//! KafkaCluster reconciler: fetch → validate → build → apply → status, one module per step.
pub mod apply;
pub mod build;
pub mod fetch;
pub mod roll;
pub mod status;
pub mod validate;
pub mod voters;

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource as _, ResourceExt as _};
use serde_json::json;
use tracing::{info, instrument, warn};

use crate::context::Context;
use crate::crd::{ConditionStatus, KafkaCluster, PAUSE_ANNOTATION, condition_type, find_condition};
use build::{BuildInput, Names};
use status::Outcome;
use validate::Severity;

/// Metric/kind label of this reconciler.
pub const KIND: &str = "KafkaCluster";

/// Errors of the KafkaCluster reconcile, named after the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the StatefulSet, pods or claims failed.
    #[error("fetching observed state: {0}")]
    Fetch(#[source] kube::Error),
    /// The resource lacks metadata the builders need.
    #[error(transparent)]
    Build(#[from] build::Error),
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
            Self::Build(_) => "build",
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

/// Reconciles one KafkaCluster.
///
/// # Errors
/// When observed state cannot be read or status cannot be written; apply failures are reported
/// in status instead and retried.
#[instrument(skip_all, fields(namespace = cluster.namespace(), name = cluster.name_any()))]
pub async fn reconcile(cluster: Arc<KafkaCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(KIND);
    let namespace = cluster.namespace().unwrap_or_default();
    let name = cluster.name_any();
    let names = Names::new(&name);
    let api: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    let now = crate::conditions::now_rfc3339();

    if is_paused(&cluster) {
        let st = status::next_status(
            &cluster,
            &validate::Validation::default(),
            &[],
            &Outcome::Paused,
            &now,
        );
        patch_status(&api, &cluster, &st).await?;
        info!("reconciliation paused by annotation");
        return Ok(Action::await_change());
    }

    // fetch
    let observed = fetch::observed(&ctx.client, &namespace, &names)
        .await
        .map_err(Error::Fetch)?;
    // validate
    let validation = validate::validate(&cluster.spec, &observed.validate);
    // The voters of the pod template: those the cluster was created with, for its whole life.
    let initial_voters = cluster
        .status
        .as_ref()
        .and_then(|s| s.quorum.as_ref())
        .map(|q| q.initial_voters.clone())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            build::quorum::desired_voters(observed.replicas.unwrap_or(cluster.spec.brokers))
        });
    let desired_voters = build::quorum::desired_voters(cluster.spec.brokers);
    // Before a scale-down, the voters move off the brokers about to go; until they have, the
    // StatefulSet keeps its size.
    let mut voter_sync: Option<voters::Sync> = None;
    let mut hold_replicas = None;
    // Voters as last known: reported by the brokers, else those the cluster was created with.
    let known_voters = cluster
        .status
        .as_ref()
        .and_then(|s| s.quorum.as_ref())
        .and_then(|q| q.voters.clone())
        .unwrap_or_else(|| initial_voters.clone());
    if let Some(current) = observed
        .replicas
        .filter(|r| voters::shrink_removes_voter(*r, cluster.spec.brokers, &known_voters))
        && validation.is_buildable()
    {
        let pods = fetch::broker_pods(&ctx.client, &namespace, &names)
            .await
            .map_err(Error::Fetch)?;
        let sync = voters::sync(&pods, &desired_voters).await;
        if !matches!(sync.state, voters::State::InSync | voters::State::Changed) {
            hold_replicas = Some(current);
        }
        voter_sync = Some(sync);
    }
    let outcome = if validation.is_buildable() {
        // build: the claim template keeps its first size (it is immutable); growth resizes claims.
        let template_size = observed
            .validate
            .provisioned_storage
            .clone()
            .unwrap_or_else(|| validation.effective_storage.clone());
        let mut input = BuildInput::new(&cluster, template_size, ctx.pdb_api)?;
        input.quorum_voters = i32::try_from(initial_voters.len()).unwrap_or(1);
        let mut desired = build::build(&input);
        if let Some(hold) = hold_replicas {
            desired.stateful_set.spec.replicas = Some(hold);
        }
        // apply
        match apply::apply_all(&ctx.client, &namespace, &desired, ctx.pdb_api).await {
            Ok(()) => {
                if let Err(e) = apply::reconcile_claims(
                    &ctx.client,
                    &namespace,
                    &observed.claims,
                    &input.owner,
                    cluster.spec.storage.delete_claim,
                    &validation.effective_storage,
                )
                .await
                {
                    warn!(error = %e, "claim ownership or resize failed; retrying next reconcile");
                }
                Outcome::Applied
            }
            Err(e) => {
                ctx.metrics.reconcile_failed(KIND, "apply");
                Outcome::ApplyFailed(e.to_string())
            }
        }
    } else {
        Outcome::Invalid
    };

    // status
    let pods = if outcome == Outcome::Applied {
        fetch::broker_pods(&ctx.client, &namespace, &names)
            .await
            .map_err(Error::Fetch)?
    } else {
        Vec::new()
    };
    let mut next = status::next_status(&cluster, &validation, &pods, &outcome, &now);
    // rolling restart: decide (asking a broker's probe if needed) and report in status
    // The restart state is read fresh: the controller's cache can lag behind the previous
    // reconcile's status write, and a stale step could restart a broker twice.
    let fresh = if outcome == Outcome::Applied {
        Some(api.get(&name).await.map_err(Error::Fetch)?)
    } else {
        None
    };
    let roll_plan = if let Some(fresh) = &fresh {
        let plan = roll::decide(fresh, &pods, observed.update_revision.as_deref(), &now).await;
        roll::report(&mut next, &plan, cluster.metadata.generation, &now);
        Some(plan)
    } else {
        None
    };
    // After a scale-up (every broker ready, no restart under way) the voters become the first
    // min(N, 3) brokers.
    let rolling = roll_plan.as_ref().is_some_and(roll::active);
    let all_ready = i32::try_from(pods.len()).unwrap_or(i32::MAX) == cluster.spec.brokers
        && pods.iter().all(|p| p.ready);
    if voter_sync.is_none() && outcome == Outcome::Applied && all_ready && !rolling {
        let mut sync = voters::sync(&pods, &desired_voters).await;
        // Voters known to be the wanted ones (a cluster never resized) and brokers that did not
        // answer (no quorum API, or busy): nothing to change, nothing to report or retry.
        if matches!(
            sync.state,
            voters::State::Unsupported | voters::State::Pending(_)
        ) && sync.view.is_none()
            && voters::in_sync(
                &voters::QuorumView {
                    voters: known_voters.clone(),
                    ..voters::QuorumView::default()
                },
                &desired_voters,
            )
        {
            sync.state = voters::State::InSync;
        }
        voter_sync = Some(sync);
    }
    if outcome == Outcome::Applied {
        report_quorum(
            &mut next,
            &cluster,
            initial_voters,
            desired_voters.clone(),
            voter_sync.as_ref(),
            &now,
        );
    }
    if let Some(roll::plan::Action::Finished { token: Some(token) }) =
        roll_plan.as_ref().map(|p| &p.action)
    {
        // Recorded before the status drops the restart, so it cannot run twice.
        roll::mark_done(&api, &name, token)
            .await
            .map_err(Error::Restart)?;
    }
    publish_events(&ctx, &cluster, &validation, &outcome, &next).await;
    if let (Some(plan), Some(fresh)) = (&roll_plan, &fresh) {
        publish_roll_events(&ctx, fresh, plan).await;
    }
    patch_status(&api, &cluster, &next).await?;
    // The restart state (with the pod's UID) is stored before the pod is deleted: a restarted
    // operator then waits for the replacement instead of deleting another pod.
    if let Some(roll::plan::Action::DeletePod { broker_id, uid }) =
        roll_plan.as_ref().map(|p| &p.action)
    {
        roll::delete_pod(
            &ctx.client,
            &namespace,
            &roll::pod_name(&cluster, *broker_id),
            uid,
        )
        .await
        .map_err(Error::Restart)?;
    }
    if roll_plan.as_ref().is_some_and(roll::active) {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }

    match voter_sync.as_ref().map(|s| &s.state) {
        Some(voters::State::Pending(_)) => return Ok(Action::requeue(Duration::from_secs(10))),
        Some(voters::State::Unsupported) if hold_replicas.is_some() => {
            return Ok(Action::requeue(Duration::from_secs(60)));
        }
        _ => {}
    }
    let ready = find_condition(&next.conditions, condition_type::READY)
        .is_some_and(|c| c.status == ConditionStatus::True);
    Ok(match outcome {
        Outcome::Applied if ready => Action::requeue(Duration::from_secs(300)),
        Outcome::Applied | Outcome::ApplyFailed(_) => Action::requeue(Duration::from_secs(5)),
        Outcome::Invalid | Outcome::Paused => Action::await_change(),
    })
}

/// Records the quorum in status; a voter change under way shows as `Reconciling=True` with
/// reason `QuorumResizing`. A broker without the voter-change API is logged once (when the
/// message first appears) and never fails the cluster.
fn report_quorum(
    next: &mut crate::crd::KafkaClusterStatus,
    cluster: &KafkaCluster,
    initial_voters: Vec<i32>,
    desired_voters: Vec<i32>,
    sync: Option<&voters::Sync>,
    now: &str,
) {
    let previous = next.quorum.clone().unwrap_or_default();
    let message = match sync {
        Some(s) => s.message(&desired_voters),
        None => previous.message.clone(),
    };
    if message.is_some() && message != previous.message {
        info!(
            message = message.as_deref().unwrap_or_default(),
            "controller quorum"
        );
    }
    let view = sync.and_then(|s| s.view.as_ref());
    next.quorum = Some(crate::crd::QuorumStatus {
        initial_voters,
        voters: view.map(|v| v.voters.clone()).or(previous.voters),
        desired_voters: desired_voters.clone(),
        leader: view.and_then(|v| v.leader).or(previous.leader),
        message: message.clone(),
    });
    if let Some(voters::State::Pending(_)) = sync.map(|s| &s.state) {
        crate::conditions::set_condition(
            &mut next.conditions,
            crate::conditions::condition(
                condition_type::RECONCILING,
                ConditionStatus::True,
                crate::crd::reason::QUORUM_RESIZING,
                message.unwrap_or_default(),
                cluster.metadata.generation,
            ),
            now,
        );
    }
}

async fn patch_status(
    api: &Api<KafkaCluster>,
    cluster: &KafkaCluster,
    status: &crate::crd::KafkaClusterStatus,
) -> Result<(), Error> {
    let name = cluster.name_any();
    let mut body = json!({ "status": status });
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
    validation: &validate::Validation,
    outcome: &Outcome,
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
