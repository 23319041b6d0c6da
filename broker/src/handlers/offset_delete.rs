//! OffsetDelete: drops committed offsets of partitions the group is not consuming
//! (GROUP_SUBSCRIBED_TO_TOPIC for topics an active member subscribes to). Needs DELETE on the
//! group and READ on each topic (the others answer TOPIC_AUTHORIZATION_FAILED).

use super::{RequestContext, errors};
use crate::group::GroupError;
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

pub async fn handle(ctx: &RequestContext, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    if !ctx.authorize(Operation::Delete, ResourceType::Group, &req.group_id) {
        return OffsetDeleteResponse::default()
            .with_error_code(errors::denied(ResourceType::Group).code());
    }
    let readable: Vec<bool> = req
        .topics
        .iter()
        .map(|t| ctx.authorize(Operation::Read, ResourceType::Topic, t.name.as_str()))
        .collect();
    let topics = req
        .topics
        .iter()
        .zip(&readable)
        .filter(|(_, r)| **r)
        .map(|(t, _)| {
            (
                t.name.to_string(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    match ctx
        .groups
        .delete_offsets(&ctx.node, &req.group_id, topics)
        .await
    {
        Err(e) => OffsetDeleteResponse::default().with_error_code(e.code()),
        Ok(out) => {
            let mut deleted = out.into_iter();
            let denied = errors::denied(ResourceType::Topic).code();
            let topics = req
                .topics
                .into_iter()
                .zip(readable)
                .map(|(t, readable)| {
                    let parts = if readable {
                        deleted
                            .next()
                            .map(|(_, parts)| parts)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(p, r)| {
                                OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_error_code(r.err().map_or(0, GroupError::code))
                            })
                            .collect()
                    } else {
                        t.partitions
                            .iter()
                            .map(|p| {
                                OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(denied)
                            })
                            .collect()
                    };
                    OffsetDeleteResponseTopic::default()
                        .with_name(t.name)
                        .with_partitions(parts)
                })
                .collect();
            OffsetDeleteResponse::default().with_topics(topics)
        }
    }
}
