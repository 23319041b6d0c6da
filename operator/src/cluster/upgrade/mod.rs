//! Two-phase version upgrade of a KafkaCluster (decided in `plan`, pure; the brokers are read
//! and the level finalized here).
//!
//! Phase 1: a new `spec.version` changes the broker image, and the existing gated roll restarts
//! the brokers one at a time while the cluster's finalized `eddy.version` level stays: the old
//! and the new release both run it, so going back to the old version is another ordinary roll
//! (a rollback). Phase 2: once every broker *reports* the new release (its admin
//! `GET /v1/broker/state`, not the pod spec) and the cluster is healthy, the operator finalizes
//! the new level with UpdateFeatures (up to `spec.metadataVersion` when set). From then on a
//! `spec.version` that cannot run the finalized level is refused (`DowngradeRefused`) before
//! anything is applied. Everything is recomputed from the brokers and the last status on each
//! reconcile, so a restarted operator resumes where it was.
pub mod plan;

use std::time::Duration;

use kube::Resource as _;
use kube::runtime::events::{Event, EventType};
use serde::Deserialize;
use tracing::warn;

use crate::cluster::status::BrokerPod;
use crate::cluster::validate::ADMIN_PORT;
use crate::context::Context;
use crate::crd::{ConditionStatus, KafkaCluster, UpgradePhase, UpgradeStatus};
use crate::kafka_admin::{self, target};
pub use plan::{Action, BrokerReport, Decision, Input, decide, refusals};

/// The feature the upgrade finalizes.
pub const FEATURE: &str = "eddy.version";
/// Timeout of the finalizing admin call.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How soon to look again while an upgrade runs (the roll itself requeues sooner).
pub const REQUEUE: Duration = Duration::from_secs(5);

#[derive(Debug, Deserialize)]
struct StateBody {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    supported_features: std::collections::BTreeMap<String, (i16, i16)>,
    #[serde(default)]
    finalized_features: std::collections::BTreeMap<String, i16>,
}

/// Reads one broker's `GET /v1/broker/state` answer (pure): its release and levels.
#[must_use]
pub fn report_of(broker_id: i32, status: u16, body: &[u8]) -> BrokerReport {
    let parsed = (status == 200)
        .then(|| serde_json::from_slice::<StateBody>(body).ok())
        .flatten();
    match parsed {
        Some(b) => BrokerReport {
            broker_id,
            version: b.version,
            max_level: b.supported_features.get(FEATURE).map(|(_, hi)| *hi),
            finalized_level: b.finalized_features.get(FEATURE).copied(),
        },
        None => BrokerReport::silent(broker_id),
    }
}

/// What the brokers say: each live pod's release and levels, and whether the cluster reports
/// itself healthy (no offline or under-min-ISR partitions; `GET /v1/cluster/health`).
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// One report per broker pod, by ordinal.
    pub reports: Vec<BrokerReport>,
    /// The cluster health view's verdict, when a broker answered.
    pub healthy: bool,
    /// Partitions without a leader (`topic-partition`), as the last broker that answered the
    /// health view reported them.
    pub offline: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct HealthBody {
    #[serde(default)]
    healthy: bool,
    #[serde(default)]
    offline: Vec<PartitionRef>,
}

#[derive(Debug, Deserialize)]
struct PartitionRef {
    topic: String,
    partition: i32,
}

/// Asks every broker pod for its release and levels, and one of them for the cluster health.
pub async fn observe(pods: &[BrokerPod]) -> Observed {
    let mut observed = Observed::default();
    for pod in pods {
        let Some(ip) = pod.ip.as_deref() else {
            observed.reports.push(BrokerReport::silent(pod.ordinal));
            continue;
        };
        let report =
            match crate::http::get(&format!("http://{ip}:{ADMIN_PORT}/v1/broker/state")).await {
                Ok(a) => report_of(pod.ordinal, a.status, &a.body),
                Err(_) => BrokerReport::silent(pod.ordinal),
            };
        observed.reports.push(report);
        if !observed.healthy
            && let Ok(a) =
                crate::http::get(&format!("http://{ip}:{ADMIN_PORT}/v1/cluster/health")).await
            && a.status == 200
        {
            let body = serde_json::from_slice::<HealthBody>(&a.body).ok();
            observed.healthy = body.as_ref().is_some_and(|h| h.healthy);
            observed.offline = body
                .map(|h| {
                    h.offline
                        .iter()
                        .map(|p| format!("{}-{}", p.topic, p.partition))
                        .collect()
                })
                .unwrap_or_default();
        }
    }
    observed
}

/// The validate step's refusals for `cluster` given what the brokers report (the finalized
/// level: the highest reported, else the last status's).
#[must_use]
pub fn refused(cluster: &KafkaCluster, seen: &Observed) -> Vec<crate::cluster::validate::Finding> {
    let previous = cluster.status.as_ref().and_then(|s| s.upgrade.as_ref());
    refusals(
        &cluster.spec,
        plan::finalized_level(&seen.reports, previous),
    )
}

