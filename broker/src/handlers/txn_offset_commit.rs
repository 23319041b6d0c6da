//! TxnOffsetCommit (v0-v5): consumer offsets committed inside a transaction. They wait in the
//! transaction (persisted with it) and reach OffsetFetch only when it commits; meanwhile a
//! `require_stable` OffsetFetch answers UNSTABLE_OFFSET_COMMIT for their partitions. v5 is
//! transaction version 2: the client sent no AddOffsetsToTxn, so the group (its
//! `__consumer_offsets` partition in cluster mode) joins the transaction here first, at the
//! transaction's coordinator, which refuses a stale epoch (KIP-890 part 2).

use super::{RequestContext, code, errors};
use crate::group::offsets::MAX_METADATA_BYTES;
use crate::security::acl::{Operation, ResourceType};
use crate::txn::state::PendingOffset;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

#[tracing::instrument(skip_all, fields(transactional_id = %req.transactional_id.as_str(), group = %req.group_id.as_str()))]
pub async fn handle(ctx: &RequestContext, req: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let id = req.transactional_id.to_string();
    let group = req.group_id.to_string();
    let mut offsets = Vec::new();
    // Per partition: its own refusal, if any.
    let mut own: Vec<(String, i32, Option<ResponseError>)> = Vec::new();
    let whole = if !ctx.authorize(Operation::Write, ResourceType::TransactionalId, &id) {
        Some(errors::denied(ResourceType::TransactionalId))
    } else if !ctx.authorize(Operation::Read, ResourceType::Group, &group) {
        Some(errors::denied(ResourceType::Group))
    } else {
        None
    };
    for t in &req.topics {
        let topic = t.name.to_string();
        let readable = ctx.authorize(Operation::Read, ResourceType::Topic, &topic);
        for p in &t.partitions {
            let e = if !readable {
                Some(errors::denied(ResourceType::Topic))
            } else if ctx.node.partition(&topic, p.partition_index).is_none() {
                Some(ResponseError::UnknownTopicOrPartition)
            } else if p
                .committed_metadata
                .as_ref()
                .is_some_and(|m| m.len() > MAX_METADATA_BYTES)
            {
                Some(ResponseError::OffsetMetadataTooLarge)
            } else {
                offsets.push(PendingOffset {
                    group: group.clone(),
                    topic: topic.clone(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(ToString::to_string),
                });
                None
            };
            own.push((topic.clone(), p.partition_index, e));
        }
    }
    // KIP-447: a consumer whose generation is over (its partitions moved) must not stage
    // offsets, or its transaction would commit records their new owner processes again.
    let whole = whole.or_else(|| {
        ctx.groups
            .validate_txn_member(
                &ctx.node,
                &group,
                req.member_id.as_str(),
                req.group_instance_id.as_deref(),
                req.generation_id,
            )
            .err()
            .map(ResponseError::from)
    });
    let outcome = match whole {
        Some(e) => Err(e),
        None if offsets.is_empty() => Ok(()),
        None => commit(ctx, &req, &id, &group, offsets).await,
    };
    let mut topics: Vec<TxnOffsetCommitResponseTopic> = Vec::new();
    for (topic, p, e) in own {
        let e = e.or(outcome.err()).map_or(0, code);
        let r = TxnOffsetCommitResponsePartition::default()
            .with_partition_index(p)
            .with_error_code(e);
        match topics.iter_mut().find(|t| t.name.as_str() == topic) {
            Some(t) => t.partitions.push(r),
            None => topics.push(
                TxnOffsetCommitResponseTopic::default()
                    .with_name(super::sb(&topic).into())
                    .with_partitions(vec![r]),
            ),
        }
    }
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// The offsets into the transaction (v5+: after the group joined it).
async fn commit(
    ctx: &RequestContext,
    req: &TxnOffsetCommitRequest,
    id: &str,
    group: &str,
    offsets: Vec<PendingOffset>,
) -> Result<(), ResponseError> {
    let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
    if ctx.api_version >= 5 {
        ctx.txns
            .add_group_for_producer(&ctx.node, id, pid, epoch, group)
            .await
            .map_err(|e| errors::txn(e, true))?;
    }
    ctx.txns
        .commit_offsets(&ctx.node, id, pid, epoch, group, offsets)
        .await
        .map_err(|e| errors::txn(e, ctx.api_version >= 3))
}
