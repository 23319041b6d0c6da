//! Classic members of a consumer group (KIP-848 online migration, as Kafka 4 runs it): while a
//! group moves between protocols, members still on the classic protocol keep sending JoinGroup,
//! SyncGroup, Heartbeat and LeaveGroup, and the consumer group serves them itself.
//!
//! - A classic member's subscription comes from its JoinGroup metadata
//!   (`ConsumerProtocolSubscription`), and the server-side assignor assigns it like any member.
//! - JoinGroup reconciles it one step (Kafka's `classicGroupJoinToConsumerGroup`): it gives up
//!   what it no longer owns (an eager member owns nothing when it rejoins, a cooperative one
//!   lists what it kept), and gets partitions only once their previous owner released them.
//!   Nobody is the leader: the answer lists no members, so the client runs no assignor.
//! - SyncGroup returns its current partitions as a `ConsumerProtocolAssignment`.
//! - Heartbeat answers REBALANCE_IN_PROGRESS while the group has moved on, it has partitions to
//!   revoke, or partitions it waited for are free: the client then joins again. One that does
//!   not within its rebalance timeout is removed.
//!
//! The generation a classic member sees is its member epoch.

use super::protocol::{self, Partitions};
use super::{Assignment, ConsumerGroup, Member, MemberState, Settings, TopicMeta};
use crate::group::GroupError;
use crate::group::state::{JoinRequest, JoinResult, SyncResult};
use std::collections::BTreeMap;

/// The protocol type of the consumer protocol's classic members.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// What a classic member told the group in its last JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClassicMeta {
    pub session_timeout_ms: i32,
    /// (protocol name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Vec<u8>)>,
}

impl ClassicMeta {
    /// The protocol it is answered with: its first choice (each classic member may be on its
    /// own, as in Kafka; the assignment comes from the server either way).
    pub fn protocol_name(&self) -> &str {
        self.protocols.first().map_or("", |(n, _)| n.as_str())
    }

    /// The version of its subscription, which its assignment is written at.
    pub fn subscription_version(&self) -> i16 {
        self.protocols
            .first()
            .and_then(|(_, m)| protocol::decode_subscription(m))
            .map_or(0, |s| s.version)
    }
}

impl Member {
    /// Its partitions by topic name (topics no longer in `names` are left out).
    pub fn partitions_by_name(&self, names: &BTreeMap<uuid::Uuid, String>) -> Partitions {
        self.assigned
            .iter()
            .filter_map(|(id, ps)| {
                names
                    .get(id)
                    .map(|n| (n.clone(), ps.iter().copied().collect()))
            })
            .collect()
    }
}

/// Partitions by name as an assignment by topic id (unknown topics are dropped).
pub fn by_id(partitions: &Partitions, topics: &BTreeMap<String, TopicMeta>) -> Assignment {
    let mut out = Assignment::new();
    for (name, ps) in partitions {
        if let Some(t) = topics.get(name) {
            out.entry(t.id)
                .or_default()
                .extend(ps.iter().filter(|p| (0..t.partitions).contains(*p)));
        }
    }
    out.retain(|_, ps| !ps.is_empty());
    out
}

impl ConsumerGroup {
    /// Topic id -> name of the subscribed topics (every assigned topic is one).
    pub fn topic_names(&self) -> BTreeMap<uuid::Uuid, String> {
        self.subscribed
            .iter()
            .map(|(name, meta)| (meta.id, name.clone()))
            .collect()
    }

