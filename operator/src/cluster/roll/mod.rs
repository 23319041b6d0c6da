//! Rolling restarts of a KafkaCluster's brokers: the pure [`plan`] decides, this module asks the
//! brokers' probes and deletes pods (the status step reports progress).
pub mod plan;
pub mod probe;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Client, ResourceExt as _};
use serde_json::json;
use tracing::{info, warn};

use crate::cluster::status::BrokerPod;
use crate::crd::{KafkaCluster, MANUAL_RESTART_ANNOTATION, MANUAL_RESTART_DONE_ANNOTATION};
use plan::{Action, Input, Plan, PodView, Verdict};

/// Decides the next rolling-restart step, asking a broker's probe when the planner needs it.
pub async fn decide(
    cluster: &KafkaCluster,
    pods: &[BrokerPod],
    update_revision: Option<&str>,
    now: &str,
) -> Plan {
    let annotations = cluster.annotations();
    let views: Vec<PodView> = pods
        .iter()
        .map(|p| PodView {
            ordinal: p.ordinal,
            uid: p.uid.clone(),
            ready: p.ready,
            revision: p.revision.clone(),
        })
        .collect();
    let mut input = Input {
        brokers: cluster.spec.brokers,
        pods: &views,
        update_revision,
        manual_token: annotations
            .get(MANUAL_RESTART_ANNOTATION)
            .map(String::as_str),
        done_token: annotations
            .get(MANUAL_RESTART_DONE_ANNOTATION)
            .map(String::as_str),
        state: cluster
            .status
            .as_ref()
            .and_then(|s| s.rolling_restart.as_ref()),
        // Asked below, only while a restart is under way.
        controller_id: None,
        now,
    };
    let mut first = plan::plan(&input, None);
    if !matches!(first.action, Action::Idle) {
        // The brokers form one cluster: the active controller restarts last, so the quorum
        // changes leader once rather than at every step. Any ready broker knows it.
        for p in pods.iter().filter(|p| p.ready) {
            if let Some(ip) = &p.ip
                && let Some(id) = probe::controller_id(ip).await
            {
                input.controller_id = Some(id);
                break;
            }
        }
        if input.controller_id.is_some() {
            first = plan::plan(&input, None);
        }
    }
    let Action::Probe { kind, broker_id } = first.action else {
        return first;
    };
    let ip = pods
        .iter()
        .find(|p| p.ordinal == broker_id)
        .and_then(|p| p.ip.clone());
    let verdict = match ip {
        Some(ip) => probe::ask(&ip, kind).await,
        None => Verdict::Unreachable("the pod has no IP yet".to_string()),
    };
    info!(broker_id, ?kind, ?verdict, "restart probe");
    plan::plan(&input, Some(&verdict))
}

/// Records a finished manual restart token on the cluster (before the status drops the restart
/// state, so an operator restart in between cannot roll the brokers twice).
///
/// # Errors
/// API errors.
pub async fn mark_done(
    api: &Api<KafkaCluster>,
    name: &str,
    token: &str,
) -> Result<(), kube::Error> {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({
            "metadata": { "annotations": { MANUAL_RESTART_DONE_ANNOTATION: token } }
        })),
    )
    .await?;
    Ok(())
}

/// Deletes a broker pod, only if it is still the one the plan saw (UID precondition). A pod that
/// is gone or was replaced already is not an error.
///
/// # Errors
/// Other API errors.
pub async fn delete_pod(
    client: &Client,
    namespace: &str,
    name: &str,
    uid: &str,
) -> Result<(), kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => {
            info!(pod = name, "deleted broker pod for a rolling restart");
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {
            warn!(
                pod = name,
                code = e.code,
                "broker pod already gone or replaced"
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Whether a restart is in progress or was just finished (requeue soon).
#[must_use]
pub fn active(plan: &Plan) -> bool {
    !matches!(plan.action, Action::Idle)
}

/// The pod name of a broker, for events and deletes.
#[must_use]
pub fn pod_name(cluster: &KafkaCluster, broker_id: i32) -> String {
    crate::cluster::build::Names::new(&cluster.name_any()).pod(broker_id)
}

#[cfg(test)]
mod merge_patch_tests {
    use crate::crd::{BrokerRestart, RestartPhase, RollingRestartStatus, RollingRestartTrigger};

    /// Status is written with a JSON merge patch: a finished broker must be removed, not left
    /// behind (absent fields would be kept by the merge).
    #[test]
    fn cleared_fields_serialise_as_null() {
        let mut s = RollingRestartStatus {
            trigger: RollingRestartTrigger::ManualRestart,
            token: None,
            pending: vec![],
            restarted: vec![0],
            current: None,
            started_at: None,
        };
        let v = serde_json::to_value(&s).expect("json");
        assert_eq!(v["current"], serde_json::Value::Null);
        assert!(v.as_object().expect("obj").contains_key("current"));
        s.current = Some(BrokerRestart {
            broker_id: 1,
            phase: RestartPhase::PreRestartCheck,
            deleted_pod_uid: None,
        });
        let v = serde_json::to_value(&s).expect("json");
        assert!(
            v["current"]
                .as_object()
                .expect("obj")
                .contains_key("deletedPodUid")
        );
    }
}
