//! ListPartitionReassignments (v0): the reassignments in progress from the metadata image, with
//! the union replicas, adding (target − original) and removing (replicas − target) replicas.
//! A single node never has one.

use super::RequestContext;
use crate::broker::Broker;
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use std::sync::Arc;

fn ids(v: &[i32]) -> Vec<BrokerId> {
    v.iter().copied().map(BrokerId).collect()
}

#[tracing::instrument(skip_all)]
pub async fn handle(
    broker: &Arc<Broker>,
    _ctx: &RequestContext,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let Some(cluster) = broker.cluster() else {
        return ListPartitionReassignmentsResponse::default();
    };
    let img = cluster.image().clone();
    // (topic, partitions asked for; None = all).
    let wanted: Vec<(String, Option<Vec<i32>>)> = match &req.topics {
        Some(ts) => ts
            .iter()
            .map(|t| (t.name.to_string(), Some(t.partition_indexes.clone())))
            .collect(),
        None => img
            .reassignments
            .keys()
            .map(|n| (n.clone(), None))
            .collect(),
    };
    let mut topics = Vec::new();
    for (name, parts) in wanted {
        let (Some(moving), Some(ti)) = (img.reassignments.get(&name), img.topics.get(&name)) else {
            continue;
        };
        let mut out = Vec::new();
        for (index, r) in moving {
            if parts.as_ref().is_some_and(|p| !p.contains(index)) {
                continue;
            }
            let Some(p) = usize::try_from(*index)
                .ok()
                .and_then(|i| ti.partitions.get(i))
            else {
                continue;
            };
            out.push(
                OngoingPartitionReassignment::default()
                    .with_partition_index(*index)
                    .with_replicas(ids(&p.replicas))
                    .with_adding_replicas(ids(&r.adding()))
                    .with_removing_replicas(ids(&r.removing(&p.replicas))),
            );
        }
        if !out.is_empty() {
            topics.push(
                OngoingTopicReassignment::default()
                    .with_name(TopicName(super::sb(&name)))
                    .with_partitions(out),
            );
        }
    }
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}
