//! Reconcile tests against a mocked API server (tower-test's `mock::pair` behind a kube
//! `Client`, as in kube-rs/controller-rs) and, where the plan asks the brokers, fake admin APIs
//! on loopback. They pin the ordering rules the end-to-end test otherwise sees alone.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::{Request, Response, StatusCode};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::build::PdbApi;
use super::build::fixtures::ClusterFixture;
use super::reconcile;
use crate::context::Context;
use crate::crd::{KafkaCluster, KafkaClusterStatus, QuorumStatus};
use crate::metrics::Metrics;

/// Everything both fakes saw, in order: `api METHOD path` and `broker METHOD path body`.
type Log = Arc<Mutex<Vec<String>>>;

/// The cluster's world as the mocked API server serves it.
#[derive(Clone, Default)]
struct World {
    cluster: Option<KafkaCluster>,
    stateful_set: Option<Value>,
    pods: Vec<Value>,
}

/// A request the API server answered: method, path and JSON body.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    body: Value,
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
           "code": 404, "message": "not found"})
}

fn list(kind: &str, items: &[Value]) -> Value {
    json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items})
}

/// Serves requests until the client is dropped (bounded), answering from `world`, echoing
/// applied objects, and logging each request.
async fn api_server(
    mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    world: World,
    log: Log,
) -> Vec<Seen> {
    let mut seen = Vec::new();
    for _ in 0..200 {
        let Some((request, send)) = handle.next_request().await else {
            break;
        };
        let method = request.method().to_string();
        let path = request.uri().path().to_string();
        let bytes = request.into_body().collect_bytes().await.expect("body");
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        log.lock()
            .expect("log")
            .push(format!("api {method} {path}"));
        let cluster = serde_json::to_value(world.cluster.as_ref().expect("cluster")).expect("json");
        let (status, answer) = match (method.as_str(), path.as_str()) {
            ("GET", p) if p.contains("/statefulsets/") => match &world.stateful_set {
                Some(s) => (StatusCode::OK, s.clone()),
                None => (StatusCode::NOT_FOUND, not_found()),
            },
            ("GET", p) if p.ends_with("/persistentvolumeclaims") => {
                (StatusCode::OK, list("PersistentVolumeClaimList", &[]))
            }
            ("GET", p) if p.ends_with("/pods") => (StatusCode::OK, list("PodList", &world.pods)),
            ("GET", p) if p.ends_with("/kafkarebalances") => {
                (StatusCode::OK, list("KafkaRebalanceList", &[]))
            }
            ("GET", p) if p.ends_with("/services") => (StatusCode::OK, list("ServiceList", &[])),
            (_, p) if p.contains("/kafkaclusters/") => (StatusCode::OK, cluster),
            ("DELETE", p) if p.contains("/pods/") => (
                StatusCode::OK,
                json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "deleted"}}),
            ),
            // Server-side applies and Events: the object as sent.
            ("PATCH" | "POST", _) => (StatusCode::OK, body.clone()),
            _ => (StatusCode::NOT_FOUND, not_found()),
        };
        let response = Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(&answer).expect("json")))
            .expect("response");
        send.send_response(response);
        seen.push(Seen { method, path, body });
    }
    seen
}

