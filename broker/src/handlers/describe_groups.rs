//! DescribeGroups: state, protocol and members (metadata and assignment) of each group.
//! An unknown group, or a consumer group (KIP-848), is "Dead" (v0-5) or GROUP_ID_NOT_FOUND (v6+),
//! as in Kafka 4.

use super::{RequestContext, errors, sb};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

pub async fn handle(ctx: &RequestContext, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let v = ctx.api_version;
    let groups = req
        .groups
        .into_iter()
        .map(|id| {
            if !ctx.authorize(Operation::Describe, ResourceType::Group, &id) {
                return DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(errors::denied(ResourceType::Group).code());
            }
            if let Err(e) = ctx.groups.check(&ctx.node, &id) {
                return DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(e.code());
            }
            // A consumer group (KIP-848) is not described here, as in Kafka 4: "Dead" (v0-5) or
            // GROUP_ID_NOT_FOUND (v6+); ConsumerGroupDescribe describes it.
            let consumer = ctx.groups.is_consumer_group(&id);
            let found = if consumer {
                None
            } else {
                ctx.groups.describe(&id)
            };
            let Some(g) = found else {
                let d = DescribedGroup::default()
                    .with_group_id(id.clone())
                    .with_group_state(sb("Dead"));
                let message = if consumer {
                    format!("Group {} is not a classic group.", &*id)
                } else {
                    format!("group {} not found", &*id)
                };
                return if v >= 6 {
                    d.with_error_code(ResponseError::GroupIdNotFound.code())
                        .with_error_message(Some(sb(&message)))
                } else {
                    d
                };
            };
            let members = g
                .members
                .iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(sb(&m.member_id))
                        .with_group_instance_id(if v >= 4 {
                            m.group_instance_id.as_deref().map(sb)
                        } else {
                            None
                        })
                        .with_client_id(sb(&m.client_id))
                        .with_client_host(sb(&m.client_host))
                        .with_member_metadata(
                            m.metadata(&g.protocol_name)
                                .unwrap_or_default()
                                .to_vec()
                                .into(),
                        )
                        .with_member_assignment(m.assignment.clone().into())
                })
                .collect();
            let ops = if v >= 3 && req.include_authorized_operations {
                ctx.authorized_operations(ResourceType::Group, &id)
            } else {
                i32::MIN
            };
            DescribedGroup::default()
                .with_authorized_operations(ops)
                .with_group_id(id)
                .with_group_state(sb(g.state.name()))
                .with_protocol_type(sb(&g.protocol_type))
                .with_protocol_data(sb(&g.protocol_name))
                .with_members(members)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
