//! AlterPartitionReassignments (v0-v1, KIP-455): per partition, a target replica list (or null
//! to cancel) written to the metadata log; the controller runs the move on the union of old and
//! new replicas and completes it once every target replica is in the ISR. On one node there is
//! nothing to move: only the node itself is a valid target.

use super::errors::TopicError;
use super::{RequestContext, code, errors, sb};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};

#[tracing::instrument(skip_all)]
pub async fn handle(
    ctx: &RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let allow_rf_change = ctx.api_version < 1 || req.allow_replication_factor_change;
    if !ctx.authorize_cluster(Operation::Alter) {
        return AlterPartitionReassignmentsResponse::default()
            .with_allow_replication_factor_change(allow_rf_change)
            .with_error_code(code(errors::denied(ResourceType::Cluster)))
            .with_error_message(Some(sb("ALTER on the cluster is not authorized")));
    }
    let mut responses = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let mut parts = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let target = p
                .replicas
                .as_ref()
                .map(|r| r.iter().map(|b| b.0).collect::<Vec<i32>>());
            let outcome = ctx
                .metadata
                .alter_reassignment(t.name.as_str(), p.partition_index, target, allow_rf_change)
                .await
                .map_err(TopicError::from);
            let r =
                ReassignablePartitionResponse::default().with_partition_index(p.partition_index);
            parts.push(match outcome {
                Ok(()) => r,
                Err(TopicError {
                    code: e,
                    message: m,
                }) => r.with_error_code(code(e)).with_error_message(Some(sb(&m))),
            });
        }
        responses.push(
            ReassignableTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(parts),
        );
    }
    ctx.metadata.apply_changes();
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(allow_rf_change)
        .with_responses(responses)
}
