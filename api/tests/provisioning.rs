//! Provisioning end to end on the local Kubernetes (scripts/kube-up.sh: real kube-apiserver and
//! controller-manager, localkube running pods as processes) with the operator installed by Helm as
//! in operator/tests/e2e.rs. The `api` binary runs as `./dev up` runs it (SQLite, `--kubeconfig`)
//! and the test drives it only through its HTTP routes on loopback:
//!
//! - a create the operator refuses (a NodePort listener: a terminal `NotSupported` condition)
//!   fails its operation and costs nothing;
//! - sign up, create → the operation goes pending → running → succeeded once the KafkaCluster is
//!   Ready → a topic through the API → kcat produces and consumes through the returned bootstrap
//!   address (on plans that opt into an anonymous `plaintext` listener: this part runs the API
//!   with such a catalog, so it needs no secured operator);
//! - resize (plan change) succeeds once the KafkaCluster has the new broker count and is Ready
//!   again, and moves billing to the new plan;
//! - delete succeeds once the KafkaCluster is gone; its pods and claims go away and every billing
//!   segment is closed.
//!
//! `a_smaller_plan_drains_the_brokers_that_go_and_loses_nothing`: dedicated-2 (5 brokers) →
//! dedicated-1 (3) with data on every broker under an idempotent producer, through the API only.
//!
//! `secure_cluster_users_and_quota_through_the_api` runs the shipped catalog: a `sasl_scram` plan, a Kafka user through the
//! API, kcat with the returned config and CA, a wrong password refused, a SCRAM-SHA-256 user
//! producing and consuming with confluent-kafka through its own snippet, and the plan's ingress
//! limit (the user's quota) throttling a confluent-kafka producer.
#![allow(clippy::unwrap_used)]

#[path = "support/browser.rs"]
mod browser;
#[path = "../../operator/tests/e2e/common.rs"]
mod common;
#[path = "../../localkube/tests/support/stack.rs"]
mod stack;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode, header};
use eddy_api::domain::billing::UsageSegment;
use eddy_operator::crd::{KafkaCluster, KafkaTopic, find_condition};
use eddy_test_support::eventually_async;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use stack::{LocalKube, build_pod_binaries, eventually, run};

/// The `api` binary on loopback, on its own SQLite file, killed by PID on drop.
struct ApiServer {
    child: Child,
    base: String,
    db_url: String,
    http: HttpClient<HttpConnector, Full<Bytes>>,
    dir: tempfile::TempDir,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A decoded response.
struct Resp {
    status: StatusCode,
    etag: Option<String>,
    body: Value,
}

impl ApiServer {
    /// Starts the api binary; `catalog` replaces the built-in plans catalog when given.
    async fn start(kubeconfig: &Path, catalog: Option<&str>) -> anyhow::Result<Self> {
        Self::start_with(kubeconfig, catalog, &[]).await
    }

