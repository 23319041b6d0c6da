//! The partition layer between handlers and storage: leader epoch, high watermark, last stable
//! offset, log start offset and idempotent-producer state around one `PartitionLog`.
//!
//! On one node the high watermark is the durable log end offset: a record becomes visible to
//! consumers once it has been fsynced, so nobody reads what a crash could take back.

#[cfg(test)]
mod flush_tests;
pub mod producer_state;
mod replica;
mod txn;
pub mod txn_index;
#[cfg(test)]
mod txn_tests;
pub mod validator;

use crate::log::batch::{self, BatchHeader};
use crate::log::flusher::Durable;
use crate::log::time_lookup::{self, TimestampHit};
use crate::log::zero_copy::Regions;
use crate::log::{LogConfig, LogError, PartitionLog, ReadSlice};
use producer_state::{ProducerStateTable, SequenceCheck};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

pub use producer_state::SequenceError;
pub use txn::ActiveProducer;

/// Why a partition refused a read or a write; `handlers/errors.rs` picks the Kafka code.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error("record batch rejected: {0}")]
    Batch(crate::log::batch::BatchError),
    #[error("a produce partition must hold exactly one record batch")]
    NotOneBatch,
    /// Clients may not write control batches; transactional batches need a producer id.
    #[error("control batches are written by the transaction coordinator only")]
    Transactional,
    /// A transactional batch for a partition that is not in its producer's ongoing
    /// transaction (the KIP-890 verification).
    #[error(transparent)]
    Txn(TxnVerifyError),
    #[error("this broker does not lead the partition")]
    NotLeader,
    #[error("fewer in-sync replicas than min.insync.replicas")]
    NotEnoughReplicas,
    #[error("the batch is larger than max.message.bytes")]
    TooLarge,
    #[error(transparent)]
    Sequence(SequenceError),
    #[error("offset out of range")]
    OffsetOutOfRange,
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("partition storage failed")]
    Storage,
    /// A follower's fetch or truncation under a leader epoch the partition has left.
    #[error("the replica no longer follows under this leader epoch")]
    StaleLeaderEpoch,
    #[error("a replicated record batch is corrupt")]
    Corrupt,
    /// The records break a topic rule (keyless on a compacted topic) or do not decode.
    #[error(transparent)]
    Records(validator::ValidationError),
}

/// Why a transactional batch may not join a transaction: what the transaction coordinator
/// answered when the partition asked whether the batch's producer has this partition in an
/// ongoing transaction (the KIP-890 server-side defence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TxnVerifyError {
    /// No ongoing transaction of this producer contains the partition.
    #[error("the partition is not part of an ongoing transaction of this producer")]
    NotInTransaction,
    /// The producer's epoch is older than its transactional id's.
    #[error("the producer has been fenced by a newer epoch")]
    Fenced,
    /// Transactions cannot be verified here.
    #[error("transactions are not supported here")]
    Unsupported,
    /// The coordinator could not answer now (unreachable, moving, busy): the producer retries.
    #[error("the transaction coordinator could not verify the batch now")]
    Retriable,
}

/// Checks a transactional batch's producer (id, epoch) against the transaction coordinator;
/// called under the partition lock with the partition's transaction index (open transactions,
/// verifications in flight) so that no marker can slip between check and append.
pub type TxnVerifier<'a> =
    &'a (dyn Fn(i64, i16, &txn_index::TxnIndex) -> Result<(), TxnVerifyError> + Sync);

/// Topic settings a partition applies, resolved from topic configs and broker defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartitionSettings {
    pub log: LogConfig,
    pub max_message_bytes: usize,
    pub log_append_time: bool,
    pub min_insync_replicas: usize,
    /// `compression.type` and `cleanup.policy=compact`: checked record by record on append.
    pub records: validator::RecordPolicy,
    /// `cleanup.policy` and the compaction keys (log/cleaner.rs).
    pub compaction: crate::log::cleaner::CompactionConfig,
    /// `ack.durability`: what acks=1/all wait for (see [`AckDurability`]).
    pub durability: AckDurability,
    /// `flush.messages` / `flush.ms` (Kafka's meaning), in the replicated mode.
    pub flush: FlushPolicy,
}

/// `ack.durability`: whether an acknowledgement waits for fsync or only for the in-sync
/// replicas' memory (then the fsync runs in the background, per [`FlushPolicy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckDurability {
    /// Replicated while two or more replicas are in sync, fsync when the leader is the only one.
    #[default]
    Auto,
    /// Acknowledge after fsync (on the leader, and on every ISR member for acks=all).
    Fsync,
    /// Acknowledge once every ISR member holds the records in memory.
    Replicated,
}