/// Finalizes `level` of `eddy.version` through a broker (UpdateFeatures, forwarded to the
/// controller, which checks again that every registered broker supports it).
///
/// # Errors
/// The failure as a message for status: connecting, or the brokers' refusal.
pub async fn finalize(ctx: &Context, cluster: &KafkaCluster, level: i16) -> Result<(), String> {
    let target = target::resolve(&ctx.client, cluster)
        .await
        .map_err(|e| format!("finalizing {FEATURE} {level}: {e}"))?;
    let (address, mut admin) = kafka_admin::connect_any(&target, ADMIN_TIMEOUT)
        .await
        .map_err(|(a, e)| format!("finalizing {FEATURE} {level}: connecting to {a}: {e}"))?;
    admin
        .update_feature(FEATURE, level)
        .await
        .map_err(|e| format!("finalizing {FEATURE} {level} through {address}: {e}"))
}

/// One Event per phase the upgrade enters.
pub async fn publish_events(ctx: &Context, cluster: &KafkaCluster, next: &UpgradeStatus) {
    let previous = cluster.status.as_ref().and_then(|s| s.upgrade.as_ref());
    let Some((type_, reason, note)) = plan::event(previous, next) else {
        return;
    };
    let ev = Event {
        type_: if type_ {
            EventType::Normal
        } else {
            EventType::Warning
        },
        reason: reason.to_string(),
        note: Some(note.chars().take(1000).collect()),
        action: "Upgrade".to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &cluster.object_ref(&())).await {
        warn!(error = %e, reason, "publishing event failed");
    }
}

/// Condition type of the upgrade (True once every broker runs `spec.version` at the wanted
/// level; reason: the phase, or the refusal's reason).
pub const CONDITION: &str = "Upgrade";

/// The reconcile's upgrade step: decides from the brokers' reports and the last status,
/// finalizes the level when due, writes `status.upgrade` and the `Upgrade` condition into
/// `next`, publishes the phase's Event. Returns how soon to come back.
pub async fn step(
    ctx: &Context,
    cluster: &KafkaCluster,
    seen: &Observed,
    refused: &[crate::cluster::validate::Finding],
    settled: bool,
    next: &mut crate::crd::KafkaClusterStatus,
    now: &str,
) -> Option<Duration> {
    let previous = cluster.status.as_ref().and_then(|s| s.upgrade.as_ref());
    let nobody_reports = seen.reports.iter().all(|r| r.version.is_none());
    if previous.is_none() && refused.is_empty() && nobody_reports {
        // Brokers not up yet (or from before releases were reported): nothing to tell.
        return None;
    }
    let decision = decide(&Input {
        spec: &cluster.spec,
        previous,
        current_version: cluster
            .status
            .as_ref()
            .and_then(|s| s.current_version.as_deref()),
        reports: &seen.reports,
        refused,
        settled,
    });
    let mut status = decision.status;
    if let Action::Finalize(level) = decision.action {
        match finalize(ctx, cluster, level).await {
            Ok(()) => {
                tracing::info!(level, "finalized {FEATURE}");
                status.finalized_level = Some(level);
                status.phase = UpgradePhase::Done;
                status.message = Some(format!(
                    "every broker runs {}; {FEATURE} {level} is finalized",
                    status.to_version
                ));
            }
            Err(why) => status.message = Some(why),
        }
    }
    let (cond, reason) = match status.phase {
        UpgradePhase::Done | UpgradePhase::RolledBack => {
            (ConditionStatus::True, format!("{:?}", status.phase))
        }
        UpgradePhase::Refused => (
            ConditionStatus::False,
            refused.first().map_or("Refused", |f| f.reason).to_string(),
        ),
        phase => (ConditionStatus::False, format!("{phase:?}")),
    };
    crate::conditions::set_condition(
        &mut next.conditions,
        crate::conditions::condition(
            CONDITION,
            cond,
            &reason,
            status.message.clone().unwrap_or_default(),
            cluster.metadata.generation,
        ),
        now,
    );
    publish_events(ctx, cluster, &status).await;
    let again = requeue(&status);
    next.upgrade = Some(status);
    again
}

/// Whether the upgrade needs the operator back soon.
#[must_use]
pub fn requeue(status: &UpgradeStatus) -> Option<Duration> {
    matches!(
        status.phase,
        UpgradePhase::Rolling | UpgradePhase::Finalizing
    )
    .then_some(REQUEUE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_state_answers_become_reports() {
        let body = br#"{"state":"running","node_id":1,"version":"0.2.0",
            "supported_features":{"eddy.version":[1,2]},"finalized_features":{"eddy.version":1},
            "finalized_features_epoch":0}"#;
        assert_eq!(
            report_of(1, 200, body),
            BrokerReport {
                broker_id: 1,
                version: Some("0.2.0".into()),
                max_level: Some(2),
                finalized_level: Some(1),
            }
        );
        // A broker from before releases were reported, or not answering, reports nothing.
        let old = br#"{"state":"running","node_id":0}"#;
        assert_eq!(report_of(0, 200, old).version, None);
        assert_eq!(report_of(0, 503, body), BrokerReport::silent(0));
        assert_eq!(report_of(0, 200, b"nope"), BrokerReport::silent(0));
    }
}