    /// [`Self::start`] with extra command-line arguments.
    async fn start_with(
        kubeconfig: &Path,
        catalog: Option<&str>,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("api-prov-db-").tempdir()?;
        let db_url = format!("sqlite://{}/api.db?mode=rwc", dir.path().display());
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::fs::File::create(dir.path().join("api.log"))?;
        // `EDDY_API_BIN` overrides the binary cargo built for this test (a copy survives other
        // builds sharing the target directory).
        let bin = std::env::var_os("EDDY_API_BIN").map_or_else(
            || env!("CARGO_BIN_EXE_api").into(),
            std::path::PathBuf::from,
        );
        let mut cmd = Command::new(bin);
        if let Some(yaml) = catalog {
            let path = dir.path().join("catalog.yaml");
            std::fs::write(&path, yaml)?;
            cmd.arg("--plans").arg(path);
        }
        let child = cmd
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", &db_url])
            .arg("--secrets-key-file")
            .arg(dir.path().join("secrets-key"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--sync-interval-secs", "1"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("start the api binary")?;
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            db_url,
            http: HttpClient::builder(TokioExecutor::new()).build_http(),
            dir,
        };
        eventually(Duration::from_secs(30), "api /healthz", || async {
            Ok((server
                .call(Method::GET, "/healthz", None, None, &[])
                .await?
                .status
                == StatusCode::OK)
                .then_some(()))
        })
        .await
        .with_context(|| server.log())?;
        Ok(server)
    }

    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("api.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Resp> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(b.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let resp =
            tokio::time::timeout(Duration::from_secs(30), self.http.request(req.body(body)?))
                .await
                .context("api request timed out")??;
        let status = resp.status();
        let etag = resp
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp.into_body().collect().await?.to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        Ok(Resp { status, etag, body })
    }

    async fn get(&self, path: &str, token: &str) -> anyhow::Result<Resp> {
        self.call(Method::GET, path, Some(token), None, &[]).await
    }

    /// A mutation conditional on `etag` (`If-Match`).
    async fn if_match(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        etag: &str,
    ) -> anyhow::Result<Resp> {
        self.call(method, path, Some(token), body, &[("if-match", etag)])
            .await
    }

    /// Polls the operation of a 202 answer until it has finished; returns it. A timeout fails
    /// with the API's and the local Kubernetes' logs.
    async fn finished_operation(
        &self,
        kube: &LocalKube,
        token: &str,
        accepted: &Value,
        timeout: Duration,
    ) -> Value {
        let id = accepted["operation"]["id"].as_str().unwrap();
        eventually(timeout, &format!("operation {id} finished"), || async {
            let r = self.get(&format!("/v1/operations/{id}"), token).await?;
            anyhow::ensure!(r.status == StatusCode::OK, "{:?}", r.body);
            let done = matches!(r.body["state"].as_str(), Some("succeeded" | "failed"));
            Ok(done.then_some(r.body))
        })
        .await
        .with_context(|| format!("{}\n{}", self.log(), kube.logs()))
        .unwrap()
    }

    /// The cluster's usage segments, read from the API's database.
    async fn segments(&self, account: &str, cluster: &str) -> Vec<UsageSegment> {
        let db = eddy_api::store::Db::connect(&self.db_url).await.unwrap();
        let mut c = db.pool.acquire().await.unwrap();
        eddy_api::store::billing::segments(&mut c, account, 0, i64::MAX)
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.cluster_id == cluster)
            .collect()
    }
}

/// The states an operation's steps went through, in order, without repeats.
fn states(op: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in op["steps"].as_array().into_iter().flatten() {
        let st = s["state"].as_str().unwrap_or_default().to_string();
        if out.last() != Some(&st) {
            out.push(st);
        }
    }
    out
}

fn kcat_produce(bootstrap: &str, topic: &str, line: &str) -> anyhow::Result<()> {
    let mut child = Command::new("kcat")
        .args(["-b", bootstrap, "-t", topic, "-P"])
        .stdin(Stdio::piped())
        .spawn()?;
    std::io::Write::write_all(
        &mut child.stdin.take().context("stdin")?,
        format!("{line}\n").as_bytes(),
    )?;
    anyhow::ensure!(child.wait()?.success(), "kcat produce");
    Ok(())
}

fn kcat_consume(bootstrap: &str, topic: &str, count: usize) -> anyhow::Result<String> {
    run(
        Command::new("kcat").args([
            "-b",
            bootstrap,
            "-t",
            topic,
            "-C",
            "-o",
            "beginning",
            "-c",
            &count.to_string(),
            "-e",
        ]),
        "kcat consume",
    )
}

/// The built-in catalog with the shared plans opted into an anonymous `plaintext` listener, for
/// the part of this suite that does not need the operator's secure clusters.
fn plaintext_catalog() -> String {
    let builtin = eddy_api::app::BUILTIN_CATALOG;
    let patched = builtin
        .replace("features: [sasl_scram, tls]\n", "features: [plaintext]\n")
        .replace(
            "features: [sasl_scram, tls, acls]\n",
            "features: [plaintext]\n",
        );
    assert_ne!(patched, builtin, "the shared plans' features moved");
    patched
}

#[tokio::test(flavor = "multi_thread")]
async fn clusters_are_provisioned_resized_and_deleted_through_the_api() -> anyhow::Result<()> {
    build_pod_binaries()?;
    let kube = LocalKube::start("api-prov-")?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube.client().await?;
    // The chart as in the operator's e2e, with the operator scaled to zero for now: the failed
    // create below needs its KafkaCluster changed before the operator first sees it.
    kube.install_chart(r#"{"operator": {"logFormat": "text", "leaseSeconds": 5, "replicas": 0}}"#)
        .await?;

    let api = ApiServer::start(&kube.kubeconfig(), Some(&plaintext_catalog())).await?;
    let signup = api
        .call(
            Method::POST,
            "/v1/auth/signup",
            None,
            Some(
                json!({"email": "ops@example.com", "password": "correct horse battery",
                        "name": "Ops", "account_name": "Provisioning"}),
            ),
            &[],
        )
        .await?;
    assert_eq!(signup.status, StatusCode::CREATED, "{:?}", signup.body);
    let token = signup.body["access_token"].as_str().unwrap().to_string();
    let account = signup.body["account_id"].as_str().unwrap().to_string();
    let create = |name: &'static str| {
        let (api, token) = (&api, token.clone());
        async move {
            let r = api
                .call(
                    Method::POST,
                    "/v1/clusters",
                    Some(&token),
                    Some(json!({"name": name, "plan_id": "shared-small", "deletion_protection": false})),
                    &[],
                )
                .await?;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
            assert_eq!(r.body["operation"]["state"], "pending");
            assert_eq!(r.body["cluster"]["state"], "creating");
            anyhow::Ok(r.body)
        }
    };
    let ns = "eddy-clusters"; // the built-in catalog's only region
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    let resource = |accepted: &Value| {
        let id = accepted["cluster"]["id"].as_str().unwrap();
        format!(
            "{}-{}",
            accepted["cluster"]["name"].as_str().unwrap(),
            &id[id.len() - 8..]
        )
    };

    // 1. A create the operator refuses costs nothing. The fault: someone adds a super user that
    //    is not a principal (`User:<name>`) before the operator reconciles it; the operator
    //    reports Ready=False/InvalidSpec, a terminal condition.
    let doomed = create("doomed").await?;
    let doomed_id = doomed["cluster"]["id"].as_str().unwrap().to_string();
    let doomed_res = resource(&doomed);
    let written = clusters.get(&doomed_res).await?;
    assert_eq!(written.spec.brokers, 1);
    assert!(written.status.is_none(), "no operator has seen it yet");
    clusters
        .patch(
            &doomed_res,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"authorization": {"type": "simple", "superUsers": ["not-a-principal"]}}})),
        )
        .await?;
    kube.kubectl(&[
        "scale",
        "deployment/eddy-operator",
        "-n",
        "eddy-system",
        "--replicas=1",
    ])?;
    let op = api
        .finished_operation(&kube, &token, &doomed, Duration::from_secs(180))
        .await;
    assert_eq!(op["state"], "failed", "{op}");
    assert!(
        op["error"]
            .as_str()
            .unwrap_or_default()
            .contains("is not a principal"),
        "{op}"
    );
    let r = api
        .get(&format!("/v1/clusters/{doomed_id}"), &token)
        .await?;
    assert_eq!(r.body["state"], "failed", "{:?}", r.body);
    assert!(
        api.segments(&account, &doomed_id).await.is_empty(),
        "a failed create costs nothing"
    );

    // 2. Create: pending → running → succeeded once the KafkaCluster is Ready.
    let accepted = create("orders").await?;
    let id = accepted["cluster"]["id"].as_str().unwrap().to_string();
    let res = resource(&accepted);
    let created_at = Instant::now();
    let op = api
        .finished_operation(&kube, &token, &accepted, Duration::from_secs(240))
        .await;
    eprintln!(
        "MEASURE create → operation succeeded: {:?}",
        created_at.elapsed()
    );
    assert_eq!(op["state"], "succeeded", "{op}\n{}", kube.logs());
    assert_eq!(states(&op), ["pending", "running", "succeeded"], "{op}");
    let k = clusters.get(&res).await?;
    let ready = k
        .status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, "Ready"))
        .context("Ready condition")?;
    assert_eq!(format!("{:?}", ready.status), "True");
    let r = api.get(&format!("/v1/clusters/{id}"), &token).await?;
    assert_eq!(r.body["state"], "active", "{:?}", r.body);
    let segs = api.segments(&account, &id).await;
    assert_eq!(segs.len(), 1, "billing starts when the cluster is active");
    assert!(segs[0].ended_at.is_none() && segs[0].plan_id == "shared-small");

    // Connection details: the operator's bootstrap address; the plan opted into an anonymous
    // listener, so there is neither a CA nor a SASL mechanism, and never a password.
    let conn = api
        .get(&format!("/v1/clusters/{id}/connection"), &token)
        .await?;
    assert_eq!(conn.status, StatusCode::OK, "{:?}", conn.body);
    let bootstrap = conn.body["bootstrap_servers"].as_str().unwrap().to_string();
    assert_eq!(r.body["bootstrap_servers"], bootstrap.as_str());
    assert_eq!(conn.body["security_protocol"], "PLAINTEXT");
    assert_eq!(conn.body["listeners"][0]["authentication"], "none");
    assert!(conn.body["sasl_mechanism"].is_null() && conn.body["ca_certificate"].is_null());
    assert!(conn.body.get("password").is_none());

    // A topic through the API becomes a KafkaTopic the operator creates on the broker.
    let t = api
        .call(
            Method::POST,
            &format!("/v1/clusters/{id}/topics"),
            Some(&token),
            Some(json!({"name": "payments", "partitions": 2})),
            &[],
        )
        .await?;
    assert_eq!(t.status, StatusCode::CREATED, "{:?}", t.body);
    let topics: Api<KafkaTopic> = Api::namespaced(client.clone(), ns);
    let topic_ready = eventually(Duration::from_secs(60), "KafkaTopic Ready", || async {
        let list = topics.list(&ListParams::default()).await?;
        let t = list
            .items
            .iter()
            .find(|t| t.spec.topic_name.as_deref() == Some("payments"))
            .context("KafkaTopic written")?;
        Ok(t.status
            .as_ref()
            .and_then(|s| find_condition(&s.conditions, "Ready"))
            .map(|c| (format!("{:?}", c.status), c.message.clone())))
    })
    .await?;
    assert_eq!(topic_ready.0, "True", "{}", topic_ready.1);
    kcat_produce(&bootstrap, "payments", "paid-1")?;
    let consumed = kcat_consume(&bootstrap, "payments", 1)?;
    assert!(consumed.contains("paid-1"), "{consumed}");

    // 3. Resize to the 3-broker plan (If-Match): succeeds once the KafkaCluster has 3 brokers
    //    and is Ready again; billing moves to the new plan from that moment.
    let etag = r.etag.clone().context("ETag")?;
    let resized = api
        .if_match(
            Method::POST,
            &format!("/v1/clusters/{id}/resize"),
            &token,
            Some(json!({"plan_id": "shared-medium"})),
            &etag,
        )
        .await?;
    assert_eq!(resized.status, StatusCode::ACCEPTED, "{:?}", resized.body);
    let resize_at = Instant::now();
    let op = api
        .finished_operation(&kube, &token, &resized.body, Duration::from_secs(240))
        .await;
    eprintln!("MEASURE resize 1 → 3 brokers: {:?}", resize_at.elapsed());
    assert_eq!(op["state"], "succeeded", "{op}\n{}", kube.logs());
    let k = clusters.get(&res).await?;
    assert_eq!(k.spec.brokers, 3);
    assert_eq!(k.spec.storage.size, "20Gi");
    // The operation succeeded on a Ready status with 3 brokers; the status read now may show a
    // broker whose readiness probe timed out a moment ago on a loaded machine (seen in CI:
    // 2 ready), so wait for it to settle rather than read one snapshot.
    let status = eventually(
        Duration::from_secs(60),
        "3 ready brokers and Ready",
        || async {
            let status = clusters.get(&res).await?.status.context("status")?;
            let ready = find_condition(&status.conditions, "Ready")
                .is_some_and(|c| format!("{:?}", c.status) == "True");
            Ok((status.ready_brokers == 3 && ready).then_some(status))
        },
    )
    .await?;
    let r = api.get(&format!("/v1/clusters/{id}"), &token).await?;
    assert_eq!(
        (r.body["state"].as_str(), r.body["plan_id"].as_str()),
        (Some("active"), Some("shared-medium"))
    );
    let segs = api.segments(&account, &id).await;
    assert_eq!(segs.len(), 2, "{segs:?}");
    assert_eq!(segs[0].plan_id, "shared-small");
    assert_eq!(segs[0].ended_at, Some(segs[1].started_at));
    assert!(segs[1].ended_at.is_none() && segs[1].plan_id == "shared-medium");
    // The brokers form one cluster (the new ones joined broker 0's quorum): the data written
    // before the resize is served through any broker, and every broker knows all three.
    let conn = api
        .get(&format!("/v1/clusters/{id}/connection"), &token)
        .await?;
    let bootstrap = conn.body["bootstrap_servers"].as_str().unwrap().to_string();
    assert_eq!(bootstrap.split(',').count(), 3, "{bootstrap}");
    let first = status.listeners[0]
        .addresses
        .iter()
        .find(|a| a.broker_id == 0)
        .map(|a| format!("{}:{}", a.host, a.port))
        .context("broker 0 address")?;
    assert!(bootstrap.split(',').any(|a| a == first), "{bootstrap}");
    for a in &status.listeners[0].addresses {
        let addr = format!("{}:{}", a.host, a.port);
        // Bounded retries: right after the resize a broker may still be finishing its start
        // (its listener not yet bound) on a busy machine.
        let consumed = eventually_async(
            "kcat reads payments through each broker",
            Duration::from_secs(60),
            Duration::from_millis(1000),
            || async { kcat_consume(&addr, "payments", 1).map_err(|e| e.to_string()) },
        )
        .await
        .unwrap_or_else(|e| panic!("via broker {}: {e}\n{}", a.broker_id, kube.logs()));
        assert!(
            consumed.contains("paid-1"),
            "via broker {}: {consumed}",
            a.broker_id
        );
        let meta = std::process::Command::new("kcat")
            .args(["-b", &addr, "-L", "-m", "10"])
            .output()?;
        let meta = String::from_utf8_lossy(&meta.stdout);
        assert!(
            meta.contains(" 3 brokers:"),
            "broker {}: {meta}",
            a.broker_id
        );
    }
    // The operator grows the controller quorum with the cluster (brokers 1 and 2 joined as
    // learners; it asks the brokers for voters [0,1,2]), and the pod template keeps its
    // creation-time voters so the resize rolled nothing. Bounded: 120 s.
    let quorum_at = Instant::now();
    // Ready with Err: a failed read ends the wait (and the test) at once.
    let q = eventually_async(
        "voters [0,1,2]",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || async {
            let q = match clusters.get(&res).await {
                Ok(c) => c.status.and_then(|s| s.quorum).context("status.quorum"),
                Err(e) => Err(e.into()),
            };
            match q {
                Ok(q) if q.voters.as_deref() != Some(&[0, 1, 2][..]) => Err(format!("{q:?}")),
                done => Ok(done),
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", kube.logs()))?;
    eprintln!(
        "MEASURE voters [0,1,2] {:?} after the resize succeeded",
        quorum_at.elapsed()
    );
    assert_eq!(
        q.initial_voters,
        vec![0],
        "the pod template kept its voters"
    );

    // 4. Delete (If-Match): succeeds once the KafkaCluster is gone; pods and claims follow;
    //    every billing segment is closed.
    let etag = r.etag.clone().context("ETag")?;
    let deleted = api
        .if_match(
            Method::DELETE,
            &format!("/v1/clusters/{id}"),
            &token,
            None,
            &etag,
        )
        .await?;
    assert_eq!(deleted.status, StatusCode::ACCEPTED, "{:?}", deleted.body);
    let op = api
        .finished_operation(&kube, &token, &deleted.body, Duration::from_secs(180))
        .await;
    assert_eq!(op["state"], "succeeded", "{op}");
    assert!(clusters.get_opt(&res).await?.is_none());
    let selector = format!("eddy.io/cluster={res}");
    eventually(Duration::from_secs(120), "pods and claims gone", || async {
        let pods = Api::<Pod>::namespaced(client.clone(), ns)
            .list(&ListParams::default().labels(&selector))
            .await?;
        let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns)
            .list(&ListParams::default().labels(&selector))
            .await?;
        Ok((pods.items.is_empty() && claims.items.is_empty()).then_some(()))
    })
    .await
    .with_context(|| kube.logs())?;
    let r = api.get(&format!("/v1/clusters/{id}"), &token).await?;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "a deleted cluster is gone: {:?}",
        r.body
    );
    let segs = api.segments(&account, &id).await;
    assert_eq!(segs.len(), 2);
    assert!(segs.iter().all(|s| s.ended_at.is_some()), "{segs:?}");
    assert!(
        api.segments(&account, &doomed_id).await.is_empty(),
        "the failed cluster never cost anything"
    );
    Ok(())
}

