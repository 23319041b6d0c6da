//! Offsets committed inside a transaction (TxnOffsetCommit, KIP-98): the transaction
//! coordinator holds them (persisted with the transaction) and tells this coordinator which
//! partitions have one pending, so that a `require_stable` OffsetFetch answers
//! UNSTABLE_OFFSET_COMMIT; on commit they are written here like any commit, on abort dropped.

use super::offsets::CommitPartition;
use super::state::{CommittedOffset, Group};
use super::{Coordinator, GroupError, store};
use crate::node::Node;

impl Coordinator {
    /// Marks `partitions` of `group` as having an offset pending in `producer_id`'s
    /// transaction.
    pub fn set_pending_txn_offsets(
        &self,
        group: &str,
        producer_id: i64,
        partitions: &[(String, i32)],
    ) {
        let mut inner = self.lock();
        for (t, p) in partitions {
            inner
                .pending_txn
                .insert((group.to_string(), t.clone(), *p), producer_id);
        }
    }

    /// Forgets every offset pending in `producer_id`'s transaction (it ended).
    pub fn clear_pending_txn_offsets(&self, producer_id: i64) {
        self.lock().pending_txn.retain(|_, pid| *pid != producer_id);
    }

    /// Whether an offset of `group` for the partition waits for a transaction to end.
    pub fn has_pending_txn_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.lock()
            .pending_txn
            .contains_key(&(group.to_string(), topic.to_string(), partition))
    }

    /// Writes a committed transaction's offsets of `group` (no member check: the producer's
    /// TxnOffsetCommit was checked when it was sent), durable before this returns.
    pub async fn commit_txn_offsets(
        &self,
        node: &Node,
        group: &str,
        offsets: &[CommitPartition],
    ) -> Result<(), GroupError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let now = crate::now_ms();
        let appended = {
            let mut inner = self.lock();
            let mut records = Vec::with_capacity(offsets.len());
            let mut accepted = Vec::with_capacity(offsets.len());
            for p in offsets {
                let value = CommittedOffset {
                    offset: p.offset,
                    leader_epoch: p.leader_epoch,
                    metadata: p.metadata.clone(),
                    commit_timestamp_ms: now,
                };
                records.push(store::offset_record(
                    group,
                    &p.topic,
                    p.partition,
                    Some(&value),
                ));
                accepted.push(((p.topic.clone(), p.partition), value));
            }
            let a = self.append(node, group, &records)?;
            inner
                .groups
                .entry(group.to_string())
                .or_insert_with(|| Group::new(group))
                .offsets
                .extend(accepted);
            a
        };
        node.flusher
            .wait(appended.ticket)
            .await
            .map_err(|_| GroupError::Storage)?;
        self.await_replicated(node, appended.replicate).await
    }
}
