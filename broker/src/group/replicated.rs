//! Cluster mode: `__consumer_offsets` is a replicated topic of the metadata image, created
//! through the controller on the first FindCoordinator (`offsets.topic.num.partitions`,
//! `offsets.topic.replication.factor`). The coordinator of group `g` is the leader of partition
//! `abs(javaHashCode(g)) % partitions`, as in Kafka:
//!
//! - FindCoordinator names that leader (COORDINATOR_NOT_AVAILABLE until the topic exists and the
//!   partition has a leader);
//! - a broker that does not lead the partition answers NOT_COORDINATOR to the group APIs;
//! - on becoming the leader it loads the partition's groups from its replica of the log (up to
//!   the log end: its log is what the followers truncate to), answering
//!   COORDINATOR_LOAD_IN_PROGRESS meanwhile; on losing leadership it unloads them;
//! - writes (OffsetCommit, DeleteGroups, OffsetDelete) are appended as leader with acks=all and
//!   answered once the high watermark passes them, i.e. once every in-sync replica has them.

use super::state::{JoinResult, SyncResult};
use super::{
    Coordinator, CoordinatorAddress, FindError, GroupError, GroupLogError, Inner, offsets, store,
};
use crate::coordinator_topic::{self, Unknown};
use crate::node::Node;
use crate::partition::Partition;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long an offsets write waits for the ISR (Kafka's `offsets.commit.timeout.ms` default).
const COMMIT_TIMEOUT: Duration = Duration::from_secs(5);

/// A `__consumer_offsets` partition this broker leads: under which leader epoch, and whether its
/// groups are loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owned {
    pub epoch: i32,
    pub loaded: bool,
}

impl Coordinator {
    /// Whether this broker coordinates `group_id` now (always on one node). The caller holds
    /// the coordinator lock, so the answer holds for what it does under that lock.
    pub(super) fn check_coordinator(
        &self,
        node: &Node,
        inner: &Inner,
        group_id: &str,
    ) -> Result<(), GroupError> {
        if !self.cluster {
            return Ok(());
        }
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let Some(topic) = node.topic(store::TOPIC) else {
            return Err(GroupError::CoordinatorNotAvailable);
        };
        let n = i32::try_from(topic.partitions.len())
            .unwrap_or(i32::MAX)
            .max(1);
        let index = store::partition_for(group_id, n);
        let Some(part) = usize::try_from(index)
            .ok()
            .and_then(|i| topic.partitions.get(i))
        else {
            return Err(GroupError::CoordinatorNotAvailable);
        };
        if !part.is_leader() || !node.quorum().is_some_and(|c| c.is_registered()) {
            return Err(GroupError::NotCoordinator);
        }
        match inner.owned.get(&index) {
            Some(o) if o.loaded && o.epoch == part.leader_epoch() => Ok(()),
            _ => Err(GroupError::CoordinatorLoadInProgress),
        }
    }

    /// `check_coordinator` for handlers that do not otherwise lock the coordinator.
    pub fn check(&self, node: &Node, group_id: &str) -> Result<(), GroupError> {
        if !self.cluster {
            return Ok(());
        }
        let inner = self.lock();
        self.check_coordinator(node, &inner, group_id)
    }

    /// Cluster mode: waits (bounded) until the ISR has `what` (partition, last offset).
    pub(crate) async fn await_replicated(
        &self,
        node: &Node,
        what: Option<(Arc<Partition>, i64)>,
    ) -> Result<(), GroupError> {
        let Some(w) = what else { return Ok(()) };
        let r = crate::replication::await_isr(node, &[w], COMMIT_TIMEOUT).await;
        match r.into_iter().next().flatten() {
            None => Ok(()),
            Some(e) => Err(GroupError::from(e)),
        }
    }

