//! FindCoordinator: on one node this broker coordinates every consumer group; in cluster mode
//! the coordinator is the leader of the group's `__consumer_offsets` partition. Transactions are not
//! supported, so transaction-coordinator lookups (key type 1) get INVALID_REQUEST with a
//! message saying so (a retriable COORDINATOR_NOT_AVAILABLE would make clients retry forever).

use super::{RequestContext, sb};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

pub async fn handle(ctx: &RequestContext, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let v = ctx.api_version;
    let listener = ctx
        .node
        .advertised
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .find(|l| l.name == ctx.listener)
        .cloned();
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
        if req.key_type == GROUP && ctx.metadata.replicated() {
            // Cluster mode: the leader of the group's `__consumer_offsets` partition
            // (group/replicated.rs), created through the controller on first use.
            return match ctx.groups.find_in_cluster(&ctx.node, key) {
                Ok(b) => c
                    .clone()
                    .with_node_id(BrokerId(b.id))
                    .with_host(sb(&b.host))
                    .with_port(i32::from(b.port)),
                Err((e, m)) => err(e, &m),
            };
        }
        match (req.key_type, &listener) {
            (GROUP, Some(l)) => c
                .clone()
                .with_node_id(BrokerId(ctx.node.node_id()))
                .with_host(sb(&l.host))
                .with_port(i32::from(l.port)),
            (GROUP, None) => err(
                ResponseError::CoordinatorNotAvailable,
                "no advertised listener for this connection",
            ),
            (TRANSACTION, _) => err(
                ResponseError::InvalidRequest,
                "transactions are not supported by this broker",
            ),
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
