//! KafkaRebalance reconciler: read the annotation, the stored phase and the cluster →
//! [`decide::intent`] (pure) → propose ([`planner`] over the brokers' layout and disk sizes),
//! execute a step (throttled reassignments, at most [`MAX_IN_FLIGHT`] at once, progress from
//! [`decide::progress`]) or stop (cancel what runs) → status, then remove the annotation. The
//! proposal and the throttled topics live in the status, and everything else is asked of the
//! brokers each time, so a restart of the operator or of a broker resumes where it was.
pub mod decide;
pub mod planner;
pub mod proposal;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use kube::ResourceExt as _;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use serde_json::json;
use tracing::{info, instrument, warn};

use crate::cluster::scale_down::{remove_throttles, throttle};
use crate::conditions::{condition, now_rfc3339, set_condition};
use crate::context::Context;
use crate::crd::{
    ConditionStatus, KafkaCluster, KafkaRebalance, KafkaRebalanceStatus, REBALANCE_ANNOTATION,
    RebalancePhase, RebalanceProgress, RebalanceSpec, condition_type, find_condition, reason,
    rebalance_reason,
};
use crate::kafka_admin::{self, AdminClient};
use decide::{Command, Intent};

/// Metric/kind label of this reconciler.
pub const KIND: &str = "KafkaRebalance";
/// Partitions reassigned at once (as a scale-down drain).
pub const MAX_IN_FLIGHT: usize = crate::cluster::scale_down::MAX_IN_FLIGHT;
const ADMIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Errors of the KafkaRebalance reconcile (broker failures are reported in the status and
/// retried, not returned).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the cluster failed.
    #[error("fetching cluster: {0}")]
    Fetch(#[source] kube::Error),
    /// Writing status or the annotation failed.
    #[error("patching the rebalance: {0}")]
    Patch(#[source] kube::Error),
}

impl Error {
    fn step(&self) -> &'static str {
        match self {
            Self::Fetch(_) => "fetch",
            Self::Patch(_) => "status",
        }
    }
}

/// Runs the KafkaRebalance controller until `shutdown`.
pub async fn controller(
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    Controller::new(
        Api::<KafkaRebalance>::all(ctx.client.clone()),
        watcher::Config::default(),
    )
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, ctx)
    .for_each(|r| async move {
        if let Err(e) = r {
            warn!(error = %e, "KafkaRebalance controller");
        }
    })
    .await;
}

/// Requeue policy after a failed reconcile.
#[allow(clippy::needless_pass_by_value)] // signature required by `Controller::run`
pub fn error_policy(_r: Arc<KafkaRebalance>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(error = %error, "KafkaRebalance reconcile failed");
    ctx.metrics.reconcile_failed(KIND, error.step());
    Action::requeue(Duration::from_secs(10))
}

