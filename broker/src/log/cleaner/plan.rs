//! Pure: whether a compacted log is due for cleaning and what may be cleaned (Kafka's
//! `LogCleanerManager.cleanableOffsets` and `grabFilthiestCompactedLog`), and how cleaned
//! segments are grouped.

use super::checkpoint::Checkpoint;
use super::{CompactionConfig, LogView, SegmentView};

/// A sealed segment the cleaner may rewrite, with the offset where the next segment starts.
#[derive(Clone)]
pub struct CleanableSegment {
    pub view: SegmentView,
    pub end: i64,
}

/// Why a log is cleaned now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The dirty ratio reached `min.cleanable.dirty.ratio`.
    DirtyRatio,
    /// Dirty data is older than `max.compaction.lag.ms`.
    MaxLag,
    /// A kept tombstone outlived `delete.retention.ms`.
    Tombstones,
}

pub struct Plan {
    /// Sealed segments below the first uncleanable offset, oldest first.
    pub cleanable: Vec<CleanableSegment>,
    /// Where the dirty part starts.
    pub first_dirty: i64,
    pub clean_bytes: u64,
    pub dirty_bytes: u64,
    pub tombstones_due: bool,
    /// `None`: not due.
    pub reason: Option<Reason>,
}

impl Plan {
    /// Dirty bytes over cleanable bytes (Kafka's `cleanableRatio`).
    pub fn dirty_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.dirty_bytes;
        if total == 0 {
            0.0
        } else {
            self.dirty_bytes as f64 / total as f64
        }
    }
}

/// Plans a pass over `view` (the last segment is the active one). `first_timestamp` reads the
/// first batch timestamp of a segment (for `max.compaction.lag.ms`).
pub fn plan(
    view: &LogView,
    cp: &Checkpoint,
    cfg: &CompactionConfig,
    high_watermark: i64,
    now_ms: i64,
    first_timestamp: &dyn Fn(&SegmentView) -> Option<i64>,
) -> Plan {
    let mut cleanable = Vec::new();
    for pair in view.segments.windows(2) {
        let (seg, next) = (&pair[0], &pair[1]);
        let too_new = cfg.min_compaction_lag_ms > 0
            && seg.max_timestamp >= 0
            && seg.max_timestamp > now_ms.saturating_sub(cfg.min_compaction_lag_ms);
        if !seg.sealed || next.base > high_watermark || too_new {
            break;
        }
        cleanable.push(CleanableSegment {
            view: seg.clone(),
            end: next.base,
        });
    }
    let first_dirty = cp.first_dirty.max(view.log_start);
    let (mut clean_bytes, mut dirty_bytes) = (0, 0);
    for c in &cleanable {
        if c.end <= first_dirty {
            clean_bytes += c.view.size;
        } else {
            dirty_bytes += c.view.size;
        }
    }
    let tombstones_due =
        cp.tombstone_expiry_ms >= 0 && cp.tombstone_expiry_ms <= now_ms && !cleanable.is_empty();
    let mut p = Plan {
        cleanable,
        first_dirty,
        clean_bytes,
        dirty_bytes,
        tombstones_due,
        reason: None,
    };
    if !cfg.compact {
        return p;
    }
    let over_max_lag = || {
        p.cleanable
            .iter()
            .find(|c| c.end > first_dirty)
            .and_then(|c| first_timestamp(&c.view))
            .is_some_and(|ts| {
                ts >= 0 && now_ms.saturating_sub(ts) > cfg.max_compaction_lag_ms.max(0)
            })
    };
    p.reason = if dirty_bytes > 0 && p.dirty_ratio() >= cfg.min_cleanable_dirty_ratio {
        Some(Reason::DirtyRatio)
    } else if dirty_bytes > 0 && cfg.max_compaction_lag_ms < i64::MAX && over_max_lag() {
        Some(Reason::MaxLag)
    } else if tombstones_due {
        Some(Reason::Tombstones)
    } else {
        None
    };
    p
}

