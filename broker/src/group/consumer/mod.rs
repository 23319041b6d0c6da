//! KIP-848 consumer groups (`group.protocol=consumer`), pure and I/O-free: the coordinator
//! keeps each member's subscription, computes the group's target assignment with a server-side
//! assignor (`assignor.rs`) whenever the group epoch moves, and brings every member to it one
//! heartbeat at a time the way Kafka's `CurrentAssignmentBuilder` does: a member first gives up
//! (revokes) what the new target takes from it, only then moves to the new epoch, and receives
//! a partition only once its previous owner has released it. No partition is ever owned by two
//! members at once.
//!
//! The group is persisted with the group's snapshot in `__consumer_offsets` (group/store.rs)
//! whenever its membership, epochs or assignments change; timers start over after a load.

pub mod assignor;
mod classic;
pub mod protocol;
#[cfg(test)]
mod tests;

pub use classic::{CONSUMER_PROTOCOL_TYPE, ClassicMeta, by_id};

use super::GroupError;
use std::collections::{BTreeMap, BTreeSet};

/// A member's partitions: topic id -> partition indexes.
pub type Assignment = BTreeMap<uuid::Uuid, BTreeSet<i32>>;

/// A topic as the assignors see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopicMeta {
    pub id: uuid::Uuid,
    pub partitions: i32,
}

/// Member epochs with a meaning of their own (ConsumerGroupHeartbeat).
pub const JOIN_EPOCH: i32 = 0;
pub const LEAVE_EPOCH: i32 = -1;
pub const STATIC_LEAVE_EPOCH: i32 = -2;

/// Broker settings of consumer groups (`group.consumer.*`).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub session_timeout_ms: i32,
    pub heartbeat_interval_ms: i32,
    pub max_size: usize,
}

/// Where a member is on its way to the target assignment (Kafka's `MemberState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MemberState {
    Stable,
    /// It must give up `pending_revocation` before it moves to the next epoch.
    UnrevokedPartitions,
    /// It is at the target epoch but waits for partitions other members still hold.
    UnreleasedPartitions,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    pub assigned: Assignment,
    pub pending_revocation: Assignment,
    #[serde(skip)]
    pub last_heartbeat_ms: i64,
    /// While revoking: when it is fenced if it has not given the partitions up.
    #[serde(skip)]
    pub revocation_deadline_ms: Option<i64>,
    /// A classic member (JoinGroup, SyncGroup, Heartbeat) that the group hosts since an
    /// online migration (KIP-848 mixed groups, `classic.rs`); `None` for consumer-protocol
    /// members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classic: Option<ClassicMeta>,
    /// A classic member told to rejoin: when it is removed if it has not.
    #[serde(skip)]
    pub join_deadline_ms: Option<i64>,
}

impl Member {
    /// A member at epoch 0 that owns nothing yet.
    pub fn new(
        member_id: String,
        instance_id: Option<String>,
        rebalance_timeout_ms: i32,
        now: i64,
    ) -> Self {
        Member {
            member_id,
            instance_id,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            rebalance_timeout_ms: rebalance_timeout_ms.max(1),
            subscribed_topic_names: Vec::new(),
            subscribed_topic_regex: None,
            server_assignor: None,
            member_epoch: 0,
            previous_member_epoch: 0,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            last_heartbeat_ms: now,
            revocation_deadline_ms: None,
            classic: None,
            join_deadline_ms: None,
        }
    }

    /// Its session timeout: a classic member's own, else the broker's.
    fn session_timeout_ms(&self, settings: &Settings) -> i64 {
        i64::from(
            self.classic
                .as_ref()
                .map_or(settings.session_timeout_ms, |c| c.session_timeout_ms),
        )
    }
}

/// One ConsumerGroupHeartbeat, decoded (`None`: unchanged since the last one).
#[derive(Debug, Clone, Default)]
pub struct Heartbeat {
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
    /// v1+: the client chose its member id (KIP-1082); v0: the coordinator does on join.
    pub client_member_id: bool,
}

/// What a heartbeat answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatAnswer {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The member's assignment, when it changed or the request carried its owned partitions.
    pub assignment: Option<Assignment>,
}

/// Why a heartbeat was refused: the error and Kafka's message for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: GroupError,
    pub message: String,
}

fn refuse(error: GroupError, message: impl Into<String>) -> Refusal {
    Refusal {
        error,
        message: message.into(),
    }
}

