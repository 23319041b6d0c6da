//! Storage: one segmented log per partition in the data directory.
//!
//! `PartitionLog` owns the segments of one partition: it appends stamped batches, rolls segments
//! by size and age, finds the batch containing an offset for fetches, applies retention in whole
//! segments and persists the log start offset. Durability (fsync) is driven by `flusher`.

pub mod batch;
pub mod cleaner;
pub mod codec;
pub mod control_batch;
pub mod flusher;
pub mod read_pool;
pub mod segment;
pub mod time_lookup;
pub mod zero_copy;

use batch::{BatchHeader, HEADER_LEN, LOG_OVERHEAD};
use segment::{RecoveryReport, Segment};
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Storage errors, mapped to Kafka error codes in `crate::errors`.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log i/o failed in {step}: {source}")]
    Io {
        step: &'static str,
        source: io::Error,
    },
    #[error("offset {offset} is out of range [{start}, {end}]")]
    OffsetOutOfRange { offset: i64, start: i64, end: i64 },
}

pub type Result<T, E = LogError> = std::result::Result<T, E>;

fn io_err(step: &'static str) -> impl FnOnce(io::Error) -> LogError {
    move |source| LogError::Io { step, source }
}

/// The per-partition settings the log needs (resolved from topic configs and broker defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    pub segment_bytes: u64,
    pub segment_ms: i64,
    pub retention_ms: i64,
    pub retention_bytes: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3_600_000,
            retention_ms: 7 * 24 * 3_600_000,
            retention_bytes: -1,
        }
    }
}

/// Reads exactly `len` bytes at `position` into a pooled buffer (`read_pool`), without
/// zero-filling it first (fetch reads up to a megabyte per partition).
fn read_exact_at(file: &File, len: usize, position: u64) -> io::Result<Vec<u8>> {
    let mut buf = read_pool::take(len);
    while buf.len() < len {
        let at = position + buf.len() as u64;
        let n = rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), at)?;
        if n == 0 {
            read_pool::give_back(buf);
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "segment shorter than its index says",
            ));
        }
    }
    buf.truncate(len);
    Ok(buf)
}

/// Where a fetch reads from: a file handle and a byte range, resolved under the lock and read
/// outside it.
pub struct ReadSlice {
    file: Arc<File>,
    position: u64,
    available: u64,
}

impl ReadSlice {
    /// Reads whole batches starting at the slice, up to `max_bytes` but always at least the
    /// first batch, and never a batch whose base offset is at or beyond `limit_offset`.
    /// The batches are returned as they are stored (no per-record work), in a pooled buffer
    /// that the response shares rather than copies.
    pub fn read(&self, max_bytes: usize, limit_offset: i64) -> io::Result<bytes::Bytes> {
        self.read_within(max_bytes, limit_offset, true)
    }

    /// Reads whole batches up to `max_bytes`; a first batch larger than that is returned whole
    /// only with `min_one_batch` (KIP-74: only the first partition with data in a fetch
    /// response may exceed the limits), else nothing is read.
    pub fn read_within(
        &self,
        max_bytes: usize,
        limit_offset: i64,
        min_one_batch: bool,
    ) -> io::Result<bytes::Bytes> {
        if self.available < HEADER_LEN as u64 || (max_bytes == 0 && !min_one_batch) {
            return Ok(bytes::Bytes::new());
        }
        let want = (max_bytes.max(HEADER_LEN) as u64).min(self.available) as usize;
        let mut buf = read_exact_at(&self.file, want, self.position)?;
        let mut end = 0usize;
        while end + HEADER_LEN <= buf.len() {
            let h = match BatchHeader::parse(&buf[end..]) {
                Ok(h) => h,
                Err(e) => {
                    read_pool::give_back(buf);
                    return Err(io::Error::other(e));
                }
            };
            if h.base_offset >= limit_offset || end + h.total_len() > buf.len() {
                if end == 0 && h.base_offset < limit_offset && min_one_batch {
                    // The first batch alone exceeds max_bytes: return it whole anyway.
                    read_pool::give_back(buf);
                    return read_exact_at(&self.file, h.total_len(), self.position)
                        .map(read_pool::freeze);
                }
                break;
            }
            end += h.total_len();
        }
        buf.truncate(end);
        Ok(read_pool::freeze(buf))
    }
}

