//! KafkaUser end to end on the local Kubernetes with the Helm-installed operator (issue 15): a
//! secure 3-broker cluster (TLS + SCRAM-SHA-512 and TLS client-auth listeners, the authorizer
//! on) becomes Ready; a KafkaTopic is created through the operator's authenticated admin
//! connection; a KafkaUser with SCRAM and ACLs produces and consumes with kcat and
//! confluent-kafka using only its Secret and the cluster CA Secret (time from apply to a working
//! login measured); a user without ACLs authenticates but is refused the topic; rotating a
//! referenced password Secret makes the new password work and the old one fail; a deleted user
//! can no longer log in and its credential, ACLs and quotas are gone from the brokers (checked
//! through the operator's own admin connection, as are a user's quota and the cluster's plan
//! limit as the `<default>` user quota); a TLS user logs in with its certificate; a KafkaUser with an unknown mechanism is refused by the apiserver's
//! schema, and one with an impossible ACL gets InvalidSpec; a SCRAM-SHA-256 user becomes Ready on
//! the same SCRAM listener and signs in with SCRAM-SHA-256 (not with SCRAM-SHA-512).
//!
//! The secure cluster rendering (cluster CA, broker certificates, the replication listener and
//! internal users) is h/opki's, merged into this branch.
#[path = "../../localkube/tests/support/stack.rs"]
mod stack;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use eddy_operator::crd::{KafkaCluster, KafkaUser, find_condition};
use eddy_operator::kafka_admin::{self, AdminClient, target};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::json;
use stack::{LocalKube, build_pod_binaries, eventually, python, repo, run};

const CLUSTER: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaCluster
metadata: { name: sec, namespace: kafka }
spec:
  brokers: 3
  storage: { size: 1Gi }
  config: { auto.create.topics.enable: "false" }
  listeners:
    - { name: plaintext, port: 9092 }
    - { name: tls, port: 9093, tls: true, authentication: tls }
    - { name: sasl, port: 9094, tls: true, authentication: scram-sha-512 }
  authorization: { type: simple }
  limits: { producerByteRate: 10485760 }
"#;

const TOPIC: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaTopic
metadata: { name: orders, namespace: kafka }
spec: { cluster: sec, partitions: 2, replicas: 3 }
"#;

/// alice may produce to and consume from `orders`, in groups `orders-*`.
const ALICE: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaUser
metadata: { name: alice, namespace: kafka }
spec:
  cluster: sec
  authentication: { type: scram-sha-512 }
  authorization:
    acls:
      - resource: { type: topic, name: orders }
        operations: [Read, Write, Describe]
      - resource: { type: group, name: orders-, patternType: prefix }
        operations: [Read]
  quotas: { consumerByteRate: 20971520 }
"#;

/// bob authenticates but has no ACL.
const BOB: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaUser
metadata: { name: bob, namespace: kafka }
spec:
  cluster: sec
  authentication: { type: scram-sha-512 }
"#;

/// carol's password is in a Secret someone else (the API) writes.
const CAROL: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaUser
metadata: { name: carol, namespace: kafka }
spec:
  cluster: sec
  username: Carol_1
  authentication:
    type: scram-sha-512
    password: { name: carol-password, key: pw }
"#;

/// dave authenticates with a client certificate on the `tls` listener.
const DAVE: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaUser
metadata: { name: dave, namespace: kafka }
spec:
  cluster: sec
  authentication: { type: tls }
  authorization:
    acls:
      - resource: { type: topic, name: orders }
        operations: [Write, Describe]
"#;

const BAD_MECHANISM: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaUser
metadata: { name: bad-mechanism, namespace: kafka }
spec:
  cluster: sec
  authentication: { type: scram-sha-1 }
"#;

const BAD_ACL: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaUser
metadata: { name: bad-acl, namespace: kafka }
spec:
  cluster: sec
  authentication: { type: scram-sha-512 }
  authorization:
    acls:
      - resource: { type: group, name: g }
        operations: [Write]
"#;

