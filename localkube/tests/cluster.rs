//! End-to-end tests of the local Kubernetes: real etcd, kube-apiserver and kube-controller-manager
//! with the node agent running pods as processes (the fixture program, and the real broker).

mod common;

use common::{Env, condition, eventually, http_get, ready_pod};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Pod, Service};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::Duration;

const UP: Duration = Duration::from_secs(90);

fn pod_ip(p: &Pod) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

fn ready_since(p: &Pod) -> Option<k8s_openapi::jiff::Timestamp> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
}

async fn create<K>(api: &Api<K>, v: serde_json::Value) -> anyhow::Result<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(v)?;
    Ok(api.create(&PostParams::default(), &obj).await?)
}

fn headless(name: &str, port: u16) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"clusterIP": "None", "selector": {"app": name}, "ports": [{"name": "http", "port": port}]}})
}

fn pod_ip_env() -> serde_json::Value {
    json!([
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}
    ])
}

async fn endpoint_ips(
    api: &Api<Endpoints>,
    name: &str,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let ep = api.get(name).await?;
    let mut ready = Vec::new();
    let mut unready = Vec::new();
    for s in ep.subsets.into_iter().flatten() {
        ready.extend(s.addresses.into_iter().flatten().map(|a| a.ip));
        unready.extend(s.not_ready_addresses.into_iter().flatten().map(|a| a.ip));
    }
    ready.sort();
    unready.sort();
    Ok((ready, unready))
}

#[tokio::test]
async fn statefulset_starts_in_order_and_a_deleted_pod_keeps_its_data() -> anyhow::Result<()> {
    let env = Env::start().await?;
    eprintln!(
        "environment up (control plane + Node Ready) in {:?}",
        env.startup
    );
    let ns = "default";
    create(
        &Api::<Service>::namespaced(env.client.clone(), ns),
        headless("fx", 8080),
    )
    .await?;
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "fx"},
        "spec": {"serviceName": "fx", "replicas": 3, "selector": {"matchLabels": {"app": "fx"}},
          "template": {"metadata": {"labels": {"app": "fx"}}, "spec": {
            "terminationGracePeriodSeconds": 5,
            "containers": [{"name": "fx", "image": "eddy/fixture:1",
              "args": ["--data-dir", "/var/lib/fx/data"], "env": pod_ip_env(),
              "ports": [{"name": "http", "containerPort": 8080}],
              "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 1},
              "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 2},
              "volumeMounts": [{"name": "data", "mountPath": "/var/lib/fx"}]}]}},
          "volumeClaimTemplates": [{"metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}});
    let started = std::time::Instant::now();
    create(&Api::<StatefulSet>::namespaced(env.client.clone(), ns), sts).await?;
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), ns);
    let mut ready = Vec::new();
    for i in 0..3 {
        ready.push(ready_pod(&pods, &format!("fx-{i}"), UP).await?);
    }
    eprintln!(
        "3 StatefulSet pods Ready in {:?} (create → fx-2 Ready)",
        started.elapsed()
    );
    // OrderedReady: pod i+1 is created only once pod i is Ready.
    for w in ready.windows(2) {
        let prev_ready = ready_since(&w[0]).expect("ready pod has a Ready transition time");
        let next_created = w[1]
            .metadata
            .creation_timestamp
            .as_ref()
            .expect("created")
            .0;
        assert!(
            next_created
                >= prev_ready.checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(1))?,
            "pods started out of order"
        );
    }
    // Each pod has its own loopback IP, reports it, serves on it, and got its downward-API env.
    let mut ips: Vec<String> = ready.iter().map(pod_ip).collect();
    for (i, ip) in ips.iter().enumerate() {
        assert!(
            ip.starts_with(&format!("{}.", env.pod_net())),
            "pod ip {ip}"
        );
        assert_eq!(
            http_get(&format!("{ip}:8080"), "/env/POD_NAME").await?,
            format!("fx-{i}")
        );
        assert_eq!(http_get(&format!("{ip}:8080"), "/env/POD_IP").await?, *ip);
        assert_eq!(http_get(&format!("{ip}:8080"), "/boots").await?, "1");
    }
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 3, "distinct pod IPs");
    let eps: Api<Endpoints> = Api::namespaced(env.client.clone(), ns);
    eventually(UP, "three ready endpoints", || async {
        let (r, _) = endpoint_ips(&eps, "fx").await?;
        Ok((r == ips).then_some(()))
    })
    .await?;
    // PVCs are Bound to provisioned volumes.
    let pvcs: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        Api::namespaced(env.client.clone(), ns);
    for p in pvcs.list(&ListParams::default()).await? {
        assert_eq!(p.status.and_then(|s| s.phase).as_deref(), Some("Bound"));
    }
    // A deleted pod comes back (new UID) with the same data directory.
    let old_uid = ready[1].metadata.uid.clone();
    pods.delete("fx-1", &DeleteParams::default()).await?;
    let back = eventually(UP, "fx-1 replaced and Ready", || async {
        Ok(pods
            .get_opt("fx-1")
            .await?
            .filter(|p| p.metadata.uid != old_uid && condition(p, "Ready")))
    })
    .await?;
    assert_eq!(
        http_get(&format!("{}:8080", pod_ip(&back)), "/boots").await?,
        "2",
        "data dir survived"
    );
    Ok(())
}

