//! Replication state of a partition in cluster mode. On the leader: the ISR, each follower's log
//! end offset and when it last caught up; the high watermark is the smallest log end offset in
//! the ISR (local durable end included). On a follower: appending the leader's batches as they
//! are, truncating to the leader's log on a leader change, following the leader's high mark.
//!
//! With no ISR set (single node) the high watermark is the durable log end, as before.

use super::Partition;
use super::PartitionError;
use crate::log::batch;
use crate::log::zero_copy::Regions;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct ReplicaState {
    pub me: i32,
    pub isr: Vec<i32>,
    /// Leader: replicas it asked the controller to add to the ISR and has not seen added yet,
    /// counted in the high watermark meanwhile (Kafka's maximal ISR). The same metadata change
    /// can complete a reassignment and hand leadership to one of them, and the new leader may
    /// apply it before this one does: whatever this leader acknowledged on the old ISR alone
    /// would then be missing there (an acknowledged write lost, and the idempotent producer's
    /// next batch out of order on the new leader).
    pub adding: Vec<i32>,
    pub followers: HashMap<i32, Follower>,
}

#[derive(Debug, Clone, Copy)]
pub struct Follower {
    pub leo: i64,
    pub caught_up_at: Instant,
}

impl Partition {
    fn repl(&self) -> std::sync::MutexGuard<'_, ReplicaState> {
        self.repl
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies the metadata image's view: leadership, leader epoch and ISR. Returns whether
    /// this broker now leads the partition anew (it did not, or under another epoch).
    pub fn set_role(&self, me: i32, leader: bool, leader_epoch: i32, isr: &[i32]) -> bool {
        let _g = self.lock();
        let was_leader = self.leader.swap(leader, Ordering::SeqCst);
        let old_epoch = self.leader_epoch.swap(leader_epoch, Ordering::SeqCst);
        self.isr_size.store(isr.len().max(1), Ordering::SeqCst);
        let mut r = self.repl();
        r.me = me;
        r.isr = isr.to_vec();
        if leader && was_leader && leader_epoch == old_epoch {
            // Still pending until the image shows them added.
            r.adding.retain(|id| !isr.contains(id));
        } else {
            // A new epoch: any pending change was refused as stale.
            r.adding.clear();
        }
        if leader && !was_leader {
            // A new leader knows nothing of its followers yet: they get a full lag window.
            r.followers.clear();
        }
        let now = Instant::now();
        for id in isr {
            r.followers.entry(*id).or_insert(Follower {
                leo: 0,
                caught_up_at: now,
            });
        }
        drop(r);
        drop(_g);
        self.refresh_high_watermark();
        leader && (!was_leader || leader_epoch != old_epoch)
    }

    /// Whether followers fetch from this leader (their long-polls wait for appends).
    pub(super) fn has_followers(&self) -> bool {
        let r = self.repl();
        r.followers.keys().any(|id| *id != r.me)
    }

    /// Whether the metadata image gave this partition an ISR (cluster mode). Without one (one
    /// node) the high watermark is the durable log end: nothing to wait for beyond the fsync.
    pub fn has_isr(&self) -> bool {
        !self.repl().isr.is_empty()
    }

    /// The ISR as this broker last applied it.
    pub fn isr(&self) -> Vec<i32> {
        self.repl().isr.clone()
    }

    /// Leader: `id` is being added to the ISR: it counts toward the high watermark from now
    /// until the image shows it added or the change is abandoned.
    pub fn begin_isr_addition(&self, id: i32) {
        let mut r = self.repl();
        if !r.isr.contains(&id) && !r.adding.contains(&id) {
            r.adding.push(id);
        }
    }

    /// Leader: the controller refused the addition of `id`, or `id` stopped catching up before
    /// the image showed it added: the high watermark no longer waits on it.
    pub fn abandon_isr_addition(&self, id: i32) {
        self.repl().adding.retain(|a| *a != id);
        self.refresh_high_watermark();
    }

    /// Leader: HW = min(durable log end, the log end of every other ISR member and of every
    /// replica being added). Never moves back. When acknowledgements come from memory
    /// (`ack.durability` replicated), the leader's own log end counts instead of its durable
    /// end, and followers report what they appended before fsyncing it.
    pub(super) fn refresh_high_watermark(&self) {
        let durable = if self.acks_from_memory() {
            self.log_end_offset()
        } else {
            self.durable_leo.load(Ordering::SeqCst)
        };
        let candidate = if self.is_leader() {
            let r = self.repl();
            r.isr
                .iter()
                .chain(&r.adding)
                .filter(|id| **id != r.me)
                .map(|id| r.followers.get(id).map_or(0, |f| f.leo))
                .fold(durable, i64::min)
        } else {
            return;
        };
        if self.high_watermark.fetch_max(candidate, Ordering::SeqCst) < candidate {
            self.data_version.send_modify(|v| *v += 1);
        }
    }

