//! Data replication, Kafka's way (cluster mode): followers fetch from the leader with Fetch
//! (replica_id = their node id), the leader tracks their log end offsets, the high watermark is
//! the smallest log end offset in the ISR, acks=all waits for it, and the leader changes the ISR
//! through the controller (expand when a follower catches up, shrink when it lags more than
//! replica.lag.time.max.ms). Followers run one replica fetcher per leader (`fetcher`), which
//! sends one Fetch for every partition it follows there; a partition starting under a new leader
//! epoch first truncates to the leader's end offset for its last epoch (OffsetForLeaderEpoch).
//!
//! The handlers ask this layer, whatever the mode: whether a request comes from a follower, what
//! a follower's fetch gets (typed data and errors; handlers/fetch.rs builds the response), where
//! an epoch ends, and whether an acks=all write is in the ISR. On one node it is inactive: no
//! followers, one epoch per partition, and no ISR beyond the local fsync.

pub mod fetcher;
pub mod fetcher_plan;
pub mod inter_broker;
pub mod throttle;

use crate::cluster::image::{ClusterImage, Command, Outcome};
use crate::log::zero_copy::Regions;
use crate::node::{Node, TopicState};
use crate::partition::{Partition, PartitionError};
use kafka_protocol::messages::FetchRequest;
use kafka_protocol::messages::fetch_request::FetchPartition;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Replication of the local node's partitions: the follower fetchers this broker runs (one per
/// leader it follows, see `fetcher`) and the leader's view of its followers.
pub struct Replication {
    node: Arc<Node>,
    /// Whether partitions have replicas on other brokers (cluster mode), so that this broker
    /// leads followers. One node has none.
    active: bool,
    fetchers: Mutex<fetcher::Fetchers>,
    /// ISR changes in flight, so each is asked for once.
    pending: Mutex<HashSet<(String, i32)>>,
    /// Replication throttles (see `throttle`): what this broker sends as a leader and fetches
    /// as a follower for throttled out-of-sync replicas.
    pub leader_quota: throttle::Quota,
    pub follower_quota: throttle::Quota,
    /// How followers reach leaders (set at start; plain TCP to the registered address until).
    inter_broker: std::sync::OnceLock<inter_broker::InterBroker>,
}

impl Replication {
    /// `active`: whether the metadata control of this broker's mode replicates partitions to
    /// other brokers.
    pub fn new(node: Arc<Node>, active: bool) -> Self {
        Replication {
            node,
            active,
            fetchers: Mutex::default(),
            pending: Mutex::default(),
            leader_quota: throttle::Quota::default(),
            follower_quota: throttle::Quota::default(),
            inter_broker: std::sync::OnceLock::new(),
        }
    }

    /// Sets how followers reach leaders (once, at start).
    pub fn set_inter_broker(&self, ib: inter_broker::InterBroker) {
        let _ = self.inter_broker.set(ib);
    }

    fn inter_broker(&self) -> inter_broker::InterBroker {
        self.inter_broker.get().cloned().unwrap_or_default()
    }

    /// Whether a request (Fetch, OffsetForLeaderEpoch) sent with `replica_id` comes from a
    /// follower of this broker: a broker id, with replication active. On one node a replica id
    /// is answered like a consumer's request, as it always was.
    pub fn is_follower(&self, replica_id: i32) -> bool {
        self.active && replica_id >= 0
    }

    /// OffsetForLeaderEpoch: (leader epoch, end offset) of `requested` in this leader's log.
    /// Followers (`replica_id`, see `is_follower`) get the log end for the current epoch,
    /// consumers the high watermark (what they could read). Without replication a partition
    /// has the single epoch it was opened with, which started at offset 0.
    pub fn epoch_end_offset(
        &self,
        part: &Partition,
        requested: i32,
        replica_id: i32,
    ) -> Result<(i32, i64), PartitionError> {
        if !self.active {
            return Ok(single_epoch_end(
                requested,
                part.leader_epoch(),
                part.high_watermark(),
            ));
        }
        if !part.is_leader() {
            return Err(PartitionError::NotLeader);
        }
        let current = part.leader_epoch();
        if requested < 0 || requested > current {
            return Ok((-1, -1));
        }
        if requested == current {
            let end = if self.is_follower(replica_id) {
                part.log_end_offset()
            } else {
                part.high_watermark()
            };
            return Ok((current, end));
        }
        let (_, end) = part.epoch_info(requested)?;
        Ok((requested, end))
    }

