//! Unit tests of batch filtering: latest value per key, tombstones, producer state traces.

use super::*;
use crate::log::batch::{build_batch, split_batches, stamp};

fn batch_at(base: i64, records: &[crate::log::batch::KeyValue<'_>]) -> (Vec<u8>, BatchHeader) {
    let mut b = build_batch(records, 1_000);
    stamp(&mut b, base, 3);
    let h = BatchHeader::parse(&b).unwrap();
    (b.to_vec(), h)
}

/// An idempotent producer's batch: producer id 7, epoch 1, base sequence `seq`.
fn idempotent_batch(base: i64, seq: i32, records: &[(&[u8], &[u8])]) -> (Vec<u8>, BatchHeader) {
    producer_batch(base, seq, records, false)
}

/// Producer 7's batch (epoch 1, base sequence `seq`), transactional or not.
fn producer_batch(
    base: i64,
    seq: i32,
    records: &[(&[u8], &[u8])],
    transactional: bool,
) -> (Vec<u8>, BatchHeader) {
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional,
            control: false,
            partition_leader_epoch: 2,
            producer_id: 7,
            producer_epoch: 1,
            timestamp_type: kafka_protocol::records::TimestampType::Creation,
            offset: base + i as i64,
            sequence: seq + i as i32,
            timestamp: 5_000,
            key: Some(Bytes::copy_from_slice(k)),
            value: Some(Bytes::copy_from_slice(v)),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &recs,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    let h = BatchHeader::parse(&buf).unwrap();
    (buf.to_vec(), h)
}

fn kv(out: &[u8]) -> Vec<(i64, Option<String>, Option<String>)> {
    let mut v = Vec::new();
    for (h, r) in split_batches(out).unwrap() {
        for rec in decode(&out[r], &h).unwrap() {
            v.push((
                rec.offset,
                rec.key.map(|k| String::from_utf8_lossy(&k).into_owned()),
                rec.value.map(|k| String::from_utf8_lossy(&k).into_owned()),
            ));
        }
    }
    v
}

fn never(_: i64) -> bool {
    false
}

#[test]
fn superseded_and_keyless_records_go_and_offsets_stay() {
    let mut map = OffsetMap::with_buffer(1 << 20, 0.9);
    map.put(b"a", 12);
    map.put(b"b", 1);
    let last = HashMap::new();
    let rules = RetainRules {
        aborted: &|_, _| false,
        map: &map,
        last_batch_of: &last,
        tombstone_expired: &never,
        keep_trace_at: -1,
    };
    let (b, h) = batch_at(
        0,
        &[
            (Some(b"a"), Some(b"a0")),
            (Some(b"b"), Some(b"b1")),
            (None, Some(b"keyless")),
            (Some(b"c"), Some(b"c3")),
        ],
    );
    let mut out = Vec::new();
    let o = filter_batch(&b, &h, &rules, &mut out).unwrap();
    assert_eq!(o.records_kept, 2);
    assert_eq!(o.records_removed, 2);
    assert_eq!(
        kv(&out),
        vec![
            (1, Some("b".into()), Some("b1".into())),
            (3, Some("c".into()), Some("c3".into()))
        ]
    );
    let (rh, _) = split_batches(&out).unwrap()[0].clone();
    assert_eq!(rh.base_offset, 1, "surviving records keep their offsets");
    assert_eq!(rh.base_sequence, -1);
    assert_eq!(rh.leader_epoch, 3);
}

#[test]
fn a_batch_that_keeps_everything_is_copied_byte_for_byte() {
    let map = OffsetMap::with_buffer(1 << 20, 0.9);
    let last = HashMap::new();
    let rules = RetainRules {
        aborted: &|_, _| false,
        map: &map,
        last_batch_of: &last,
        tombstone_expired: &never,
        keep_trace_at: -1,
    };
    let (b, h) = batch_at(40, &[(Some(b"x"), Some(b"1")), (Some(b"y"), None)]);
    let mut out = Vec::new();
    let o = filter_batch(&b, &h, &rules, &mut out).unwrap();
    assert_eq!(out, b);
    assert_eq!(o.first_tombstone_kept, Some(41));
}

#[test]
fn expired_tombstones_go_unexpired_stay() {
    let map = OffsetMap::with_buffer(1 << 20, 0.9);
    let last = HashMap::new();
    let expired = |o: i64| o < 41;
    let rules = RetainRules {
        aborted: &|_, _| false,
        map: &map,
        last_batch_of: &last,
        tombstone_expired: &expired,
        keep_trace_at: -1,
    };
    let (b, h) = batch_at(40, &[(Some(b"x"), None), (Some(b"y"), None)]);
    let mut out = Vec::new();
    filter_batch(&b, &h, &rules, &mut out).unwrap();
    assert_eq!(kv(&out), vec![(41, Some("y".into()), None)]);
}

#[test]
fn a_producers_last_batch_leaves_its_sequence_state() {
    let mut map = OffsetMap::with_buffer(1 << 20, 0.9);
    // Every key of the batch is superseded later in the log.
    map.put(b"k1", 100);
    map.put(b"k2", 100);
    map.put(b"k3", 100);
    let (b, h) = idempotent_batch(10, 20, &[(b"k1", b"v"), (b"k2", b"v"), (b"k3", b"v")]);
    let mut last = HashMap::new();
    let rules = RetainRules {
        aborted: &|_, _| false,
        map: &map,
        last_batch_of: &last,
        tombstone_expired: &never,
        keep_trace_at: -1,
    };
    let mut out = Vec::new();
    filter_batch(&b, &h, &rules, &mut out).unwrap();
    assert!(
        out.is_empty(),
        "not the producer's last batch: dropped whole"
    );

    last.insert(7, h.last_offset());
    let rules = RetainRules {
        aborted: &|_, _| false,
        map: &map,
        last_batch_of: &last,
        tombstone_expired: &never,
        keep_trace_at: -1,
    };
    filter_batch(&b, &h, &rules, &mut out).unwrap();
    let batches = split_batches(&out).unwrap();
    assert_eq!(batches.len(), 1);
    let e = batches[0].0;
    assert_eq!(e.records_count, 0);
    assert_eq!((e.base_offset, e.last_offset()), (10, 12));
    assert_eq!((e.producer_id, e.producer_epoch), (7, 1));
    assert_eq!((e.base_sequence, e.last_sequence()), (20, 22));

    // Only the middle record survives: it keeps its sequence, and an empty batch carries the
    // producer to its original last offset and sequence.
    let mut map = OffsetMap::with_buffer(1 << 20, 0.9);
    map.put(b"k1", 100);
    map.put(b"k3", 100);
    let rules = RetainRules {
        aborted: &|_, _| false,
        map: &map,
        last_batch_of: &last,
        tombstone_expired: &never,
        keep_trace_at: -1,
    };
    let mut out = Vec::new();
    filter_batch(&b, &h, &rules, &mut out).unwrap();
    let batches = split_batches(&out).unwrap();
    assert_eq!(batches.len(), 2);
    let (kept, tail) = (batches[0].0, batches[1].0);
    assert_eq!((kept.base_offset, kept.last_offset()), (11, 11));
    assert_eq!(kept.base_sequence, 21);
    assert_eq!(kept.producer_id, 7);
    assert_eq!((tail.base_offset, tail.last_offset()), (12, 12));
    assert_eq!(tail.last_sequence(), 22);
    assert_eq!(kv(&out), vec![(11, Some("k2".into()), Some("v".into()))]);
}

#[test]
fn control_batches_are_kept_whole() {
    let map = OffsetMap::with_buffer(1 << 20, 0.9);
    let last = HashMap::new();
    let rules = RetainRules {
        aborted: &|_, _| false,
        map: &map,
        last_batch_of: &last,
        tombstone_expired: &|_| true,
        keep_trace_at: -1,
    };
    let (mut b, _) = batch_at(
        5,
        &[(Some(b"\x00\x00\x00\x01"), Some(b"\x00\x00\x00\x00\x00\x00"))],
    );
    // Mark it a control batch (attributes bit 5) and fix the CRC.
    let attrs = (i16::from_be_bytes([b[21], b[22]]) | 0x20).to_be_bytes();
    b[21..23].copy_from_slice(&attrs);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    let h = BatchHeader::parse(&b).unwrap();
    let mut out = Vec::new();
    filter_batch(&b, &h, &rules, &mut out).unwrap();
    assert_eq!(out, b);
}

#[test]
fn compressed_batches_are_recompressed_with_their_codec() {
    let mut map = OffsetMap::with_buffer(1 << 20, 0.9);
    map.put(b"a", 9);
    let last = HashMap::new();
    let rules = RetainRules {
        aborted: &|_, _| false,
        map: &map,
        last_batch_of: &last,
        tombstone_expired: &never,
        keep_trace_at: -1,
    };
    let recs: Vec<Record> = (0..3)
        .map(|i| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: kafka_protocol::records::TimestampType::Creation,
            offset: i,
            sequence: i as i32 - 1,
            timestamp: 1,
            key: Some(Bytes::from(if i == 0 { "a" } else { "b" })),
            value: Some(Bytes::from(format!("v{i}"))),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &recs,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::Gzip,
        },
    )
    .unwrap();
    let h = BatchHeader::parse(&buf).unwrap();
    let mut out = Vec::new();
    filter_batch(&buf, &h, &rules, &mut out).unwrap();
    let (rh, _) = split_batches(&out).unwrap()[0].clone();
    assert_eq!(rh.attributes & 0x07, 1, "still gzip");
    assert_eq!(
        kv(&out),
        vec![
            (1, Some("b".into()), Some("v1".into())),
            (2, Some("b".into()), Some("v2".into()))
        ]
    );
}