    /// JoinGroup of a classic member. `fresh_id`: the member id handed out to a member that
    /// has none.
    pub fn classic_join(
        &mut self,
        req: &JoinRequest,
        topics: &BTreeMap<String, TopicMeta>,
        fresh_id: String,
        now: i64,
        settings: &Settings,
    ) -> Result<JoinResult, GroupError> {
        if req.protocol_type != CONSUMER_PROTOCOL_TYPE || req.protocols.is_empty() {
            return Err(GroupError::InconsistentProtocol);
        }
        // Every classic member must share a protocol with it, as in a classic group.
        let shares = |m: &Member| {
            m.classic.as_ref().is_none_or(|c| {
                c.protocols
                    .iter()
                    .any(|(n, _)| req.protocols.iter().any(|(r, _)| r == n))
            })
        };
        if !self
            .members
            .values()
            .filter(|m| m.member_id != req.member_id)
            .all(shares)
        {
            return Err(GroupError::InconsistentProtocol);
        }
        // Its subscription: the first protocol's metadata (all carry the same topics).
        let Some(sub) = protocol::decode_subscription(&req.protocols[0].1) else {
            return Err(GroupError::InconsistentProtocol);
        };
        let unknown = req.member_id.is_empty();
        if unknown && req.group_instance_id.is_none() && req.require_known_member_id {
            // A dynamic member first learns its id and joins again with it (nothing changes).
            return Ok(JoinResult::error(&fresh_id, GroupError::MemberIdRequired));
        }
        let member_id = if unknown {
            fresh_id
        } else {
            req.member_id.clone()
        };
        let mut bump = self.admit_classic(req, &member_id, unknown, now, settings)?;
        {
            let m = self.members.get_mut(&member_id).expect("admitted");
            m.client_id.clone_from(&req.client_id);
            m.client_host.clone_from(&req.client_host);
            m.last_heartbeat_ms = now;
            m.join_deadline_ms = None;
            if req.rebalance_timeout_ms > 0 {
                m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            }
            if sub.rack_id.is_some() {
                m.rack_id.clone_from(&sub.rack_id);
            }
            let mut names = sub.topics.clone();
            names.sort();
            names.dedup();
            if names != m.subscribed_topic_names || m.subscribed_topic_regex.is_some() {
                m.subscribed_topic_names = names;
                m.subscribed_topic_regex = None;
                bump = true;
            }
            m.classic = Some(ClassicMeta {
                session_timeout_ms: req.session_timeout_ms,
                protocols: req.protocols.clone(),
            });
        }
        self.refresh_target(bump, topics);
        let owned = by_id(&sub.owned, topics);
        self.reconcile(&member_id, Some(&owned), now);
        let m = &self.members[&member_id];
        let protocol_name = m.classic.as_ref().map(|c| c.protocol_name().to_string());
        Ok(JoinResult {
            error: None,
            member_id: member_id.clone(),
            generation_id: m.member_epoch,
            protocol_type: Some(CONSUMER_PROTOCOL_TYPE.to_string()),
            protocol_name,
            // Nobody assigns on the client side: no leader, no member list.
            leader: String::new(),
            skip_assignment: false,
            members: Vec::new(),
        })
    }

    /// Finds or creates the joining classic member; returns whether it is new (which moves
    /// the group epoch). A static member joining without its id replaces its previous
    /// incarnation and takes over its partitions, as Kafka's static membership does.
    fn admit_classic(
        &mut self,
        req: &JoinRequest,
        member_id: &str,
        unknown: bool,
        now: i64,
        settings: &Settings,
    ) -> Result<bool, GroupError> {
        if let Some(inst) = &req.group_instance_id {
            let previous = self
                .members
                .values()
                .find(|m| m.instance_id.as_ref() == Some(inst))
                .map(|m| m.member_id.clone());
            match previous {
                Some(old) if old == member_id => {
                    return self.classic_only(member_id).map(|_| false);
                }
                Some(old) if unknown => {
                    let mut m = self.members.remove(&old).expect("found");
                    m.member_id = member_id.to_string();
                    if let Some(t) = self.target.remove(&old) {
                        self.target.insert(member_id.to_string(), t);
                    }
                    if m.classic.is_none() {
                        // A consumer-protocol incarnation replaced by a classic one: it keeps
                        // its partitions and its epoch.
                        m.member_epoch = m.member_epoch.max(0);
                    }
                    self.members.insert(member_id.to_string(), m);
                    return Ok(false);
                }
                Some(_) => return Err(GroupError::FencedInstanceId),
                None => {}
            }
        } else if self.members.contains_key(member_id) {
            return self.classic_only(member_id).map(|_| false);
        }
        if self.members.len() >= settings.max_size {
            return Err(GroupError::GroupMaxSizeReached);
        }
        // A member id the group does not know is taken as a new member, as Kafka's consumer
        // groups do for classic joins.
        let m = Member::new(
            member_id.to_string(),
            req.group_instance_id.clone(),
            req.rebalance_timeout_ms,
            now,
        );
        self.members.insert(member_id.to_string(), m);
        Ok(true)
    }

    /// The member, which must be a classic one: a consumer-protocol member's id in a classic
    /// request is not a member Kafka knows there.
    fn classic_only(&self, member_id: &str) -> Result<&Member, GroupError> {
        match self.members.get(member_id) {
            Some(m) if m.classic.is_some() => Ok(m),
            _ => Err(GroupError::UnknownMember),
        }
    }

    /// The classic member a request names (by instance id for static members).
    fn classic_member(
        &self,
        member_id: &str,
        instance: Option<&str>,
    ) -> Result<&Member, GroupError> {
        if let Some(inst) = instance {
            let m = self
                .members
                .values()
                .find(|m| m.instance_id.as_deref() == Some(inst))
                .ok_or(GroupError::UnknownMember)?;
            if m.member_id != member_id {
                return Err(GroupError::FencedInstanceId);
            }
        }
        self.classic_only(member_id)
    }