    fn fetchers(&self) -> std::sync::MutexGuard<'_, fetcher::Fetchers> {
        self.fetchers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashSet<(String, i32)>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Starts/stops follower fetchers to match the image: every partition this broker replicates
/// and another broker leads goes to a fetcher of that leader (`num.replica.fetchers` per leader).
pub fn reconcile(repl: &Arc<Replication>, img: &ClusterImage) {
    let me = repl.node.node_id();
    let listener = repl.inter_broker().listener;
    let mut want = BTreeMap::new();
    for (name, t) in &img.topics {
        for (i, p) in t.partitions.iter().enumerate() {
            if p.leader >= 0 && p.leader != me && p.replicas.contains(&me) {
                let Some(b) = img.brokers.get(&p.leader) else {
                    continue;
                };
                let (host, port) = match &listener {
                    Some(l) => b.endpoint(l),
                    None => (b.host.as_str(), b.port),
                };
                want.insert(
                    (name.clone(), i as i32),
                    fetcher_plan::Source {
                        leader: p.leader,
                        addr: format!("{host}:{port}"),
                        leader_epoch: p.leader_epoch,
                    },
                );
            }
        }
    }
    let per_leader = repl
        .node
        .broker_setting("num.replica.fetchers")
        .parse::<usize>()
        .unwrap_or(1)
        .max(1);
    repl.fetchers().reconcile(repl, &want, per_leader);
    // Replicas moved off this broker (reassignment): their fetchers are stopped above.
    delete_removed_replicas(repl);
}

/// Deletes the data of partitions this broker holds but no longer replicates (reassigned away,
/// possibly while it was down), once its image is current: a restarting voter replaying old
/// entries must not act on a past replica set. Runs on every image change and periodically.
pub fn delete_removed_replicas(repl: &Arc<Replication>) {
    let Some(cluster) = repl.node.quorum() else {
        return;
    };
    if !cluster.caught_up() {
        return;
    }
    delete_stale_topic_dirs(repl, cluster);
    let me = repl.node.node_id();
    let removed: Vec<(String, i32)> = cluster
        .image()
        .topics
        .iter()
        .flat_map(|(name, t)| {
            t.partitions
                .iter()
                .enumerate()
                .filter(|(_, p)| !p.replicas.contains(&me))
                .map(|(i, _)| (name.clone(), i as i32))
        })
        .collect();
    for (name, i) in removed {
        if let Some(part) = repl.node.partition(&name, i)
            && !part.is_leader()
            && (part.log_end_offset() > 0 || part.size_bytes() > 0)
        {
            let _ = part.wipe();
        }
    }
}

/// Deletes partition directories of topic ids the (current) image no longer has: topics
/// deleted while this broker was down. Directories are listed before the image is read, so a
/// topic created meanwhile is never mistaken for a deleted one.
fn delete_stale_topic_dirs(repl: &Arc<Replication>, cluster: &crate::cluster::Cluster) {
    let Ok(entries) = std::fs::read_dir(&repl.node.config.data_dir) else {
        return;
    };
    let dirs: Vec<(std::path::PathBuf, uuid::Uuid)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let (_, id) = name.rsplit_once('-')?;
            if id.len() != 32 {
                return None;
            }
            Some((e.path(), uuid::Uuid::parse_str(id).ok()?))
        })
        .collect();
    if dirs.is_empty() {
        return;
    }
    let live: HashSet<uuid::Uuid> = cluster.image().topics.values().map(|t| t.id).collect();
    for (path, id) in dirs {
        if !live.contains(&id) && repl.node.topic_by_id(id).is_none() && path.is_dir() {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "deleted the files of a deleted topic");
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "deleting a stale partition directory failed");
                }
            }
        }
    }
}