/// A SCRAM-SHA-256 user: the cluster's SCRAM listener (named `scram-sha-512`) takes both
/// SCRAM mechanisms.
const SHA256_USER: &str = r#"
apiVersion: eddy.io/v1alpha1
kind: KafkaUser
metadata: { name: dana, namespace: kafka }
spec:
  cluster: sec
  authentication: { type: scram-sha-256 }
"#;

fn ready(conditions: &[eddy_operator::crd::Condition]) -> Option<(String, String, String)> {
    find_condition(conditions, "Ready").map(|c| {
        (
            format!("{:?}", c.status),
            c.reason.clone(),
            c.message.clone(),
        )
    })
}

fn apply(kube: &LocalKube, yaml: &str) -> anyhow::Result<()> {
    let f = tempfile::NamedTempFile::new()?;
    std::fs::write(f.path(), yaml)?;
    kube.kubectl(&["apply", "-f", f.path().to_str().context("utf8")?])?;
    Ok(())
}

/// Runs `user_tool.py` (confluent-kafka) and parses its JSON answer.
fn user_tool(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = run(
        Command::new(python())
            .arg(repo().join("operator/tests/e2e/user_tool.py"))
            .args(args),
        &format!("user_tool.py {}", args[0]),
    )?;
    Ok(serde_json::from_str(out.trim())?)
}

fn key(secret: &Secret, k: &str) -> anyhow::Result<String> {
    let v = secret
        .data
        .as_ref()
        .and_then(|d| d.get(k))
        .with_context(|| format!("secret key {k}"))?;
    Ok(String::from_utf8(v.0.clone())?)
}

/// librdkafka settings for SASL_SSL/SCRAM-SHA-512 as `user`/`password`.
fn sasl_config(ca: &std::path::Path, user: &str, password: &str) -> String {
    json!({
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": password,
        "ssl.ca.location": ca,
    })
    .to_string()
}

/// An admin session as the operator (`eddy-operator` over TLS on the replication listener),
/// resolved exactly as the operator resolves it.
async fn operator_admin(
    client: &kube::Client,
    cluster: &KafkaCluster,
) -> anyhow::Result<AdminClient> {
    let t = target::resolve(client, cluster).await?;
    let (_, admin) = kafka_admin::connect_any(&t, Duration::from_secs(10))
        .await
        .map_err(|(a, e)| anyhow::anyhow!("{a}: {e}"))?;
    Ok(admin)
}

fn can_login(bootstrap: &str, config: &str) -> anyhow::Result<bool> {
    Ok(user_tool(&["login", bootstrap, config])?["ok"] == json!(true))
}

