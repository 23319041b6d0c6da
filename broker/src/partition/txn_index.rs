//! Transaction state of one partition (KIP-98): the open transaction of each producer (its
//! first offset, which holds the last stable offset back) and the aborted-transaction index
//! (producer id, first offset, marker offset) that read_committed fetches answer with. Pure;
//! persisted inside the producer-state snapshot and rebuilt past it from the log on recovery,
//! so it survives restarts, and pruned only below the log start offset, so deleting segments
//! drops exactly the entries no reader can need any more.

use crate::log::batch::BatchHeader;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One aborted transaction: its records are those of `producer_id` in
/// `first_offset..=last_offset` (`last_offset` is the abort marker's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// An open transaction on this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenTxn {
    pub first_offset: i64,
    pub epoch: i16,
    /// When its first batch was appended (DescribeProducers' `current_txn_start_offset` age).
    pub started_ms: i64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnIndex {
    /// Open transactions by producer id.
    ongoing: BTreeMap<i64, OpenTxn>,
    /// Aborted transactions in marker order.
    aborted: Vec<AbortedTxn>,
    /// Cluster mode (KIP-890): the verifications with a remote coordinator in flight, by
    /// producer id. A marker of the producer removes its entry, so a verification answered
    /// before the marker cannot let a batch in after it (Kafka's verification guard).
    #[serde(skip)]
    verifying: BTreeMap<i64, u64>,
    #[serde(skip)]
    next_token: u64,
}

impl TxnIndex {
    /// Records an appended (or recovered) transactional batch: a data batch opens its
    /// producer's transaction if none is open; a marker (`marker` = `Some(commit)`) closes it,
    /// and an abort marker of a transaction that wrote here indexes it as aborted.
    pub fn on_batch(&mut self, h: &BatchHeader, marker: Option<bool>, now_ms: i64) {
        if !h.is_transactional() || !h.has_producer_id() {
            return;
        }
        if h.is_control() {
            self.verifying.remove(&h.producer_id);
        } else {
            self.ongoing.entry(h.producer_id).or_insert(OpenTxn {
                first_offset: h.base_offset,
                epoch: h.producer_epoch,
                started_ms: now_ms,
            });
            return;
        }
        let Some(open) = self.ongoing.remove(&h.producer_id) else {
            // A marker for a transaction that wrote nothing here (or a retried marker).
            return;
        };
        if marker == Some(false) {
            self.aborted.push(AbortedTxn {
                producer_id: h.producer_id,
                first_offset: open.first_offset,
                last_offset: h.base_offset,
            });
        }
    }

    /// Whether `producer_id` has a transaction open here at `epoch` (its later batches need no
    /// new verification: the marker that ends it closes it).
    pub fn open_at(&self, producer_id: i64, epoch: i16) -> bool {
        self.ongoing
            .get(&producer_id)
            .is_some_and(|t| t.epoch == epoch)
    }

    /// Starts (or joins) a verification of `producer_id`'s batch with its coordinator: the
    /// token the append must still find (`verification`) for the answer to count.
    pub fn begin_verification(&mut self, producer_id: i64) -> u64 {
        if let Some(t) = self.verifying.get(&producer_id) {
            return *t;
        }
        self.next_token += 1;
        self.verifying.insert(producer_id, self.next_token);
        self.next_token
    }

    /// The token of `producer_id`'s verification in flight, if no marker came since it began.
    pub fn verification(&self, producer_id: i64) -> Option<u64> {
        self.verifying.get(&producer_id).copied()
    }

