//! Unit tests of a whole cleaning pass on a real partition log: latest value per key, offsets
//! and holes, tombstone expiry, the active segment untouched, crash-safe swap recovery.

use super::*;
use crate::log::batch::{self, split_batches};
use crate::log::{LogConfig, PartitionLog};
use std::sync::Mutex;

struct Locked(Mutex<PartitionLog>);

impl CleanableLog for Locked {
    fn with_log(&self, f: &mut dyn FnMut(&mut PartitionLog)) {
        f(&mut self.0.lock().unwrap());
    }
}

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        ..LogConfig::default()
    }
}

fn put(log: &mut PartitionLog, key: &str, value: Option<&str>) -> i64 {
    let mut b = batch::build_batch(&[(Some(key.as_bytes()), value.map(str::as_bytes))], 1_000);
    let h = BatchHeader::parse(&b).unwrap();
    log.append(&mut b, &h, 0, &small_segments()).unwrap()
}

/// Every record of the log: (offset, key, value).
fn contents(log: &PartitionLog) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while let Some(slice) = log.slice_at(offset).unwrap() {
        let buf = slice.read(1 << 20, i64::MAX).unwrap();
        let batches = split_batches(&buf).unwrap();
        for (h, r) in &batches {
            for rec in filter::decode(&buf[r.clone()], h).unwrap() {
                out.push((
                    rec.offset,
                    String::from_utf8_lossy(&rec.key.unwrap()).into_owned(),
                    rec.value.map(|v| String::from_utf8_lossy(&v).into_owned()),
                ));
            }
        }
        offset = batches.last().unwrap().0.last_offset() + 1;
        if offset >= log.log_end_offset() {
            break;
        }
    }
    out
}

fn compact_cfg(delete_retention_ms: i64) -> CompactionConfig {
    CompactionConfig {
        compact: true,
        delete: false,
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms,
        ..CompactionConfig::default()
    }
}

fn run_pass(locked: &Locked, cfg: &CompactionConfig, now: i64) -> Option<PassStats> {
    let (view, hw) = {
        let l = locked.0.lock().unwrap();
        (l.cleaner_view(), l.log_end_offset())
    };
    let cp = Checkpoint::load(&view.dir);
    let pl = plan::plan(&view, &cp, cfg, hw, now, &|_| None);
    pl.reason?;
    let settings = PassSettings {
        aborted: &|_, _| false,
        compaction: *cfg,
        segment_bytes: 1 << 20,
        dedupe_buffer_bytes: 1 << 20,
        load_factor: 0.9,
        io_buffer_bytes: 4096,
        now_ms: now,
        throttle: &|_| {},
    };
    Some(clean(locked, &view, &pl, &settings).unwrap())
}

/// 30 rounds over keys k0..k4, then a tombstone for k1; the last segment stays active.
fn fill(log: &mut PartitionLog) {
    for round in 0..30 {
        for k in 0..5 {
            put(log, &format!("k{k}"), Some(&format!("v{round}")));
        }
    }
    put(log, "k1", None);
    put(log, "k4", Some("last"));
    // Enough after the tombstone that it lands in a sealed (cleanable) segment.
    for i in 0..10 {
        put(log, "k0", Some(&format!("w{i}")));
    }
}

#[test]
fn a_pass_keeps_the_latest_value_per_key_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    fill(&mut log);
    let end = log.log_end_offset();
    let segments_before = log.segment_count();
    let active_base = *log.segments.keys().next_back().unwrap();
    let locked = Locked(Mutex::new(log));
    let stats = run_pass(&locked, &compact_cfg(1_000), 10_000).unwrap();
    assert!(stats.records_removed > 100, "{stats:?}");
    assert_eq!(stats.cleaned_to, active_base);
    let log = locked.0.lock().unwrap();
    assert!(log.segment_count() < segments_before);
    assert_eq!(log.log_end_offset(), end, "the log end does not move");
    let got = contents(&log);
    // Records of the active segment are all there; below it one record per key.
    let cleaned: Vec<_> = got.iter().filter(|(o, ..)| *o < active_base).collect();
    let mut keys: Vec<&String> = cleaned.iter().map(|(_, k, _)| k).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        cleaned.len(),
        "one record per key below the active segment"
    );
    let latest = |k: &str| {
        got.iter()
            .rev()
            .find(|(_, key, _)| key == k)
            .unwrap()
            .2
            .clone()
    };
    assert_eq!(latest("k0"), Some("w9".into()));
    assert_eq!(latest("k1"), None, "the tombstone is kept for now");
    assert_eq!(latest("k4"), Some("last".into()));
    let offsets: Vec<i64> = got.iter().map(|(o, ..)| *o).collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "offsets ascend");
    // Reads from an offset inside a hole land on the next surviving batch.
    let hole = (0..end).find(|o| !offsets.contains(o)).unwrap();
    let buf = log
        .slice_at(hole)
        .unwrap()
        .unwrap()
        .read(1 << 20, i64::MAX)
        .unwrap();
    assert!(split_batches(&buf).unwrap()[0].0.base_offset > hole);
    drop(log);

    // Reopening finds the same data (cleaned segments were indexed and sealed).
    let (reopened, report) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(contents(&reopened), got);
}

