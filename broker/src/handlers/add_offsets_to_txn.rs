//! AddOffsetsToTxn (v0-v3): the consumer group joins the producer's ongoing transaction, so
//! that its TxnOffsetCommit offsets commit or abort with it.

use super::{RequestContext, code, errors};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

#[tracing::instrument(skip_all, fields(transactional_id = %req.transactional_id.as_str()))]
pub async fn handle(ctx: &RequestContext, req: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let id = req.transactional_id.to_string();
    let group = req.group_id.to_string();
    let resp = AddOffsetsToTxnResponse::default();
    if !ctx.authorize(Operation::Write, ResourceType::TransactionalId, &id) {
        return resp.with_error_code(code(errors::denied(ResourceType::TransactionalId)));
    }
    if !ctx.authorize(Operation::Read, ResourceType::Group, &group) {
        return resp.with_error_code(code(errors::denied(ResourceType::Group)));
    }
    match ctx
        .txns
        .add(
            &ctx.node,
            &id,
            req.producer_id.0,
            req.producer_epoch,
            &[],
            &[group],
        )
        .await
    {
        Ok(()) => resp,
        Err(e) => resp.with_error_code(code(errors::txn(e, ctx.api_version >= 2))),
    }
}
