//! Cluster mode: `__transaction_state` is a replicated internal topic of the metadata image,
//! created through the controller on the first FindCoordinator for a transactional id
//! (`transaction.state.log.num.partitions`, `transaction.state.log.replication.factor`,
//! `transaction.state.log.min.isr`). The coordinator of id `t` is the leader of partition
//! `abs(javaHashCode(t)) % partitions`, as in Kafka (and as for consumer groups,
//! group/replicated.rs):
//!
//! - FindCoordinator names that leader (COORDINATOR_NOT_AVAILABLE until it exists);
//! - a broker that does not lead the partition answers NOT_COORDINATOR;
//! - on becoming the leader it loads the partition's transactional ids from its replica of the
//!   log (up to the log end: its log is what the followers truncate to), answering
//!   COORDINATOR_LOAD_IN_PROGRESS meanwhile, then completes the transactions it finds prepared;
//!   ongoing ones keep their start time, so their timeout still applies. On losing leadership
//!   it drops them;
//! - every state record is appended as leader with acks=all and acted on only once the high
//!   watermark passes it (txn/mod.rs `persist`).

use super::{Slot, TxnCoordinator, locked, store};
use crate::coordinator_topic::{self, CoordinatorAddress, Unknown};
use crate::node::Node;
use crate::partition::Partition;
use state::TxnError;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::state;

/// How often leadership of the state partitions is checked besides every metadata change (a
/// failed load is retried at this pace).
pub(super) const FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// A `__transaction_state` partition this broker leads: under which leader epoch, and whether
/// its transactional ids are loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Owned {
    pub epoch: i32,
    pub loaded: bool,
}

/// Why FindCoordinator cannot name a transaction coordinator yet (all retriable).
#[derive(Debug, thiserror::Error)]
pub enum FindTxnError {
    /// One node: the group lookup's answer (this broker, reached on the listener).
    #[error(transparent)]
    Local(#[from] crate::group::FindError),
    #[error("this broker is still catching up on the cluster metadata")]
    CatchingUp,
    #[error("the {} topic is being created", store::TOPIC)]
    CreatingTopic,
    #[error("{}-{partition} has no live leader", store::TOPIC)]
    NoLiveLeader { partition: i32 },
}

/// How `__transaction_state` is created: `transaction.state.log.num.partitions`,
/// `transaction.state.log.replication.factor` (capped at the cluster size) and
/// `transaction.state.log.min.isr` (at most the replication factor), compacted.
fn state_topic(node: &Node) -> coordinator_topic::Spec {
    coordinator_topic::Spec {
        topic: store::TOPIC,
        replication_factor_key: "transaction.state.log.replication.factor",
        partitions_key: "transaction.state.log.num.partitions",
        configs: super::state_topic_configs(
            &node.config.get("transaction.state.log.segment.bytes"),
        ),
        min_isr_key: Some("transaction.state.log.min.isr"),
    }
}

impl TxnCoordinator {
    /// The number of `__transaction_state` partitions (what the topic has once it exists).
    pub(super) fn partition_count(&self, node: &Node) -> i32 {
        node.topic(store::TOPIC)
            .map(|t| i32::try_from(t.partitions.len()).unwrap_or(i32::MAX).max(1))
            .unwrap_or(self.num_partitions)
    }

    /// Whether this broker coordinates `id` now (always on one node).
    pub(super) fn check_owner(&self, node: &Node, id: &str) -> Result<(), TxnError> {
        if !self.cluster {
            return Ok(());
        }
        let Some(topic) = node.topic(store::TOPIC) else {
            return Err(TxnError::NotCoordinator);
        };
        let n = i32::try_from(topic.partitions.len())
            .unwrap_or(i32::MAX)
            .max(1);
        let index = store::partition_for(id, n);
        let Some(part) = usize::try_from(index)
            .ok()
            .and_then(|i| topic.partitions.get(i))
        else {
            return Err(TxnError::NotCoordinator);
        };
        if !part.is_leader() || !node.quorum().is_some_and(|c| c.is_registered()) {
            return Err(TxnError::NotCoordinator);
        }
        match locked(&self.owned).get(&index) {
            Some(o) if o.loaded && o.epoch == part.leader_epoch() => Ok(()),
            _ => Err(TxnError::CoordinatorLoadInProgress),
        }
    }

    /// FindCoordinator for a transactional id: this broker on one node (where the group
    /// lookup says it is reached on this listener); in cluster mode the live leader of the id's
    /// `__transaction_state` partition.
    pub fn find(
        self: &Arc<Self>,
        node: &Arc<Node>,
        groups: &Arc<crate::group::Coordinator>,
        id: &str,
        listener: &str,
    ) -> Result<CoordinatorAddress, FindTxnError> {
        if self.cluster {
            self.find_replicated(node, id, listener)
        } else {
            Ok(groups.find(node, id, listener)?)
        }
    }

