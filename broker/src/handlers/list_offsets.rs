//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), earliest-local (-4) and
//! by-timestamp lookups (the exact first record with a timestamp >= the target, and its
//! timestamp), for both isolation levels.

use super::{RequestContext, code, errors};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

pub async fn handle(ctx: &RequestContext, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let describable = ctx.authorize(Operation::Describe, ResourceType::Topic, &t.name);
            let topic = ctx.node.topic(&t.name);
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let resp = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1);
                    if !describable {
                        return resp.with_error_code(code(errors::denied(ResourceType::Topic)));
                    }
                    let Some(part) = topic.as_ref().and_then(|t| {
                        usize::try_from(p.partition_index)
                            .ok()
                            .and_then(|i| t.partitions.get(i))
                    }) else {
                        return resp.with_error_code(code(ResponseError::UnknownTopicOrPartition));
                    };
                    let epoch = part.leader_epoch();
                    if p.current_leader_epoch >= 0 && p.current_leader_epoch != epoch {
                        let e = if p.current_leader_epoch > epoch {
                            ResponseError::UnknownLeaderEpoch
                        } else {
                            ResponseError::FencedLeaderEpoch
                        };
                        return resp.with_error_code(code(e));
                    }
                    let resp = if ctx.api_version >= 4 {
                        resp.with_leader_epoch(epoch)
                    } else {
                        resp
                    };
                    match p.timestamp {
                        LATEST => resp.with_offset(if req.isolation_level == 1 {
                            part.last_stable_offset()
                        } else {
                            part.high_watermark()
                        }),
                        EARLIEST | EARLIEST_LOCAL => resp.with_offset(part.log_start_offset()),
                        // KIP-734: the first record carrying the largest timestamp.
                        MAX_TIMESTAMP => match part.max_timestamp() {
                            Some((ts, off)) => match part.record_for_timestamp(ts) {
                                Ok(Some(hit)) if hit.timestamp == ts => {
                                    resp.with_timestamp(ts).with_offset(hit.offset)
                                }
                                _ => resp.with_timestamp(ts).with_offset(off),
                            },
                            None => resp,
                        },
                        ts if ts >= 0 => match part.record_for_timestamp(ts) {
                            Ok(Some(hit)) => {
                                resp.with_timestamp(hit.timestamp).with_offset(hit.offset)
                            }
                            Ok(None) => resp,
                            Err(e) => resp.with_error_code(code(e.into())),
                        },
                        _ => resp.with_error_code(code(ResponseError::InvalidRequest)),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
