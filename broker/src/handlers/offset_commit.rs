//! OffsetCommit: committed offsets (with metadata and leader epoch) are appended to
//! `__consumer_offsets` and fsynced before the commit is acknowledged.

use super::{RequestContext, errors};
use crate::group::GroupError;
use crate::group::offsets::CommitPartition;
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, TopicName};

pub async fn handle(ctx: &RequestContext, req: OffsetCommitRequest) -> OffsetCommitResponse {
    // READ on the group, then READ on each topic (the others answer TOPIC_AUTHORIZATION_FAILED
    // and are not committed).
    let group_denied = !ctx.authorize(Operation::Read, ResourceType::Group, &req.group_id);
    let denied_topics: Vec<&str> = req
        .topics
        .iter()
        .map(|t| t.name.as_str())
        .filter(|t| !group_denied && !ctx.authorize(Operation::Read, ResourceType::Topic, t))
        .collect();
    if group_denied || !denied_topics.is_empty() {
        return refused(&req, group_denied, &denied_topics, ctx).await;
    }
    commit(ctx, &req).await
}

/// A commit with a refused part: the group (everything refused) or some topics (the others
/// committed).
async fn refused(
    req: &OffsetCommitRequest,
    group_denied: bool,
    denied_topics: &[&str],
    ctx: &RequestContext,
) -> OffsetCommitResponse {
    let mut resp = if group_denied {
        OffsetCommitResponse::default()
    } else {
        let allowed = req
            .topics
            .iter()
            .filter(|t| !denied_topics.contains(&t.name.as_str()))
            .cloned()
            .collect();
        let partial = req.clone().with_topics(allowed);
        if partial.topics.is_empty() {
            OffsetCommitResponse::default()
        } else {
            commit(ctx, &partial).await
        }
    };
    for t in &req.topics {
        let e = if group_denied {
            errors::denied(ResourceType::Group)
        } else if denied_topics.contains(&t.name.as_str()) {
            errors::denied(ResourceType::Topic)
        } else {
            continue;
        };
        let parts = t
            .partitions
            .iter()
            .map(|p| {
                OffsetCommitResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(e.code())
            })
            .collect();
        resp.topics.push(
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(parts),
        );
    }
    resp
}

async fn commit(ctx: &RequestContext, req: &OffsetCommitRequest) -> OffsetCommitResponse {
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