    /// Whether the group moved on since the member's epoch (and the member is not in the
    /// middle of giving partitions up, which it finishes first).
    fn rebalancing_for(&self, m: &Member) -> bool {
        self.group_epoch > m.member_epoch && m.state != MemberState::UnrevokedPartitions
    }

    /// SyncGroup of a classic member: its current partitions.
    pub fn classic_sync(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        now: i64,
    ) -> Result<SyncResult, GroupError> {
        let m = self.classic_member(member_id, instance)?;
        if generation != m.member_epoch {
            return Err(GroupError::IllegalGeneration);
        }
        let meta = m.classic.as_ref().expect("classic member");
        if protocol_type.is_some_and(|t| t != CONSUMER_PROTOCOL_TYPE)
            || protocol_name.is_some_and(|n| !meta.protocols.iter().any(|(p, _)| p == n))
        {
            return Err(GroupError::InconsistentProtocol);
        }
        if self.rebalancing_for(m) {
            return Err(GroupError::RebalanceInProgress);
        }
        let assignment = protocol::encode_assignment(
            meta.subscription_version(),
            &m.partitions_by_name(&self.topic_names()),
        );
        let protocol_name =
            protocol_name.map_or_else(|| meta.protocol_name().to_string(), str::to_string);
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_heartbeat_ms = now;
        }
        Ok(SyncResult {
            error: None,
            protocol_type: Some(CONSUMER_PROTOCOL_TYPE.to_string()),
            protocol_name: Some(protocol_name),
            assignment,
        })
    }

    /// Heartbeat of a classic member. REBALANCE_IN_PROGRESS tells it to join again: the group
    /// moved on, it has partitions to give up, or partitions it waited for are free now.
    pub fn classic_heartbeat(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
        now: i64,
    ) -> Result<(), GroupError> {
        let m = self.classic_member(member_id, instance)?;
        if generation != m.member_epoch {
            return Err(GroupError::IllegalGeneration);
        }
        let rejoin = m.member_epoch < self.group_epoch
            || m.state == MemberState::UnrevokedPartitions
            || (m.state == MemberState::UnreleasedPartitions && !self.waits_on_others(m));
        let m = self.members.get_mut(member_id).expect("found");
        m.last_heartbeat_ms = now;
        if rejoin {
            m.join_deadline_ms
                .get_or_insert(now + i64::from(m.rebalance_timeout_ms));
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Whether a partition of the member's target is still held by another member.
    fn waits_on_others(&self, m: &Member) -> bool {
        let held = self.held_by_others(&m.member_id);
        self.target.get(&m.member_id).is_some_and(|t| {
            t.iter()
                .any(|(id, ps)| ps.iter().any(|p| held.contains(&(*id, *p))))
        })
    }

    /// LeaveGroup of classic members (by member id, or instance id for static ones): each
    /// leaves for good and its partitions go to the others.
    pub fn classic_leave(
        &mut self,
        members: &[(String, Option<String>)],
    ) -> Vec<Result<(), GroupError>> {
        members
            .iter()
            .map(|(id, inst)| {
                let found = match inst {
                    Some(inst) => {
                        let m = self
                            .members
                            .values()
                            .find(|m| m.instance_id.as_ref() == Some(inst))
                            .ok_or(GroupError::UnknownMember)?;
                        if !id.is_empty() && m.member_id != *id {
                            return Err(GroupError::FencedInstanceId);
                        }
                        m.member_id.clone()
                    }
                    None => self.classic_only(id)?.member_id.clone(),
                };
                self.remove(&found);
                Ok(())
            })
            .collect()
    }

    /// A consumer group made of a classic group's members (an online upgrade): each keeps its
    /// partitions at its generation, which becomes its member epoch, and the group's epoch and
    /// target are that generation and those partitions, so nothing moves until the joining
    /// consumer-protocol member moves the epoch.
    pub fn from_classic(
        generation: i32,
        members: Vec<Member>,
        topics: &BTreeMap<String, TopicMeta>,
    ) -> ConsumerGroup {
        let mut g = ConsumerGroup {
            group_epoch: generation,
            assignment_epoch: generation,
            target: members
                .iter()
                .map(|m| (m.member_id.clone(), m.assigned.clone()))
                .collect(),
            members: members
                .into_iter()
                .map(|m| (m.member_id.clone(), m))
                .collect(),
            subscribed: BTreeMap::new(),
            assignor: super::assignor::UNIFORM.to_string(),
        };
        g.subscribed = g.subscribed_topics(topics);
        g
    }
}