/// A consumer group of the new protocol. Persisted (without its timers) in the group's
/// `__consumer_offsets` snapshot whenever its membership, epochs or assignments change, so a
/// new coordinator carries on where the old one was and members are not fenced by a failover.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConsumerGroup {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, Member>,
    /// Target assignment of `assignment_epoch`, per member.
    pub target: BTreeMap<String, Assignment>,
    /// The subscribed topics the target was computed from.
    pub subscribed: BTreeMap<String, TopicMeta>,
    /// The assignor of the last target.
    pub assignor: String,
}

impl ConsumerGroup {
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// After a restart or a coordinator move: every member's session starts over at `now`, and
    /// members still revoking get a fresh rebalance timeout.
    pub fn restored(mut self, now: i64) -> Self {
        for m in self.members.values_mut() {
            m.last_heartbeat_ms = now;
            m.revocation_deadline_ms = (m.state == MemberState::UnrevokedPartitions)
                .then(|| now + i64::from(m.rebalance_timeout_ms));
        }
        self
    }

    /// Kafka's state names for a consumer group (ListGroups, ConsumerGroupDescribe).
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.group_epoch > self.assignment_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.member_epoch != self.assignment_epoch || m.state != MemberState::Stable)
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// ConsumerGroupHeartbeat. `topics`: every topic of the cluster (name -> id, partitions);
    /// `new_member_id` is used when a v0 client joins without one.
    pub fn heartbeat(
        &mut self,
        req: Heartbeat,
        topics: &BTreeMap<String, TopicMeta>,
        new_member_id: String,
        now: i64,
        settings: &Settings,
    ) -> Result<HeartbeatAnswer, Refusal> {
        validate(&req)?;
        let interval = settings.heartbeat_interval_ms;
        if req.member_epoch == LEAVE_EPOCH || req.member_epoch == STATIC_LEAVE_EPOCH {
            return self.leave(&req, interval);
        }
        let full = req.owned.is_some() || req.member_epoch == JOIN_EPOCH;
        // A new member moves the group epoch (once, with any subscription change below).
        let (member_id, mut bump) = self.admit(&req, new_member_id, now, settings)?;
        {
            let m = self.members.get_mut(&member_id).expect("admitted");
            m.last_heartbeat_ms = now;
            m.client_id.clone_from(&req.client_id);
            m.client_host.clone_from(&req.client_host);
            if req.rebalance_timeout_ms > 0 {
                m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            }
            if let Some(r) = &req.rack_id {
                m.rack_id = Some(r.clone());
            }
            if let Some(names) = &req.subscribed_topic_names {
                let mut names = names.clone();
                names.sort();
                names.dedup();
                if names != m.subscribed_topic_names {
                    m.subscribed_topic_names = names;
                    bump = true;
                }
            }
            if let Some(re) = &req.subscribed_topic_regex {
                let re = Some(re.clone()).filter(|r| !r.is_empty());
                if re != m.subscribed_topic_regex {
                    m.subscribed_topic_regex = re;
                    bump = true;
                }
            }
            if let Some(a) = &req.server_assignor {
                let a = Some(a.clone()).filter(|a| !a.is_empty());
                if a != m.server_assignor {
                    m.server_assignor = a;
                    bump = true;
                }
            }
        }
        self.refresh_target(bump, topics);
        let before = self
            .members
            .get(&member_id)
            .map(|m| (m.member_epoch, m.assigned.clone()));
        self.reconcile(&member_id, req.owned.as_ref(), now);
        let m = &self.members[&member_id];
        let changed = before.is_none_or(|(e, a)| e != m.member_epoch || a != m.assigned);
        Ok(HeartbeatAnswer {
            member_id,
            member_epoch: m.member_epoch,
            heartbeat_interval_ms: interval,
            assignment: (changed || full).then(|| m.assigned.clone()),
        })
    }

    /// Finds or creates the heartbeat's member; checks its epoch.
    fn admit(
        &mut self,
        req: &Heartbeat,
        new_member_id: String,
        now: i64,
        settings: &Settings,
    ) -> Result<(String, bool), Refusal> {
        if req.member_epoch != JOIN_EPOCH {
            let Some(m) = self.members.get(&req.member_id) else {
                return Err(refuse(
                    GroupError::UnknownMember,
                    format!("member {} is not in the group", req.member_id),
                ));
            };
            if req.member_epoch == m.member_epoch {
                return Ok((req.member_id.clone(), false));
            }
            // A lost response: the member may still be at its previous epoch, as long as what
            // it owns is within what it was given.
            let owns_within = req.owned.as_ref().is_some_and(|o| within(o, &m.assigned));
            if req.member_epoch == m.previous_member_epoch && owns_within {
                return Ok((req.member_id.clone(), false));
            }
            return Err(refuse(
                GroupError::FencedMemberEpoch,
                format!(
                    "the member epoch {} is not the member's current epoch {}",
                    req.member_epoch, m.member_epoch
                ),
            ));
        }
        let id = if req.client_member_id {
            req.member_id.clone()
        } else {
            new_member_id
        };
        // A static member (group.instance.id) replaces its previous incarnation once that one
        // has left temporarily (epoch -2), taking over its assignment.
        let previous = req.instance_id.as_ref().and_then(|inst| {
            self.members
                .values()
                .find(|m| m.instance_id.as_ref() == Some(inst) && m.member_id != id)
                .map(|m| (m.member_id.clone(), m.member_epoch))
        });
        let mut inherited = None;
        if let Some((old_id, old_epoch)) = previous {
            if old_epoch != STATIC_LEAVE_EPOCH {
                return Err(refuse(
                    GroupError::UnreleasedInstanceId,
                    format!(
                        "static member {} still has an active member",
                        req.instance_id.as_deref().unwrap_or_default()
                    ),
                ));
            }
            inherited = self.members.remove(&old_id);
            if let Some(t) = self.target.remove(&old_id) {
                self.target.insert(id.clone(), t);
            }
        }
        if let Some(existing) = self.members.remove(&id) {
            // Rejoining with epoch 0 under the same id: it starts over.
            self.target.remove(&existing.member_id);
        }
        if inherited.is_none() && self.members.len() >= settings.max_size {
            return Err(refuse(
                GroupError::GroupMaxSizeReached,
                format!(
                    "the group has reached its maximum size {}",
                    settings.max_size
                ),
            ));
        }
        let mut m = Member::new(
            id.clone(),
            req.instance_id.clone(),
            req.rebalance_timeout_ms,
            now,
        );
        let is_new = inherited.is_none();
        if let Some(old) = inherited {
            m.previous_member_epoch = old.previous_member_epoch;
            m.assigned = old.assigned;
            m.pending_revocation = old.pending_revocation;
            m.state = old.state;
            m.subscribed_topic_names = old.subscribed_topic_names;
            m.subscribed_topic_regex = old.subscribed_topic_regex;
            m.server_assignor = old.server_assignor;
            m.member_epoch = old.member_epoch.max(0);
        }
        self.members.insert(id.clone(), m);
        Ok((id, is_new))
    }

    fn leave(&mut self, req: &Heartbeat, interval: i32) -> Result<HeartbeatAnswer, Refusal> {
        let Some(m) = self.members.get_mut(&req.member_id) else {
            // Leaving twice is harmless (the first answer may have been lost).
            return Ok(HeartbeatAnswer {
                member_id: req.member_id.clone(),
                member_epoch: req.member_epoch,
                heartbeat_interval_ms: 0,
                assignment: None,
            });
        };
        if req.member_epoch == STATIC_LEAVE_EPOCH && m.instance_id.is_some() {
            // A static member leaving for a moment keeps its partitions until its session
            // expires or its next incarnation joins.
            m.member_epoch = STATIC_LEAVE_EPOCH;
        } else {
            self.remove(&req.member_id);
        }
        Ok(HeartbeatAnswer {
            member_id: req.member_id.clone(),
            member_epoch: req.member_epoch,
            heartbeat_interval_ms: interval,
            assignment: None,
        })
    }

    /// Removes a member; its partitions become free for the others.
    fn remove(&mut self, member_id: &str) {
        if self.members.remove(member_id).is_some() {
            self.target.remove(member_id);
            self.group_epoch += 1;
        }
    }

    /// Moves the group epoch when a member's subscription changed (`bump`) or the subscribed
    /// topics' metadata did (a new topic matching a regex, more partitions), and computes the
    /// target of a new epoch.
    fn refresh_target(&mut self, bump: bool, topics: &BTreeMap<String, TopicMeta>) {
        let subscribed = self.subscribed_topics(topics);
        if bump || subscribed != self.subscribed {
            self.subscribed = subscribed;
            self.group_epoch += 1;
        }
        if self.group_epoch > self.assignment_epoch {
            self.compute_target();
        }
    }

    /// Every member's subscribed topics that exist, with their metadata.
    fn subscribed_topics(
        &self,
        topics: &BTreeMap<String, TopicMeta>,
    ) -> BTreeMap<String, TopicMeta> {
        let mut out = BTreeMap::new();
        for m in self.members.values() {
            for (name, meta) in member_topics(m, topics) {
                out.insert(name.to_string(), meta);
            }
        }
        out
    }

    /// A new target assignment for the current group epoch.
    fn compute_target(&mut self) {
        let assignor = self.preferred_assignor();
        let resolved: Vec<(String, BTreeSet<String>)> = self
            .members
            .values()
            .map(|m| {
                let names = member_topics(m, &self.subscribed)
                    .into_iter()
                    .map(|(n, _)| n.to_string())
                    .collect();
                (m.member_id.clone(), names)
            })
            .collect();
        let specs: Vec<assignor::MemberSpec<'_>> = resolved
            .iter()
            .map(|(id, names)| assignor::MemberSpec {
                member_id: id,
                topics: names.iter().map(String::as_str).collect(),
                current: self.target.get(id),
            })
            .collect();
        let target = assignor::assign(&assignor, &specs, &self.subscribed);
        self.target = target;
        self.assignor = assignor;
        self.assignment_epoch = self.group_epoch;
    }

    /// The assignor most members ask for (ties: the first of `ASSIGNORS`), or `uniform`.
    fn preferred_assignor(&self) -> String {
        assignor::ASSIGNORS
            .iter()
            .max_by_key(|a| {
                let votes = self
                    .members
                    .values()
                    .filter(|m| m.server_assignor.as_deref() == Some(**a))
                    .count();
                // Equal votes: the earlier one in ASSIGNORS wins.
                (
                    votes,
                    std::cmp::Reverse(assignor::ASSIGNORS.iter().position(|x| x == *a)),
                )
            })
            .filter(|a| {
                self.members
                    .values()
                    .any(|m| m.server_assignor.as_deref() == Some(**a))
            })
            .unwrap_or(&assignor::UNIFORM)
            .to_string()
    }

    /// Brings one member a step closer to its target (Kafka's CurrentAssignmentBuilder).
    fn reconcile(&mut self, member_id: &str, owned: Option<&Assignment>, now: i64) {
        let target_epoch = self.assignment_epoch;
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let held_by_others = self.held_by_others(member_id);
        let Some(m) = self.members.get_mut(member_id) else {
            return;
        };
        if m.state == MemberState::UnrevokedPartitions {
            let still_owned = owned.is_none_or(|o| intersects(o, &m.pending_revocation));
            if still_owned {
                return;
            }
            // Revoked: it may move on.
            m.pending_revocation.clear();
            m.revocation_deadline_ms = None;
            m.state = MemberState::Stable;
        }
        if m.member_epoch == target_epoch && m.state == MemberState::Stable {
            return;
        }
        // Keep what stays, revoke what goes.
        let mut keep = Assignment::new();
        let mut revoke = Assignment::new();
        for (t, ps) in &m.assigned {
            for p in ps {
                let dest = if target.get(t).is_some_and(|tp| tp.contains(p)) {
                    &mut keep
                } else {
                    &mut revoke
                };
                dest.entry(*t).or_default().insert(*p);
            }
        }
        // A member that says it no longer owns them (an eager classic member rejoining, a
        // member whose answer was lost) need not be asked to revoke them: it moves on at once.
        if !revoke.is_empty() && owned.is_none_or(|o| intersects(o, &revoke)) {
            m.assigned = keep;
            m.pending_revocation = revoke;
            m.state = MemberState::UnrevokedPartitions;
            m.revocation_deadline_ms = Some(now + i64::from(m.rebalance_timeout_ms));
            return;
        }
        // Nothing to give up: the target epoch, with every partition nobody else holds.
        let mut assigned = Assignment::new();
        let mut unreleased = false;
        for (t, ps) in &target {
            for p in ps {
                if held_by_others.contains(&(*t, *p)) {
                    unreleased = true;
                } else {
                    assigned.entry(*t).or_default().insert(*p);
                }
            }
        }
        if m.member_epoch != target_epoch {
            m.previous_member_epoch = m.member_epoch;
            m.member_epoch = target_epoch;
        }
        m.assigned = assigned;
        m.state = if unreleased {
            MemberState::UnreleasedPartitions
        } else {
            MemberState::Stable
        };
    }

    /// Partitions other members still hold (assigned or not yet revoked).
    fn held_by_others(&self, member_id: &str) -> BTreeSet<(uuid::Uuid, i32)> {
        self.members
            .values()
            .filter(|m| m.member_id != member_id)
            .flat_map(|m| m.assigned.iter().chain(m.pending_revocation.iter()))
            .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
            .collect()
    }

    /// Session expiries and missed revocation deadlines: such members are removed.
    pub fn tick(&mut self, now: i64, settings: &Settings) -> usize {
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.last_heartbeat_ms + m.session_timeout_ms(settings) <= now
                    || m.revocation_deadline_ms.is_some_and(|d| d <= now)
                    || m.join_deadline_ms.is_some_and(|d| d <= now)
            })
            .map(|m| m.member_id.clone())
            .collect();
        for id in &expired {
            tracing::info!(member = %id, "consumer-group member expired (session or revocation timeout)");
            self.remove(id);
        }
        expired.len()
    }

    /// The earliest time `tick` has something to do.
    pub fn next_deadline(&self, settings: &Settings) -> Option<i64> {
        self.members
            .values()
            .flat_map(|m| {
                [
                    Some(m.last_heartbeat_ms + m.session_timeout_ms(settings)),
                    m.revocation_deadline_ms,
                    m.join_deadline_ms,
                ]
            })
            .flatten()
            .min()
    }

    /// Whether `member_id` at `epoch` may commit or fetch offsets: a consumer-protocol member
    /// at its member epoch (OffsetCommit v9+), a classic member at its generation, which is its
    /// member epoch (Kafka's ILLEGAL_GENERATION when it is not).
    pub fn validate_member(&self, member_id: &str, epoch: i32) -> Result<(), GroupError> {
        let m = self
            .members
            .get(member_id)
            .ok_or(GroupError::UnknownMember)?;
        if epoch != m.member_epoch {
            return Err(if m.classic.is_some() {
                GroupError::IllegalGeneration
            } else {
                GroupError::StaleMemberEpoch
            });
        }
        Ok(())
    }

    /// Whether every member is a classic one (the last consumer-protocol member has left: the
    /// group goes back to the classic protocol when the migration policy allows it).
    pub fn only_classic_members(&self) -> bool {
        !self.members.is_empty() && self.members.values().all(|m| m.classic.is_some())
    }
}

