//! InitProducerId (v0-v5): idempotent producers get a fresh producer id at epoch 0, or (v3+, with
//! their current id and epoch) the same id with the epoch bumped. A transactional id goes to the
//! transaction coordinator (txn/): its producer id with the epoch bumped, fencing any older
//! producer of the id and aborting its ongoing transaction; KIP-360 recovery with the id and
//! epoch in the request. In cluster mode only the id's coordinator answers (NOT_COORDINATOR
//! elsewhere, so the client looks it up again).

use super::{RequestContext, code, errors};
use crate::security::acl::{CLUSTER_NAME, Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

/// What an InitProducerId request should get, before any I/O.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// A new producer id at epoch 0.
    Allocate,
    /// Keep the id, use this epoch.
    Bump(i64, i16),
    /// A transactional id: the transaction coordinator decides.
    Transactional,
    Refuse(ResponseError),
}

/// Pure decision from the request fields.
pub fn decide(transactional_id: Option<&str>, producer_id: i64, producer_epoch: i16) -> Decision {
    match transactional_id {
        None => {}
        // Kafka refuses an empty transactional id as malformed.
        Some("") => return Decision::Refuse(ResponseError::InvalidRequest),
        Some(_) => return Decision::Transactional,
    }
    match (producer_id, producer_epoch) {
        (-1, -1) => Decision::Allocate,
        (id, epoch) if id >= 0 && epoch >= 0 => {
            // An exhausted epoch gets a new id, as Kafka does.
            if epoch >= i16::MAX - 1 {
                Decision::Allocate
            } else {
                Decision::Bump(id, epoch + 1)
            }
        }
        _ => Decision::Refuse(ResponseError::InvalidRequest),
    }
}

#[tracing::instrument(skip_all, fields(transactional = req.transactional_id.is_some()))]
pub async fn handle(ctx: &RequestContext, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let (pid, epoch) = if ctx.api_version >= 3 {
        (req.producer_id.0, req.producer_epoch)
    } else {
        (-1, -1)
    };
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    // An idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic
    // (Kafka's rule since KIP-679).
    if req.transactional_id.is_none()
        && !ctx.is_authorized_quietly(
            Operation::IdempotentWrite,
            ResourceType::Cluster,
            CLUSTER_NAME,
        )
        && !ctx.authorize_any(Operation::Write, ResourceType::Topic)
    {
        return resp.with_error_code(code(errors::denied(ResourceType::Cluster)));
    }
    match decide(
        req.transactional_id
            .as_deref()
            .map(kafka_protocol::protocol::StrBytes::as_str),
        pid,
        epoch,
    ) {
        Decision::Allocate => match ctx.node.allocate_producer_id() {
            Ok(id) => {
                tracing::debug!(producer_id = id, "allocated a producer id");
                resp.with_producer_id(ProducerId(id)).with_producer_epoch(0)
            }
            Err(e) => resp.with_error_code(code(e.into())),
        },
        Decision::Bump(id, epoch) => resp
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch),
        Decision::Transactional => {
            let id = req
                .transactional_id
                .as_deref()
                .map(ToString::to_string)
                .unwrap_or_default();
            if !ctx.authorize(Operation::Write, ResourceType::TransactionalId, &id) {
                return resp.with_error_code(code(errors::denied(ResourceType::TransactionalId)));
            }
            match ctx
                .txns
                .init_producer_id(&ctx.node, &id, req.transaction_timeout_ms, pid, epoch)
                .await
            {
                Ok((id, epoch)) => resp
                    .with_producer_id(ProducerId(id))
                    .with_producer_epoch(epoch),
                Err(e) => resp.with_error_code(code(errors::txn(e, ctx.api_version >= 4))),
            }
        }
        Decision::Refuse(e) => resp.with_error_code(code(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        assert_eq!(decide(None, -1, -1), Decision::Allocate);
        assert_eq!(decide(None, 7, 3), Decision::Bump(7, 4));
        assert_eq!(decide(None, 7, i16::MAX - 1), Decision::Allocate);
        assert_eq!(decide(Some("t"), -1, -1), Decision::Transactional);
        assert_eq!(
            decide(Some(""), -1, -1),
            Decision::Refuse(ResponseError::InvalidRequest)
        );
        assert_eq!(
            decide(None, 7, -1),
            Decision::Refuse(ResponseError::InvalidRequest)
        );
    }
}