/// Produces `total` bytes as fast as confluent-kafka can with the given librdkafka config file
/// (`key=value` lines), and reports the throttle events and the rate the broker allowed.
const QUOTA_PRODUCER: &str = r##"
import json, os, sys, time
from confluent_kafka import Producer
conf = {}
for line in open(os.environ["CONF"]):
    line = line.strip()
    if line and not line.startswith("#"):
        k, v = line.split("=", 1)
        conf[k] = v
throttles, errors = [], []
conf["throttle_cb"] = lambda ev: throttles.append(ev.throttle_time)
conf["linger.ms"] = "5"
p = Producer(conf)
total, size = int(os.environ["TOTAL"]), 16384
payload = b"x" * size
start = time.monotonic()
sent = 0
deadline = start + 120
while sent < total and time.monotonic() < deadline:
    try:
        p.produce(os.environ["TOPIC"], payload,
                  on_delivery=lambda err, msg: err and errors.append(str(err)))
        sent += size
    except BufferError:
        p.poll(0.05)
    p.poll(0)
left = p.flush(120)
elapsed = time.monotonic() - start
print(json.dumps({"sent": sent, "undelivered": left, "seconds": elapsed, "errors": errors[:5],
                  "throttle_events": len(throttles), "max_throttle_s": max(throttles, default=0)}))
