//! Node registration and heartbeat: the Node objects this agent stands for, and their Leases.
//!
//! Each Node is created (or taken over) with its capacity, addresses and a Ready condition; every
//! 10 s its Lease in `kube-node-lease` is renewed and its conditions re-stamped, which is what the
//! node lifecycle controller watches before evicting pods.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeStatus,
    NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;
use tracing::warn;

/// Errors of registering a Node.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("registering node {node}: {source}")]
    Register { node: String, source: kube::Error },
    #[error("reporting status of node {node}: {source}")]
    Status { node: String, source: kube::Error },
    #[error("renewing lease of node {node}: {source}")]
    Lease { node: String, source: kube::Error },
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Identity and endpoints of one Node.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub ip: Ipv4Addr,
    /// Port of this node's kubelet API (container logs).
    pub kubelet_port: u16,
}

fn quantities(pods: &str) -> BTreeMap<String, Quantity> {
    let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    [
        ("cpu", cpus.to_string()),
        ("memory", "16Gi".to_owned()),
        ("pods", pods.to_owned()),
        ("ephemeral-storage", "100Gi".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Quantity(v)))
    .collect()
}

fn conditions(now: Timestamp) -> Vec<NodeCondition> {
    let cond = |kind: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: kind.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    };
    vec![
        cond(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        cond(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        cond(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        cond(
            "Ready",
            "True",
            "KubeletReady",
            "localkube node agent is posting ready status",
        ),
    ]
}

fn status(n: &NodeSpec, now: Timestamp) -> NodeStatus {
    NodeStatus {
        capacity: Some(quantities("110")),
        allocatable: Some(quantities("110")),
        conditions: Some(conditions(now)),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: n.ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: n.name.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: i32::from(n.kubelet_port),
            }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: "amd64".into(),
            boot_id: String::new(),
            container_runtime_version: format!("localkube://{}", env!("CARGO_PKG_VERSION")),
            kernel_version: String::new(),
            kube_proxy_version: String::new(),
            kubelet_version: "v1.20.2".into(),
            machine_id: String::new(),
            operating_system: "linux".into(),
            os_image: "eddy localkube".into(),
            system_uuid: String::new(),
            ..NodeSystemInfo::default()
        }),
        ..NodeStatus::default()
    }
}

/// Creates the Node if needed and reports it Ready.
pub async fn register(client: &Client, n: &NodeSpec) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let labels = [
        ("kubernetes.io/hostname", n.name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("node.kubernetes.io/instance-type", "localkube"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let node = Node {
        metadata: ObjectMeta {
            name: Some(n.name.clone()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        ..Node::default()
    };
    match api.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(source) => {
            return Err(Error::Register {
                node: n.name.clone(),
                source,
            });
        }
    }
    report(client, n).await
}

async fn report(client: &Client, n: &NodeSpec) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let patch = serde_json::json!({ "status": status(n, Timestamp::now()) });
    api.patch_status(&n.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| Error::Status {
            node: n.name.clone(),
            source,
        })?;
    Ok(())
}

async fn renew_lease(client: &Client, n: &NodeSpec) -> Result<()> {
    let err = |source| Error::Lease {
        node: n.name.clone(),
        source,
    };
    let node_uid = Api::<Node>::all(client.clone())
        .get(&n.name)
        .await
        .map_err(err)?
        .metadata
        .uid;
    let api: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(n.name.clone()),
            namespace: Some("kube-node-lease".into()),
            owner_references: node_uid.map(|uid| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: n.name.clone(),
                    uid,
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(n.name.clone()),
            lease_duration_seconds: Some(40),
            renew_time: Some(MicroTime(Timestamp::now())),
            ..LeaseSpec::default()
        }),
    };
    let pp = PatchParams::apply("localkube").force();
    api.patch(&n.name, &pp, &Patch::Apply(&lease))
        .await
        .map_err(err)?;
    Ok(())
}

/// Keeps the Node's lease and status fresh forever.
pub async fn heartbeat(client: Client, n: NodeSpec) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        for r in [renew_lease(&client, &n).await, report(&client, &n).await] {
            if let Err(e) = r {
                warn!(node = %n.name, error = %e, "node heartbeat");
            }
        }
    }
}