#[test]
fn tombstones_go_after_delete_retention_counted_from_their_first_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    fill(&mut log);
    let locked = Locked(Mutex::new(log));
    run_pass(&locked, &compact_cfg(5_000), 10_000).unwrap();
    let cp = Checkpoint::load(dir.path());
    assert_eq!(cp.tombstone_expiry_ms, 15_000);
    // Not yet due: nothing dirty, tombstone not expired.
    assert!(
        run_pass(
            &locked,
            &CompactionConfig {
                min_cleanable_dirty_ratio: 0.5,
                ..compact_cfg(5_000)
            },
            12_000
        )
        .is_none()
    );
    let has_tombstone = |l: &Locked| {
        contents(&l.0.lock().unwrap())
            .iter()
            .any(|(_, k, v)| k == "k1" && v.is_none())
    };
    assert!(has_tombstone(&locked));
    let stats = run_pass(
        &locked,
        &CompactionConfig {
            min_cleanable_dirty_ratio: 0.5,
            ..compact_cfg(5_000)
        },
        15_000,
    )
    .unwrap();
    assert!(stats.records_removed >= 1);
    assert!(!has_tombstone(&locked), "the tombstone is gone");
    assert!(
        !contents(&locked.0.lock().unwrap())
            .iter()
            .any(|(_, k, _)| k == "k1"),
        "and no older value of k1 came back"
    );
    assert_eq!(Checkpoint::load(dir.path()).tombstone_expiry_ms, -1);
}

#[test]
fn idempotent_producer_state_survives_cleaning_and_a_restart() {
    use crate::partition::producer_state::{ProducerStateTable, SequenceCheck};
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    // Producer 9 writes k0 many times, then non-idempotent writes supersede its keys.
    for (seq, i) in (0..20).enumerate() {
        let mut b = batch::build_batch(&[(Some(b"k0"), Some(format!("p{i}").as_bytes()))], 1);
        // Producer fields: id 9, epoch 0, base sequence `seq` (not CRC-relevant to rebuild here:
        // patch and recompute the CRC).
        b[43..51].copy_from_slice(&9i64.to_be_bytes());
        b[51..53].copy_from_slice(&0i16.to_be_bytes());
        b[53..57].copy_from_slice(&(i32::try_from(seq).unwrap()).to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        let h = BatchHeader::parse(&b).unwrap();
        log.append(&mut b, &h, 0, &small_segments()).unwrap();
    }
    for _ in 0..30 {
        put(&mut log, "k0", Some("plain"));
    }
    let locked = Locked(Mutex::new(log));
    run_pass(&locked, &compact_cfg(1_000), 10_000).unwrap();
    let log = locked.0.lock().unwrap();
    let mut table = ProducerStateTable::default();
    log.replay_headers(0, &mut |h| table.update(h)).unwrap();
    // The next batch of producer 9 (sequence 20) is accepted, a replay of sequence 19 is a
    // duplicate, as before cleaning.
    let mut next = batch::build_batch(&[(Some(b"k0"), Some(b"again"))], 1);
    next[43..51].copy_from_slice(&9i64.to_be_bytes());
    next[51..53].copy_from_slice(&0i16.to_be_bytes());
    next[53..57].copy_from_slice(&20i32.to_be_bytes());
    let h = BatchHeader::parse(&next).unwrap();
    assert_eq!(table.check(&h), SequenceCheck::Append);
    next[53..57].copy_from_slice(&21i32.to_be_bytes());
    let gap = BatchHeader::parse(&next).unwrap();
    assert!(matches!(table.check(&gap), SequenceCheck::Reject(_)));
}

/// Runs a pass, then rewinds the directory to a half-done swap at `step` and checks that
/// opening the log recovers every key's latest value.
fn crash_at(step: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    fill(&mut log);
    log.close().unwrap();
    let expected = {
        let mut m = std::collections::BTreeMap::new();
        for (_, k, v) in contents(&log) {
            m.insert(k, v);
        }
        m
    };
    // Keep the old files, clean, then lay the old and new files side by side as a crash at
    // `step` would leave them.
    let before = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), before.path().join(e.file_name())).unwrap();
    }
    let locked = Locked(Mutex::new(log));
    run_pass(&locked, &compact_cfg(1_000), 10_000).unwrap();
    let cleaned_base = 0i64;
    let cleaned_end = Checkpoint::load(dir.path()).first_dirty;
    drop(locked);
    let new_log = dir
        .path()
        .join(crate::log::segment::file_name(cleaned_base, "log"));
    let new_bytes = std::fs::read(&new_log).unwrap();
    // Restore the old directory, then add the step's artefact.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    for e in std::fs::read_dir(before.path()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    match step {
        "cleaned" => {
            std::fs::write(swap::cleaned_path(dir.path(), cleaned_base), &new_bytes).unwrap();
        }
        "swap" | "deleted" => {
            let swap = dir
                .path()
                .join(format!("{cleaned_base:020}.{cleaned_end:020}.swap"));
            std::fs::write(&swap, &new_bytes).unwrap();
            if step == "deleted" {
                for e in std::fs::read_dir(dir.path()).unwrap() {
                    let name = e.unwrap().file_name().into_string().unwrap();
                    let base: Option<i64> = name.split('.').next().and_then(|b| b.parse().ok());
                    if !name.ends_with(".swap") && base.is_some_and(|b| b < cleaned_end) {
                        std::fs::remove_file(dir.path().join(&name)).unwrap();
                    }
                }
            }
        }
        _ => unreachable!(),
    }
    let (log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    let mut got = std::collections::BTreeMap::new();
    for (_, k, v) in contents(&log) {
        got.insert(k, v);
    }
    assert_eq!(got, expected, "crash at {step}");
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".swap") || n.ends_with(".cleaned"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    if step != "cleaned" {
        assert!(log.segment_count() < 10, "the swap was completed");
    }
}

