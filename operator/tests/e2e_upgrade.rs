//! End to end on the local Kubernetes: the two-phase version upgrade. A 3-broker cluster on
//! release 0.1.0 (`eddy.version` 1) gets `spec.version: 0.2.0`; the operator rolls the brokers
//! one at a time onto the 0.2.0 binary (localkube maps `eddy/broker:0.2.0` to `broker-0-2-0`),
//! reads every broker's release from the brokers themselves, and only then finalizes level 2:
//! status.upgrade reports Done with level 2 and each broker's version, and a record kcat
//! produced before the upgrade is read back after it. Then `spec.version: 0.1.0` is refused
//! with the `DowngradeRefused` condition and no broker pod restarts. Mid-roll the operator's own
//! pod is deleted: its replacement resumes the upgrade where the status and the brokers say it is.
//!
//! Before that, a rollback: `spec.version: 0.2.0`, and once a broker runs it (level still 1),
//! back to `0.1.0` before anything is finalized. That is an ordinary roll: every broker runs
//! 0.1.0 again (`RolledBack`), `eddy.version` never left 1. An idempotent acks=all producer runs
//! from before the rollback to the end, and every record it saw acknowledged is read back
//! exactly once.
#[path = "e2e/common.rs"]
mod common;
#[path = "../../localkube/tests/support/stack.rs"]
mod stack;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use common::{Producer, kafka_tool, kill_operator, pod_uids, strings};
use eddy_operator::crd::{KafkaCluster, UpgradePhase, find_condition};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use stack::{LocalKube, build_pod_binaries, eventually, run};

const CLUSTER: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaCluster
metadata: { name: up, namespace: kafka }
spec:
  brokers: 3
  version: 0.1.0
  storage: { size: 1Gi, deleteClaim: false }
  config:
    num.partitions: "1"
    default.replication.factor: "3"
    auto.create.topics.enable: "true"
"#;

