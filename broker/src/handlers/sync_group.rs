//! SyncGroup: the leader hands in the assignment; every member gets its own share.

use super::{RequestContext, errors, sb};
use crate::group::GroupError;
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

pub async fn handle(ctx: &RequestContext, req: SyncGroupRequest) -> SyncGroupResponse {
    let v = ctx.api_version;
    if !ctx.authorize(Operation::Read, ResourceType::Group, &req.group_id) {
        return SyncGroupResponse::default()
            .with_error_code(errors::denied(ResourceType::Group).code());
    }
    let assignments = req
        .assignments
        .into_iter()
        .map(|a| (a.member_id.to_string(), a.assignment.to_vec()))
        .collect();
    let r = ctx
        .groups
        .sync(
            &ctx.node,
            &req.group_id,
            &req.member_id,
            req.group_instance_id.as_deref(),
            req.generation_id,
            req.protocol_type.as_deref(),
            req.protocol_name.as_deref(),
            assignments,
        )
        .await;
    SyncGroupResponse::default()
        .with_error_code(r.error.map_or(0, GroupError::code))
        .with_protocol_type(if v >= 5 {
            r.protocol_type.map(|s| sb(&s))
        } else {
            None
        })
        .with_protocol_name(if v >= 5 {
            r.protocol_name.map(|s| sb(&s))
        } else {
            None
        })
        .with_assignment(r.assignment.into())
}
