//! OffsetDelete: drops committed offsets of partitions the group is not consuming
//! (GROUP_SUBSCRIBED_TO_TOPIC for topics an active member subscribes to).

use super::RequestContext;
use crate::group::GroupError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

pub async fn handle(ctx: &RequestContext, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
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
            let topics = req
                .topics
                .into_iter()
                .zip(out)
                .map(|(t, (_, parts))| {
                    let parts = parts
                        .into_iter()
                        .map(|(p, r)| {
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p)
                                .with_error_code(r.err().map_or(0, GroupError::code))
                        })
                        .collect();
                    OffsetDeleteResponseTopic::default()
                        .with_name(t.name)
                        .with_partitions(parts)
                })
                .collect();
            OffsetDeleteResponse::default().with_topics(topics)
        }
    }
}