    /// FindCoordinator in cluster mode. Until the topic exists, asks the controller to create
    /// it.
    fn find_replicated(
        self: &Arc<Self>,
        node: &Arc<Node>,
        id: &str,
        listener: &str,
    ) -> Result<CoordinatorAddress, FindTxnError> {
        coordinator_topic::leader(node, store::TOPIC, id, listener).map_err(|e| match e {
            Unknown::NotInCluster | Unknown::CatchingUp => FindTxnError::CatchingUp,
            Unknown::Missing => {
                coordinator_topic::create_once(&self.creating, node, state_topic(node));
                FindTxnError::CreatingTopic
            }
            Unknown::NoLiveLeader { partition } => FindTxnError::NoLiveLeader { partition },
        })
    }

    /// Follows the leadership of the `__transaction_state` partitions: loads the ids of a
    /// partition this broker starts leading, drops those of one it stopped leading (or leads
    /// under a new epoch: another leader may have written in between).
    pub fn follow_leadership(self: &Arc<Self>, node: &Arc<Node>) {
        if !self.cluster {
            return;
        }
        let Some(topic) = node.topic(store::TOPIC) else {
            return;
        };
        let n = i32::try_from(topic.partitions.len())
            .unwrap_or(i32::MAX)
            .max(1);
        let registered = node.quorum().is_some_and(|c| c.is_registered());
        let mut owned = locked(&self.owned);
        for part in &topic.partitions {
            let index = part.index;
            let (leading, epoch) = (part.is_leader() && registered, part.leader_epoch());
            match owned.get(&index) {
                Some(o) if leading && o.epoch == epoch => continue,
                None if !leading => continue,
                _ => {}
            }
            if owned.remove(&index).is_some() {
                self.unload(index, n);
            }
            if leading {
                owned.insert(
                    index,
                    Owned {
                        epoch,
                        loaded: false,
                    },
                );
                spawn_load(self, node, Arc::clone(part), epoch);
            }
        }
    }

    /// Checks leadership every `FOLLOW_EVERY` (besides every metadata change, broker.rs), so a
    /// failed load is retried.
    pub(super) fn spawn_leadership_follower(self: &Arc<Self>, node: &Arc<Node>) {
        let weak = Arc::downgrade(self);
        let node = Arc::downgrade(node);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(FOLLOW_EVERY).await;
                let (Some(txns), Some(node)) = (weak.upgrade(), node.upgrade()) else {
                    return;
                };
                txns.follow_leadership(&node);
            }
        });
    }

    /// Drops the transactional ids of partition `index` (no longer coordinated here).
    fn unload(&self, index: i32, n: i32) {
        let mut txns = locked(&self.txns);
        let before = txns.len();
        txns.retain(|id, _| store::partition_for(id, n) != index);
        tracing::info!(
            partition = index,
            transactional_ids = before - txns.len(),
            "unloaded transactional ids: no longer their coordinator"
        );
    }
}

/// Loads the transactional ids of a partition this broker now leads, completes the prepared
/// ones, then marks the partition loaded; a failure leaves it unowned so the next check
/// retries.
fn spawn_load(txns: &Arc<TxnCoordinator>, node: &Arc<Node>, part: Arc<Partition>, epoch: i32) {
    let t = Arc::clone(txns);
    let node = Arc::clone(node);
    tokio::spawn(async move {
        let started = Instant::now();
        let index = part.index;
        let p = Arc::clone(&part);
        let res = tokio::task::spawn_blocking(move || super::replay_partition(&p, true)).await;
        let pending = Owned {
            epoch,
            loaded: false,
        };
        let current = || locked(&t.owned).get(&index) == Some(&pending);
        let metas = match res {
            Ok(Ok((metas, _))) if current() => metas,
            Ok(Ok(_)) => return,
            Ok(Err(e)) => {
                tracing::warn!(partition = index, error = %e, "loading transactional ids failed; retrying");
                if current() {
                    locked(&t.owned).remove(&index);
                }
                return;
            }
            Err(e) => {
                tracing::warn!(partition = index, error = %e, "loading transactional ids failed; retrying");
                if current() {
                    locked(&t.owned).remove(&index);
                }
                return;
            }
        };
        let count = metas.len();
        let mut unfinished: BTreeMap<String, Slot> = BTreeMap::new();
        {
            // Under the ownership lock (taken before the slots', as everywhere): the ids are
            // published only if this load is still the partition's current one.
            let mut owned = locked(&t.owned);
            if owned.get(&index) != Some(&pending) {
                return;
            }
            let mut slots = locked(&t.txns);
            for m in metas.into_values() {
                let prepared = m.preparing();
                let id = m.transactional_id.clone();
                let slot: Slot = Arc::new(tokio::sync::Mutex::new(Some(m)));
                if prepared {
                    unfinished.insert(id.clone(), Arc::clone(&slot));
                }
                slots.insert(id, slot);
            }
            drop(slots);
            owned.insert(
                index,
                Owned {
                    epoch,
                    loaded: true,
                },
            );
        }
        tracing::info!(
            partition = index,
            epoch,
            transactional_ids = count,
            unfinished = unfinished.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "transactions recovered: now their coordinator"
        );
        for slot in unfinished.into_values() {
            let prepared = slot
                .lock()
                .await
                .clone()
                .filter(state::TxnMetadata::preparing);
            if let Some(m) = prepared {
                t.spawn_completion(&node, slot, m);
            }
        }
    });
}
