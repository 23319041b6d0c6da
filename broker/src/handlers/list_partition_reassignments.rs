//! ListPartitionReassignments (v0): the reassignments in progress from the metadata image, with
//! the union replicas, adding (target − original) and removing (replicas − target) replicas.
//! A single node never has one.

use super::{RequestContext, errors};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};

fn ids(v: &[i32]) -> Vec<BrokerId> {
    v.iter().copied().map(BrokerId).collect()
}

#[tracing::instrument(skip_all)]
pub async fn handle(
    ctx: &RequestContext,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if !ctx.authorize_cluster(Operation::Describe) {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(errors::denied(ResourceType::Cluster).code())
            .with_error_message(Some(super::sb("DESCRIBE on the cluster is not authorized")));
    }
    let wanted = req.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let topics = ctx
        .metadata
        .reassignments(wanted)
        .into_iter()
        .map(|(name, parts)| {
            let out = parts
                .into_iter()
                .map(|r| {
                    OngoingPartitionReassignment::default()
                        .with_partition_index(r.index)
                        .with_replicas(ids(&r.replicas))
                        .with_adding_replicas(ids(&r.adding))
                        .with_removing_replicas(ids(&r.removing))
                })
                .collect();
            OngoingTopicReassignment::default()
                .with_name(TopicName(super::sb(&name)))
                .with_partitions(out)
        })
        .collect();
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}
