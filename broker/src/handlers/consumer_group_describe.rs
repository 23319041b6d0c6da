//! ConsumerGroupDescribe (KIP-848): state, epochs, assignor and every member's subscription,
//! current and target assignment.

use super::{RequestContext, errors, sb};
use crate::group::consumer::Assignment;
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment as WireAssignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};

pub async fn handle(
    ctx: &RequestContext,
    req: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let groups = req
        .group_ids
        .into_iter()
        .map(|id| {
            let d = DescribedGroup::default().with_group_id(id.clone());
            if !ctx.authorize(Operation::Describe, ResourceType::Group, &id) {
                return d.with_error_code(errors::denied(ResourceType::Group).code());
            }
            let g = match ctx.groups.consumer_describe(&ctx.node, &id) {
                Err(e) => return d.with_error_code(e.code()),
                Ok(None) => {
                    return d
                        .with_error_code(ResponseError::GroupIdNotFound.code())
                        .with_error_message(Some(sb(&format!(
                            "Group {} not found or is not a consumer group.",
                            &*id
                        ))));
                }
                Ok(Some(g)) => g,
            };
            let wire = |a: &Assignment| {
                WireAssignment::default().with_topic_partitions(
                    a.iter()
                        .map(|(tid, ps)| {
                            let name = ctx.node.topic_by_id(*tid).map(|t| t.name.clone());
                            TopicPartitions::default()
                                .with_topic_id(*tid)
                                .with_topic_name(TopicName(sb(&name.unwrap_or_default())))
                                .with_partitions(ps.iter().copied().collect())
                        })
                        .collect(),
                )
            };
            let members = g
                .members
                .iter()
                .map(|m| {
                    Member::default()
                        .with_member_id(sb(&m.member_id))
                        .with_instance_id(m.instance_id.as_deref().map(sb))
                        .with_rack_id(m.rack_id.as_deref().map(sb))
                        .with_member_epoch(m.member_epoch)
                        .with_client_id(sb(&m.client_id))
                        .with_client_host(sb(&m.client_host))
                        .with_subscribed_topic_names(
                            m.subscribed_topic_names
                                .iter()
                                .map(|t| TopicName(sb(t)))
                                .collect(),
                        )
                        .with_subscribed_topic_regex(m.subscribed_topic_regex.as_deref().map(sb))
                        .with_assignment(wire(&m.assigned))
                        .with_target_assignment(wire(
                            g.target.get(&m.member_id).unwrap_or(&Assignment::new()),
                        ))
                        // v1's MemberType: 1, a member of the consumer protocol.
                        .with_member_type(if ctx.api_version >= 1 { 1 } else { -1 })
                })
                .collect();
            d.with_group_state(sb(g.state))
                .with_group_epoch(g.group_epoch)
                .with_assignment_epoch(g.assignment_epoch)
                .with_assignor_name(sb(&g.assignor))
                .with_members(members)
                .with_authorized_operations(i32::MIN)
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