fn set_version(kube: &LocalKube, version: &str) -> anyhow::Result<String> {
    kube.kubectl(&[
        "patch",
        "-n",
        "kafka",
        "kafkacluster",
        "up",
        "--type",
        "merge",
        "-p",
        &format!(r#"{{"spec":{{"version":"{version}"}}}}"#),
    ])
}

fn consume_first(bootstrap: &str) -> anyhow::Result<String> {
    run(
        Command::new("kcat").args([
            "-b",
            bootstrap,
            "-t",
            "up-topic",
            "-C",
            "-o",
            "beginning",
            "-c",
            "1",
            "-e",
        ]),
        "kcat consume",
    )
}

/// On failure: the node agent's log tail, the pods and the cluster's status; the whole local
/// Kubernetes directory (pod logs included) is copied to `$EDDY_E2E_KEEP` when set.
fn diagnose(kube: &LocalKube) -> String {
    if let Some(keep) = std::env::var_os("EDDY_E2E_KEEP") {
        let _ = Command::new("cp")
            .arg("-r")
            .arg(kube.dir.path())
            .arg(&keep)
            .status();
    }
    format!(
        "{}\n{}\n{}",
        kube.logs(),
        kube.kubectl(&["get", "pods", "-n", "kafka", "-o", "wide"])
            .unwrap_or_default(),
        kube.kubectl(&["get", "kafkacluster", "-n", "kafka", "up", "-o", "yaml"])
            .unwrap_or_default()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_0_1_0_to_0_2_0_finalizes_level_2_and_refuses_the_downgrade() -> anyhow::Result<()>
{
    build_pod_binaries()?;
    let kube = LocalKube::start("operator-e2e-upgrade-")?;
    let client = kube.client().await?;
    kube.install_chart(r#"{"operator": {"logFormat": "text", "leaseSeconds": 5}}"#)
        .await?;
    kube.kubectl(&["create", "namespace", "kafka"])?;
    let manifest = tempfile::NamedTempFile::new()?;
    std::fs::write(manifest.path(), CLUSTER)?;
    kube.kubectl(&["apply", "-f", manifest.path().to_str().context("utf8")?])?;
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), "kafka");

    // 0.1.0, Ready, at level 1.
    let c = eventually(
        Duration::from_secs(240),
        "0.1.0 cluster Ready at level 1",
        || async {
            let c = clusters.get("up").await?;
            let st = c.status.clone().unwrap_or_default();
            let ready = find_condition(&st.conditions, "Ready")
                .is_some_and(|r| format!("{:?}", r.status) == "True");
            let done = st
                .upgrade
                .as_ref()
                .is_some_and(|u| u.phase == UpgradePhase::Done && u.finalized_level == Some(1));
            Ok((ready && done).then_some(c))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    let status = c.status.clone().context("status")?;
    let bootstrap = status.listeners[0].bootstrap_servers.clone();
    let upgrade = status.upgrade.clone().context("upgrade")?;
    assert!(
        upgrade
            .brokers
            .iter()
            .all(|b| b.version.as_deref() == Some("0.1.0") && b.max_level == Some(1)),
        "{upgrade:?}"
    );

    // kcat produces before the upgrade (RF 3: the record survives every restart).
    let mut produce = Command::new("kcat");
    produce
        .args(["-b", &bootstrap, "-t", "up-topic", "-P", "-X", "acks=all"])
        .stdin(std::process::Stdio::piped());
    let mut child = produce.spawn()?;
    std::io::Write::write_all(
        &mut child.stdin.take().context("stdin")?,
        b"before-upgrade\n",
    )?;
    assert!(child.wait()?.success(), "kcat produce");
    eventually(
        Duration::from_secs(60),
        "the record is readable",
        || async {
            Ok(consume_first(&bootstrap)?
                .contains("before-upgrade")
                .then_some(()))
        },
    )
    .await?;

    // An idempotent acks=all producer runs through the rollback, the upgrade and the refusal.
    kafka_tool(&["create", &bootstrap, "roll", "3", "3"])?;
    let dir = tempfile::tempdir()?;
    let producer = Producer::start_mode(
        "kafka_tool.py",
        "produce-idempotent",
        &[&bootstrap, "roll"],
        dir.path(),
    )?;

    // Rollback before finalizing: 0.2.0 rolls in, and with one broker on it, 0.1.0 again.
    let pods_api = Api::<Pod>::namespaced(client.clone(), "kafka");
    let uids_first = pod_uids(&pods_api, "up").await?;
    set_version(&kube, "0.2.0")?;
    eventually(
        Duration::from_secs(300),
        "a broker on 0.2.0, level 1",
        || async {
            let c = clusters.get("up").await?;
            let u = c.status.as_ref().and_then(|s| s.upgrade.clone());
            Ok(u.filter(|u| {
                u.phase == UpgradePhase::Rolling
                    && u.to_version == "0.2.0"
                    && u.finalized_level == Some(1)
                    && u.brokers
                        .iter()
                        .any(|b| b.version.as_deref() == Some("0.2.0"))
            }))
        },
    )
    .await
    .with_context(|| diagnose(&kube))?;
    set_version(&kube, "0.1.0")?;
    let finalized_seen = std::sync::Mutex::new(std::collections::BTreeSet::new());
    let rolled_back = eventually(Duration::from_secs(420), "rolled back to 0.1.0", || async {
        let c = clusters.get("up").await?;
        let Some(u) = c.status.as_ref().and_then(|s| s.upgrade.clone()) else {
            return Ok(None);
        };
        finalized_seen
            .lock()
            .expect("lock")
            .insert(u.finalized_level);
        let back = u.phase == UpgradePhase::RolledBack
            && u.to_version == "0.1.0"
            && u.brokers.len() == 3
            && u.brokers
                .iter()
                .all(|b| b.version.as_deref() == Some("0.1.0"));
        Ok(back.then_some(u))
    })
    .await
    .with_context(|| diagnose(&kube))?;
    eprintln!("rollback: {rolled_back:?}");
    eprintln!(
        "roll when RolledBack: {:?}; pods {:?}",
        clusters
            .get("up")
            .await?
            .status
            .and_then(|s| s.rolling_restart),
        pod_uids(&pods_api, "up").await?.keys()
    );
    assert_eq!(rolled_back.finalized_level, Some(1));
    assert_eq!(
        finalized_seen.into_inner().expect("lock"),
        [Some(1)].into_iter().collect(),
        "eddy.version never left 1"
    );
    let uids_back = pod_uids(&pods_api, "up").await?;
    assert!(
        uids_first.iter().any(|(n, u)| uids_back.get(n) != Some(u)),
        "the rollback was a roll: {uids_first:?} {uids_back:?}"
    );
    let bootstrap = clusters
        .get("up")
        .await?
        .status
        .context("status")?
        .listeners[0]
        .bootstrap_servers
        .clone();
    assert!(consume_first(&bootstrap)?.contains("before-upgrade"));
    // RolledBack says what the brokers run; the roll itself may still be finishing a step.
    eventually(
        Duration::from_secs(300),
        "Ready, 3 brokers and no restart after the rollback",
        || async {
            let c = clusters.get("up").await?;
            let st = c.status.clone().unwrap_or_default();
            let settled = find_condition(&st.conditions, "Ready")
                .is_some_and(|r| format!("{:?}", r.status) == "True")
                && st.rolling_restart.is_none()
                && st.ready_brokers == 3
                && pod_uids(&pods_api, "up").await?.len() == 3;
            Ok(settled.then_some(()))
        },
    )
    .await
    .with_context(|| diagnose(&kube))?;
    let uids_settled = pod_uids(&pods_api, "up").await?;
    assert!(
        uids_first
            .iter()
            .any(|(n, u)| uids_settled.get(n) == Some(u)),
        "a broker that never ran 0.2.0 is not restarted by the rollback: {uids_first:?} \
         {uids_settled:?}"
    );

    // Upgrade: every pod replaced, the level finalized once all run 0.2.0.
    let uids_before = pod_uids(&pods_api, "up").await?;
    assert_eq!(uids_before.len(), 3, "{uids_before:?}");
    let started = Instant::now();
    set_version(&kube, "0.2.0")?;
    let saw_rolling = std::sync::atomic::AtomicBool::new(false);
    let finalized_while_rolling = std::sync::atomic::AtomicBool::new(false);
    // Mid-roll (one broker on 0.2.0, the others not yet) the operator's pod is deleted: its
    // replacement takes the lease and carries on from the status and the brokers' own reports.
    let operator_killed = std::sync::atomic::AtomicBool::new(false);
    let done = eventually(
        Duration::from_secs(600),
        "upgrade Done at level 2",
        || async {
            let c = clusters.get("up").await?;
            let Some(u) = c.status.as_ref().and_then(|s| s.upgrade.clone()) else {
                return Ok(None);
            };
            if u.phase == UpgradePhase::Rolling {
                saw_rolling.store(true, std::sync::atomic::Ordering::Relaxed);
                if u.finalized_level != Some(1) {
                    finalized_while_rolling.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                let upgraded = u
                    .brokers
                    .iter()
                    .filter(|b| b.version.as_deref() == Some("0.2.0"))
                    .count();
                if (1..3).contains(&upgraded)
                    && !operator_killed.swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    let killed = kill_operator(&client).await?;
                    eprintln!("operator pods {killed:?} deleted mid-roll ({upgraded}/3 on 0.2.0)");
                }
            }
            let done = u.to_version == "0.2.0"
                && u.phase == UpgradePhase::Done
                && u.finalized_level == Some(2);
            Ok(done.then_some(u))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    eprintln!(
        "BENCH upgrade 3 brokers 0.1.0 -> 0.2.0 (roll + finalize): {:?}",
        started.elapsed()
    );
    assert!(
        saw_rolling.load(std::sync::atomic::Ordering::Relaxed),
        "the Rolling phase was reported"
    );
    assert!(
        operator_killed.load(std::sync::atomic::Ordering::Relaxed),
        "the operator was killed mid-roll and the upgrade still finished"
    );
    assert!(
        !finalized_while_rolling.load(std::sync::atomic::Ordering::Relaxed),
        "the level stays 1 while the brokers roll"
    );
    assert_eq!(done.from_version.as_deref(), Some("0.1.0"));
    assert_eq!(done.brokers.len(), 3, "{done:?}");
    assert!(
        done.brokers
            .iter()
            .all(|b| b.version.as_deref() == Some("0.2.0") && b.max_level == Some(2)),
        "{done:?}"
    );
    let uids_after = pod_uids(&pods_api, "up").await?;
    for (name, uid) in &uids_before {
        assert_ne!(uids_after.get(name), Some(uid), "{name} was not replaced");
    }
    // Pod IPs change when pods are replaced: the bootstrap addresses as published now.
    let bootstrap = clusters
        .get("up")
        .await?
        .status
        .context("status")?
        .listeners[0]
        .bootstrap_servers
        .clone();
    let consumed = eventually(Duration::from_secs(60), "record read back", || async {
        let out = consume_first(&bootstrap)?;
        Ok(out.contains("before-upgrade").then_some(out))
    })
    .await
    .with_context(|| diagnose(&kube))?;
    assert!(consumed.contains("before-upgrade"), "{consumed}");
    let reasons = kube.kubectl(&[
        "get",
        "events",
        "-n",
        "kafka",
        "--field-selector",
        "involvedObject.name=up",
        "-o",
        "jsonpath={.items[*].reason}",
    ])?;
    assert!(
        reasons.contains("UpgradeRolling") && reasons.contains("UpgradeDone"),
        "{reasons}"
    );

    // A downgrade past the finalized level is refused; nothing rolls.
    let uids_done = pod_uids(&pods_api, "up").await?;
    set_version(&kube, "0.1.0")?;
    let refused = eventually(Duration::from_secs(120), "downgrade refused", || async {
        let c = clusters.get("up").await?;
        let st = c.status.clone().unwrap_or_default();
        let cond = find_condition(&st.conditions, "Upgrade").cloned();
        let refused = st.observed_generation == c.metadata.generation
            && st
                .upgrade
                .as_ref()
                .is_some_and(|u| u.phase == UpgradePhase::Refused)
            && cond
                .as_ref()
                .is_some_and(|c| c.reason == "DowngradeRefused");
        Ok(refused.then_some((st, cond)))
    })
    .await
    .with_context(|| kube.logs())?;
    let (st, cond) = refused;
    let cond = cond.context("Upgrade condition")?;
    assert!(cond.message.contains("finalized level 2"), "{cond:?}");
    assert_eq!(st.upgrade.as_ref().and_then(|u| u.finalized_level), Some(2));
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), "kafka");
    let template = serde_json::to_value(sts.get("up-broker").await?)?;
    assert_eq!(
        template["spec"]["template"]["spec"]["containers"][0]["image"],
        "eddy/broker:0.2.0"
    );
    assert_eq!(
        pod_uids(&pods_api, "up").await?,
        uids_done,
        "no pod restarted"
    );
    assert!(consume_first(&bootstrap)?.contains("before-upgrade"));

    // Every record acknowledged through the rollback, the upgrade and the refusal: once.
    let (produced, acked) = producer.finish()?;
    eprintln!(
        "producer: sent {} acked {} failed {}",
        produced["sent"],
        acked.len(),
        produced["nfailed"]
    );
    assert!(acked.len() > 50, "the producer made progress: {produced}");
    let read = strings(&kafka_tool(&["consume", &bootstrap, "roll"])?["values"]);
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for v in &read {
        *counts.entry(v.as_str()).or_default() += 1;
    }
    let lost = acked
        .iter()
        .filter(|v| !counts.contains_key(v.as_str()))
        .count();
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert_eq!(lost, 0, "{lost} acknowledged records lost");
    assert!(twice.is_empty(), "records read more than once: {twice:?}");
    Ok(())
}