/// Consecutive segments merged into one cleaned segment while their sizes add up to at most
/// `segment_bytes` and offsets stay within the index's 32-bit deltas (Kafka's
/// `groupSegmentsBySize`).
pub fn groups<'a>(
    segs: &[&'a CleanableSegment],
    segment_bytes: u64,
) -> Vec<Vec<&'a CleanableSegment>> {
    let mut out: Vec<Vec<&CleanableSegment>> = Vec::new();
    let mut size = 0u64;
    for s in segs {
        let fits = out.last().is_some_and(|g| {
            size + s.view.size <= segment_bytes && s.end - g[0].view.base <= i64::from(i32::MAX)
        });
        if fits {
            size += s.view.size;
            if let Some(g) = out.last_mut() {
                g.push(s);
            }
        } else {
            size = s.view.size;
            out.push(vec![s]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn seg(base: i64, size: u64, max_ts: i64, sealed: bool) -> SegmentView {
        SegmentView {
            base,
            size,
            max_timestamp: max_ts,
            sealed,
            file: Arc::new(tempfile::tempfile().unwrap()),
        }
    }

    fn view(segs: Vec<SegmentView>) -> LogView {
        LogView {
            dir: std::path::PathBuf::from("/nonexistent"),
            segments: segs,
            log_start: 0,
        }
    }

    fn compact() -> CompactionConfig {
        CompactionConfig {
            compact: true,
            ..CompactionConfig::default()
        }
    }

    #[test]
    fn the_active_segment_and_data_above_the_high_watermark_are_never_cleanable() {
        let v = view(vec![
            seg(0, 100, 10, true),
            seg(10, 100, 20, true),
            seg(20, 100, 30, false),
        ]);
        let cp = Checkpoint::default();
        let p = plan(&v, &cp, &compact(), 100, 1_000, &|_| None);
        assert_eq!(
            p.cleanable.len(),
            2,
            "every sealed segment, not the active one"
        );
        assert_eq!(p.reason, Some(Reason::DirtyRatio));
        let p = plan(&v, &cp, &compact(), 15, 1_000, &|_| None);
        assert_eq!(
            p.cleanable.len(),
            1,
            "the second segment ends above the high watermark"
        );
        assert_eq!(p.cleanable[0].end, 10);
    }

    #[test]
    fn dirty_ratio_and_min_compaction_lag_decide() {
        let v = view(vec![
            seg(0, 300, 10, true),
            seg(10, 100, 900, true),
            seg(20, 0, -1, false),
        ]);
        let cp = Checkpoint {
            first_dirty: 10,
            cleaned_at: vec![(10, 1)],
            tombstone_expiry_ms: -1,
        };
        let p = plan(&v, &cp, &compact(), 100, 1_000, &|_| None);
        assert!((p.dirty_ratio() - 0.25).abs() < 1e-9);
        assert_eq!(p.reason, None, "25% dirty is below the default 50%");
        let low = CompactionConfig {
            min_cleanable_dirty_ratio: 0.2,
            ..compact()
        };
        assert_eq!(
            plan(&v, &cp, &low, 100, 1_000, &|_| None).reason,
            Some(Reason::DirtyRatio)
        );
        let lagged = CompactionConfig {
            min_compaction_lag_ms: 500,
            ..low
        };
        let p = plan(&v, &cp, &lagged, 100, 1_000, &|_| None);
        assert_eq!(
            p.cleanable.len(),
            1,
            "the segment written 100 ms ago is too new"
        );
        assert_eq!(p.reason, None);
    }

    #[test]
    fn max_compaction_lag_and_expired_tombstones_force_a_pass() {
        let v = view(vec![
            seg(0, 300, 10, true),
            seg(10, 10, 20, true),
            seg(20, 0, -1, false),
        ]);
        let cp = Checkpoint {
            first_dirty: 10,
            cleaned_at: vec![(10, 1)],
            tombstone_expiry_ms: 5_000,
        };
        let lag = CompactionConfig {
            max_compaction_lag_ms: 100,
            ..compact()
        };
        assert_eq!(
            plan(&v, &cp, &lag, 100, 1_000, &|_| Some(15)).reason,
            Some(Reason::MaxLag)
        );
        assert_eq!(
            plan(&v, &cp, &compact(), 100, 1_000, &|_| Some(15)).reason,
            None
        );
        assert_eq!(
            plan(&v, &cp, &compact(), 100, 5_000, &|_| None).reason,
            Some(Reason::Tombstones)
        );
        let not_compacted = CompactionConfig::default();
        assert_eq!(
            plan(&v, &cp, &not_compacted, 100, 5_000, &|_| None).reason,
            None
        );
    }

    #[test]
    fn groups_respect_segment_bytes() {
        let v = view(vec![
            seg(0, 40, 1, true),
            seg(10, 40, 1, true),
            seg(20, 40, 1, true),
            seg(30, 0, -1, false),
        ]);
        let p = plan(&v, &Checkpoint::default(), &compact(), 100, 10, &|_| None);
        let refs: Vec<&CleanableSegment> = p.cleanable.iter().collect();
        let g = groups(&refs, 100);
        let bases: Vec<Vec<i64>> = g
            .iter()
            .map(|g| g.iter().map(|c| c.view.base).collect())
            .collect();
        assert_eq!(bases, vec![vec![0, 10], vec![20]]);
    }
}
