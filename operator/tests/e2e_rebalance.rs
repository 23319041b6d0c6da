//! End to end on the local Kubernetes: a KafkaRebalance balances a skewed cluster. Three
//! brokers, three topics created with explicit assignments that put every replica on broker 0
//! (and broker 1 for the RF=2 topic). A `full` KafkaRebalance proposes moves (ProposalReady,
//! bytes to move from DescribeLogDirs), the `eddy.io/rebalance=approve` annotation runs them
//! (Rebalancing, throttled batches) until Ready, with an acks=all producer running throughout;
//! the operator's pod is deleted while the moves run, and its replacement resumes them from the
//! status: the replicas end within a few of each other per broker, preferred leaders lead, and
//! every acknowledged record is read back. Bad input on the way: a remove-brokers rebalance
//! naming an unknown broker is NotReady with the reason, and approving a finished rebalance again
//! is a Warning that changes nothing (the operator removes the annotation either way).
//!
//! Then the two movers meet: a `remove-brokers` rebalance of broker 2 (slow on purpose: a low
//! throttle and megabytes to move) is approved, and `spec.brokers` drops to 2 while it runs. The
//! scale-down waits (`status.scaleDown.phase: Waiting`, Reconciling reason
//! `RebalanceInProgress`) with the StatefulSet at 3 and no drain of its own, and proceeds once
//! the rebalance is Ready: voters, unregistering, 2 pods, nothing on broker 2.
#[path = "e2e/common.rs"]
mod common;
#[path = "../../localkube/tests/support/stack.rs"]
mod stack;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use common::{
    Producer, kafka_tool, kill_operator, python_tool, start_cluster, values, watch_until,
};
use eddy_operator::crd::{
    KafkaCluster, KafkaRebalance, RebalancePhase, ScaleDownPhase, find_condition,
};
use k8s_openapi::api::apps::v1::StatefulSet;
use kube::Api;
use kube::api::{Patch, PatchParams};
use stack::{LocalKube, build_pod_binaries, eventually};

const CLUSTER: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaCluster
metadata: { name: bal, namespace: kafka }
spec:
  brokers: 3
  storage: { size: 1Gi }
  config:
    auto.create.topics.enable: "false"
    offsets.topic.replication.factor: "1"
  # The scale-up balance (brokers seen joining one by one at start) would move the skewed
  # topics itself; this test is about the KafkaRebalance alone.
  rebalance: { throttleBytesPerSecond: 10485760, onScaleUp: false }
"#;

const REBALANCES: &str = r"
apiVersion: eddy.io/v1alpha1
kind: KafkaRebalance
metadata: { name: full, namespace: kafka }
spec: { cluster: bal, mode: full }
---
apiVersion: eddy.io/v1alpha1
kind: KafkaRebalance
metadata: { name: bad, namespace: kafka }
spec: { cluster: bal, mode: remove-brokers, brokers: [7] }
";

/// Empties broker 2 slowly: 64 KiB/s for about a megabyte and a half.
const REMOVE: &str = r"
apiVersion: eddy.io/v1alpha1
kind: KafkaRebalance
metadata: { name: remove, namespace: kafka }
spec: { cluster: bal, mode: remove-brokers, brokers: [2], throttleBytesPerSecond: 65536 }
";

fn phase(r: &KafkaRebalance) -> Option<RebalancePhase> {
    r.status.as_ref().and_then(|s| s.phase)
}

fn condition(r: &KafkaRebalance, type_: &str) -> Option<(String, String, String)> {
    let st = r.status.as_ref()?;
    find_condition(&st.conditions, type_).map(|c| {
        (
            format!("{:?}", c.status),
            c.reason.clone(),
            c.message.clone(),
        )
    })
}

/// The operator's recent log and the resources' status, for failure messages.
fn operator_log(kube: &LocalKube) -> String {
    let state = kube
        .kubectl(&[
            "get",
            "-n",
            "kafka",
            "kafkarebalances,kafkaclusters",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}: {.status}{\"\\n\"}{end}",
        ])
        .unwrap_or_default();
    state
        + &kube
            .kubectl(&[
                "logs",
                "-n",
                "eddy-system",
                "deploy/eddy-operator",
                "--tail",
                "80",
            ])
            .unwrap_or_else(|e| format!("no operator log: {e}"))
}