#[tokio::test]
async fn crashing_container_restarts_with_backoff_and_liveness_kills() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), "default");
    create(&pods, json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crashy"},
        "spec": {"containers": [{"name": "c", "image": "eddy/fixture:1",
          "args": ["--crash-after-ms", "200", "--listen", "$(POD_IP):8080"], "env": pod_ip_env()}]}}))
    .await?;
    create(&pods, json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dead"},
        "spec": {"containers": [{"name": "c", "image": "eddy/fixture:1",
          "args": ["--listen", "$(POD_IP):8080"], "env": pod_ip_env(),
          "livenessProbe": {"httpGet": {"path": "/nope", "port": 8080}, "periodSeconds": 1, "failureThreshold": 2}}]}}))
    .await?;
    // The backoff doubles per crash: the agent's message names each delay (base 1 s in tests).
    let seen = std::sync::Mutex::new(std::collections::BTreeSet::new());
    eventually(Duration::from_secs(120), "back-off 1s, 2s and 4s", || {
        let pods = pods.clone();
        let seen = &seen;
        async move {
            let p = pods.get("crashy").await?;
            let cs = p
                .status
                .and_then(|s| s.container_statuses)
                .unwrap_or_default();
            if let Some(msg) = cs
                .first()
                .and_then(|c| c.state.as_ref()?.waiting.as_ref()?.message.clone())
                && let Some(d) = msg
                    .strip_prefix("back-off ")
                    .and_then(|m| m.split_whitespace().next())
            {
                seen.lock().expect("lock").insert(d.to_owned());
            }
            let seen = seen.lock().expect("lock");
            Ok(["1s", "2s", "4s"]
                .iter()
                .all(|d| seen.contains(*d))
                .then_some(()))
        }
    })
    .await?;
    let p = pods.get("crashy").await?;
    let c = &p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default()[0];
    assert!(c.restart_count >= 3, "restart count {}", c.restart_count);
    let last = c
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .expect("last state terminated");
    assert_eq!(last.exit_code, 3);
    // Container logs through the API server (kubelet API), for the previous run too.
    let previous = kube::api::LogParams {
        previous: true,
        ..Default::default()
    };
    let log = pods.logs("crashy", &previous).await?;
    assert!(log.contains("crashing on purpose"), "{log}");
    assert_eq!(p.status.and_then(|s| s.phase).as_deref(), Some("Running"));
    // The liveness probe kills and restarts the other pod.
    let restarted = eventually(Duration::from_secs(60), "liveness restart", || async {
        let p = pods.get("dead").await?;
        let cs = p
            .status
            .and_then(|s| s.container_statuses)
            .unwrap_or_default();
        Ok(cs.into_iter().find(|c| c.restart_count >= 1))
    })
    .await?;
    let msg = restarted
        .last_state
        .and_then(|s| s.terminated)
        .and_then(|t| t.message)
        .unwrap_or_default();
    assert!(msg.contains("Liveness probe failed"), "{msg}");
    Ok(())
}

