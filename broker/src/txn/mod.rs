//! Transaction coordinator (KIP-98): owns every transactional id's state machine
//! (txn/state.rs), persists each transition in the compacted internal topic
//! `__transaction_state` (txn/store.rs) before answering, writes the COMMIT/ABORT markers to the
//! transaction's partitions (txn/markers.rs: in process where this broker leads the partition,
//! WriteTxnMarkers to its leader otherwise), hands committed transactional offsets to the group
//! coordinator, aborts transactions that outlive their timeout, and on start (one node) or on
//! becoming a partition's leader (cluster mode, txn/replicated.rs) replays the log and finishes
//! what a crash interrupted.
//!
//! Produce asks [`TxnCoordinator::verify`] whether a transactional batch's partition is in its
//! producer's ongoing transaction (the KIP-890 server-side defence), under the partition lock:
//! a transaction leaves the verified set before its markers are written, so a late write of a
//! finished transaction is refused rather than joining the next one or hanging the LSO.
//!
//! In cluster mode the partition leader asks the coordinator instead (txn/verify.rs), and
//! transactional offsets wait at the group's coordinator (group/txn_offsets.rs): the group's
//! `__consumer_offsets` partition joins the transaction and its marker decides them.

mod expiry;
mod markers;
pub(crate) use markers::{ISR_TIMEOUT as MARKER_ISR_TIMEOUT, write_one as write_marker};
pub mod replicated;
pub mod state;
pub mod store;
pub mod verify;

