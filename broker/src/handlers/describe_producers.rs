//! DescribeProducers (v0): the active producers of each partition this broker leads: producer
//! id, epoch, last sequence and timestamp, and the first offset of its open transaction (-1
//! when none), as Kafka's `kafka-transactions.sh describe-producers` shows them.

use super::{RequestContext, code, errors};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

pub async fn handle(
    ctx: &RequestContext,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let readable = ctx.authorize(Operation::Read, ResourceType::Topic, &t.name);
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&index| {
                    let base = PartitionResponse::default().with_partition_index(index);
                    if !readable {
                        return base.with_error_code(code(errors::denied(ResourceType::Topic)));
                    }
                    let Some(part) = ctx.node.partition(&t.name, index) else {
                        return base.with_error_code(code(ResponseError::UnknownTopicOrPartition));
                    };
                    if !part.is_leader() {
                        return base.with_error_code(code(ResponseError::NotLeaderOrFollower));
                    }
                    let producers = part
                        .active_producers()
                        .into_iter()
                        .map(|p| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(p.producer_id))
                                .with_producer_epoch(i32::from(p.epoch))
                                .with_last_sequence(p.last_sequence)
                                .with_last_timestamp(p.last_timestamp)
                                .with_coordinator_epoch(if p.txn_start_offset >= 0 {
                                    0
                                } else {
                                    -1
                                })
                                .with_current_txn_start_offset(p.txn_start_offset)
                        })
                        .collect();
                    base.with_active_producers(producers)
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
