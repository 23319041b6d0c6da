//! Unit tests of the partition log: append/read, rolls, recovery of torn tails, retention.

use super::batch::{self, BatchHeader};
use super::*;

fn cfg(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        ..LogConfig::default()
    }
}

fn append_n(log: &mut PartitionLog, n: usize, payload: usize, cfg: &LogConfig) -> Vec<i64> {
    (0..n)
        .map(|i| {
            let value = vec![b'a' + (i % 26) as u8; payload];
            let mut b = batch::build_batch(
                &[(None, Some(&value)), (None, Some(&value))],
                1_000 + i as i64,
            );
            let h = BatchHeader::parse(&b).unwrap();
            log.append(&mut b, &h, 0, cfg).unwrap()
        })
        .collect()
}

fn offsets_in(buf: &[u8]) -> Vec<i64> {
    batch::split_batches(buf)
        .unwrap()
        .iter()
        .map(|(h, _)| h.base_offset)
        .collect()
}

#[test]
fn appends_assign_consecutive_offsets_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    let c = cfg(1 << 20);
    let bases = append_n(&mut log, 5, 10, &c);
    assert_eq!(bases, vec![0, 2, 4, 6, 8]);
    assert_eq!(log.log_end_offset(), 10);
    // Fetching offset 3 returns the whole batch that contains it (base 2).
    let data = log.slice_at(3).unwrap().unwrap().read(1 << 20, 10).unwrap();
    assert_eq!(offsets_in(&data), vec![2, 4, 6, 8]);
    // The limit offset (high watermark) hides later batches.
    let data = log.slice_at(0).unwrap().unwrap().read(1 << 20, 4).unwrap();
    assert_eq!(offsets_in(&data), vec![0, 2]);
    assert!(log.slice_at(10).unwrap().is_none());
    assert!(matches!(
        log.slice_at(11),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn a_batch_larger_than_max_bytes_is_still_returned_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    append_n(&mut log, 2, 5000, &cfg(1 << 20));
    let data = log.slice_at(0).unwrap().unwrap().read(100, 100).unwrap();
    assert_eq!(offsets_in(&data), vec![0]);
}

#[test]
fn without_min_one_batch_an_oversized_first_batch_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    append_n(&mut log, 3, 500, &cfg(1 << 20));
    let slice = log.slice_at(0).unwrap().unwrap();
    assert!(slice.read_within(100, 100, false).unwrap().is_empty());
    assert!(slice.read_within(0, 100, false).unwrap().is_empty());
    // Whole batches that fit are still read; the one that does not fit is left out.
    let one = slice.read_within(1 << 20, 100, false).unwrap().len() / 3;
    let data = slice.read_within(2 * one + one / 2, 100, false).unwrap();
    assert_eq!(offsets_in(&data), vec![0, 2]);
    assert_eq!(
        offsets_in(&slice.read_within(0, 100, true).unwrap()),
        vec![0]
    );
}

#[test]
fn segments_roll_by_size_and_reads_cross_them() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    let c = cfg(600);
    append_n(&mut log, 10, 100, &c);
    assert!(log.segment_count() > 3, "segments: {}", log.segment_count());
    for off in 0..20 {
        let data = log.slice_at(off).unwrap().unwrap().read(1, 100).unwrap();
        let first = BatchHeader::parse(&data).unwrap();
        assert!(first.base_offset <= off && off <= first.last_offset());
    }
}

#[test]
fn clean_close_reopens_without_scanning() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
        append_n(&mut log, 20, 100, &cfg(1000));
        log.close().unwrap();
    }
    let (log, report) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    assert_eq!(
        report.scanned_bytes, 0,
        "a cleanly closed log needs no recovery scan"
    );
    assert_eq!(log.log_end_offset(), 40);
}

#[test]
fn torn_tail_is_truncated_and_earlier_data_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path;
    {
        let (mut log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
        append_n(&mut log, 3, 100, &cfg(1 << 20));
        path = dir.path().join(segment::file_name(0, "log"));
    }
    // Simulate a crash mid-write: half a batch of garbage at the end.
    let mut data = std::fs::read(&path).unwrap();
    let good = data.len();
    let mut torn = batch::build_batch(&[(None, Some(b"lost"))], 5);
    torn.truncate(torn.len() / 2);
    data.extend_from_slice(&torn);
    std::fs::write(&path, &data).unwrap();
    let (log, report) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(report.truncated_bytes as usize, data.len() - good);
    assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, good);
}

#[test]
fn a_corrupted_batch_truncates_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(segment::file_name(0, "log"));
    {
        let (mut log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
        append_n(&mut log, 4, 100, &cfg(1 << 20));
    }
    let mut data = std::fs::read(&path).unwrap();
    let second = BatchHeader::parse(&data).unwrap().total_len();
    data[second + 70] ^= 0xff; // inside the second batch's records
    std::fs::write(&path, &data).unwrap();
    let (log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    assert_eq!(log.log_end_offset(), 2, "only the first batch survives");
}

#[test]
fn retention_by_bytes_deletes_whole_old_segments_only_below_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    let c = LogConfig {
        segment_bytes: 600,
        retention_bytes: 800,
        ..LogConfig::default()
    };
    append_n(&mut log, 20, 100, &c);
    let before = log.segment_count();
    assert_eq!(
        log.apply_retention(crate::now_ms(), &c, 0).unwrap(),
        0,
        "nothing below hw 0"
    );
    let deleted = log
        .apply_retention(crate::now_ms(), &c, log.log_end_offset())
        .unwrap();
    assert!(deleted > 0);
    assert_eq!(log.segment_count(), before - deleted);
    assert!(
        log.size_bytes() as i64 >= 800 - 600,
        "keeps about retention.bytes"
    );
    assert!(log.log_start_offset() > 0);
    assert!(matches!(
        log.slice_at(0),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    // The log start offset survives a restart.
    let start = log.log_start_offset();
    drop(log);
    let (log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    assert_eq!(log.log_start_offset(), start);
}

#[test]
fn retention_by_time_uses_record_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    let c = LogConfig {
        segment_bytes: 600,
        retention_ms: 60_000,
        ..LogConfig::default()
    };
    append_n(&mut log, 10, 100, &c); // timestamps ~1000 ms after the epoch: long expired
    let before = log.segment_count();
    assert!(before > 2, "the appends rolled several segments");
    // Judged at a time when the records are younger than retention.ms, nothing goes.
    assert_eq!(
        log.apply_retention(2_000, &c, log.log_end_offset())
            .unwrap(),
        0
    );
    assert_eq!(log.segment_count(), before);
    let deleted = log
        .apply_retention(crate::now_ms(), &c, log.log_end_offset())
        .unwrap();
    assert_eq!(deleted, before - 1, "every sealed segment expired");
    assert_eq!(log.segment_count(), 1, "the active segment stays");
}

#[test]
fn offsets_for_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), &mut |_| {}).unwrap();
    append_n(&mut log, 5, 10, &cfg(1 << 20)); // batch i has timestamp 1000 + i
    assert_eq!(log.offset_for_timestamp(1002), Some(4));
    assert_eq!(log.offset_for_timestamp(0), Some(0));
    assert_eq!(log.offset_for_timestamp(5000), None);
    assert_eq!(log.max_timestamp(), Some((1004, 8)));
}
