//! Consumer-group coordinator (classic protocol): owns every group's state machine
//! (group/state.rs), parks JoinGroup/SyncGroup requests until their rebalance step completes,
//! runs the session/rebalance timers, and persists offsets and membership in the internal
//! `__consumer_offsets` log (group/store.rs), replayed on start.

pub mod consumer;
mod consumer_ops;
pub mod error;
pub mod offsets;
pub mod replicated;
pub mod state;
pub mod store;
mod txn_offsets;

use crate::config::BrokerConfig;
use crate::node::Node;
pub use error::{FindError, GroupError};
use state::{Answer, Effect, Group, JoinRequest, JoinResult, Limits, SyncResult};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// The longest the coordinator's timer sleeps: in cluster mode it also follows the leadership
/// of the `__consumer_offsets` partitions this often. Session and rebalance deadlines are met
/// exactly: the timer sleeps until the earliest one when that comes sooner.
const TICK: Duration = Duration::from_millis(100);

/// The coordinator's time source in milliseconds (the wall clock; tests drive tokio's paused
/// clock through it).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Creating, replaying or compacting the `__consumer_offsets` log failed (at start, or when
/// this broker loads a partition's groups in cluster mode).
#[derive(Debug, thiserror::Error)]
pub enum GroupLogError {
    #[error("creating the internal topic {topic}: {message}")]
    CreateTopic { topic: String, message: String },
    #[error("compacting __consumer_offsets-{partition}: {error}")]
    Compact {
        partition: i32,
        error: crate::partition::PartitionError,
    },
    #[error("the consumer-group replay task failed: {0}")]
    Replay(#[from] tokio::task::JoinError),
    #[error("reading {topic}-{partition} at offset {offset} during replay: {error}")]
    Read {
        topic: String,
        partition: i32,
        offset: i64,
        error: crate::partition::PartitionError,
    },
}

type WaiterKey = (String, String);

/// What one append to `__consumer_offsets` wrote: the flusher ticket that makes it durable
/// here and, in cluster mode, the partition and last offset the ISR must have before the write
/// is acknowledged.
pub(crate) struct Appended {
    pub ticket: u64,
    pub replicate: Option<(Arc<crate::partition::Partition>, i64)>,
}

#[derive(Default)]
struct Inner {
    groups: HashMap<String, Group>,
    join_waiters: HashMap<WaiterKey, oneshot::Sender<JoinResult>>,
    sync_waiters: HashMap<WaiterKey, oneshot::Sender<SyncResult>>,
    /// Cluster mode: the `__consumer_offsets` partitions this broker leads, by index (see
    /// group/replicated.rs). Groups of other partitions are not coordinated here.
    owned: HashMap<i32, replicated::Owned>,
    /// (group, topic, partition) with an offset pending in a transaction: the producer id.
    pending_txn: HashMap<(String, String, i32), i64>,
}

/// The group coordinator of this broker.
pub struct Coordinator {
    limits: Limits,
    consumer_settings: consumer::Settings,
    /// `group.consumer.migration.policy`: online moves between the classic and the consumer
    /// protocol (group/state/migration.rs).
    migration: state::MigrationPolicy,
    num_partitions: i32,
    /// Cluster mode: `__consumer_offsets` is a replicated topic of the metadata image and this
    /// broker coordinates only the groups of the partitions it leads.
    cluster: bool,
    /// Cluster mode: a request to create `__consumer_offsets` is in flight.
    creating: Arc<std::sync::atomic::AtomicBool>,
    inner: Mutex<Inner>,
    clock: Clock,
    /// Wakes the timer when an operation set a deadline earlier than the one it sleeps to.
    wake: Arc<tokio::sync::Notify>,
    /// The time (ms) the timer sleeps until; read and written under the `inner` lock.
    next_wake_ms: std::sync::atomic::AtomicI64,
}

pub use crate::coordinator_topic::CoordinatorAddress;

/// A group as DescribeGroups/ListGroups show it.
#[derive(Debug, Clone)]
pub struct GroupView {
    pub group_id: String,
    pub state: state::GroupState,
    pub protocol_type: String,
    pub protocol_name: String,
    pub members: Vec<state::Member>,
}

impl Coordinator {
    /// `replicated`: whether the metadata control of the mode replicates partitions, i.e.
    /// `__consumer_offsets` is a replicated topic and coordinators are partition leaders.
    pub fn new(config: &BrokerConfig, replicated: bool) -> Self {
        let int = |k: &str| i32::try_from(config.get_i64(k)).unwrap_or(i32::MAX);
        Coordinator {
            limits: Limits {
                min_session_timeout_ms: int("group.min.session.timeout.ms"),
                max_session_timeout_ms: int("group.max.session.timeout.ms"),
                initial_rebalance_delay_ms: int("group.initial.rebalance.delay.ms").max(0),
            },
            consumer_settings: consumer::Settings {
                session_timeout_ms: int("group.consumer.session.timeout.ms").max(1),
                heartbeat_interval_ms: int("group.consumer.heartbeat.interval.ms").max(1),
                max_size: usize::try_from(int("group.consumer.max.size").max(1))
                    .unwrap_or(usize::MAX),
            },
            migration: state::MigrationPolicy::parse(
                &config.get("group.consumer.migration.policy"),
            )
            .unwrap_or(state::MigrationPolicy {
                upgrade: true,
                downgrade: true,
            }),
            num_partitions: int("offsets.topic.num.partitions").max(1),
            cluster: replicated,
            creating: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            inner: Mutex::new(Inner::default()),
            clock: Arc::new(crate::now_ms),
            wake: Arc::new(tokio::sync::Notify::new()),
            next_wake_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
        }
    }

