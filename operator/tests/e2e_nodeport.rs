//! A `type: nodeport` listener end to end on the local Kubernetes with the Helm-installed
//! operator (issue 15): a 3-broker cluster whose only client listener is SCRAM-SHA-512 over TLS
//! on node ports becomes Ready; its status lists `127.0.0.1:<bootstrap node port>` and each
//! broker at its own node port; a KafkaUser produces with confluent-kafka and reads back with
//! kcat through the node agent's NodePort proxy, configured only from the CA Secret and the
//! user's Secret (the broker certificates carry the Node address, so hostname verification
//! stays on). Prints the apply → Ready time of this TLS+SCRAM cluster. A `type: loadbalancer`
//! listener waits (`WaitingForLoadBalancer`) until its Services have addresses, then advertises
//! them.
#[path = "../../localkube/tests/support/stack.rs"]
mod stack;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use eddy_operator::crd::{KafkaCluster, find_condition};
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::Api;
use serde_json::json;
use stack::{LocalKube, build_pod_binaries, eventually, python, repo, run};

const CLUSTER: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaCluster
metadata: { name: np, namespace: kafka }
spec:
  brokers: 3
  storage: { size: 1Gi }
  config: { auto.create.topics.enable: "false" }
  listeners:
    - { name: external, port: 9094, type: nodeport, tls: true, authentication: scram-sha-512 }
"#;

const TOPIC: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaTopic
metadata: { name: orders, namespace: kafka }
spec: { cluster: np, partitions: 3, replicas: 3 }
"#;

const ALICE: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaUser
metadata: { name: alice, namespace: kafka }
spec:
  cluster: np
  authentication: { type: scram-sha-512 }
"#;

fn is_ready(conditions: &[eddy_operator::crd::Condition]) -> bool {
    find_condition(conditions, "Ready")
        .is_some_and(|c| matches!(c.status, eddy_operator::crd::ConditionStatus::True))
}

fn apply(kube: &LocalKube, yaml: &str) -> anyhow::Result<()> {
    let f = tempfile::NamedTempFile::new()?;
    std::fs::write(f.path(), yaml)?;
    kube.kubectl(&["apply", "-f", f.path().to_str().context("utf8")?])?;
    Ok(())
}

fn key(secret: &Secret, k: &str) -> anyhow::Result<String> {
    let v = secret
        .data
        .as_ref()
        .and_then(|d| d.get(k))
        .with_context(|| format!("secret key {k}"))?;
    Ok(String::from_utf8(v.0.clone())?)
}

fn user_tool(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = run(
        Command::new(python())
            .arg(repo().join("operator/tests/e2e/user_tool.py"))
            .args(args),
        &format!("user_tool.py {}", args[0]),
    )?;
    Ok(serde_json::from_str(out.trim())?)
}

