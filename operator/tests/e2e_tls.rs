//! End to end of a secure cluster (issue 15) on the local Kubernetes with the Helm-installed
//! operator: a 3-broker KafkaCluster with a TLS+SCRAM listener (9094, scram-sha-512) and a
//! TLS-client-certificate listener (9093, tls) and ACLs becomes Ready; the CA in
//! `<cluster>-cluster-ca-cert` verifies every broker with hostname verification on (pod IPs from
//! the status); brokers replicate an RF=3 topic (full ISR) over the SASL_SSL replication
//! listener; a client certificate signed by `<cluster>-clients-ca` produces and consumes as
//! `User:alice`, a client without a certificate and `User:mallory` (no ACLs) are refused;
//! certificates renewed on every reconcile (validity = renewal window = 1 day) are re-issued and
//! picked up by the running brokers while an idempotent acks=all producer loses nothing; no
//! password is in the ConfigMap or the pod template; switching to a user-supplied CA (a new key)
//! trusts the new CA before any broker presents a certificate of it, never writes the user's
//! Secret, and keeps old clients, new clients and replication working. Prints apply→Ready of
//! the secure cluster against a plaintext one.
//!
//! Set `EDDY_IMAGE_MAP` (image → binary YAML, see scripts/kube-up.sh) to run binaries copied out
//! of a shared target directory; the test then does not build them.
#[path = "e2e/common.rs"]
mod common;
#[path = "../../localkube/tests/support/stack.rs"]
mod stack;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use common::Producer;
use eddy_operator::crd::{KafkaCluster, SecurityProtocol, find_condition};
use eddy_operator::pki::{self, CertKey, Leaf, Usage};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::Api;
use kube::api::ListParams;
use stack::{LocalKube, build_pod_binaries, eventually};

const PLAIN: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaCluster
metadata: { name: plain, namespace: kafka }
spec:
  brokers: 3
  storage: { size: 1Gi, deleteClaim: true }
"#;

const SECURE: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaCluster
metadata: { name: sec, namespace: kafka }
spec:
  brokers: 3
  storage: { size: 1Gi, deleteClaim: true }
  config: { min.insync.replicas: "2" }
  listeners:
    - { name: mtls, port: 9093, tls: true, authentication: tls }
    - { name: scram, port: 9094, tls: true, authentication: scram-sha-512 }
  authorization: { type: simple, superUsers: ["User:alice"] }
  clusterCa: { validityDays: 1, renewalDays: 1 }
"#;

/// Runs `operator/tests/e2e/secure_tool.py` and parses its JSON answer.
fn tool(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    common::python_tool("secure_tool.py", args)
}

fn is_ready(c: &KafkaCluster) -> bool {
    c.status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, "Ready"))
        .is_some_and(|r| format!("{:?}", r.status) == "True")
}

