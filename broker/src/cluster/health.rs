//! Cluster views for the admin HTTP API: the restart probes' partition view (real replicas, ISR
//! and leaders from the image) and /v1/cluster/health.

use super::image::ClusterImage;
use serde::Serialize;
use std::collections::BTreeMap;

/// One partition as the restart probes (probes.rs) see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaView {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub min_insync_replicas: usize,
}

/// Every partition of the image with its min.insync.replicas (`min_isr` of the topic's
/// overrides resolves the effective value).
pub fn replica_views(
    img: &ClusterImage,
    min_isr: impl Fn(&BTreeMap<String, String>) -> usize,
) -> Vec<ReplicaView> {
    let mut views = Vec::new();
    for (name, t) in &img.topics {
        let min_isr = min_isr(&t.configs);
        for (i, p) in t.partitions.iter().enumerate() {
            views.push(ReplicaView {
                topic: name.clone(),
                partition: i as i32,
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                leader: p.leader,
                min_insync_replicas: min_isr,
            });
        }
    }
    views
}

#[derive(Debug, Serialize)]
pub struct PartitionRef {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
}

#[derive(Debug, Serialize)]
pub struct BrokerHealth {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
    pub epoch: i64,
    pub fenced: bool,
    pub maintenance: bool,
    pub shutting_down: bool,
}

#[derive(Debug, Serialize)]
pub struct ClusterHealth {
    pub cluster_id: String,
    pub controller_id: Option<i32>,
    pub live_brokers: Vec<i32>,
    pub brokers: Vec<BrokerHealth>,
    pub under_replicated: Vec<PartitionRef>,
    pub under_min_isr: Vec<PartitionRef>,
    pub offline: Vec<PartitionRef>,
    pub healthy: bool,
}

/// The health of the cluster in `img`; `min_isr` resolves a topic's effective
/// min.insync.replicas from its overrides.
pub fn cluster_health(
    min_isr: impl Fn(&BTreeMap<String, String>) -> usize,
    controller_id: Option<i32>,
    img: &ClusterImage,
) -> ClusterHealth {
    let mut under_replicated = Vec::new();
    let mut under_min_isr = Vec::new();
    let mut offline = Vec::new();
    for v in replica_views(img, min_isr) {
        let r = || PartitionRef {
            topic: v.topic.clone(),
            partition: v.partition,
            replicas: v.replicas.clone(),
            isr: v.isr.clone(),
            leader: v.leader,
        };
        if v.leader < 0 {
            offline.push(r());
        }
        if v.isr.len() < v.replicas.len() {
            under_replicated.push(r());
        }
        if v.isr.len() < v.min_insync_replicas.min(v.replicas.len()) {
            under_min_isr.push(r());
        }
    }
    let healthy = controller_id.is_some() && offline.is_empty() && under_replicated.is_empty();
    ClusterHealth {
        cluster_id: img.cluster_id.clone(),
        controller_id,
        live_brokers: img.live_brokers().iter().map(|b| b.id).collect(),
        brokers: img
            .brokers
            .values()
            .map(|b| BrokerHealth {
                id: b.id,
                host: b.host.clone(),
                port: b.port,
                rack: b.rack.clone(),
                epoch: b.epoch,
                fenced: b.fenced,
                maintenance: b.maintenance,
                shutting_down: b.shutting_down,
            })
            .collect(),
        under_replicated,
        under_min_isr,
        offline,
        healthy,
    }
}