    /// Follows the leadership of the `__consumer_offsets` partitions (every tick): loads the
    /// groups of a partition this broker starts leading, unloads those of one it stopped leading
    /// (or leads under a new epoch: it may have missed writes of another leader in between).
    pub(crate) fn follow_leadership(self: &Arc<Self>, node: &Node) {
        if !self.cluster {
            return;
        }
        let Some(topic) = node.topic(store::TOPIC) else {
            return;
        };
        let n = i32::try_from(topic.partitions.len())
            .unwrap_or(i32::MAX)
            .max(1);
        // A restarted broker's image may name it leader until its registration is applied.
        let registered = node.quorum().is_some_and(|c| c.is_registered());
        let mut inner = self.lock();
        for part in &topic.partitions {
            let index = part.index;
            let (leading, epoch) = (part.is_leader() && registered, part.leader_epoch());
            match inner.owned.get(&index) {
                Some(o) if leading && o.epoch == epoch => continue,
                None if !leading => continue,
                _ => {}
            }
            if inner.owned.remove(&index).is_some() {
                unload(&mut inner, index, n);
            }
            if leading {
                inner.owned.insert(
                    index,
                    Owned {
                        epoch,
                        loaded: false,
                    },
                );
                spawn_load(self, Arc::clone(part), epoch);
            }
        }
    }

    /// FindCoordinator for a group in cluster mode: the live leader of its `__consumer_offsets`
    /// partition. Until the topic exists, asks the controller to create it and answers
    /// COORDINATOR_NOT_AVAILABLE (retriable).
    pub(super) fn find_replicated(
        self: &Arc<Self>,
        node: &Arc<Node>,
        group_id: &str,
        listener: &str,
    ) -> Result<CoordinatorAddress, FindError> {
        coordinator_topic::leader(node, store::TOPIC, group_id, listener).map_err(|e| match e {
            Unknown::NotInCluster => FindError::NotInCluster,
            Unknown::CatchingUp => FindError::CatchingUp,
            Unknown::Missing => {
                coordinator_topic::create_once(&self.creating, node, offsets_topic(node));
                FindError::CreatingTopic
            }
            Unknown::NoLiveLeader { partition } => FindError::NoLiveLeader { partition },
        })
    }
}

/// How `__consumer_offsets` is created: `offsets.topic.num.partitions`,
/// `offsets.topic.replication.factor` (capped at the cluster size), compacted.
fn offsets_topic(node: &Node) -> coordinator_topic::Spec {
    coordinator_topic::Spec {
        topic: store::TOPIC,
        replication_factor_key: "offsets.topic.replication.factor",
        partitions_key: "offsets.topic.num.partitions",
        configs: super::offsets_topic_configs(&node.config.get("offsets.topic.segment.bytes")),
        min_isr_key: None,
    }
}