/// Reconciles one KafkaRebalance.
///
/// # Errors
/// Kubernetes failures; retried by [`error_policy`].
#[instrument(skip_all, fields(namespace = r.namespace(), name = r.name_any()))]
pub async fn reconcile(r: Arc<KafkaRebalance>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(KIND);
    let ns = r.namespace().unwrap_or_default();
    let api: Api<KafkaRebalance> = Api::namespaced(ctx.client.clone(), &ns);
    // The stored object, not the cache: a stale phase would repeat a step.
    let r = api.get(&r.name_any()).await.map_err(Error::Patch)?;
    let clusters: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), &ns);
    let generation = r.metadata.generation;
    let mut st = r.status.clone().unwrap_or_default();
    let command = Command::parse(
        r.annotations()
            .get(REBALANCE_ANNOTATION)
            .map(String::as_str),
    );
    let edited = match &st.proposal {
        Some(p) => p.generation != generation,
        None => st.observed_generation.is_some() && st.observed_generation != generation,
    };
    let Some(cluster) = clusters
        .get_opt(&r.spec.cluster)
        .await
        .map_err(Error::Fetch)?
    else {
        st.phase = Some(RebalancePhase::NotReady);
        ready(
            &mut st,
            false,
            reason::CLUSTER_NOT_FOUND,
            format!("KafkaCluster {} not found", r.spec.cluster),
            generation,
        );
        st.observed_generation = generation;
        finish(&api, &r, &st, &command).await?;
        return Ok(Action::requeue(Duration::from_secs(30)));
    };
    let busy = decide::cluster_busy(&cluster);
    let decided = decide::intent(st.phase, &command, edited, busy.as_deref());
    match &decided.intent {
        Intent::Propose => propose(&ctx, &r, &cluster, &mut st).await,
        Intent::Execute { approving } => execute(&ctx, &r, &cluster, &mut st, *approving).await,
        Intent::Stop => stop(&ctx, &cluster, &mut st, generation).await,
        Intent::Wait(why) => {
            if matches!(st.phase, None | Some(RebalancePhase::PendingProposal)) {
                st.phase = Some(RebalancePhase::PendingProposal);
            }
            ready(
                &mut st,
                false,
                rebalance_reason::WAITING,
                format!("waiting: {why}"),
                generation,
            );
        }
        Intent::Idle => {}
    }
    // A refusal stays reported until the next annotation or spec change (the reconcile that
    // removes the refused annotation must not wipe it at once).
    let clear = command != Command::None || st.observed_generation != generation;
    let warning = match decided.warning {
        Some((why, message)) => Some((ConditionStatus::True, why, message)),
        None if clear => Some((ConditionStatus::False, reason::NO_WARNINGS, String::new())),
        None => None,
    };
    if let Some((status, why, message)) = warning {
        set_condition(
            &mut st.conditions,
            condition(condition_type::WARNING, status, why, message, generation),
            &now_rfc3339(),
        );
    }
    if !matches!(st.phase, Some(RebalancePhase::Rebalancing)) || !edited {
        st.observed_generation = generation;
    }
    // An annotation whose action could not reach the brokers stays, to be acted on next time.
    let failed = find_condition(&st.conditions, condition_type::READY)
        .is_some_and(|c| c.reason == rebalance_reason::BROKER_ERROR);
    let acted = if failed { &Command::None } else { &command };
    finish(&api, &r, &st, acted).await?;
    Ok(Action::requeue(match st.phase {
        Some(RebalancePhase::Rebalancing) => Duration::from_secs(5),
        Some(RebalancePhase::PendingProposal) => Duration::from_secs(15),
        _ => Duration::from_secs(300),
    }))
}

/// Sets the Ready condition.
fn ready(
    st: &mut KafkaRebalanceStatus,
    ok: bool,
    why: &str,
    message: String,
    generation: Option<i64>,
) {
    let status = if ok {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    set_condition(
        &mut st.conditions,
        condition(condition_type::READY, status, why, message, generation),
        &now_rfc3339(),
    );
}

/// Writes the status, then removes the annotation the reconcile acted on.
async fn finish(
    api: &Api<KafkaRebalance>,
    r: &KafkaRebalance,
    st: &KafkaRebalanceStatus,
    command: &Command,
) -> Result<(), Error> {
    api.patch_status(
        &r.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": st })),
    )
    .await
    .map_err(Error::Patch)?;
    if *command != Command::None {
        api.patch(
            &r.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "annotations": { REBALANCE_ANNOTATION: null } } })),
        )
        .await
        .map_err(Error::Patch)?;
    }
    Ok(())
}

/// The throttle of the moves: the rebalance's own, else the cluster's.
fn throttle_of(r: &KafkaRebalance, cluster: &KafkaCluster) -> Option<i64> {
    match r.spec.throttle_bytes_per_second {
        Some(t) => (t > 0).then_some(t),
        None => RebalanceSpec::throttle(cluster.spec.rebalance.as_ref()),
    }
}

/// A broker failure: the phase stays, the Ready condition says why, the reconcile retries.
fn unreachable(st: &mut KafkaRebalanceStatus, e: &str, generation: Option<i64>) {
    warn!(error = %e, "rebalance: the brokers cannot be reached");
    if st.phase.is_none() {
        st.phase = Some(RebalancePhase::PendingProposal);
    }
    ready(
        st,
        false,
        rebalance_reason::BROKER_ERROR,
        format!("cannot reach the brokers (retrying): {e}"),
        generation,
    );
}

async fn propose(
    ctx: &Context,
    r: &KafkaRebalance,
    cluster: &KafkaCluster,
    st: &mut KafkaRebalanceStatus,
) {
    let generation = r.metadata.generation;
    if let Err(e) = propose_on_brokers(ctx, r, cluster, st).await {
        unreachable(st, &e, generation);
    }
}