/// kcat over SASL_SSL with `args`, reading `input`; returns (success, stdout + stderr).
fn kcat(
    bootstrap: &str,
    ca: &std::path::Path,
    user: &str,
    password: &str,
    args: &[&str],
    input: Option<&[u8]>,
) -> anyhow::Result<(bool, String)> {
    use std::io::Write as _;
    let mut cmd = Command::new("timeout");
    cmd.args(["60", "kcat", "-b", bootstrap])
        .args([
            "-X",
            "security.protocol=SASL_SSL",
            "-X",
            "sasl.mechanisms=SCRAM-SHA-512",
        ])
        .arg("-X")
        .arg(format!("sasl.username={user}"))
        .arg("-X")
        .arg(format!("sasl.password={password}"))
        .arg("-X")
        .arg(format!("ssl.ca.location={}", ca.display()))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    if let Some(input) = input {
        stdin.write_all(input)?;
    }
    drop(stdin);
    let out = child.wait_with_output()?;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_users_on_a_secure_cluster() -> anyhow::Result<()> {
    build_pod_binaries()?;
    let kube = LocalKube::start("operator-e2e-users-")?;
    let client = kube.client().await?;
    kube.install_chart(r#"{"operator": {"logFormat": "text", "leaseSeconds": 5}}"#)
        .await?;
    kube.kubectl(&["create", "namespace", "kafka"])?;
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), "kafka");
    let users: Api<KafkaUser> = Api::namespaced(client.clone(), "kafka");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kafka");

    // The secure cluster becomes Ready.
    let applied = Instant::now();
    apply(&kube, CLUSTER)?;
    let cluster = eventually(
        Duration::from_secs(300),
        "KafkaCluster sec Ready",
        || async {
            let c = clusters.get("sec").await?;
            let ok = c
                .status
                .as_ref()
                .and_then(|s| ready(&s.conditions))
                .is_some_and(|r| r.0 == "True");
            Ok(ok.then_some(c))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    eprintln!(
        "BENCH apply->Ready secure 3 brokers: {:?}",
        applied.elapsed()
    );
    let status = cluster.status.clone().context("status")?;
    let sasl = status
        .listeners
        .iter()
        .find(|l| l.name == "sasl")
        .context("sasl listener in status")?;
    let bootstrap = sasl.bootstrap_servers.clone();
    let ca_secret = secrets.get("sec-cluster-ca-cert").await?;
    let dir = tempfile::tempdir()?;
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, key(&ca_secret, "ca.crt")?)?;

    // A KafkaTopic through the operator's authenticated admin connection.
    apply(&kube, TOPIC)?;
    let topics: Api<eddy_operator::crd::KafkaTopic> = Api::namespaced(client.clone(), "kafka");
    eventually(
        Duration::from_secs(120),
        "KafkaTopic orders Ready",
        || async {
            let t = topics.get("orders").await?;
            Ok(t.status
                .as_ref()
                .and_then(|s| ready(&s.conditions))
                .filter(|r| r.0 == "True"))
        },
    )
    .await?;

    // alice: Secret with the password; a login works; measured from apply.
    let applied = Instant::now();
    apply(&kube, ALICE)?;
    let alice_secret = eventually(Duration::from_secs(120), "alice's Secret", || async {
        Ok(secrets.get_opt("alice").await?)
    })
    .await?;
    let alice_pw = key(&alice_secret, "password")?;
    assert_eq!(key(&alice_secret, "username")?, "alice");
    assert!(
        key(&alice_secret, "sasl.jaas.config")?
            .contains("ScramLoginModule required username=\"alice\"")
    );
    let alice = sasl_config(&ca, "alice", &alice_pw);
    eventually(Duration::from_secs(120), "alice logs in", || async {
        Ok(can_login(&bootstrap, &alice)?.then_some(()))
    })
    .await?;
    eprintln!(
        "BENCH KafkaUser apply->working login: {:?}",
        applied.elapsed()
    );
    let u = users.get("alice").await?;
    let st = u.status.context("alice status")?;
    assert_eq!(st.secret.as_deref(), Some("alice"));
    assert_eq!(st.username.as_deref(), Some("alice"));
    // On the brokers: alice's quota, her ACLs, and the plan limit as the <default> user quota.
    let mut admin = operator_admin(&client, &cluster).await?;
    assert_eq!(
        admin.describe_user_quotas(Some("alice")).await?,
        std::collections::BTreeMap::from([("consumer_byte_rate".to_string(), 20_971_520.0)])
    );
    assert_eq!(admin.describe_acls("User:alice").await?.len(), 4);
    let defaults = eventually(Duration::from_secs(60), "<default> user quota", || async {
        let q = operator_admin(&client, &cluster)
            .await?
            .describe_user_quotas(None)
            .await?;
        Ok((!q.is_empty()).then_some(q))
    })
    .await?;
    assert_eq!(
        defaults,
        std::collections::BTreeMap::from([("producer_byte_rate".to_string(), 10_485_760.0)])
    );

    // alice produces and consumes with confluent-kafka and with kcat.
    let produced = user_tool(&["produce", &bootstrap, &alice, "orders", "20"])?;
    assert_eq!(produced["acked"], json!(20), "{produced}");
    let consumed = user_tool(&["consume", &bootstrap, &alice, "orders", "orders-a", "20"])?;
    assert_eq!(
        consumed["values"].as_array().map(Vec::len),
        Some(20),
        "{consumed}"
    );
    let (ok, out) = kcat(
        &bootstrap,
        &ca,
        "alice",
        &alice_pw,
        &["-t", "orders", "-P"],
        Some(b"from-kcat\n"),
    )?;
    assert!(ok, "kcat produce: {out}");
    let (ok, out) = kcat(
        &bootstrap,
        &ca,
        "alice",
        &alice_pw,
        &["-C", "-t", "orders", "-o", "beginning", "-c", "21", "-e"],
        None,
    )?;
    assert!(ok && out.contains("from-kcat"), "kcat consume: {out}");
    // Outside its ACLs alice is refused.
    let other = user_tool(&["consume", &bootstrap, &alice, "orders", "other-group", "1"])?;
    assert!(
        other["error"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
            .contains("authoriz"),
        "{other}"
    );

    // bob authenticates but has no ACL: refused.
    apply(&kube, BOB)?;
    let bob_pw = eventually(Duration::from_secs(120), "bob Ready", || async {
        let u = users.get("bob").await?;
        let ok = u
            .status
            .as_ref()
            .and_then(|s| ready(&s.conditions))
            .is_some_and(|r| r.0 == "True");
        Ok(if ok {
            Some(key(&secrets.get("bob").await?, "password")?)
        } else {
            None
        })
    })
    .await?;
    let bob = sasl_config(&ca, "bob", &bob_pw);
    assert!(can_login(&bootstrap, &bob)?);
    let refused = user_tool(&["produce", &bootstrap, &bob, "orders", "1"])?;
    assert_eq!(refused["acked"], json!(0), "{refused}");
    assert!(
        refused["errors"]
            .to_string()
            .to_lowercase()
            .contains("authoriz"),
        "{refused}"
    );

    // carol: password from a referenced Secret; rotating it rotates the credential.
    kube.kubectl(&[
        "create",
        "secret",
        "generic",
        "carol-password",
        "-n",
        "kafka",
        "--from-literal=pw=first-password",
    ])?;
    apply(&kube, CAROL)?;
    let first = sasl_config(&ca, "Carol_1", "first-password");
    eventually(Duration::from_secs(120), "Carol_1 logs in", || async {
        Ok(can_login(&bootstrap, &first)?.then_some(()))
    })
    .await?;
    let rotated = Instant::now();
    kube.kubectl(&[
        "patch",
        "secret",
        "carol-password",
        "-n",
        "kafka",
        "--type",
        "merge",
        "-p",
        r#"{"stringData": {"pw": "second-password"}}"#,
    ])?;
    let second = sasl_config(&ca, "Carol_1", "second-password");
    eventually(
        Duration::from_secs(120),
        "the rotated password works",
        || async { Ok(can_login(&bootstrap, &second)?.then_some(())) },
    )
    .await?;
    eprintln!(
        "BENCH password Secret change->new password works: {:?}",
        rotated.elapsed()
    );
    assert!(
        !can_login(&bootstrap, &first)?,
        "the old password must fail"
    );
    assert!(
        secrets
            .get("carol-password")
            .await?
            .metadata
            .owner_references
            .is_none(),
        "a referenced Secret is never taken over"
    );

    // dave: a TLS user; what its Secret holds (certificate, key, cluster CA) is all it needs.
    let applied = Instant::now();
    apply(&kube, DAVE)?;
    let dave_secret = eventually(Duration::from_secs(120), "dave's certificate", || async {
        Ok(secrets.get_opt("dave").await?.filter(|s| {
            s.data
                .as_ref()
                .is_some_and(|d| d.contains_key("user.crt") && d.contains_key("user.key"))
        }))
    })
    .await?;
    assert_eq!(key(&dave_secret, "ca.crt")?, key(&ca_secret, "ca.crt")?);
    assert_eq!(key(&dave_secret, "username")?, "dave");
    for k in ["user.crt", "user.key", "ca.crt"] {
        std::fs::write(dir.path().join(format!("dave-{k}")), key(&dave_secret, k)?)?;
    }
    let tls_bootstrap = status
        .listeners
        .iter()
        .find(|l| l.name == "tls")
        .context("tls listener in status")?
        .bootstrap_servers
        .clone();
    let dave = json!({
        "security.protocol": "SSL",
        "ssl.ca.location": dir.path().join("dave-ca.crt"),
        "ssl.certificate.location": dir.path().join("dave-user.crt"),
        "ssl.key.location": dir.path().join("dave-user.key"),
    })
    .to_string();
    eventually(
        Duration::from_secs(120),
        "dave logs in with his certificate",
        || async { Ok(can_login(&tls_bootstrap, &dave)?.then_some(())) },
    )
    .await?;
    eprintln!(
        "BENCH KafkaUser (tls) apply->working login: {:?}",
        applied.elapsed()
    );
    let produced = user_tool(&["produce", &tls_bootstrap, &dave, "orders", "5"])?;
    assert_eq!(produced["acked"], json!(5), "{produced}");
    let u = users.get("dave").await?;
    assert!(
        u.status.and_then(|s| s.certificate_not_after).is_some(),
        "status.certificateNotAfter"
    );

    // Deleting alice: her login stops working and her Secret goes.
    kube.kubectl(&[
        "delete",
        "kafkauser",
        "alice",
        "-n",
        "kafka",
        "--wait=true",
        "--timeout=120s",
    ])?;
    eventually(
        Duration::from_secs(60),
        "alice refused after deletion",
        || async { Ok((!can_login(&bootstrap, &alice)?).then_some(())) },
    )
    .await?;
    eventually(
        Duration::from_secs(60),
        "alice's Secret garbage-collected",
        || async { Ok(secrets.get_opt("alice").await?.is_none().then_some(())) },
    )
    .await?;

    // Bad input: an unknown mechanism never becomes a resource; impossible ACLs and a mechanism
    // no listener offers get InvalidSpec with a message naming the problem.
    let f = tempfile::NamedTempFile::new()?;
    std::fs::write(f.path(), BAD_MECHANISM)?;
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kube.kubeconfig())
        .args(["apply", "-f", f.path().to_str().context("utf8")?])
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spec.authentication.type"), "{err}");
    for (yaml, name, want) in [(
        BAD_ACL,
        "bad-acl",
        "operation Write does not exist on a Group",
    )] {
        apply(&kube, yaml)?;
        let (_, reason, message) = eventually(Duration::from_secs(60), name, || async {
            let u = users.get(name).await?;
            Ok(u.status
                .as_ref()
                .and_then(|s| ready(&s.conditions))
                .filter(|r| r.0 == "False" && r.1 != "ClusterNotReady"))
        })
        .await?;
        assert_eq!(reason, "InvalidSpec", "{name}: {message}");
        assert!(message.contains(want), "{name}: {message}");
    }

    // A SCRAM-SHA-256 user on the same listener: Ready, and it signs in with SCRAM-SHA-256 and
    // the password from its Secret (and not with SCRAM-SHA-512: its credential is SHA-256 only).
    apply(&kube, SHA256_USER)?;
    eventually(Duration::from_secs(120), "dana Ready", || async {
        let u = users.get("dana").await?;
        Ok(u.status
            .as_ref()
            .and_then(|s| ready(&s.conditions))
            .filter(|r| r.0 == "True"))
    })
    .await?;
    let dana_pw = key(&secrets.get("dana").await?, "password")?;
    let mut sha256: serde_json::Value = serde_json::from_str(&sasl_config(&ca, "dana", &dana_pw))?;
    sha256["sasl.mechanism"] = json!("SCRAM-SHA-256");
    assert!(
        can_login(&bootstrap, &sha256.to_string())?,
        "dana with SCRAM-SHA-256"
    );
    assert!(
        !can_login(&bootstrap, &sasl_config(&ca, "dana", &dana_pw))?,
        "dana with SCRAM-SHA-512 has no credential"
    );
    Ok(())
}