fn annotate(kube: &LocalKube, name: &str, value: &str) -> anyhow::Result<()> {
    kube.kubectl(&[
        "annotate",
        "--overwrite",
        "-n",
        "kafka",
        &format!("kafkarebalance/{name}"),
        &format!("eddy.io/rebalance={value}"),
    ])
    .map(drop)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approved_full_rebalance_balances_a_skewed_cluster_under_a_producer()
-> anyhow::Result<()> {
    build_pod_binaries()?;
    let kube = LocalKube::start("operator-rebalance-")?;
    let client = kube.client().await?;
    let bootstrap = start_cluster(&kube, &client, CLUSTER, "bal", 3).await?;
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), "kafka");
    let rebalances: Api<KafkaRebalance> = Api::namespaced(client.clone(), "kafka");
    // Skewed on purpose: every replica on broker 0 (and 1).
    python_tool(
        "rebalance_tool.py",
        &["create-assigned", &bootstrap, "skew", "0;0;0;0;0;0"],
    )?;
    python_tool(
        "rebalance_tool.py",
        &["create-assigned", &bootstrap, "pair", "0,1;0,1;0,1"],
    )?;
    // 12 partitions of 4 MB in all: more moves than one batch, and data that takes a while
    // to move off a broker at a low throttle.
    python_tool(
        "rebalance_tool.py",
        &["create-assigned", &bootstrap, "bulk", &["0"; 12].join(";")],
    )?;
    for topic in ["skew", "pair"] {
        let filled = python_tool("kafka_tool.py", &["fill", &bootstrap, topic, "300"])?;
        assert_eq!(filled["acked"], 300, "{filled}");
    }
    let filled = python_tool(
        "rebalance_tool.py",
        &["fill-bytes", &bootstrap, "bulk", "4000", "1024"],
    )?;
    assert_eq!(filled["acked"], 4000, "{filled}");

    let manifest = tempfile::NamedTempFile::new()?;
    std::fs::write(manifest.path(), REBALANCES)?;
    kube.kubectl(&["apply", "-f", manifest.path().to_str().context("utf8")?])?;
    // Bad input: an unknown broker is refused with the reason.
    let (_, why, message) = eventually(Duration::from_secs(120), "bad is NotReady", || async {
        let r = rebalances.get("bad").await?;
        Ok((phase(&r) == Some(RebalancePhase::NotReady))
            .then(|| condition(&r, "Ready"))
            .flatten())
    })
    .await
    .with_context(|| operator_log(&kube))?;
    assert_eq!(why, "InvalidRebalance");
    assert!(
        message.contains("broker(s) [7] are not in the cluster"),
        "{message}"
    );

    let proposed = eventually(Duration::from_secs(120), "ProposalReady", || async {
        let r = rebalances.get("full").await?;
        Ok((phase(&r) == Some(RebalancePhase::ProposalReady)).then_some(r))
    })
    .await?;
    let proposal = proposed
        .status
        .as_ref()
        .and_then(|s| s.proposal.clone())
        .context("proposal")?;
    eprintln!(
        "proposal: {} replica moves, {} leader moves, {} bytes, ~{:?} s; before {:?} after {:?}",
        proposal.replica_moves,
        proposal.leader_moves,
        proposal.bytes_to_move,
        proposal.estimated_seconds,
        proposal.before,
        proposal.after
    );
    assert!(proposal.replica_moves > 0, "{proposal:?}");
    assert!(proposal.bytes_to_move > 0, "{proposal:?}");
    assert_eq!(proposal.before.replicas_per_broker.min, 0);
    assert!(
        proposal.after.replicas_per_broker.max - proposal.after.replicas_per_broker.min <= 1,
        "{proposal:?}"
    );

    // An acks=all producer runs through the moves.
    let dir = tempfile::tempdir()?;
    let producer = Producer::start("kafka_tool.py", &[&bootstrap, "skew"], dir.path())?;

    let approved = std::cell::Cell::new(std::time::Instant::now());
    let seen = std::cell::RefCell::new(Vec::new());
    let killed = std::cell::RefCell::new(None);
    // Watched, not polled: a short Rebalancing phase can pass between two polls.
    let done = watch_until(
        &rebalances,
        "full",
        Duration::from_secs(420),
        "rebalance Ready",
        // Approved only once the watch runs: the moves may take about a second.
        || {
            annotate(&kube, "full", "approve")?;
            approved.set(std::time::Instant::now());
            Ok(())
        },
        |r: KafkaRebalance| async {
            let p = phase(&r);
            if seen.borrow().last() != Some(&p) {
                seen.borrow_mut().push(p);
            }
            // Mid-rebalance, the operator goes: its replacement resumes from the status.
            let remaining = r
                .status
                .as_ref()
                .and_then(|s| s.progress.as_ref())
                .map(|p| p.partitions_remaining);
            if p == Some(RebalancePhase::Rebalancing) && killed.borrow().is_none() {
                let pods = kill_operator(&client).await?;
                eprintln!("operator pods {pods:?} deleted mid-rebalance ({remaining:?} remaining)");
                *killed.borrow_mut() = Some(remaining);
            }
            Ok((p == Some(RebalancePhase::Ready)).then_some(r))
        },
    )
    .await
    .with_context(|| operator_log(&kube))?;
    let killed = killed.into_inner();
    assert!(
        killed.is_some(),
        "the operator was killed while Rebalancing and the rebalance still finished"
    );
    let seen = seen.into_inner();
    eprintln!(
        "phases seen: {seen:?}; approve to Ready took {:?}",
        approved.get().elapsed()
    );
    assert!(
        seen.contains(&Some(RebalancePhase::Rebalancing)),
        "{seen:?}"
    );
    let st = done.status.clone().context("status")?;
    let progress = st.progress.context("progress")?;
    assert_eq!(progress.partitions_remaining, 0);
    assert_eq!(progress.batches_done, progress.batches_total);
    assert!(progress.started_at.is_some());
    assert!(st.throttled_topics.is_empty(), "throttle removed");
    assert!(
        !done
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("eddy.io/rebalance"),
        "the operator removes the annotation it acted on"
    );

    // Balanced: replicas within one of each other (internal topics aside, which the planner
    // balances too), and the preferred replicas lead.
    let layout = eventually(
        Duration::from_secs(90),
        "preferred leaders lead",
        || async {
            let v = python_tool("rebalance_tool.py", &["layout", &bootstrap])?;
            let led = ["skew", "pair"].iter().all(|t| {
                v["replicas"][t].as_object().is_some_and(|ps| {
                    ps.iter()
                        .all(|(p, r)| r.get(0) == v["leaders"][t].get(p.as_str()))
                })
            });
            Ok(led.then_some(v))
        },
    )
    .await?;
    let mut per_broker: BTreeMap<i64, usize> = (0..3).map(|b| (b, 0)).collect();
    for t in ["skew", "pair", "bulk"] {
        for r in layout["replicas"][t]
            .as_object()
            .context("replicas")?
            .values()
        {
            for b in r.as_array().context("list")? {
                *per_broker.entry(b.as_i64().context("id")?).or_default() += 1;
            }
        }
    }
    eprintln!("replicas per broker after: {per_broker:?}");
    let (lo, hi) = (
        per_broker.values().min().copied().unwrap_or(0),
        per_broker.values().max().copied().unwrap_or(0),
    );
    // 24 replicas of the three topics over 3 brokers; internal topics may take a slot or two.
    assert!(hi - lo <= 2 && lo >= 6, "{per_broker:?}");

    // Approving a finished rebalance again: a Warning, nothing changes, the annotation goes.
    annotate(&kube, "full", "approve")?;
    let (_, why, _) = eventually(Duration::from_secs(60), "AlreadyApproved", || async {
        let r = rebalances.get("full").await?;
        let gone = !r
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("eddy.io/rebalance"));
        Ok(condition(&r, "Warning").filter(|w| gone && w.1 == "AlreadyApproved"))
    })
    .await
    .with_context(|| operator_log(&kube))?;
    assert_eq!(why, "AlreadyApproved");
    assert_eq!(
        phase(&rebalances.get("full").await?),
        Some(RebalancePhase::Ready)
    );

    scale_down_waits_for_a_rebalance(&kube, &client).await?;

    // Nothing acknowledged was lost.
    let (produced, acked) = producer.finish()?;
    eprintln!(
        "producer during the rebalances and the scale-down: sent {} acked {} failed {}",
        produced["sent"],
        acked.len(),
        produced["nfailed"]
    );
    assert!(acked.len() > 50, "the producer made progress: {produced}");
    let bootstrap = clusters
        .get("bal")
        .await?
        .status
        .context("status")?
        .listeners[0]
        .bootstrap_servers
        .clone();
    let skew = values(&kafka_tool(&["consume", &bootstrap, "skew"])?);
    let pair = values(&kafka_tool(&["consume", &bootstrap, "pair"])?);
    assert!((0..300).all(|i| skew.contains(&format!("skew-{i}"))));
    assert!((0..300).all(|i| pair.contains(&format!("pair-{i}"))));
    let lost: Vec<&String> = acked.iter().filter(|v| !skew.contains(*v)).collect();
    assert!(lost.is_empty(), "{} acknowledged records lost", lost.len());
    Ok(())
}

