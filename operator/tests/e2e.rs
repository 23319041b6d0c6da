//! End to end on the local Kubernetes (scripts/kube-up.sh: real kube-apiserver 1.20 and
//! controller-manager, localkube running pods as processes): Helm installs the chart, the
//! operator (itself a pod) turns a 3-broker KafkaCluster into ONE Kafka cluster (brokers find
//! the controller quorum by pod DNS name) whose bootstrap addresses kcat produces to and consumes
//! from; every broker reports the same cluster id and all three brokers; a KafkaTopic gets 3
//! replicas with an ISR of 3; broker ids are the pod ordinals; a manual rolling restart and a
//! config change each replace every broker pod once, one at a time, while an acks=all producer
//! runs, and every record acknowledged before or during them is read back; invalid clusters are
//! rejected or reported; deleting the cluster removes what it owned and keeps the PVCs.
#[path = "e2e/common.rs"]
mod common;
#[path = "../../localkube/tests/support/stack.rs"]
mod stack;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use common::{Producer, ints, kafka_tool, pod_uids, ready_reason};
use eddy_operator::crd::{
    ClaimGrowth, KafkaCluster, KafkaClusterStatus, KafkaTopic, find_condition,
};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use kube::Api;
use kube::api::ListParams;
use stack::{LocalKube, build_pod_binaries, eventually, repo, run};

/// `host:port` of the cluster's first bootstrap address.
fn first_address(status: &KafkaClusterStatus) -> String {
    let a = &status.listeners[0].addresses[0];
    format!("{}:{}", a.host, a.port)
}

/// kcat reads the first record of `e2e-topic` through `addr`: the one the test produced.
fn assert_first_record(addr: &str, what: &str) -> anyhow::Result<()> {
    let consumed = run(
        Command::new("kcat").args([
            "-b",
            addr,
            "-t",
            "e2e-topic",
            "-C",
            "-o",
            "beginning",
            "-c",
            "1",
            "-e",
        ]),
        what,
    )?;
    assert!(consumed.contains("hello-eddy"), "{consumed}");
    Ok(())
}