impl AckDurability {
    /// Parses the config value (validated on write; anything else is `Auto`).
    pub fn from_config(v: &str) -> Self {
        match v {
            "fsync" => AckDurability::Fsync,
            "replicated" => AckDurability::Replicated,
            _ => AckDurability::Auto,
        }
    }

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(c: u8) -> Self {
        match c {
            1 => AckDurability::Fsync,
            2 => AckDurability::Replicated,
            _ => AckDurability::Auto,
        }
    }
}

/// When the background fsync of the replicated mode runs (Kafka's `flush.messages`,
/// `flush.ms` and `log.flush.scheduler.interval.ms`): once `messages` records are unflushed,
/// or `max(ms, scheduler_ms)` after the first of them. As in Kafka, where `flush.ms` is
/// enforced by a flusher that looks every `log.flush.scheduler.interval.ms`, the scheduler
/// interval bounds how often a partition is fsynced by time; Eddy's default is 1 s (Kafka's is
/// never: the OS writes the page cache back) and 0 restores an fsync at once after each append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    pub messages: i64,
    pub ms: i64,
    pub scheduler_ms: i64,
}

impl Default for FlushPolicy {
    fn default() -> Self {
        FlushPolicy {
            messages: i64::MAX,
            ms: 0,
            scheduler_ms: DEFAULT_FLUSH_SCHEDULER_MS,
        }
    }
}

/// Eddy's default `log.flush.scheduler.interval.ms` (see [`FlushPolicy`]).
pub const DEFAULT_FLUSH_SCHEDULER_MS: i64 = 1000;

impl FlushPolicy {
    /// How long after the first unflushed record its background fsync runs; 0: at once.
    pub fn delay_ms(&self) -> i64 {
        self.ms.max(self.scheduler_ms).max(0)
    }
}

/// What to do about the background fsync after a replicated-mode append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushDue {
    /// Queue the partition for the next group commit now.
    Now,
    /// Queue it after this delay (a timer is not running yet).
    After(std::time::Duration),
    /// A timer is already running; nothing to do.
    Pending,
}

impl Default for PartitionSettings {
    fn default() -> Self {
        PartitionSettings {
            log: LogConfig::default(),
            max_message_bytes: 1_048_588,
            log_append_time: false,
            min_insync_replicas: 1,
            records: validator::RecordPolicy::default(),
            durability: AckDurability::default(),
            flush: FlushPolicy::default(),
            compaction: crate::log::cleaner::CompactionConfig::default(),
        }
    }
}

/// The result of a successful append.
#[derive(Debug, Clone, Copy)]
pub struct AppendOutcome {
    pub base_offset: i64,
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// True when the batch was a retry of one already in the log.
    pub duplicate: bool,
}

/// What a fetch read.
pub struct ReadOutcome {
    pub records: bytes::Bytes,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// read_committed: the aborted transactions overlapping the read, (producer id, first
    /// offset).
    pub aborted: Vec<(i64, i64)>,
}

struct Inner {
    log: PartitionLog,
    producers: ProducerStateTable,
    settings: PartitionSettings,
    producers_dirty: bool,
}

pub struct Partition {
    pub topic: String,
    pub index: i32,
    inner: Mutex<Inner>,
    high_watermark: AtomicI64,
    log_start_offset: AtomicI64,
    leader_epoch: AtomicI32,
    /// Whether this broker leads the partition (always on one node; from the metadata image in
    /// cluster mode) and how many replicas are in sync.
    leader: AtomicBool,
    isr_size: std::sync::atomic::AtomicUsize,
    /// Everything below this offset is fsynced locally.
    durable_leo: AtomicI64,
    /// Cluster mode: ISR members and what the leader knows of its followers.
    repl: Mutex<replica::ReplicaState>,
    queued: AtomicBool,
    /// `ack.durability` (an `AckDurability` code), readable without the log lock.
    durability: std::sync::atomic::AtomicU8,
    /// Replicated mode: records appended since the last background fsync was queued, and
    /// whether a `flush.ms` timer is running.
    unflushed: AtomicI64,
    flush_timer: AtomicBool,
    /// Bumped whenever any partition's high watermark moves (fetch long-polls wait on it).
    data_version: Arc<watch::Sender<u64>>,
    /// The first offset of the oldest open transaction (`i64::MAX`: none), readable without
    /// the log lock: the last stable offset is the lower of it and the high watermark.
    first_unstable: AtomicI64,
}