#[tokio::test]
async fn deployment_with_failing_readiness_stays_out_of_endpoints() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let ns = "default";
    let flag = env.dir.path().join("unready");
    create(
        &Api::<Service>::namespaced(env.client.clone(), ns),
        headless("web", 8080),
    )
    .await?;
    let deploy = |name: &str, args: serde_json::Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web", "d": name}},
              "template": {"metadata": {"labels": {"app": "web", "d": name}}, "spec": {
                "terminationGracePeriodSeconds": 3,
                "containers": [{"name": "web", "image": "eddy/fixture:1", "args": args, "env": pod_ip_env(),
                  "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 1, "failureThreshold": 1}}]}}}})
    };
    let deployments: Api<Deployment> = Api::namespaced(env.client.clone(), ns);
    create(
        &deployments,
        deploy(
            "good",
            json!(["--unready-if-exists", flag.display().to_string()]),
        ),
    )
    .await?;
    create(&deployments, deploy("bad", json!(["--never-ready"]))).await?;
    eventually(UP, "deployment good available", || async {
        let d = deployments.get("good").await?;
        Ok((d.status.and_then(|s| s.available_replicas) == Some(2)).then_some(()))
    })
    .await?;
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), ns);
    let eps: Api<Endpoints> = Api::namespaced(env.client.clone(), ns);
    let ips = |sel: &'static str| {
        let pods = pods.clone();
        async move {
            let mut v: Vec<String> = pods
                .list(&ListParams::default().labels(sel))
                .await?
                .iter()
                .map(pod_ip)
                .collect();
            v.sort();
            anyhow::Ok(v)
        }
    };
    let (good, bad) = (ips("d=good").await?, ips("d=bad").await?);
    eventually(
        UP,
        "good pods ready, bad pods not ready in endpoints",
        || async {
            let (r, u) = endpoint_ips(&eps, "web").await?;
            Ok((r == good && u == bad && bad.len() == 2).then_some(()))
        },
    )
    .await?;
    for p in pods.list(&ListParams::default().labels("d=bad")).await? {
        assert!(!condition(&p, "Ready"), "a never-ready pod is not Ready");
        assert_eq!(p.status.and_then(|s| s.phase).as_deref(), Some("Running"));
    }
    // Readiness turning bad takes a running pod out of the endpoints, and back in when it recovers.
    std::fs::write(&flag, b"")?;
    eventually(UP, "good pods unready", || async {
        let (r, u) = endpoint_ips(&eps, "web").await?;
        Ok((r.is_empty() && u.len() == 4).then_some(()))
    })
    .await?;
    std::fs::remove_file(&flag)?;
    eventually(UP, "good pods ready again", || async {
        let (r, _) = endpoint_ips(&eps, "web").await?;
        Ok((r == good).then_some(()))
    })
    .await?;
    // Scaling the deployment down stops the pod's process.
    deployments
        .patch(
            "good",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await?;
    eventually(UP, "one good pod left", || async {
        Ok((pods
            .list(&ListParams::default().labels("d=good"))
            .await?
            .items
            .len()
            == 1)
            .then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn volumes_env_and_grace_period() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let ns = "default";
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), ns);
    create(
        &cms,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"},
        "data": {"server.properties": "num.partitions=1\n", "mode": "a"}}),
    )
    .await?;
    create(&Api::<k8s_openapi::api::core::v1::Secret>::namespaced(env.client.clone(), ns),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": {"password": "s3cret"}}))
    .await?;
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), ns);
    let mut env_vars = pod_ip_env();
    env_vars.as_array_mut().expect("array").extend([
        json!({"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "conf", "key": "mode"}}}),
        json!({"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}),
        json!({"name": "LISTEN", "value": "$(POD_IP):8080"}),
    ]);
    create(&pods, json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "cfg"},
        "spec": {"containers": [{"name": "c", "image": "eddy/fixture:1", "args": ["--listen", "$(LISTEN)"], "env": env_vars,
          "readinessProbe": {"exec": {"command": ["test", "-f", "/etc/eddy/server.properties"]}, "periodSeconds": 1},
          "volumeMounts": [{"name": "conf", "mountPath": "/etc/eddy"}, {"name": "creds", "mountPath": "/etc/creds"}]}],
          "volumes": [{"name": "conf", "configMap": {"name": "conf"}}, {"name": "creds", "secret": {"secretName": "creds"}}]}}))
    .await?;
    let p = ready_pod(&pods, "cfg", UP).await?;
    let addr = format!("{}:8080", pod_ip(&p));
    assert_eq!(http_get(&addr, "/env/MODE").await?, "a");
    assert_eq!(http_get(&addr, "/env/PASSWORD").await?, "s3cret");
    assert_eq!(http_get(&addr, "/env/POD_NAMESPACE").await?, "default");
    assert_eq!(
        http_get(&addr, "/file?path=/etc/eddy/server.properties").await?,
        "num.partitions=1\n"
    );
    assert_eq!(
        http_get(&addr, "/file?path=/etc/creds/password").await?,
        "s3cret"
    );
    // In-cluster configuration: the service-account token and the API server address.
    let token = http_get(
        &addr,
        "/file?path=/var/run/secrets/kubernetes.io/serviceaccount/token",
    )
    .await?;
    assert!(token.len() > 20, "service-account token mounted");
    assert_eq!(
        http_get(&addr, "/env/KUBERNETES_SERVICE_HOST").await?,
        "127.0.0.1"
    );
    // ConfigMap updates reach the running container.
    cms.patch(
        "conf",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"server.properties": "num.partitions=3\n"}})),
    )
    .await?;
    eventually(UP, "configmap update visible in the pod", || async {
        Ok(
            (http_get(&addr, "/file?path=/etc/eddy/server.properties").await?
                == "num.partitions=3\n")
                .then_some(()),
        )
    })
    .await?;
    // A container ignoring SIGTERM is killed after the grace period and the pod goes away.
    create(&pods, json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stubborn"},
        "spec": {"terminationGracePeriodSeconds": 2,
          "containers": [{"name": "c", "image": "eddy/fixture:1", "command": ["sh", "-c", "trap '' TERM; sleep 1000"]}]}}))
    .await?;
    create(
        &pods,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unknown"},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}),
    )
    .await?;
    let running = eventually(UP, "stubborn running", || async {
        let p = pods.get("stubborn").await?;
        Ok((p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")).then_some(p))
    })
    .await?;
    let pid: u32 = running
        .status
        .and_then(|s| s.container_statuses)
        .unwrap_or_default()[0]
        .container_id
        .as_deref()
        .and_then(|id| id.strip_prefix("localkube://"))
        .and_then(|p| p.parse().ok())
        .expect("container id carries the pid");
    assert!(common::alive(pid));
    pods.delete("stubborn", &DeleteParams::default()).await?;
    eventually(UP, "stubborn deleted", || async {
        Ok(pods.get_opt("stubborn").await?.is_none().then_some(()))
    })
    .await?;
    assert!(!common::alive(pid), "process killed");
    // An image with no local binary is reported clearly.
    let reason = eventually(UP, "unknown image reported", || async {
        let p = pods.get("unknown").await?;
        let w = p
            .status
            .and_then(|s| s.container_statuses)
            .unwrap_or_default()
            .into_iter()
            .next()
            .and_then(|c| c.state?.waiting);
        Ok(w.filter(|w| w.reason.as_deref() == Some("ErrImagePull")))
    })
    .await?;
    assert!(
        reason
            .message
            .unwrap_or_default()
            .contains("nginx:1.25 is not mapped")
    );
    Ok(())
}

#[tokio::test]
async fn stopping_the_environment_leaves_no_process() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), "default");
    create(&pods, json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "eddy/fixture:1", "args": ["--listen", "$(POD_IP):8080"], "env": pod_ip_env()}]}}))
    .await?;
    ready_pod(&pods, "p", UP).await?;
    let pids: Vec<u32> = env
        .pid_files()
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok()?.trim().parse().ok())
        .collect();
    assert!(
        pids.len() >= 5,
        "etcd, apiserver, controller-manager, agent and the pod: {pids:?}"
    );
    assert!(pids.iter().all(|p| common::alive(*p)));
    let out = common::kube_down(env.dir.path())?;
    eprintln!("{out}");
    let left: Vec<u32> = pids.into_iter().filter(|p| common::alive(*p)).collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
    Ok(())
}

