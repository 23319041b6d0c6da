//! Scale-up balance step of the KafkaCluster reconcile: once a grown cluster is Ready (no
//! restart, no scale-down running), the replicas and preferred leaders spread over every broker
//! ([`super::balance`] decides where), throttled and at most
//! [`super::scale_down::MAX_IN_FLIGHT`] partitions at a time. It runs when the set of brokers
//! grew since the last balance (`status.rebalance.brokers`); a cluster seen for the first time
//! is recorded as balanced as it is (nothing moves when the operator is installed or upgraded).
//! `spec.rebalance.onScaleUp: false` turns it off.

use std::collections::BTreeSet;

use kube::ResourceExt as _;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tracing::{info, warn};

use super::balance;
use super::scale_down::{self, ADMIN_TIMEOUT, MAX_IN_FLIGHT};
use crate::context::Context;
use crate::crd::{KafkaCluster, RebalanceSpec, RebalanceStatus};
use crate::kafka_admin;

/// What the step needs to do for `cluster` whose status lists `brokers` now. Pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Nothing (balanced for these brokers, or turned off).
    Nothing,
    /// Record these brokers as balanced without moving anything.
    Record,
    /// Balance (or keep balancing) over these brokers.
    Balance,
}

/// Decides from the spec, the brokers and the last balance. Pure.
#[must_use]
pub fn need(cluster: &KafkaCluster, brokers: &[i32]) -> Need {
    let on = cluster
        .spec
        .rebalance
        .as_ref()
        .and_then(|r| r.on_scale_up)
        .unwrap_or(true);
    let previous = cluster.status.as_ref().and_then(|s| s.rebalance.as_ref());
    match previous {
        Some(p) if p.moving => Need::Balance,
        Some(p) if p.brokers == brokers => Need::Nothing,
        Some(p) if on && brokers.iter().any(|b| !p.brokers.contains(b)) => Need::Balance,
        _ => Need::Record,
    }
}

/// Runs the step for a Ready cluster whose status (`cluster.status`, just written) lists its
/// brokers. Returns whether partitions are still moving (the caller comes back soon).
pub async fn converge(ctx: &Context, cluster: &KafkaCluster) -> bool {
    let brokers: Vec<i32> = cluster
        .status
        .as_ref()
        .map(|s| s.broker_ids.clone())
        .unwrap_or_default();
    if brokers.is_empty() {
        return false;
    }
    let previous = cluster
        .status
        .as_ref()
        .and_then(|s| s.rebalance.clone())
        .unwrap_or_default();
    let next = match need(cluster, &brokers) {
        Need::Nothing => return false,
        Need::Record => RebalanceStatus {
            brokers,
            moving: false,
            partitions_remaining: 0,
            message: None,
            throttled_topics: previous.throttled_topics,
        },
        Need::Balance => match balance_step(ctx, cluster, brokers, previous.clone()).await {
            Ok(next) => next,
            Err(e) => {
                warn!(error = %e, "balancing replicas over new brokers failed; retrying");
                RebalanceStatus {
                    moving: true,
                    message: Some(format!("cannot reach the brokers: {e}")),
                    ..previous
                }
            }
        },
    };
    let moving = next.moving;
    let api = Api::<KafkaCluster>::namespaced(
        ctx.client.clone(),
        &cluster.namespace().unwrap_or_default(),
    );
    if let Err(e) = api
        .patch_status(
            &cluster.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "rebalance": next } })),
        )
        .await
    {
        warn!(error = %e, "recording the rebalance failed");
    }
    moving
}