#[test]
fn the_batch_before_the_uncleaned_part_leaves_a_trace() {
    let mut map = OffsetMap::with_buffer(1 << 20, 0.9);
    map.put(b"a", 50);
    let last = HashMap::new();
    let rules = RetainRules {
        aborted: &|_, _| false,
        map: &map,
        last_batch_of: &last,
        tombstone_expired: &never,
        keep_trace_at: 21,
    };
    let (b, h) = batch_at(20, &[(Some(b"a"), Some(b"1")), (Some(b"a"), Some(b"2"))]);
    let mut out = Vec::new();
    filter_batch(&b, &h, &rules, &mut out).unwrap();
    let batches = split_batches(&out).unwrap();
    assert_eq!(batches.len(), 1);
    let e = batches[0].0;
    assert_eq!(
        (e.records_count, e.base_offset, e.last_offset()),
        (0, 20, 21)
    );
    assert_eq!((e.producer_id, e.base_sequence), (-1, -1));
}

#[test]
fn an_aborted_transactions_records_go_and_its_marker_stays() {
    let map = OffsetMap::with_buffer(1 << 20, 0.9);
    // Producer 7's last batch is later in the log: no trace needed here.
    let last = HashMap::from([(7, 99)]);
    let in_aborted = |pid: i64, offset: i64| pid == 7 && (0..=5).contains(&offset);
    let rules = RetainRules {
        aborted: &in_aborted,
        map: &map,
        last_batch_of: &last,
        tombstone_expired: &never,
        keep_trace_at: -1,
    };
    let (b, h) = producer_batch(0, 0, &[(b"k", b"aborted"), (b"j", b"aborted")], true);
    assert!(h.is_transactional());
    let mut out = Vec::new();
    let o = filter_batch(&b, &h, &rules, &mut out).unwrap();
    assert_eq!((o.records_kept, o.records_removed), (0, 2));
    assert!(out.is_empty());
    // A committed transaction's batch of the same producer outside the range stays.
    let (c, h) = producer_batch(10, 2, &[(b"k", b"committed")], true);
    let o = filter_batch(&c, &h, &rules, &mut out).unwrap();
    assert_eq!(o.records_kept, 1);
    // The marker is kept whole.
    let marker = crate::log::control_batch::marker_batch(7, 1, false, 0, 1);
    let h = BatchHeader::parse(&marker).unwrap();
    let mut out = Vec::new();
    filter_batch(&marker, &h, &rules, &mut out).unwrap();
    assert_eq!(out, marker.to_vec());
}

#[test]
fn a_marker_goes_only_when_obsolete_past_its_horizon_and_not_its_producers_last() {
    assert!(marker_removable(true, false, true, false));
    assert!(
        !marker_removable(false, false, true, false),
        "untracked pass"
    );
    assert!(
        !marker_removable(true, true, true, false),
        "a batch of it is kept"
    );
    assert!(
        !marker_removable(true, false, false, false),
        "before the horizon"
    );
    assert!(
        !marker_removable(true, false, true, true),
        "the producer's last batch"
    );
}