async fn propose_on_brokers(
    ctx: &Context,
    r: &KafkaRebalance,
    cluster: &KafkaCluster,
    st: &mut KafkaRebalanceStatus,
) -> Result<(), String> {
    let generation = r.metadata.generation;
    let (t, address, mut admin) =
        kafka_admin::connect_cluster(&ctx.client, cluster, ADMIN_TIMEOUT).await?;
    let at = |e: kafka_admin::Error| format!("{address}: {e}");
    let layout = admin.layout().await.map_err(at)?;
    let ongoing = admin.reassignments().await.map_err(at)?;
    // Sizes: each partition's largest replica over the brokers that answer.
    let mut sizes: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for b in &layout.brokers {
        let disk = match kafka_admin::connect_to(&t, *b, ADMIN_TIMEOUT).await {
            Ok(mut one) => one.disk().await,
            Err(e) => Err(e),
        };
        match disk {
            Ok(d) => {
                for (k, v) in d.sizes {
                    let s = sizes.entry(k).or_default();
                    *s = (*s).max(v);
                }
            }
            Err(e) => warn!(broker = b, error = %e, "disk sizes unknown; weighed as empty"),
        }
    }
    let frozen: BTreeSet<(String, i32)> = ongoing.keys().cloned().collect();
    // Planning is CPU work that grows with partitions × brokers × moves (seconds for thousands
    // of partitions): off the async workers.
    let spec = r.spec.clone();
    let (planned, sizes) = tokio::task::spawn_blocking(move || {
        let planned = planner::plan(&planner::Request {
            placements: &layout.placements,
            brokers: &layout.brokers,
            racks: &layout.racks,
            sizes: &sizes,
            frozen: &frozen,
            mode: spec.mode,
            listed: &spec.brokers,
            goals: &spec.goals,
        });
        (planned, sizes)
    })
    .await
    .map_err(|e| format!("the planner failed: {e}"))?;
    st.progress = None;
    match planned {
        Ok(plan) => {
            let p = proposal::proposal(&plan, &sizes, throttle_of(r, cluster), generation);
            let message = format!(
                "{} replica move(s) and {} leader change(s), {} bytes to copy{}: annotate \
                 eddy.io/rebalance=approve to execute",
                p.replica_moves,
                p.leader_moves,
                p.bytes_to_move,
                p.estimated_seconds
                    .map(|s| format!(" (about {s} s at the throttle)"))
                    .unwrap_or_default()
            );
            info!(
                moves = p.moves.len(),
                bytes = p.bytes_to_move,
                "rebalance proposal ready"
            );
            st.proposal = Some(p);
            st.phase = Some(RebalancePhase::ProposalReady);
            ready(
                st,
                false,
                rebalance_reason::PROPOSAL_READY,
                message,
                generation,
            );
        }
        Err(e) => {
            st.proposal = None;
            st.phase = Some(RebalancePhase::NotReady);
            ready(
                st,
                false,
                rebalance_reason::INVALID_REBALANCE,
                e.to_string(),
                generation,
            );
        }
    }
    Ok(())
}

async fn execute(
    ctx: &Context,
    r: &KafkaRebalance,
    cluster: &KafkaCluster,
    st: &mut KafkaRebalanceStatus,
    approving: bool,
) {
    let generation = r.metadata.generation;
    if st.proposal.is_none() {
        return propose(ctx, r, cluster, st).await;
    }
    match connect(ctx, cluster).await {
        Ok((address, mut admin)) => {
            if let Err(e) = execute_on_brokers(ctx, r, cluster, st, approving, &mut admin).await {
                unreachable(st, &format!("{address}: {e}"), generation);
            }
        }
        Err(e) => unreachable(st, &e, generation),
    }
}

async fn connect(ctx: &Context, cluster: &KafkaCluster) -> Result<(String, AdminClient), String> {
    let (_, address, admin) =
        kafka_admin::connect_cluster(&ctx.client, cluster, ADMIN_TIMEOUT).await?;
    Ok((address, admin))
}