use crate::config::BrokerConfig;
use crate::group::Coordinator as Groups;
use crate::group::offsets::CommitPartition;
use crate::node::Node;
use crate::partition::TxnVerifyError;
use state::{InitDecision, PendingOffset, TxnError, TxnMetadata};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Creating or replaying the `__transaction_state` log failed at start.
#[derive(Debug, thiserror::Error)]
pub enum TxnLogError {
    #[error("creating the internal topic __transaction_state: {0}")]
    CreateTopic(String),
    #[error("reading __transaction_state-{partition} at offset {offset} during replay: {error}")]
    Read {
        partition: i32,
        offset: i64,
        error: crate::partition::PartitionError,
    },
    #[error("the transaction-state replay task failed: {0}")]
    Replay(#[from] tokio::task::JoinError),
}

/// One transactional id's metadata behind its own async lock: requests for one id run one at
/// a time (each persists before the next decides), different ids run concurrently.
type Slot = Arc<tokio::sync::Mutex<Option<TxnMetadata>>>;

/// A transactional producer as Produce verifies it: its current epoch and the partitions of
/// its ongoing transaction (none when no transaction is ongoing).
type Verified = (i16, HashSet<(String, i32)>);

pub struct TxnCoordinator {
    /// Cluster mode: `__transaction_state` is replicated and each broker coordinates the ids
    /// of the partitions it leads.
    cluster: bool,
    /// Cluster mode: the state partitions this broker leads.
    owned: Mutex<HashMap<i32, replicated::Owned>>,
    /// Whether a creation of `__transaction_state` is in flight.
    creating: Arc<std::sync::atomic::AtomicBool>,
    /// How other brokers are reached (markers, verification).
    inter_broker: std::sync::OnceLock<crate::replication::inter_broker::InterBroker>,
    /// Connections to partition leaders for markers, by broker id.
    conns: tokio::sync::Mutex<HashMap<i32, eddy_kafka_client::Client>>,
    num_partitions: i32,
    max_timeout_ms: i32,
    /// How often timed-out transactions are looked for.
    abort_interval: Duration,
    /// `transactional.id.expiration.ms`: idle ids older than this are forgotten.
    expiration_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`.
    expiry_interval: Duration,
    groups: Arc<Groups>,
    txns: Mutex<HashMap<String, Slot>>,
    /// Every transactional producer by producer id (Produce's verification).
    verify: Mutex<HashMap<i64, Verified>>,
    /// The slots (by address) whose prepared transaction a background completion is
    /// finishing now: the timer leaves them to it. By slot, not by id: a slot loaded anew
    /// (leadership lost and regained) gets its own completion while a stale one winds down.
    completing: Arc<Mutex<HashMap<usize, Arc<tokio::sync::Notify>>>>,
}

/// How long AddPartitionsToTxn (and AddOffsetsToTxn, Produce v12's add) waits for the previous
/// transaction's background completion before answering CONCURRENT_TRANSACTIONS: a producer
/// that begins its next transaction right after EndTxn then needs no retry (and no client
/// backoff) when the markers are quick, and still gets Kafka's answer when they are not.
const ADD_WAITS_FOR_MARKERS: Duration = Duration::from_millis(200);

/// Takes a slot out of the completing set when its background completion ends, however it
/// ends (a panic included).
struct Completing {
    set: Arc<Mutex<HashMap<usize, Arc<tokio::sync::Notify>>>>,
    key: usize,
}

impl Drop for Completing {
    fn drop(&mut self) {
        if let Some(done) = locked(&self.set).remove(&self.key) {
            done.notify_waiters();
        }
    }
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl TxnCoordinator {
    /// `replicated`: cluster mode.
    pub fn new(config: &BrokerConfig, replicated: bool, groups: Arc<Groups>) -> Self {
        let int = |k: &str| i32::try_from(config.get_i64(k)).unwrap_or(i32::MAX);
        TxnCoordinator {
            cluster: replicated,
            owned: Mutex::new(HashMap::new()),
            creating: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            inter_broker: std::sync::OnceLock::new(),
            conns: tokio::sync::Mutex::new(HashMap::new()),
            num_partitions: int("transaction.state.log.num.partitions").max(1),
            max_timeout_ms: int("transaction.max.timeout.ms").max(1),
            abort_interval: Duration::from_millis(
                u64::try_from(
                    config.get_i64("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
                )
                .unwrap_or(10_000)
                .max(10),
            ),
            expiration_ms: config.get_i64("transactional.id.expiration.ms").max(1),
            expiry_interval: Duration::from_millis(
                u64::try_from(
                    config.get_i64("transaction.remove.expired.transaction.cleanup.interval.ms"),
                )
                .unwrap_or(3_600_000)
                .max(10),
            ),
            groups,
            txns: Mutex::new(HashMap::new()),
            verify: Mutex::new(HashMap::new()),
            completing: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Whether `__transaction_state` is replicated (cluster mode).
    pub fn cluster(&self) -> bool {
        self.cluster
    }

    /// Sets how other brokers are reached (once, at start).
    pub fn set_inter_broker(&self, ib: crate::replication::inter_broker::InterBroker) {
        let _ = self.inter_broker.set(ib);
    }

    fn inter_broker(&self) -> crate::replication::inter_broker::InterBroker {
        self.inter_broker.get().cloned().unwrap_or_default()
    }

    /// One node: creates `__transaction_state` if needed, replays it, completes the
    /// transactions a crash left between PREPARE and COMPLETE. Cluster mode: follows the
    /// leadership of the state partitions instead (txn/replicated.rs). Both start the timeout
    /// timer. The group coordinator must have started (pending offsets are handed to it).
    pub async fn start(
        self: &Arc<Self>,
        node: &Arc<Node>,
        control: &dyn crate::control::MetadataControl,
    ) -> Result<(), TxnLogError> {
        if self.cluster {
            self.spawn_timer(node);
            self.spawn_expiry(node);
            self.spawn_leadership_follower(node);
            return Ok(());
        }
        control
            .create_internal_topic(
                store::TOPIC,
                self.num_partitions,
                state_topic_configs(&node.config.get("transaction.state.log.segment.bytes")),
            )
            .map_err(|e| TxnLogError::CreateTopic(e.to_string()))?;
        let started = std::time::Instant::now();
        let b = Arc::clone(node);
        let (metas, records) = tokio::task::spawn_blocking(move || replay(&b)).await??;
        let mut unfinished = Vec::new();
        for m in metas.into_values() {
            self.publish(&m);
            self.mark_pending_offsets(&m);
            if m.preparing() {
                unfinished.push(m.transactional_id.clone());
            }
            locked(&self.txns).insert(
                m.transactional_id.clone(),
                Arc::new(tokio::sync::Mutex::new(Some(m))),
            );
        }
        tracing::info!(
            transactional_ids = locked(&self.txns).len(),
            records,
            unfinished = unfinished.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "transactions recovered"
        );
        for id in unfinished {
            let slot = self.slot(&id);
            let mut g = slot.lock().await;
            if let Some(m) = g.clone() {
                match self.complete(node, &m).await {
                    Ok(done) => *g = Some(done),
                    Err(e) => {
                        tracing::warn!(transactional_id = %id, error = %e, "completing a recovered transaction failed; the timer retries");
                    }
                }
            }
        }
        self.spawn_timer(node);
        self.spawn_expiry(node);
        Ok(())
    }

    /// The slot of an id some request created (requests other than InitProducerId must not
    /// create one: an unknown id is refused and leaves nothing behind).
    fn existing_slot(&self, id: &str) -> Result<Slot, TxnError> {
        locked(&self.txns)
            .get(id)
            .cloned()
            .ok_or(TxnError::InvalidProducerIdMapping)
    }

    fn slot(&self, id: &str) -> Slot {
        Arc::clone(
            locked(&self.txns)
                .entry(id.to_string())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(None))),
        )
    }

    /// Makes `m` what Produce verifies against: its epoch (older ones are fenced) and its
    /// partitions while it is ongoing, none once it is not (done before any marker is written).
    fn publish(&self, m: &TxnMetadata) {
        let parts = if m.state == state::TxnState::Ongoing {
            m.partitions.iter().cloned().collect()
        } else {
            HashSet::new()
        };
        locked(&self.verify).insert(m.producer_id, (m.epoch, parts));
    }

    fn mark_pending_offsets(&self, m: &TxnMetadata) {
        let mut by_group: BTreeMap<&str, Vec<(String, i32)>> = BTreeMap::new();
        for o in &m.offsets {
            by_group
                .entry(o.group.as_str())
                .or_default()
                .push((o.topic.clone(), o.partition));
        }
        for (g, parts) in by_group {
            self.groups
                .set_pending_txn_offsets(g, m.producer_id, &parts);
        }
    }

    /// Produce's check of a transactional batch (KIP-890): the partition is in an ongoing
    /// transaction of this producer at this epoch.
    pub fn verify(
        &self,
        topic: &str,
        partition: i32,
        pid: i64,
        epoch: i16,
    ) -> Result<(), TxnVerifyError> {
        if self.cluster {
            return Err(TxnVerifyError::Unsupported);
        }
        let v = locked(&self.verify);
        let Some((current, parts)) = v.get(&pid) else {
            return Err(TxnVerifyError::NotInTransaction);
        };
        if epoch < *current {
            return Err(TxnVerifyError::Fenced);
        }
        if epoch != *current || !parts.contains(&(topic.to_string(), partition)) {
            return Err(TxnVerifyError::NotInTransaction);
        }
        Ok(())
    }

    /// Appends `m` to its `__transaction_state` partition and waits until it is durable and,
    /// in cluster mode, in the partition's ISR (acks=all): only then is it acted on.
    async fn persist(&self, node: &Node, m: &TxnMetadata) -> Result<(), TxnError> {
        let appended = self.append_state(node, m)?;
        self.await_persisted(node, &m.transactional_id, appended)
            .await
    }

    /// Waits until an appended state record is durable and (cluster mode) in the ISR.
    async fn await_persisted(
        &self,
        node: &Node,
        id: &str,
        (ticket, part, offset): (u64, Arc<crate::partition::Partition>, i64),
    ) -> Result<(), TxnError> {
        node.flusher.wait(ticket).await.map_err(|e| {
            tracing::error!(transactional_id = id, error = %e, "transaction state could not be made durable");
            TxnError::Storage
        })?;
        if !self.cluster {
            return Ok(());
        }
        let r = crate::replication::await_isr(node, &[(part, offset)], markers::ISR_TIMEOUT).await;
        match r.into_iter().next().flatten() {
            None => Ok(()),
            Some(crate::replication::IsrWaitError::NotLeader) => Err(TxnError::NotCoordinator),
            Some(e) => {
                tracing::warn!(transactional_id = id, error = %e, "transaction state not replicated");
                Err(TxnError::CoordinatorNotAvailable)
            }
        }
    }

    /// Appends `m` to its `__transaction_state` partition (as leader, with min.insync.replicas
    /// enforced in cluster mode); returns the flusher ticket that makes it durable (queued for
    /// the next group commit), the partition and the record's offset.
    fn append_state(
        &self,
        node: &Node,
        m: &TxnMetadata,
    ) -> Result<(u64, Arc<crate::partition::Partition>, i64), TxnError> {
        let (k, v) = store::record(m);
        self.append_record(node, &m.transactional_id, &k, Some(&v))
    }

    /// Appends one record of `id` (None: its tombstone) to its `__transaction_state`
    /// partition; as `append_state`.
    fn append_record(
        &self,
        node: &Node,
        id: &str,
        k: &[u8],
        v: Option<&[u8]>,
    ) -> Result<(u64, Arc<crate::partition::Partition>, i64), TxnError> {
        let index = store::partition_for(id, self.partition_count(node));
        let part = node
            .partition(store::TOPIC, index)
            .ok_or(TxnError::CoordinatorNotAvailable)?;
        let batch = crate::log::batch::build_batch(&[(Some(k), v)], crate::now_ms());
        let out = part.append(&batch, self.cluster).map_err(|e| match e {
            crate::partition::PartitionError::NotLeader => TxnError::NotCoordinator,
            crate::partition::PartitionError::NotEnoughReplicas => {
                TxnError::CoordinatorNotAvailable
            }
            e => {
                tracing::error!(transactional_id = id, error = %e, "persisting transaction state failed");
                TxnError::Storage
            }
        })?;
        let ticket = node
            .flusher
            .mark(Arc::clone(&part) as Arc<dyn crate::log::flusher::Durable>);
        Ok((ticket, part, out.base_offset))
    }

    /// The marker's coordinator epoch: the leader epoch of the id's state partition.
    fn coordinator_epoch(&self, node: &Node, id: &str) -> i32 {
        let index = store::partition_for(id, self.partition_count(node));
        node.partition(store::TOPIC, index)
            .map_or(0, |p| p.leader_epoch().max(0))
    }

    /// Persists `next`, makes it the verified state and the slot's value.
    async fn transition(
        &self,
        node: &Node,
        slot: &mut Option<TxnMetadata>,
        next: TxnMetadata,
    ) -> Result<(), TxnError> {
        self.persist(node, &next).await?;
        self.publish(&next);
        *slot = Some(next);
        Ok(())
    }

    /// Finishes a PREPARE_COMMIT/PREPARE_ABORT transaction: the markers on every partition
    /// (durable), the committed offsets, then COMPLETE. On failure the transaction stays
    /// prepared and the timer tries again.
    async fn complete(&self, node: &Node, m: &TxnMetadata) -> Result<TxnMetadata, TxnError> {
        self.send_markers(node, m).await?;
        self.finish(node, m).await
    }

    /// Writes a prepared transaction's markers (durable, in each partition's ISR); needs no
    /// lock of the id: while it is prepared, nothing else changes it.
    async fn send_markers(&self, node: &Node, m: &TxnMetadata) -> Result<(), TxnError> {
        let coordinator_epoch = if self.cluster {
            self.coordinator_epoch(node, &m.transactional_id)
        } else {
            0
        };
        let started = std::time::Instant::now();
        self.write_markers(node, m, coordinator_epoch).await?;
        tracing::debug!(transactional_id = %m.transactional_id, partitions = m.partitions.len(), elapsed_ms = started.elapsed().as_millis() as u64, "transaction markers written");
        Ok(())
    }

    /// After the markers: the committed offsets, then COMPLETE (made the verified state).
    async fn finish(&self, node: &Node, m: &TxnMetadata) -> Result<TxnMetadata, TxnError> {
        let commit = m.committing();
        if commit {
            let mut by_group: BTreeMap<&str, Vec<CommitPartition>> = BTreeMap::new();
            for o in &m.offsets {
                by_group
                    .entry(o.group.as_str())
                    .or_default()
                    .push(CommitPartition {
                        topic: o.topic.clone(),
                        partition: o.partition,
                        offset: o.offset,
                        leader_epoch: o.leader_epoch,
                        metadata: o.metadata.clone(),
                    });
            }
            for (g, parts) in by_group {
                self.groups
                    .commit_txn_offsets(node, g, &parts)
                    .await
                    .map_err(|e| {
                        tracing::error!(group = g, error = %e, "writing committed transactional offsets failed");
                        TxnError::Storage
                    })?;
            }
        }
        self.groups.clear_pending_txn_offsets(m.producer_id);
        let done = m.completed(crate::now_ms());
        // COMPLETE is not waited for: the markers and offsets it follows are durable, and if a
        // crash loses it, recovery finds PREPARE and completes the transaction again (the
        // markers a second time, harmlessly). Any later record of this id is in the same
        // partition after it, so it cannot be durable without COMPLETE.
        self.append_state(node, &done)?;
        self.publish(&done);
        tracing::debug!(transactional_id = %m.transactional_id, commit, partitions = m.partitions.len(), "transaction completed");
        Ok(done)
    }

    /// Completes the prepared transaction `prep` of `slot` in a background task, as Kafka's
    /// coordinator does after answering EndTxn: the markers are written without the id's lock
    /// (requests for the id meanwhile see PREPARE_* and get CONCURRENT_TRANSACTIONS;
    /// DescribeTransactions shows it), then, under the lock and only if the slot still holds
    /// `prep` and this broker still coordinates the id, the offsets and COMPLETE. A failure
    /// leaves it prepared: the timer starts another completion, a new coordinator its own.
    pub(super) fn spawn_completion(
        self: &Arc<Self>,
        node: &Arc<Node>,
        slot: Slot,
        prep: TxnMetadata,
    ) {
        // The address identifies the slot while this task holds it.
        let key = Arc::as_ptr(&slot) as usize;
        {
            let mut completing = locked(&self.completing);
            if completing.contains_key(&key) {
                return;
            }
            completing.insert(key, Arc::new(tokio::sync::Notify::new()));
        }
        let guard = Completing {
            set: Arc::clone(&self.completing),
            key,
        };
        let t = Arc::clone(self);
        let node = Arc::clone(node);
        tokio::spawn(async move {
            if let Err(e) = t.complete_in_background(&node, &slot, &prep).await {
                tracing::warn!(transactional_id = %prep.transactional_id, error = %e, "completing a prepared transaction failed; the timer retries");
            }
            drop(guard);
        });
    }

    async fn complete_in_background(
        &self,
        node: &Node,
        slot: &Slot,
        prep: &TxnMetadata,
    ) -> Result<(), TxnError> {
        // Whoever spawned this read `prep` and let go of the lock: another completion may have
        // finished it since (and the producer begun its next transaction, at the same epoch
        // in transaction version 1). Markers of a finished transaction written now would
        // decide the next one's records and offsets, so only a slot still holding `prep` is
        // completed; while this task runs, no other completion of the slot can start.
        if slot.lock().await.as_ref() != Some(prep) {
            return Ok(());
        }
        self.send_markers(node, prep).await?;
        let mut g = slot.lock().await;
        let current = self
            .existing_slot(&prep.transactional_id)
            .is_ok_and(|s| Arc::ptr_eq(&s, slot));
        if !current || g.as_ref() != Some(prep) {
            // Unloaded (another coordinator completes it) or already completed.
            return Ok(());
        }
        self.check_owner(node, &prep.transactional_id)?;
        let done = self.finish(node, prep).await?;
        *g = Some(done);
        Ok(())
    }

    /// InitProducerId with a transactional id: (producer id, epoch).
    pub async fn init_producer_id(
        &self,
        node: &Node,
        id: &str,
        timeout_ms: i32,
        pid: i64,
        epoch: i16,
    ) -> Result<(i64, i16), TxnError> {
        self.check_owner(node, id)?;
        if timeout_ms <= 0 || timeout_ms > self.max_timeout_ms {
            return Err(TxnError::InvalidTransactionTimeout);
        }
        let slot = self.slot(id);
        let mut g = slot.lock().await;
        // At most: abort the ongoing transaction, then bump.
        for _ in 0..3 {
            let now = crate::now_ms();
            match state::decide_init(g.as_ref(), pid, epoch) {
                InitDecision::Allocate => {
                    let new_id = node
                        .allocate_producer_id()
                        .map_err(|_| TxnError::CoordinatorNotAvailable)?;
                    let m = match g.as_ref() {
                        Some(old) => TxnMetadata {
                            producer_id: new_id,
                            last_epoch: -1,
                            ..old.bumped(0, timeout_ms, now)
                        },
                        None => TxnMetadata::new(id, new_id, timeout_ms, now),
                    };
                    self.transition(node, &mut g, m).await?;
                    tracing::debug!(
                        transactional_id = id,
                        producer_id = new_id,
                        "allocated a transactional producer id"
                    );
                    return Ok((new_id, 0));
                }
                InitDecision::Bump(e) => {
                    let Some(old) = g.as_ref() else {
                        return Err(TxnError::CoordinatorNotAvailable);
                    };
                    let m = old.bumped(e, timeout_ms, now);
                    let pid = m.producer_id;
                    self.transition(node, &mut g, m).await?;
                    return Ok((pid, e));
                }
                InitDecision::Current => {
                    let m = g.as_ref().ok_or(TxnError::CoordinatorNotAvailable)?;
                    return Ok((m.producer_id, m.epoch));
                }
                InitDecision::AbortFirst => {
                    let Some(old) = g.as_ref() else {
                        return Err(TxnError::CoordinatorNotAvailable);
                    };
                    tracing::info!(
                        transactional_id = id,
                        "a new producer fences the ongoing transaction: aborting it"
                    );
                    let prep = old.fenced_abort(now);
                    self.transition(node, &mut g, prep.clone()).await?;
                    let done = self.complete(node, &prep).await?;
                    *g = Some(done);
                }
                InitDecision::Refuse(e) => return Err(e),
            }
        }
        Err(TxnError::ConcurrentTransactions)
    }

    /// AddPartitionsToTxn and AddOffsetsToTxn: `partitions` and `groups` join the ongoing
    /// transaction (which begins here if none is ongoing).
    pub async fn add(
        &self,
        node: &Node,
        id: &str,
        pid: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        groups: &[String],
    ) -> Result<(), TxnError> {
        self.check_owner(node, id)?;
        // Cluster mode: a group's offsets partition joins the transaction, so that its marker
        // reaches the group's coordinator (group/txn_offsets.rs), as in Kafka.
        let mut partitions = partitions.to_vec();
        if self.cluster && !groups.is_empty() {
            let n = node
                .topic(crate::group::store::TOPIC)
                .map(|t| i32::try_from(t.partitions.len()).unwrap_or(i32::MAX).max(1))
                .ok_or(TxnError::CoordinatorNotAvailable)?;
            for group in groups {
                partitions.push((
                    crate::group::store::TOPIC.to_string(),
                    crate::group::store::partition_for(group, n),
                ));
            }
        }
        let slot = self.existing_slot(id)?;
        let r = self
            .add_to(node, &slot, pid, epoch, &partitions, groups)
            .await;
        if r == Err(TxnError::ConcurrentTransactions) && self.wait_completion(&slot).await {
            return self
                .add_to(node, &slot, pid, epoch, &partitions, groups)
                .await;
        }
        r
    }

    async fn add_to(
        &self,
        node: &Node,
        slot: &Slot,
        pid: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        groups: &[String],
    ) -> Result<(), TxnError> {
        let mut g = slot.lock().await;
        let m = g.as_ref().ok_or(TxnError::InvalidProducerIdMapping)?;
        if let Some(next) = m.add(pid, epoch, partitions, groups, crate::now_ms())? {
            self.transition(node, &mut g, next).await?;
        }
        Ok(())
    }

    /// Waits (at most [`ADD_WAITS_FOR_MARKERS`]) for the background completion of `slot`'s
    /// transaction; whether one ended (false: none was running, or it is still running).
    async fn wait_completion(&self, slot: &Slot) -> bool {
        let key = Arc::as_ptr(slot) as usize;
        let Some(done) = locked(&self.completing).get(&key).cloned() else {
            return false;
        };
        let ended = done.notified();
        tokio::pin!(ended);
        ended.as_mut().enable();
        // It may have ended between the refusal and `enable`.
        if !locked(&self.completing).contains_key(&key) {
            return true;
        }
        tokio::time::timeout(ADD_WAITS_FOR_MARKERS, ended)
            .await
            .is_ok()
    }

    /// TxnOffsetCommit: the offsets wait in the transaction until it ends.
    pub async fn commit_offsets(
        &self,
        node: &Node,
        id: &str,
        pid: i64,
        epoch: i16,
        group: &str,
        offsets: Vec<PendingOffset>,
    ) -> Result<(), TxnError> {
        if self.cluster {
            // The group's coordinator holds them until the transaction's marker.
            let parts: Vec<CommitPartition> = offsets
                .into_iter()
                .map(|o| CommitPartition {
                    topic: o.topic,
                    partition: o.partition,
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata: o.metadata,
                })
                .collect();
            return self
                .groups
                .stage_txn_offsets(node, group, pid, &parts)
                .await
                .map_err(from_group);
        }
        let slot = self.existing_slot(id)?;
        let mut g = slot.lock().await;
        let m = g.as_ref().ok_or(TxnError::InvalidProducerIdMapping)?;
        let parts: Vec<(String, i32)> = offsets
            .iter()
            .map(|o| (o.topic.clone(), o.partition))
            .collect();
        let next = m.add_offsets(pid, epoch, group, offsets, crate::now_ms())?;
        self.transition(node, &mut g, next).await?;
        self.groups.set_pending_txn_offsets(group, pid, &parts);
        Ok(())
    }

    /// EndTxn: answered once PREPARE is persisted (in cluster mode, in the ISR of its state
    /// partition), as Kafka does; the markers, offsets and COMPLETE follow in the background
    /// ([`Self::spawn_completion`]). The answer is the producer id and epoch the producer
    /// continues with. `tv2` (EndTxn v5+, transaction
    /// version 2): the epoch is bumped at PREPARE and the markers carry it, a new producer id
    /// is allocated when the epochs are exhausted, and a retry of a completed EndTxn answers
    /// the same id and epoch without bumping again.
    pub async fn end(
        self: &Arc<Self>,
        node: &Arc<Node>,
        id: &str,
        pid: i64,
        epoch: i16,
        commit: bool,
        tv2: bool,
    ) -> Result<(i64, i16), TxnError> {
        tracing::debug!(transactional_id = id, commit, tv2, "EndTxn");
        self.check_owner(node, id)?;
        let slot = self.existing_slot(id)?;
        let mut g = slot.lock().await;
        let m = g.as_ref().ok_or(TxnError::InvalidProducerIdMapping)?;
        let prep = if tv2 {
            let next_pid = if m.needs_new_producer_id() {
                node.allocate_producer_id()
                    .map_err(|_| TxnError::CoordinatorNotAvailable)?
            } else {
                -1
            };
            match m.end_v2(pid, epoch, commit, next_pid, crate::now_ms())? {
                state::EndV2::Prepare(prep) => prep,
                state::EndV2::Retried => return Ok((m.producer_id, m.epoch)),
            }
        } else {
            match m.end(pid, epoch, commit, crate::now_ms())? {
                Some(prep) => prep,
                None => return Ok((m.producer_id, m.epoch)),
            }
        };
        self.transition(node, &mut g, prep.clone()).await?;
        drop(g);
        // The producer continues with the id and epoch COMPLETE will hold (transaction version
        // 2: the bumped epoch, or the new producer id at epoch 0 once the epochs run out).
        let answer = {
            let done = prep.completed(crate::now_ms());
            (done.producer_id, done.epoch)
        };
        self.spawn_completion(node, slot, prep);
        Ok(answer)
    }

    /// The metadata of `id` (`Err`: an operation on it is in progress, retry; or this broker
    /// is not its coordinator).
    pub fn describe_here(&self, node: &Node, id: &str) -> Result<Option<TxnMetadata>, TxnError> {
        self.check_owner(node, id)?;
        self.describe(id)
    }

    /// The metadata of `id` as this broker holds it (`Err`: an operation on it is in
    /// progress, retry).
    pub fn describe(&self, id: &str) -> Result<Option<TxnMetadata>, TxnError> {
        let Some(slot) = locked(&self.txns).get(id).cloned() else {
            return Ok(None);
        };
        let g = slot
            .try_lock()
            .map_err(|_| TxnError::ConcurrentTransactions)?;
        Ok(g.clone())
    }

    /// Every transactional id's metadata not busy right now (ListTransactions).
    pub fn list(&self) -> Vec<TxnMetadata> {
        let slots: Vec<Slot> = locked(&self.txns).values().cloned().collect();
        let mut out: Vec<TxnMetadata> = slots
            .iter()
            .filter_map(|s| s.try_lock().ok().and_then(|g| g.clone()))
            .collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }

    /// Aborts transactions past their timeout (under a bumped epoch, fencing their producer)
    /// and retries completions that failed, every `transaction.abort.timed.out.transaction.
    /// cleanup.interval.ms`.
    fn spawn_timer(self: &Arc<Self>, node: &Arc<Node>) {
        let weak = Arc::downgrade(self);
        let node = Arc::downgrade(node);
        let interval = self.abort_interval;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let (Some(txns), Some(node)) = (weak.upgrade(), node.upgrade()) else {
                    return;
                };
                txns.expire(&node).await;
            }
        });
    }

    async fn expire(self: &Arc<Self>, node: &Arc<Node>) {
        let slots: Vec<Slot> = locked(&self.txns).values().cloned().collect();
        for slot in slots {
            let Ok(mut g) = slot.try_lock() else { continue };
            let Some(m) = g.clone() else { continue };
            let now = crate::now_ms();
            let prep = if m.timed_out(now) {
                tracing::info!(transactional_id = %m.transactional_id, timeout_ms = m.timeout_ms, "aborting a transaction that timed out");
                let prep = m.fenced_abort(now);
                if let Err(e) = self.transition(node, &mut g, prep.clone()).await {
                    tracing::warn!(transactional_id = %m.transactional_id, error = %e, "aborting a timed-out transaction failed");
                    continue;
                }
                prep
            } else if m.preparing() {
                m
            } else {
                continue;
            };
            drop(g);
            self.spawn_completion(node, Arc::clone(&slot), prep);
        }
    }
}

