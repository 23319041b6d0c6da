//! Committed offsets: OffsetCommit (durable before it is acknowledged), OffsetFetch,
//! DeleteGroups, OffsetDelete, consumer-lag gauges, and the replay of `__consumer_offsets`.

use super::state::{CommittedOffset, Group, GroupState};
use super::{Coordinator, GroupError, GroupLogError, store};
use crate::node::Node;
use std::collections::HashMap;

/// Largest commit metadata accepted (Kafka's offset.metadata.max.bytes default).
pub const MAX_METADATA_BYTES: usize = 4096;

/// One partition of an OffsetCommit.
#[derive(Debug, Clone)]
pub struct CommitPartition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// Per topic: partitions and their committed offset (None = nothing committed).
pub type FetchedOffsets = Vec<(String, Vec<(i32, Option<CommittedOffset>)>)>;

impl Coordinator {
    /// OffsetCommit: validates the member, appends to the log, waits for the fsync, and
    /// returns one result per partition.
    pub async fn commit(
        &self,
        node: &Node,
        group_id: &str,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
        partitions: Vec<CommitPartition>,
    ) -> Vec<(CommitPartition, Result<(), GroupError>)> {
        let all = |parts: Vec<CommitPartition>, e: GroupError| {
            parts.into_iter().map(|p| (p, Err(e))).collect()
        };
        if group_id.is_empty() {
            return all(partitions, GroupError::InvalidGroupId);
        }
        let now = crate::now_ms();
        let ticket = {
            let mut inner = self.lock();
            if let Err(e) = self.check_coordinator(node, &inner, group_id) {
                return all(partitions, e);
            }
            let kip848 = super::consumer_ops::validate_offsets_member(
                &inner, group_id, member_id, generation,
            );
            if let Some(Err(e)) = kip848 {
                return all(partitions, e);
            }
            let mut fresh = None;
            let group = match inner.groups.get_mut(group_id) {
                Some(g) => g,
                None => fresh.insert(Group::new(group_id)),
            };
            if kip848.is_none()
                && let Err(e) = group.validate_commit(member_id, instance, generation, now)
            {
                return all(partitions, e);
            }
            let mut out = Vec::with_capacity(partitions.len());
            let mut records = Vec::new();
            let mut accepted = Vec::new();
            for p in partitions {
                let known = node.topic(&p.topic).is_some_and(|t| {
                    p.partition >= 0 && (p.partition as usize) < t.partitions.len()
                });
                let e = if !known {
                    Err(GroupError::UnknownTopicOrPartition)
                } else if p
                    .metadata
                    .as_ref()
                    .is_some_and(|m| m.len() > MAX_METADATA_BYTES)
                {
                    Err(GroupError::OffsetMetadataTooLarge)
                } else {
                    let value = CommittedOffset {
                        offset: p.offset,
                        leader_epoch: p.leader_epoch,
                        metadata: p.metadata.clone(),
                        commit_timestamp_ms: now,
                    };
                    records.push(store::offset_record(
                        group_id,
                        &p.topic,
                        p.partition,
                        Some(&value),
                    ));
                    accepted.push(((p.topic.clone(), p.partition), value));
                    Ok(())
                };
                out.push((p, e));
            }
            if records.is_empty() {
                return out;
            }
            let appended = match self.append(node, group_id, &records) {
                Ok(a) => a,
                Err(e) => {
                    for (_, r) in &mut out {
                        if r.is_ok() {
                            *r = Err(e);
                        }
                    }
                    return out;
                }
            };
            if let Some(g) = fresh {
                inner.groups.insert(group_id.to_string(), g);
            }
            if let Some(g) = inner.groups.get_mut(group_id) {
                g.offsets.extend(accepted);
            }
            (appended, out)
        };
        let (appended, mut out) = ticket;
        let mut failed = None;
        if let Err(e) = node.flusher.wait(appended.ticket).await {
            tracing::error!(group = group_id, error = %e, "offset commit could not be made durable");
            failed = Some(GroupError::CoordinatorNotAvailable);
        } else if let Err(e) = self.await_replicated(node, appended.replicate).await {
            failed = Some(e);
        }
        if let Some(e) = failed {
            for (_, r) in &mut out {
                if r.is_ok() {
                    *r = Err(e);
                }
            }
        }
        out
    }

