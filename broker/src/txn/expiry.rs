//! Transactional id expiry (`transactional.id.expiration.ms`, default 7 days): every
//! `transaction.remove.expired.transaction.cleanup.interval.ms` the coordinator forgets the ids
//! it coordinates whose last change is older than that and that have no transaction open or
//! being completed. Each is removed with a tombstone in `__transaction_state` (durable, and in
//! the ISR in cluster mode, before it is dropped from memory), so a restart or a new coordinator
//! does not bring it back and compaction drops its records. A later InitProducerId for the id
//! starts it afresh with a new producer id, as in Kafka.

use super::{Slot, TxnCoordinator, locked, store};
use crate::node::Node;
use std::sync::Arc;

impl TxnCoordinator {
    pub(super) fn spawn_expiry(self: &Arc<Self>, node: &Arc<Node>) {
        let weak = Arc::downgrade(self);
        let node = Arc::downgrade(node);
        let interval = self.expiry_interval;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let (Some(txns), Some(node)) = (weak.upgrade(), node.upgrade()) else {
                    return;
                };
                txns.remove_expired(&node).await;
            }
        });
    }

    /// One pass: tombstones and forgets every expired id this broker coordinates (ids busy
    /// right now are looked at next time).
    async fn remove_expired(&self, node: &Node) {
        let slots: Vec<(String, Slot)> = locked(&self.txns)
            .iter()
            .map(|(id, s)| (id.clone(), Arc::clone(s)))
            .collect();
        let mut removed = 0usize;
        for (id, slot) in slots {
            let Ok(mut g) = slot.try_lock() else { continue };
            let Some(m) = g.as_ref() else { continue };
            if !m.expired(crate::now_ms(), self.expiration_ms)
                || self.check_owner(node, &id).is_err()
            {
                continue;
            }
            let producer_id = m.producer_id;
            let appended = match self.append_record(node, &id, &store::key(&id), None) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(transactional_id = %id, error = %e, "expiring a transactional id failed; retrying later");
                    continue;
                }
            };
            if let Err(e) = self.await_persisted(node, &id, appended).await {
                tracing::warn!(transactional_id = %id, error = %e, "expiring a transactional id failed; retrying later");
                continue;
            }
            *g = None;
            locked(&self.verify).remove(&producer_id);
            // Drop the slot unless a request already holds it (it then finds no metadata and
            // answers as for an unknown id, or InitProducerId starts the id afresh in it).
            let mut txns = locked(&self.txns);
            if txns.get(&id).is_some_and(|s| Arc::ptr_eq(s, &slot)) && Arc::strong_count(&slot) <= 2
            {
                txns.remove(&id);
            }
            removed += 1;
            tracing::debug!(transactional_id = %id, "transactional id expired");
        }
        if removed > 0 {
            tracing::info!(
                removed,
                expiration_ms = self.expiration_ms,
                "expired transactional ids removed"
            );
        }
    }
}
