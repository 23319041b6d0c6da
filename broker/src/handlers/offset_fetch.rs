//! OffsetFetch: committed offsets with metadata and leader epoch, for one group (v1-7) or a
//! batch of groups (v8+); a null topic list means every committed partition. A partition with
//! an offset pending in an open transaction (TxnOffsetCommit) answers UNSTABLE_OFFSET_COMMIT to
//! a `require_stable` request (v7+), as Kafka does; others see the last committed offset.

use super::{RequestContext, errors, sb};
use crate::group::GroupError;
use crate::group::offsets::FetchedOffsets;
use crate::group::state::CommittedOffset;
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

/// (offset, leader epoch, metadata) of a partition, -1/-1/"" when nothing is committed.
fn fields(o: Option<CommittedOffset>, v: i16) -> (i64, i32, String) {
    match o {
        Some(o) => (
            o.offset,
            if v >= 5 { o.leader_epoch } else { -1 },
            o.metadata.unwrap_or_default(),
        ),
        None => (-1, -1, String::new()),
    }
}

pub async fn handle(ctx: &RequestContext, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let v = ctx.api_version;
    if v >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let topics = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes))
                        .collect()
                });
                if !ctx.authorize(Operation::Describe, ResourceType::Group, &g.group_id) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id)
                        .with_error_code(errors::denied(ResourceType::Group).code());
                }
                if let Err(e) = ctx.groups.check(&ctx.node, &g.group_id) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id)
                        .with_error_code(e.code());
                }
                let explicit = topics.is_some();
                let fetched = authorized(ctx, ctx.groups.fetch(&g.group_id, topics), explicit);
                let fetched = stable(ctx, &g.group_id, req.require_stable, fetched);
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id)
                    .with_topics(group_topics(fetched, v))
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    // v1 has no "all partitions" form; v2+ sends null for it.
    let topics: Option<Vec<(String, Vec<i32>)>> = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.to_string(), t.partition_indexes))
            .collect()
    });
    let checked = if ctx.authorize(Operation::Describe, ResourceType::Group, &req.group_id) {
        ctx.groups
            .check(&ctx.node, &req.group_id)
            .map_err(GroupError::code)
    } else {
        Err(errors::denied(ResourceType::Group).code())
    };
    if let Err(e) = checked {
        // v2+ has a top-level error; v1 only per partition.
        let topics = topics
            .unwrap_or_default()
            .into_iter()
            .map(|(t, parts)| {
                let parts = parts
                    .into_iter()
                    .map(|p| {
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(-1)
                            .with_error_code(e)
                    })
                    .collect();
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(sb(&t)))
                    .with_partitions(parts)
            })
            .collect();
        return OffsetFetchResponse::default()
            .with_error_code(if v >= 2 { e } else { 0 })
            .with_topics(topics);
    }
    let explicit = topics.is_some();
    let fetched = authorized(ctx, ctx.groups.fetch(&req.group_id, topics), explicit);
    let fetched = stable(ctx, &req.group_id, v >= 7 && req.require_stable, fetched);
    let topics = fetched
        .into_iter()
        .map(|(t, parts)| {
            let parts = parts
                .into_iter()
                .map(|(p, o, error)| {
                    let (offset, epoch, meta) = fields(o, v);
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(p)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(epoch)
                        .with_metadata(Some(sb(&meta)))
                        .with_error_code(error)
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(sb(&t)))
                .with_partitions(parts)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

/// Committed offsets by topic, each partition with its error code.
type Authorized = Vec<(String, Vec<(i32, Option<CommittedOffset>, i16)>)>;

/// `require_stable`: partitions with an offset pending in an open transaction answer
/// UNSTABLE_OFFSET_COMMIT (the client retries until the transaction ends).
fn stable(
    ctx: &RequestContext,
    group: &str,
    require_stable: bool,
    fetched: Authorized,
) -> Authorized {
    if !require_stable {
        return fetched;
    }
    fetched
        .into_iter()
        .map(|(t, parts)| {
            let parts = parts
                .into_iter()
                .map(|(p, o, e)| {
                    if e == 0 && ctx.groups.has_pending_txn_offset(group, &t, p) {
                        (p, None, ResponseError::UnstableOffsetCommit.code())
                    } else {
                        (p, o, e)
                    }
                })
                .collect();
            (t, parts)
        })
        .collect()
}

/// Applies DESCRIBE on each topic: with a topic list, an undescribable topic's partitions
/// answer TOPIC_AUTHORIZATION_FAILED; listing all, such topics are left out (Kafka's rule).
fn authorized(ctx: &RequestContext, fetched: FetchedOffsets, explicit: bool) -> Authorized {
    fetched
        .into_iter()
        .filter_map(|(t, parts)| {
            if ctx.is_authorized_quietly(Operation::Describe, ResourceType::Topic, &t) {
                return Some((t, parts.into_iter().map(|(p, o)| (p, o, 0)).collect()));
            }
            if !explicit {
                return None;
            }
            // Counted as a denial only when the client named the topic.
            ctx.authorize(Operation::Describe, ResourceType::Topic, &t);
            let e = errors::denied(ResourceType::Topic).code();
            let parts = parts.into_iter().map(|(p, _)| (p, None, e)).collect();
            Some((t, parts))
        })
        .collect()
}

fn group_topics(fetched: Authorized, v: i16) -> Vec<OffsetFetchResponseTopics> {
    fetched
        .into_iter()
        .map(|(t, parts)| {
            let parts = parts
                .into_iter()
                .map(|(p, o, error)| {
                    let (offset, epoch, meta) = fields(o, v);
                    OffsetFetchResponsePartitions::default()
                        .with_partition_index(p)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(epoch)
                        .with_metadata(Some(sb(&meta)))
                        .with_error_code(error)
                })
                .collect();
            OffsetFetchResponseTopics::default()
                .with_name(TopicName(sb(&t)))
                .with_partitions(parts)
        })
        .collect()
}