"##;

/// Produces `bob-paid` with the given librdkafka config file and reads it back from the start
/// of the topic (its own consumer group), printing what it read.
const ROUND_TRIP: &str = r##"
import os, sys, time
from confluent_kafka import Consumer, Producer
conf = {}
for line in open(os.environ["CONF"]):
    line = line.strip()
    if line and not line.startswith("#"):
        k, v = line.split("=", 1)
        conf[k] = v
topic = os.environ["TOPIC"]
p = Producer(conf)
errors = []
p.produce(topic, b"bob-paid", on_delivery=lambda err, msg: err and errors.append(str(err)))
if p.flush(60) or errors:
    sys.exit("produce failed: %s" % errors)
c = Consumer(dict(conf, **{"group.id": "bob-reader", "auto.offset.reset": "earliest"}))
c.subscribe([topic])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    m = c.poll(1.0)
    if m is None:
        continue
    if m.error():
        sys.exit("consume failed: %s" % m.error())
    if m.value() == b"bob-paid":
        print("bob-paid")
        break
c.close()
"##;

#[tokio::test(flavor = "multi_thread")]
async fn secure_cluster_users_and_quota_through_the_api() -> anyhow::Result<()> {
    build_pod_binaries()?;
    let kube = LocalKube::start("api-sec-")?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube.client().await?;
    kube.install_chart(r#"{"operator": {"logFormat": "text", "leaseSeconds": 5}}"#)
        .await?;
    // The shipped catalog, with shared-small (sasl_scram and tls, 1 MiB/s ingress) also
    // offering client certificates (mtls), as the dedicated plans do.
    let catalog = eddy_api::app::BUILTIN_CATALOG.replacen(
        "features: [sasl_scram, tls]\n",
        "features: [sasl_scram, tls, mtls]\n",
        1,
    );
    assert_ne!(
        catalog,
        eddy_api::app::BUILTIN_CATALOG,
        "shared-small moved"
    );
    // The TLS listeners are exposed on node ports (localkube's node agent proxies them on
    // 127.0.0.1), so every client below connects as one outside the cluster's network would.
    let api = ApiServer::start_with(
        &kube.kubeconfig(),
        Some(&catalog),
        &["--external-listeners", "nodeport"],
    )
    .await?;
    let signup = api
        .call(
            Method::POST,
            "/v1/auth/signup",
            None,
            Some(
                json!({"email": "sec@example.com", "password": "correct horse battery",
                        "name": "Sec", "account_name": "Secure"}),
            ),
            &[],
        )
        .await?;
    assert_eq!(signup.status, StatusCode::CREATED, "{:?}", signup.body);
    let token = signup.body["access_token"].as_str().unwrap().to_string();
    let created = api
        .call(
            Method::POST,
            "/v1/clusters",
            Some(&token),
            Some(
                json!({"name": "secure", "plan_id": "shared-small", "deletion_protection": false}),
            ),
            &[],
        )
        .await?;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{:?}", created.body);
    let id = created.body["cluster"]["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    let op = api
        .finished_operation(&kube, &token, &created.body, Duration::from_secs(300))
        .await;
    eprintln!("MEASURE secure create → succeeded: {:?}", started.elapsed());
    assert_eq!(op["state"], "succeeded", "{op}\n{}", kube.logs());

    // A topic and a Kafka user through the API; the password is shown once.
    let t = api
        .call(
            Method::POST,
            &format!("/v1/clusters/{id}/topics"),
            Some(&token),
            Some(json!({"name": "payments", "partitions": 1})),
            &[],
        )
        .await?;
    assert_eq!(t.status, StatusCode::CREATED, "{:?}", t.body);
    let u = api
        .call(
            Method::POST,
            &format!("/v1/clusters/{id}/users"),
            Some(&token),
            Some(json!({"name": "alice"})),
            &[],
        )
        .await?;
    assert_eq!(u.status, StatusCode::CREATED, "{:?}", u.body);
    let password = u.body["password"].as_str().unwrap().to_string();
    let user_at = Instant::now();
    eventually(
        Duration::from_secs(180),
        "Kafka user alice Ready",
        || async {
            let r = api
                .get(&format!("/v1/clusters/{id}/users/alice"), &token)
                .await?;
            anyhow::ensure!(
                !r.body.to_string().contains(&password),
                "a read returned the password"
            );
            Ok((r.body["ready"] == true).then_some(()))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    eprintln!("MEASURE user create → Ready: {:?}", user_at.elapsed());

    // Connection details: SCRAM over TLS first, the CA, and snippets with placeholders only.
    let conn = api
        .get(&format!("/v1/clusters/{id}/connection?user=alice"), &token)
        .await?;
    assert_eq!(conn.status, StatusCode::OK, "{:?}", conn.body);
    assert_eq!(
        conn.body["security_protocol"], "SASL_SSL",
        "{:?}",
        conn.body
    );
    assert!(!conn.body.to_string().contains(&password));
    // The bootstrap address is the node's with a node port, not a pod's.
    let bootstrap = conn.body["listeners"][0]["bootstrap_servers"]
        .as_str()
        .context("bootstrap_servers")?
        .to_string();
    let node_port: u16 = bootstrap
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("not a node address: {bootstrap}"))?;
    assert!(node_port >= 30_000, "not a node port: {bootstrap}");
    let dir = tempfile::Builder::new()
        .prefix("api-sec-client-")
        .tempdir()?;
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, conn.body["ca_certificate"].as_str().context("CA")?)?;
    let snippet = conn.body["listeners"][0]["clients"]["librdkafka"]
        .as_str()
        .context("librdkafka snippet")?
        .replace(
            "ssl.ca.location=ca.crt",
            &format!("ssl.ca.location={}", ca.display()),
        );
    let good = dir.path().join("client.conf");
    std::fs::write(&good, snippet.replace("<password>", &password))?;
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, snippet.replace("<password>", "not-the-password"))?;
    let conf = |p: &Path| p.display().to_string();

    let topic_ready = eventually(Duration::from_secs(60), "KafkaTopic Ready", || async {
        let list = Api::<KafkaTopic>::namespaced(client.clone(), "eddy-clusters")
            .list(&ListParams::default())
            .await?;
        Ok(list
            .items
            .iter()
            .find(|t| t.spec.topic_name.as_deref() == Some("payments"))
            .and_then(|t| t.status.as_ref())
            .and_then(|s| find_condition(&s.conditions, "Ready"))
            .filter(|c| format!("{:?}", c.status) == "True")
            .map(|_| ()))
    })
    .await;
    topic_ready.with_context(|| kube.logs())?;
    let mut child = Command::new("kcat")
        .args(["-F", &conf(&good), "-t", "payments", "-P"])
        .stdin(Stdio::piped())
        .spawn()?;
    std::io::Write::write_all(&mut child.stdin.take().context("stdin")?, b"paid-1\n")?;
    anyhow::ensure!(
        child.wait()?.success(),
        "kcat produce with the API's config"
    );
    let consumed = run(
        Command::new("kcat").args([
            "-F",
            &conf(&good),
            "-t",
            "payments",
            "-C",
            "-o",
            "beginning",
            "-c",
            "1",
            "-e",
        ]),
        "kcat consume",
    )?;
    assert!(consumed.contains("paid-1"), "{consumed}");
    let refused = Command::new("kcat")
        .args(["-F", &conf(&bad), "-L", "-m", "10"])
        .output()?;
    assert!(
        !refused.status.success(),
        "a wrong password must not connect"
    );

    // A SCRAM-SHA-256 user through the API: the same listener takes it, the snippets name its
    // mechanism, and confluent-kafka produces and reads back with them.
    let b = api
        .call(
            Method::POST,
            &format!("/v1/clusters/{id}/users"),
            Some(&token),
            Some(json!({"name": "bob", "mechanism": "scram-sha-256"})),
            &[],
        )
        .await?;
    assert_eq!(b.status, StatusCode::CREATED, "{:?}", b.body);
    let bob_password = b.body["password"].as_str().unwrap().to_string();
    eventually(Duration::from_secs(180), "Kafka user bob Ready", || async {
        let r = api
            .get(&format!("/v1/clusters/{id}/users/bob"), &token)
            .await?;
        Ok((r.body["ready"] == true).then_some(()))
    })
    .await
    .with_context(|| kube.logs())?;
    let conn = api
        .get(&format!("/v1/clusters/{id}/connection?user=bob"), &token)
        .await?;
    assert_eq!(
        conn.body["sasl_mechanism"], "SCRAM-SHA-256",
        "{:?}",
        conn.body
    );
    let bob_conf = dir.path().join("bob.conf");
    std::fs::write(
        &bob_conf,
        conn.body["listeners"][0]["clients"]["librdkafka"]
            .as_str()
            .context("librdkafka snippet")?
            .replace(
                "ssl.ca.location=ca.crt",
                &format!("ssl.ca.location={}", ca.display()),
            )
            .replace("<password>", &bob_password),
    )?;
    let out = run(
        Command::new(stack::python())
            .args(["-c", ROUND_TRIP])
            .env("CONF", &bob_conf)
            .env("TOPIC", "payments"),
        "confluent-kafka as a SCRAM-SHA-256 user",
    )?;
    assert!(out.contains("bob-paid"), "{out}");

    // A certificate user: the create shows the certificate the operator issued, its key and the
    // CA chain; kcat reads through the mTLS listener with exactly the recommended snippet.
    let c = api
        .call(
            Method::POST,
            &format!("/v1/clusters/{id}/users"),
            Some(&token),
            Some(json!({"name": "carol", "mechanism": "tls", "acls": []})),
            &[],
        )
        .await?;
    assert_eq!(
        c.status,
        StatusCode::CREATED,
        "{:?}\n{}",
        c.body,
        kube.logs()
    );
    let bundle = &c.body["certificate"];
    let key = bundle["private_key"]
        .as_str()
        .context("private key shown once")?;
    std::fs::write(dir.path().join("user.key"), key)?;
    std::fs::write(
        dir.path().join("user.crt"),
        bundle["certificate"].as_str().context("certificate")?,
    )?;
    let read = api
        .get(
            &format!("/v1/clusters/{id}/users/carol/certificate"),
            &token,
        )
        .await?;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    assert_eq!(read.body["certificate"], bundle["certificate"]);
    assert!(!read.body.to_string().contains("PRIVATE KEY"));
    let conn = api
        .get(&format!("/v1/clusters/{id}/connection?user=carol"), &token)
        .await?;
    assert_eq!(conn.body["security_protocol"], "SSL", "{:?}", conn.body);
    let carol_conf = dir.path().join("carol.conf");
    std::fs::write(
        &carol_conf,
        conn.body["listeners"][0]["clients"]["librdkafka"]
            .as_str()
            .context("librdkafka snippet")?
            .replace(
                "ssl.ca.location=ca.crt",
                &format!("ssl.ca.location={}", ca.display()),
            )
            .replace(
                "=user.crt",
                &format!("={}", dir.path().join("user.crt").display()),
            )
            .replace(
                "=user.key",
                &format!("={}", dir.path().join("user.key").display()),
            ),
    )?;
    let consumed = eventually(
        Duration::from_secs(60),
        "kcat reads as the certificate user",
        || async {
            let out = Command::new("kcat")
                .args([
                    "-F",
                    &conf(&carol_conf),
                    "-t",
                    "payments",
                    "-C",
                    "-o",
                    "beginning",
                    "-c",
                    "1",
                    "-e",
                ])
                .output()?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            Ok((out.status.success() && text.contains("paid-1")).then_some(text))
        },
    )
    .await
    .with_context(|| kube.logs())?;
    assert!(consumed.contains("paid-1"), "{consumed}");

    // The plan's ingress quota (1 MiB/s, the user's quota) throttles a producer: throttle
    // events, and the rate the broker let through stays near the quota (an upper bound: a slow
    // machine only lowers it). The broker measures over 11 one-second windows, so about 11 MiB
    // pass before the first throttle; 40 MiB at full speed would take about a second
    // unthrottled on loopback, and about 30 s held to the quota.
    let quota = 1_048_576_f64;
    let out = run(
        Command::new(stack::python())
            .args(["-c", QUOTA_PRODUCER])
            .env("CONF", &good)
            .env("TOPIC", "payments")
            .env("TOTAL", (40 * 1_048_576).to_string()),
        "confluent-kafka quota producer",
    )?;
    let report: Value = serde_json::from_str(out.trim())?;
    eprintln!("MEASURE quota producer: {report}");
    assert_eq!(report["undelivered"], 0, "{report}");
    assert_eq!(report["errors"], json!([]), "{report}");
    assert!(
        report["throttle_events"].as_u64().unwrap_or(0) > 0,
        "the broker throttled the producer: {report}"
    );
    let rate = report["sent"].as_f64().unwrap_or(0.0) / report["seconds"].as_f64().unwrap_or(1.0);
    assert!(
        rate <= quota * 2.0,
        "{rate} B/s through a {quota} B/s quota: {report}"
    );
    Ok(())
}

/// The web console end to end: headless Chromium signs up, creates a cluster that the operator
/// provisions on the local Kubernetes and follows its operation to `succeeded`, creates and
/// edits a topic, kcat produces through the bootstrap address the page shows while a group
/// falls behind, and the plots the API samples from the real broker pod show non-zero
/// throughput and the group's lag; then an invoice, an API key and a billing manager.
#[tokio::test(flavor = "multi_thread")]
async fn the_console_drives_a_cluster_on_the_local_kubernetes() -> anyhow::Result<()> {
    let chromium = browser::chromium();
    browser::require_node_modules();
    build_pod_binaries()?;
    let kube = LocalKube::start("api-console-")?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    kube.install_chart(r#"{"operator": {"logFormat": "text", "leaseSeconds": 5}}"#)
        .await?;
    let api = ApiServer::start_with(
        &kube.kubeconfig(),
        Some(&plaintext_catalog()),
        &["--metrics-interval-secs", "2"],
    )
    .await?;
    let shots = std::env::var_os("EDDY_CONSOLE_SCREENSHOTS").map_or_else(
        || std::env::temp_dir().join("console-screenshots-kube"),
        std::path::PathBuf::from,
    );
    std::fs::create_dir_all(&shots)?;
    let url = format!("{}/", api.base);
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        browser::run_browser_script(
            &url,
            &chromium,
            &shots,
            &[
                ("EDDY_CONSOLE_KCAT", "1"),
                ("EDDY_CONSOLE_DEADLINE_MS", "540000"),
                ("EDDY_CONSOLE_OPERATION_TIMEOUT_MS", "240000"),
                ("EDDY_CONSOLE_PLOT_TIMEOUT_MS", "120000"),
            ],
        )
    })
    .await?;
    assert!(
        ok && out.contains("console checks passed"),
        "the browser script failed\n--- stdout\n{out}\n--- stderr\n{err}\n--- api log\n{}\n{}",
        api.log(),
        kube.logs()
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{out}");
    }
    Ok(())
}

