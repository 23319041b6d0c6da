//! EndTxn (v0-v5): commits or aborts the producer's ongoing transaction. Answered once the
//! PREPARE state, every partition's marker, the committed offsets and the COMPLETE state are
//! durable (txn/mod.rs), so a consumer that sees the answer can read the outcome. v5 is
//! transaction version 2 (KIP-890 part 2): the epoch is bumped by every EndTxn, the markers
//! carry the bumped epoch, and the answer names the producer id and epoch to continue with.

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
            ctx.api_version >= 5,
        )
        .await
    {
        Ok((pid, epoch)) if ctx.api_version >= 5 => {
            resp.with_producer_id(pid.into()).with_producer_epoch(epoch)
        }
        Ok(_) => resp,
        Err(e) => resp.with_error_code(code(errors::txn(e, ctx.api_version >= 2))),
    }
}
