//! Log compaction (`cleanup.policy=compact`): Kafka's LogCleaner semantics on Eddy's logs.
//!
//! One pass over one partition: under the partition lock take a view of its segments (the
//! files are immutable once sealed); outside it build the dedupe map over the dirty part
//! (`offset_map`), rewrite the cleanable segments, grouped up to `segment.bytes`, keeping the
//! last record of every key (`filter`), then swap each cleaned group in under the lock again
//! (`swap`, crash-safe) and record the progress (`checkpoint`). `plan` (pure) decides whether a
//! partition is due and what may be cleaned; `task` runs the background cleaner threads.
//!
//! What is never cleaned: the active segment, data at or above the high watermark, segments
//! newer than `min.compaction.lag.ms`. Offsets are kept (holes are allowed: readers, followers
//! and ListOffsets read through them).

pub mod checkpoint;
pub mod filter;
pub mod offset_map;
pub mod plan;
pub mod swap;

use super::batch::{BatchHeader, HEADER_LEN};
use super::{LogError, PartitionLog};
use checkpoint::Checkpoint;
use filter::{BatchOutcome, RetainRules};
use offset_map::OffsetMap;
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a pass failed (nothing of the log was replaced by the failed step).
#[derive(Debug, thiserror::Error)]
pub enum CleanerError {
    #[error("cleaner i/o failed while {step}: {source}")]
    Io {
        step: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Filter(#[from] filter::FilterError),
    #[error(
        "log.cleaner.dedupe.buffer.size holds {slots} keys, fewer than the first dirty segment at offset {base} has"
    )]
    DedupeBufferTooSmall { slots: usize, base: i64 },
}

pub type Result<T, E = CleanerError> = std::result::Result<T, E>;

fn io(step: &'static str) -> impl FnOnce(std::io::Error) -> CleanerError {
    move |source| CleanerError::Io { step, source }
}

/// A topic's compaction settings (resolved from topic configs and broker defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactionConfig {
    /// `cleanup.policy` contains `compact`.
    pub compact: bool,
    /// `cleanup.policy` contains `delete` (retention applies).
    pub delete: bool,
    pub min_cleanable_dirty_ratio: f64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub delete_retention_ms: i64,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            compact: false,
            delete: true,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 86_400_000,
        }
    }
}

/// One segment as the cleaner saw it under the lock.
#[derive(Clone)]
pub struct SegmentView {
    pub base: i64,
    pub size: u64,
    pub max_timestamp: i64,
    pub sealed: bool,
    pub file: Arc<File>,
}

/// The segments of a log (the last one is the active segment) and its start offset.
pub struct LogView {
    pub dir: PathBuf,
    pub segments: Vec<SegmentView>,
    pub log_start: i64,
}

impl PartitionLog {
    /// The cleaner's view of this log (call under the partition lock; cheap).
    pub fn cleaner_view(&self) -> LogView {
        LogView {
            dir: self.dir.clone(),
            segments: self
                .segments
                .values()
                .map(|s| SegmentView {
                    base: s.base_offset,
                    size: s.size(),
                    max_timestamp: s.max_timestamp(),
                    sealed: s.sealed,
                    file: s.reader(),
                })
                .collect(),
            log_start: self.log_start_offset,
        }
    }
}