    /// The first offset of the oldest open transaction: nothing at or past it is stable.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.values().map(|t| t.first_offset).min()
    }

    /// The last stable offset below the high watermark `hw`.
    pub fn last_stable_offset(&self, hw: i64) -> i64 {
        self.first_unstable_offset().map_or(hw, |f| f.min(hw))
    }

    /// The aborted transactions a read_committed fetch of `from..upto` must be told about
    /// (Kafka's rule: the abort marker is at or after `from` and the transaction began before
    /// `upto`), as (producer id, first offset).
    pub fn aborted_between(&self, from: i64, upto: i64) -> Vec<(i64, i64)> {
        self.aborted
            .iter()
            .filter(|a| a.last_offset >= from && a.first_offset < upto)
            .map(|a| (a.producer_id, a.first_offset))
            .collect()
    }

    /// Forgets aborted transactions whose marker is below the log start offset (no fetch can
    /// reach them) and open ones that began there (their records are gone).
    pub fn prune_below(&mut self, log_start: i64) {
        self.aborted.retain(|a| a.last_offset >= log_start);
    }

    /// The open transactions (DescribeProducers).
    pub fn open(&self) -> impl Iterator<Item = (i64, &OpenTxn)> {
        self.ongoing.iter().map(|(p, t)| (*p, t))
    }

    /// The aborted transactions indexed (tests, the cleaner).
    pub fn aborted(&self) -> &[AbortedTxn] {
        &self.aborted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pid: i64, base: i64, n: i32, control: bool) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 100,
            leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0x10 | if control { 0x20 } else { 0 },
            last_offset_delta: n - 1,
            first_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: 0,
            base_sequence: if control { -1 } else { 0 },
            records_count: n,
        }
    }

    #[test]
    fn open_transactions_hold_the_lso_back_until_their_marker() {
        let mut t = TxnIndex::default();
        assert_eq!(t.last_stable_offset(10), 10);
        t.on_batch(&h(1, 10, 3, false), None, 0);
        t.on_batch(&h(2, 13, 2, false), None, 0);
        t.on_batch(&h(1, 15, 1, false), None, 0);
        assert_eq!(t.last_stable_offset(20), 10);
        assert_eq!(t.last_stable_offset(5), 5);
        t.on_batch(&h(1, 16, 1, true), Some(true), 0);
        assert_eq!(t.last_stable_offset(20), 13);
        t.on_batch(&h(2, 17, 1, true), Some(false), 0);
        assert_eq!(t.last_stable_offset(20), 20);
        assert_eq!(
            t.aborted(),
            &[AbortedTxn {
                producer_id: 2,
                first_offset: 13,
                last_offset: 17
            }]
        );
    }

    #[test]
    fn fetch_ranges_see_the_aborted_transactions_they_overlap() {
        let mut t = TxnIndex::default();
        t.on_batch(&h(7, 0, 5, false), None, 0);
        t.on_batch(&h(7, 5, 1, true), Some(false), 0);
        t.on_batch(&h(8, 6, 2, false), None, 0);
        t.on_batch(&h(8, 8, 1, true), Some(false), 0);
        assert_eq!(t.aborted_between(0, 100), vec![(7, 0), (8, 6)]);
        assert_eq!(t.aborted_between(6, 100), vec![(8, 6)]);
        assert_eq!(t.aborted_between(0, 6), vec![(7, 0)]);
        assert!(t.aborted_between(9, 100).is_empty());
        t.prune_below(6);
        assert_eq!(t.aborted_between(0, 100), vec![(8, 6)]);
    }

    #[test]
    fn a_marker_without_data_here_indexes_nothing_and_plain_batches_are_ignored() {
        let mut t = TxnIndex::default();
        t.on_batch(&h(3, 0, 1, true), Some(false), 0);
        let mut plain = h(4, 1, 1, false);
        plain.attributes = 0;
        t.on_batch(&plain, None, 0);
        assert!(t.aborted().is_empty());
        assert_eq!(t.first_unstable_offset(), None);
    }

    #[test]
    fn a_marker_cancels_the_verification_in_flight_and_closes_the_open_transaction() {
        let mut t = TxnIndex::default();
        let token = t.begin_verification(5);
        assert_eq!(t.begin_verification(5), token);
        assert_eq!(t.verification(5), Some(token));
        t.on_batch(&h(5, 0, 1, false), None, 0);
        assert!(t.open_at(5, 0));
        assert!(!t.open_at(5, 1));
        t.on_batch(&h(5, 1, 1, true), Some(true), 0);
        assert_eq!(t.verification(5), None);
        assert!(!t.open_at(5, 0));
        assert_ne!(t.begin_verification(5), token);
    }
}