/// Counts bytes a throttle let through and the largest window total.
fn record_throttled(repl: &Replication, side: &str, bytes: u64, window_max: u64) {
    repl.node
        .metrics
        .throttled_bytes
        .with_label_values(&[side])
        .inc_by(bytes);
    let g = repl
        .node
        .metrics
        .throttled_window_max
        .with_label_values(&[side]);
    g.set(g.get().max(window_max as i64));
}

/// What the leader sends a follower for one partition.
#[derive(Debug)]
pub struct FollowerData {
    /// Also the last stable offset: there are no transactions.
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// Whole batches from the fetch offset up to the log end (empty when caught up or when
    /// the leader throttle's window is used up).
    pub records: bytes::Bytes,
}

/// Why the leader does not serve a follower's fetch of one partition.
#[derive(Debug, thiserror::Error)]
pub enum FollowerFetchError {
    #[error("unknown topic or partition")]
    UnknownPartition,
    #[error("this broker does not lead the partition")]
    NotLeader,
    #[error("the follower's leader epoch is newer than this leader's")]
    UnknownLeaderEpoch,
    #[error("the follower's leader epoch is older than this leader's")]
    FencedLeaderEpoch,
    #[error("reading for the follower failed: {0}")]
    Read(PartitionError),
}

/// One follower fetch's answer, in request order: per topic, per partition.
pub type FollowerFetch = Vec<Vec<Result<FollowerData, FollowerFetchError>>>;

/// Leader side of a follower's Fetch (all the partitions one replica fetcher follows here):
/// record its position on each, maybe ask to add it to the ISR, and read up to the log end.
/// Long-polls up to max_wait_ms while no partition has data (woken whenever the node's data
/// moves); any partition's error answers at once. The response holds at most max_bytes of
/// records, except that the first partition with data returns at least one whole batch
/// (KIP-74).
///
/// With `regions`, batches worth sending from the file come back as placeholders whose
/// regions it keeps (`log::zero_copy`).
pub async fn serve_follower_fetch(
    repl: &Arc<Replication>,
    replica: i32,
    req: &FetchRequest,
    mut regions: Option<&mut Regions>,
) -> FollowerFetch {
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.clamp(0, 5_000) as u64);
    let mut changes = repl.node.data_version.subscribe();
    let mut appends = repl.node.replica_appends.subscribe();
    let mut led_anew = repl.node.new_leaderships.subscribe();
    let mut recorded = false;
    let max_bytes = usize::try_from(req.max_bytes).unwrap_or(0).max(1);
    // A follower in controlled shutdown fetches until it exits but may not rejoin the ISR (the
    // controller would refuse it anyway).
    let stopping = repl.node.quorum().is_some_and(|c| {
        c.image()
            .brokers
            .get(&replica)
            .is_some_and(|b| b.shutting_down)
    });
    loop {
        changes.borrow_and_update();
        appends.borrow_and_update();
        if let Some(r) = regions.as_deref_mut() {
            r.clear();
        }
        let mut bytes = 0usize;
        let mut failed = false;
        let mut topics = Vec::with_capacity(req.topics.len());
        for t in &req.topics {
            let topic = repl.node.topic(t.topic.as_str());
            let parts = t
                .partitions
                .iter()
                .map(|fp| {
                    let budget = Budget {
                        left: max_bytes.saturating_sub(bytes),
                        first: bytes == 0,
                    };
                    let served = serve_partition(
                        repl,
                        replica,
                        topic.as_deref(),
                        fp,
                        budget,
                        regions.as_deref_mut(),
                        |part| {
                            if !recorded
                                && part.record_follower_fetch(replica, fp.fetch_offset)
                                && !stopping
                            {
                                request_isr_change(repl, part, Some(replica), None);
                            }
                        },
                    );
                    match &served {
                        Ok(d) => bytes += d.records.len(),
                        Err(_) => failed = true,
                    }
                    served
                })
                .collect();
            topics.push(parts);
        }
        recorded = true;
        if bytes >= usize::try_from(req.min_bytes).unwrap_or(0).max(1)
            || failed
            || tokio::time::Instant::now() >= deadline
        {
            return topics;
        }
        // New records (an append) or a moved high watermark, leadership or image. When this
        // broker leads partitions anew, the answer goes at once: the follower's next fetch
        // lists the partitions it now follows here.
        let woken = async {
            tokio::select! {
                _ = changes.changed() => false,
                _ = appends.changed() => false,
                _ = led_anew.changed() => true,
            }
        };
        if let Ok(true) = tokio::time::timeout_at(deadline, woken).await {
            return topics;
        }
    }
}