    /// The same coordinator reading time from `clock` (tests).
    #[cfg(test)]
    fn with_clock(self, clock: Clock) -> Self {
        Coordinator { clock, ..self }
    }

    /// Now, in milliseconds, on the coordinator's clock.
    fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Wakes the timer if `group_id`'s next deadline comes before the timer's next wake-up
    /// (called under the `inner` lock after every operation that may set a deadline).
    fn reschedule(&self, inner: &Inner, group_id: &str) {
        let classic = inner.groups.get(group_id).and_then(Group::next_deadline);
        let consumer = inner
            .groups
            .get(group_id)
            .and_then(|g| g.consumer.as_ref())
            .and_then(|g| g.next_deadline(&self.consumer_settings));
        let deadline = classic.into_iter().chain(consumer).min();
        if deadline.is_some_and(|d| d < self.next_wake_ms.load(std::sync::atomic::Ordering::SeqCst))
        {
            self.wake.notify_one();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates the internal log if needed, replays it, and starts the timer task. In cluster
    /// mode the log is a replicated topic created on the first FindCoordinator; groups are
    /// loaded when this broker becomes the leader of their partition (group/replicated.rs).
    pub async fn start(
        self: &Arc<Self>,
        node: &Arc<Node>,
        control: &dyn crate::control::MetadataControl,
    ) -> Result<(), GroupLogError> {
        if self.cluster {
            self.spawn_timer(node);
            return Ok(());
        }
        control
            .create_internal_topic(
                store::TOPIC,
                self.num_partitions,
                offsets_topic_configs(&node.config.get("offsets.topic.segment.bytes")),
            )
            .map_err(|e| GroupLogError::CreateTopic {
                topic: store::TOPIC.into(),
                message: e.to_string(),
            })?;
        let started = std::time::Instant::now();
        let b = Arc::clone(node);
        let now = self.now();
        let (groups, records) =
            tokio::task::spawn_blocking(move || offsets::replay(&b, now)).await??;
        tracing::info!(
            groups = groups.len(),
            records,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "consumer groups recovered"
        );
        self.lock().groups = groups;
        self.compact_log(node, records).await?;
        self.spawn_timer(node);
        Ok(())
    }

    /// Session and rebalance deadlines, each met when it falls due: the timer sleeps until the
    /// earliest deadline of any group (at most `TICK`), and an operation that sets an earlier
    /// one wakes it. In cluster mode it also follows the leadership of the `__consumer_offsets`
    /// partitions (loading and unloading their groups) at least every `TICK`.
    fn spawn_timer(self: &Arc<Self>, node: &Arc<Node>) {
        let weak = Arc::downgrade(self);
        let node = Arc::downgrade(node);
        let wake = Arc::clone(&self.wake);
        tokio::spawn(async move {
            loop {
                let sleep = {
                    let (Some(groups), Some(node)) = (weak.upgrade(), node.upgrade()) else {
                        return;
                    };
                    groups.follow_leadership(&node);
                    groups.tick(&node, groups.now())
                };
                tokio::select! {
                    () = tokio::time::sleep(sleep) => {}
                    () = wake.notified() => {}
                }
            }
        });
    }

    /// Persists group state on shutdown (everything is already in the log; this only
    /// answers parked requests so their connections can close).
    pub async fn close(&self) {
        let mut inner = self.lock();
        for (_, tx) in inner.join_waiters.drain() {
            let _ = tx.send(JoinResult::error("", GroupError::CoordinatorNotAvailable));
        }
        for (_, tx) in inner.sync_waiters.drain() {
            let _ = tx.send(SyncResult::error(GroupError::CoordinatorNotAvailable));
        }
    }

    /// Runs every group's deadlines that are due at `now`; returns how long the timer may sleep
    /// before the next one (at most `TICK`) and records that wake-up time for `reschedule`.
    fn tick(&self, node: &Node, now: i64) -> Duration {
        let mut inner = self.lock();
        // The timer is awake: the effects applied below need not wake it again.
        self.next_wake_ms
            .store(i64::MIN, std::sync::atomic::Ordering::SeqCst);
        let ids: Vec<String> = inner.groups.keys().cloned().collect();
        for id in ids {
            let fx = match inner.groups.get_mut(&id) {
                Some(g) => {
                    let mut fx = g.tick(now, &self.limits);
                    if let Some(c) = g.consumer.as_mut()
                        && c.tick(now, &self.consumer_settings) > 0
                    {
                        if c.is_empty() {
                            g.consumer = None;
                        } else if c.only_classic_members() && self.migration.downgrade {
                            // The last consumer-protocol member expired.
                            fx.extend(g.downgrade_to_classic(now, &self.limits));
                        }
                        fx.push(Effect::Persist);
                    }
                    fx
                }
                None => continue,
            };
            // Nobody waits on a timer's effects; parked answers are delivered by `apply`.
            let _ = self.apply(node, &mut inner, &id, fx);
        }
        inner.groups.retain(|_, g| !g.is_disposable());
        let tick_ms = i64::try_from(TICK.as_millis()).unwrap_or(i64::MAX);
        let consumer_deadlines = inner
            .groups
            .values()
            .filter_map(|g| g.consumer.as_ref())
            .filter_map(|g| g.next_deadline(&self.consumer_settings));
        let next = inner
            .groups
            .values()
            .filter_map(Group::next_deadline)
            .chain(consumer_deadlines)
            .min()
            .map_or(now + tick_ms, |d| d.clamp(now, now + tick_ms));
        self.next_wake_ms
            .store(next, std::sync::atomic::Ordering::SeqCst);
        Duration::from_millis(u64::try_from(next - now).unwrap_or(0))
    }

    /// Delivers delayed answers and persists membership changes.
    ///
    /// In cluster mode a membership snapshot is replicated before the answers it completes are
    /// delivered: they go to a task that waits for the ISR, and the returned wait is for the
    /// caller's own answer (`None`: nothing to wait for).
    #[must_use]
    fn apply(
        &self,
        node: &Node,
        inner: &mut Inner,
        group_id: &str,
        fx: Vec<Effect>,
    ) -> Option<replicated::Wait> {
        self.reschedule(inner, group_id);
        let mut wait = None;
        if fx.iter().any(|e| matches!(e, Effect::Persist)) {
            let snap = inner.groups.get(group_id).map(Group::snapshot);
            let rec = store::group_record(group_id, snap.as_ref());
            match self.append(node, group_id, &[rec]) {
                Ok(a) => {
                    wait = a
                        .replicate
                        .map(|(part, last)| replicated::Wait::new(node, part, last));
                }
                Err(e) => {
                    tracing::warn!(group = group_id, error = ?e, "persisting group metadata failed");
                }
            }
        }
        let mut replies = Vec::new();
        for e in fx {
            match e {
                Effect::Join { member_id, result } => {
                    if let Some(tx) = inner
                        .join_waiters
                        .remove(&(group_id.to_string(), member_id))
                    {
                        replies.push(replicated::Reply::Join(tx, result));
                    }
                }
                Effect::Sync { member_id, result } => {
                    if let Some(tx) = inner
                        .sync_waiters
                        .remove(&(group_id.to_string(), member_id))
                    {
                        replies.push(replicated::Reply::Sync(tx, result));
                    }
                }
                Effect::Persist => {}
            }
        }
        match &wait {
            Some(w) => w.clone().deliver_after(replies),
            None => replies.into_iter().for_each(|r| r.send(None)),
        }
        wait
    }

    /// The `__consumer_offsets` partition of `group_id`: over the configured partition count on
    /// one node, over the replicated topic's partitions in cluster mode.
    fn partition_of(&self, node: &Node, group_id: &str) -> i32 {
        let n = if self.cluster {
            node.topic(store::TOPIC).map_or(self.num_partitions, |t| {
                i32::try_from(t.partitions.len()).unwrap_or(i32::MAX)
            })
        } else {
            self.num_partitions
        };
        store::partition_for(group_id, n.max(1))
    }

    /// Appends records for `group_id` to its `__consumer_offsets` partition; returns the
    /// flusher ticket to wait on for durability and, in cluster mode, what the ISR must
    /// replicate before the write is acknowledged (acks=all, min.insync.replicas applies).
    fn append(
        &self,
        node: &Node,
        group_id: &str,
        records: &[store::KeyValue],
    ) -> Result<Appended, GroupError> {
        let index = self.partition_of(node, group_id);
        let partition = node
            .partition(store::TOPIC, index)
            .ok_or(GroupError::CoordinatorNotAvailable)?;
        let kvs: Vec<crate::log::batch::KeyValue<'_>> = records
            .iter()
            .map(|(k, v)| (Some(k.as_slice()), v.as_deref()))
            .collect();
        let batch = crate::log::batch::build_batch(&kvs, self.now());
        let out = partition
            .append(&batch, self.cluster)
            .map_err(|e| GroupError::append(group_id, self.cluster, &e))?;
        let last = out.base_offset + records.len() as i64 - 1;
        let ticket = node
            .flusher
            .mark(Arc::clone(&partition) as Arc<dyn crate::log::flusher::Durable>);
        Ok(Appended {
            ticket,
            replicate: self.cluster.then_some((partition, last)),
        })
    }

    /// JoinGroup: answers now, or parks until the rebalance's join phase completes.
    pub async fn join(
        &self,
        node: &Node,
        group_id: &str,
        req: JoinRequest,
        skip_assignment_supported: bool,
    ) -> JoinResult {
        if group_id.is_empty() {
            return JoinResult::error(&req.member_id, GroupError::InvalidGroupId);
        }
        let wait_ms = i64::from(req.rebalance_timeout_ms.max(req.session_timeout_ms));
        let fresh = format!("{}-{}", req.client_id, uuid::Uuid::new_v4());
        if let Some(r) = self
            .classic_join_to_consumer(node, group_id, &req, &fresh)
            .await
        {
            return r.unwrap_or_else(|e| JoinResult::error(&req.member_id, e));
        }
        let rx = {
            let mut inner = self.lock();
            if let Err(e) = self.check_coordinator(node, &inner, group_id) {
                return JoinResult::error(&req.member_id, e);
            }
            let group = inner
                .groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new(group_id));
            let (answer, fx) = group.join(
                req,
                fresh,
                skip_assignment_supported,
                self.now(),
                &self.limits,
            );
            match answer {
                Answer::Now(r) => {
                    let Some(wait) = self.apply(node, &mut inner, group_id, fx) else {
                        return r;
                    };
                    // Cluster mode: answered once the membership snapshot is replicated.
                    let (tx, rx) = oneshot::channel();
                    let member_id = r.member_id.clone();
                    wait.deliver_after(vec![replicated::Reply::Join(tx, r)]);
                    (rx, member_id)
                }
                Answer::Later { member_id } => {
                    let (tx, rx) = oneshot::channel();
                    if let Some(old) = inner
                        .join_waiters
                        .insert((group_id.to_string(), member_id.clone()), tx)
                    {
                        // A retried JoinGroup replaces the one still parked.
                        let _ = old.send(JoinResult::error(
                            &member_id,
                            GroupError::RebalanceInProgress,
                        ));
                    }
                    let _ = self.apply(node, &mut inner, group_id, fx);
                    (rx, member_id)
                }
            }
        };
        let (rx, member_id) = rx;
        Self::await_join(rx, member_id, wait_ms).await
    }

    async fn await_join(
        rx: oneshot::Receiver<JoinResult>,
        member_id: String,
        wait_ms: i64,
    ) -> JoinResult {
        // The group's own rebalance deadline answers first; this bound only guards leaks.
        let limit = Duration::from_millis(wait_ms.max(0) as u64) + Duration::from_secs(30);
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(r)) => r,
            _ => JoinResult::error(&member_id, GroupError::RebalanceInProgress),
        }
    }

