//! Online migration between the classic and the consumer protocol (KIP-848), as Kafka 4 does it
//! under `group.consumer.migration.policy`:
//!
//! - **Upgrade**: a ConsumerGroupHeartbeat to a classic group of the consumer protocol (a
//!   member with `group.protocol=consumer` joins during a rolling upgrade) turns it into a
//!   consumer group. Its members stay, served as classic members of the consumer group
//!   (consumer/classic.rs), each with its subscription and the partitions of its last
//!   assignment; JoinGroup/SyncGroup requests parked in a classic rebalance are told to rejoin.
//! - **Downgrade**: when the last consumer-protocol member leaves a group whose other members
//!   are classic (a rollback), the group becomes a classic group again with their current
//!   assignments, and a classic rebalance starts.

use super::{Effect, Group, GroupError, GroupState, JoinResult, Limits, Member, SyncResult};
use crate::group::consumer::protocol;
use crate::group::consumer::{self, ClassicMeta, ConsumerGroup, MemberState, TopicMeta};
use std::collections::BTreeMap;

/// `group.consumer.migration.policy`: which ways a group may move between the protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationPolicy {
    pub upgrade: bool,
    pub downgrade: bool,
}

impl MigrationPolicy {
    /// Kafka's values: `bidirectional` (the default), `upgrade`, `downgrade`, `disabled`.
    pub fn parse(value: &str) -> Option<Self> {
        let (upgrade, downgrade) = match value {
            "bidirectional" => (true, true),
            "upgrade" => (true, false),
            "downgrade" => (false, true),
            "disabled" => (false, false),
            _ => return None,
        };
        Some(MigrationPolicy { upgrade, downgrade })
    }
}

impl Group {
    /// Upgrade: makes this classic group a consumer group (see the module docs). Refused with
    /// GROUP_ID_NOT_FOUND, as Kafka's, when its members do not use the consumer protocol or their
    /// metadata cannot be read; the group is then unchanged.
    pub fn upgrade_to_consumer(
        &mut self,
        topics: &BTreeMap<String, TopicMeta>,
        now: i64,
    ) -> Result<Vec<Effect>, GroupError> {
        if self.protocol_type.as_deref() != Some(consumer::CONSUMER_PROTOCOL_TYPE) {
            return Err(GroupError::GroupNotFound);
        }
        let mut members = Vec::with_capacity(self.members.len());
        for m in self.members.values() {
            let chosen = self
                .protocol_name
                .as_deref()
                .and_then(|p| m.metadata(p))
                .or_else(|| m.protocols.first().map(|(_, md)| md.as_slice()))
                .ok_or(GroupError::GroupNotFound)?;
            let sub = protocol::decode_subscription(chosen).ok_or(GroupError::GroupNotFound)?;
            let owned =
                protocol::decode_assignment(&m.assignment).ok_or(GroupError::GroupNotFound)?;
            let mut names = sub.topics;
            names.sort();
            names.dedup();
            let mut cm = consumer::Member {
                member_epoch: self.generation_id,
                previous_member_epoch: self.generation_id,
                state: MemberState::Stable,
                assigned: consumer::by_id(&owned, topics),
                subscribed_topic_names: names,
                rack_id: sub.rack_id,
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                classic: Some(ClassicMeta {
                    session_timeout_ms: m.session_timeout_ms,
                    protocols: m.protocols.clone(),
                }),
                ..consumer::Member::new(
                    m.member_id.clone(),
                    m.group_instance_id.clone(),
                    m.rebalance_timeout_ms,
                    now,
                )
            };
            cm.last_heartbeat_ms = now;
            members.push(cm);
        }
        let mut fx = Vec::new();
        for m in self.members.values() {
            if m.awaiting_join {
                fx.push(Effect::Join {
                    member_id: m.member_id.clone(),
                    result: JoinResult::error(&m.member_id, GroupError::RebalanceInProgress),
                });
            }
            if m.awaiting_sync {
                fx.push(Effect::Sync {
                    member_id: m.member_id.clone(),
                    result: SyncResult::error(GroupError::RebalanceInProgress),
                });
            }
        }
        self.consumer = Some(ConsumerGroup::from_classic(
            self.generation_id,
            members,
            topics,
        ));
        self.members.clear();
        self.static_members.clear();
        self.pending_members.clear();
        self.join_deadline_ms = None;
        self.initial_delay = None;
        self.state = GroupState::Empty;
        self.leader = None;
        self.protocol_name = None;
        self.protocol_type = None;
        fx.push(Effect::Persist);
        Ok(fx)
    }

    /// Downgrade: makes this group, whose consumer group has only classic members left, a
    /// classic group again at the consumer group's epoch, and starts a rebalance so that the
    /// members join with the classic protocol's own assignment.
    pub fn downgrade_to_classic(&mut self, now: i64, limits: &Limits) -> Vec<Effect> {
        let Some(cg) = self.consumer.take() else {
            return Vec::new();
        };
        let names = cg.topic_names();
        self.members.clear();
        self.static_members.clear();
        for m in cg.members.values() {
            let Some(meta) = &m.classic else { continue };
            let assignment = protocol::encode_assignment(
                meta.subscription_version(),
                &m.partitions_by_name(&names),
            );
            if let Some(inst) = &m.instance_id {
                self.static_members
                    .insert(inst.clone(), m.member_id.clone());
            }
            self.members.insert(
                m.member_id.clone(),
                Member {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: meta.session_timeout_ms,
                    protocol_type: consumer::CONSUMER_PROTOCOL_TYPE.to_string(),
                    protocols: meta.protocols.clone(),
                    assignment,
                    awaiting_join: false,
                    awaiting_sync: false,
                    last_heartbeat_ms: now,
                },
            );
        }
        let mut fx = vec![Effect::Persist];
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            return fx;
        }
        self.generation_id = cg.group_epoch;
        self.protocol_type = Some(consumer::CONSUMER_PROTOCOL_TYPE.to_string());
        self.protocol_name = self.select_protocol();
        self.leader = self.members.keys().next().cloned();
        self.state = GroupState::Stable;
        self.prepare_rebalance(now, limits, &mut fx);
        fx
    }
}

#[cfg(test)]
#[path = "migration_tests.rs"]
mod tests;
