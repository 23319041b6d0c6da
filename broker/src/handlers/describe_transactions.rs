//! DescribeTransactions (v0): each transactional id's state, producer id and epoch, timeout,
//! start time and partitions, as its coordinator holds them (NOT_COORDINATOR from other brokers
//! in cluster mode). Partition leaders use it to verify transactional batches (txn/verify.rs).

use super::{RequestContext, code, errors, sb};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};

pub async fn handle(
    ctx: &RequestContext,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = req
        .transactional_ids
        .into_iter()
        .map(|id| {
            let base = TransactionState::default()
                .with_transactional_id(id.clone())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1);
            if !ctx.authorize(Operation::Describe, ResourceType::TransactionalId, &id) {
                return base.with_error_code(code(errors::denied(ResourceType::TransactionalId)));
            }
            match ctx.txns.describe_here(&ctx.node, &id) {
                Ok(Some(m)) => {
                    let mut topics: Vec<TopicData> = Vec::new();
                    for (t, p) in &m.partitions {
                        match topics.iter_mut().find(|d| d.topic.as_str() == t) {
                            Some(d) => d.partitions.push(*p),
                            None => topics.push(
                                TopicData::default()
                                    .with_topic(TopicName(sb(t)))
                                    .with_partitions(vec![*p]),
                            ),
                        }
                    }
                    base.with_transaction_state(sb(m.state.name()))
                        .with_transaction_timeout_ms(m.timeout_ms)
                        .with_transaction_start_time_ms(m.start_ms)
                        .with_producer_id(ProducerId(m.producer_id))
                        .with_producer_epoch(m.epoch)
                        .with_topics(topics)
                }
                Ok(None) => base.with_error_code(code(ResponseError::TransactionalIdNotFound)),
                Err(e) => base.with_error_code(code(errors::txn(e, true))),
            }
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