const CLUSTER_3: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaCluster
metadata: { name: e2e, namespace: kafka }
spec:
  brokers: 3
  storage: { size: 1Gi, class: local-expandable, deleteClaim: false }
  config: { num.partitions: "2", auto.create.topics.enable: "true" }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn helm_installed_operator_runs_a_three_broker_cluster() -> anyhow::Result<()> {
    build_pod_binaries()?;
    let kube = LocalKube::start("operator-e2e-")?;
    let client = kube.client().await?;

    // Helm (real SDK) installs CRDs, RBAC and the operator Deployment.
    kube.install_chart(r#"{"operator": {"logFormat": "text", "leaseSeconds": 5}}"#)
        .await?;
    kube.kubectl(&["create", "namespace", "kafka"])?;

    // A structurally invalid cluster is rejected by the apiserver (schema: brokers >= 1).
    let invalid = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kube.kubeconfig())
        .args([
            "apply",
            "-n",
            "kafka",
            "-f",
            repo()
                .join("operator/tests/e2e/invalid-brokers.yaml")
                .to_str()
                .context("utf8")?,
        ])
        .output()?;
    assert!(!invalid.status.success(), "brokers: 0 must be rejected");
    assert!(
        String::from_utf8_lossy(&invalid.stderr).contains("spec.brokers"),
        "{}",
        String::from_utf8_lossy(&invalid.stderr)
    );

    // A semantically invalid one is reported with a clear condition.
    kube.kubectl(&[
        "apply",
        "-n",
        "kafka",
        "-f",
        repo()
            .join("operator/tests/e2e/invalid-config.yaml")
            .to_str()
            .context("utf8")?,
    ])?;
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), "kafka");
    let (_, reason) = eventually(
        Duration::from_secs(120),
        "invalid cluster reported",
        || async {
            Ok(clusters
                .get("bad-config")
                .await
                .ok()
                .as_ref()
                .and_then(ready_reason))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    assert_eq!(reason, "InvalidSpec");

    // The 3-broker cluster becomes Ready with bootstrap addresses.
    let manifest = tempfile::NamedTempFile::new()?;
    std::fs::write(manifest.path(), CLUSTER_3)?;
    let applied = Instant::now();
    kube.kubectl(&["apply", "-f", manifest.path().to_str().context("utf8")?])?;
    let ready = eventually(
        Duration::from_secs(240),
        "KafkaCluster e2e Ready",
        || async {
            let c = clusters.get("e2e").await?;
            Ok((ready_reason(&c).map(|r| r.0) == Some("True".into())).then_some(c))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    eprintln!("BENCH apply->Ready 3 brokers: {:?}", applied.elapsed());
    let status = ready.status.clone().context("status")?;
    assert_eq!(status.broker_ids, vec![0, 1, 2]);
    assert_eq!(status.listeners[0].addresses.len(), 3);
    let warning = find_condition(&status.conditions, "Warning").context("warning")?;
    assert_eq!(warning.reason, "NoWarnings");
    let quorum = status.quorum.clone().context("status.quorum")?;
    assert_eq!(quorum.initial_voters, vec![0, 1, 2]);

    // ONE Kafka cluster: every broker answers with the same cluster id and all three brokers.
    let mut cluster_ids = std::collections::BTreeSet::new();
    for a in &status.listeners[0].addresses {
        let addr = format!("{}:{}", a.host, a.port);
        let view = eventually(
            Duration::from_secs(60),
            &format!("broker {} lists 3 brokers", a.broker_id),
            || async {
                let v = kafka_tool(&["view", &addr, "-"])?;
                Ok((ints(&v["brokers"]) == [0, 1, 2]).then_some(v))
            },
        )
        .await?;
        cluster_ids.insert(view["cluster_id"].as_str().unwrap_or_default().to_owned());
        let meta = run(
            Command::new("kcat").args(["-b", &addr, "-L", "-m", "10"]),
            "kcat -L",
        )?;
        assert!(
            meta.contains(" 3 brokers:"),
            "broker {}: {meta}",
            a.broker_id
        );
    }
    assert_eq!(cluster_ids.len(), 1, "one cluster id: {cluster_ids:?}");
    assert!(!cluster_ids.contains(""), "{cluster_ids:?}");

    // kcat produces and consumes through a bootstrap address.
    let addr = first_address(&status);
    let mut produce = Command::new("kcat");
    produce
        .args(["-b", &addr, "-t", "e2e-topic", "-P"])
        .stdin(std::process::Stdio::piped());
    let mut child = produce.spawn()?;
    std::io::Write::write_all(&mut child.stdin.take().context("stdin")?, b"hello-eddy\n")?;
    assert!(child.wait()?.success(), "kcat produce");
    assert_first_record(&addr, "kcat consume")?;

    // A KafkaTopic becomes Ready: the broker implements the admin APIs the operator uses.
    kube.kubectl(&[
        "apply",
        "-n",
        "kafka",
        "-f",
        repo()
            .join("operator/tests/e2e/topic.yaml")
            .to_str()
            .context("utf8")?,
    ])?;
    let topics: Api<KafkaTopic> = Api::namespaced(client.clone(), "kafka");
    let (topic_status, topic_reason) =
        eventually(Duration::from_secs(60), "KafkaTopic reconciled", || async {
            let t = topics.get("e2e-orders").await?;
            Ok(t.status
                .as_ref()
                .and_then(|s| find_condition(&s.conditions, "Ready"))
                .map(|c| (format!("{:?}", c.status), c.reason.clone())))
        })
        .await?;
    assert_eq!(topic_status, "True", "topic: {topic_status} {topic_reason}");
    // No replicas in the spec: min(3, brokers) = 3, all in sync.
    let t = topics.get("e2e-orders").await?;
    assert_eq!(t.status.as_ref().and_then(|s| s.replicas), Some(3));
    let isr_view = eventually(
        Duration::from_secs(60),
        "e2e-orders has 3 partitions with an ISR of 3",
        || async {
            let v = kafka_tool(&["view", &addr, "e2e-orders"])?;
            let isr = v["isr"].as_object().cloned().unwrap_or_default();
            let full = isr.len() == 3 && isr.values().all(|i| ints(i) == [0, 1, 2]);
            Ok(full.then_some(v))
        },
    )
    .await?;
    eprintln!("e2e-orders: {isr_view}");

    // An acks=all producer runs through both rolling restarts below.
    let producer_dir = tempfile::tempdir()?;
    let producer = Producer::start(
        "kafka_tool.py",
        &[&status.listeners[0].bootstrap_servers, "e2e-orders"],
        producer_dir.path(),
    )?;
    // The producer is under way (its first records are readable) before anything restarts.
    let bootstrap = status.listeners[0].bootstrap_servers.clone();
    eventually(
        Duration::from_secs(60),
        "the producer's first records",
        || async {
            let consumed = run(
                Command::new("kcat").args([
                    "-b",
                    &bootstrap,
                    "-t",
                    "e2e-orders",
                    "-C",
                    "-o",
                    "beginning",
                    "-c",
                    "10",
                    "-e",
                ]),
                "kcat consume e2e-orders",
            )?;
            Ok((consumed.lines().count() >= 10).then_some(()))
        },
    )
    .await?;

    // Broker ids are the pod ordinals: each broker's metadata names itself by its ordinal.
    for a in &status.listeners[0].addresses {
        let meta = run(
            Command::new("kcat").args(["-b", &format!("{}:{}", a.host, a.port), "-L", "-m", "10"]),
            "kcat -L",
        )?;
        assert!(
            meta.contains(&format!("broker {} at", a.broker_id)),
            "broker {}: {meta}",
            a.broker_id
        );
    }

    // A manual rolling restart replaces every broker pod, one at a time, and records its token.
    let pods_api = Api::<Pod>::namespaced(client.clone(), "kafka");
    let uids_before = pod_uids(&pods_api, "e2e").await?;
    assert_eq!(uids_before.len(), 3, "{uids_before:?}");
    kube.kubectl(&[
        "annotate",
        "-n",
        "kafka",
        "kafkacluster",
        "e2e",
        "eddy.io/manual-rolling-restart=e2e-restart-1",
    ])?;
    let restarted = eventually(
        Duration::from_secs(300),
        "manual rolling restart done",
        || async {
            let c = clusters.get("e2e").await?;
            let done = c
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("eddy.io/manual-rolling-restart-done"))
                .cloned();
            let ready = ready_reason(&c).map(|r| r.0) == Some("True".into());
            let idle = c
                .status
                .as_ref()
                .is_some_and(|s| s.rolling_restart.is_none());
            Ok((done.as_deref() == Some("e2e-restart-1") && ready && idle).then_some(c))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    let uids_after = pod_uids(&pods_api, "e2e").await?;
    for (name, uid) in &uids_before {
        assert_ne!(uids_after.get(name), Some(uid), "{name} was not restarted");
    }
    assert_eq!(uids_after.len(), 3, "{uids_after:?}");
    // The Event recorder folds repeats of a reason into a series: its count is the number of
    // pod deletions, exactly one per broker.
    let events: serde_json::Value = serde_json::from_str(&kube.kubectl(&[
        "get",
        "events.events.k8s.io",
        "-n",
        "kafka",
        "-o",
        "json",
    ])?)?;
    let items = events["items"].as_array().context("events")?;
    let restarting = items
        .iter()
        .find(|e| e["reason"] == "RestartingBroker")
        .with_context(|| format!("no RestartingBroker event: {events}"))?;
    let deletions = restarting["series"]["count"].as_i64().unwrap_or(1);
    assert_eq!(deletions, 3, "one pod deletion per broker: {restarting}");
    let events = events.to_string();
    assert!(events.contains("RollingRestartFinished"), "{events}");
    // kcat still works after the restart, and the record written before it is still there.
    let status = restarted.status.clone().context("status")?;
    assert_first_record(
        &first_address(&status),
        "kcat consume after the rolling restart",
    )?;

    // A config change alters the pod template: the operator rolls the outdated pods by itself.
    kube.kubectl(&[
        "patch",
        "-n",
        "kafka",
        "kafkacluster",
        "e2e",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"config":{"num.partitions":"3"}}}"#,
    ])?;
    eventually(
        Duration::from_secs(300),
        "config-change rolling restart done",
        || async {
            let now = pod_uids(&pods_api, "e2e").await?;
            let replaced = now.len() == 3
                && uids_after
                    .iter()
                    .all(|(name, uid)| now.get(name).is_some_and(|u| u != uid));
            let c = clusters.get("e2e").await?;
            let ready = ready_reason(&c).map(|r| r.0) == Some("True".into());
            let idle = c
                .status
                .as_ref()
                .is_some_and(|s| s.rolling_restart.is_none());
            Ok((replaced && ready && idle).then_some(()))
        },
    )
    .await
    .with_context(|| kube.logs())?;

    // More storage on a class that allows expansion: the claims grow in place, under the
    // producer, without a broker restart (localkube's agent plays the resizer).
    let uids_before_growth = pod_uids(&pods_api, "e2e").await?;
    kube.kubectl(&[
        "patch",
        "-n",
        "kafka",
        "kafkacluster",
        "e2e",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"storage":{"size":"2Gi"}}}"#,
    ])?;
    let claims_api = Api::<PersistentVolumeClaim>::namespaced(client.clone(), "kafka");
    eventually(Duration::from_secs(120), "claims grown to 2Gi", || async {
        let claims = claims_api
            .list(&ListParams::default().labels("eddy.io/cluster=e2e"))
            .await?
            .items;
        let grown = claims.len() == 3
            && claims.iter().all(|c| {
                c.status
                    .as_ref()
                    .and_then(|s| s.capacity.as_ref())
                    .and_then(|cap| cap.get("storage"))
                    .is_some_and(|q| q.0 == "2Gi")
            });
        let st = clusters.get("e2e").await?.status.unwrap_or_default();
        let reported = st.storage_claims.len() == 3
            && st
                .storage_claims
                .iter()
                .all(|c| c.growth == ClaimGrowth::Sized && c.capacity.as_deref() == Some("2Gi"));
        Ok((grown && reported).then_some(()))
    })
    .await
    .with_context(|| kube.logs())?;
    assert_eq!(
        pod_uids(&pods_api, "e2e").await?,
        uids_before_growth,
        "growing the claims restarted no broker"
    );

    // Every record the producer had acknowledged, before and during both rolls, is there.
    let (produced, acked) = producer.finish()?;
    eprintln!(
        "producer during the rolls: sent {} acked {} failed {} unflushed {} ({})",
        produced["sent"],
        acked.len(),
        produced["nfailed"],
        produced["unflushed"],
        produced["failed"]
    );
    assert!(acked.len() > 100, "the producer made progress: {produced}");
    // Deliveries that failed or were still unacknowledged when the producer stopped are not
    // promised to anyone; they are reported, not asserted (every pod comes back with a new IP,
    // and a client can take a while to learn the new addresses).
    let c = clusters.get("e2e").await?;
    let bootstrap = c.status.context("status")?.listeners[0]
        .bootstrap_servers
        .clone();
    let consumed = kafka_tool(&["consume", &bootstrap, "e2e-orders"])?;
    let have: std::collections::BTreeSet<&str> = consumed["values"]
        .as_array()
        .context("values")?
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|v| !have.contains(v.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged records lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );

    // Deleting the cluster removes what it owned; claims stay (deleteClaim: false).
    kube.kubectl(&[
        "delete",
        "kafkacluster",
        "e2e",
        "-n",
        "kafka",
        "--wait=true",
    ])?;
    eventually(
        Duration::from_secs(120),
        "owned objects garbage-collected",
        || async {
            let sts = Api::<StatefulSet>::namespaced(client.clone(), "kafka")
                .get_opt("e2e-broker")
                .await?;
            let svc = Api::<Service>::namespaced(client.clone(), "kafka")
                .get_opt("e2e-bootstrap")
                .await?;
            let cm = Api::<ConfigMap>::namespaced(client.clone(), "kafka")
                .get_opt("e2e-config")
                .await?;
            Ok((sts.is_none() && svc.is_none() && cm.is_none()).then_some(()))
        },
    )
    .await?;
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), "kafka")
        .list(&ListParams::default().labels("eddy.io/cluster=e2e"))
        .await?;
    assert_eq!(claims.items.len(), 3, "claims are kept without deleteClaim");
    Ok(())
}