    /// SyncGroup: the leader's call completes the rebalance; followers wait for it.
    #[allow(clippy::too_many_arguments)]
    pub async fn sync(
        &self,
        node: &Node,
        group_id: &str,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Vec<u8>)>,
    ) -> SyncResult {
        let classic = self
            .on_consumer_group(node, group_id, |cg, now| {
                cg.classic_sync(
                    member_id,
                    instance,
                    generation,
                    protocol_type,
                    protocol_name,
                    now,
                )
            })
            .await;
        if let Some(r) = classic {
            return r.unwrap_or_else(SyncResult::error);
        }
        let (rx, limit) = {
            let mut inner = self.lock();
            if let Err(e) = self.check_coordinator(node, &inner, group_id) {
                return SyncResult::error(e);
            }
            let Some(group) = inner.groups.get_mut(group_id) else {
                return SyncResult::error(GroupError::UnknownMember);
            };
            let limit = group.members.get(member_id).map_or(0, |m| {
                i64::from(m.rebalance_timeout_ms.max(m.session_timeout_ms))
            });
            let (answer, fx) = group.sync(
                member_id,
                instance,
                generation,
                protocol_type,
                protocol_name,
                assignments,
                self.now(),
            );
            match answer {
                Answer::Now(r) => {
                    let Some(wait) = self.apply(node, &mut inner, group_id, fx) else {
                        return r;
                    };
                    // Cluster mode: answered once the membership snapshot is replicated.
                    let (tx, rx) = oneshot::channel();
                    wait.deliver_after(vec![replicated::Reply::Sync(tx, r)]);
                    (rx, limit)
                }
                Answer::Later { member_id } => {
                    let (tx, rx) = oneshot::channel();
                    if let Some(old) = inner
                        .sync_waiters
                        .insert((group_id.to_string(), member_id), tx)
                    {
                        let _ = old.send(SyncResult::error(GroupError::RebalanceInProgress));
                    }
                    let _ = self.apply(node, &mut inner, group_id, fx);
                    (rx, limit)
                }
            }
        };
        let limit = Duration::from_millis(limit.max(0) as u64) + Duration::from_secs(30);
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(r)) => r,
            _ => SyncResult::error(GroupError::RebalanceInProgress),
        }
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
    ) -> Result<(), GroupError> {
        let mut inner = self.lock();
        let now = self.now();
        let group = inner
            .groups
            .get_mut(group_id)
            .ok_or(GroupError::UnknownMember)?;
        let Some(cg) = group.consumer.as_mut() else {
            return group.heartbeat(member_id, instance, generation, now);
        };
        // A classic member of a consumer group (an online migration).
        let r = cg.classic_heartbeat(member_id, instance, generation, now);
        self.reschedule(&inner, group_id);
        r
    }

    /// LeaveGroup; `None` when the group does not exist.
    pub fn leave(
        &self,
        node: &Node,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Option<Vec<Result<(), GroupError>>> {
        let mut inner = self.lock();
        if let Some((out, _appended)) =
            self.consumer_op_locked(node, &mut inner, group_id, |cg, _| {
                Ok(cg.classic_leave(members))
            })
        {
            // Leaving is not acknowledged durably (as the classic path); the write goes on.
            return Some(out.unwrap_or_else(|e| vec![Err(e); members.len()]));
        }
        let group = inner.groups.get_mut(group_id)?;
        let (out, fx) = group.leave(members, self.now(), &self.limits);
        let _ = self.apply(node, &mut inner, group_id, fx);
        Some(out)
    }

    /// FindCoordinator for a group: on one node this broker (at the advertised listener the
    /// request came in on), in cluster mode the leader of the group's `__consumer_offsets`
    /// partition (group/replicated.rs).
    pub fn find(
        self: &Arc<Self>,
        node: &Arc<Node>,
        group_id: &str,
        listener: &str,
    ) -> Result<CoordinatorAddress, FindError> {
        if self.cluster {
            return self.find_replicated(node, group_id, listener);
        }
        node.advertised
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|l| l.name == listener)
            .map(|l| CoordinatorAddress {
                node_id: node.node_id(),
                host: l.host.clone(),
                port: l.port,
            })
            .ok_or(FindError::NoListener)
    }

    /// ListGroups, optionally filtered by state names (case-insensitive, as Kafka does).
    pub fn list(&self, states: &[String]) -> Vec<GroupView> {
        let inner = self.lock();
        let mut out: Vec<GroupView> = inner
            .groups
            .values()
            .filter(|g| {
                states.is_empty()
                    || states
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state.name()))
            })
            .map(view)
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupView> {
        self.lock().groups.get(group_id).map(view)
    }
}

#[cfg(test)]
#[path = "timer_tests.rs"]
mod timer_tests;

/// Topic configs of `__consumer_offsets`: compacted, no time or size retention (as Kafka's).
/// `segment_bytes` is the broker's `offsets.topic.segment.bytes`.
fn offsets_topic_configs(segment_bytes: &str) -> BTreeMap<String, String> {
    [
        ("cleanup.policy", "compact"),
        ("retention.ms", "-1"),
        ("retention.bytes", "-1"),
        ("max.message.bytes", "104857600"),
        // As Kafka: the coordinator's batches are stored as written, whatever the broker-wide
        // compression.type (which would otherwise recompress every commit).
        ("compression.type", "producer"),
        // Sealed segments are what the cleaner compacts.
        ("segment.bytes", segment_bytes),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn view(g: &Group) -> GroupView {
    GroupView {
        group_id: g.group_id.clone(),
        state: g.state,
        protocol_type: g.protocol_type.clone().unwrap_or_default(),
        protocol_name: g.protocol_name.clone().unwrap_or_default(),
        members: g.members.values().cloned().collect(),
    }
}
