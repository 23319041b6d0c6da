//! Heartbeat: keeps a member's session alive and tells it when a rebalance is under way.

use super::{RequestContext, errors};
use crate::group::GroupError;
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

pub async fn handle(ctx: &RequestContext, req: HeartbeatRequest) -> HeartbeatResponse {
    if !ctx.authorize(Operation::Read, ResourceType::Group, &req.group_id) {
        return HeartbeatResponse::default()
            .with_error_code(errors::denied(ResourceType::Group).code());
    }
    let r = ctx.groups.check(&ctx.node, &req.group_id).and_then(|()| {
        ctx.groups.heartbeat(
            &req.group_id,
            &req.member_id,
            req.group_instance_id.as_deref(),
            req.generation_id,
        )
    });
    HeartbeatResponse::default().with_error_code(r.err().map_or(0, GroupError::code))
}