/// The last complete lookup line a `dns` pod printed: `name=ip` pairs.
async fn last_lookup(pods: &Api<Pod>, name: &str) -> anyhow::Result<Option<String>> {
    let logs = pods
        .logs(
            name,
            &kube::api::LogParams {
                tail_lines: Some(3),
                ..kube::api::LogParams::default()
            },
        )
        .await?;
    Ok(logs
        .lines()
        .rev()
        .find(|l| l.starts_with("lookup ") && l.ends_with(" end"))
        .map(str::to_owned))
}

#[tokio::test]
async fn statefulset_pods_resolve_each_other_by_dns_name_also_after_a_restart() -> anyhow::Result<()>
{
    let env = Env::start().await?;
    let ns = "default";
    create(
        &Api::<Service>::namespaced(env.client.clone(), ns),
        headless("dns", 8080),
    )
    .await?;
    // Each pod looks both names up twice a second with glibc (`getent hosts`, i.e. /etc/hosts
    // through nsswitch, as any program in the pod would) and prints what it found.
    let script = "while :; do \
        a=$(getent hosts dns-0.dns | cut -d' ' -f1); \
        b=$(getent hosts dns-1.dns.default.svc.cluster.local | cut -d' ' -f1); \
        c=$(getent hosts dns-1.dns.default.svc | cut -d' ' -f1); \
        echo \"lookup dns-0.dns=$a dns-1.fqdn=$b dns-1.svc=$c end\"; sleep 0.5; done";
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "dns"},
        "spec": {"serviceName": "dns", "replicas": 2, "podManagementPolicy": "Parallel",
          "selector": {"matchLabels": {"app": "dns"}},
          "template": {"metadata": {"labels": {"app": "dns"}}, "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "dns", "image": "eddy/fixture:1",
              "command": ["sh", "-c", script]}]}}}});
    create(&Api::<StatefulSet>::namespaced(env.client.clone(), ns), sts).await?;
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), ns);
    let running_ip = |name: &'static str, not: Option<String>| {
        let pods = pods.clone();
        async move {
            eventually(UP, &format!("{name} running with a new ip"), || async {
                Ok(pods.get_opt(name).await?.and_then(|p| {
                    let running =
                        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
                    let ip = pod_ip(&p);
                    (running && !ip.is_empty() && Some(&ip) != not.as_ref()).then_some(ip)
                }))
            })
            .await
        }
    };
    let ip0 = running_ip("dns-0", None).await?;
    let ip1 = running_ip("dns-1", None).await?;
    let expect =
        |a: &str, b: &str| format!("lookup dns-0.dns={a} dns-1.fqdn={b} dns-1.svc={b} end");
    for pod in ["dns-0", "dns-1"] {
        let want = expect(&ip0, &ip1);
        eventually(UP, &format!("{pod} resolves both pods"), || async {
            Ok(last_lookup(&pods, pod).await?.filter(|l| *l == want))
        })
        .await?;
    }
    // dns-1 is replaced: a new pod with a new IP. dns-0's running process sees the new address
    // without restarting (the hosts file is rewritten in place under its bind mount).
    let old_uid = pods.get("dns-1").await?.metadata.uid;
    pods.delete("dns-1", &DeleteParams::default()).await?;
    eventually(UP, "dns-1 replaced", || async {
        Ok(pods
            .get_opt("dns-1")
            .await?
            .filter(|p| p.metadata.uid != old_uid))
    })
    .await?;
    let new_ip1 = running_ip("dns-1", Some(ip1.clone())).await?;
    assert_ne!(new_ip1, ip1);
    let restarts0 = pods
        .get("dns-0")
        .await?
        .status
        .and_then(|s| s.container_statuses)
        .and_then(|c| c.first().map(|c| c.restart_count));
    for pod in ["dns-0", "dns-1"] {
        let want = expect(&ip0, &new_ip1);
        eventually(UP, &format!("{pod} resolves dns-1's new ip"), || async {
            Ok(last_lookup(&pods, pod).await?.filter(|l| *l == want))
        })
        .await?;
    }
    assert_eq!(restarts0, Some(0), "dns-0 kept running");
    // The host's own /etc/hosts is untouched by the pods' bind mounts.
    assert!(!std::fs::read_to_string("/etc/hosts")?.contains("dns-0.dns"));
    Ok(())
}

