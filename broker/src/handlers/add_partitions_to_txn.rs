//! AddPartitionsToTxn (v0-v3, the client path): the partitions join the producer's ongoing
//! transaction (beginning one if none is), persisted before the answer, so that Produce's
//! verification then lets the producer's transactional batches in. Every partition gets the
//! same answer, as in Kafka: an unknown or unwritable partition fails the whole request and the
//! others answer OPERATION_NOT_ATTEMPTED. The v4+ inter-broker batch form is not advertised.

use super::{RequestContext, code, errors};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

#[tracing::instrument(skip_all, fields(transactional_id = %req.v3_and_below_transactional_id.as_str()))]
pub async fn handle(
    ctx: &RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let id = req.v3_and_below_transactional_id.to_string();
    let wanted: Vec<(String, i32)> = req
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)))
        .collect();
    // Per partition: its own refusal, if any.
    let refused: Vec<Option<ResponseError>> = wanted
        .iter()
        .map(|(t, p)| {
            if !ctx.authorize(Operation::Write, ResourceType::Topic, t) {
                Some(errors::denied(ResourceType::Topic))
            } else if ctx.node.partition(t, *p).is_none() {
                Some(ResponseError::UnknownTopicOrPartition)
            } else {
                None
            }
        })
        .collect();
    let outcome: Result<(), ResponseError> =
        if !ctx.authorize(Operation::Write, ResourceType::TransactionalId, &id) {
            Err(errors::denied(ResourceType::TransactionalId))
        } else if refused.iter().any(Option::is_some) {
            Err(ResponseError::OperationNotAttempted)
        } else {
            ctx.txns
                .add(
                    &ctx.node,
                    &id,
                    req.v3_and_below_producer_id.0,
                    req.v3_and_below_producer_epoch,
                    &wanted,
                    &[],
                )
                .await
                .map_err(|e| errors::txn(e, ctx.api_version >= 2))
        };
    let mut results: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for ((topic, p), own) in wanted.into_iter().zip(refused) {
        let e = match (&outcome, own) {
            (_, Some(e)) => code(e),
            (Err(e), None) => code(*e),
            (Ok(()), None) => 0,
        };
        let r = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(p)
            .with_partition_error_code(e);
        match results.iter_mut().find(|t| t.name.as_str() == topic) {
            Some(t) => t.results_by_partition.push(r),
            None => results.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(super::sb(&topic).into())
                    .with_results_by_partition(vec![r]),
            ),
        }
    }
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}