/// What is left of a follower fetch's response limit for one partition.
#[derive(Debug, Clone, Copy)]
struct Budget {
    left: usize,
    /// No records in the response yet: one whole batch may exceed the limits.
    first: bool,
}

/// One partition of a follower's fetch; `record` notes the follower's position on the
/// partition once it is known to be led here under the follower's epoch.
fn serve_partition(
    repl: &Arc<Replication>,
    replica: i32,
    topic: Option<&TopicState>,
    fp: &FetchPartition,
    budget: Budget,
    regions: Option<&mut Regions>,
    record: impl FnOnce(&Partition),
) -> Result<FollowerData, FollowerFetchError> {
    let part = topic
        .and_then(|t| {
            usize::try_from(fp.partition)
                .ok()
                .and_then(|i| t.partitions.get(i))
        })
        .ok_or(FollowerFetchError::UnknownPartition)?;
    if !part.is_leader() {
        return Err(FollowerFetchError::NotLeader);
    }
    let epoch = part.leader_epoch();
    if fp.current_leader_epoch >= 0 && fp.current_leader_epoch != epoch {
        return Err(if fp.current_leader_epoch > epoch {
            FollowerFetchError::UnknownLeaderEpoch
        } else {
            FollowerFetchError::FencedLeaderEpoch
        });
    }
    record(part);
    // Leader throttle: a listed replica serving a follower that is not in sync sends at most
    // what the current window has left (nothing when it is used up).
    let rate = topic
        .is_some_and(|t| {
            throttle::listed(
                &t.configs,
                "leader.replication.throttled.replicas",
                fp.partition,
                repl.node.node_id(),
            )
        })
        .then(|| !part.isr().contains(&replica))
        .filter(|t| *t)
        .and_then(|_| {
            throttle::rate(
                &repl
                    .node
                    .broker_setting("leader.replication.throttled.rate"),
            )
        });
    let want = (fp.partition_max_bytes.max(1) as u64).min(budget.left as u64);
    let grant = match rate {
        None => Some(want),
        Some(rate) => repl.leader_quota.reserve(rate, want),
    };
    let Some(grant) = grant else {
        return Ok(FollowerData {
            high_watermark: part.high_watermark(),
            log_start_offset: part.log_start_offset(),
            records: bytes::Bytes::new(),
        });
    };
    // A throttled replica always gets one whole batch past its grant, as before the response
    // limit: the throttle's window allows the rate plus one batch.
    let read = part.read_for_follower(
        fp.fetch_offset,
        grant as usize,
        budget.first || rate.is_some(),
        regions,
    );
    if rate.is_some() {
        let n = read.as_ref().map_or(0, |r| r.len() as u64);
        let max = repl.leader_quota.settle(grant, n);
        record_throttled(repl, "leader", n, max);
    }
    let records = read.map_err(FollowerFetchError::Read)?;
    Ok(FollowerData {
        high_watermark: part.high_watermark(),
        log_start_offset: part.log_start_offset(),
        records,
    })
}

/// Asks the controller (in the background) to add `add` to, or remove `remove` from, the ISR.
fn request_isr_change(
    repl: &Arc<Replication>,
    part: &Partition,
    add: Option<i32>,
    remove: Option<&[i32]>,
) {
    let Some(cluster) = repl.node.quorum().cloned() else {
        return;
    };
    let key = (part.topic.clone(), part.index);
    if !repl.pending().insert(key.clone()) {
        return;
    }
    let mut isr = part.isr();
    if let Some(a) = add
        && !isr.contains(&a)
    {
        isr.push(a);
    }
    if let Some(r) = remove {
        isr.retain(|id| !r.contains(id));
    }
    let cmd = Command::AlterIsr {
        topic: part.topic.clone(),
        partition: part.index,
        leader: repl.node.node_id(),
        leader_epoch: part.leader_epoch(),
        isr: isr.clone(),
    };
    // From now on the high watermark waits on the replica being added too (see
    // `ReplicaState::adding`).
    if let Some(a) = add {
        part.begin_isr_addition(a);
    }
    let removed = remove.map(<[i32]>::to_vec).unwrap_or_default();
    let weak = Arc::downgrade(repl);
    tokio::spawn(async move {
        let r = cluster.write(cmd).await;
        tracing::info!(topic = %key.0, partition = key.1, ?isr, result = ?r, "ISR change");
        if let Some(b) = weak.upgrade() {
            b.pending().remove(&key);
            if let Some(part) = b.node.partition(&key.0, key.1) {
                // Refused or not written: the addition is off. Written, it stays counted until
                // the image applied here shows it. A lagging replica is no longer waited on.
                if let Some(a) = add
                    && !matches!(r, Ok(Outcome::Ok))
                {
                    part.abandon_isr_addition(a);
                }
                for id in &removed {
                    part.abandon_isr_addition(*id);
                }
            }
        }
    });
}

