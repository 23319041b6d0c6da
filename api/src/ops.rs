//! Operations service: starts cluster operations (database + KafkaCluster write in one step) and
//! applies what the operator reports, through the pure state machine in `domain::operations`.

use crate::auth::extract::Principal;
use crate::domain::billing::UsageSegment;
use crate::domain::operations::{
    self as machine, BillingEffect, ClusterState, Observation, OpKind, OpProgress, OpState,
};
use crate::domain::plans::Plan;
use crate::domain::security::cluster_security;
use crate::error::{ApiError, ApiResult};
use crate::kube::{DesiredCluster, DesiredUser};
use crate::state::AppState;
use crate::store::clusters::Cluster;
use crate::store::kafka_users::{self, KafkaUser};
use crate::store::operations::{Operation, Step};
use crate::store::{self, audit, billing, clusters, operations};
use sqlx::AnyConnection;

/// What the API wants the KafkaCluster of `cluster` to be: the plan's sizes, limits and the
/// listeners and authorization its features give (a plan change rewrites all of them).
pub fn desired(
    cluster: &Cluster,
    plan: &Plan,
    restart_token: Option<String>,
) -> ApiResult<DesiredCluster> {
    Ok(DesiredCluster {
        namespace: cluster.namespace.clone(),
        name: cluster.resource_name.clone(),
        cluster_id: cluster.id.clone(),
        account_id: cluster.account_id.clone(),
        plan_id: plan.id.clone(),
        brokers: plan.brokers,
        version: cluster.version.clone(),
        storage_gb: cluster.storage_gb,
        max_partitions: plan.limits.max_partitions,
        ingress_bytes_per_sec: plan.limits.ingress_bytes_per_sec,
        egress_bytes_per_sec: plan.limits.egress_bytes_per_sec,
        max_connections: plan.limits.max_connections,
        security: cluster_security(&plan.id, &plan.features)?,
        restart_token,
    })
}

/// What the API wants the KafkaUser of `user` to be on `cluster` sold as `plan`: the plan's
/// ingress and egress limits become the user's quotas (the broker throttles each user to them).
pub fn desired_user(cluster: &Cluster, plan: &Plan, user: &KafkaUser) -> DesiredUser {
    DesiredUser {
        namespace: cluster.namespace.clone(),
        name: user.resource_name.clone(),
        cluster: cluster.resource_name.clone(),
        cluster_id: cluster.id.clone(),
        username: user.name.clone(),
        mechanism: user.mechanism,
        secret_name: user.secret_name.clone(),
        acls: user.acls.clone(),
        credential_revision: user.credential_revision,
        producer_byte_rate: plan.limits.ingress_bytes_per_sec,
        consumer_byte_rate: plan.limits.egress_bytes_per_sec,
    }
}

fn step(name: &str, state: OpState, at: i64) -> Step {
    Step {
        name: name.into(),
        state,
        at: store::rfc3339(at),
    }
}

/// A mutation to start: the cluster as it should be afterwards, and what to record.
pub struct Mutation {
    pub kind: OpKind,
    /// The cluster with the requested change applied (plan, version, storage...).
    pub cluster: Cluster,
    /// The revision the caller read (If-Match); `None` for creates.
    pub expected_revision: Option<i64>,
    pub params: serde_json::Value,
}

/// Starts an operation: records it (409 if another is active), updates the cluster (412 if it
/// changed), writes the KafkaCluster, and commits only if the write succeeded (503 otherwise).
pub async fn start(
    state: &AppState,
    p: &Principal,
    m: Mutation,
) -> ApiResult<(Cluster, Operation)> {
    let now = store::now();
    let mut cluster = m.cluster;
    cluster.state = m.kind.cluster_state_while();
    let restart_token = (m.kind == OpKind::Restart).then(store::new_id);
    let mut op = Operation {
        id: store::new_id(),
        cluster_id: cluster.id.clone(),
        account_id: cluster.account_id.clone(),
        kind: m.kind,
        state: OpState::Pending,
        params: m.params,
        steps: vec![step("accepted", OpState::Pending, now)],
        error: None,
        target_generation: None,
        restart_token: restart_token.clone(),
        created_by: p.actor().actor,
        created_at: now,
        updated_at: now,
        finished_at: None,
    };
    let plan = state.catalog.plan(&cluster.plan_id)?.clone();
    let mut tx = state.db.pool.begin().await?;
    match m.expected_revision {
        None => clusters::insert(&mut tx, &cluster).await?,
        Some(rev) => {
            if !clusters::update_if(&mut tx, &cluster, rev, now).await? {
                return Err(ApiError::PreconditionFailed);
            }
            cluster.revision = rev + 1;
        }
    }
    if let Err(e) = operations::insert(&mut tx, &op).await {
        if let store::StoreError::Conflict(_) = &e {
            return Err(ApiError::conflict(
                "operation_in_progress",
                "the cluster already has an operation in progress",
            ));
        }
        return Err(e.into());
    }
    let details = serde_json::json!({"operation": op.id, "params": op.params});
    audit::record(
        &mut tx,
        &p.actor(),
        &format!("cluster.{}", m.kind.as_str()),
        &cluster.id,
        &details,
        now,
    )
    .await?;
    if m.kind == OpKind::Delete {
        // Billing stops when the customer asks for deletion, not when teardown finishes.
        billing::close_segment(&mut tx, &cluster.id, now).await?;
        state
            .backend
            .delete(&cluster.namespace, &cluster.resource_name)
            .await?;
    } else {
        let generation = state
            .backend
            .apply(&desired(&cluster, &plan, restart_token)?)
            .await?;
        op.target_generation = Some(generation);
        cluster.generation = Some(generation);
        if m.kind == OpKind::Resize {
            // The plan's limits are also each Kafka user's quotas: a plan change rewrites them.
            for u in kafka_users::list(&mut tx, &cluster.id).await? {
                state
                    .backend
                    .apply_user(&desired_user(&cluster, &plan, &u), None)
                    .await?;
            }
        }
        let rev = cluster.revision;
        if !clusters::update_if(&mut tx, &cluster, rev, now).await? {
            return Err(ApiError::PreconditionFailed);
        }
        cluster.revision = rev + 1;
    }
    op.steps
        .push(step("resource written", OpState::Pending, now));
    operations::update(&mut tx, &op).await?;
    tx.commit().await?;
    tracing::info!(cluster = %cluster.id, operation = %op.id, kind = m.kind.as_str(), "operation started");
    Ok((cluster, op))
}

