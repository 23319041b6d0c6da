//! Follower side of replication: replica fetchers, Kafka's way. One fetcher task per leader
//! this broker follows (`num.replica.fetchers` per leader, partitions hashed across them; see
//! `fetcher_plan`), over one connection, sending ONE Fetch for all of its partitions
//! (`replica.fetch.wait.max.ms` / `replica.fetch.min.bytes` long-polling on the leader,
//! `replica.fetch.max.bytes` per partition, `replica.fetch.response.max.bytes` per response).
//! A partition (re)started under a leader epoch first truncates to the leader's end offset for
//! its last epoch (one OffsetForLeaderEpoch for all such partitions), then fetches. A partition
//! whose fetch fails is backed off for `replica.fetch.backoff.ms` without holding up the others.
//! Throttled reassignment traffic reserves from the follower quota per partition.

use super::fetcher_plan::{self, FetcherKey, Source, TopicPartition};
use super::{Replication, inter_broker, record_throttled, throttle};
use crate::partition::Partition;
use eddy_kafka_client::{Client as KafkaConn, Config as KafkaConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const FETCH_VERSION: i16 = 12;
const OFFSET_FOR_LEADER_EPOCH_VERSION: i16 = 4;
const RPC_TIMEOUT: Duration = Duration::from_secs(10);
/// The follower fetchers' client id in request headers.
const CLIENT_ID: &str = "eddy-replica-fetcher";
/// Backoff after a failed inter-broker authentication: doubling from the first to the last.
const AUTH_BACKOFF_MIN: Duration = Duration::from_millis(500);
const AUTH_BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Backoff after a connection or request failure (every partition of the fetcher waits).
const RECONNECT_BACKOFF: Duration = Duration::from_millis(200);
/// How long after a partition is (re)started a refusal may mean the leader has not applied
/// the same metadata yet, and how soon it is asked again then.
const METADATA_SKEW: Duration = Duration::from_secs(2);
const SKEW_RETRY: Duration = Duration::from_millis(20);
/// Kafka error codes of a leader that does not know of the partition or epoch yet.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const UNKNOWN_LEADER_EPOCH: i16 = 74;
/// An idle fetcher (nothing ready) looks again at least this often.
const IDLE_RECHECK: Duration = Duration::from_secs(1);

/// The broker's replica fetch settings (Kafka's keys, read when a fetcher starts).
#[derive(Debug, Clone, Copy)]
struct FetchSettings {
    max_wait_ms: i32,
    min_bytes: i32,
    partition_max_bytes: u64,
    response_max_bytes: i32,
    backoff: Duration,
}

impl FetchSettings {
    fn of(repl: &Replication) -> Self {
        let c = &repl.node.config;
        let int = |k: &str| i32::try_from(c.get_i64(k)).unwrap_or(i32::MAX);
        FetchSettings {
            max_wait_ms: int("replica.fetch.wait.max.ms").max(0),
            min_bytes: int("replica.fetch.min.bytes").max(1),
            partition_max_bytes: c.get_i64("replica.fetch.max.bytes").max(1) as u64,
            response_max_bytes: int("replica.fetch.response.max.bytes").max(1),
            backoff: Duration::from_millis(c.get_i64("replica.fetch.backoff.ms").max(0) as u64),
        }
    }
}

/// A partition in a fetcher.
#[derive(Debug, Clone, Copy)]
struct Followed {
    leader_epoch: i32,
    /// Truncated to the leader's log under `leader_epoch`: fetching.
    truncated: bool,
    /// Backed off after an error until then.
    retry_at: Option<Instant>,
    /// When it was (re)started under `leader_epoch`.
    started: Instant,
}

/// A fetcher's partitions, shared between reconcile (which changes them) and its task.
#[derive(Default)]
struct Shared {
    parts: Mutex<BTreeMap<TopicPartition, Followed>>,
    changed: Notify,
    /// Partitions were added (or restarted under a new epoch): a fetch long-polling without
    /// them is cut short, so they are fetched at once rather than after `replica.fetch.wait.max.ms`
    /// (a new topic's first acks=all produce waits for it).
    grew: Notify,
}

impl Shared {
    fn parts(&self) -> std::sync::MutexGuard<'_, BTreeMap<TopicPartition, Followed>> {
        self.parts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Updates `tp` only if it is still followed under `epoch` (reconcile may have removed or
    /// restarted it while a request was in flight).
    fn update(&self, tp: &TopicPartition, epoch: i32, f: impl FnOnce(&mut Followed)) {
        if let Some(p) = self.parts().get_mut(tp)
            && p.leader_epoch == epoch
        {
            f(p);
        }
    }

    fn still(&self, tp: &TopicPartition, epoch: i32) -> bool {
        self.parts()
            .get(tp)
            .is_some_and(|p| p.leader_epoch == epoch)
    }

    fn back_off(&self, tp: &TopicPartition, epoch: i32, d: Duration) {
        self.update(tp, epoch, |p| p.retry_at = Some(Instant::now() + d));
    }

    /// The leader refused `tp` with `code`: back off `d`, except just after the partition was
    /// (re)started when the code says the leader has not applied that metadata yet (each
    /// broker applies the metadata log on its own, and a follower may learn of a new topic or
    /// leader a moment before the leader does): then try again soon.
    fn refused(&self, tp: &TopicPartition, epoch: i32, code: Option<i16>, d: Duration) {
        self.update(tp, epoch, |p| {
            let behind = matches!(
                code,
                Some(UNKNOWN_TOPIC_OR_PARTITION | NOT_LEADER_OR_FOLLOWER | UNKNOWN_LEADER_EPOCH)
            ) && p.started.elapsed() < METADATA_SKEW;
            let wait = if behind { d.min(SKEW_RETRY) } else { d };
            p.retry_at = Some(Instant::now() + wait);
        });
    }
}

struct Running {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

/// The fetchers this broker runs, by leader (and fetcher id).
#[derive(Default)]
pub struct Fetchers {
    running: BTreeMap<FetcherKey, Running>,
}

impl Fetchers {
    /// Makes the fetchers follow `want` (partition -> where it is led from) with `per_leader`
    /// fetchers per leader: partitions move between fetchers, fetchers start and stop.
    pub(super) fn reconcile(
        &mut self,
        repl: &Arc<Replication>,
        want: &BTreeMap<TopicPartition, Source>,
        per_leader: usize,
    ) {
        let current = self
            .running
            .iter()
            .map(|(k, r)| {
                let parts = r
                    .shared
                    .parts()
                    .iter()
                    .map(|(tp, f)| (tp.clone(), f.leader_epoch))
                    .collect();
                (k.clone(), parts)
            })
            .collect();
        let plan = fetcher_plan::plan(&current, want, per_leader);
        let mut grew = std::collections::HashSet::new();
        for (key, tp) in &plan.remove {
            if let Some(r) = self.running.get(key) {
                r.shared.parts().remove(tp);
            }
        }
        for (key, tp, epoch) in plan.start {
            let r = self
                .running
                .entry(key.clone())
                .or_insert_with(|| spawn(repl, key, Arc::default()));
            grew.insert(Arc::as_ptr(&r.shared));
            r.shared.parts().insert(
                tp,
                Followed {
                    leader_epoch: epoch,
                    truncated: false,
                    retry_at: None,
                    started: Instant::now(),
                },
            );
        }
        self.running.retain(|key, r| {
            if r.shared.parts().is_empty() {
                tracing::debug!(
                    leader = key.leader,
                    fetcher = key.id,
                    "stopping an idle replica fetcher"
                );
                r.task.abort();
                return false;
            }
            true
        });
        for (key, r) in &mut self.running {
            if r.task.is_finished() {
                // Only a panic ends a fetcher of a live broker: start it again.
                *r = spawn(repl, key.clone(), Arc::clone(&r.shared));
            }
            r.shared.changed.notify_one();
            if grew.contains(&Arc::as_ptr(&r.shared)) {
                r.shared.grew.notify_waiters();
            }
        }
        let gauge = &repl.node.metrics.replica_fetcher_partitions;
        gauge.reset();
        for (key, r) in &self.running {
            let n = r.shared.parts().len() as i64;
            gauge.with_label_values(&[&key.leader.to_string()]).add(n);
        }
        repl.node
            .metrics
            .replica_fetchers
            .set(self.running.len() as i64);
    }
}

fn spawn(repl: &Arc<Replication>, key: FetcherKey, shared: Arc<Shared>) -> Running {
    tracing::debug!(leader = key.leader, addr = %key.addr, fetcher = key.id, "starting a replica fetcher");
    let task = tokio::spawn(run(Arc::downgrade(repl), key, Arc::clone(&shared)));
    Running { shared, task }
}

/// Why one fetcher round failed as a whole; the fetcher reconnects and retries.
#[derive(Debug, thiserror::Error)]
pub enum FetcherError {
    #[error("rpc to the leader failed: {0}")]
    Rpc(#[from] eddy_kafka_client::Error),
    /// Partitions were added while a fetch long-polled without them: its answer is dropped
    /// with the connection (answers come in order), and the next round lists them.
    #[error("partitions were added during the fetch")]
    Grew,
}

/// The connection to the leader and its SASL session.
#[derive(Default)]
struct Link {
    conn: Option<KafkaConn>,
    session_ends: Option<Instant>,
    auth_backoff: Duration,
}

impl Link {
    /// The connection, (re)connecting when needed; None after a failure (already backed off).
    async fn get(
        &mut self,
        ib: &inter_broker::InterBroker,
        key: &FetcherKey,
    ) -> Option<&mut KafkaConn> {
        let addr = &key.addr;
        // KIP-368: a SASL session that ends soon is renewed by reconnecting.
        if self.session_ends.is_some_and(|t| Instant::now() >= t) {
            tracing::debug!(%addr, "sasl session ending: reconnecting to re-authenticate");
            self.conn = None;
        }
        if self.conn.is_none() {
            match ib
                .connect(addr, KafkaConfig::new(CLIENT_ID, RPC_TIMEOUT))
                .await
            {
                Ok(c) => {
                    if self.auth_backoff > Duration::ZERO {
                        tracing::info!(%addr, "inter-broker authentication succeeded again");
                    }
                    self.auth_backoff = Duration::ZERO;
                    self.session_ends = c.session_ends;
                    self.conn = Some(c.conn);
                }
                Err(e @ inter_broker::ConnectError::Authentication { .. }) => {
                    // Bounded backoff: doubling up to AUTH_BACKOFF_MAX, never a tight loop.
                    self.auth_backoff =
                        (self.auth_backoff * 2).clamp(AUTH_BACKOFF_MIN, AUTH_BACKOFF_MAX);
                    tracing::warn!(%addr, leader = key.leader, error = %e, retry_in_ms = self.auth_backoff.as_millis() as u64, "inter-broker authentication to the leader failed; check sasl.mechanism.inter.broker.protocol, the listener's sasl.jaas.config and the broker user's SCRAM credentials");
                    tokio::time::sleep(self.auth_backoff).await;
                    return None;
                }
                Err(e) => {
                    tracing::debug!(%addr, leader = key.leader, error = %e, "cannot reach the leader");
                    tokio::time::sleep(RECONNECT_BACKOFF).await;
                    return None;
                }
            }
        }
        self.conn.as_mut()
    }
}

/// One fetcher: until it has no partitions (aborted by reconcile) or the broker stops.
async fn run(repl: Weak<Replication>, key: FetcherKey, shared: Arc<Shared>) {
    let mut link = Link::default();
    let mut rotation = 0usize;
    let settings = match repl.upgrade() {
        Some(b) => FetchSettings::of(&b),
        None => return,
    };
    // Bounded by the task being aborted when its partitions are gone; each round is bounded.
    loop {
        // Registered before the partitions are read: an addition after that cuts the round.
        let grew = shared.grew.notified();
        let now = Instant::now();
        let (ready, next_retry): (Vec<_>, Option<Instant>) = {
            let parts = shared.parts();
            let ready = parts
                .iter()
                .filter(|(_, f)| f.retry_at.is_none_or(|t| t <= now))
                .map(|(tp, f)| (tp.clone(), *f))
                .collect();
            (
                ready,
                parts
                    .values()
                    .filter_map(|f| f.retry_at)
                    .filter(|t| *t > now)
                    .min(),
            )
        };
        if ready.is_empty() {
            let wait = next_retry
                .map_or(IDLE_RECHECK, |t| t.saturating_duration_since(now))
                .min(IDLE_RECHECK);
            tokio::select! {
                () = shared.changed.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
            if repl.strong_count() == 0 {
                return;
            }
            continue;
        }
        let Some(inter_broker) = repl.upgrade().map(|b| b.inter_broker()) else {
            return;
        };
        let Some(conn) = link.get(&inter_broker, &key).await else {
            continue;
        };
        let untruncated: Vec<_> = ready
            .iter()
            .filter(|(_, f)| !f.truncated)
            .map(|(tp, f)| (tp.clone(), f.leader_epoch))
            .collect();
        let round = if untruncated.is_empty() {
            let mut fetching: Vec<_> = ready
                .into_iter()
                .map(|(tp, f)| (tp, f.leader_epoch))
                .collect();
            // Fairness when the response limit is reached: start with another partition each
            // round.
            let len = fetching.len();
            fetching.rotate_left(rotation % len);
            rotation = rotation.wrapping_add(1);
            // No long poll past the moment a backed-off partition may be fetched again.
            let max_wait_ms = next_retry.map_or(settings.max_wait_ms, |t| {
                let ms = t.saturating_duration_since(now).as_millis();
                settings
                    .max_wait_ms
                    .min(i32::try_from(ms).unwrap_or(i32::MAX))
            });
            let settings = FetchSettings {
                max_wait_ms,
                ..settings
            };
            fetch_round(&repl, &shared, conn, &fetching, &settings, grew).await
        } else {
            truncate_round(&repl, &shared, conn, &untruncated, &settings).await
        };
        match round {
            Ok(()) => {}
            Err(FetcherError::Grew) => {
                link.conn = None;
                if let Some(r) = repl.upgrade() {
                    r.node.metrics.replica_fetches_cut_short.inc();
                }
            }
            Err(e) => {
                tracing::debug!(leader = key.leader, addr = %key.addr, error = %e, "replica fetch failed");
                link.conn = None;
                tokio::time::sleep(RECONNECT_BACKOFF).await;
            }
        }
    }
}

/// Topic name as the protocol carries it.
fn topic_name(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_string()))
}

/// Groups partitions by topic in first-seen order (a Fetch lists each topic once).
fn by_topic<T>(items: impl IntoIterator<Item = (String, T)>) -> Vec<(String, Vec<T>)> {
    let mut out: Vec<(String, Vec<T>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (topic, item) in items {
        match index.get(&topic) {
            Some(i) => out[*i].1.push(item),
            None => {
                index.insert(topic.clone(), out.len());
                out.push((topic, vec![item]));
            }
        }
    }
    out
}

/// Truncates partitions (re)started under a leader epoch to the leader's log: one
/// OffsetForLeaderEpoch for all of them; those answered are marked truncated.
async fn truncate_round(
    repl: &Weak<Replication>,
    shared: &Shared,
    conn: &mut KafkaConn,
    parts: &[(TopicPartition, i32)],
    settings: &FetchSettings,
) -> Result<(), FetcherError> {
    let Some(b) = repl.upgrade() else {
        return Ok(());
    };
    let me = b.node.node_id();
    // (topic, (index, partition, epoch fetched under, last local epoch))
    let mut ask = Vec::new();
    for (tp, epoch) in parts {
        let Some(part) = b.node.partition(&tp.0, tp.1) else {
            shared.back_off(tp, *epoch, settings.backoff);
            continue;
        };
        match part.epoch_info(i32::MAX) {
            Ok((Some(last), _)) => ask.push((tp.0.clone(), (tp.1, part, *epoch, last))),
            // An empty log has nothing to truncate.
            Ok((None, _)) => shared.update(tp, *epoch, |f| f.truncated = true),
            Err(e) => {
                tracing::warn!(topic = %tp.0, partition = tp.1, error = %e, "reading the local leader epochs failed");
                shared.back_off(tp, *epoch, settings.backoff);
            }
        }
    }
    drop(b);
    if ask.is_empty() {
        return Ok(());
    }
    let grouped = by_topic(ask);
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(me))
        .with_topics(
            grouped
                .iter()
                .map(|(topic, ps)| {
                    OffsetForLeaderTopic::default()
                        .with_topic(topic_name(topic))
                        .with_partitions(
                            ps.iter()
                                .map(|(index, _, epoch, last)| {
                                    OffsetForLeaderPartition::default()
                                        .with_partition(*index)
                                        .with_current_leader_epoch(*epoch)
                                        .with_leader_epoch(*last)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let resp = conn.call_at(&req, OFFSET_FOR_LEADER_EPOCH_VERSION).await?;
    let answers: HashMap<(&str, i32), (i16, i64)> = resp
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (
                    (t.topic.as_str(), p.partition),
                    (p.error_code, p.end_offset),
                )
            })
        })
        .collect();
    for (topic, ps) in &grouped {
        for (index, part, epoch, _) in ps {
            let tp = (topic.clone(), *index);
            match answers.get(&(topic.as_str(), *index)) {
                Some((0, end)) if shared.still(&tp, *epoch) => {
                    match (*end >= 0).then(|| part.truncate_to_as_follower(*end, *epoch)) {
                        None | Some(Ok(())) => shared.update(&tp, *epoch, |f| f.truncated = true),
                        Some(Err(e)) => {
                            tracing::debug!(%topic, partition = index, error = %e, "truncating to the leader's log failed");
                            shared.back_off(&tp, *epoch, settings.backoff);
                        }
                    }
                }
                Some((0, _)) => {}
                other => {
                    tracing::debug!(%topic, partition = index, answer = ?other, "OffsetForLeaderEpoch refused");
                    shared.refused(&tp, *epoch, other.map(|a| a.0), settings.backoff);
                }
            }
        }
    }
    Ok(())
}

/// One partition of a fetch round.
struct Entry {
    part: Arc<Partition>,
    epoch: i32,
    /// Bytes reserved from the follower throttle's window (settled after the response).
    throttled: Option<u64>,
}

/// One Fetch for every ready partition; applies each partition's answer.
async fn fetch_round(
    repl: &Weak<Replication>,
    shared: &Shared,
    conn: &mut KafkaConn,
    parts: &[(TopicPartition, i32)],
    settings: &FetchSettings,
    grew: tokio::sync::futures::Notified<'_>,
) -> Result<(), FetcherError> {
    let Some(b) = repl.upgrade() else {
        return Ok(());
    };
    let me = b.node.node_id();
    let mut entries: HashMap<TopicPartition, Entry> = HashMap::new();
    let mut order = Vec::new();
    let mut throttled_out = false;
    for (tp, epoch) in parts {
        let Some(part) = b.node.partition(&tp.0, tp.1) else {
            shared.back_off(tp, *epoch, settings.backoff);
            continue;
        };
        // Follower throttle: a listed replica that is not in sync fetches at most what the
        // current window has left.
        let throttled = b.node.topic(&tp.0).is_some_and(|t| {
            throttle::listed(
                &t.configs,
                "follower.replication.throttled.replicas",
                tp.1,
                me,
            )
        }) && !part.isr().contains(&me);
        let rate = throttled
            .then(|| throttle::rate(&b.node.broker_setting("follower.replication.throttled.rate")))
            .flatten();
        let (max_bytes, reserved) = match rate {
            None => (settings.partition_max_bytes, None),
            Some(rate) => match b.follower_quota.reserve(rate, settings.partition_max_bytes) {
                Some(g) => (g, Some(g)),
                None => {
                    throttled_out = true;
                    continue;
                }
            },
        };
        order.push((
            tp.0.clone(),
            FetchPartition::default()
                .with_partition(tp.1)
                .with_current_leader_epoch(*epoch)
                .with_fetch_offset(part.log_end_offset())
                .with_partition_max_bytes(i32::try_from(max_bytes).unwrap_or(i32::MAX)),
        ));
        entries.insert(
            tp.clone(),
            Entry {
                part,
                epoch: *epoch,
                throttled: reserved,
            },
        );
    }
    if entries.is_empty() {
        if throttled_out {
            let wait = b.follower_quota.until_next_window();
            drop(b);
            tokio::time::sleep(wait).await;
        }
        return Ok(());
    }
    let flusher = b.node.flusher.clone();
    drop(b);
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(me))
        .with_max_wait_ms(settings.max_wait_ms)
        .with_min_bytes(settings.min_bytes)
        .with_max_bytes(settings.response_max_bytes)
        .with_topics(
            by_topic(order)
                .into_iter()
                .map(|(topic, ps)| {
                    FetchTopic::default()
                        .with_topic(topic_name(&topic))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let resp = tokio::select! {
        r = conn.call_at(&req, FETCH_VERSION) => r.map_err(FetcherError::from),
        () = grew => Err(FetcherError::Grew),
    };
    let Some(b) = repl.upgrade() else {
        return Ok(());
    };
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            for entry in entries.values() {
                if let Some(g) = entry.throttled {
                    let max = b.follower_quota.settle(g, 0);
                    record_throttled(&b, "follower", 0, max);
                }
            }
            return Err(e);
        }
    };
    let mut ticket = 0u64;
    let mut high_watermarks = Vec::with_capacity(entries.len());
    for t in &resp.responses {
        for p in &t.partitions {
            let tp = (t.topic.as_str().to_string(), p.partition_index);
            let Some(entry) = entries.remove(&tp) else {
                continue;
            };
            let mut moved = 0u64;
            if p.error_code != 0 {
                tracing::debug!(topic = %tp.0, partition = tp.1, code = p.error_code, "the leader refused a partition's fetch");
                shared.refused(&tp, entry.epoch, Some(p.error_code), settings.backoff);
            } else if shared.still(&tp, entry.epoch) {
                match apply(&b, &entry, p.records.as_deref().unwrap_or_default()) {
                    Ok(Applied::Memory) => {}
                    Ok(Applied::NeedsFsync) => {
                        ticket = flusher
                            .mark(Arc::clone(&entry.part) as Arc<dyn crate::log::flusher::Durable>);
                    }
                    Err(e) => {
                        tracing::debug!(topic = %tp.0, partition = tp.1, error = %e, "appending the leader's records failed");
                        shared.back_off(&tp, entry.epoch, settings.backoff);
                    }
                }
                moved = p.records.as_ref().map_or(0, |r| r.len() as u64);
                high_watermarks.push((Arc::clone(&entry.part), entry.epoch, p.high_watermark));
            }
            if let Some(g) = entry.throttled {
                let max = b.follower_quota.settle(g, moved);
                record_throttled(&b, "follower", moved, max);
            }
        }
    }
    // Partitions the leader did not answer: their reservations go back.
    for entry in entries.values() {
        if let Some(g) = entry.throttled {
            b.follower_quota.settle(g, 0);
        }
    }
    drop(b);
    // ack.durability fsync: what this follower reports in its next fetch is on its disk. The
    // partitions' fsyncs run together in the group commit.
    if ticket > 0
        && let Err(e) = flusher.wait(ticket).await
    {
        tracing::error!(error = %e, "a follower could not make replicated records durable");
        for (part, epoch, _) in &high_watermarks {
            shared.back_off(&(part.topic.clone(), part.index), *epoch, settings.backoff);
        }
        return Ok(());
    }
    for (part, _, hw) in high_watermarks {
        part.follow_high_watermark(hw);
    }
    Ok(())
}

/// How the records of one partition were appended.
enum Applied {
    /// Nothing appended, or appended in the replicated mode (fsynced in the background).
    Memory,
    /// Appended in the fsync mode: to be fsynced before the next fetch.
    NeedsFsync,
}

fn apply(
    repl: &Replication,
    entry: &Entry,
    records: &[u8],
) -> Result<Applied, crate::partition::PartitionError> {
    if records.is_empty() {
        return Ok(Applied::Memory);
    }
    let appended = entry.part.append_replicated(records, entry.epoch)?;
    if appended == 0 {
        return Ok(Applied::Memory);
    }
    if entry.part.acks_from_memory() {
        repl.node.schedule_background_flush(&entry.part, appended);
        Ok(Applied::Memory)
    } else {
        Ok(Applied::NeedsFsync)
    }
}
