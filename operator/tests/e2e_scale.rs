//! End to end on the local Kubernetes: scaling up balances, scaling down drains. A 2-broker
//! KafkaCluster with an RF=2 and an RF=1 topic grows to 3 brokers: the new broker gets a fair
//! share of the replicas, moved by the operator. Then with an RF=3 topic too, shrinking to 2
//! brokers is first refused — the RF=3 topic cannot live on 2 brokers — and every broker is
//! kept, with the reason in the status. Once that topic is deleted the operator drains broker
//! 2 (its replicas move to brokers 0 and 1 while an acks=all producer runs), moves the controller
//! voters, unregisters the broker and only then shrinks the StatefulSet; the claim of the removed
//! broker goes (deleteClaim: true). Every record acknowledged before and during the drain is
//! read back, and no partition is left on broker 2. The operator's pod is deleted while the
//! scale-down is under way; its replacement resumes it.
#[path = "e2e/common.rs"]
mod common;
#[path = "../../localkube/tests/support/stack.rs"]
mod stack;

use std::time::Duration;

use anyhow::Context as _;
use common::{
    Producer, claim_request, ints, kafka_tool, kill_operator, start_cluster, values, watch_until,
};
use eddy_operator::crd::{ClaimGrowth, KafkaCluster, ScaleDownPhase, find_condition};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use stack::{LocalKube, build_pod_binaries, eventually};

const CLUSTER: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaCluster
metadata: { name: scale, namespace: kafka }
spec:
  brokers: 2
  storage: { size: 1Gi, deleteClaim: true }
  config:
    auto.create.topics.enable: "false"
    offsets.topic.replication.factor: "2"
  rebalance: { throttleBytesPerSecond: 10485760, drainTimeoutSeconds: 900 }
"#;

fn reconciling(c: &KafkaCluster) -> Option<(String, String, String)> {
    let st = c.status.as_ref()?;
    find_condition(&st.conditions, "Reconciling").map(|r| {
        (
            format!("{:?}", r.status),
            r.reason.clone(),
            r.message.clone(),
        )
    })
}