/// A broker's admin API on `ip:9600`: the quorum `voters`, the active controller 0, restart
/// probes that pass, and `put_answers` in turn to voter changes.
async fn fake_broker(ip: &str, voters: Vec<i32>, put_answers: Vec<u16>, log: Log) {
    let listener = tokio::net::TcpListener::bind((ip, 9600u16))
        .await
        .expect("bind fake broker");
    tokio::spawn(async move {
        let mut answers = put_answers.into_iter();
        for _ in 0..50 {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 8192];
            let mut len = 0;
            while len < buf.len() {
                let n = s.read(&mut buf[len..]).await.unwrap_or(0);
                len += n;
                let text = String::from_utf8_lossy(&buf[..len]).to_string();
                let complete =
                    text.contains("\r\n\r\n") && (!text.starts_with("PUT") || text.ends_with('}'));
                if n == 0 || complete {
                    break;
                }
            }
            let req = String::from_utf8_lossy(&buf[..len]).to_string();
            let line = req.lines().next().unwrap_or_default().to_string();
            let mut parts = line.split(' ');
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let body = req.split("\r\n\r\n").nth(1).unwrap_or_default();
            log.lock().expect("log").push(
                format!("broker {method} {path} {body}")
                    .trim_end()
                    .to_string(),
            );
            let (status, answer) = match (method, path) {
                ("GET", "/v1/cluster/quorum") => (
                    200,
                    json!({"leader": 0, "voters": voters, "learners": [], "nodes": {}}).to_string(),
                ),
                ("PUT", "/v1/cluster/voters") => (answers.next().unwrap_or(500), String::new()),
                ("GET", "/v1/cluster/health") => (200, json!({"controller_id": 0}).to_string()),
                ("GET", "/v1/broker/pre-restart-probe") => {
                    (200, json!({"state": "running", "safe": true}).to_string())
                }
                ("GET", "/v1/broker/post-restart-probe") => (
                    200,
                    json!({"state": "running", "caught_up": true}).to_string(),
                ),
                _ => (404, String::new()),
            };
            let resp = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
}

fn stateful_set(replicas: i32, update_revision: &str) -> Value {
    let sts = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "orders-broker", "namespace": "kafka"},
        "spec": {"replicas": replicas, "serviceName": "orders-brokers",
                 "selector": {"matchLabels": {"eddy.io/cluster": "orders"}},
                 "template": {"spec": {"containers": []}}},
        "status": {"replicas": replicas, "updateRevision": update_revision}
    });
    serde_json::from_value::<StatefulSet>(sts.clone()).expect("a StatefulSet");
    sts
}

fn pod(ordinal: i32, ip: &str, ready: bool, revision: &str) -> Value {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("orders-broker-{ordinal}"), "namespace": "kafka",
                     "uid": format!("uid-{ordinal}"),
                     "labels": {"eddy.io/cluster": "orders", "controller-revision-hash": revision}},
        "spec": {"containers": [{"name": "broker", "image": "x"}]},
        "status": {"podIP": ip, "conditions": [{"type": "Ready",
                   "status": if ready { "True" } else { "False" }}]}
    });
    serde_json::from_value::<Pod>(pod.clone()).expect("a Pod");
    pod
}

/// Runs one reconcile of `world.cluster` against the fakes.
async fn run(world: World, log: &Log) -> (Action, Vec<Seen>) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "kafka");
    let server = tokio::spawn(api_server(handle, world.clone(), log.clone()));
    let ctx = Arc::new(Context {
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "eddy-operator".into(),
                instance: None,
            },
        ),
        client,
        pdb_api: PdbApi::V1,
        metrics: Metrics::new().expect("metrics"),
    });
    let cluster = Arc::new(world.cluster.expect("cluster"));
    let action = tokio::time::timeout(Duration::from_secs(30), reconcile(cluster, ctx))
        .await
        .expect("reconcile within 30 s")
        .expect("reconcile");
    let seen = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops with the client")
        .expect("server");
    (action, seen)
}

/// `METHOD resource[/subresource]` of a namespaced request.
fn label(seen: &Seen) -> String {
    let segments: Vec<&str> = seen.path.split('/').filter(|s| !s.is_empty()).collect();
    let at = segments
        .iter()
        .position(|s| *s == "namespaces")
        .map_or(0, |i| i + 2);
    let resource = segments.get(at).copied().unwrap_or_default();
    match segments.get(at + 2) {
        Some(sub) => format!("{} {resource}/{sub}", seen.method),
        None => format!("{} {resource}", seen.method),
    }
}

fn position(log: &Log, prefix: &str) -> Option<usize> {
    log.lock()
        .expect("log")
        .iter()
        .position(|l| l.starts_with(prefix))
}

fn status_patch(seen: &[Seen]) -> KafkaClusterStatus {
    let patch = seen
        .iter()
        .find(|s| s.method == "PATCH" && s.path.ends_with("/kafkaclusters/orders/status"))
        .expect("a status patch");
    serde_json::from_value(patch.body["status"].clone()).expect("a status")
}