    /// OffsetFetch for one group: the requested partitions, or (None) every committed one.
    pub fn fetch(&self, group_id: &str, topics: Option<Vec<(String, Vec<i32>)>>) -> FetchedOffsets {
        let inner = self.lock();
        let group = inner.groups.get(group_id);
        match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(t, parts)| {
                    let parts = parts
                        .into_iter()
                        .map(|p| {
                            let o = group.and_then(|g| g.offsets.get(&(t.clone(), p)).cloned());
                            (p, o)
                        })
                        .collect();
                    (t, parts)
                })
                .collect(),
            None => {
                let mut out: FetchedOffsets = Vec::new();
                for ((t, p), o) in group.map(|g| g.offsets.iter()).into_iter().flatten() {
                    match out.last_mut() {
                        Some((last, parts)) if last == t => parts.push((*p, Some(o.clone()))),
                        _ => out.push((t.clone(), vec![(*p, Some(o.clone()))])),
                    }
                }
                out
            }
        }
    }

    /// DeleteGroups: only groups without members; their offsets go too.
    pub async fn delete_groups(&self, node: &Node, ids: &[String]) -> Vec<Result<(), GroupError>> {
        let mut results = Vec::with_capacity(ids.len());
        let mut ticket = 0;
        let mut replicate = Vec::new();
        {
            let mut inner = self.lock();
            for id in ids {
                if let Err(e) = self.check_coordinator(node, &inner, id) {
                    results.push(Err(e));
                    continue;
                }
                let r = match inner.groups.get(id) {
                    None => Err(GroupError::GroupNotFound),
                    Some(g) if g.state == GroupState::Dead => Err(GroupError::GroupNotFound),
                    Some(g) if g.state != GroupState::Empty || !g.members.is_empty() => {
                        Err(GroupError::NonEmptyGroup)
                    }
                    Some(g) => {
                        let mut records: Vec<store::KeyValue> = g
                            .offsets
                            .keys()
                            .map(|(t, p)| store::offset_record(id, t, *p, None))
                            .collect();
                        records.push(store::group_record(id, None));
                        self.append(node, id, &records).map(|a| {
                            ticket = ticket.max(a.ticket);
                            replicate.extend(a.replicate);
                        })
                    }
                };
                if r.is_ok() {
                    inner.groups.remove(id);
                    tracing::info!(group = %id, "deleted consumer group");
                }
                results.push(r);
            }
        }
        let failed = if ticket > 0 && node.flusher.wait(ticket).await.is_err() {
            Some(GroupError::Storage)
        } else {
            let mut failed = None;
            for r in replicate {
                if let Err(e) = self.await_replicated(node, Some(r)).await {
                    failed = Some(e);
                }
            }
            failed
        };
        if let Some(e) = failed {
            for r in &mut results {
                if r.is_ok() {
                    *r = Err(e);
                }
            }
        }
        results
    }

    /// OffsetDelete: per-partition errors, or a group-level error.
    pub async fn delete_offsets(
        &self,
        node: &Node,
        group_id: &str,
        topics: Vec<(String, Vec<i32>)>,
    ) -> Result<Vec<(String, Vec<(i32, Result<(), GroupError>)>)>, GroupError> {
        let (appended, out) = {
            let mut inner = self.lock();
            self.check_coordinator(node, &inner, group_id)?;
            let group = inner
                .groups
                .get_mut(group_id)
                .ok_or(GroupError::GroupNotFound)?;
            let subscribed = if group.state == GroupState::Empty {
                Default::default()
            } else {
                group.subscribed_topics().ok_or(GroupError::NonEmptyGroup)?
            };
            let mut records = Vec::new();
            let mut out = Vec::new();
            for (t, parts) in topics {
                let topic = node.topic(&t);
                let parts = parts
                    .into_iter()
                    .map(|p| {
                        let known = topic
                            .as_ref()
                            .is_some_and(|tp| p >= 0 && (p as usize) < tp.partitions.len());
                        let r = if !known {
                            Err(GroupError::UnknownTopicOrPartition)
                        } else if subscribed.contains(&t) {
                            Err(GroupError::SubscribedToTopic)
                        } else {
                            if group.offsets.remove(&(t.clone(), p)).is_some() {
                                records.push(store::offset_record(group_id, &t, p, None));
                            }
                            Ok(())
                        };
                        (p, r)
                    })
                    .collect();
                out.push((t, parts));
            }
            let appended = if records.is_empty() {
                None
            } else {
                Some(self.append(node, group_id, &records)?)
            };
            (appended, out)
        };
        if let Some(a) = appended {
            node.flusher
                .wait(a.ticket)
                .await
                .map_err(|_| GroupError::Storage)?;
            self.await_replicated(node, a.replicate).await?;
        }
        Ok(out)
    }

    /// Refreshes consumer-lag gauges before a scrape: high watermark minus committed offset.
    pub fn update_lag_metrics(&self, node: &Node) {
        let lag = &node.metrics.consumer_lag;
        lag.reset();
        let inner = self.lock();
        for g in inner.groups.values() {
            for ((t, p), o) in &g.offsets {
                let Some(part) = node.partition(t, *p) else {
                    continue;
                };
                let value = (part.high_watermark() - o.offset).max(0);
                lag.with_label_values(&[g.group_id.as_str(), t.as_str(), &p.to_string()])
                    .set(value);
            }
        }
    }
}