pub struct PartitionLog {
    dir: PathBuf,
    segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
}

impl PartitionLog {
    /// Opens (or creates) the log in `dir`. Sealed segments are trusted; the rest are scanned,
    /// their torn tails truncated. `on_batch` sees the headers of every scanned batch.
    pub fn open(
        dir: &Path,
        on_batch: &mut dyn FnMut(&BatchHeader),
    ) -> Result<(Self, RecoveryReport)> {
        std::fs::create_dir_all(dir).map_err(io_err("creating the partition directory"))?;
        cleaner::swap::recover(dir).map_err(io_err("recovering an interrupted cleaner swap"))?;
        let mut bases: Vec<i64> = std::fs::read_dir(dir)
            .map_err(io_err("listing segments"))?
            .filter_map(std::result::Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".log")?.parse::<i64>().ok()
            })
            .collect();
        bases.sort_unstable();
        let mut report = RecoveryReport::default();
        let mut segments = BTreeMap::new();
        for base in &bases {
            let (seg, r) =
                Segment::open(dir, *base, true, on_batch).map_err(io_err("opening a segment"))?;
            report.batches += r.batches;
            report.scanned_bytes += r.scanned_bytes;
            report.truncated_bytes += r.truncated_bytes;
            segments.insert(*base, seg);
        }
        let stored_start = read_i64(&dir.join("log-start-offset")).unwrap_or(0);
        if segments.is_empty() {
            let seg = Segment::create(dir, stored_start, crate::now_ms())
                .map_err(io_err("creating a segment"))?;
            segments.insert(stored_start, seg);
        }
        let first_base = *segments.keys().next().unwrap_or(&0);
        let mut log = PartitionLog {
            dir: dir.to_path_buf(),
            segments,
            log_start_offset: stored_start.max(first_base),
        };
        // A segment rebuilt by recovery that is not the active one (a swapped-in cleaned
        // segment, a crash during a roll) is sealed again: it takes no more appends.
        let last = log.segments.keys().next_back().copied();
        for (base, seg) in &mut log.segments {
            if Some(*base) != last && !seg.sealed {
                seg.seal().map_err(io_err("sealing a recovered segment"))?;
            }
        }
        if let Some(active) = log.segments.values_mut().next_back()
            && active.sealed
        {
            active
                .unseal()
                .map_err(io_err("reopening the active segment"))?;
        }
        Ok((log, report))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn active(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }

    fn active_ref(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }

    pub fn log_end_offset(&self) -> i64 {
        self.active_ref().next_offset()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(Segment::size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Appends one batch (already validated), stamping its base offset and leader epoch.
    /// Returns the assigned base offset.
    pub fn append(
        &mut self,
        bytes: &mut [u8],
        header: &BatchHeader,
        leader_epoch: i32,
        cfg: &LogConfig,
    ) -> Result<i64> {
        let now = crate::now_ms();
        self.maybe_roll(bytes.len() as u64, now, cfg)?;
        let base = self.log_end_offset();
        batch::stamp(bytes, base, leader_epoch);
        if header.is_log_append_time() {
            batch::stamp_log_append_time(bytes, now);
        }
        let stamped = BatchHeader {
            base_offset: base,
            leader_epoch,
            ..*header
        };
        self.active()
            .append(bytes, &stamped)
            .map_err(io_err("appending a batch"))?;
        Ok(base)
    }

    /// Appends a batch copied from the leader as is (offsets and leader epoch already stamped).
    /// Its base offset must be the log end offset.
    pub fn append_replicated(
        &mut self,
        bytes: &[u8],
        header: &BatchHeader,
        cfg: &LogConfig,
    ) -> Result<()> {
        self.maybe_roll(bytes.len() as u64, crate::now_ms(), cfg)?;
        self.active()
            .append(bytes, header)
            .map_err(io_err("appending a replicated batch"))
    }

    /// Removes every batch at or after `offset` (a follower dropping what the leader does not
    /// have). Whole batches: the cut lands on the batch containing `offset`.
    pub fn truncate_to(&mut self, offset: i64) -> Result<()> {
        let offset = offset.max(self.log_start_offset);
        cleaner::checkpoint::truncated(&self.dir, offset);
        let doomed: Vec<i64> = self
            .segments
            .keys()
            .copied()
            .filter(|b| *b >= offset && *b > self.log_start_offset)
            .collect();
        for b in doomed {
            if let Some(seg) = self.segments.remove(&b) {
                seg.delete()
                    .map_err(io_err("deleting a truncated segment"))?;
            }
        }
        if self.segments.is_empty() {
            let seg = Segment::create(&self.dir, offset, crate::now_ms())
                .map_err(io_err("creating a segment"))?;
            self.segments.insert(offset, seg);
        }
        let active = self.active();
        if active.sealed {
            active
                .unseal()
                .map_err(io_err("reopening the active segment"))?;
        }
        self.active()
            .truncate_to(offset)
            .map_err(io_err("truncating the active segment"))
    }

    /// The leader epoch of the last batch, and the end offset of `epoch` in this log: the base
    /// offset of the first batch with a larger epoch, or the log end (a header scan).
    pub fn epoch_info(&self, epoch: i32) -> Result<(Option<i32>, i64)> {
        let mut last = None;
        let mut end = None;
        self.replay_headers(self.log_start_offset, &mut |h| {
            last = Some(h.leader_epoch);
            if end.is_none() && h.leader_epoch > epoch {
                end = Some(h.base_offset);
            }
        })?;
        Ok((last, end.unwrap_or_else(|| self.log_end_offset())))
    }

    fn maybe_roll(&mut self, incoming: u64, now: i64, cfg: &LogConfig) -> Result<()> {
        let active = self.active_ref();
        let too_big = active.size() + incoming > cfg.segment_bytes;
        let too_old = now - active.created_ms >= cfg.segment_ms;
        if active.is_empty() || !(too_big || too_old) {
            return Ok(());
        }
        self.roll(now)
    }

    /// Seals the active segment and starts a new one at the log end offset.
    pub fn roll(&mut self, now: i64) -> Result<()> {
        let next = self.log_end_offset();
        self.active().seal().map_err(io_err("sealing a segment"))?;
        let seg = Segment::create(&self.dir, next, now).map_err(io_err("creating a segment"))?;
        self.segments.insert(next, seg);
        Ok(())
    }

    /// Rolls an active segment that has outlived segment.ms even without new appends.
    pub fn roll_if_aged(&mut self, now: i64, cfg: &LogConfig) -> Result<bool> {
        let active = self.active_ref();
        if !active.is_empty() && now - active.created_ms >= cfg.segment_ms {
            self.roll(now)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The active segment's file and the log end offset at this instant: fsyncing that handle
    /// (outside the partition lock) makes everything below the offset durable, because older
    /// segments were synced when they were sealed.
    pub fn durability_handle(&self) -> (Arc<File>, i64) {
        (self.active_ref().reader(), self.log_end_offset())
    }

    /// Calls `f` with the header of every batch whose base offset is at least `from`
    /// (rebuilding producer state after the last snapshot).
    pub fn replay_headers(&self, from: i64, f: &mut dyn FnMut(&BatchHeader)) -> Result<()> {
        for seg in self.segments.values().filter(|s| s.next_offset() > from) {
            seg.for_each_header(&mut |h| {
                if h.base_offset >= from {
                    f(h);
                }
            })
            .map_err(io_err("replaying batch headers"))?;
        }
        Ok(())
    }

    /// fsyncs the active segment (older segments were synced when sealed).
    pub fn flush(&self) -> Result<()> {
        self.active_ref()
            .flush()
            .map_err(io_err("fsync of the active segment"))
    }

    /// Seals the active segment so the next start needs no recovery (graceful shutdown).
    pub fn close(&mut self) -> Result<()> {
        self.active().seal().map_err(io_err("sealing on close"))
    }

    /// Resolves where a fetch at `offset` reads from. `Ok(None)` at the log end.
    pub fn slice_at(&self, offset: i64) -> Result<Option<ReadSlice>> {
        let end = self.log_end_offset();
        if offset < self.log_start_offset || offset > end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                start: self.log_start_offset,
                end,
            });
        }
        if offset == end {
            return Ok(None);
        }
        for (_, seg) in self
            .segments
            .range(..=offset)
            .rev()
            .chain(self.segments.range(offset + 1..))
        {
            if let Some(pos) = seg
                .position_of(offset)
                .map_err(io_err("finding the fetch position"))?
            {
                return Ok(Some(ReadSlice {
                    file: seg.reader(),
                    position: pos,
                    available: seg.size() - pos,
                }));
            }
        }
        Ok(None)
    }

    /// The first batch offset whose max timestamp is at least `ts` (ListOffsets by time).
    pub fn offset_for_timestamp(&self, ts: i64) -> Option<i64> {
        self.segments
            .values()
            .filter(|s| s.max_timestamp() >= ts)
            .find_map(|s| s.position_for_timestamp(ts))
            .map(|o| o.max(self.log_start_offset))
    }

    /// The highest timestamp in the log and the base offset of the batch holding it.
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        let seg = self.segments.values().max_by_key(|s| s.max_timestamp())?;
        let ts = seg.max_timestamp();
        if ts < 0 {
            return None;
        }
        seg.position_for_timestamp(ts).map(|o| (ts, o))
    }

    /// Moves the log start offset forward (DeleteRecords, retention) and persists it; whole
    /// segments entirely below it are deleted.
    pub fn advance_start(&mut self, offset: i64) -> Result<()> {
        if offset <= self.log_start_offset {
            return Ok(());
        }
        self.log_start_offset = offset.min(self.log_end_offset());
        write_i64(&self.dir.join("log-start-offset"), self.log_start_offset)
            .map_err(io_err("persisting the log start offset"))?;
        self.delete_segments_below(self.log_start_offset)
    }

    fn delete_segments_below(&mut self, offset: i64) -> Result<()> {
        let doomed: Vec<i64> = self
            .segments
            .iter()
            .filter(|(_, s)| s.next_offset() <= offset && s.sealed)
            .map(|(b, _)| *b)
            .collect();
        for base in doomed {
            if let Some(seg) = self.segments.remove(&base) {
                seg.delete().map_err(io_err("deleting a segment"))?;
            }
        }
        Ok(())
    }

    /// Applies retention.ms and retention.bytes in whole segments, never touching the active
    /// segment or data at or above `high_watermark`. Returns how many segments were deleted.
    pub fn apply_retention(
        &mut self,
        now: i64,
        cfg: &LogConfig,
        high_watermark: i64,
    ) -> Result<usize> {
        let mut total = self.size_bytes() as i64;
        let mut new_start = self.log_start_offset;
        let mut deleted = 0;
        let sealed: Vec<(i64, u64, i64, i64)> = self
            .segments
            .values()
            .filter(|s| s.sealed)
            .map(|s| (s.base_offset, s.size(), s.next_offset(), s.max_timestamp()))
            .collect();
        for (_, size, next, max_ts) in sealed {
            let expired_time =
                cfg.retention_ms >= 0 && max_ts >= 0 && now - max_ts > cfg.retention_ms;
            let over_size = cfg.retention_bytes >= 0 && total - size as i64 >= cfg.retention_bytes;
            if next > high_watermark || !(expired_time || over_size) {
                break;
            }
            total -= size as i64;
            new_start = next;
            deleted += 1;
        }
        if deleted > 0 {
            self.advance_start(new_start)?;
        }
        Ok(deleted)
    }

    /// Deletes every file of this log (DeleteTopics).
    pub fn destroy(self) -> Result<()> {
        std::fs::remove_dir_all(&self.dir).map_err(io_err("deleting the partition directory"))
    }
}

fn read_i64(path: &Path) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Writes a small value file atomically (tmp + fsync + rename).
pub fn write_i64(path: &Path, v: i64) -> io::Result<()> {
    write_atomic(path, v.to_string().as_bytes())
}

/// Writes a file atomically: a crash leaves either the old or the new content.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// Bytes of the length prefix, re-exported for fetch sizing.
pub const BATCH_OVERHEAD: usize = LOG_OVERHEAD;

#[cfg(test)]
mod tests;