/// Applies one observation of a cluster's KafkaCluster: advances its active operation, its state,
/// its billing segments and its downtime record. Returns whether anything changed.
pub async fn apply_observation(
    state: &AppState,
    cluster_id: &str,
    obs: &Observation,
    now: i64,
) -> ApiResult<bool> {
    let mut tx = state.db.pool.begin().await?;
    let Some(mut cluster) = clusters::get_any(&mut tx, cluster_id).await? else {
        return Ok(false);
    };
    let before = cluster.clone();
    if obs.bootstrap.is_some() && obs.bootstrap != cluster.bootstrap {
        cluster.bootstrap.clone_from(&obs.bootstrap);
    }
    if let Some(mut op) = operations::active_for(&mut tx, cluster_id).await? {
        let progress = OpProgress {
            kind: op.kind,
            state: op.state,
            target_generation: op.target_generation,
            restart_token: op.restart_token.clone(),
            started_at: op.created_at,
            last_step: op.steps.last().map(|s| s.name.clone()),
        };
        if let Some(out) = machine::advance(&progress, obs, now) {
            // The lifecycle users and the audit read is pending → running → succeeded | failed,
            // also when the cluster was already done at the first look (a fast operator).
            if op.state == OpState::Pending
                && !out.op_state.is_active()
                && op.kind != OpKind::Delete
            {
                op.steps
                    .push(step("operator reconciling", OpState::Running, now));
            }
            op.state = out.op_state;
            op.steps.push(step(&out.step, out.op_state, now));
            op.error = out.error;
            op.updated_at = now;
            if !out.op_state.is_active() {
                op.finished_at = Some(now);
                state
                    .metrics
                    .operations
                    .with_label_values(&[op.kind.as_str(), op.state.as_str()])
                    .inc();
            }
            cluster.state = out.cluster_state;
            operations::update(&mut tx, &op).await?;
            apply_billing(state, &mut tx, &cluster, out.billing, now).await?;
            tracing::info!(cluster = %cluster.id, operation = %op.id, state = op.state.as_str(), "operation advanced");
        }
    }
    let down = billing::is_down(&mut tx, cluster_id).await?;
    match machine::health_change(cluster.state, down, obs.ready) {
        Some(true) => billing::open_downtime(&mut tx, cluster_id, now).await?,
        Some(false) => billing::close_downtime(&mut tx, cluster_id, now).await?,
        None => {}
    }
    let changed = cluster != before;
    if changed && !clusters::update_if(&mut tx, &cluster, before.revision, now).await? {
        // A user mutation raced us; the next observation applies again.
        return Ok(false);
    }
    tx.commit().await?;
    Ok(changed)
}

async fn apply_billing(
    state: &AppState,
    c: &mut AnyConnection,
    cluster: &Cluster,
    effect: BillingEffect,
    now: i64,
) -> ApiResult<()> {
    if effect == BillingEffect::None {
        return Ok(());
    }
    let plan = state.catalog.plan(&cluster.plan_id)?;
    if effect == BillingEffect::Reopen {
        billing::close_segment(c, &cluster.id, now).await?;
    }
    let seg = UsageSegment {
        cluster_id: cluster.id.clone(),
        cluster_name: cluster.name.clone(),
        plan_id: plan.id.clone(),
        dedicated: plan.tier == crate::domain::plans::Tier::Dedicated,
        monthly_price: plan.price_at(now),
        storage_gb: cluster.storage_gb,
        included_storage_gb: plan.included_storage_gb,
        extra_storage_price: plan.extra_storage_price_gb_month,
        started_at: now,
        ended_at: None,
    };
    billing::open_segment(c, &cluster.account_id, &seg).await?;
    Ok(())
}

/// One pass over every live cluster: observe its KafkaCluster and apply what changed.
/// Backend faults are logged and retried on the next pass.
pub async fn sync_once(state: &AppState) -> ApiResult<usize> {
    let mut conn = state.db.pool.acquire().await?;
    let watched = clusters::watched(&mut conn).await?;
    drop(conn);
    let mut changed = 0;
    for k in watched {
        if k.state == ClusterState::Deleted {
            continue;
        }
        match state.backend.observe(&k.namespace, &k.resource_name).await {
            Ok(obs) => {
                if apply_observation(state, &k.id, &obs, store::now()).await? {
                    changed += 1;
                }
            }
            Err(e) => tracing::warn!(cluster = %k.id, error = %e, "observe cluster"),
        }
    }
    Ok(changed)
}

/// Runs `sync_once` whenever `wake` is notified (the KafkaCluster watcher) or every `period`.
pub async fn sync_loop(
    state: AppState,
    wake: std::sync::Arc<tokio::sync::Notify>,
    period: std::time::Duration,
) {
    loop {
        if let Err(e) = sync_once(&state).await {
            tracing::warn!(error = %e, "sync clusters");
        }
        let _ = tokio::time::timeout(period, wake.notified()).await;
    }
}
