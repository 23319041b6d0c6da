//! End to end on the local Kubernetes: a KafkaRebalance balances a skewed cluster. Three
//! brokers, two topics created with explicit assignments that put every replica on broker 0
//! (and broker 1 for the RF=2 topic). A `full` KafkaRebalance proposes moves (ProposalReady,
//! bytes to move from DescribeLogDirs), the `eddy.io/rebalance=approve` annotation runs them
//! (Rebalancing, throttled batches) until Ready, with an acks=all producer running throughout:
//! the replicas end within one of each other per broker, preferred leaders lead, and every
//! acknowledged record is read back. Bad input on the way: a remove-brokers rebalance naming an
//! unknown broker is NotReady with the reason, and approving a finished rebalance again is a
//! Warning that changes nothing (the operator removes the annotation either way).
#[path = "../../localkube/tests/support/stack.rs"]
mod stack;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use anyhow::Context as _;
use eddy_operator::crd::{KafkaCluster, KafkaRebalance, RebalancePhase, find_condition};
use kube::Api;
use stack::{LocalKube, build_pod_binaries, eventually, python, repo, run};

fn tool(script: &str, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = run(
        Command::new(python())
            .arg(repo().join("operator/tests/e2e").join(script))
            .args(args),
        &format!("{script} {}", args.join(" ")),
    )?;
    Ok(serde_json::from_str(out.trim())?)
}

fn values(v: &serde_json::Value) -> std::collections::BTreeSet<String> {
    v["values"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

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

fn annotate(kube: &LocalKube, value: &str) -> anyhow::Result<()> {
    kube.kubectl(&[
        "annotate",
        "--overwrite",
        "-n",
        "kafka",
        "kafkarebalance/full",
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
    kube.install_chart(r#"{"operator": {"logFormat": "text", "leaseSeconds": 5}}"#)
        .await?;
    kube.kubectl(&["create", "namespace", "kafka"])?;
    let manifest = tempfile::NamedTempFile::new()?;
    std::fs::write(manifest.path(), CLUSTER)?;
    kube.kubectl(&["apply", "-f", manifest.path().to_str().context("utf8")?])?;
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), "kafka");
    let rebalances: Api<KafkaRebalance> = Api::namespaced(client.clone(), "kafka");
    let ready = eventually(Duration::from_secs(240), "3 brokers Ready", || async {
        let c = clusters.get("bal").await?;
        let ready = c
            .status
            .as_ref()
            .and_then(|s| find_condition(&s.conditions, "Ready"))
            .is_some_and(|r| format!("{:?}", r.status) == "True")
            && c.status.as_ref().is_some_and(|s| s.broker_ids.len() == 3);
        Ok(ready.then_some(c))
    })
    .await
    .with_context(|| kube.logs())?;
    let bootstrap = ready.status.context("status")?.listeners[0]
        .bootstrap_servers
        .clone();
    eventually(
        Duration::from_secs(60),
        "Metadata lists 3 brokers",
        || async {
            let v = tool("kafka_tool.py", &["view", &bootstrap, "-"])?;
            Ok((v["brokers"] == serde_json::json!([0, 1, 2])).then_some(()))
        },
    )
    .await?;
    // Skewed on purpose: every replica on broker 0 (and 1).
    tool(
        "rebalance_tool.py",
        &["create-assigned", &bootstrap, "skew", "0;0;0;0;0;0"],
    )?;
    tool(
        "rebalance_tool.py",
        &["create-assigned", &bootstrap, "pair", "0,1;0,1;0,1"],
    )?;
    for topic in ["skew", "pair"] {
        let filled = tool("kafka_tool.py", &["fill", &bootstrap, topic, "300"])?;
        assert_eq!(filled["acked"], 300, "{filled}");
    }

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
    let stop = tempfile::NamedTempFile::new()?.into_temp_path();
    let stop_file = stop.to_path_buf();
    std::fs::remove_file(&stop_file)?;
    let producer = Command::new(python())
        .arg(repo().join("operator/tests/e2e/kafka_tool.py"))
        .args([
            "produce",
            &bootstrap,
            "skew",
            stop_file.to_str().context("utf8")?,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    struct StopProducer(std::path::PathBuf);
    impl Drop for StopProducer {
        fn drop(&mut self) {
            let _ = std::fs::write(&self.0, b"stop");
        }
    }
    let stop_guard = StopProducer(stop_file.clone());

    annotate(&kube, "approve")?;
    let approved = std::time::Instant::now();
    let seen = std::cell::RefCell::new(Vec::new());
    let done = eventually(Duration::from_secs(420), "rebalance Ready", || async {
        let r = rebalances.get("full").await?;
        let p = phase(&r);
        if seen.borrow().last() != Some(&p) {
            seen.borrow_mut().push(p);
        }
        Ok((p == Some(RebalancePhase::Ready)).then_some(r))
    })
    .await
    .with_context(|| operator_log(&kube))?;
    let seen = seen.into_inner();
    eprintln!(
        "phases seen: {seen:?}; approve to Ready took {:?}",
        approved.elapsed()
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
            let v = tool("rebalance_tool.py", &["layout", &bootstrap])?;
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
    for t in ["skew", "pair"] {
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
    // 12 replicas of the two topics over 3 brokers; internal topics may take one slot.
    assert!(hi - lo <= 2 && lo >= 3, "{per_broker:?}");

    // Approving a finished rebalance again: a Warning, nothing changes, the annotation goes.
    annotate(&kube, "approve")?;
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

    // Nothing acknowledged was lost.
    drop(stop_guard);
    let produced = producer.wait_with_output()?;
    assert!(produced.status.success(), "{produced:?}");
    let produced: serde_json::Value = serde_json::from_slice(&produced.stdout)?;
    let acked: Vec<String> = produced["acked"]
        .as_array()
        .context("acked")?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    eprintln!(
        "producer during the rebalance: sent {} acked {} failed {}",
        produced["sent"],
        acked.len(),
        produced["nfailed"]
    );
    assert!(acked.len() > 50, "the producer made progress: {produced}");
    let skew = values(&tool("kafka_tool.py", &["consume", &bootstrap, "skew"])?);
    let pair = values(&tool("kafka_tool.py", &["consume", &bootstrap, "pair"])?);
    assert!((0..300).all(|i| skew.contains(&format!("skew-{i}"))));
    assert!((0..300).all(|i| pair.contains(&format!("pair-{i}"))));
    let lost: Vec<&String> = acked.iter().filter(|v| !skew.contains(*v)).collect();
    assert!(lost.is_empty(), "{} acknowledged records lost", lost.len());
    Ok(())
}
