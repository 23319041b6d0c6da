//! Scheduler: binds Pending pods of the default scheduler to one of this agent's Nodes.
//!
//! The choice is pure ([`choose`]): nodes whose labels satisfy the pod's `nodeSelector`, the one
//! with the fewest pods bound by us, ties broken by name. Affinity, taints and resource fit are
//! not evaluated (every local node is the same machine).

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client};
use std::collections::BTreeMap;
use tracing::{info, warn};

/// Errors of binding a pod.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("binding pod {pod} to node {node}: {source}")]
    Bind {
        pod: String,
        node: String,
        source: kube::Error,
    },
    #[error("watching unscheduled pods: {0}")]
    Watch(#[from] watcher::Error),
}

/// A node the scheduler may use.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub pods: usize,
}

/// The node for a pod with `selector`, or `None` if no node matches.
#[must_use]
pub fn choose<'a>(
    nodes: &'a [Candidate],
    selector: &BTreeMap<String, String>,
) -> Option<&'a Candidate> {
    nodes
        .iter()
        .filter(|n| selector.iter().all(|(k, v)| n.labels.get(k) == Some(v)))
        .min_by(|a, b| a.pods.cmp(&b.pods).then_with(|| a.name.cmp(&b.name)))
}

/// Watches unscheduled pods and binds each one.
pub async fn run(client: Client, mut nodes: Vec<Candidate>) -> Result<(), Error> {
    let pods: Api<Pod> = Api::all(client.clone());
    let cfg = watcher::Config::default().fields("spec.nodeName=");
    let mut stream = std::pin::pin!(watcher(pods, cfg));
    while let Some(ev) = stream.try_next().await.transpose() {
        let pod = match ev {
            Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => p,
            Ok(_) => continue,
            Err(e) => {
                warn!(error = %e, "scheduler watch");
                continue;
            }
        };
        let spec = pod.spec.clone().unwrap_or_default();
        let ours = spec
            .scheduler_name
            .as_deref()
            .is_none_or(|s| s == "default-scheduler");
        if !ours || spec.node_name.is_some() || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let selector = spec.node_selector.unwrap_or_default();
        let Some(node) = choose(&nodes, &selector).map(|n| n.name.clone()) else {
            warn!(pod = ?pod.metadata.name, ?selector, "no node matches the pod's nodeSelector");
            continue;
        };
        match bind(&client, &pod, &node).await {
            Ok(()) => {
                if let Some(n) = nodes.iter_mut().find(|n| n.name == node) {
                    n.pods += 1;
                }
            }
            Err(e) => warn!(error = %e, "scheduling"),
        }
    }
    Ok(())
}

async fn bind(client: &Client, pod: &Pod, node: &str) -> Result<(), Error> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            uid: pod.metadata.uid.clone(),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.to_owned()),
            ..ObjectReference::default()
        },
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    match api
        .create_subresource::<_, serde_json::Value>(
            "binding",
            &name,
            &PostParams::default(),
            &binding,
        )
        .await
    {
        Ok(_) => {
            info!(pod = %name, namespace = %ns, node, "bound");
            Ok(())
        }
        // Already bound or gone: nothing to do.
        Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => Ok(()),
        Err(source) => Err(Error::Bind {
            pod: name,
            node: node.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, pods: usize, zone: &str) -> Candidate {
        Candidate {
            name: name.into(),
            labels: [("zone".to_owned(), zone.to_owned())].into(),
            pods,
        }
    }

    #[test]
    fn least_loaded_matching_node_wins() {
        let nodes = [node("a", 3, "x"), node("b", 1, "y"), node("c", 1, "x")];
        assert_eq!(choose(&nodes, &BTreeMap::new()).unwrap().name, "b");
        let sel = [("zone".to_owned(), "x".to_owned())].into();
        assert_eq!(choose(&nodes, &sel).unwrap().name, "c");
        let none = [("zone".to_owned(), "z".to_owned())].into();
        assert!(choose(&nodes, &none).is_none());
    }
}