#[test]
fn a_crash_after_writing_the_cleaned_copy_discards_it() {
    crash_at("cleaned");
}

#[test]
fn a_crash_after_the_swap_rename_completes_the_swap() {
    crash_at("swap");
}

#[test]
fn a_crash_after_deleting_the_old_segments_completes_the_swap() {
    crash_at("deleted");
}

/// A transactional batch of one record from producer `pid` (epoch 0, sequence `seq`).
fn put_txn(log: &mut PartitionLog, pid: i64, seq: i32, key: &str, value: &str) {
    let mut b = batch::build_batch(&[(Some(key.as_bytes()), Some(value.as_bytes()))], 1_000);
    let attrs = i16::from_be_bytes([b[21], b[22]]) | 0x10;
    b[21..23].copy_from_slice(&attrs.to_be_bytes());
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&0i16.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    let h = BatchHeader::parse(&b).unwrap();
    log.append(&mut b, &h, 0, &small_segments()).unwrap();
}

fn put_marker(log: &mut PartitionLog, pid: i64) {
    let mut b = crate::log::control_batch::marker_batch(pid, 0, true, 0, 1_000);
    let h = BatchHeader::parse(&b).unwrap();
    log.append(&mut b, &h, 0, &small_segments()).unwrap();
}

/// The base offsets of the control batches of producer `pid` in the log.
fn markers_of(log: &PartitionLog, pid: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let Some(slice) = log.slice_at(offset).unwrap() else {
            break;
        };
        let buf = slice.read(1 << 20, i64::MAX).unwrap();
        let batches = split_batches(&buf).unwrap();
        let Some(last) = batches.last() else { break };
        for (h, _) in &batches {
            if h.is_control() && h.producer_id == pid {
                out.push(h.base_offset);
            }
        }
        offset = last.0.last_offset() + 1;
    }
    out
}

#[test]
fn an_obsolete_transaction_marker_goes_after_delete_retention_and_a_needed_one_stays() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    // Producer 7's transaction writes k0, later superseded: its marker becomes obsolete.
    put_txn(&mut log, 7, 0, "k0", "t7");
    put_marker(&mut log, 7);
    // Producer 8's transaction writes k9, never superseded: its marker must stay.
    put_txn(&mut log, 8, 0, "k9", "t8");
    put_marker(&mut log, 8);
    for i in 0..20 {
        put(&mut log, "k0", Some(&format!("plain{i}")));
    }
    // Producer 7 and 8 write again later, so neither first marker is its producer's last batch.
    put_txn(&mut log, 7, 1, "k1", "again7");
    put_marker(&mut log, 7);
    put_txn(&mut log, 8, 1, "k2", "again8");
    put_marker(&mut log, 8);
    for i in 0..10 {
        put(&mut log, "k3", Some(&format!("tail{i}")));
    }
    let (first7, first8) = (markers_of(&log, 7)[0], markers_of(&log, 8)[0]);
    let locked = Locked(Mutex::new(log));
    // First clean: the superseded record goes, the markers stay until delete.retention.ms.
    run_pass(&locked, &compact_cfg(5_000), 10_000).unwrap();
    {
        let l = locked.0.lock().unwrap();
        assert!(markers_of(&l, 7).contains(&first7));
        assert!(
            !contents(&l)
                .iter()
                .any(|(_, _, v)| v.as_deref() == Some("t7"))
        );
    }
    // After the horizon, the next pass (new dirty records make one due) removes the obsolete
    // marker; the one whose record is kept stays, and so does each producer's last marker.
    {
        let mut l = locked.0.lock().unwrap();
        for i in 0..10 {
            put(&mut l, "k3", Some(&format!("more{i}")));
        }
    }
    run_pass(&locked, &compact_cfg(5_000), 20_000).unwrap();
    let l = locked.0.lock().unwrap();
    let (m7, m8) = (markers_of(&l, 7), markers_of(&l, 8));
    assert!(!m7.contains(&first7), "the obsolete marker is gone: {m7:?}");
    assert!(
        m8.contains(&first8),
        "a marker of a kept record stays: {m8:?}"
    );
    assert_eq!(m7.len(), 1, "producer 7's last marker stays");
    assert!(
        contents(&l)
            .iter()
            .any(|(_, _, v)| v.as_deref() == Some("t8"))
    );
}