/// A write to an offsets partition that the ISR must have before what it completes is
/// answered (cluster mode).
#[derive(Clone)]
pub(crate) struct Wait {
    part: Arc<Partition>,
    last: i64,
    changes: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Wait {
    pub(crate) fn new(node: &Node, part: Arc<Partition>, last: i64) -> Self {
        Wait {
            part,
            last,
            changes: Arc::clone(&node.data_version),
        }
    }

    /// Waits (bounded) until the high watermark passes the write, while this broker leads.
    pub(crate) async fn done(&self) -> Result<(), GroupError> {
        let deadline = tokio::time::Instant::now() + COMMIT_TIMEOUT;
        let mut rx = self.changes.subscribe();
        loop {
            if !self.part.is_leader() {
                return Err(GroupError::NotCoordinator);
            }
            if self.part.high_watermark() > self.last {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(GroupError::CoordinatorNotAvailable),
                Err(_) => return Err(GroupError::Timeout),
            }
        }
    }

    /// Delivers `replies` once the write is replicated (or with the error that stopped it).
    pub(crate) fn deliver_after(self, replies: Vec<Reply>) {
        if replies.is_empty() {
            return;
        }
        tokio::spawn(async move {
            let failed = self.done().await.err();
            for r in replies {
                r.send(failed);
            }
        });
    }
}

/// A parked JoinGroup/SyncGroup answer.
pub(crate) enum Reply {
    Join(oneshot::Sender<JoinResult>, JoinResult),
    Sync(oneshot::Sender<SyncResult>, SyncResult),
}

impl Reply {
    /// Sends the answer, or `failed` in its place.
    pub(crate) fn send(self, failed: Option<GroupError>) {
        match self {
            Reply::Join(tx, r) => {
                let _ = tx.send(match failed {
                    Some(e) => JoinResult::error(&r.member_id, e),
                    None => r,
                });
            }
            Reply::Sync(tx, r) => {
                let _ = tx.send(failed.map_or(r, SyncResult::error));
            }
        }
    }
}

/// Drops the groups of partition `index` (no longer coordinated here) and answers their parked
/// JoinGroup/SyncGroup requests with NOT_COORDINATOR, so the members find the new coordinator.
fn unload(inner: &mut Inner, index: i32, n: i32) {
    let mine = |g: &str| store::partition_for(g, n) == index;
    let before = inner.groups.len();
    inner.groups.retain(|g, _| !mine(g));
    inner.pending_txn.retain(|(g, _, _), _| !mine(g));
    let joins: Vec<_> = inner
        .join_waiters
        .keys()
        .filter(|(g, _)| mine(g))
        .cloned()
        .collect();
    for k in joins {
        if let Some(tx) = inner.join_waiters.remove(&k) {
            let _ = tx.send(JoinResult::error(&k.1, GroupError::NotCoordinator));
        }
    }
    let syncs: Vec<_> = inner
        .sync_waiters
        .keys()
        .filter(|(g, _)| mine(g))
        .cloned()
        .collect();
    for k in syncs {
        if let Some(tx) = inner.sync_waiters.remove(&k) {
            let _ = tx.send(SyncResult::error(GroupError::NotCoordinator));
        }
    }
    tracing::info!(
        partition = index,
        groups = before - inner.groups.len(),
        "unloaded consumer groups: no longer their coordinator"
    );
}

/// Loads the groups of a partition this broker now leads (in the background); a failure leaves
/// the partition unowned so that the next tick tries again.
fn spawn_load(groups: &Arc<Coordinator>, part: Arc<Partition>, epoch: i32) {
    let b = Arc::clone(groups);
    tokio::spawn(async move {
        let started = Instant::now();
        let p = Arc::clone(&part);
        let res = tokio::task::spawn_blocking(move || {
            let mut groups = HashMap::new();
            let records = offsets::replay_partition(&p, true, &mut groups, crate::now_ms())?;
            Ok::<_, GroupLogError>((groups, records))
        })
        .await;
        let index = part.index;
        let mut inner = b.lock();
        let pending = Owned {
            epoch,
            loaded: false,
        };
        let current = inner.owned.get(&index) == Some(&pending);
        match res {
            Ok(Ok((mut groups, records))) if current => {
                groups.retain(|_, g| !g.is_disposable());
                let count = groups.len();
                // Offsets of transactions still undecided: unstable for require_stable readers.
                for g in groups.values() {
                    for (pid, offsets) in &g.txn_offsets {
                        for o in offsets {
                            inner
                                .pending_txn
                                .insert((g.group_id.clone(), o.topic.clone(), o.partition), *pid);
                        }
                    }
                }
                inner.groups.extend(groups);
                // Their sessions restart now: the timer sleeps to the earliest deadline.
                b.wake.notify_one();
                inner.owned.insert(
                    index,
                    Owned {
                        epoch,
                        loaded: true,
                    },
                );
                tracing::info!(
                    partition = index,
                    epoch,
                    groups = count,
                    records,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "loaded consumer groups: now their coordinator"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(partition = index, error = %e, "loading consumer groups failed; retrying");
                if current {
                    inner.owned.remove(&index);
                }
            }
            Err(e) => {
                tracing::warn!(partition = index, error = %e, "loading consumer groups failed; retrying");
                if current {
                    inner.owned.remove(&index);
                }
            }
        }
    });
}
