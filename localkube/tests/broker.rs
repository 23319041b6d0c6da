//! The real broker on the local Kubernetes: a StatefulSet of three brokers comes up Ready in
//! order, each on its own pod IP with its PVC and ConfigMap mounted where a real cluster would
//! mount them, and a record written before a pod is deleted is read back from its replacement.

mod common;

use anyhow::{Context, bail};
use common::{Env, eventually, http_get, ready_pod, target_dir};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;
use std::process::Command;
use std::time::Duration;

const UP: Duration = Duration::from_secs(120);

/// Builds the broker (a no-op when `cargo nextest run --workspace` already did).
fn broker_binary() -> anyhow::Result<std::path::PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-q", "-p", "eddy-broker", "--bin", "broker"])
        .env("CARGO_TARGET_DIR", target_dir())
        .status()
        .context("running cargo build -p eddy-broker")?;
    if !status.success() {
        bail!("cargo build -p eddy-broker failed");
    }
    Ok(target_dir().join("debug/broker"))
}

fn kcat(args: &[&str], input: Option<&str>) -> anyhow::Result<String> {
    use std::io::Write;
    let mut child = Command::new("kcat")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running kcat (installed by scripts/install-test-deps.sh)")?;
    if let Some(i) = input {
        child
            .stdin
            .take()
            .context("kcat stdin")?
            .write_all(i.as_bytes())?;
    }
    drop(child.stdin.take());
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("kcat {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn pod_ip(p: &Pod) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn statefulset_of_three_brokers_comes_up_in_order_and_keeps_data() -> anyhow::Result<()> {
    let broker = broker_binary()?;
    let env = Env::start_with(&[("eddy/broker", broker)]).await?;
    let ns = "default";
    let cm: ConfigMap = serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kafka-config"},
        "data": {"server.properties": "num.partitions=1\nauto.create.topics.enable=true\n"}}))?;
    Api::<ConfigMap>::namespaced(env.client.clone(), ns)
        .create(&PostParams::default(), &cm)
        .await?;
    let sts: StatefulSet = serde_json::from_value(
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "kafka"},
        "spec": {"serviceName": "kafka", "replicas": 3, "selector": {"matchLabels": {"app": "kafka"}},
          "template": {"metadata": {"labels": {"app": "kafka"}}, "spec": {
            "terminationGracePeriodSeconds": 30,
            "containers": [{"name": "broker", "image": "eddy/broker:dev",
              "args": ["--data-dir", "/var/lib/eddy/data", "--config", "/etc/eddy/server.properties",
                       "--admin-addr", "$(POD_IP):9600"],
              "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                      {"name": "EDDY_LISTENERS", "value": "PLAINTEXT://$(POD_IP):9092"}],
              "ports": [{"name": "kafka", "containerPort": 9092}, {"name": "admin", "containerPort": 9600}],
              "readinessProbe": {"httpGet": {"path": "/readyz", "port": "admin"}, "periodSeconds": 1},
              "livenessProbe": {"httpGet": {"path": "/healthz", "port": "admin"}, "periodSeconds": 5},
              "volumeMounts": [{"name": "data", "mountPath": "/var/lib/eddy"},
                               {"name": "config", "mountPath": "/etc/eddy"}]}],
            "volumes": [{"name": "config", "configMap": {"name": "kafka-config"}}]}},
          "volumeClaimTemplates": [{"metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}),
    )?;
    let started = std::time::Instant::now();
    Api::<StatefulSet>::namespaced(env.client.clone(), ns)
        .create(&PostParams::default(), &sts)
        .await?;
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), ns);
    let mut ready = Vec::new();
    for i in 0..3 {
        let p = ready_pod(&pods, &format!("kafka-{i}"), UP)
            .await
            .with_context(|| env.agent_log())?;
        ready.push(p);
    }
    eprintln!("3 broker pods Ready in {:?}", started.elapsed());
    for w in ready.windows(2) {
        let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
        assert!(
            created(&w[0]) <= created(&w[1]),
            "OrderedReady creation order"
        );
    }
    for p in &ready {
        let state = http_get(&format!("{}:9600", pod_ip(p)), "/v1/broker/state").await?;
        assert!(state.contains("running"), "{state}");
    }
    let bootstrap = format!("{}:9092", pod_ip(&ready[1]));
    kcat(
        &["-b", &bootstrap, "-P", "-t", "survives", "-p", "0"],
        Some("hello from kafka-1\n"),
    )?;
    let old_uid = ready[1].metadata.uid.clone();
    pods.delete("kafka-1", &DeleteParams::default()).await?;
    let back = eventually(UP, "kafka-1 replaced and Ready", || async {
        Ok(pods
            .get_opt("kafka-1")
            .await?
            .filter(|p| p.metadata.uid != old_uid && common::condition(p, "Ready")))
    })
    .await?;
    let bootstrap = format!("{}:9092", pod_ip(&back));
    let read = kcat(
        &[
            "-b",
            &bootstrap,
            "-C",
            "-t",
            "survives",
            "-p",
            "0",
            "-o",
            "beginning",
            "-c",
            "1",
            "-e",
        ],
        None,
    )?;
    assert_eq!(read.trim(), "hello from kafka-1");
    Ok(())
}