/// Brings `producers` up to the log's end from `from`: producer ids, epochs and sequences, and
/// the transactions (open ones, and aborted ones with their markers read to tell commits from
/// aborts), as after a restart or a follower's truncation.
fn replay_producers(
    log: &PartitionLog,
    from: i64,
    producers: &mut ProducerStateTable,
) -> Result<(), LogError> {
    let mut txn_batches = Vec::new();
    log.replay_headers(from, &mut |h| {
        producers.update(h);
        if h.is_transactional() {
            txn_batches.push(*h);
        }
    })?;
    for h in &txn_batches {
        let kind = if h.is_control() {
            txn::read_marker(log, h.base_offset)?
        } else {
            None
        };
        producers.txns.on_batch(h, kind, crate::now_ms());
    }
    producers.txns.prune_below(log.log_start_offset());
    Ok(())
}

impl Partition {
    /// Opens or creates the partition's log under `dir`, recovering it after a crash.
    pub fn open(
        topic: &str,
        index: i32,
        dir: &Path,
        settings: PartitionSettings,
        leader_epoch: i32,
        data_version: Arc<watch::Sender<u64>>,
    ) -> Result<Self, LogError> {
        let (log, report) = PartitionLog::open(dir, &mut |_| {})?;
        if report.truncated_bytes > 0 {
            tracing::warn!(
                topic,
                partition = index,
                truncated = report.truncated_bytes,
                "truncated a torn log tail"
            );
        }
        let (mut producers, snapshot_offset) = ProducerStateTable::load(dir);
        replay_producers(&log, snapshot_offset, &mut producers)?;
        let first_unstable = producers.txns.first_unstable_offset().unwrap_or(i64::MAX);
        let leo = log.log_end_offset();
        let start = log.log_start_offset();
        Ok(Partition {
            topic: topic.to_string(),
            index,
            inner: Mutex::new(Inner {
                log,
                producers,
                settings,
                producers_dirty: false,
            }),
            // Everything that survived recovery is on disk: it is all durable.
            high_watermark: AtomicI64::new(leo),
            log_start_offset: AtomicI64::new(start),
            leader_epoch: AtomicI32::new(leader_epoch),
            leader: AtomicBool::new(true),
            isr_size: std::sync::atomic::AtomicUsize::new(1),
            durable_leo: AtomicI64::new(leo),
            repl: Mutex::new(replica::ReplicaState::default()),
            queued: AtomicBool::new(false),
            durability: std::sync::atomic::AtomicU8::new(settings.durability.code()),
            unflushed: AtomicI64::new(0),
            flush_timer: AtomicBool::new(false),
            data_version,
            first_unstable: AtomicI64::new(first_unstable),
        })
    }

