//! The classic consumer-group state machine, pure and I/O-free: membership, rebalances, static
//! members, session and rebalance timeouts. Every operation takes `now` (ms) and returns its
//! answer plus `Effect`s (delayed join/sync answers to deliver, group metadata to persist);
//! the coordinator (group/mod.rs) does the waiting, the persisting and the clock.
//!
//! Behaviour and error codes follow Kafka's classic `GroupCoordinator`, which clients rely on.

use super::GroupError;
use indexmap::IndexMap;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka uses on the wire (ListGroups, DescribeGroups).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Limits the coordinator applies (broker settings).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub initial_rebalance_delay_ms: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// (protocol name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Vec<u8>)>,
    pub assignment: Vec<u8>,
    #[serde(skip)]
    pub awaiting_join: bool,
    #[serde(skip)]
    pub awaiting_sync: bool,
    #[serde(skip)]
    pub last_heartbeat_ms: i64,
}

impl Member {
    pub fn metadata(&self, protocol: &str) -> Option<&[u8]> {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.as_slice())
    }
}

/// A JoinGroup request, decoded.
#[derive(Debug, Clone, Default)]
pub struct JoinRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Vec<u8>)>,
    /// JoinGroup v4+: a member without an id first gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    pub error: Option<GroupError>,
    pub member_id: String,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub skip_assignment: bool,
    pub members: Vec<JoinMember>,
}

impl JoinResult {
    pub fn error(member_id: &str, e: GroupError) -> Self {
        JoinResult {
            error: Some(e),
            member_id: member_id.to_string(),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub error: Option<GroupError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Vec<u8>,
}

impl SyncResult {
    pub fn error(e: GroupError) -> Self {
        SyncResult {
            error: Some(e),
            protocol_type: None,
            protocol_name: None,
            assignment: Vec::new(),
        }
    }
}

/// Something the coordinator must do after an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Answer a JoinGroup that was left waiting.
    Join {
        member_id: String,
        result: JoinResult,
    },
    /// Answer a SyncGroup that was left waiting.
    Sync {
        member_id: String,
        result: SyncResult,
    },
    /// The group's metadata (generation, members, assignments) changed: persist it.
    Persist,
}

/// An operation's answer: now, or later through an `Effect` for that member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    Now(T),
    Later { member_id: String },
}

/// A committed offset with what the client stored alongside it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp_ms: i64,
}

/// One offset of a transaction (cluster mode), pending at the group's coordinator until the
/// transaction's marker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxnOffset {
    pub topic: String,
    pub partition: i32,
    #[serde(flatten)]
    pub offset: CommittedOffset,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub group_id: String,
    pub state: GroupState,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub members: IndexMap<String, Member>,
    /// group.instance.id → member id.
    pub static_members: HashMap<String, String>,
    /// Members told MEMBER_ID_REQUIRED, with the deadline of their second join.
    pub pending_members: HashMap<String, i64>,
    /// When the current PreparingRebalance completes even if members are missing.
    pub join_deadline_ms: Option<i64>,
    /// The initial-delay phase of a rebalance that started from Empty.
    initial_delay: Option<InitialDelay>,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// A KIP-848 group's membership (`None`: a classic group, or no consumer members).
    pub consumer: Option<super::consumer::ConsumerGroup>,
    /// Cluster mode: offsets of ongoing transactions by producer id (TxnOffsetCommit), until
    /// the transaction's marker commits or drops them.
    pub txn_offsets: BTreeMap<i64, Vec<TxnOffset>>,
}

#[derive(Debug, Clone, Copy)]
struct InitialDelay {
    /// Total delay allowed (the rebalance timeout).
    max_ms: i64,
    started_ms: i64,
    /// A member joined since the deadline was last set (the delay is then extended).
    member_joined: bool,
}

/// What is persisted of a group's membership (Kafka persists Stable and Empty groups).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupSnapshot {
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub members: Vec<Member>,
    /// KIP-848 membership; absent for classic groups (and in snapshots written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<super::consumer::ConsumerGroup>,
}

mod migration;
mod ops;

pub use migration::MigrationPolicy;

impl Group {
    pub fn new(group_id: &str) -> Self {
        Group {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: IndexMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            join_deadline_ms: None,
            initial_delay: None,
            offsets: BTreeMap::new(),
            consumer: None,
            txn_offsets: BTreeMap::new(),
        }
    }

    pub fn snapshot(&self) -> GroupSnapshot {
        GroupSnapshot {
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone(),
            members: self.members.values().cloned().collect(),
            consumer: self.consumer.clone(),
        }
    }

    /// Restores membership after a restart: a group with members resumes Stable and every
    /// member's session starts over at `now`.
    pub fn restore(&mut self, snap: GroupSnapshot, now: i64) {
        self.generation_id = snap.generation_id;
        self.protocol_type = snap.protocol_type;
        self.protocol_name = snap.protocol_name;
        self.leader = snap.leader;
        self.consumer = snap.consumer.map(|c| c.restored(now));
        self.members.clear();
        self.static_members.clear();
        for mut m in snap.members {
            m.last_heartbeat_ms = now;
            if let Some(inst) = &m.group_instance_id {
                self.static_members
                    .insert(inst.clone(), m.member_id.clone());
            }
            self.members.insert(m.member_id.clone(), m);
        }
        self.state = if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
    }

    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    /// Protocols every member supports, and the one the members' first choices elect.
    pub fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|p| self.members.values().all(|m| m.metadata(p).is_some()))
            .collect();
        let mut votes: Vec<(&str, usize)> = candidates.iter().map(|c| (*c, 0)).collect();
        for m in self.members.values() {
            if let Some(choice) = m
                .protocols
                .iter()
                .find(|(n, _)| candidates.contains(&n.as_str()))
                && let Some(v) = votes.iter_mut().find(|(n, _)| *n == choice.0)
            {
                v.1 += 1;
            }
        }
        // Highest vote wins; ties go to the earliest in the first member's preference.
        let mut best: Option<(&str, usize)> = None;
        for (n, v) in votes {
            if best.is_none_or(|(_, b)| v > b) {
                best = Some((n, v));
            }
        }
        best.map(|(n, _)| n.to_string())
    }

    /// Whether a joining member's protocols are compatible with the group.
    fn supports(&self, protocol_type: &str, protocols: &[(String, Vec<u8>)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|(p, _)| self.members.values().all(|m| m.metadata(p).is_some()))
    }

    /// Topics the members subscribed to, from consumer-protocol metadata (for OffsetDelete).
    pub fn subscribed_topics(&self) -> Option<std::collections::BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = std::collections::BTreeSet::new();
        for m in self.members.values() {
            topics.extend(parse_subscription(m.metadata(protocol)?)?);
        }
        Some(topics)
    }

    /// The group's rebalance timeout: the largest of its members'.
    fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    fn all_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join)
    }
}

/// The topic list of a consumer-protocol subscription (version, [topic], ...).
pub fn parse_subscription(mut b: &[u8]) -> Option<Vec<String>> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if b.len() < n {
            return None;
        }
        let (h, t) = b.split_at(n);
        *b = t;
        Some(h)
    }
    let _version = take(&mut b, 2)?;
    let count = i32::from_be_bytes(take(&mut b, 4)?.try_into().ok()?);
    let mut topics = Vec::new();
    for _ in 0..count.max(0) {
        let len = i16::from_be_bytes(take(&mut b, 2)?.try_into().ok()?);
        let name = take(&mut b, usize::try_from(len).ok()?)?;
        topics.push(String::from_utf8_lossy(name).into_owned());
    }
    Some(topics)
}

#[cfg(test)]
mod tests;