async fn apply_until_ready(
    kube: &LocalKube,
    clusters: &Api<KafkaCluster>,
    name: &str,
    manifest: &str,
) -> anyhow::Result<(KafkaCluster, Duration)> {
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), manifest)?;
    let started = Instant::now();
    kube.kubectl(&["apply", "-f", file.path().to_str().context("utf8")?])?;
    let ready = eventually(
        Duration::from_secs(300),
        &format!("KafkaCluster {name} Ready"),
        || async {
            let c = clusters.get(name).await?;
            Ok(is_ready(&c).then_some(c))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    Ok((ready, started.elapsed()))
}

async fn secret_data(
    secrets: &Api<Secret>,
    name: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let s = secrets.get(name).await?;
    Ok(s.data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect())
}

fn write(dir: &Path, name: &str, content: &str) -> anyhow::Result<String> {
    let path = dir.join(name);
    std::fs::write(&path, content)?;
    Ok(path.to_str().context("utf8")?.to_string())
}

/// The first certificate of a PEM chain.
fn leaf_of(chain: &str) -> anyhow::Result<String> {
    Ok(pki::split_pem(chain)?.remove(0))
}

#[tokio::test(flavor = "multi_thread")]
async fn secure_cluster_with_tls_scram_and_client_certificates() -> anyhow::Result<()> {
    if std::env::var_os("EDDY_IMAGE_MAP").is_none() {
        build_pod_binaries()?;
    }
    let kube = LocalKube::start("operator-e2e-tls-")?;
    let client = kube.client().await?;
    kube.install_chart(r#"{"operator": {"logFormat": "text", "leaseSeconds": 5}}"#)
        .await?;
    kube.kubectl(&["create", "namespace", "kafka"])?;
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), "kafka");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "kafka");

    // Baseline: a plaintext 3-broker cluster, then it goes away before the secure one.
    let (_, plain_ready) = apply_until_ready(&kube, &clusters, "plain", PLAIN).await?;
    kube.kubectl(&[
        "delete",
        "kafkacluster",
        "plain",
        "-n",
        "kafka",
        "--wait=true",
    ])?;
    eventually(Duration::from_secs(180), "plain brokers gone", || async {
        let left = pods
            .list(&ListParams::default().labels("eddy.io/cluster=plain"))
            .await?;
        Ok(left.items.is_empty().then_some(()))
    })
    .await?;

    let (ready, secure_ready) = apply_until_ready(&kube, &clusters, "sec", SECURE).await?;
    eprintln!(
        "BENCH apply->Ready 3 brokers: plaintext {plain_ready:?}, TLS+SCRAM {secure_ready:?}"
    );
    let status = ready.status.clone().context("status")?;
    let by_name = |n: &str| status.listeners.iter().find(|l| l.name == n).cloned();
    let mtls = by_name("mtls").context("mtls listener status")?;
    let scram = by_name("scram").context("scram listener status")?;
    assert_eq!(mtls.security_protocol, Some(SecurityProtocol::Ssl));
    assert_eq!(scram.security_protocol, Some(SecurityProtocol::SaslSsl));
    // A SCRAM listener takes both SCRAM mechanisms, the one it is named after first.
    assert_eq!(
        scram.sasl_mechanisms,
        vec!["SCRAM-SHA-512".to_string(), "SCRAM-SHA-256".to_string()]
    );
    assert_eq!(mtls.ca_secret.as_deref(), Some("sec-cluster-ca-cert"));
    assert!(status.listeners.iter().all(|l| l.name != "replication"));
    let certs_status = status.certificates.clone().context("status.certificates")?;
    assert!(certs_status.cluster_ca_not_after.is_some());
    assert!(certs_status.clients_ca_not_after.is_some());
    assert_eq!(mtls.addresses.len(), 3);
    // The test's renewal window (= validity) is accepted with a warning.
    let warning = find_condition(&status.conditions, "Warning").context("Warning")?;
    assert_eq!(
        warning.reason, "RenewalWindowNotBelowValidity",
        "{warning:?}"
    );

    // What a user has: the cluster CA certificate, and (here) the operator's own credential.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kafka");
    let dir = tempfile::tempdir()?;
    let ca_bundle = secret_data(&secrets, "sec-cluster-ca-cert").await?["ca.crt"].clone();
    let ca_file = write(dir.path(), "ca.crt", &ca_bundle)?;
    let users = secret_data(&secrets, "sec-internal-users").await?;
    let password = users["operator-password"].clone();
    assert_eq!(password.len(), 32);

    // No password in the ConfigMap or the pod template.
    let cm = Api::<ConfigMap>::namespaced(client.clone(), "kafka")
        .get("sec-config")
        .await?;
    let sts = Api::<StatefulSet>::namespaced(client.clone(), "kafka")
        .get("sec-broker")
        .await?;
    for (what, text) in [
        ("ConfigMap", serde_json::to_string(&cm.data)?),
        ("StatefulSet", serde_json::to_string(&sts.spec)?),
    ] {
        for pw in users.values() {
            assert!(!text.contains(pw.as_str()), "a password in the {what}");
        }
    }

    // SASL_SSL as eddy-operator, hostname verification on, through the pod IPs of the status.
    let scram_conf = serde_json::json!({
        "bootstrap.servers": scram.bootstrap_servers,
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "eddy-operator",
        "sasl.password": password,
        "ssl.ca.location": ca_file,
        "ssl.endpoint.identification.algorithm": "https",
    })
    .to_string();
    // Every broker individually (its certificate carries its IP once the pod has one).
    for a in &scram.addresses {
        let mut conf: serde_json::Value = serde_json::from_str(&scram_conf)?;
        conf["bootstrap.servers"] = format!("{}:{}", a.host, a.port).into();
        let conf = conf.to_string();
        eventually(
            Duration::from_secs(60),
            &format!("broker {} verified over SASL_SSL", a.broker_id),
            || async {
                let v = tool(&["view", &conf, "-"])?;
                Ok((v["brokers"].as_array().map(Vec::len) == Some(3)).then_some(()))
            },
        )
        .await?;
    }
    let created = tool(&["create", &scram_conf, "tls-topic", "3", "3"])?;
    assert_eq!(created["created"], true, "{created}");
    // Replication over the SASL_SSL replication listener: the full ISR.
    eventually(Duration::from_secs(90), "tls-topic ISR of 3", || async {
        let v = tool(&["view", &scram_conf, "tls-topic"])?;
        let isr = v["isr"].as_object().cloned().unwrap_or_default();
        let full = isr.len() == 3 && isr.values().all(|i| i.as_array().map(Vec::len) == Some(3));
        Ok(full.then_some(()))
    })
    .await?;

    // A client certificate signed by the clients CA: User:alice (a super user).
    let clients_ca = secret_data(&secrets, "sec-clients-ca").await?;
    let ca = CertKey {
        cert_pem: clients_ca["ca.crt"].clone(),
        key_pem: clients_ca["ca.key"].clone(),
    };
    let user_cert = |cn: &str| {
        pki::issue(
            &ca,
            &Leaf {
                common_name: cn.to_string(),
                dns_names: vec![],
                ip_addresses: vec![],
                usage: Usage::Client,
                validity_days: 1,
            },
        )
    };
    let mtls_conf = |cert: Option<(&str, &str)>| {
        let mut c = serde_json::json!({
            "bootstrap.servers": mtls.bootstrap_servers,
            "security.protocol": "SSL",
            "ssl.ca.location": ca_file,
            "ssl.endpoint.identification.algorithm": "https",
        });
        if let Some((crt, key)) = cert {
            c["ssl.certificate.location"] = crt.into();
            c["ssl.key.location"] = key.into();
        }
        c.to_string()
    };
    let alice = user_cert("alice")?;
    let alice_conf = mtls_conf(Some((
        &write(dir.path(), "alice.crt", &alice.cert_pem)?,
        &write(dir.path(), "alice.key", &alice.key_pem)?,
    )));
    let ok = tool(&["roundtrip", &alice_conf, "tls-topic", "from-alice"])?;
    assert_eq!(ok["ok"], true, "alice over mTLS: {ok}");
    // No certificate: the handshake is refused.
    let anonymous = tool(&["roundtrip", &mtls_conf(None), "tls-topic", "from-nobody"])?;
    assert_eq!(anonymous["ok"], false, "{anonymous}");
    // A valid certificate of a user without ACLs: authenticated, not authorized.
    let mallory = user_cert("mallory")?;
    let mallory_conf = mtls_conf(Some((
        &write(dir.path(), "mallory.crt", &mallory.cert_pem)?,
        &write(dir.path(), "mallory.key", &mallory.key_pem)?,
    )));
    let refused = tool(&["roundtrip", &mallory_conf, "tls-topic", "from-mallory"])?;
    assert_eq!(refused["ok"], false, "{refused}");
    eprintln!("mallory: {}", refused["error"]);

    // Renewal under load: certificates are due on every reconcile; the brokers must present
    // new ones while an idempotent acks=all producer runs, and lose nothing it was promised.
    let producer = Producer::start("secure_tool.py", &[&scram_conf, "tls-topic"], dir.path())?;
    let broker0 = scram
        .addresses
        .iter()
        .find(|a| a.broker_id == 0)
        .context("broker 0")?;
    let port = broker0.port.to_string();
    let served = std::sync::Mutex::new(BTreeSet::new());
    let renewed_at = Instant::now();
    eventually(
        Duration::from_secs(240),
        "broker 0 presents three successive certificates",
        || async {
            let peer = tool(&["peer", &broker0.host, &port])?;
            let pem = peer["pem"].as_str().unwrap_or_default().to_string();
            let mut seen = served.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            if !pem.is_empty() {
                seen.insert(pem);
            }
            Ok((seen.len() >= 3).then_some(()))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    eprintln!(
        "BENCH broker 0 presented 3 certificates within {:?}",
        renewed_at.elapsed()
    );
    let stored = secret_data(&secrets, "sec-broker-certs").await?;
    let current = leaf_of(&stored["sec-broker-0.crt"])?;
    let info = pki::inspect(&current)?;
    assert!(
        info.ip_addresses
            .iter()
            .any(|ip| ip.to_string() == broker0.host),
        "{info:?}"
    );
    let events = kube.kubectl(&["get", "events.events.k8s.io", "-n", "kafka", "-o", "json"])?;
    assert!(
        events.contains("CertificatesIssued"),
        "no CertificatesIssued event"
    );
    // A new client with the CA file read before every renewal still gets in.
    let ok = tool(&["roundtrip", &alice_conf, "tls-topic", "after-renewal"])?;
    assert_eq!(ok["ok"], true, "after renewal: {ok}");

    // A CA key change: the user switches to a CA of their own. Its certificate is trusted
    // first (brokers keep presenting certificates of the old key meanwhile, so old clients and
    // peers keep working); broker certificates of the new key follow after the trust delay.
    let user_ca = pki::generate_ca("my-own-ca", 30)?;
    let ca_secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "my-ca", "namespace": "kafka"},
        "stringData": {"ca.crt": user_ca.cert_pem, "ca.key": user_ca.key_pem},
    });
    let ca_manifest = write(dir.path(), "my-ca.json", &ca_secret.to_string())?;
    kube.kubectl(&["apply", "-f", &ca_manifest])?;
    kube.kubectl(&[
        "patch",
        "kafkacluster",
        "sec",
        "-n",
        "kafka",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"clusterCa":{"generateCertificateAuthority":false,"secretName":"my-ca"}}}"#,
    ])?;
    let switched_at = Instant::now();
    let user_leaf = leaf_of(&user_ca.cert_pem)?;
    eventually(
        Duration::from_secs(60),
        "the new CA in the trust bundle",
        || async {
            let bundle = secret_data(&secrets, "sec-cluster-ca-cert").await?["ca.crt"].clone();
            Ok(bundle.contains(user_leaf.trim()).then_some(()))
        },
    )
    .await?;
    // Still the old key's certificates, and a client holding only the old CA gets in.
    let served = tool(&["peer", &broker0.host, &port])?;
    let served = served["pem"].as_str().unwrap_or_default().to_string();
    assert!(
        !pki::signed_by(&served, &user_ca.cert_pem),
        "new key before the trust delay"
    );
    let ok = tool(&["roundtrip", &alice_conf, "tls-topic", "during-ca-change"])?;
    assert_eq!(ok["ok"], true, "old CA during the change: {ok}");
    eventually(
        Duration::from_secs(300),
        "broker 0 presents a certificate of the new CA",
        || async {
            let peer = tool(&["peer", &broker0.host, &port])?;
            let pem = peer["pem"].as_str().unwrap_or_default().to_string();
            Ok((!pem.is_empty() && pki::signed_by(&pem, &user_ca.cert_pem)).then_some(()))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    eprintln!(
        "BENCH CA key change: new-CA certificates served after {:?}",
        switched_at.elapsed()
    );
    // The operator never wrote the user's Secret.
    let mine = secret_data(&secrets, "my-ca").await?;
    assert_eq!(mine.len(), 2);
    assert_eq!(mine["ca.key"], user_ca.key_pem);
    // A client with the new bundle gets in; replication kept its full ISR.
    let new_bundle = secret_data(&secrets, "sec-cluster-ca-cert").await?["ca.crt"].clone();
    let new_ca_file = write(dir.path(), "ca-new.crt", &new_bundle)?;
    let mut new_conf: serde_json::Value = serde_json::from_str(&scram_conf)?;
    new_conf["ssl.ca.location"] = new_ca_file.into();
    let new_conf = new_conf.to_string();
    let ok = tool(&["roundtrip", &new_conf, "tls-topic", "after-ca-change"])?;
    assert_eq!(ok["ok"], true, "new CA: {ok}");
    eventually(
        Duration::from_secs(90),
        "tls-topic ISR of 3 after the CA change",
        || async {
            let v = tool(&["view", &new_conf, "tls-topic"])?;
            let isr = v["isr"].as_object().cloned().unwrap_or_default();
            let full =
                isr.len() == 3 && isr.values().all(|i| i.as_array().map(Vec::len) == Some(3));
            Ok(full.then_some(()))
        },
    )
    .await?;

    let (produced, acked) = producer.finish()?;
    eprintln!(
        "producer during renewals: sent {} acked {} failed {} unflushed {} ({})",
        produced["sent"],
        acked.len(),
        produced["nfailed"],
        produced["unflushed"],
        produced["failed"]
    );
    assert!(acked.len() > 100, "the producer made progress: {produced}");
    assert_eq!(produced["nfailed"], 0, "{produced}");
    // Read back with the new trust bundle: the old CA file alone no longer verifies brokers
    // that present certificates of the new key (what the CA change asks clients to update).
    let consumed = tool(&["consume", &new_conf, "tls-topic"])?;
    let have: BTreeSet<&str> = consumed["values"]
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
    kube.kubectl(&[
        "delete",
        "kafkacluster",
        "sec",
        "-n",
        "kafka",
        "--wait=true",
    ])?;
    Ok(())
}
