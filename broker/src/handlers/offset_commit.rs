//! OffsetCommit: committed offsets (with metadata and leader epoch) are appended to
//! `__consumer_offsets` and fsynced before the commit is acknowledged.

use super::RequestContext;
use crate::group::GroupError;
use crate::group::offsets::CommitPartition;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, TopicName};

pub async fn handle(ctx: &RequestContext, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let partitions: Vec<CommitPartition> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| CommitPartition {
                topic: t.name.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.committed_metadata.as_ref().map(ToString::to_string),
            })
        })
        .collect();
    let results = ctx
        .groups
        .commit(
            &ctx.node,
            &req.group_id,
            &req.member_id,
            req.group_instance_id.as_deref(),
            req.generation_id_or_member_epoch,
            partitions,
        )
        .await;
    let mut topics: Vec<OffsetCommitResponseTopic> = Vec::new();
    for (p, r) in results {
        let part = OffsetCommitResponsePartition::default()
            .with_partition_index(p.partition)
            .with_error_code(r.err().map_or(0, GroupError::code));
        match topics.last_mut() {
            Some(t) if t.name.as_str() == p.topic => t.partitions.push(part),
            _ => topics.push(
                OffsetCommitResponseTopic::default()
                    .with_name(TopicName(super::sb(&p.topic)))
                    .with_partitions(vec![part]),
            ),
        }
    }
    OffsetCommitResponse::default().with_topics(topics)
}