async fn balance_step(
    ctx: &Context,
    cluster: &KafkaCluster,
    brokers: Vec<i32>,
    mut st: RebalanceStatus,
) -> Result<RebalanceStatus, String> {
    let (_, address, mut admin) =
        kafka_admin::connect_cluster(&ctx.client, cluster, ADMIN_TIMEOUT).await?;
    let at = |e: kafka_admin::Error| format!("{address}: {e}");
    let layout = admin.layout().await.map_err(at)?;
    let ongoing = admin.reassignments().await.map_err(at)?;
    let frozen: BTreeSet<(String, i32)> = ongoing.keys().cloned().collect();
    let moves = balance::plan(&layout.placements, &brokers, &layout.racks, &frozen);
    st.brokers = brokers;
    if moves.is_empty() && ongoing.is_empty() {
        scale_down::remove_throttles(&mut admin, &mut st.throttled_topics)
            .await
            .map_err(at)?;
        if st.moving {
            info!(brokers = ?st.brokers, "replicas balanced over the brokers");
        }
        st.moving = false;
        st.partitions_remaining = 0;
        st.message = Some(format!("replicas balanced over brokers {:?}", st.brokers));
        return Ok(st);
    }
    let start: Vec<_> = moves
        .iter()
        .take(MAX_IN_FLIGHT.saturating_sub(ongoing.len()))
        .cloned()
        .collect();
    if !start.is_empty() {
        if let Some(rate) = RebalanceSpec::throttle(cluster.spec.rebalance.as_ref()) {
            scale_down::throttle(&mut admin, &mut st.throttled_topics, &start, rate)
                .await
                .map_err(at)?;
        }
        let changes: Vec<_> = start
            .iter()
            .map(|m| (m.topic.clone(), m.partition, Some(m.to.clone())))
            .collect();
        let refused = admin.alter_reassignments(&changes).await.map_err(at)?;
        if !refused.is_empty() {
            warn!(?refused, "balance reassignments refused");
        }
        info!(started = start.len(), "balance reassignments started");
    }
    st.moving = true;
    st.partitions_remaining = i32::try_from(moves.len() + ongoing.len()).unwrap_or(i32::MAX);
    st.message = Some(format!(
        "moving {} partition(s) to balance brokers {:?} ({} in flight)",
        moves.len() + ongoing.len(),
        st.brokers,
        ongoing.len() + start.len()
    ));
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::build::fixtures::ClusterFixture;
    use crate::crd::KafkaClusterStatus;

    fn with(previous: Option<RebalanceStatus>, on: Option<bool>) -> KafkaCluster {
        let mut fx = ClusterFixture::new("orders", 3);
        fx.0.spec.rebalance = on.map(|on| RebalanceSpec {
            on_scale_up: Some(on),
            ..RebalanceSpec::default()
        });
        fx.0.status = Some(KafkaClusterStatus {
            rebalance: previous,
            ..KafkaClusterStatus::default()
        });
        fx.0
    }

    fn balanced(brokers: &[i32]) -> RebalanceStatus {
        RebalanceStatus {
            brokers: brokers.to_vec(),
            ..RebalanceStatus::default()
        }
    }

    #[test]
    fn only_new_brokers_start_a_balance_and_a_first_look_moves_nothing() {
        assert_eq!(need(&with(None, None), &[0, 1, 2]), Need::Record);
        assert_eq!(
            need(&with(Some(balanced(&[0, 1, 2])), None), &[0, 1, 2]),
            Need::Nothing
        );
        assert_eq!(
            need(&with(Some(balanced(&[0])), None), &[0, 1, 2]),
            Need::Balance
        );
        // A scale-down (fewer brokers) was drained already: recorded only.
        assert_eq!(
            need(&with(Some(balanced(&[0, 1, 2])), None), &[0, 1]),
            Need::Record
        );
        // Turned off: new brokers are recorded, nothing moves.
        assert_eq!(
            need(&with(Some(balanced(&[0])), Some(false)), &[0, 1, 2]),
            Need::Record
        );
        // A balance under way continues.
        let mut moving = balanced(&[0, 1, 2]);
        moving.moving = true;
        assert_eq!(need(&with(Some(moving), None), &[0, 1, 2]), Need::Balance);
    }
}