    /// Leader: a follower fetched from `offset` (so it has everything below it). Returns true
    /// when the follower is caught up but not in the ISR (the caller asks the controller to
    /// add it).
    pub fn record_follower_fetch(&self, id: i32, offset: i64) -> bool {
        let leo = self.log_end_offset();
        let hw = self.high_watermark();
        let expand = {
            let mut r = self.repl();
            let f = r.followers.entry(id).or_insert(Follower {
                leo: offset,
                caught_up_at: Instant::now() - Duration::from_secs(3600),
            });
            f.leo = offset;
            if offset >= leo {
                f.caught_up_at = Instant::now();
            }
            !r.isr.contains(&id) && offset >= hw && offset >= leo
        };
        self.refresh_high_watermark();
        expand
    }

    /// Leader: ISR followers (and replicas being added) that have not caught up within
    /// `max_lag`.
    pub fn lagging_followers(&self, max_lag: Duration) -> Vec<i32> {
        let r = self.repl();
        r.isr
            .iter()
            .chain(&r.adding)
            .filter(|id| **id != r.me)
            .filter(|id| {
                r.followers
                    .get(id)
                    .is_none_or(|f| f.caught_up_at.elapsed() > max_lag)
            })
            .copied()
            .collect()
    }

    /// Leader: reads for a follower from `offset` up to the log end (not only the HW), whole
    /// batches up to `max_bytes`; a first batch larger than that only with `min_one_batch`.
    /// With `regions`, batches worth sending from the file come back as a placeholder whose
    /// region `regions` keeps (`log::zero_copy`).
    pub fn read_for_follower(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        regions: Option<&mut Regions>,
    ) -> Result<bytes::Bytes, PartitionError> {
        let inner = self.lock();
        let leo = inner.log.log_end_offset();
        if offset == leo {
            return Ok(bytes::Bytes::new());
        }
        let slice = inner.log.slice_at(offset)?;
        drop(inner);
        let read = match (slice, regions) {
            (Some(s), Some(regions)) => s.read_or_place(max_bytes, leo, min_one_batch, regions),
            (Some(s), None) => s.read_within(max_bytes, leo, min_one_batch),
            (None, _) => return Ok(bytes::Bytes::new()),
        };
        read.map_err(|_| PartitionError::Storage)
    }

    /// Follower: appends the leader's batches as they are, if this replica still follows
    /// under `leader_epoch` (checked under the log lock, which `set_role` takes too, so a
    /// fetch answered under an older epoch never lands after a leadership change). Returns the
    /// records appended; the caller makes them durable (the group commit in the fsync mode,
    /// the background flush in the replicated mode) before it reports the new log end.
    pub fn append_replicated(
        &self,
        records: &[u8],
        leader_epoch: i32,
    ) -> Result<i64, PartitionError> {
        let batches = batch::split_batches(records).map_err(|_| PartitionError::Corrupt)?;
        let mut inner = self.lock();
        self.check_follows(leader_epoch)?;
        let cfg = inner.settings.log;
        let mut appended = 0i64;
        for (h, range) in batches {
            let leo = inner.log.log_end_offset();
            if h.last_offset() < leo {
                continue;
            }
            // A gap is fine (the leader's log was compacted: offsets are kept, holes allowed);
            // an overlap is not.
            if h.base_offset < leo {
                tracing::warn!(topic = %self.topic, partition = self.index, base = h.base_offset, leo, "replicated batch does not start at the log end");
                return Err(PartitionError::OffsetOutOfRange);
            }
            inner
                .log
                .append_replicated(&records[range], &h, &cfg)
                .map_err(|_| PartitionError::Storage)?;
            inner.producers.update(&h);
            inner.producers_dirty |= h.has_producer_id();
            if h.is_transactional() {
                // The follower keeps the transactions as the leader does (open ones for the
                // last stable offset, aborted ones for read_committed fetches), or a new leader
                // would show a zombie's aborted records, or let a later commit marker of the
                // same producer commit them.
                let kind = if h.is_control() {
                    super::txn::read_marker(&inner.log, h.base_offset)
                        .map_err(|_| PartitionError::Storage)?
                } else {
                    None
                };
                inner.producers.txns.on_batch(&h, kind, crate::now_ms());
                self.refresh_first_unstable(&inner);
            }
            appended += i64::from(h.records_count.max(1));
        }
        Ok(appended)
    }

    /// Whether this replica follows under `leader_epoch` (call under the log lock).
    fn check_follows(&self, leader_epoch: i32) -> Result<(), PartitionError> {
        if self.is_leader() {
            return Err(PartitionError::NotLeader);
        }
        if self.leader_epoch() != leader_epoch {
            return Err(PartitionError::StaleLeaderEpoch);
        }
        Ok(())
    }

    /// Follower: the high watermark the leader sent, capped by the local log end.
    pub fn follow_high_watermark(&self, leader_hw: i64) {
        let hw = leader_hw.min(self.log_end_offset());
        if self.high_watermark.fetch_max(hw, Ordering::SeqCst) < hw {
            self.data_version.send_modify(|v| *v += 1);
        }
    }

