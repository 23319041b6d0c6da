//! Crash-safe replacement of cleaned segments, as Kafka's `replaceSegments`:
//!
//! 1. the cleaned copy of segments `[base, end)` is written to `<base>.cleaned` and fsynced;
//! 2. it is renamed to `<base>.<end>.swap` (the commit point: from here recovery finishes the
//!    swap, before it recovery throws the copy away);
//! 3. the old segments' files are deleted;
//! 4. the swap file is renamed to `<base>.log` and indexed.
//!
//! On start-up `recover` runs before the segments are listed: `.cleaned` files are deleted and
//! every `.swap` file is completed (step 3 then 4). Each step fsyncs the directory.
//!
//! Tests pause the cleaner at a step with `EDDY_CLEANER_TEST_PAUSE_AT=cleaned|swap|deleted`
//! (it then writes `cleaner-paused-<step>` in the partition directory and waits), so a kill -9
//! can land exactly there: a fault no client can cause.

use super::SegmentView;
use crate::log::segment::{self, Segment};
use crate::log::{LogError, PartitionLog, io_err};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The environment variable of the test hook.
pub const PAUSE_ENV: &str = "EDDY_CLEANER_TEST_PAUSE_AT";

pub fn cleaned_path(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{base:020}.cleaned"))
}

fn swap_path(dir: &Path, base: i64, end: i64) -> PathBuf {
    dir.join(format!("{base:020}.{end:020}.swap"))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Test hook: waits (at most ten minutes) when the environment asks to pause at `step`.
pub fn pause_point(dir: &Path, step: &str) {
    if std::env::var(PAUSE_ENV).ok().as_deref() != Some(step) {
        return;
    }
    let marker = dir.join(format!("cleaner-paused-{step}"));
    if let Err(e) = std::fs::write(&marker, b"") {
        tracing::warn!(error = %e, "writing the cleaner pause marker failed");
    }
    tracing::warn!(step, "cleaner paused by {PAUSE_ENV}");
    for _ in 0..600 {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// The files of the segment at `base`.
fn segment_files(dir: &Path, base: i64) -> [PathBuf; 4] {
    ["sealed", "index", "timeindex", "log"].map(|ext| dir.join(segment::file_name(base, ext)))
}

fn remove_if_present(p: &Path) -> io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Start-up: discards unfinished cleaned copies and completes committed swaps. Returns how
/// many swaps were completed.
pub fn recover(dir: &Path) -> io::Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    let mut completed = 0;
    for name in &names {
        if name.ends_with(".cleaned") {
            std::fs::remove_file(dir.join(name))?;
            tracing::info!(file = %name, "discarded an unfinished cleaned segment");
        }
    }
    let bases: Vec<i64> = names
        .iter()
        .filter_map(|n| n.strip_suffix(".log")?.parse().ok())
        .collect();
    for name in &names {
        let Some(stem) = name.strip_suffix(".swap") else {
            continue;
        };
        let Some((base, end)) = stem
            .split_once('.')
            .and_then(|(b, e)| Some((b.parse::<i64>().ok()?, e.parse::<i64>().ok()?)))
        else {
            continue;
        };
        for old in bases.iter().filter(|b| (base..end).contains(*b)) {
            for f in segment_files(dir, *old) {
                remove_if_present(&f)?;
            }
        }
        sync_dir(dir)?;
        std::fs::rename(dir.join(name), dir.join(segment::file_name(base, "log")))?;
        sync_dir(dir)?;
        completed += 1;
        tracing::info!(base, end, "completed an interrupted cleaner swap");
    }
    Ok(completed)
}

impl PartitionLog {
    /// Replaces `sources` (consecutive segments, none active) with the cleaned copy at
    /// `cleaned`, whose segment is based at `sources[0].base` and covers offsets up to `end`.
    /// False (and nothing changed) when the log moved on meanwhile: a source segment was
    /// deleted, truncated or replaced.
    pub(crate) fn swap_cleaned(
        &mut self,
        sources: &[SegmentView],
        cleaned: &Path,
        end: i64,
    ) -> Result<bool, LogError> {
        let Some(first) = sources.first() else {
            return Ok(false);
        };
        let active_base = self.segments.keys().next_back().copied().unwrap_or(0);
        let unchanged = sources.iter().all(|v| {
            v.base < active_base
                && self.segments.get(&v.base).is_some_and(|s| {
                    s.sealed && s.size() == v.size && Arc::ptr_eq(&s.reader(), &v.file)
                })
        });
        if !unchanged {
            return Ok(false);
        }
        let dir = self.dir.clone();
        let base = first.base;
        let swap = swap_path(&dir, base, end);
        std::fs::rename(cleaned, &swap).map_err(io_err("renaming the cleaned segment"))?;
        sync_dir(&dir).map_err(io_err("syncing the swap"))?;
        pause_point(&dir, "swap");
        for v in sources {
            if let Some(seg) = self.segments.remove(&v.base) {
                seg.delete()
                    .map_err(io_err("deleting a cleaned source segment"))?;
            }
        }
        sync_dir(&dir).map_err(io_err("syncing the deletes"))?;
        pause_point(&dir, "deleted");
        std::fs::rename(&swap, dir.join(segment::file_name(base, "log")))
            .map_err(io_err("renaming the swap segment"))?;
        sync_dir(&dir).map_err(io_err("syncing the swapped segment"))?;
        let (mut seg, _) = Segment::open(&dir, base, false, &mut |_| {})
            .map_err(io_err("indexing the cleaned segment"))?;
        seg.seal().map_err(io_err("sealing the cleaned segment"))?;
        self.segments.insert(base, seg);
        Ok(true)
    }
}
