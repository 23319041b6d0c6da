//! AddPartitionsToTxn (v0-v3, the client path): the partitions join the producer's ongoing
//! transaction (beginning one if none is), persisted before the answer, so that Produce's
//! verification then lets the producer's transactional batches in. Every partition gets the
//! same answer, as in Kafka: an unknown or unwritable partition fails the whole request and the
//! others answer OPERATION_NOT_ATTEMPTED.
//!
//! v4-v5, the brokers' batch form (CLUSTER_ACTION, as in Kafka): a partition leader adds
//! partitions to transactions on their producers' behalf (`verify_only=false`, transaction
//! version 2: Produce v12+ and TxnOffsetCommit v5+ send none themselves, txn/verify.rs) or only
//! asks whether they are in them (`verify_only=true`, KIP-890 part 1).

use super::{RequestContext, code, errors};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTransaction;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

#[tracing::instrument(skip_all, fields(transactional_id = %req.v3_and_below_transactional_id.as_str()))]
pub async fn handle(
    ctx: &RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    if ctx.api_version >= 4 {
        return handle_batch(ctx, req).await;
    }
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

/// v4+: transactions added (or verified) for their producers by a partition leader.
async fn handle_batch(
    ctx: &RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let resp = AddPartitionsToTxnResponse::default();
    if !ctx.authorize_cluster(Operation::ClusterAction) {
        return resp.with_error_code(code(ResponseError::ClusterAuthorizationFailed));
    }
    let mut results = Vec::with_capacity(req.transactions.len());
    for t in req.transactions {
        results.push(batch_entry(ctx, t).await);
    }
    resp.with_results_by_transaction(results)
}

/// One transaction of the batch: every partition gets the transaction's answer.
async fn batch_entry(
    ctx: &RequestContext,
    t: AddPartitionsToTxnTransaction,
) -> AddPartitionsToTxnResult {
    let id = t.transactional_id.to_string();
    let wanted: Vec<(String, i32)> = t
        .topics
        .iter()
        .flat_map(|x| x.partitions.iter().map(|p| (x.name.to_string(), *p)))
        .collect();
    let outcome: Result<(), ResponseError> = if t.verify_only {
        verify_only(ctx, &id, t.producer_id.0, t.producer_epoch, &wanted)
    } else {
        ctx.txns
            .add(
                &ctx.node,
                &id,
                t.producer_id.0,
                t.producer_epoch,
                &wanted,
                &[],
            )
            .await
            .map_err(|e| errors::txn(e, true))
    };
    let e = outcome.err().map_or(0, code);
    let topic_results = t
        .topics
        .iter()
        .map(|x| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(x.name.clone())
                .with_results_by_partition(
                    x.partitions
                        .iter()
                        .map(|p| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(*p)
                                .with_partition_error_code(e)
                        })
                        .collect(),
                )
        })
        .collect();
    AddPartitionsToTxnResult::default()
        .with_transactional_id(t.transactional_id)
        .with_topic_results(topic_results)
}

/// `verify_only`: the partitions are all in the producer's ongoing transaction at its epoch.
fn verify_only(
    ctx: &RequestContext,
    id: &str,
    pid: i64,
    epoch: i16,
    wanted: &[(String, i32)],
) -> Result<(), ResponseError> {
    let m = ctx
        .txns
        .describe_here(&ctx.node, id)
        .map_err(|e| errors::txn(e, true))?
        .ok_or(ResponseError::InvalidProducerIdMapping)?;
    for (topic, p) in wanted {
        let in_txn = m.partitions.contains(&(topic.clone(), *p));
        crate::txn::verify::verdict(m.state, m.producer_id, m.epoch, in_txn, pid, epoch).map_err(
            |e| match e {
                crate::partition::TxnVerifyError::Fenced => ResponseError::InvalidProducerEpoch,
                crate::partition::TxnVerifyError::Retriable => ResponseError::NotEnoughReplicas,
                _ => ResponseError::InvalidTxnState,
            },
        )?;
    }
    Ok(())
}