fn condition(status: &KafkaClusterStatus, type_: &str) -> (String, String) {
    let c = crate::crd::find_condition(&status.conditions, type_).expect("condition");
    (format!("{:?}", c.status), c.reason.clone())
}

fn with_quorum(mut fx: ClusterFixture, initial: &[i32], voters: &[i32]) -> ClusterFixture {
    fx.0.status = Some(KafkaClusterStatus {
        observed_generation: Some(1),
        quorum: Some(QuorumStatus {
            initial_voters: initial.to_vec(),
            voters: Some(voters.to_vec()),
            ..QuorumStatus::default()
        }),
        ..KafkaClusterStatus::default()
    });
    fx
}

#[tokio::test]
async fn a_new_cluster_is_fetched_then_applied_in_dependency_order_then_reported() {
    let log = Log::default();
    let world = World {
        cluster: Some(ClusterFixture::new("orders", 3).0),
        ..World::default()
    };
    let (action, seen) = run(world, &log).await;
    let order: Vec<String> = seen.iter().map(label).collect();
    assert_eq!(
        order,
        [
            "GET statefulsets",
            "GET persistentvolumeclaims",
            "GET pods",
            "GET kafkaclusters",
            // External (NodePort/LoadBalancer) Services first, then pruning those no longer
            // desired (none here): their addresses go into certificates and the config.
            "GET services",
            "PATCH serviceaccounts",
            "PATCH configmaps",
            "PATCH services",
            "PATCH services",
            "PATCH statefulsets",
            "PATCH poddisruptionbudgets",
            "POST events",
            "PATCH kafkaclusters/status",
        ],
        "{seen:#?}"
    );
    let sts = seen
        .iter()
        .find(|s| s.method == "PATCH" && s.path.contains("/statefulsets/"))
        .expect("sts");
    assert_eq!(sts.body["spec"]["replicas"], 3);
    let status = status_patch(&seen);
    assert_eq!(
        condition(&status, "Ready"),
        ("False".into(), "BrokersStarting".into())
    );
    let quorum = status.quorum.expect("quorum");
    assert_eq!(quorum.initial_voters, vec![0, 1, 2]);
    assert_eq!(quorum.desired_voters, vec![0, 1, 2]);
    assert_eq!(action, Action::requeue(Duration::from_secs(5)));
}

