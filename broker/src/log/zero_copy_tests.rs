//! Unit tests of file regions: a placeholder stands for exactly the batches an ordinary read
//! returns, resolves back to its region, and never passes for anything else.

use super::*;
use crate::log::batch::{self, BatchHeader};
use crate::log::{LogConfig, PartitionLog};

const SHARE: usize = 16 << 10;

/// A log of `n` batches of two `payload`-byte records each.
fn log_of(dir: &std::path::Path, n: usize, payload: usize) -> PartitionLog {
    let (mut log, _) = PartitionLog::open(dir, &mut |_| {}).unwrap();
    let cfg = LogConfig::default();
    for i in 0..n {
        let value = vec![b'a' + (i % 26) as u8; payload];
        let mut b = batch::build_batch(&[(None, Some(&value)), (None, Some(&value))], i as i64);
        let h = BatchHeader::parse(&b).unwrap();
        log.append(&mut b, &h, 0, &cfg).unwrap();
    }
    log
}

/// Reads from `offset` (limit offset 100, one batch at least), placing what it can.
fn place(log: &PartitionLog, offset: i64, max: usize, regions: &mut Regions) -> Bytes {
    let slice = log.slice_at(offset).unwrap().unwrap();
    slice.read_or_place(max, 100, true, regions).unwrap()
}

/// The bytes a read returned: the placeholder's region read back, or the bytes themselves.
fn materialize(bytes: Bytes, regions: Regions) -> Bytes {
    let pieces = regions.resolve(vec![bytes]).unwrap();
    assert_eq!(pieces.len(), 1);
    pieces[0].to_bytes().unwrap()
}

#[test]
fn a_placeholder_stands_for_exactly_what_an_ordinary_read_returns() {
    let dir = tempfile::tempdir().unwrap();
    // 20 batches of about 10 KB: large enough to be sent from the file.
    let log = log_of(dir.path(), 20, 5_000);
    let end = log.log_end_offset();
    let mut placed = 0;
    for offset in [0, 1, 7, 20, 38] {
        let slice = log.slice_at(offset).unwrap().unwrap();
        for max in [0, 100, 10_000, 25_000, 64 << 10, 1 << 20] {
            for limit in [2, 9, 30, end] {
                for min_one in [false, true] {
                    let ordinary = slice.read_within(max, limit, min_one).unwrap();
                    let mut regions = Regions::new(SHARE);
                    let got = slice
                        .read_or_place(max, limit, min_one, &mut regions)
                        .unwrap();
                    assert_eq!(
                        got.len(),
                        ordinary.len(),
                        "{offset} {max} {limit} {min_one}"
                    );
                    if !regions.is_empty() {
                        placed += 1;
                        assert!(got.iter().all(|b| *b == 0), "a placeholder is zeros");
                    }
                    let back = materialize(got, regions);
                    assert_eq!(back, ordinary, "{offset} {max} {limit} {min_one}");
                }
            }
        }
    }
    assert!(placed > 20, "regions were used: {placed}");
}

#[test]
fn small_batches_and_short_reads_are_read_into_memory() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), 50, 500);
    let slice = log.slice_at(0).unwrap().unwrap();
    let mut regions = Regions::new(SHARE);
    let got = slice
        .read_or_place(1 << 20, 100, true, &mut regions)
        .unwrap();
    assert!(regions.is_empty(), "batches of about 1 KB are copied");
    assert_eq!(got, slice.read_within(1 << 20, 100, true).unwrap());

    let big = tempfile::tempdir().unwrap();
    let log = log_of(big.path(), 3, 5_000);
    let slice = log.slice_at(0).unwrap().unwrap();
    let got = slice
        .read_or_place(12_000, 100, true, &mut regions)
        .unwrap();
    assert!(
        regions.is_empty(),
        "one 10 KB batch is below the share threshold"
    );
    assert_eq!(got, slice.read_within(12_000, 100, true).unwrap());
}

#[test]
fn placeholders_resolve_by_address_among_other_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), 10, 5_000);
    let mut regions = Regions::new(SHARE);
    let a = place(&log, 0, 30_000, &mut regions);
    let b = place(&log, 6, 1 << 20, &mut regions);
    assert_eq!(regions.len(), 2);
    let head = Bytes::from_static(b"head");
    // Out of order, and with the first one dropped: each still finds its own region.
    let pieces = regions
        .resolve(vec![head.clone(), b.clone(), head.clone()])
        .unwrap();
    assert!(matches!(&pieces[0], Piece::Memory(h) if *h == head));
    let Piece::File(r) = &pieces[1] else {
        panic!("{:?}", pieces[1])
    };
    assert_eq!(r.len(), b.len());
    let whole = log
        .slice_at(0)
        .unwrap()
        .unwrap()
        .read(1 << 20, 100)
        .unwrap();
    assert_eq!(r.read().unwrap(), whole.slice(whole.len() - b.len()..));
    assert!(a.len() < 30_000);
}

#[test]
fn a_cut_placeholder_is_refused_rather_than_sent_as_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), 10, 5_000);
    let mut regions = Regions::new(SHARE);
    let p = place(&log, 0, 1 << 20, &mut regions);
    assert_eq!(regions.len(), 1);
    let err = regions.resolve(vec![p.slice(0..p.len() - 1)]).unwrap_err();
    assert!(err.contains("not the placeholder"), "{err}");
}
