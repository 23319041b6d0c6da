//! The SLA probe: every few seconds, one synthetic write to each active dedicated cluster's
//! internal topic `_eddy_sla_probe` (`write`), counted per minute in `sla_probe_minutes`. A
//! minute is down only if every write in it failed (`domain::sla`); availability and the
//! invoice's SLA credit are computed from those minutes.
//!
//! Only clusters reachable without credentials are probed here: a plan with the `plaintext`
//! feature. Secured clusters (every shipped plan) need the operator's internal SCRAM identity
//! on the replication listener, which the API does not read yet; they are skipped and their
//! availability has no probe evidence (see the README's "What is not built yet").

pub mod write;

use crate::domain::operations::ClusterState;
use crate::domain::plans::Tier;
use crate::domain::security::feature;
use crate::state::AppState;
use crate::store::{self, StoreError, clusters};
use futures::StreamExt as _;
use std::time::Duration;

/// Clusters probed at once.
const PARALLEL_PROBES: usize = 16;

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeReport {
    pub ok: usize,
    pub failed: usize,
    /// Dedicated clusters not probed (secured listeners).
    pub skipped: usize,
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
    let mut report = ProbeReport::default();
    let mut targets = Vec::new();
    for k in watched {
        let Ok(plan) = state.catalog.plan(&k.plan_id) else {
            continue;
        };
        // Maintenance (an operation in flight) is not measured; neither are shared clusters.
        if plan.tier != Tier::Dedicated || k.state != ClusterState::Active {
            continue;
        }
        let Some(bootstrap) = k.bootstrap.clone() else {
            continue;
        };
        if !plan.features.iter().any(|f| f == feature::PLAINTEXT) {
            report.skipped += 1;
            continue;
        }
        targets.push((k.id, bootstrap));
    }
    let results: Vec<_> = futures::stream::iter(targets)
        .map(|(id, bootstrap)| async move {
            let r = write::probe_write(&bootstrap, timeout, now * 1000).await;
            (id, r)
        })
        .buffer_unordered(PARALLEL_PROBES)
        .collect()
        .await;
    for (id, r) in results {
        if let Err(e) = &r {
            tracing::info!(cluster = %id, error = %e, "SLA probe write failed");
        }
        store::sla::record(
            &state.db.pool,
            &id,
            now,
            r.is_ok(),
            r.as_ref().err().map(String::as_str),
        )
        .await?;
        if r.is_ok() {
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
        if let Err(e) = probe_once(&state, timeout, store::now()).await {
            tracing::warn!(error = %e, "SLA probe round failed");
        }
    }
}