async fn execute_on_brokers(
    ctx: &Context,
    r: &KafkaRebalance,
    cluster: &KafkaCluster,
    st: &mut KafkaRebalanceStatus,
    approving: bool,
    admin: &mut AdminClient,
) -> Result<(), kafka_admin::Error> {
    let generation = r.metadata.generation;
    let Some(proposal) = st.proposal.clone() else {
        return Ok(());
    };
    let layout = admin.layout().await?;
    let ongoing = admin.reassignments().await?;
    if approving {
        if let Some(why) = decide::stale(&proposal.moves, &layout.placements) {
            // The layout changed under the proposal: a new one, to be approved again.
            info!(%why, "rebalance proposal outdated; proposing again");
            if let Err(e) = propose_on_brokers(ctx, r, cluster, st).await {
                unreachable(st, &e, generation);
            }
            return Ok(());
        }
        st.phase = Some(RebalancePhase::Rebalancing);
        st.progress = Some(RebalanceProgress {
            started_at: Some(now_rfc3339()),
            ..RebalanceProgress::default()
        });
        info!(moves = proposal.moves.len(), "rebalance approved");
    }
    let p = decide::progress(&proposal.moves, &layout.placements, &ongoing, MAX_IN_FLIGHT);
    let mut message = None;
    if !p.start.is_empty() {
        if let Some(rate) = proposal.throttle_bytes_per_second {
            throttle(admin, &mut st.throttled_topics, &p.start, rate).await?;
        }
        let changes: Vec<_> = p
            .start
            .iter()
            .map(|m| (m.topic.clone(), m.partition, Some(m.to.clone())))
            .collect();
        let refused = admin.alter_reassignments(&changes).await?;
        info!(started = p.start.len(), "rebalance reassignments started");
        if !refused.is_empty() {
            warn!(?refused, "rebalance reassignments refused");
            message = Some(format!("refused: {}", refused.join("; ")));
        }
    }
    let total = proposal.moves.len();
    let batches = |n: usize| i32::try_from(n.div_ceil(MAX_IN_FLIGHT)).unwrap_or(i32::MAX);
    let started_at = st.progress.as_ref().and_then(|p| p.started_at.clone());
    let remaining = p.pending + p.in_flight.len();
    st.progress = Some(RebalanceProgress {
        partitions_remaining: i32::try_from(remaining).unwrap_or(i32::MAX),
        in_flight: i32::try_from(p.in_flight.len() + p.start.len()).unwrap_or(i32::MAX),
        batches_done: if p.finished() {
            batches(total)
        } else {
            i32::try_from(p.done / MAX_IN_FLIGHT).unwrap_or(i32::MAX)
        },
        batches_total: batches(total),
        started_at,
    });
    if p.finished() {
        remove_throttles(admin, &mut st.throttled_topics).await?;
        let moved: Vec<(String, i32)> = proposal
            .moves
            .iter()
            .map(|m| (m.topic.clone(), m.partition))
            .collect();
        let refused = admin.elect_preferred(&moved).await?;
        if !refused.is_empty() {
            // The brokers' automatic leader balancing finishes these later.
            warn!(?refused, "preferred leader elections refused");
        }
        info!(moves = total, "rebalance done");
        st.phase = Some(RebalancePhase::Ready);
        ready(
            st,
            true,
            reason::READY,
            format!("{total} partition move(s) done"),
            generation,
        );
        return Ok(());
    }
    st.phase = Some(RebalancePhase::Rebalancing);
    ready(
        st,
        false,
        rebalance_reason::REBALANCING,
        message.unwrap_or_else(|| {
            format!(
                "{remaining} of {total} partition move(s) left ({} in flight)",
                p.in_flight.len() + p.start.len()
            )
        }),
        generation,
    );
    Ok(())
}

async fn stop(
    ctx: &Context,
    cluster: &KafkaCluster,
    st: &mut KafkaRebalanceStatus,
    generation: Option<i64>,
) {
    let result = async {
        let (address, mut admin) = connect(ctx, cluster).await?;
        let at = |e: kafka_admin::Error| format!("{address}: {e}");
        let ongoing = admin.reassignments().await.map_err(at)?;
        let ours: Vec<(String, i32, Option<Vec<i32>>)> = st
            .proposal
            .iter()
            .flat_map(|p| &p.moves)
            .filter(|m| ongoing.get(&(m.topic.clone(), m.partition)) == Some(&m.to))
            .map(|m| (m.topic.clone(), m.partition, None))
            .collect();
        if !ours.is_empty() {
            let refused = admin.alter_reassignments(&ours).await.map_err(at)?;
            info!(cancelled = ours.len(), ?refused, "rebalance stopped");
        }
        remove_throttles(&mut admin, &mut st.throttled_topics)
            .await
            .map_err(at)?;
        Ok::<usize, String>(ours.len())
    }
    .await;
    match result {
        Ok(cancelled) => {
            st.phase = Some(RebalancePhase::Stopped);
            if let Some(p) = st.progress.as_mut() {
                p.in_flight = 0;
            }
            ready(
                st,
                false,
                rebalance_reason::STOPPED,
                format!(
                    "stopped: {cancelled} reassignment(s) in flight cancelled; annotate approve \
                     to resume or refresh for a new proposal"
                ),
                generation,
            );
        }
        Err(e) => unreachable(st, &e, generation),
    }
}