    /// The leader epoch of the last local batch, and the end offset of `epoch` in this log.
    pub fn epoch_info(&self, epoch: i32) -> Result<(Option<i32>, i64), PartitionError> {
        self.lock()
            .log
            .epoch_info(epoch)
            .map_err(|_| PartitionError::Storage)
    }

    /// Follower under `leader_epoch` (checked under the log lock, see `append_replicated`):
    /// drops every batch at or after `offset` and rebuilds the producer state.
    pub fn truncate_to_as_follower(
        &self,
        offset: i64,
        leader_epoch: i32,
    ) -> Result<(), PartitionError> {
        let mut inner = self.lock();
        self.check_follows(leader_epoch)?;
        if offset >= inner.log.log_end_offset() {
            return Ok(());
        }
        tracing::info!(topic = %self.topic, partition = self.index, offset, "truncating to the leader's log");
        inner
            .log
            .truncate_to(offset)
            .map_err(|_| PartitionError::Storage)?;
        let mut producers = super::ProducerStateTable::default();
        let start = inner.log.log_start_offset();
        super::replay_producers(&inner.log, start, &mut producers)
            .map_err(|_| PartitionError::Storage)?;
        inner.producers = producers;
        inner.producers_dirty = true;
        self.refresh_first_unstable(&inner);
        let leo = inner.log.log_end_offset();
        drop(inner);
        self.durable_leo.store(leo, Ordering::SeqCst);
        self.high_watermark.fetch_min(leo, Ordering::SeqCst);
        Ok(())
    }

    /// A replica removed from the partition (reassignment): deletes every file of its log and
    /// starts over empty, so nothing of the old data stays on this broker.
    pub fn wipe(&self) -> Result<(), PartitionError> {
        let mut inner = self.lock();
        let dir = inner.log.dir().to_path_buf();
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "deleting a removed replica's files failed");
            return Err(PartitionError::Storage);
        }
        let (log, _) = crate::log::PartitionLog::open(&dir, &mut |_| {})
            .map_err(|_| PartitionError::Storage)?;
        inner.log = log;
        inner.producers = super::ProducerStateTable::default();
        inner.producers_dirty = false;
        drop(inner);
        self.durable_leo.store(0, Ordering::SeqCst);
        self.high_watermark.store(0, Ordering::SeqCst);
        self.log_start_offset.store(0, Ordering::SeqCst);
        self.repl().followers.clear();
        tracing::info!(topic = %self.topic, partition = self.index, "deleted the data of a removed replica");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Partition, PartitionSettings};
    use crate::log::batch::build_batch;
    use crate::log::flusher::Durable;
    use std::sync::Arc;

    /// Broker 0 leading with ISR [0, 1].
    fn leader(dir: &std::path::Path) -> Partition {
        let version = Arc::new(tokio::sync::watch::channel(0).0);
        let p = Partition::open("t", 0, dir, PartitionSettings::default(), 0, version).unwrap();
        p.set_role(0, true, 0, &[0, 1]);
        p
    }

    /// Appends one record and makes it durable here: the new log end.
    fn write(p: &Partition) -> i64 {
        p.append(&build_batch(&[(None, Some(b"v"))], 0), true)
            .unwrap();
        p.make_durable().unwrap();
        p.log_end_offset()
    }

    #[test]
    fn a_replica_being_added_to_the_isr_holds_the_high_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let p = leader(dir.path());
        let end = write(&p);
        p.record_follower_fetch(1, end);
        assert!(p.record_follower_fetch(2, end), "caught up: 2 is to join");
        p.begin_isr_addition(2);
        assert_eq!(p.high_watermark(), end);

        // The change may also complete a reassignment making 2 the leader, applied there
        // first: a write only 1 has is not committed until 2 has it too.
        let next = write(&p);
        p.record_follower_fetch(1, next);
        assert_eq!(
            p.high_watermark(),
            end,
            "committed without the joining replica"
        );
        p.record_follower_fetch(2, next);
        assert_eq!(p.high_watermark(), next);

        // The image shows 2 added: an ISR member like any other.
        p.set_role(0, true, 0, &[0, 1, 2]);
        assert!(p.repl().adding.is_empty());
        let last = write(&p);
        p.record_follower_fetch(1, last);
        assert_eq!(p.high_watermark(), next);
    }

    #[test]
    fn an_abandoned_or_stale_addition_stops_holding_the_high_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let p = leader(dir.path());
        let end = write(&p);
        p.begin_isr_addition(2);
        p.record_follower_fetch(1, end);
        assert_eq!(p.high_watermark(), 0);
        // Not fetching: lagging like an ISR member, then given up.
        assert_eq!(p.lagging_followers(std::time::Duration::ZERO), vec![1, 2]);
        p.abandon_isr_addition(2);
        assert_eq!(p.high_watermark(), end);

        // A new leader epoch: whatever was pending was refused as stale.
        p.begin_isr_addition(2);
        p.set_role(0, true, 1, &[0, 1]);
        assert!(p.repl().adding.is_empty());
    }
}
