//! The coordinator's side of KIP-848 consumer groups: runs `consumer::ConsumerGroup` under the
//! coordinator's lock with the cluster's topics, and answers what ConsumerGroupHeartbeat,
//! ConsumerGroupDescribe, ListGroups and the offset APIs need. The consumer group lives in the
//! group's entry (`Group::consumer`) and is persisted with its snapshot.

use super::consumer::{self, ConsumerGroup, Heartbeat, HeartbeatAnswer, Refusal, TopicMeta};
use super::state::Group;
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
            if !group.members.is_empty() || !group.pending_members.is_empty() {
                return Err(refusal(
                    GroupError::GroupNotFound,
                    &format!("Group {group_id} is not a consumer group."),
                ));
            }
            let before = group.consumer.clone();
            let cg = group.consumer.get_or_insert_with(ConsumerGroup::default);
            let fresh = uuid::Uuid::new_v4().to_string();
            let answer = cg.heartbeat(req, &topics, fresh, now, &self.consumer_settings);
            if cg.is_empty() {
                group.consumer = None;
            }
            // Timers are not persisted: compare what is.
            let changed = group.consumer != before;
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
