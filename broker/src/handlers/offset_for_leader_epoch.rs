//! OffsetForLeaderEpoch (v2-v4): the end offset of a leader epoch, from the partition's epochs as
//! replication knows them (`Replication::epoch_end_offset`): an unknown one (negative, or later
//! than the current epoch) gets UNDEFINED -1/-1, as Kafka's leader-epoch cache answers.
//! current_leader_epoch fences stale or future callers.

use super::{RequestContext, code, errors};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

#[tracing::instrument(skip_all)]
pub async fn handle(
    ctx: &RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    // Followers (a broker's replica id) need CLUSTER_ACTION, consumers DESCRIBE on the topic.
    let follower = req.replica_id.0 >= 0;
    let cluster_action = follower && ctx.authorize_cluster(Operation::ClusterAction);
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let refused = if follower {
                (!cluster_action).then(|| errors::denied(ResourceType::Cluster))
            } else {
                (!ctx.authorize(Operation::Describe, ResourceType::Topic, t.topic.as_str()))
                    .then(|| errors::denied(ResourceType::Topic))
            };
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    if let Some(e) = refused {
                        return r.with_error_code(code(e));
                    }
                    let Some(part) = ctx.node.partition(t.topic.as_str(), p.partition) else {
                        return r.with_error_code(code(ResponseError::UnknownTopicOrPartition));
                    };
                    let epoch = part.leader_epoch();
                    if p.current_leader_epoch >= 0 && p.current_leader_epoch != epoch {
                        let e = if p.current_leader_epoch > epoch {
                            ResponseError::UnknownLeaderEpoch
                        } else {
                            ResponseError::FencedLeaderEpoch
                        };
                        return r.with_error_code(code(e));
                    }
                    match ctx
                        .replication
                        .epoch_end_offset(&part, p.leader_epoch, req.replica_id.0)
                    {
                        Ok((e, off)) => r.with_leader_epoch(e).with_end_offset(off),
                        Err(e) => r.with_error_code(code(e.into())),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
