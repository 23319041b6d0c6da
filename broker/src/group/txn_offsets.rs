//! Offsets committed inside a transaction (TxnOffsetCommit, KIP-98). On one node the
//! transaction coordinator holds them (persisted with the transaction) and tells this
//! coordinator which partitions have one pending, so that a `require_stable` OffsetFetch
//! answers UNSTABLE_OFFSET_COMMIT; on commit they are written here like any commit, on abort
//! dropped. In cluster mode the group's coordinator holds them, as Kafka's does: a `txn` record
//! per (group, producer) in the group's `__consumer_offsets` partition (acks=all), committed or
//! dropped when the transaction's marker reaches that partition (WriteTxnMarkers from the
//! transaction coordinator, txn/markers.rs); a new coordinator reloads what is undecided.

use super::offsets::CommitPartition;
use super::state::{CommittedOffset, Group};
use super::{Coordinator, GroupError, store};
use crate::node::Node;
use std::collections::BTreeMap;

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

    /// TxnOffsetCommit's member check (KIP-447): the committing consumer is a current member
    /// of `group` at its generation (KIP-848 groups: at its member epoch), as
    /// `Group::validate_txn_commit` decides; a group this coordinator does not know has no
    /// members to check. Cluster mode: this broker must coordinate the group.
    pub fn validate_txn_member(
        &self,
        node: &Node,
        group: &str,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
    ) -> Result<(), GroupError> {
        let inner = self.lock();
        self.check_coordinator(node, &inner, group)?;
        if let Some(r) =
            super::consumer_ops::validate_offsets_member(&inner, group, member_id, generation)
        {
            return r;
        }
        inner.groups.get(group).map_or(Ok(()), |g| {
            g.validate_txn_commit(member_id, instance, generation)
        })
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

    /// Cluster mode TxnOffsetCommit: `offsets` of `producer_id`'s ongoing transaction wait
    /// here (persisted, in the ISR before this returns) until its marker decides them; a later
    /// commit of the same partition in the transaction replaces the earlier one.
    pub async fn stage_txn_offsets(
        &self,
        node: &Node,
        group: &str,
        producer_id: i64,
        offsets: &[CommitPartition],
    ) -> Result<(), GroupError> {
        let now = crate::now_ms();
        let appended = {
            let mut inner = self.lock();
            self.check_coordinator(node, &inner, group)?;
            let mut merged: BTreeMap<(String, i32), store::TxnOffset> = inner
                .groups
                .get(group)
                .and_then(|g| g.txn_offsets.get(&producer_id))
                .into_iter()
                .flatten()
                .map(|o| ((o.topic.clone(), o.partition), o.clone()))
                .collect();
            for p in offsets {
                merged.insert(
                    (p.topic.clone(), p.partition),
                    store::TxnOffset {
                        topic: p.topic.clone(),
                        partition: p.partition,
                        offset: CommittedOffset {
                            offset: p.offset,
                            leader_epoch: p.leader_epoch,
                            metadata: p.metadata.clone(),
                            commit_timestamp_ms: now,
                        },
                    },
                );
            }
            let pending: Vec<store::TxnOffset> = merged.into_values().collect();
            let record = store::txn_offsets_record(group, producer_id, Some(&pending));
            let a = self.append(node, group, &[record])?;
            for o in &pending {
                inner.pending_txn.insert(
                    (group.to_string(), o.topic.clone(), o.partition),
                    producer_id,
                );
            }
            inner
                .groups
                .entry(group.to_string())
                .or_insert_with(|| Group::new(group))
                .txn_offsets
                .insert(producer_id, pending);
            a
        };
        node.flusher
            .wait(appended.ticket)
            .await
            .map_err(|_| GroupError::Storage)?;
        self.await_replicated(node, appended.replicate).await
    }

    /// Cluster mode: the marker of `producer_id`'s transaction reached `__consumer_offsets`
    /// partition `index`: its staged offsets for the groups there become committed offsets
    /// (`commit`) or are dropped, persisted (in the ISR) before this returns. Only the
    /// partition's loaded coordinator may do this (the transaction coordinator retries).
    pub async fn complete_txn_offsets(
        &self,
        node: &Node,
        index: i32,
        producer_id: i64,
        commit: bool,
    ) -> Result<(), GroupError> {
        let mut waits = Vec::new();
        {
            let mut inner = self.lock();
            let Some(part) = node.partition(store::TOPIC, index) else {
                return Err(GroupError::NotCoordinator);
            };
            if !part.is_leader() {
                return Err(GroupError::NotCoordinator);
            }
            match inner.owned.get(&index) {
                Some(o) if o.loaded && o.epoch == part.leader_epoch() => {}
                _ => return Err(GroupError::CoordinatorLoadInProgress),
            }
            let n = i32::try_from(node.topic(store::TOPIC).map_or(1, |t| t.partitions.len()))
                .unwrap_or(1)
                .max(1);
            let groups: Vec<String> = inner
                .groups
                .iter()
                .filter(|(g, grp)| {
                    store::partition_for(g, n) == index
                        && grp.txn_offsets.contains_key(&producer_id)
                })
                .map(|(g, _)| g.clone())
                .collect();
            for g in groups {
                let staged = inner
                    .groups
                    .get(&g)
                    .and_then(|grp| grp.txn_offsets.get(&producer_id))
                    .cloned()
                    .unwrap_or_default();
                let mut records = Vec::with_capacity(staged.len() + 1);
                if commit {
                    for o in &staged {
                        records.push(store::offset_record(
                            &g,
                            &o.topic,
                            o.partition,
                            Some(&o.offset),
                        ));
                    }
                }
                records.push(store::txn_offsets_record(&g, producer_id, None));
                waits.push(self.append(node, &g, &records)?);
                if let Some(grp) = inner.groups.get_mut(&g) {
                    grp.txn_offsets.remove(&producer_id);
                    if commit {
                        for o in staged {
                            grp.offsets.insert((o.topic, o.partition), o.offset);
                        }
                    }
                }
                inner
                    .pending_txn
                    .retain(|(pg, _, _), pid| !(pg == &g && *pid == producer_id));
            }
        }
        for a in waits {
            node.flusher
                .wait(a.ticket)
                .await
                .map_err(|_| GroupError::Storage)?;
            self.await_replicated(node, a.replicate).await?;
        }
        Ok(())
    }
}
