//! EndTxn (v0-v4): commits or aborts the producer's ongoing transaction. Answered once the
//! PREPARE state, every partition's marker, the committed offsets and the COMPLETE state are
//! durable (txn/mod.rs), so a consumer that sees the answer can read the outcome.

use super::{RequestContext, code, errors};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

#[tracing::instrument(skip_all, fields(transactional_id = %req.transactional_id.as_str(), commit = req.committed))]
pub async fn handle(ctx: &RequestContext, req: EndTxnRequest) -> EndTxnResponse {
    let id = req.transactional_id.to_string();
    let resp = EndTxnResponse::default();
    if !ctx.authorize(Operation::Write, ResourceType::TransactionalId, &id) {
        return resp.with_error_code(code(errors::denied(ResourceType::TransactionalId)));
    }
    match ctx
        .txns
        .end(
            &ctx.node,
            &id,
            req.producer_id.0,
            req.producer_epoch,
            req.committed,
        )
        .await
    {
        Ok(()) => resp,
        Err(e) => resp.with_error_code(code(errors::txn(e, ctx.api_version >= 2))),
    }
}
