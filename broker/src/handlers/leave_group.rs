//! LeaveGroup: one member (v0-2) or a batch of members by id or group.instance.id (v3+).

use super::{RequestContext, errors, sb};
use crate::group::GroupError;
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

pub async fn handle(ctx: &RequestContext, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let members: Vec<(String, Option<String>)> = if ctx.api_version >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(ToString::to_string),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    if !ctx.authorize(Operation::Read, ResourceType::Group, &req.group_id) {
        return LeaveGroupResponse::default()
            .with_error_code(errors::denied(ResourceType::Group).code());
    }
    if let Err(e) = ctx.groups.check(&ctx.node, &req.group_id) {
        return LeaveGroupResponse::default().with_error_code(e.code());
    }
    let results = ctx.groups.leave(&ctx.node, &req.group_id, &members);
    if ctx.api_version < 3 {
        let e = match results.as_deref() {
            None => Some(GroupError::UnknownMember),
            Some([Err(e)]) => Some(*e),
            _ => None,
        };
        return LeaveGroupResponse::default().with_error_code(e.map_or(0, GroupError::code));
    }
    let results = results.unwrap_or_else(|| vec![Err(GroupError::UnknownMember); members.len()]);
    let out = members
        .into_iter()
        .zip(results)
        .map(|((id, inst), r)| {
            MemberResponse::default()
                .with_member_id(sb(&id))
                .with_group_instance_id(inst.map(|s| sb(&s)))
                .with_error_code(r.err().map_or(0, GroupError::code))
        })
        .collect();
    LeaveGroupResponse::default().with_members(out)
}
