//! The cleaner's per-partition checkpoint (`cleaner-checkpoint` in the partition directory):
//! where the dirty part of the log starts, when each range of offsets was first cleaned (the
//! start of its tombstones' `delete.retention.ms`), and when the earliest kept tombstone
//! expires. Written atomically after every pass; a lost or stale checkpoint only makes the
//! cleaner redo work and keep tombstones longer, never lose a live record.

use std::io;
use std::path::{Path, PathBuf};

pub const FILE: &str = "cleaner-checkpoint";
/// Most first-clean ranges kept; older neighbours merge (keeping the later time: safe).
const MAX_RANGES: usize = 32;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Offsets below this were cleaned (a segment boundary).
    pub first_dirty: i64,
    /// `(end, ms)`: offsets below `end` (and at or above the previous end) were first cleaned
    /// at `ms`. Ascending in both.
    pub cleaned_at: Vec<(i64, i64)>,
    /// When the earliest tombstone kept by the last pass may go (-1: none kept).
    pub tombstone_expiry_ms: i64,
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

impl Checkpoint {
    /// Reads the checkpoint; a missing or unreadable one is an empty checkpoint.
    pub fn load(dir: &Path) -> Self {
        let Ok(text) = std::fs::read_to_string(path(dir)) else {
            return Checkpoint {
                tombstone_expiry_ms: -1,
                ..Checkpoint::default()
            };
        };
        let mut cp = Checkpoint {
            tombstone_expiry_ms: -1,
            ..Checkpoint::default()
        };
        for line in text.lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let num = |i: usize| parts.get(i).and_then(|s| s.parse::<i64>().ok());
            match parts.first().copied() {
                Some("dirty") => cp.first_dirty = num(1).unwrap_or(0),
                Some("expiry") => cp.tombstone_expiry_ms = num(1).unwrap_or(-1),
                Some("cleaned") => {
                    if let (Some(end), Some(ms)) = (num(1), num(2)) {
                        cp.cleaned_at.push((end, ms));
                    }
                }
                _ => {}
            }
        }
        cp
    }

    pub fn save(&self, dir: &Path) -> io::Result<()> {
        let mut text = format!(
            "v1\ndirty {}\nexpiry {}\n",
            self.first_dirty, self.tombstone_expiry_ms
        );
        for (end, ms) in &self.cleaned_at {
            text.push_str(&format!("cleaned {end} {ms}\n"));
        }
        crate::log::write_atomic(&path(dir), text.as_bytes())
    }

    /// When the record at `offset` was first cleaned, if it was.
    pub fn first_cleaned_ms(&self, offset: i64) -> Option<i64> {
        if offset >= self.first_dirty {
            return None;
        }
        self.cleaned_at
            .iter()
            .find(|(end, _)| offset < *end)
            .map(|(_, ms)| *ms)
    }

    /// Records a pass that cleaned up to `end` at `now_ms`, forgetting ranges below the log
    /// start.
    pub fn advance(&mut self, end: i64, now_ms: i64, log_start: i64) {
        if end > self.first_dirty {
            self.cleaned_at.push((end, now_ms));
            self.first_dirty = end;
        }
        self.cleaned_at.retain(|(e, _)| *e > log_start);
        while self.cleaned_at.len() > MAX_RANGES {
            let (_, later) = self.cleaned_at[1];
            self.cleaned_at[0].1 = later;
            let (end1, _) = self.cleaned_at.remove(1);
            self.cleaned_at[0].0 = end1;
        }
    }
}

/// A follower truncated its log below the checkpoint: forget it, so the re-appended offsets are
/// treated as dirty.
pub fn truncated(dir: &Path, offset: i64) {
    let cp = Checkpoint::load(dir);
    if offset < cp.first_dirty
        && let Err(e) = std::fs::remove_file(path(dir))
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(error = %e, dir = %dir.display(), "dropping the cleaner checkpoint failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_answers_first_clean_times() {
        let dir = tempfile::tempdir().unwrap();
        let mut cp = Checkpoint::load(dir.path());
        assert_eq!(cp.first_dirty, 0);
        assert_eq!(cp.tombstone_expiry_ms, -1);
        cp.advance(100, 1_000, 0);
        cp.advance(250, 2_000, 0);
        cp.tombstone_expiry_ms = 5_000;
        cp.save(dir.path()).unwrap();
        let back = Checkpoint::load(dir.path());
        assert_eq!(back, cp);
        assert_eq!(back.first_cleaned_ms(5), Some(1_000));
        assert_eq!(back.first_cleaned_ms(100), Some(2_000));
        assert_eq!(back.first_cleaned_ms(250), None);
    }

    #[test]
    fn ranges_stay_bounded_and_merge_to_the_later_time() {
        let mut cp = Checkpoint::default();
        for i in 1..=40 {
            cp.advance(i * 10, i * 100, 0);
        }
        assert_eq!(cp.cleaned_at.len(), MAX_RANGES);
        // Merged ranges report a later first-clean time: tombstones are kept longer, never less.
        assert!(cp.first_cleaned_ms(0).unwrap() >= 100);
        assert_eq!(cp.first_cleaned_ms(395), Some(4_000));
        cp.advance(400, 5_000, 200);
        assert!(cp.cleaned_at.iter().all(|(e, _)| *e > 200));
    }

    #[test]
    fn truncation_below_the_checkpoint_drops_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut cp = Checkpoint::default();
        cp.advance(100, 1, 0);
        cp.save(dir.path()).unwrap();
        truncated(dir.path(), 150);
        assert_eq!(Checkpoint::load(dir.path()).first_dirty, 100);
        truncated(dir.path(), 50);
        assert_eq!(Checkpoint::load(dir.path()).first_dirty, 0);
    }
}