/// One moment of the rebalance and the scale-down, as the test saw it.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    rebalance: Option<RebalancePhase>,
    scale_down: Option<ScaleDownPhase>,
    reason: Option<String>,
    replicas: Option<i32>,
}

/// A `remove-brokers` rebalance of broker 2 runs; `spec.brokers: 2` arrives meanwhile. The
/// scale-down waits for the rebalance (StatefulSet at 3, no drain) and then finishes.
async fn scale_down_waits_for_a_rebalance(
    kube: &LocalKube,
    client: &kube::Client,
) -> anyhow::Result<()> {
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), "kafka");
    let rebalances: Api<KafkaRebalance> = Api::namespaced(client.clone(), "kafka");
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "kafka");
    let manifest = tempfile::NamedTempFile::new()?;
    std::fs::write(manifest.path(), REMOVE)?;
    kube.kubectl(&["apply", "-f", manifest.path().to_str().context("utf8")?])?;
    let proposed = eventually(
        Duration::from_secs(120),
        "remove: ProposalReady",
        || async {
            let r = rebalances.get("remove").await?;
            Ok((phase(&r) == Some(RebalancePhase::ProposalReady)).then_some(r))
        },
    )
    .await
    .with_context(|| operator_log(kube))?;
    let proposal = proposed
        .status
        .and_then(|s| s.proposal)
        .context("proposal")?;
    eprintln!(
        "remove-brokers proposal: {} moves, {} bytes, ~{:?} s",
        proposal.replica_moves, proposal.bytes_to_move, proposal.estimated_seconds
    );
    assert!(proposal.bytes_to_move > 500_000, "{proposal:?}");
    annotate(kube, "remove", "approve")?;
    eventually(Duration::from_secs(60), "remove: Rebalancing", || async {
        let r = rebalances.get("remove").await?;
        Ok((phase(&r) == Some(RebalancePhase::Rebalancing)).then_some(()))
    })
    .await
    .with_context(|| operator_log(kube))?;
    clusters
        .patch(
            "bal",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"brokers": 2}})),
        )
        .await?;
    let samples = std::cell::RefCell::new(Vec::<Sample>::new());
    eventually(Duration::from_secs(300), "remove: Ready", || async {
        let r = rebalances.get("remove").await?;
        let c = clusters.get("bal").await?;
        let st = c.status.as_ref();
        let sample = Sample {
            rebalance: phase(&r),
            scale_down: st.and_then(|s| s.scale_down.as_ref()).map(|s| s.phase),
            reason: st
                .and_then(|s| find_condition(&s.conditions, "Reconciling"))
                .filter(|c| format!("{:?}", c.status) == "True")
                .map(|c| c.reason.clone()),
            replicas: sets.get("bal-broker").await?.spec.replicas,
        };
        let done = sample.rebalance == Some(RebalancePhase::Ready);
        if samples.borrow().last() != Some(&sample) {
            samples.borrow_mut().push(sample);
        }
        Ok(done.then_some(()))
    })
    .await
    .with_context(|| operator_log(kube))?;
    let samples = samples.into_inner();
    eprintln!("while the remove-brokers rebalance ran: {samples:#?}");
    let running: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.rebalance == Some(RebalancePhase::Rebalancing))
        .collect();
    assert!(
        running
            .iter()
            .any(|s| s.scale_down == Some(ScaleDownPhase::Waiting)
                && s.reason.as_deref() == Some("RebalanceInProgress")),
        "the scale-down reported waiting for the rebalance: {samples:#?}"
    );
    assert!(
        running.iter().all(|s| s.replicas == Some(3)
            && matches!(s.scale_down, None | Some(ScaleDownPhase::Waiting))),
        "nothing of the scale-down ran while the rebalance did: {samples:#?}"
    );

    // Then the scale-down proceeds: broker 2 is empty already, so voters, unregister, shrink.
    let done = eventually(Duration::from_secs(300), "scale-down Done", || async {
        let c = clusters.get("bal").await?;
        let phase = c
            .status
            .as_ref()
            .and_then(|s| s.scale_down.as_ref())
            .map(|s| s.phase);
        Ok((phase == Some(ScaleDownPhase::Done)).then_some(c))
    })
    .await
    .with_context(|| operator_log(kube))?;
    let status = done.status.context("status")?;
    assert_eq!(
        status.quorum.as_ref().and_then(|q| q.voters.clone()),
        Some(vec![0, 1])
    );
    assert_eq!(sets.get("bal-broker").await?.spec.replicas, Some(2));
    let bootstrap = status.listeners[0].bootstrap_servers.clone();
    let layout = python_tool("rebalance_tool.py", &["layout", &bootstrap])?;
    for (topic, parts) in layout["replicas"].as_object().context("replicas")? {
        for (p, r) in parts.as_object().context("partitions")? {
            assert!(
                !common::ints(r).contains(&2),
                "{topic}-{p} still on broker 2: {layout}"
            );
        }
    }
    Ok(())
}
