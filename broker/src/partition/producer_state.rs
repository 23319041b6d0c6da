//! Idempotent-producer state of one partition: per producer id, its epoch and its last five
//! batches, so retries are deduplicated and gaps rejected. Persisted as snapshots.

use crate::log::batch::BatchHeader;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::path::Path;

/// Batches remembered per producer (Kafka's max.in.flight for idempotence).
const REMEMBERED_BATCHES: usize = 5;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub base_offset: i64,
    pub last_offset: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<BatchMeta>,
    pub last_timestamp: i64,
}

/// Outcome of checking a batch's sequence before appending it.
#[derive(Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append it.
    Append,
    /// A retry of a batch already in the log: answer with its original offset.
    Duplicate(BatchMeta),
    /// Reject it with this error.
    Reject(SequenceError),
}

/// Why an idempotent producer's batch is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    #[error("the producer's sequence number is out of order")]
    OutOfOrder,
    #[error("the producer's epoch is stale")]
    InvalidEpoch,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ProducerStateTable {
    producers: HashMap<i64, ProducerEntry>,
    /// Open and aborted transactions (snapshots written before transactions lack it).
    #[serde(default)]
    pub txns: super::txn_index::TxnIndex,
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

impl ProducerStateTable {
    pub fn check(&self, h: &BatchHeader) -> SequenceCheck {
        if !h.has_producer_id() || h.base_sequence < 0 {
            return SequenceCheck::Append;
        }
        let Some(entry) = self.producers.get(&h.producer_id) else {
            // Unknown producer: Kafka accepts any sequence from a new producer id after its
            // state expired, but a fresh producer starts at 0.
            return if h.base_sequence == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::Reject(SequenceError::OutOfOrder)
            };
        };
        if h.producer_epoch < entry.epoch {
            return SequenceCheck::Reject(SequenceError::InvalidEpoch);
        }
        if h.producer_epoch > entry.epoch {
            return if h.base_sequence == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::Reject(SequenceError::OutOfOrder)
            };
        }
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == h.last_sequence())
        {
            return SequenceCheck::Duplicate(*dup);
        }
        match entry.batches.back() {
            Some(last) if next_seq(last.last_seq) == h.base_sequence => SequenceCheck::Append,
            Some(_) => SequenceCheck::Reject(SequenceError::OutOfOrder),
            None => SequenceCheck::Append,
        }
    }

    /// Records an appended (or recovered, or replicated) batch. A transaction marker moves
    /// its producer to the marker's epoch when that is newer (transaction version 2 bumps the
    /// epoch in every marker, as does a coordinator's fencing abort), so the finished
    /// transaction's late writes are refused as fenced, as Kafka's producer state does.
    pub fn update(&mut self, h: &BatchHeader) {
        if h.is_control() && h.has_producer_id() {
            let entry = self.producers.entry(h.producer_id).or_default();
            if h.producer_epoch > entry.epoch {
                entry.epoch = h.producer_epoch;
                entry.batches.clear();
            }
            return;
        }
        if !h.has_producer_id() || h.base_sequence < 0 {
            return;
        }
        let entry = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
        });
        while entry.batches.len() > REMEMBERED_BATCHES {
            entry.batches.pop_front();
        }
        entry.last_timestamp = h.max_timestamp;
    }

    /// Every producer with its epoch, last sequence and last timestamp (DescribeProducers).
    pub fn producers(&self) -> impl Iterator<Item = (i64, &ProducerEntry)> {
        self.producers.iter().map(|(p, e)| (*p, e))
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Writes a snapshot valid up to (excluding) `offset`.
    pub fn save(&self, dir: &Path, offset: i64) -> std::io::Result<()> {
        let snap = Snapshot {
            offset,
            table: self,
        };
        let data = serde_json::to_vec(&snap).map_err(std::io::Error::other)?;
        crate::log::write_atomic(&dir.join("producer-state.snapshot"), &data)
    }

    /// Loads the latest snapshot and the offset it covers (0 with an empty table if none).
    pub fn load(dir: &Path) -> (Self, i64) {
        let Ok(data) = std::fs::read(dir.join("producer-state.snapshot")) else {
            return (Self::default(), 0);
        };
        match serde_json::from_slice::<OwnedSnapshot>(&data) {
            Ok(s) => (s.table, s.offset),
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "ignoring an unreadable producer-state snapshot");
                (Self::default(), 0)
            }
        }
    }
}

