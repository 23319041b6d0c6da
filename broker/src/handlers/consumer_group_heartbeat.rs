//! ConsumerGroupHeartbeat (KIP-848, `group.protocol=consumer`): joins, heartbeats, reconciles
//! and leaves in one API; the coordinator computes assignments (group/consumer/).

use super::{RequestContext, errors, sb};
use crate::group::GroupError;
use crate::group::consumer::{Assignment, Heartbeat};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::messages::consumer_group_heartbeat_response::{
    Assignment as WireAssignment, TopicPartitions,
};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};

pub async fn handle(
    ctx: &RequestContext,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let fail = |code: i16, message: Option<String>| {
        ConsumerGroupHeartbeatResponse::default()
            .with_error_code(code)
            .with_error_message(message.filter(|m| !m.is_empty()).map(|m| sb(&m)))
            .with_member_epoch(req.member_epoch)
    };
    if !ctx.authorize(Operation::Read, ResourceType::Group, &req.group_id) {
        return fail(errors::denied(ResourceType::Group).code(), None);
    }
    // Kafka also requires DESCRIBE on subscribed topics; a topic the principal may not see is
    // refused here rather than silently left out of the assignment.
    if let Some(names) = &req.subscribed_topic_names
        && names
            .iter()
            .any(|t| !ctx.authorize(Operation::Describe, ResourceType::Topic, t))
    {
        return fail(errors::denied(ResourceType::Topic).code(), None);
    }
    let owned = req.topic_partitions.as_ref().map(|tps| {
        let mut a = Assignment::new();
        for tp in tps {
            a.entry(tp.topic_id)
                .or_default()
                .extend(tp.partitions.iter().copied());
        }
        a
    });
    let hb = Heartbeat {
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.as_ref().map(ToString::to_string),
        rack_id: req.rack_id.as_ref().map(ToString::to_string),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topic_names: req
            .subscribed_topic_names
            .as_ref()
            .map(|ns| ns.iter().map(|t| t.as_str().to_string()).collect()),
        subscribed_topic_regex: req.subscribed_topic_regex.as_ref().map(ToString::to_string),
        server_assignor: req.server_assignor.as_ref().map(ToString::to_string),
        owned,
        client_id: ctx.client_id.clone().unwrap_or_default(),
        client_host: format!("/{}", ctx.peer.ip()),
        client_member_id: ctx.api_version >= 1,
    };
    match ctx
        .groups
        .consumer_heartbeat(&ctx.node, &req.group_id, hb)
        .await
    {
        Ok(a) => ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(sb(&a.member_id)))
            .with_member_epoch(a.member_epoch)
            .with_heartbeat_interval_ms(a.heartbeat_interval_ms)
            .with_assignment(a.assignment.map(|asg| {
                WireAssignment::default().with_topic_partitions(
                    asg.into_iter()
                        .map(|(id, ps)| {
                            TopicPartitions::default()
                                .with_topic_id(id)
                                .with_partitions(ps.into_iter().collect())
                        })
                        .collect(),
                )
            })),
        Err(r) => fail(GroupError::code(r.error), Some(r.message)),
    }
}