/// Records per batch when the log is rewritten.
const COMPACT_BATCH: usize = 500;

impl Coordinator {
    /// Rewrites the live state (group snapshots and committed offsets) at the end of each
    /// `__consumer_offsets` partition and moves the log start past the old records, so that
    /// replay time and disk use follow the live state rather than the commit history. Done at
    /// start, before listeners accept, when more than half of the replayed records were
    /// superseded: the log cleaner (log/cleaner/) normally keeps that from happening, this
    /// covers logs written before it existed or with `log.cleaner.enable=false`.
    pub async fn compact_log(&self, node: &Node, replayed: u64) -> Result<(), GroupLogError> {
        let mut per_partition: HashMap<i32, Vec<store::KeyValue>> = HashMap::new();
        {
            let inner = self.lock();
            for g in inner.groups.values() {
                let recs = per_partition
                    .entry(store::partition_for(&g.group_id, self.num_partitions))
                    .or_default();
                if !g.members.is_empty() || g.generation_id > 0 {
                    recs.push(store::group_record(&g.group_id, Some(&g.snapshot())));
                }
                for ((t, p), o) in &g.offsets {
                    recs.push(store::offset_record(&g.group_id, t, *p, Some(o)));
                }
            }
        }
        let live: u64 = per_partition.values().map(|v| v.len() as u64).sum();
        if replayed <= 2 * live + 1000 {
            return Ok(());
        }
        let Some(topic) = node.topic(store::TOPIC) else {
            return Ok(());
        };
        for part in &topic.partitions {
            let cut = part.log_end_offset();
            let recs = per_partition.remove(&part.index).unwrap_or_default();
            let mut ticket = 0;
            for chunk in recs.chunks(COMPACT_BATCH) {
                let kvs: Vec<crate::log::batch::KeyValue<'_>> = chunk
                    .iter()
                    .map(|(k, v)| (Some(k.as_slice()), v.as_deref()))
                    .collect();
                let batch = crate::log::batch::build_batch(&kvs, crate::now_ms());
                part.append(&batch, false)
                    .map_err(|error| GroupLogError::Compact {
                        partition: part.index,
                        error,
                    })?;
                ticket =
                    node.flusher.mark(std::sync::Arc::clone(part)
                        as std::sync::Arc<dyn crate::log::flusher::Durable>);
            }
            if ticket > 0 {
                node.flusher
                    .wait(ticket)
                    .await
                    .map_err(|_| GroupLogError::Compact {
                        partition: part.index,
                        error: crate::partition::PartitionError::Storage,
                    })?;
            }
            if cut > part.log_start_offset() {
                part.delete_records(cut)
                    .map_err(|error| GroupLogError::Compact {
                        partition: part.index,
                        error,
                    })?;
            }
        }
        tracing::info!(replayed, live, "compacted the consumer-offsets log");
        Ok(())
    }
}