/// Leader housekeeping: shrink the ISR of partitions whose followers stopped catching up.
pub fn spawn_isr_checks(repl: &Arc<Replication>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let weak = Arc::downgrade(repl);
    let lag =
        Duration::from_millis(repl.node.config.get_i64("replica.lag.time.max.ms").max(100) as u64);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = crate::cluster::stopped(&mut stop) => return,
                _ = tick.tick() => {}
            }
            let Some(b) = weak.upgrade() else { return };
            delete_removed_replicas(&b);
            for t in b.node.topics() {
                for p in &t.partitions {
                    if !p.is_leader() {
                        continue;
                    }
                    let lagging = p.lagging_followers(lag);
                    if !lagging.is_empty() {
                        request_isr_change(&b, p, None, Some(&lagging));
                    }
                }
            }
        }
    });
}

/// (leader_epoch, end offset) of a requested epoch, given the partition's only epoch (which
/// started at offset 0) and its end offset. Kafka: the latest epoch ends at the log end; an
/// epoch later than any known, or undefined, is (-1, -1); an earlier one than the first maps to
/// (requested, start offset of the first epoch).
fn single_epoch_end(requested: i32, current: i32, end: i64) -> (i32, i64) {
    match requested {
        r if r < 0 || r > current => (-1, -1),
        r if r == current => (current, end),
        r => (r, 0),
    }
}

/// Why an acks=all write was not replicated to the ISR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IsrWaitError {
    #[error("this broker no longer leads the partition")]
    NotLeader,
    #[error("the ISR did not replicate the write in time")]
    Timeout,
    #[error("the ISR shrank below min.insync.replicas")]
    BelowMinIsr,
}

/// acks=all: waits (bounded by `timeout`) until the high watermark passes each partition's last
/// appended offset; returns the error for each one that did not make it. A partition without an
/// ISR (one node) has nothing to wait for: its appends are acknowledged once durable.
pub async fn await_isr(
    node: &Node,
    waits: &[(Arc<Partition>, i64)],
    timeout: Duration,
) -> Vec<Option<IsrWaitError>> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut changes = node.data_version.subscribe();
    loop {
        let done = waits
            .iter()
            .all(|(p, end)| !p.has_isr() || p.high_watermark() > *end || !p.is_leader());
        if done || tokio::time::Instant::now() >= deadline {
            return waits
                .iter()
                .map(|(p, end)| {
                    if !p.is_leader() {
                        Some(IsrWaitError::NotLeader)
                    } else if !p.has_isr() {
                        None
                    } else if p.high_watermark() <= *end {
                        Some(IsrWaitError::Timeout)
                    } else if p.isr_size() < p.settings().min_insync_replicas {
                        Some(IsrWaitError::BelowMinIsr)
                    } else {
                        None
                    }
                })
                .collect();
        }
        let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::single_epoch_end;

    #[test]
    fn epochs_of_an_unreplicated_partition() {
        assert_eq!(single_epoch_end(0, 0, 42), (0, 42));
        assert_eq!(single_epoch_end(3, 0, 42), (-1, -1));
        assert_eq!(single_epoch_end(-1, 0, 42), (-1, -1));
        assert_eq!(single_epoch_end(1, 2, 42), (1, 0));
    }
}
