//! The SLA probe: every few seconds, one synthetic write to each active dedicated cluster's
//! internal topic `_eddy_sla_probe` (`write`), counted per minute in `sla_probe_minutes`. A
//! minute is down only if every write in it failed (`domain::sla`); availability and the
//! invoice's SLA credit are computed from those minutes.
//!
//! Secured clusters (every shipped plan) are probed as the API's own identity on them
//! (`identity`: a SCRAM-SHA-512 KafkaUser per cluster) through the SCRAM-over-TLS listener the
//! API gives users, trusting the cluster CA; a plan with `plaintext` is probed anonymously. A
//! cluster whose identity is not in place yet, or whose listeners Kubernetes cannot tell now,
//! is skipped: that is the platform's gap, not the cluster's downtime. Once the identity was
//! Ready, a refused sign-in is a failed write like any other.

pub mod identity;
pub mod write;

use crate::domain::operations::ClusterState;
use crate::domain::plans::{Plan, Tier};
use crate::domain::security::feature;
use crate::state::AppState;
use crate::store::clusters::Cluster;
use crate::store::{self, StoreError, clusters};
use eddy_kafka_client::Security;
use futures::StreamExt as _;
use std::time::Duration;

/// Clusters probed at once.
const PARALLEL_PROBES: usize = 16;

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeReport {
    pub ok: usize,
    pub failed: usize,
    /// Dedicated clusters not probed this round (identity not in place yet, listeners unknown).
    pub skipped: usize,
}

/// What probing one cluster came to.
enum Outcome {
    Written,
    Failed(String),
    Skipped,
}

/// Where and how to reach `k`: anonymous on `plaintext` plans, else as its probe identity.
async fn target(
    state: &AppState,
    k: &Cluster,
    plan: &Plan,
    now: i64,
) -> Result<(String, Security), identity::IdentityError> {
    if plan.features.iter().any(|f| f == feature::PLAINTEXT) {
        let bootstrap = k.bootstrap.clone().unwrap_or_default();
        return Ok((bootstrap, Security::plaintext()));
    }
    let who = identity::ensure(state, k, plan, now).await?;
    let connection = state
        .backend
        .connection(&k.namespace, &k.resource_name)
        .await?;
    identity::security(state, &who, &connection)
}

async fn probe_cluster(
    state: &AppState,
    k: &Cluster,
    plan: &Plan,
    timeout: Duration,
    now: i64,
) -> Outcome {
    let (bootstrap, security) = match target(state, k, plan, now).await {
        Ok(t) => t,
        Err(e) => {
            tracing::info!(cluster = %k.id, error = %e, "SLA probe skipped");
            return Outcome::Skipped;
        }
    };
    match write::probe_write(&bootstrap, &security, timeout, now * 1000).await {
        Ok(()) => Outcome::Written,
        Err(e) => Outcome::Failed(e),
    }
}

/// One round at instant `now`: a write to every active dedicated cluster.
pub async fn probe_once(
    state: &AppState,
    timeout: Duration,
    now: i64,
) -> Result<ProbeReport, StoreError> {
    let watched = {
        let mut c = state.db.pool.acquire().await?;
        clusters::watched(&mut c).await?
    };
    let mut targets = Vec::new();
    for k in watched {
        let Ok(plan) = state.catalog.plan(&k.plan_id) else {
            continue;
        };
        // Maintenance (an operation in flight) is not measured; neither are shared clusters,
        // nor clusters the operator has not published yet.
        if plan.tier != Tier::Dedicated || k.state != ClusterState::Active || k.bootstrap.is_none()
        {
            continue;
        }
        targets.push((k, plan.clone()));
    }
    let results: Vec<_> = futures::stream::iter(targets)
        .map(|(k, plan)| {
            // Owned per task: a borrowed state makes the stream's future not `Send` for every
            // lifetime, which `tokio::spawn` of the probe loop needs.
            let state = state.clone();
            async move {
                let r = probe_cluster(&state, &k, &plan, timeout, now).await;
                (k.id, r)
            }
        })
        .buffer_unordered(PARALLEL_PROBES)
        .collect()
        .await;
    let mut report = ProbeReport::default();
    for (id, r) in results {
        let (ok, error) = match r {
            Outcome::Skipped => {
                report.skipped += 1;
                continue;
            }
            Outcome::Written => (true, None),
            Outcome::Failed(e) => {
                tracing::info!(cluster = %id, error = %e, "SLA probe write failed");
                (false, Some(e))
            }
        };
        store::sla::record(&state.db.pool, &id, now, ok, error.as_deref()).await?;
        if ok {
            report.ok += 1;
        } else {
            report.failed += 1;
        }
    }
    Ok(report)
}

/// Probes every `interval` until the process ends.
pub async fn run(state: AppState, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timeout = interval.clamp(Duration::from_secs(1), Duration::from_secs(10));
    loop {
        tick.tick().await;
        if !state.metrics.lead_round(&state.leader, "sla_probe") {
            continue;
        }
        if let Err(e) = probe_once(&state, timeout, store::now()).await {
            tracing::warn!(error = %e, "SLA probe round failed");
        }
    }
}
