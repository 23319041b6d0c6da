//! JoinGroup: hands the request to the coordinator, which answers once the rebalance's join
//! phase completes (or at once: errors, MEMBER_ID_REQUIRED, static-member rejoin).

use super::{RequestContext, errors, sb};
use crate::group::GroupError;
use crate::group::state::JoinRequest;
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

pub async fn handle(ctx: &RequestContext, req: JoinGroupRequest) -> JoinGroupResponse {
    let v = ctx.api_version;
    if !ctx.authorize(Operation::Read, ResourceType::Group, &req.group_id) {
        return JoinGroupResponse::default()
            .with_error_code(errors::denied(ResourceType::Group).code())
            .with_generation_id(-1)
            .with_protocol_name((v < 7).then(|| sb("")))
            .with_member_id(req.member_id);
    }
    let join = JoinRequest {
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.map(|s| s.to_string()),
        client_id: ctx.client_id.clone().unwrap_or_default(),
        client_host: format!("/{}", ctx.peer.ip()),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if v >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata.to_vec()))
            .collect(),
        require_known_member_id: v >= 4,
    };
    let r = ctx
        .groups
        .join(&ctx.node, &req.group_id, join, v >= 9)
        .await;
    let members = r
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(sb(&m.member_id))
                .with_group_instance_id(if v >= 5 {
                    m.group_instance_id.map(|s| sb(&s))
                } else {
                    None
                })
                .with_metadata(m.metadata.into())
        })
        .collect();
    JoinGroupResponse::default()
        .with_error_code(r.error.map_or(0, GroupError::code))
        .with_generation_id(r.generation_id)
        .with_protocol_type(if v >= 7 {
            r.protocol_type.map(|s| sb(&s))
        } else {
            None
        })
        .with_protocol_name(if v >= 7 {
            r.protocol_name.map(|s| sb(&s))
        } else {
            Some(sb(&r.protocol_name.unwrap_or_default()))
        })
        .with_leader(sb(&r.leader))
        .with_skip_assignment(v >= 9 && r.skip_assignment)
        .with_member_id(sb(&r.member_id))
        .with_members(members)
}