fn node_port(svc: &Service) -> Option<i32> {
    svc.spec.as_ref()?.ports.as_ref()?.first()?.node_port
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nodeport_scram_tls_listener_is_reached_through_node_ports() -> anyhow::Result<()> {
    build_pod_binaries()?;
    let kube = LocalKube::start("operator-e2e-nodeport-")?;
    let client = kube.client().await?;
    kube.install_chart(r#"{"operator": {"logFormat": "text", "leaseSeconds": 5}}"#)
        .await?;
    kube.kubectl(&["create", "namespace", "kafka"])?;
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), "kafka");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kafka");
    let services: Api<Service> = Api::namespaced(client.clone(), "kafka");

    let applied = Instant::now();
    apply(&kube, CLUSTER)?;
    let cluster = eventually(
        Duration::from_secs(300),
        "KafkaCluster np Ready",
        || async {
            let c = clusters.get("np").await?;
            let ok = c.status.as_ref().is_some_and(|s| is_ready(&s.conditions));
            Ok(ok.then_some(c))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    eprintln!(
        "BENCH apply->Ready TLS+SCRAM nodeport 3 brokers: {:?}",
        applied.elapsed()
    );

    // Status: the bootstrap Service's node port on the Node address, each broker on its own.
    let status = cluster.status.clone().context("status")?;
    let external = status
        .listeners
        .iter()
        .find(|l| l.name == "external")
        .context("external listener in status")?;
    let bootstrap_port =
        node_port(&services.get("np-external-bootstrap").await?).context("bootstrap node port")?;
    assert_eq!(
        external.bootstrap_servers,
        format!("127.0.0.1:{bootstrap_port}")
    );
    assert_eq!(external.ca_secret.as_deref(), Some("np-cluster-ca-cert"));
    let mut ports = Vec::new();
    for a in &external.addresses {
        let svc = services
            .get(&format!("np-broker-{}-external", a.broker_id))
            .await?;
        assert_eq!(a.host, "127.0.0.1");
        assert_eq!(Some(a.port), node_port(&svc), "broker {}", a.broker_id);
        ports.push(a.port);
    }
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3, "{:?}", external.addresses);

    // A topic through the operator, a user through its Secret.
    apply(&kube, TOPIC)?;
    apply(&kube, ALICE)?;
    let alice = eventually(Duration::from_secs(120), "alice's Secret", || async {
        Ok(secrets.get_opt("alice").await?)
    })
    .await?;
    let password = key(&alice, "password")?;
    let dir = tempfile::tempdir()?;
    let ca = dir.path().join("ca.crt");
    std::fs::write(
        &ca,
        key(&secrets.get("np-cluster-ca-cert").await?, "ca.crt")?,
    )?;
    let bootstrap = external.bootstrap_servers.clone();
    let config = json!({
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "alice",
        "sasl.password": password,
        "ssl.ca.location": ca,
    })
    .to_string();

    // confluent-kafka produces through the node ports (acks=all: every broker is reached).
    let produced = eventually(Duration::from_secs(120), "alice produces", || async {
        let p = user_tool(&["produce", &bootstrap, &config, "orders", "30"])?;
        Ok((p["acked"] == json!(30)).then_some(p))
    })
    .await
    .with_context(|| kube.logs())?;
    assert_eq!(produced["acked"], json!(30));

    // kcat reads every record back through the same bootstrap address.
    let out = run(
        Command::new("timeout")
            .args(["60", "kcat", "-b", &bootstrap])
            .args(["-X", "security.protocol=SASL_SSL"])
            .args(["-X", "sasl.mechanisms=SCRAM-SHA-512"])
            .args(["-X", "sasl.username=alice"])
            .arg("-X")
            .arg(format!("sasl.password={password}"))
            .arg("-X")
            .arg(format!("ssl.ca.location={}", ca.display()))
            .args(["-C", "-t", "orders", "-o", "beginning", "-c", "30", "-e"]),
        "kcat consume",
    )?;
    let mut values: Vec<&str> = out.lines().filter(|l| l.starts_with("user-")).collect();
    values.sort_unstable();
    let mut expected: Vec<String> = (0..30).map(|i| format!("user-{i}")).collect();
    expected.sort_unstable();
    assert_eq!(values, expected, "kcat output: {out}");
    Ok(())
}

const LB_CLUSTER: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaCluster
metadata: { name: lb, namespace: kafka }
spec:
  brokers: 2
  storage: { size: 1Gi }
  listeners:
    - { name: external, port: 9094, type: loadbalancer, tls: true, authentication: scram-sha-512 }
"#;

/// A `type: loadbalancer` listener: `Ready=False` (`WaitingForLoadBalancer`) until each Service
/// has a load balancer address, then the brokers advertise those addresses and clients connect
/// through them. localkube has no load balancer controller, so the test plays one: it writes
/// each Service's `status.loadBalancer.ingress` with an address that reaches the Service's
/// backend (the broker pod's own IP; the first broker's for the bootstrap Service), as MetalLB
/// would announce one.
#[tokio::test(flavor = "multi_thread")]
async fn a_loadbalancer_listener_waits_for_its_address_then_advertises_it() -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Patch, PatchParams};
    build_pod_binaries()?;
    let kube = LocalKube::start("operator-e2e-loadbalancer-")?;
    let client = kube.client().await?;
    kube.install_chart(r#"{"operator": {"logFormat": "text", "leaseSeconds": 5}}"#)
        .await?;
    kube.kubectl(&["create", "namespace", "kafka"])?;
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), "kafka");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kafka");
    let services: Api<Service> = Api::namespaced(client.clone(), "kafka");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "kafka");
    apply(&kube, LB_CLUSTER)?;
    eventually(
        Duration::from_secs(120),
        "WaitingForLoadBalancer",
        || async {
            let c = clusters.get("lb").await?;
            let waiting = c
                .status
                .as_ref()
                .and_then(|s| find_condition(&s.conditions, "Ready"))
                .is_some_and(|r| r.reason == "WaitingForLoadBalancer");
            Ok(waiting.then_some(()))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    // The load balancer controller's part: an address per Service.
    let pod_ips = eventually(Duration::from_secs(120), "broker pod IPs", || async {
        let mut ips = Vec::new();
        for n in 0..2 {
            let ip = pods
                .get(&format!("lb-broker-{n}"))
                .await
                .ok()
                .and_then(|p| p.status?.pod_ip);
            ips.extend(ip);
        }
        Ok((ips.len() == 2).then_some(ips))
    })
    .await?;
    for (service, ip) in [
        ("lb-broker-0-external", &pod_ips[0]),
        ("lb-broker-1-external", &pod_ips[1]),
        ("lb-external-bootstrap", &pod_ips[0]),
    ] {
        services
            .patch_status(
                service,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}})),
            )
            .await?;
    }
    // The operator owns (watches) the Services: the new addresses trigger a reconcile.
    let cluster = eventually(
        Duration::from_secs(300),
        "KafkaCluster lb Ready",
        || async {
            let c = clusters.get("lb").await?;
            let ok = c.status.as_ref().is_some_and(|s| is_ready(&s.conditions));
            Ok(ok.then_some(c))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    let external = cluster
        .status
        .as_ref()
        .and_then(|s| s.listeners.iter().find(|l| l.name == "external"))
        .context("external listener")?
        .clone();
    assert_eq!(external.bootstrap_servers, format!("{}:9094", pod_ips[0]));
    let advertised: Vec<(i32, String, i32)> = external
        .addresses
        .iter()
        .map(|a| (a.broker_id, a.host.clone(), a.port))
        .collect();
    assert_eq!(
        advertised,
        vec![(0, pod_ips[0].clone(), 9094), (1, pod_ips[1].clone(), 9094)]
    );
    // A client configured from the status and the Secrets produces through those addresses.
    apply(&kube, &ALICE.replace("cluster: np", "cluster: lb"))?;
    let alice = eventually(Duration::from_secs(120), "alice's Secret", || async {
        Ok(secrets.get_opt("alice").await?)
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let ca = dir.path().join("ca.crt");
    std::fs::write(
        &ca,
        key(&secrets.get("lb-cluster-ca-cert").await?, "ca.crt")?,
    )?;
    let config = json!({
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "alice",
        "sasl.password": key(&alice, "password")?,
        "ssl.ca.location": ca,
    })
    .to_string();
    apply(
        &kube,
        &TOPIC
            .replace("cluster: np", "cluster: lb")
            .replace("replicas: 3", "replicas: 2"),
    )?;
    let bootstrap = external.bootstrap_servers.clone();
    eventually(
        Duration::from_secs(120),
        "alice produces via the LB",
        || async {
            let p = user_tool(&["produce", &bootstrap, &config, "orders", "10"])?;
            Ok((p["acked"] == json!(10)).then_some(()))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    Ok(())
}