#[tokio::test]
async fn an_invalid_spec_sets_a_condition_and_applies_nothing() {
    let log = Log::default();
    // Port 9091 is reserved for secure clusters' replication listener.
    let fx = ClusterFixture::new("orders", 3).with(|s| s.listeners[0].port = 9091);
    let world = World {
        cluster: Some(fx.0),
        ..World::default()
    };
    let (action, seen) = run(world, &log).await;
    assert!(
        seen.iter().all(|s| s.method == "GET"
            || s.path.ends_with("/events")
            || s.path.ends_with("/kafkaclusters/orders/status")),
        "{seen:#?}"
    );
    let status = status_patch(&seen);
    assert_eq!(
        condition(&status, "Ready"),
        ("False".into(), "InvalidSpec".into())
    );
    assert_eq!(status.observed_generation, Some(1));
    assert!(
        seen.iter().any(|s| s.body["reason"] == "InvalidSpec"),
        "an InvalidSpec event"
    );
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_spec_change_rolls_one_broker_after_recording_it() {
    let log = Log::default();
    let ip = "127.77.2.1";
    fake_broker(ip, vec![0, 1, 2], vec![], log.clone()).await;
    let mut world = World {
        cluster: Some(with_quorum(ClusterFixture::new("orders", 3), &[0, 1, 2], &[0, 1, 2]).0),
        stateful_set: Some(stateful_set(3, "rev-2")),
        ..World::default()
    };
    // Every pod runs the old revision; broker 0 is the active controller, so it goes last.
    world.pods = (0..3).map(|i| pod(i, ip, true, "rev-1")).collect();
    let (action, seen) = run(world, &log).await;
    let status = status_patch(&seen);
    let restart = status
        .rolling_restart
        .clone()
        .expect("a rolling restart in status");
    assert_eq!(
        restart.current.as_ref().map(|c| c.broker_id),
        Some(1),
        "{restart:?}"
    );
    let (reconciling, _) = condition(&status, "Reconciling");
    assert_eq!(reconciling, "True");
    // The restart state is stored before the pod goes; the objects were applied first.
    let sts = position(
        &log,
        "api PATCH /apis/apps/v1/namespaces/kafka/statefulsets/",
    )
    .expect("sts");
    let status_at = log
        .lock()
        .expect("log")
        .iter()
        .position(|l| l.starts_with("api PATCH") && l.ends_with("/kafkaclusters/orders/status"))
        .expect("status patch");
    let delete = position(
        &log,
        "api DELETE /api/v1/namespaces/kafka/pods/orders-broker-1",
    )
    .expect("broker 1's pod deleted");
    assert!(
        sts < status_at && status_at < delete,
        "{:#?}",
        log.lock().expect("log")
    );
    // A roll under way: no voter change, and the next reconcile comes soon.
    assert!(position(&log, "broker PUT").is_none());
    assert_eq!(action, Action::requeue(Duration::from_secs(2)));
}

#[tokio::test]
async fn a_scale_up_adds_voters_only_once_every_broker_is_ready() {
    let log = Log::default();
    let ip = "127.77.2.2";
    fake_broker(ip, vec![0], vec![200], log.clone()).await;
    let fx = with_quorum(ClusterFixture::new("orders", 3), &[0], &[0]);
    // The StatefulSet grew; broker 2 still starts: the voters stay.
    let mut world = World {
        cluster: Some(fx.0.clone()),
        stateful_set: Some(stateful_set(3, "rev-1")),
        pods: vec![
            pod(0, ip, true, "rev-1"),
            pod(1, ip, true, "rev-1"),
            pod(2, ip, false, "rev-1"),
        ],
    };
    let (action, seen) = run(world.clone(), &log).await;
    assert!(
        position(&log, "broker PUT").is_none(),
        "{:#?}",
        log.lock().expect("log")
    );
    assert_eq!(
        condition(&status_patch(&seen), "Ready").1,
        "BrokersStarting"
    );
    assert_eq!(action, Action::requeue(Duration::from_secs(5)));
    // Every broker ready: after the objects are applied, the voters become the first three.
    world.pods[2] = pod(2, ip, true, "rev-1");
    log.lock().expect("log").clear();
    let (_, seen) = run(world, &log).await;
    let sts = position(
        &log,
        "api PATCH /apis/apps/v1/namespaces/kafka/statefulsets/",
    )
    .expect("sts");
    let put = position(&log, "broker PUT /v1/cluster/voters").expect("a voter change");
    assert!(sts < put, "{:#?}", log.lock().expect("log"));
    let line = log.lock().expect("log")[put].clone();
    assert!(line.ends_with(r#"{"voters":[0,1,2]}"#), "{line}");
    let quorum = status_patch(&seen).quorum.expect("quorum");
    assert_eq!(
        quorum.initial_voters,
        vec![0],
        "the pod template keeps its voters"
    );
    assert!(quorum.message.is_some_and(|m| m.contains("voters changed")));
}

/// The drain, voter move and unregistering of a scale-down run against real brokers in the
/// end-to-end test (`operator/tests/e2e_scale.rs`); here: brokers that cannot be asked (no Kafka
/// listener answers) keep every broker and every voter, and the status says why.
#[tokio::test]
async fn a_shrink_keeps_every_broker_and_voter_until_the_drain_is_confirmed() {
    let log = Log::default();
    let ip = "127.77.2.3";
    fake_broker(ip, vec![0, 1, 2], vec![200], log.clone()).await;
    let fx = with_quorum(ClusterFixture::new("orders", 1), &[0, 1, 2], &[0, 1, 2]);
    let world = World {
        cluster: Some(fx.0),
        stateful_set: Some(stateful_set(3, "rev-1")),
        pods: (0..3).map(|i| pod(i, ip, true, "rev-1")).collect(),
    };
    let (action, seen) = run(world, &log).await;
    assert!(
        position(&log, "broker PUT").is_none(),
        "no voter change before the drain: {:#?}",
        log.lock().expect("log")
    );
    let applied = seen
        .iter()
        .find(|s| s.method == "PATCH" && s.path.contains("/statefulsets/"))
        .expect("sts");
    assert_eq!(applied.body["spec"]["replicas"], 3);
    let status = status_patch(&seen);
    let (_, reason) = condition(&status, "Reconciling");
    assert_eq!(reason, "ScalingDown");
    let sd = status.scale_down.expect("scaleDown status");
    assert_eq!(sd.brokers, vec![1, 2]);
    assert!(
        sd.message
            .is_some_and(|m| m.contains("cannot reach the brokers")),
    );
    assert_eq!(action, Action::requeue(Duration::from_secs(5)));
}

#[tokio::test]
async fn a_new_secure_cluster_gets_its_secrets_before_the_pods_that_mount_them() {
    let log = Log::default();
    let fx = ClusterFixture::new("orders", 3).with(|s| {
        s.listeners[0].tls = true;
        s.listeners[0].authentication = crate::crd::AuthenticationType::ScramSha512;
    });
    let world = World {
        cluster: Some(fx.0),
        ..World::default()
    };
    let (_, seen) = run(world, &log).await;
    let order: Vec<String> = seen.iter().map(label).collect();
    let at = |what: &str| order.iter().position(|l| l == what).expect(what);
    // Every operator-owned Secret is read (none exists yet), then applied before the StatefulSet.
    assert_eq!(
        order.iter().filter(|l| *l == "GET secrets").count(),
        6,
        "{order:?}"
    );
    let applied: Vec<&str> = seen
        .iter()
        .filter(|s| s.method == "PATCH" && s.path.contains("/secrets/"))
        .map(|s| s.path.rsplit('/').next().unwrap_or_default())
        .collect();
    assert_eq!(
        applied,
        [
            "orders-cluster-ca",
            "orders-clients-ca",
            "orders-cluster-ca-cert",
            "orders-clients-ca-cert",
            "orders-internal-users",
            "orders-broker-certs"
        ]
    );
    let last_secret = order
        .iter()
        .rposition(|l| l == "PATCH secrets")
        .expect("secrets");
    assert!(last_secret < at("PATCH statefulsets"), "{order:?}");
    let passwords: Vec<String> = seen
        .iter()
        .find(|s| s.method == "PATCH" && s.path.ends_with("/secrets/orders-internal-users"))
        .and_then(|s| s.body["data"].as_object().cloned())
        .expect("internal users")
        .values()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert_eq!(passwords.len(), 2);
    for s in seen
        .iter()
        .filter(|s| s.path.contains("/statefulsets/") || s.path.contains("/configmaps/"))
    {
        let text = s.body.to_string();
        for p in &passwords {
            // Secret data is base64 on the wire; neither form may leak into the pod spec.
            let plain = base64_decode(p);
            assert!(
                !text.contains(p.as_str()) && !text.contains(&plain),
                "{}",
                s.path
            );
        }
    }
    assert!(
        seen.iter().any(|s| s.body["reason"] == "CertificatesIssued"
            && s.body["note"]
                .as_str()
                .is_some_and(|n| n.contains("orders-broker-2: new broker"))),
        "a CertificatesIssued event naming each broker"
    );
    let status = status_patch(&seen);
    let certs = status.certificates.expect("status.certificates");
    assert!(certs.cluster_ca_not_after.is_some() && certs.clients_ca_not_after.is_some());
    // No pod has an IP yet: no listener is listed (an empty bootstrapServers is refused by the
    // API server, and would fail this whole status write).
    assert!(status.listeners.is_empty(), "{:?}", status.listeners);
}

fn base64_decode(s: &str) -> String {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64");
    String::from_utf8(bytes).expect("utf8")
}
