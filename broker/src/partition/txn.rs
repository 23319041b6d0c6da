//! The transaction side of a partition (KIP-98): markers written by the coordinator, the
//! producers and open transactions DescribeProducers shows, the aborted transactions the
//! cleaner removes, and reading markers back during recovery.

use super::{Inner, Partition, PartitionError, txn_index};
use crate::log::batch::{self, BatchHeader};
use crate::log::{LogError, PartitionLog};
use std::sync::atomic::Ordering;

/// One producer of a partition (DescribeProducers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    pub epoch: i16,
    pub last_sequence: i32,
    pub last_timestamp: i64,
    /// The first offset of its open transaction here, -1 when none.
    pub txn_start_offset: i64,
}

impl Partition {
    /// Re-reads the first unstable offset after the transaction index changed (under the lock).
    pub(super) fn refresh_first_unstable(&self, inner: &Inner) {
        let f = inner
            .producers
            .txns
            .first_unstable_offset()
            .unwrap_or(i64::MAX);
        self.first_unstable.store(f, Ordering::SeqCst);
    }

    /// The open transactions on this partition: (producer id, open transaction)
    /// (DescribeProducers).
    pub fn open_transactions(&self) -> Vec<(i64, txn_index::OpenTxn)> {
        self.lock()
            .producers
            .txns
            .open()
            .map(|(p, t)| (p, *t))
            .collect()
    }

    /// The producers of this partition as DescribeProducers shows them: idempotent and
    /// transactional ones, and those with an open transaction here.
    pub fn active_producers(&self) -> Vec<ActiveProducer> {
        let inner = self.lock();
        let open: std::collections::HashMap<i64, txn_index::OpenTxn> =
            inner.producers.txns.open().map(|(p, t)| (p, *t)).collect();
        let mut out: Vec<ActiveProducer> = inner
            .producers
            .producers()
            .map(|(pid, e)| ActiveProducer {
                producer_id: pid,
                epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: e.last_timestamp,
                txn_start_offset: open.get(&pid).map_or(-1, |t| t.first_offset),
            })
            .collect();
        out.sort_by_key(|p| p.producer_id);
        out
    }

    /// Whether `producer_id` has a transaction open here at `epoch` (cluster mode: its later
    /// batches need no new verification with the coordinator).
    pub fn txn_open_at(&self, producer_id: i64, epoch: i16) -> bool {
        self.lock().producers.txns.open_at(producer_id, epoch)
    }

    /// Starts verifying `producer_id`'s batch with a remote coordinator (KIP-890): the token
    /// the append checks, which the producer's next marker invalidates.
    pub fn begin_txn_verification(&self, producer_id: i64) -> u64 {
        self.lock().producers.txns.begin_verification(producer_id)
    }

    /// The aborted transactions indexed (the cleaner removes their records).
    pub fn aborted_transactions(&self) -> Vec<txn_index::AbortedTxn> {
        self.lock().producers.txns.aborted().to_vec()
    }

    /// Appends the COMMIT or ABORT marker of `producer_id`'s transaction (the coordinator's
    /// WriteTxnMarkers, in process); returns its offset. A marker for a transaction that wrote
    /// nothing here is still written, as Kafka does: it is harmless and keeps retries simple.
    pub fn write_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> Result<i64, PartitionError> {
        let mut bytes = crate::log::control_batch::marker_batch(
            producer_id,
            epoch,
            commit,
            coordinator_epoch,
            crate::now_ms(),
        );
        let h = BatchHeader::parse(&bytes).map_err(PartitionError::Batch)?;
        let mut inner = self.lock();
        if !self.is_leader() {
            return Err(PartitionError::NotLeader);
        }
        let segments_before = inner.log.segment_count();
        let cfg = inner.settings.log;
        let base = inner
            .log
            .append(&mut bytes, &h, self.leader_epoch(), &cfg)
            .map_err(|e| {
                tracing::error!(topic = %self.topic, partition = self.index, error = %e, "appending a transaction marker failed");
                PartitionError::Storage
            })?;
        let stamped = BatchHeader {
            base_offset: base,
            ..h
        };
        inner.producers.update(&stamped);
        inner
            .producers
            .txns
            .on_batch(&stamped, Some(commit), crate::now_ms());
        inner.producers_dirty = true;
        self.refresh_first_unstable(&inner);
        if inner.log.segment_count() != segments_before {
            self.save_producer_state(&mut inner);
        }
        drop(inner);
        if self.acks_from_memory() {
            self.refresh_high_watermark();
        }
        Ok(base)
    }
}

/// Whether the control batch at `offset` is a commit (`Some(true)`) or abort marker (recovery).
pub(super) fn read_marker(log: &PartitionLog, offset: i64) -> Result<Option<bool>, LogError> {
    let Some(slice) = log.slice_at(offset)? else {
        return Ok(None);
    };
    let bytes = slice
        .read(batch::HEADER_LEN + 64, log.log_end_offset())
        .map_err(|e| LogError::Io {
            step: "reading a transaction marker",
            source: e,
        })?;
    let first = batch::split_batches(&bytes)
        .ok()
        .and_then(|b| b.into_iter().next());
    Ok(first.and_then(|(_, r)| crate::log::control_batch::marker_kind(&bytes[r])))
}
