//! The node agent's NodePort proxy: a NodePort Service is reachable on 127.0.0.1:<nodePort>,
//! spreads connections over its ready pods, and stops listening when the Service is deleted.

mod common;

use common::{Env, eventually, http_get};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

const UP: Duration = Duration::from_secs(90);

#[tokio::test]
async fn a_node_port_reaches_every_ready_pod_and_closes_with_its_service() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let ns = "default";
    let deployments: Api<Deployment> = Api::namespaced(env.client.clone(), ns);
    let deploy: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
          "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
            "terminationGracePeriodSeconds": 3,
            "containers": [{"name": "web", "image": "eddy/fixture:1", "env": [
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
              "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 1}}]}}}
    }))?;
    deployments.create(&PostParams::default(), &deploy).await?;
    let services: Api<Service> = Api::namespaced(env.client.clone(), ns);
    let svc: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "selector": {"app": "web"},
          "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    }))?;
    let created = services.create(&PostParams::default(), &svc).await?;
    let node_port = created
        .spec
        .and_then(|s| s.ports)
        .and_then(|p| p.first().and_then(|p| p.node_port))
        .expect("the API server allocates a node port");
    // The slot's own range (scripts/kube-up.sh), so parallel environments never collide.
    let first = 30_000 + 25 * i32::from(env.slot);
    assert!(
        (first..first + 25).contains(&node_port),
        "{node_port} outside the slot's range"
    );
    let addr = format!("127.0.0.1:{node_port}");

    // Both pods answer through the one node port (round-robin over ready endpoints).
    let seen = eventually(UP, "both pods answer on the node port", || {
        let addr = addr.clone();
        async move {
            let mut names = BTreeSet::new();
            for _ in 0..6 {
                if let Ok(name) = http_get(&addr, "/env/POD_NAME").await {
                    names.insert(name);
                }
            }
            Ok((names.len() == 2).then_some(names))
        }
    })
    .await?;
    assert!(seen.iter().all(|n| n.starts_with("web-")), "{seen:?}");

    // Deleting the Service closes the node port.
    services.delete("web", &DeleteParams::default()).await?;
    eventually(UP, "node port closed", || {
        let addr = addr.clone();
        async move {
            Ok(tokio::net::TcpStream::connect(&addr)
                .await
                .is_err()
                .then_some(()))
        }
    })
    .await?;
    Ok(())
}
