//! FindCoordinator: on one node this broker coordinates every consumer group; in cluster mode
//! the coordinator is the leader of the group's `__consumer_offsets` partition (the group
//! coordinator decides, group/replicated.rs). Transaction-coordinator lookups (key type 1) name
//! this broker on one node, which coordinates every transactional id (txn/); in cluster mode
//! the leader of the id's `__transaction_state` partition (txn/replicated.rs).

use super::{RequestContext, errors, sb};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

pub async fn handle(ctx: &RequestContext, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let v = ctx.api_version;
    let answer = |key: &str| -> Coordinator {
        let c = Coordinator::default().with_key(sb(key));
        let err = |e: ResponseError, m: &str| {
            c.clone()
                .with_node_id(BrokerId(-1))
                .with_host(sb(""))
                .with_port(-1)
                .with_error_code(e.code())
                .with_error_message(Some(sb(m)))
        };
        match req.key_type {
            GROUP if !ctx.authorize(Operation::Describe, ResourceType::Group, key) => err(
                errors::denied(ResourceType::Group),
                "DESCRIBE on the group is not authorized",
            ),
            GROUP => match ctx.groups.find(&ctx.node, key, &ctx.listener) {
                Ok(a) => c
                    .clone()
                    .with_node_id(BrokerId(a.node_id))
                    .with_host(sb(&a.host))
                    .with_port(i32::from(a.port)),
                Err(e) => err(ResponseError::from(&e), &e.to_string()),
            },
            TRANSACTION
                if !ctx.authorize(Operation::Describe, ResourceType::TransactionalId, key) =>
            {
                err(
                    errors::denied(ResourceType::TransactionalId),
                    "DESCRIBE on the transactional id is not authorized",
                )
            }
            TRANSACTION => match ctx.txns.find(&ctx.node, &ctx.groups, key, &ctx.listener) {
                Ok(a) => c
                    .clone()
                    .with_node_id(BrokerId(a.node_id))
                    .with_host(sb(&a.host))
                    .with_port(i32::from(a.port)),
                Err(crate::txn::replicated::FindTxnError::Local(e)) => {
                    err(ResponseError::from(&e), &e.to_string())
                }
                Err(e) => err(ResponseError::CoordinatorNotAvailable, &e.to_string()),
            },
            _ => err(
                ResponseError::InvalidRequest,
                "unsupported coordinator key type",
            ),
        }
    };
    if v >= 4 {
        let coordinators = req.coordinator_keys.iter().map(|k| answer(k)).collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let c = answer(&req.key);
    FindCoordinatorResponse::default()
        .with_error_code(c.error_code)
        .with_error_message(if v >= 1 { c.error_message } else { None })
        .with_node_id(c.node_id)
        .with_host(c.host)
        .with_port(c.port)
}