    /// Runs `f` on the log under the partition lock (the compaction cleaner's view and swap).
    pub fn with_log_locked(&self, f: &mut dyn FnMut(&mut PartitionLog)) {
        f(&mut self.lock().log);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether acknowledgements wait only for the in-sync replicas' memory (the replicated
    /// mode of `ack.durability`; `auto` while two or more replicas are in sync).
    pub fn acks_from_memory(&self) -> bool {
        match AckDurability::from_code(self.durability.load(Ordering::SeqCst)) {
            AckDurability::Fsync => false,
            AckDurability::Replicated => true,
            AckDurability::Auto => self.isr_size.load(Ordering::SeqCst) > 1,
        }
    }

    /// Replicated mode: counts `records` appended and says when the background fsync is due
    /// (Kafka's `flush.messages` / `flush.ms`).
    pub fn flush_due(&self, records: i64) -> FlushDue {
        let policy = self.settings().flush;
        let unflushed = self.unflushed.fetch_add(records, Ordering::SeqCst) + records;
        let delay = policy.delay_ms();
        if delay == 0 || unflushed >= policy.messages {
            self.unflushed.store(0, Ordering::SeqCst);
            return FlushDue::Now;
        }
        if self.flush_timer.swap(true, Ordering::SeqCst) {
            FlushDue::Pending
        } else {
            FlushDue::After(std::time::Duration::from_millis(delay as u64))
        }
    }

    /// Replicated mode: the `flush.ms` timer fired; the partition is queued for fsync now.
    pub fn flush_timer_fired(&self) {
        self.unflushed.store(0, Ordering::SeqCst);
        self.flush_timer.store(false, Ordering::SeqCst);
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::SeqCst)
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::SeqCst)
    }

    /// The last stable offset: below the high watermark and the first offset of the oldest
    /// open transaction (read_committed consumers read up to it).
    pub fn last_stable_offset(&self) -> i64 {
        self.high_watermark()
            .min(self.first_unstable.load(Ordering::SeqCst))
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::SeqCst)
    }

    pub fn log_end_offset(&self) -> i64 {
        self.lock().log.log_end_offset()
    }

    pub fn size_bytes(&self) -> u64 {
        self.lock().log.size_bytes()
    }

    pub fn settings(&self) -> PartitionSettings {
        self.lock().settings
    }

    pub fn set_settings(&self, settings: PartitionSettings) {
        self.durability
            .store(settings.durability.code(), Ordering::SeqCst);
        self.lock().settings = settings;
    }

    /// Replicas currently in sync: on one node, just this one.
    pub fn isr_size(&self) -> usize {
        self.isr_size.load(Ordering::SeqCst)
    }

    /// Validates and appends the record batch of one produce partition. `acks_all` enforces
    /// min.insync.replicas before anything is written.
    pub fn append(&self, records: &[u8], acks_all: bool) -> Result<AppendOutcome, PartitionError> {
        self.append_verified(records, acks_all, &|_, _, _| {
            Err(TxnVerifyError::Unsupported)
        })
    }

    /// As [`Self::append`]; a transactional batch is appended only if `verify` accepts its
    /// producer, checked under the partition lock (markers take that lock too, so a batch
    /// verified here lands before the marker that ends its transaction, never after it).
    pub fn append_verified(
        &self,
        records: &[u8],
        acks_all: bool,
        verify: TxnVerifier<'_>,
    ) -> Result<AppendOutcome, PartitionError> {
        let batches = batch::split_batches(records).map_err(|e| {
            tracing::debug!(topic = %self.topic, partition = self.index, error = %e, "rejected a batch");
            PartitionError::Batch(e)
        })?;
        let [(header, range)] = batches.as_slice() else {
            return Err(PartitionError::NotOneBatch);
        };
        if header.is_control() || (header.is_transactional() && !header.has_producer_id()) {
            return Err(PartitionError::Transactional);
        }
        if !self.is_leader() {
            return Err(PartitionError::NotLeader);
        }
        // Kafka checks the size as sent, then again after any recompression.
        let settings = self.settings();
        if range.len() > settings.max_message_bytes {
            return Err(PartitionError::TooLarge);
        }
        // Outside the lock: decoding and recompressing are the expensive part of an append.
        let batch = &records[range.clone()];
        let name = (self.topic.as_str(), self.index);
        let now = crate::now_ms();
        let rebuilt = validator::validate(batch, header, settings.records, name, now).map_err(|e| {
            tracing::debug!(topic = %self.topic, partition = self.index, error = %e, "refused a batch");
            PartitionError::Records(e)
        })?;
        let mut inner = self.lock();
        if !self.is_leader() {
            return Err(PartitionError::NotLeader);
        }
        if acks_all && self.isr_size() < inner.settings.min_insync_replicas {
            return Err(PartitionError::NotEnoughReplicas);
        }
        let stored_len = rebuilt.as_ref().map_or(range.len(), Vec::len);
        if stored_len > inner.settings.max_message_bytes {
            return Err(PartitionError::TooLarge);
        }
        if header.is_transactional() {
            verify(
                header.producer_id,
                header.producer_epoch,
                &inner.producers.txns,
            )
            .map_err(PartitionError::Txn)?;
        }
        match inner.producers.check(header) {
            SequenceCheck::Append => {}
            SequenceCheck::Duplicate(meta) => {
                return Ok(AppendOutcome {
                    base_offset: meta.base_offset,
                    log_append_time: -1,
                    log_start_offset: inner.log.log_start_offset(),
                    duplicate: true,
                });
            }
            SequenceCheck::Reject(e) => return Err(PartitionError::Sequence(e)),
        }
        let (mut bytes, mut h) = match rebuilt {
            Some(bytes) => {
                let h = BatchHeader::parse(&bytes).map_err(PartitionError::Batch)?;
                (bytes, h)
            }
            None => (records[range.clone()].to_vec(), *header),
        };
        let epoch = self.leader_epoch();
        if inner.settings.log_append_time {
            // Mark the batch as LogAppendTime so the log stamps the broker's clock.
            h.attributes |= 0x08;
            let attrs = h.attributes.to_be_bytes();
            bytes[21..23].copy_from_slice(&attrs);
        }
        let segments_before = inner.log.segment_count();
        let cfg = inner.settings.log;
        let base = inner.log.append(&mut bytes, &h, epoch, &cfg).map_err(|e| {
            tracing::error!(topic = %self.topic, partition = self.index, error = %e, "append failed");
            PartitionError::Storage
        })?;
        let stamped = BatchHeader {
            base_offset: base,
            ..h
        };
        inner.producers.update(&stamped);
        inner.producers_dirty |= stamped.has_producer_id();
        if stamped.is_transactional() {
            inner
                .producers
                .txns
                .on_batch(&stamped, None, crate::now_ms());
            self.refresh_first_unstable(&inner);
        }
        if inner.log.segment_count() != segments_before {
            self.save_producer_state(&mut inner);
        }
        let log_start_offset = inner.log.log_start_offset();
        drop(inner);
        if self.acks_from_memory() {
            // The high watermark may move now, without waiting for an fsync.
            self.refresh_high_watermark();
        }
        Ok(AppendOutcome {
            base_offset: base,
            log_append_time: if h.is_log_append_time() {
                crate::now_ms()
            } else {
                -1
            },
            log_start_offset,
            duplicate: false,
        })
    }

    fn save_producer_state(&self, inner: &mut Inner) {
        if !inner.producers_dirty {
            return;
        }
        let leo = inner.log.log_end_offset();
        match inner.producers.save(inner.log.dir(), leo) {
            Ok(()) => inner.producers_dirty = false,
            Err(e) => {
                tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "saving producer state failed");
            }
        }
    }

    /// Reads from `offset`, up to `max_bytes` (at least one whole batch), below the high
    /// watermark (both isolation levels read up to it: there are no transactions).
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadOutcome, PartitionError> {
        self.read_within(offset, max_bytes, true)
    }

    /// As [`Self::read`], but a first batch larger than `max_bytes` is returned only with
    /// `min_one_batch` (the first partition with data in a fetch response, KIP-74); otherwise
    /// the read is empty.
    pub fn read_within(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<ReadOutcome, PartitionError> {
        self.read_isolated(offset, max_bytes, min_one_batch, false)
    }

    /// As [`Self::read_within`]; `read_committed` reads only below the last stable offset and
    /// lists the aborted transactions the records overlap, so the consumer can drop them.
    pub fn read_isolated(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        read_committed: bool,
    ) -> Result<ReadOutcome, PartitionError> {
        self.read_for_fetch(offset, max_bytes, min_one_batch, read_committed, None)
    }

    /// As [`Self::read_isolated`]; with `regions`, whole batches worth sending from the file
    /// come back as a placeholder whose file region `regions` keeps (`log::zero_copy`).
    pub fn read_for_fetch(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        read_committed: bool,
        regions: Option<&mut Regions>,
    ) -> Result<ReadOutcome, PartitionError> {
        let hw = self.high_watermark();
        let lso = self.last_stable_offset();
        let limit = if read_committed { lso } else { hw };
        let slice: Option<ReadSlice> = {
            let inner = self.lock();
            if offset > hw && offset <= inner.log.log_end_offset() {
                None
            } else {
                inner.log.slice_at(offset)?
            }
        };
        let records = match slice {
            Some(s) if offset < limit => match regions {
                Some(regions) => s.read_or_place(max_bytes, limit, min_one_batch, regions),
                None => s.read_within(max_bytes, limit, min_one_batch),
            }
            .map_err(|e| {
                tracing::error!(topic = %self.topic, partition = self.index, error = %e, "read failed");
                PartitionError::Storage
            })?,
            _ => bytes::Bytes::new(),
        };
        let aborted = if read_committed && !records.is_empty() {
            self.lock().producers.txns.aborted_between(offset, limit)
        } else {
            Vec::new()
        };
        Ok(ReadOutcome {
            records,
            high_watermark: hw,
            last_stable_offset: lso,
            log_start_offset: self.log_start_offset(),
            aborted,
        })
    }

    /// ListOffsets by timestamp: the first offset whose batch has a timestamp >= `ts`.
    pub fn offset_for_timestamp(&self, ts: i64) -> Option<i64> {
        let hw = self.high_watermark();
        self.lock().log.offset_for_timestamp(ts).filter(|o| *o < hw)
    }

    /// ListOffsets by timestamp at record precision: the first record at or after the log
    /// start offset and below the high watermark whose timestamp is >= `ts`, with its
    /// timestamp. Only the batch the time index points to is read and decoded.
    pub fn record_for_timestamp(&self, ts: i64) -> Result<Option<TimestampHit>, PartitionError> {
        /// Enough for the indexed batch in practice; at least one whole batch is always read.
        const LOOKUP_READ_BYTES: usize = 1 << 20;
        let hw = self.high_watermark();
        let (batch_offset, slice) = {
            let inner = self.lock();
            let Some(off) = inner.log.offset_for_timestamp(ts).filter(|o| *o < hw) else {
                return Ok(None);
            };
            let slice = inner.log.slice_at(off).map_err(|e| {
                tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "timestamp lookup failed");
                PartitionError::Storage
            })?;
            (off, slice)
        };
        let Some(slice) = slice else { return Ok(None) };
        let buf = slice.read(LOOKUP_READ_BYTES, hw).map_err(|e| {
            tracing::error!(topic = %self.topic, partition = self.index, error = %e, "timestamp lookup read failed");
            PartitionError::Storage
        })?;
        let start = self.log_start_offset();
        Ok(Some(
            time_lookup::first_record_at_or_after(&buf, ts, start)
                .filter(|h| h.offset < hw)
                .unwrap_or(TimestampHit {
                    offset: batch_offset,
                    timestamp: ts,
                }),
        ))
    }

    /// ListOffsets max timestamp: (timestamp, offset).
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        self.lock().log.max_timestamp()
    }

    /// DeleteRecords: moves the log start offset to `offset` (-1 = high watermark).
    pub fn delete_records(&self, offset: i64) -> Result<i64, PartitionError> {
        let hw = self.high_watermark();
        let target = if offset == -1 { hw } else { offset };
        if target < 0 || target > hw {
            return Err(PartitionError::OffsetOutOfRange);
        }
        let mut inner = self.lock();
        inner
            .log
            .advance_start(target)
            .map_err(|_| PartitionError::Storage)?;
        let start = inner.log.log_start_offset();
        inner.producers.txns.prune_below(start);
        self.log_start_offset.store(start, Ordering::SeqCst);
        Ok(start)
    }

    /// Periodic work: age-based rolls, retention, producer snapshots.
    pub fn housekeeping(&self, now: i64) {
        let hw = self.high_watermark();
        let mut inner = self.lock();
        let cfg = inner.settings.log;
        match inner.log.roll_if_aged(now, &cfg) {
            Ok(true) => self.save_producer_state(&mut inner),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "segment roll failed");
            }
        }
        // Time and size retention only apply with cleanup.policy=delete (compact alone keeps
        // every key's last record for ever).
        let retention = if inner.settings.compaction.delete {
            inner.log.apply_retention(now, &cfg, hw)
        } else {
            Ok(0)
        };
        match retention {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(topic = %self.topic, partition = self.index, segments = n, "retention deleted segments");
            }
            Err(e) => {
                tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "retention failed");
            }
        }
        let start = inner.log.log_start_offset();
        inner.producers.txns.prune_below(start);
        self.log_start_offset.store(start, Ordering::SeqCst);
    }

    /// Graceful shutdown: seal the active segment and snapshot producer state.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.producers_dirty = true;
        self.save_producer_state(&mut inner);
        if let Err(e) = inner.log.close() {
            tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "closing the log failed");
        }
    }

    /// Deletes the partition's files (DeleteTopics). The partition must no longer be served.
    pub fn destroy(&self) {
        let inner = self.lock();
        if let Err(e) = std::fs::remove_dir_all(inner.log.dir()) {
            tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "deleting partition files failed");
        }
    }

    pub fn producer_count(&self) -> usize {
        self.lock().producers.len()
    }
}

impl Durable for Partition {
    fn queued_flag(&self) -> &AtomicBool {
        &self.queued
    }

    fn make_durable(&self) -> std::io::Result<()> {
        let (file, leo) = self.lock().log.durability_handle();
        file.sync_data()?;
        if self.durable_leo.fetch_max(leo, Ordering::SeqCst) < leo && self.has_followers() {
            // Wake follower fetches long-polling on this leader.
            self.data_version.send_modify(|v| *v += 1);
        }
        self.refresh_high_watermark();
        Ok(())
    }
}