#[derive(Serialize)]
struct Snapshot<'a> {
    offset: i64,
    table: &'a ProducerStateTable,
}

#[derive(Deserialize)]
struct OwnedSnapshot {
    offset: i64,
    table: ProducerStateTable,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(pid: i64, epoch: i16, seq: i32, n: i32, base: i64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 100,
            leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: n - 1,
            first_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: n,
        }
    }

    #[test]
    fn in_order_batches_append_and_retries_deduplicate() {
        let mut t = ProducerStateTable::default();
        let b0 = batch(7, 0, 0, 3, 0);
        assert_eq!(t.check(&b0), SequenceCheck::Append);
        t.update(&b0);
        let b1 = batch(7, 0, 3, 2, 3);
        assert_eq!(t.check(&b1), SequenceCheck::Append);
        t.update(&b1);
        match t.check(&batch(7, 0, 0, 3, 99)) {
            SequenceCheck::Duplicate(m) => assert_eq!(m.base_offset, 0),
            other => panic!("expected a duplicate, got {other:?}"),
        }
        assert_eq!(
            t.check(&batch(7, 0, 9, 1, 5)),
            SequenceCheck::Reject(SequenceError::OutOfOrder)
        );
    }

    #[test]
    fn fencing_and_epoch_bumps() {
        let mut t = ProducerStateTable::default();
        t.update(&batch(1, 3, 0, 1, 0));
        assert_eq!(
            t.check(&batch(1, 2, 1, 1, 1)),
            SequenceCheck::Reject(SequenceError::InvalidEpoch)
        );
        assert_eq!(t.check(&batch(1, 4, 0, 1, 1)), SequenceCheck::Append);
        assert_eq!(
            t.check(&batch(1, 4, 5, 1, 1)),
            SequenceCheck::Reject(SequenceError::OutOfOrder)
        );
    }

    #[test]
    fn a_marker_with_a_bumped_epoch_fences_the_finished_transactions_late_writes() {
        let mut t = ProducerStateTable::default();
        t.update(&batch(1, 3, 0, 2, 0));
        // Transaction version 2: the marker carries epoch 4.
        let marker = BatchHeader {
            attributes: 0x30,
            base_sequence: -1,
            ..batch(1, 4, -1, 1, 2)
        };
        t.update(&marker);
        // A retry or late batch of the finished transaction (epoch 3) is fenced, not a duplicate.
        assert_eq!(
            t.check(&batch(1, 3, 0, 2, 3)),
            SequenceCheck::Reject(SequenceError::InvalidEpoch)
        );
        // The next transaction starts at the bumped epoch from sequence 0.
        assert_eq!(t.check(&batch(1, 4, 0, 1, 3)), SequenceCheck::Append);
        // A marker of an older epoch changes nothing.
        t.update(&batch(1, 4, 0, 1, 3));
        t.update(&BatchHeader {
            attributes: 0x30,
            base_sequence: -1,
            ..batch(1, 2, -1, 1, 4)
        });
        assert!(matches!(
            t.check(&batch(1, 4, 0, 1, 9)),
            SequenceCheck::Duplicate(_)
        ));
    }

    #[test]
    fn snapshot_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = ProducerStateTable::default();
        t.update(&batch(5, 1, 0, 4, 10));
        t.save(dir.path(), 14).unwrap();
        let (loaded, off) = ProducerStateTable::load(dir.path());
        assert_eq!(off, 14);
        assert!(matches!(
            loaded.check(&batch(5, 1, 0, 4, 0)),
            SequenceCheck::Duplicate(_)
        ));
    }
}