/// The topics a member subscribes to (by name or regex) that exist in `topics`.
fn member_topics<'a>(
    m: &Member,
    topics: &'a BTreeMap<String, TopicMeta>,
) -> Vec<(&'a str, TopicMeta)> {
    let re = m
        .subscribed_topic_regex
        .as_ref()
        .and_then(|r| regex::Regex::new(&format!("^(?:{r})$")).ok());
    topics
        .iter()
        .filter(|(name, _)| {
            m.subscribed_topic_names.iter().any(|n| n == *name)
                || re.as_ref().is_some_and(|re| re.is_match(name))
        })
        .map(|(n, meta)| (n.as_str(), *meta))
        .collect()
}

/// Checks a heartbeat's fields the way Kafka's coordinator does.
fn validate(req: &Heartbeat) -> Result<(), Refusal> {
    let invalid = |m: &str| Err(refuse(GroupError::InvalidRequest, m));
    if req.member_epoch < STATIC_LEAVE_EPOCH {
        return invalid("MemberEpoch is invalid");
    }
    if req.member_id.is_empty() && (req.client_member_id || req.member_epoch != JOIN_EPOCH) {
        return invalid("MemberId can't be empty.");
    }
    if req.member_epoch == JOIN_EPOCH {
        if req.rebalance_timeout_ms <= 0 {
            return invalid("RebalanceTimeoutMs must be provided in first request.");
        }
        if req.owned.as_ref().is_some_and(|o| !o.is_empty()) {
            return invalid("TopicPartitions must be empty when (re-)joining.");
        }
        if req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none() {
            return invalid(
                "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
            );
        }
    }
    if req.member_epoch == STATIC_LEAVE_EPOCH && req.instance_id.is_none() {
        return invalid("InstanceId can't be null when MemberEpoch is -2.");
    }
    if let Some(re) = &req.subscribed_topic_regex
        && !re.is_empty()
        && regex::Regex::new(re).is_err()
    {
        return Err(refuse(
            GroupError::InvalidRegularExpression,
            format!("SubscribedTopicRegex `{re}` is not a valid regular expression."),
        ));
    }
    if let Some(a) = &req.server_assignor
        && !a.is_empty()
        && !assignor::ASSIGNORS.contains(&a.as_str())
    {
        return Err(refuse(
            GroupError::UnsupportedAssignor,
            format!(
                "ServerAssignor {a} is not supported. Supported assignors: {}.",
                assignor::ASSIGNORS.join(", ")
            ),
        ));
    }
    Ok(())
}

fn within(owned: &Assignment, assigned: &Assignment) -> bool {
    owned.iter().all(|(t, ps)| {
        ps.iter()
            .all(|p| assigned.get(t).is_some_and(|a| a.contains(p)))
    })
}

fn intersects(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .any(|(t, ps)| b.get(t).is_some_and(|bs| ps.iter().any(|p| bs.contains(p))))
}