/// Storage classes: a claim of `local-expandable` grows (the agent plays the external resizer
/// and the kubelet: the volume's capacity and the claim's status follow the request); the
/// apiserver refuses to grow a claim of `local`, whose class does not allow expansion.
#[tokio::test]
async fn an_expandable_claim_grows_and_a_fixed_one_is_refused() -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    let env = Env::start().await?;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(env.client.clone(), "default");
    for (name, class) in [("grows", "local-expandable"), ("fixed", "local")] {
        create(
            &pvcs,
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name},
            "spec": {"storageClassName": class, "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}}),
        )
        .await?;
    }
    let capacity = |p: &PersistentVolumeClaim| -> Option<String> {
        p.status
            .as_ref()?
            .capacity
            .as_ref()?
            .get("storage")
            .map(|q| q.0.clone())
    };
    for name in ["grows", "fixed"] {
        eventually(UP, "claim bound", || async {
            let p = pvcs.get(name).await?;
            Ok((p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")).then_some(()))
        })
        .await?;
    }
    let grow = json!({"spec": {"resources": {"requests": {"storage": "2Gi"}}}});
    pvcs.patch("grows", &PatchParams::default(), &Patch::Merge(&grow))
        .await?;
    let grown = eventually(UP, "claim status at 2Gi", || async {
        let p = pvcs.get("grows").await?;
        Ok((capacity(&p).as_deref() == Some("2Gi")).then_some(p))
    })
    .await?;
    let pv = Api::<PersistentVolume>::all(env.client.clone())
        .get(
            grown
                .spec
                .and_then(|s| s.volume_name)
                .as_deref()
                .unwrap_or_default(),
        )
        .await?;
    assert_eq!(
        pv.spec
            .and_then(|s| s.capacity)
            .and_then(|c| c.get("storage").cloned())
            .map(|q| q.0),
        Some("2Gi".to_string())
    );
    match pvcs
        .patch("fixed", &PatchParams::default(), &Patch::Merge(&grow))
        .await
    {
        Err(kube::Error::Api(e)) => {
            assert!(e.code == 403 || e.code == 422, "{e:?}");
            assert!(
                e.message.contains("storageclass") || e.message.contains("resize"),
                "{e:?}"
            );
        }
        other => panic!("growing a claim of a fixed class must be refused: {other:?}"),
    }
    assert_eq!(capacity(&pvcs.get("fixed").await?).as_deref(), Some("1Gi"));
    Ok(())
}