/// Rebuilds every group from `__consumer_offsets` (last record per key wins).
/// Returns the groups and the number of records read.
pub fn replay(node: &Node, now: i64) -> Result<(HashMap<String, Group>, u64), GroupLogError> {
    let mut groups: HashMap<String, Group> = HashMap::new();
    let mut count = 0u64;
    let Some(topic) = node.topic(store::TOPIC) else {
        return Ok((groups, 0));
    };
    for part in &topic.partitions {
        count += replay_partition(part, false, &mut groups, now)?;
    }
    groups.retain(|_, g| !g.is_disposable());
    Ok((groups, count))
}

/// Replays one `__consumer_offsets` partition into `groups`: up to the high watermark, or (a
/// new leader in cluster mode, whose log is the truth its followers truncate to) up to the log
/// end. Returns the number of records read.
pub fn replay_partition(
    part: &crate::partition::Partition,
    to_log_end: bool,
    groups: &mut HashMap<String, Group>,
    now: i64,
) -> Result<u64, GroupLogError> {
    let mut count = 0u64;
    let end = if to_log_end {
        part.log_end_offset()
    } else {
        part.high_watermark()
    };
    let mut offset = part.log_start_offset();
    while offset < end {
        let read_err = |error| GroupLogError::Read {
            topic: store::TOPIC.into(),
            partition: part.index,
            offset,
            error,
        };
        let records = if to_log_end {
            part.read_for_follower(offset, 4 << 20, true, None)
                .map_err(read_err)?
        } else {
            part.read(offset, 4 << 20).map_err(read_err)?.records
        };
        let batches = crate::log::batch::split_batches(&records).unwrap_or_default();
        if batches.is_empty() {
            break;
        }
        {
            for (h, range) in batches {
                if h.base_offset >= end {
                    offset = end;
                    break;
                }
                let mut buf = bytes::Bytes::copy_from_slice(&records[range]);
                match kafka_protocol::records::RecordBatchDecoder::decode(&mut buf) {
                    Ok(set) => {
                        for r in set.records {
                            if r.offset < offset {
                                continue;
                            }
                            count += 1;
                            let Some(key) = r.key else { continue };
                            match store::decode(&key, r.value.as_deref()) {
                                Ok(entry) => apply(groups, entry, now),
                                Err(e) => {
                                    tracing::warn!(offset = r.offset, error = %e, "skipping a consumer-offsets record");
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(offset = h.base_offset, error = %e, "skipping an undecodable consumer-offsets batch");
                    }
                }
                offset = h.last_offset() + 1;
            }
        }
    }
    Ok(count)
}

fn apply(groups: &mut HashMap<String, Group>, entry: store::Entry, now: i64) {
    match entry {
        store::Entry::Offset {
            group,
            topic,
            partition,
            value,
        } => {
            let g = groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(&group));
            match value {
                Some(o) => {
                    g.offsets.insert((topic, partition), o);
                }
                None => {
                    g.offsets.remove(&(topic, partition));
                }
            }
        }
        store::Entry::TxnOffsets {
            group,
            producer_id,
            value,
        } => {
            let g = groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(&group));
            match value {
                Some(o) => {
                    g.txn_offsets.insert(producer_id, o);
                }
                None => {
                    g.txn_offsets.remove(&producer_id);
                }
            }
        }
        store::Entry::Group { group, value } => match value {
            Some(snap) => groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(&group))
                .restore(snap, now),
            None => {
                groups.remove(&group);
            }
        },
    }
}
