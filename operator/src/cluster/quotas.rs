//! Default client quotas step of the KafkaCluster reconcile: `spec.limits.producerByteRate` /
//! `consumerByteRate` (the plan's ingress/egress limits) become the quotas of the default user
//! entity (`<default>`) on the brokers, so every user without its own quota gets them; removed
//! when the limit is dropped. Runs only once the cluster is Ready and only for clusters with
//! `spec.limits` (a cluster without limits is left exactly as before). The diff is pure.

use std::collections::BTreeMap;
use std::time::Duration;

use tracing::{info, warn};

use crate::context::Context;
use crate::crd::{KafkaCluster, PlanLimits};
use crate::kafka_admin;

const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The default user entity's quotas for `limits` (pure).
#[must_use]
#[allow(clippy::cast_precision_loss)] // byte rates far below 2^52
pub fn default_quotas(limits: &PlanLimits) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    if let Some(v) = limits.producer_byte_rate {
        out.insert("producer_byte_rate".to_string(), v as f64);
    }
    if let Some(v) = limits.consumer_byte_rate {
        out.insert("consumer_byte_rate".to_string(), v as f64);
    }
    out
}

/// The byte-rate keys this step owns on the default entity: set when desired and different,
/// removed when no longer desired (pure).
#[must_use]
pub fn diff(
    desired: &BTreeMap<String, f64>,
    observed: &BTreeMap<String, f64>,
) -> (BTreeMap<String, f64>, Vec<String>) {
    crate::user::plan::quota_diff_of(
        desired,
        observed,
        &["producer_byte_rate", "consumer_byte_rate"],
    )
}

/// Converges the default user quotas of a Ready `cluster` (whose `status` lists the brokers).
/// Returns whether it succeeded (or had nothing to do); failures are logged and retried by the
/// caller's shorter requeue, never fail the reconcile.
pub async fn converge(ctx: &Context, cluster: &KafkaCluster) -> bool {
    let Some(limits) = cluster.spec.limits.as_ref() else {
        return true;
    };
    let result = async {
        let (_, address, mut admin) =
            kafka_admin::connect_cluster(&ctx.client, cluster, ADMIN_TIMEOUT).await?;
        let observed = admin
            .describe_user_quotas(None)
            .await
            .map_err(|e| format!("{address}: {e}"))?;
        let (set, remove) = diff(&default_quotas(limits), &observed);
        if set.is_empty() && remove.is_empty() {
            return Ok::<_, String>(());
        }
        admin
            .alter_user_quotas(None, &set, &remove)
            .await
            .map_err(|e| format!("{address}: {e}"))?;
        info!(?set, ?remove, "default user quotas converged");
        Ok(())
    }
    .await;
    match result {
        Ok(()) => true,
        Err(e) => {
            warn!(error = %e, "default user quotas not applied yet");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_limits_become_default_user_quotas_and_go_when_dropped() {
        let limits: PlanLimits = serde_json::from_value(serde_json::json!({
            "maxPartitions": 10,
            "producerByteRate": 1_000_000,
        }))
        .expect("limits");
        let desired = default_quotas(&limits);
        assert_eq!(
            desired,
            BTreeMap::from([("producer_byte_rate".to_string(), 1_000_000.0)])
        );
        let observed = BTreeMap::from([
            ("producer_byte_rate".to_string(), 500.0),
            ("consumer_byte_rate".to_string(), 700.0),
            ("request_percentage".to_string(), 10.0),
        ]);
        let (set, remove) = diff(&desired, &observed);
        assert_eq!(set, desired);
        assert_eq!(remove, vec!["consumer_byte_rate".to_string()]);
        assert_eq!(diff(&desired, &desired), (BTreeMap::new(), vec![]));
    }
}