/// Calls `f` with every whole batch of the first `size` bytes of `file`, reading `chunk` bytes
/// at a time (a larger batch is read whole). `throttle` is told every read's size.
pub fn for_each_batch(
    file: &File,
    size: u64,
    chunk: usize,
    throttle: &dyn Fn(u64),
    f: &mut dyn FnMut(&BatchHeader, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut pos = 0u64;
    let mut buf: Vec<u8> = Vec::new();
    while pos + HEADER_LEN as u64 <= size {
        let want = (chunk.max(HEADER_LEN) as u64).min(size - pos) as usize;
        buf.resize(want, 0);
        file.read_exact_at(&mut buf, pos)
            .map_err(io("reading a segment"))?;
        throttle(want as u64);
        let mut at = 0usize;
        while at + HEADER_LEN <= buf.len() {
            let h = BatchHeader::parse(&buf[at..]).map_err(|e| CleanerError::Io {
                step: "parsing a stored batch",
                source: std::io::Error::other(e),
            })?;
            let len = h.total_len();
            if at + len > buf.len() {
                if at == 0 {
                    // One batch larger than the chunk: read it whole.
                    let mut big = vec![0u8; len];
                    file.read_exact_at(&mut big, pos)
                        .map_err(io("reading a large batch"))?;
                    throttle(len as u64);
                    f(&h, &big)?;
                    at = len;
                }
                break;
            }
            f(&h, &buf[at..at + len])?;
            at += len;
        }
        if at == 0 {
            break;
        }
        pos += at as u64;
    }
    Ok(())
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct PassStats {
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_kept: u64,
    pub records_removed: u64,
    /// Bytes of the segments replaced by cleaned ones (the log cleaned).
    pub log_bytes_cleaned: u64,
    pub segments_in: usize,
    pub segments_out: usize,
    /// The new first dirty offset (the checkpoint).
    pub cleaned_to: i64,
}

/// The cleaner's access to a partition's log: `f` runs under the partition lock.
pub trait CleanableLog: Send + Sync {
    fn with_log(&self, f: &mut dyn FnMut(&mut PartitionLog));
}

/// Pass-wide settings.
pub struct PassSettings<'a> {
    pub compaction: CompactionConfig,
    pub segment_bytes: u64,
    pub dedupe_buffer_bytes: u64,
    pub load_factor: f64,
    pub io_buffer_bytes: usize,
    pub now_ms: i64,
    pub throttle: &'a dyn Fn(u64),
    /// Whether a record of (producer id, offset) belongs to an aborted transaction: such
    /// records are removed and never shadow a key's committed value.
    pub aborted: &'a dyn Fn(i64, i64) -> bool,
}

/// Runs one cleaning pass over `plan` (from `plan::plan`) and writes the checkpoint.
pub fn clean(
    log: &dyn CleanableLog,
    view: &LogView,
    plan: &plan::Plan,
    s: &PassSettings<'_>,
) -> Result<PassStats> {
    let mut stats = PassStats::default();
    let mut cp = Checkpoint::load(&view.dir);
    let throttle = |n: u64| (s.throttle)(n);
    // 1. The dedupe map over the dirty segments, as many whole segments as fit.
    let mut map = OffsetMap::with_buffer(s.dedupe_buffer_bytes, s.load_factor);
    let mut last_batch_of: HashMap<i64, i64> = HashMap::new();
    let mut end = plan.first_dirty;
    for seg in plan.cleanable.iter().filter(|c| c.end > plan.first_dirty) {
        let mut full = false;
        for_each_batch(
            &seg.view.file,
            seg.view.size,
            s.io_buffer_bytes,
            &throttle,
            &mut |h, bytes| {
                stats.bytes_read += bytes.len() as u64;
                note_producer(&mut last_batch_of, h);
                let aborted = h.is_transactional() && (s.aborted)(h.producer_id, h.base_offset);
                if h.is_control() || full || aborted {
                    return Ok(());
                }
                for r in filter::decode(bytes, h)? {
                    if let Some(k) = &r.key
                        && !map.put(k, r.offset)
                    {
                        full = true;
                        break;
                    }
                }
                Ok(())
            },
        )?;
        if full {
            break;
        }
        end = seg.end;
    }
    let first_dirty_segment = plan.cleanable.iter().find(|c| c.end > plan.first_dirty);
    if let Some(seg) = first_dirty_segment
        && end <= plan.first_dirty
        && !plan.tombstones_due
    {
        // (With tombstones due, the clean part is still cleaned again to drop them.)
        return Err(CleanerError::DedupeBufferTooSmall {
            slots: map.slots(),
            base: seg.view.base,
        });
    }
    // 2. Every producer's last batch beyond what was scanned (headers only).
    let mapped_end = end;
    for v in &view.segments {
        let from_mapped = plan
            .cleanable
            .iter()
            .any(|c| c.view.base == v.base && c.end > plan.first_dirty && c.end <= mapped_end);
        if from_mapped {
            continue;
        }
        scan_producers(&v.file, v.size, &mut last_batch_of)?;
    }
    // 3. Rewrite the segments below `end`, grouped, and swap each group in.
    let first_dirty_before = cp.first_dirty.max(view.log_start);
    let retention = s.compaction.delete_retention_ms;
    let now = s.now_ms;
    let expired = |o: i64| {
        o < first_dirty_before
            && cp
                .first_cleaned_ms(o)
                .is_some_and(|t| t.saturating_add(retention) <= now)
    };
    let rules = RetainRules {
        map: &map,
        last_batch_of: &last_batch_of,
        tombstone_expired: &expired,
        keep_trace_at: end - 1,
        aborted: s.aborted,
    };
    let mut first_tombstone: Option<i64> = None;
    let to_clean: Vec<&plan::CleanableSegment> =
        plan.cleanable.iter().filter(|c| c.end <= end).collect();
    // Obsolete transaction markers: per producer, whether a batch of its current transaction
    // was kept; complete only when the pass starts at the log start.
    let mut markers = MarkerTracking {
        tracked: to_clean
            .first()
            .is_some_and(|c| c.view.base <= view.log_start),
        kept: HashMap::new(),
    };
    for group in plan::groups(&to_clean, s.segment_bytes) {
        let base = group[0].view.base;
        let group_end = group[group.len() - 1].end;
        let cleaned = swap::cleaned_path(&view.dir, base);
        let outcome = write_cleaned(&cleaned, &group, &rules, s, &mut stats, &mut markers)?;
        if let Some(t) = outcome.first_tombstone_kept {
            first_tombstone.get_or_insert(t);
        }
        swap::pause_point(&view.dir, "cleaned");
        let sources: Vec<SegmentView> = group.iter().map(|c| c.view.clone()).collect();
        let mut swapped = Ok(false);
        log.with_log(&mut |l| swapped = l.swap_cleaned(&sources, &cleaned, group_end));
        if !swapped? {
            let _ = std::fs::remove_file(&cleaned);
            tracing::info!(dir = %view.dir.display(), "the log changed during cleaning; pass abandoned");
            return Ok(stats);
        }
        stats.segments_in += group.len();
        stats.log_bytes_cleaned += group.iter().map(|c| c.view.size).sum::<u64>();
        stats.segments_out += 1;
    }
    // 4. Progress: what is clean now, and when the first tombstone kept may go.
    let first_clean_ms = |o: i64| cp.first_cleaned_ms(o).unwrap_or(now);
    let expiry = first_tombstone.map_or(-1, |o| first_clean_ms(o).saturating_add(retention));
    let mut next = cp.clone();
    next.advance(end, now, view.log_start);
    next.tombstone_expiry_ms = expiry;
    next.save(&view.dir).map_err(io("writing the checkpoint"))?;
    cp = next;
    stats.cleaned_to = cp.first_dirty;
    Ok(stats)
}

/// What a pass knows about the transactions of the batches it rewrote so far.
struct MarkerTracking {
    /// The pass began at the log start (else no marker is removed).
    tracked: bool,
    /// Per producer id: whether a batch of its transaction since its last marker was kept.
    kept: HashMap<i64, bool>,
}

/// Writes the cleaned copy of `group` to `path` (fsynced).
fn write_cleaned(
    path: &Path,
    group: &[&plan::CleanableSegment],
    rules: &RetainRules<'_>,
    s: &PassSettings<'_>,
    stats: &mut PassStats,
    markers: &mut MarkerTracking,
) -> Result<BatchOutcome> {
    let mut file = std::io::BufWriter::with_capacity(
        s.io_buffer_bytes.max(HEADER_LEN),
        File::create(path).map_err(io("creating the cleaned segment"))?,
    );
    let mut total = BatchOutcome::default();
    let mut out = Vec::with_capacity(s.io_buffer_bytes);
    for seg in group {
        for_each_batch(
            &seg.view.file,
            seg.view.size,
            s.io_buffer_bytes,
            &|n| (s.throttle)(n),
            &mut |h, bytes| {
                stats.bytes_read += bytes.len() as u64;
                if h.is_control() && h.has_producer_id() {
                    let kept = markers.kept.insert(h.producer_id, false).unwrap_or(false);
                    let removable = filter::marker_removable(
                        markers.tracked,
                        kept,
                        (rules.tombstone_expired)(h.base_offset),
                        rules.last_batch_of.get(&h.producer_id) == Some(&h.last_offset()),
                    );
                    if removable {
                        total.records_removed += u64::try_from(h.records_count).unwrap_or(0);
                        return Ok(());
                    }
                }
                let before = out.len();
                let o = filter::filter_batch(bytes, h, rules, &mut out)?;
                if h.is_transactional() && !h.is_control() && out.len() > before {
                    markers.kept.insert(h.producer_id, true);
                }
                total.records_kept += o.records_kept;
                total.records_removed += o.records_removed;
                if total.first_tombstone_kept.is_none() {
                    total.first_tombstone_kept = o.first_tombstone_kept;
                }
                if out.len() >= s.io_buffer_bytes {
                    file.write_all(&out)
                        .map_err(io("writing the cleaned segment"))?;
                    stats.bytes_written += out.len() as u64;
                    (s.throttle)(out.len() as u64);
                    out.clear();
                }
                Ok(())
            },
        )?;
    }
    file.write_all(&out)
        .map_err(io("writing the cleaned segment"))?;
    stats.bytes_written += out.len() as u64;
    (s.throttle)(out.len() as u64);
    let file = file.into_inner().map_err(|e| CleanerError::Io {
        step: "flushing the cleaned segment",
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io("syncing the cleaned segment"))?;
    stats.records_kept += total.records_kept;
    stats.records_removed += total.records_removed;
    Ok(total)
}

/// Keeps the highest last offset of `h`'s producer.
fn note_producer(last: &mut HashMap<i64, i64>, h: &BatchHeader) {
    if h.has_producer_id() {
        let e = last.entry(h.producer_id).or_insert(h.last_offset());
        *e = (*e).max(h.last_offset());
    }
}

/// Records the last batch of every producer in the first `size` bytes of `file` (headers only).
fn scan_producers(file: &File, size: u64, last: &mut HashMap<i64, i64>) -> Result<()> {
    let mut pos = 0u64;
    let mut hdr = [0u8; HEADER_LEN];
    while pos + HEADER_LEN as u64 <= size {
        file.read_exact_at(&mut hdr, pos)
            .map_err(io("reading batch headers"))?;
        let Ok(h) = BatchHeader::parse(&hdr) else {
            break;
        };
        note_producer(last, &h);
        pos += h.total_len() as u64;
    }
    Ok(())
}

#[cfg(test)]
#[path = "cleaner/tests.rs"]
mod tests;
