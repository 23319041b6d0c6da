//! The coordinator's side of KIP-848 consumer groups: runs `consumer::ConsumerGroup` under the
//! coordinator's lock with the cluster's topics, and answers what ConsumerGroupHeartbeat,
//! ConsumerGroupDescribe, ListGroups and the offset APIs need. Membership is not persisted
//! (see group/consumer/mod.rs).

use super::consumer::{self, ConsumerGroup, Heartbeat, HeartbeatAnswer, Refusal, TopicMeta};
use super::{Coordinator, GroupError, Inner};
use crate::node::Node;
use std::collections::BTreeMap;

/// A consumer group as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone)]
pub struct ConsumerGroupView {
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    pub members: Vec<consumer::Member>,
    pub target: BTreeMap<String, consumer::Assignment>,
}

impl Coordinator {
    /// ConsumerGroupHeartbeat.
    pub fn consumer_heartbeat(
        &self,
        node: &Node,
        group_id: &str,
        req: Heartbeat,
    ) -> Result<HeartbeatAnswer, Refusal> {
        let refusal = |error: GroupError, message: &str| Refusal {
            error,
            message: message.to_string(),
        };
        if group_id.is_empty() {
            return Err(refusal(
                GroupError::InvalidGroupId,
                "GroupId can't be empty.",
            ));
        }
        let topics = topics_of(node);
        let mut inner = self.lock();
        self.check_coordinator(node, &inner, group_id)
            .map_err(|e| refusal(e, ""))?;
        if inner
            .groups
            .get(group_id)
            .is_some_and(|g| !g.members.is_empty() || !g.pending_members.is_empty())
        {
            return Err(refusal(
                GroupError::GroupNotFound,
                &format!("Group {group_id} is not a consumer group."),
            ));
        }
        let fresh = uuid::Uuid::new_v4().to_string();
        let leaving = req.member_epoch < 0;
        let answer = inner
            .consumer_groups
            .entry(group_id.to_string())
            .or_default()
            .heartbeat(req, &topics, fresh, self.now(), &self.consumer_settings);
        if leaving || answer.is_err() {
            inner.consumer_groups.retain(|_, g| !g.is_empty());
        }
        self.reschedule(&inner, group_id);
        answer
    }

    /// ConsumerGroupDescribe of one group: `None` when it is not a consumer group here.
    pub fn consumer_describe(
        &self,
        node: &Node,
        group_id: &str,
    ) -> Result<Option<ConsumerGroupView>, GroupError> {
        let inner = self.lock();
        self.check_coordinator(node, &inner, group_id)?;
        Ok(inner
            .consumer_groups
            .get(group_id)
            .map(|g| ConsumerGroupView {
                state: g.state_name(),
                group_epoch: g.group_epoch,
                assignment_epoch: g.assignment_epoch,
                assignor: g.assignor.clone(),
                members: g.members.values().cloned().collect(),
                target: g.target.clone(),
            }))
    }

    /// Consumer groups for ListGroups: (group id, state name).
    pub fn consumer_list(&self) -> Vec<(String, &'static str)> {
        let inner = self.lock();
        let mut out: Vec<_> = inner
            .consumer_groups
            .iter()
            .map(|(id, g)| (id.clone(), g.state_name()))
            .collect();
        out.sort();
        out
    }
}

/// OffsetCommit/OffsetFetch against a consumer group: `None` when the group is not one (the
/// classic checks apply), else whether this member at this epoch may go on. Admin requests
/// (no member id, epoch -1) may commit only to an empty group, as Kafka's.
pub(super) fn validate_offsets_member(
    inner: &Inner,
    group_id: &str,
    member_id: &str,
    epoch: i32,
) -> Option<Result<(), GroupError>> {
    let g = inner.consumer_groups.get(group_id)?;
    if member_id.is_empty() && epoch < 0 {
        return Some(if g.is_empty() {
            Ok(())
        } else {
            Err(GroupError::UnknownMember)
        });
    }
    Some(g.validate_member(member_id, epoch))
}

/// Every user topic of the cluster, for subscriptions (internal topics are never assigned).
fn topics_of(node: &Node) -> BTreeMap<String, TopicMeta> {
    node.topics()
        .iter()
        .filter(|t| !t.internal)
        .map(|t| {
            (
                t.name.clone(),
                TopicMeta {
                    id: t.id,
                    partitions: i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
                },
            )
        })
        .collect()
}

impl ConsumerGroup {
    /// For tests and views: the partitions a member holds right now.
    pub fn assigned_to(&self, member_id: &str) -> Option<&consumer::Assignment> {
        self.members.get(member_id).map(|m| &m.assigned)
    }
}