/// A group coordinator's refusal as the transaction APIs answer it.
fn from_group(e: crate::group::GroupError) -> TxnError {
    use crate::group::GroupError;
    match e {
        GroupError::NotCoordinator => TxnError::NotCoordinator,
        GroupError::CoordinatorLoadInProgress => TxnError::CoordinatorLoadInProgress,
        _ => TxnError::CoordinatorNotAvailable,
    }
}

/// Reads every `__transaction_state` partition up to its high watermark: the last metadata
/// per transactional id, and the number of records read.
fn replay(node: &Node) -> Result<(HashMap<String, TxnMetadata>, u64), TxnLogError> {
    let mut out = HashMap::new();
    let mut count = 0u64;
    let Some(topic) = node.topic(store::TOPIC) else {
        return Ok((out, 0));
    };
    for part in &topic.partitions {
        let (metas, n) = replay_partition(part, false)?;
        out.extend(metas);
        count += n;
    }
    Ok((out, count))
}

/// Reads one `__transaction_state` partition up to its high watermark (or, for a new leader,
/// its log end: what followers will truncate to): the last metadata per transactional id, and
/// the number of records read.
fn replay_partition(
    part: &crate::partition::Partition,
    to_log_end: bool,
) -> Result<(HashMap<String, TxnMetadata>, u64), TxnLogError> {
    let mut out = HashMap::new();
    let mut count = 0u64;
    {
        let end = if to_log_end {
            part.log_end_offset()
        } else {
            part.high_watermark()
        };
        let mut offset = part.log_start_offset();
        while offset < end {
            let read_err = |error| TxnLogError::Read {
                partition: part.index,
                offset,
                error,
            };
            let records = if to_log_end {
                part.read_for_follower(offset, 4 << 20, true, None)
                    .map_err(read_err)?
            } else {
                part.read(offset, 4 << 20).map_err(read_err)?.records
            };
            let batches = crate::log::batch::split_batches(&records).unwrap_or_default();
            if batches.is_empty() {
                break;
            }
            for (h, range) in batches {
                let mut buf = bytes::Bytes::copy_from_slice(&records[range]);
                match kafka_protocol::records::RecordBatchDecoder::decode(&mut buf) {
                    Ok(set) => {
                        for r in set.records.into_iter().filter(|r| r.offset >= offset) {
                            count += 1;
                            let Some(key) = r.key else { continue };
                            match store::decode(&key, r.value.as_deref()) {
                                Ok((id, Some(m))) => {
                                    out.insert(id, m);
                                }
                                Ok((id, None)) => {
                                    out.remove(&id);
                                }
                                Err(e) => {
                                    tracing::warn!(offset = r.offset, error = %e, "skipping a transaction-state record");
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(offset = h.base_offset, error = %e, "skipping an undecodable transaction-state batch");
                    }
                }
                offset = h.last_offset() + 1;
            }
        }
    }
    Ok((out, count))
}

/// Topic configs of `__transaction_state`: compacted, no retention, stored as written (as
/// Kafka's).
fn state_topic_configs(segment_bytes: &str) -> BTreeMap<String, String> {
    [
        ("cleanup.policy", "compact"),
        ("retention.ms", "-1"),
        ("retention.bytes", "-1"),
        ("compression.type", "producer"),
        ("segment.bytes", segment_bytes),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[cfg(test)]
mod tests;