async fn broker_pods(pods: &Api<Pod>) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = pods
        .list(&ListParams::default().labels("eddy.io/cluster=scale"))
        .await?
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    Ok(names)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scale_down_drains_the_brokers_that_go_and_refuses_what_cannot_be_drained()
-> anyhow::Result<()> {
    build_pod_binaries()?;
    let kube = LocalKube::start("operator-scale-")?;
    let client = kube.client().await?;
    let bootstrap = start_cluster(&kube, &client, CLUSTER, "scale", 2).await?;
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), "kafka");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "kafka");
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "kafka");
    kafka_tool(&["create", &bootstrap, "spread", "6", "2"])?;
    kafka_tool(&["create", &bootstrap, "single", "4", "1"])?;
    for topic in ["spread", "single"] {
        let filled = kafka_tool(&["fill", &bootstrap, topic, "300"])?;
        assert_eq!(filled["acked"], 300, "{filled}");
    }

    // Growing to 3 brokers: the operator moves a fair share of the replicas to broker 2.
    clusters
        .patch(
            "scale",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"brokers": 3}})),
        )
        .await?;
    let balanced = eventually(
        Duration::from_secs(300),
        "balanced over 3 brokers",
        || async {
            let c = clusters.get("scale").await?;
            let r = c.status.as_ref().and_then(|s| s.rebalance.clone());
            Ok(r.filter(|r| r.brokers == [0, 1, 2] && !r.moving))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    eprintln!("rebalance: {balanced:?}");
    assert!(
        balanced.throttled_topics.is_empty(),
        "throttle removed: {balanced:?}"
    );
    let bootstrap = clusters
        .get("scale")
        .await?
        .status
        .context("status")?
        .listeners[0]
        .bootstrap_servers
        .clone();
    let mut on_two = 0;
    for topic in ["spread", "single"] {
        let v = kafka_tool(&["view", &bootstrap, topic])?;
        assert_eq!(ints(&v["brokers"]), [0, 1, 2], "{v}");
        let replicas = v["replicas"].as_object().cloned().unwrap_or_default();
        on_two += replicas.values().filter(|r| ints(r).contains(&2)).count();
    }
    // 16 replicas over 3 brokers: 5 or 6 each.
    assert!(
        (5..=6).contains(&on_two),
        "broker 2 holds {on_two} replicas"
    );
    kafka_tool(&["create", &bootstrap, "pinned", "1", "3"])?;
    let single = kafka_tool(&["view", &bootstrap, "single"])?;
    assert!(
        single["replicas"]
            .as_object()
            .is_some_and(|r| r.values().any(|v| ints(v) == [2])),
        "broker 2 alone holds a partition of `single`: {single}"
    );

    // Shrinking to 2 brokers cannot work while `pinned` has 3 replicas: refused, all kept.
    clusters
        .patch(
            "scale",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"brokers": 2}})),
        )
        .await?;
    let (_, _, message) = eventually(Duration::from_secs(120), "ScaleDownBlocked", || async {
        let c = clusters.get("scale").await?;
        Ok(reconciling(&c).filter(|r| r.1 == "ScaleDownBlocked"))
    })
    .await
    .with_context(|| kube.logs())?;
    assert!(
        message.contains("pinned-0 has 3 replicas but only 2 brokers would remain"),
        "{message}"
    );
    let c = clusters.get("scale").await?;
    let sd = c.status.and_then(|s| s.scale_down).context("scaleDown")?;
    assert_eq!(sd.phase, ScaleDownPhase::Blocked);
    assert_eq!(sd.brokers, vec![2]);
    let sts = sets.get("scale-broker").await?;
    assert_eq!(sts.spec.replicas, Some(3));
    assert_eq!(
        broker_pods(&pods).await?,
        ["scale-broker-0", "scale-broker-1", "scale-broker-2"]
    );

    // An acks=all producer runs through the drain.
    let producer_dir = tempfile::tempdir()?;
    let producer = Producer::start(
        "kafka_tool.py",
        &[&bootstrap, "spread"],
        producer_dir.path(),
    )?;

    // Without `pinned`, the drain goes through by itself: 2 brokers, broker 2 gone everywhere.
    // At the first step of the scale-down seen under way, the operator's pod is deleted: its
    // replacement resumes from the status and what the brokers report.
    // The phases are watched, not polled, and `pinned` is deleted only once the watch runs: a
    // small drain passes through every phase in a second or so, between two polls.
    let killed_at = std::cell::Cell::new(None);
    let done = watch_until(
        &clusters,
        "scale",
        Duration::from_secs(420),
        "scale-down Done",
        || kafka_tool(&["delete", &bootstrap, "pinned"]).map(drop),
        |c: KafkaCluster| async {
            let phase = c
                .status
                .as_ref()
                .and_then(|s| s.scale_down.as_ref())
                .map(|s| s.phase);
            let under_way = matches!(
                phase,
                Some(
                    ScaleDownPhase::Draining
                        | ScaleDownPhase::MovingVoters
                        | ScaleDownPhase::Unregistering
                        | ScaleDownPhase::Shrinking
                )
            );
            if under_way && killed_at.get().is_none() {
                killed_at.set(phase);
                let killed = kill_operator(&client).await?;
                eprintln!("operator pods {killed:?} deleted while the scale-down was {phase:?}");
            }
            Ok((phase == Some(ScaleDownPhase::Done)).then_some(c))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    assert!(
        killed_at.get().is_some(),
        "the operator was killed mid-scale-down and the scale-down still finished"
    );
    let status = done.status.context("status")?;
    assert_eq!(
        status.quorum.as_ref().and_then(|q| q.voters.clone()),
        Some(vec![0, 1])
    );
    assert_eq!(
        broker_pods(&pods).await?,
        ["scale-broker-0", "scale-broker-1"]
    );
    let sts = sets.get("scale-broker").await?;
    assert_eq!(sts.spec.replicas, Some(2));
    let bootstrap = status.listeners[0].bootstrap_servers.clone();
    for topic in ["spread", "single"] {
        let v = kafka_tool(&["view", &bootstrap, topic])?;
        assert_eq!(ints(&v["brokers"]), [0, 1], "{v}");
        let replicas = v["replicas"].as_object().cloned().unwrap_or_default();
        assert!(
            replicas.values().all(|r| !ints(r).contains(&2)),
            "{topic} still on broker 2: {v}"
        );
    }
    // The removed broker's claim is gone (deleteClaim: true); the others stay.
    let claims = eventually(
        Duration::from_secs(60),
        "claim of broker 2 deleted",
        || async {
            let mut names: Vec<String> =
                Api::<PersistentVolumeClaim>::namespaced(client.clone(), "kafka")
                    .list(&ListParams::default().labels("eddy.io/cluster=scale"))
                    .await?
                    .items
                    .into_iter()
                    .filter(|c| c.metadata.deletion_timestamp.is_none())
                    .filter_map(|c| c.metadata.name)
                    .collect();
            names.sort();
            Ok((names.len() == 2).then_some(names))
        },
    )
    .await?;
    assert_eq!(claims, ["data-scale-broker-0", "data-scale-broker-1"]);

    // Nothing acknowledged was lost: the 300 records of each topic and the producer's.
    let (produced, acked) = producer.finish()?;
    eprintln!(
        "producer during the drain: sent {} acked {} failed {}",
        produced["sent"],
        acked.len(),
        produced["nfailed"]
    );
    assert!(acked.len() > 50, "the producer made progress: {produced}");
    let spread = values(&kafka_tool(&["consume", &bootstrap, "spread"])?);
    let single = values(&kafka_tool(&["consume", &bootstrap, "single"])?);
    assert!((0..300).all(|i| single.contains(&format!("single-{i}"))));
    assert!((0..300).all(|i| spread.contains(&format!("spread-{i}"))));
    let lost: Vec<&String> = acked.iter().filter(|v| !spread.contains(*v)).collect();
    assert!(lost.is_empty(), "{} acknowledged records lost", lost.len());

    // More storage on a class without allowVolumeExpansion (localkube's default `local`): the
    // status says so, per claim and as a warning, and the claims keep their size.
    clusters
        .patch(
            "scale",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "spec": { "storage": { "size": "2Gi" } } })),
        )
        .await?;
    let warning = eventually(
        Duration::from_secs(120),
        "StorageGrowthNotSupported",
        || async {
            let c = clusters.get("scale").await?;
            let st = c.status.unwrap_or_default();
            let warned = find_condition(&st.conditions, "Warning")
                .filter(|w| w.reason == "StorageGrowthNotSupported")
                .map(|w| w.message.clone());
            let refused = st.storage_claims.len() == 2
                && st
                    .storage_claims
                    .iter()
                    .all(|c| c.growth == ClaimGrowth::CannotGrow);
            Ok(warned.filter(|_| refused))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    assert!(warning.contains("data-scale-broker-0 (1Gi)"), "{warning}");
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), "kafka")
        .list(&ListParams::default().labels("eddy.io/cluster=scale"))
        .await?;
    for claim in &claims.items {
        assert_eq!(
            claim_request(claim).as_deref(),
            Some("1Gi"),
            "{:?}",
            claim.metadata.name
        );
    }
    Ok(())
}
