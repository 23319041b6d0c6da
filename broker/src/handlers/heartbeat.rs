//! Heartbeat: keeps a member's session alive and tells it when a rebalance is under way.

use super::RequestContext;
use crate::broker::Broker;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use std::sync::Arc;

pub async fn handle(
    broker: &Arc<Broker>,
    _ctx: &RequestContext,
    req: HeartbeatRequest,
) -> HeartbeatResponse {
    let r = broker.groups.check(broker, &req.group_id).and_then(|()| {
        broker.groups.heartbeat(
            &req.group_id,
            &req.member_id,
            req.group_instance_id.as_deref(),
            req.generation_id,
        )
    });
    HeartbeatResponse::default().with_error_code(r.err().map_or(0, |e| e.code()))
}