/// The built-in catalog with the dedicated plans on an anonymous `plaintext` listener (and no
/// rack awareness: the local Kubernetes has one node), for the resize-down test.
fn plaintext_dedicated_catalog() -> String {
    let builtin = eddy_api::app::BUILTIN_CATALOG;
    let patched = builtin.replace(
        "features: [sasl_scram, tls, mtls, acls, sla_99_95, rack_awareness]\n",
        "features: [plaintext, sla_99_95]\n",
    );
    assert_ne!(patched, builtin, "the dedicated plans' features moved");
    patched
}

/// Through the API only: a `dedicated-2` cluster (5 brokers) with an RF=1 and an RF=3 topic
/// spread over all five is resized to `dedicated-1` (3 brokers) while an idempotent acks=all
/// producer writes to the RF=1 topic. The operation succeeds only after the operator drained
/// brokers 3 and 4 (its steps show the drain), no replica is left on them, and every record
/// acknowledged before and during the resize is read back exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_smaller_plan_drains_the_brokers_that_go_and_loses_nothing() -> anyhow::Result<()> {
    build_pod_binaries()?;
    let kube = LocalKube::start("api-resize-down-")?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube.client().await?;
    kube.install_chart(r#"{"operator": {"logFormat": "text", "leaseSeconds": 5}}"#)
        .await?;
    let api = ApiServer::start(&kube.kubeconfig(), Some(&plaintext_dedicated_catalog())).await?;
    let signup = api
        .call(
            Method::POST,
            "/v1/auth/signup",
            None,
            Some(
                json!({"email": "ops@example.com", "password": "correct horse battery",
                        "name": "Ops", "account_name": "Resize"}),
            ),
            &[],
        )
        .await?;
    assert_eq!(signup.status, StatusCode::CREATED, "{:?}", signup.body);
    let token = signup.body["access_token"].as_str().unwrap().to_string();
    let created = api
        .call(
            Method::POST,
            "/v1/clusters",
            Some(&token),
            Some(json!({"name": "big", "plan_id": "dedicated-2", "deletion_protection": false})),
            &[],
        )
        .await?;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{:?}", created.body);
    let id = created.body["cluster"]["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    let op = api
        .finished_operation(&kube, &token, &created.body, Duration::from_secs(420))
        .await;
    eprintln!("MEASURE create 5 brokers: {:?}", started.elapsed());
    assert_eq!(op["state"], "succeeded", "{op}");
    let conn = api
        .get(&format!("/v1/clusters/{id}/connection"), &token)
        .await?;
    let bootstrap = conn.body["bootstrap_servers"].as_str().unwrap().to_string();

    // Topics through the API, spread over all five brokers, with data.
    for (name, partitions, replicas) in [("single", 10, 1), ("triple", 5, 3)] {
        let t = api
            .call(
                Method::POST,
                &format!("/v1/clusters/{id}/topics"),
                Some(&token),
                Some(json!({"name": name, "partitions": partitions, "replicas": replicas})),
                &[],
            )
            .await?;
        assert_eq!(t.status, StatusCode::CREATED, "{:?}", t.body);
    }
    let mut holders = std::collections::BTreeSet::new();
    for topic in ["single", "triple"] {
        let v = eventually(Duration::from_secs(120), "topic created", || async {
            let v = common::kafka_tool(&["view", &bootstrap, topic])?;
            Ok(v["replicas"]
                .as_object()
                .is_some_and(|r| !r.is_empty())
                .then_some(v))
        })
        .await?;
        for r in v["replicas"].as_object().context("replicas")?.values() {
            holders.extend(common::ints(r));
        }
        let filled = common::kafka_tool(&["fill", &bootstrap, topic, "500"])?;
        assert_eq!(filled["acked"], 500, "{filled}");
    }
    assert_eq!(
        holders.into_iter().collect::<Vec<_>>(),
        [0, 1, 2, 3, 4],
        "data on every broker"
    );

    // The resize, under an idempotent acks=all producer.
    let dir = tempfile::tempdir()?;
    let producer = common::Producer::start_mode(
        "kafka_tool.py",
        "produce-idempotent",
        &[&bootstrap, "single"],
        dir.path(),
    )?;
    let r = api.get(&format!("/v1/clusters/{id}"), &token).await?;
    let etag = r.etag.clone().context("ETag")?;
    let resized = api
        .if_match(
            Method::POST,
            &format!("/v1/clusters/{id}/resize"),
            &token,
            Some(json!({"plan_id": "dedicated-1"})),
            &etag,
        )
        .await?;
    assert_eq!(resized.status, StatusCode::ACCEPTED, "{:?}", resized.body);
    let started = Instant::now();
    let op = api
        .finished_operation(&kube, &token, &resized.body, Duration::from_secs(900))
        .await;
    eprintln!("MEASURE resize 5 → 3 brokers: {:?}", started.elapsed());
    let steps: Vec<&str> = op["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    eprintln!("resize steps: {steps:?}");
    assert_eq!(op["state"], "succeeded", "{op}");
    assert!(
        steps.contains(&"draining brokers [3, 4]: moving their replicas off"),
        "{steps:?}"
    );
    assert_eq!(steps.last(), Some(&"ready"), "{steps:?}");

    // Three brokers, nothing left on 3 and 4, nothing lost, nothing twice.
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), "eddy-clusters");
    let k = clusters.list(&ListParams::default()).await?.items;
    assert_eq!(k.len(), 1);
    assert_eq!(k[0].spec.brokers, 3);
    let pods = Api::<Pod>::namespaced(client.clone(), "eddy-clusters")
        .list(&ListParams::default())
        .await?;
    assert_eq!(pods.items.len(), 3, "{:?}", pods.items.len());
    let conn = api
        .get(&format!("/v1/clusters/{id}/connection"), &token)
        .await?;
    let bootstrap = conn.body["bootstrap_servers"].as_str().unwrap().to_string();
    for topic in ["single", "triple"] {
        let v = common::kafka_tool(&["view", &bootstrap, topic])?;
        for r in v["replicas"].as_object().context("replicas")?.values() {
            assert!(common::ints(r).iter().all(|b| *b < 3), "{topic}: {v}");
        }
    }
    let (produced, acked) = producer.finish()?;
    eprintln!(
        "producer during the resize: sent {} acked {} failed {}",
        produced["sent"],
        acked.len(),
        produced["nfailed"]
    );
    assert!(acked.len() > 50, "the producer made progress: {produced}");
    for (topic, expected) in [("single", acked.clone()), ("triple", Vec::new())] {
        let read = common::strings(&common::kafka_tool(&["consume", &bootstrap, topic])?["values"]);
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for v in &read {
            *counts.entry(v.as_str()).or_default() += 1;
        }
        let filled = (0..500).map(|i| format!("{topic}-{i}"));
        let lost: Vec<String> = filled
            .chain(expected)
            .filter(|v| !counts.contains_key(v.as_str()))
            .take(5)
            .collect();
        assert!(lost.is_empty(), "{topic}: lost {lost:?}");
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(5).collect();
        assert!(twice.is_empty(), "{topic}: read more than once {twice:?}");
    }
    Ok(())
}
