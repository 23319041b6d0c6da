//! The coordinator's side of KIP-848 consumer groups: runs `consumer::ConsumerGroup` under the
//! coordinator's lock with the cluster's topics, and answers what ConsumerGroupHeartbeat,
//! ConsumerGroupDescribe, ListGroups and the offset APIs need. The consumer group lives in the
//! group's entry (`Group::consumer`) and is persisted with its snapshot.

use super::consumer::{self, ConsumerGroup, Heartbeat, HeartbeatAnswer, Refusal, TopicMeta};
use super::state::{Effect, Group, JoinRequest, JoinResult};
use super::{Appended, Coordinator, GroupError, Inner};
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
    /// ConsumerGroupHeartbeat. A change of membership, epochs or assignments is written to the
    /// group's `__consumer_offsets` snapshot (and, in cluster mode, replicated to the ISR)
    /// before the member hears about it.
    pub async fn consumer_heartbeat(
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
        let (answer, appended) = {
            let mut inner = self.lock();
            self.check_coordinator(node, &inner, group_id)
                .map_err(|e| refusal(e, ""))?;
            let now = self.now();
            let group = inner
                .groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new(group_id));
            // A classic group with members: an online upgrade (group/state/migration.rs), undone
            // if the heartbeat is refused.
            let mut migration = Vec::new();
            let mut classic = None;
            if !group.members.is_empty() {
                let not_consumer = || {
                    refusal(
                        GroupError::GroupNotFound,
                        &format!("Group {group_id} is not a consumer group."),
                    )
                };
                if !self.migration.upgrade {
                    return Err(not_consumer());
                }
                classic = Some(group.clone());
                migration = group
                    .upgrade_to_consumer(&topics, now)
                    .map_err(|_| not_consumer())?;
            }
            group.pending_members.clear();
            let before = group.consumer.clone();
            let cg = group.consumer.get_or_insert_with(ConsumerGroup::default);
            let fresh = uuid::Uuid::new_v4().to_string();
            let answer = cg.heartbeat(req, &topics, fresh, now, &self.consumer_settings);
            if answer.is_err()
                && let Some(classic) = classic
            {
                *group = classic;
                return answer;
            }
            if cg.is_empty() {
                group.consumer = None;
            } else if cg.only_classic_members() && self.migration.downgrade {
                // The last consumer-protocol member left.
                migration.extend(group.downgrade_to_classic(now, &self.limits));
            }
            // Timers are not persisted: compare what is.
            let changed = group.consumer != before || !migration.is_empty();
            let snapshot = changed.then(|| group.snapshot());
            let appended = match snapshot {
                Some(snap) => {
                    let rec = super::store::group_record(group_id, Some(&snap));
                    Some(
                        self.append(node, group_id, &[rec])
                            .map_err(|e| refusal(e, ""))?,
                    )
                }
                None => None,
            };
            // Requests parked in a classic rebalance learn that the group moved on.
            migration.retain(|e| !matches!(e, Effect::Persist));
            let _ = self.apply(node, &mut inner, group_id, migration);
            inner.groups.retain(|_, g| !g.is_disposable());
            self.reschedule(&inner, group_id);
            (answer?, appended)
        };
        if let Some(a) = appended {
            if let Err(e) = node.flusher.wait(a.ticket).await {
                tracing::error!(group = group_id, error = %e, "consumer-group state could not be made durable");
                return Err(refusal(GroupError::CoordinatorNotAvailable, ""));
            }
            self.await_replicated(node, a.replicate)
                .await
                .map_err(|e| refusal(e, ""))?;
        }
        Ok(answer)
    }

    /// JoinGroup of a classic member to a consumer group (an online migration, consumer/
    /// classic.rs); `None` when the group is not a consumer group (the classic path applies).
    pub(super) async fn classic_join_to_consumer(
        &self,
        node: &Node,
        group_id: &str,
        req: &JoinRequest,
        fresh_id: &str,
    ) -> Option<Result<JoinResult, GroupError>> {
        let is_consumer = self
            .lock()
            .groups
            .get(group_id)
            .is_some_and(|g| g.consumer.is_some());
        if !is_consumer {
            return None;
        }
        if req.session_timeout_ms < self.limits.min_session_timeout_ms
            || req.session_timeout_ms > self.limits.max_session_timeout_ms
        {
            return Some(Err(GroupError::InvalidSessionTimeout));
        }
        let topics = topics_of(node);
        let settings = self.consumer_settings;
        self.on_consumer_group(node, group_id, |cg, now| {
            cg.classic_join(req, &topics, fresh_id.to_string(), now, &settings)
        })
        .await
    }

    /// Runs a classic request's `op` on `group_id`'s consumer group; `None` when the group is
    /// not one. A change of membership, epochs or assignments is written to the group's snapshot
    /// and replicated before the answer, as for ConsumerGroupHeartbeat.
    pub(super) async fn on_consumer_group<T>(
        &self,
        node: &Node,
        group_id: &str,
        op: impl FnOnce(&mut ConsumerGroup, i64) -> Result<T, GroupError>,
    ) -> Option<Result<T, GroupError>> {
        let (out, appended) = {
            let mut inner = self.lock();
            self.consumer_op_locked(node, &mut inner, group_id, op)?
        };
        if let Some(a) = appended {
            if let Err(e) = node.flusher.wait(a.ticket).await {
                tracing::error!(group = group_id, error = %e, "consumer-group state could not be made durable");
                return Some(Err(GroupError::CoordinatorNotAvailable));
            }
            if let Err(e) = self.await_replicated(node, a.replicate).await {
                return Some(Err(e));
            }
        }
        Some(out)
    }

    /// `on_consumer_group` under the coordinator's lock: runs `op`, moves a group left with
    /// classic members only back to the classic protocol (if the policy allows), and appends
    /// the snapshot when something persisted changed (returned, to be waited for).
    pub(super) fn consumer_op_locked<T>(
        &self,
        node: &Node,
        inner: &mut Inner,
        group_id: &str,
        op: impl FnOnce(&mut ConsumerGroup, i64) -> Result<T, GroupError>,
    ) -> Option<(Result<T, GroupError>, Option<Appended>)> {
        if let Err(e) = self.check_coordinator(node, inner, group_id) {
            return inner
                .groups
                .get(group_id)
                .is_some_and(|g| g.consumer.is_some())
                .then_some((Err(e), None));
        }
        let now = self.now();
        let group = inner.groups.get_mut(group_id)?;
        let cg = group.consumer.as_mut()?;
        let before = cg.clone();
        let out = op(cg, now);
        let mut migration = Vec::new();
        if cg.is_empty() {
            group.consumer = None;
        } else if cg.only_classic_members() && self.migration.downgrade {
            migration = group.downgrade_to_classic(now, &self.limits);
        }
        let changed = group.consumer.as_ref() != Some(&before);
        let mut appended = None;
        if changed {
            let rec = super::store::group_record(group_id, Some(&group.snapshot()));
            match self.append(node, group_id, &[rec]) {
                Ok(a) => appended = Some(a),
                Err(e) => return Some((Err(e), None)),
            }
        }
        migration.retain(|e| !matches!(e, Effect::Persist));
        let _ = self.apply(node, inner, group_id, migration);
        inner.groups.retain(|_, g| !g.is_disposable());
        self.reschedule(inner, group_id);
        Some((out, appended))
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
            .groups
            .get(group_id)
            .and_then(|g| g.consumer.as_ref())
            .map(|g| ConsumerGroupView {
                state: g.state_name(),
                group_epoch: g.group_epoch,
                assignment_epoch: g.assignment_epoch,
                assignor: g.assignor.clone(),
                members: g.members.values().cloned().collect(),
                target: g.target.clone(),
            }))
    }

    /// Whether `group_id` is a consumer group (DescribeGroups describes only classic groups).
    pub fn is_consumer_group(&self, group_id: &str) -> bool {
        self.lock()
            .groups
            .get(group_id)
            .is_some_and(|g| g.consumer.is_some())
    }

    /// Consumer groups for ListGroups: (group id, state name).
    pub fn consumer_list(&self) -> Vec<(String, &'static str)> {
        let inner = self.lock();
        let mut out: Vec<_> = inner
            .groups
            .iter()
            .filter_map(|(id, g)| g.consumer.as_ref().map(|c| (id.clone(), c.state_name())))
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
    let g = inner.groups.get(group_id)?.consumer.as_ref()?;
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
