//! Tests of the record validator: recompression to the topic's codec keeps everything a client
//! and the producer state rely on; keyless records on compacted topics are refused as Kafka does.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::log::batch::split_batches;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::TimestampType;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// The broker's clock in these tests; the batches' timestamps are from 2023.
const NOW: i64 = 1_700_000_100_000;

fn topic(compression: TopicCompression) -> RecordPolicy {
    RecordPolicy {
        compression,
        ..RecordPolicy::default()
    }
}

/// An idempotent producer's batch of `n` records (record 1 keyless when `keyless_second`).
fn producer_batch(compression: Compression, n: usize, keyless_second: bool) -> Vec<u8> {
    let records: Vec<Record> = (0..n)
        .map(|i| {
            let mut headers = IndexMap::new();
            headers.insert(
                StrBytes::from_static_str("h"),
                Some(Bytes::from(format!("hv{i}"))),
            );
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: 4242,
                producer_epoch: 3,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: 17 + i as i32,
                // Out of order on purpose: the max timestamp is not the last record's.
                timestamp: 1_700_000_000_000 + [5, 1, 9, 2][i % 4],
                key: (!(keyless_second && i == 1)).then(|| Bytes::from(format!("key-{i}"))),
                value: Some(Bytes::from(format!("value-{i}-").repeat(20))),
                headers,
            }
        })
        .collect();
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    out.to_vec()
}

fn header(batch: &[u8]) -> BatchHeader {
    split_batches(batch).unwrap()[0].0
}

fn records(batch: &[u8]) -> Vec<Record> {
    RecordBatchDecoder::decode(&mut Bytes::copy_from_slice(batch))
        .unwrap()
        .records
}

#[test]
fn a_batch_is_recompressed_to_the_topic_codec_keeping_producer_state_and_timestamps() {
    let targets = [
        TopicCompression::Uncompressed,
        TopicCompression::Gzip { level: 9 },
        TopicCompression::Snappy,
        TopicCompression::Lz4 { level: 1 },
        TopicCompression::Zstd { level: 7 },
    ];
    for source in CODECS {
        for target in targets {
            let sent = producer_batch(source, 10, false);
            let h = header(&sent);
            let out = validate(&sent, &h, topic(target), ("t", 0), NOW).unwrap();
            let want = target.target(source);
            let Some(stored) = out else {
                assert_eq!(want, source, "{source:?} -> {target:?} kept as sent");
                continue;
            };
            assert_ne!(want, source, "{source:?} -> {target:?} rebuilt needlessly");
            let s = header(&stored);
            assert_eq!(s.attributes & 0x07, want as i16, "{source:?} -> {target:?}");
            assert_eq!(
                (s.producer_id, s.producer_epoch, s.base_sequence),
                (h.producer_id, h.producer_epoch, h.base_sequence)
            );
            assert_eq!(s.last_offset_delta, h.last_offset_delta);
            assert_eq!(s.records_count, h.records_count);
            assert_eq!(s.max_timestamp, h.max_timestamp);
            assert_eq!(s.is_transactional(), h.is_transactional());
            let before = records(&sent);
            let after = records(&stored);
            assert_eq!(after.len(), before.len());
            for (a, b) in after.iter().zip(&before) {
                assert_eq!(
                    (
                        &a.key,
                        &a.value,
                        &a.headers,
                        a.timestamp,
                        a.offset,
                        a.sequence
                    ),
                    (
                        &b.key,
                        &b.value,
                        &b.headers,
                        b.timestamp,
                        b.offset,
                        b.sequence
                    )
                );
            }
        }
    }
}

#[test]
fn the_producer_codec_and_a_matching_codec_store_the_batch_as_sent() {
    for source in CODECS {
        let sent = producer_batch(source, 3, false);
        let h = header(&sent);
        assert!(
            validate(&sent, &h, topic(TopicCompression::Producer), ("t", 0), NOW)
                .unwrap()
                .is_none()
        );
    }
    let sent = producer_batch(Compression::Lz4, 3, false);
    let h = header(&sent);
    assert!(
        validate(
            &sent,
            &h,
            topic(TopicCompression::Lz4 { level: 9 }),
            ("t", 0),
            NOW,
        )
        .unwrap()
        .is_none()
    );
}

#[test]
fn a_non_idempotent_batch_keeps_no_sequence() {
    let mut out = BytesMut::new();
    let recs: Vec<Record> = (0..4)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: -1 + i as i32,
            timestamp: 10,
            key: None,
            value: Some(Bytes::from_static(b"v")),
            headers: IndexMap::new(),
        })
        .collect();
    RecordBatchEncoder::encode(
        &mut out,
        recs.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::Gzip,
        },
    )
    .unwrap();
    let h = header(&out);
    let stored = validate(
        &out,
        &h,
        topic(TopicCompression::Uncompressed),
        ("t", 0),
        NOW,
    )
    .unwrap()
    .unwrap();
    let s = header(&stored);
    assert_eq!(
        (s.producer_id, s.base_sequence, s.records_count),
        (-1, -1, 4)
    );
    assert_eq!(s.attributes & 0x07, 0);
}

#[test]
fn keyless_records_on_a_compacted_topic_are_refused_with_kafkas_message() {
    for source in CODECS {
        let sent = producer_batch(source, 3, true);
        let h = header(&sent);
        let policy = RecordPolicy {
            compact: true,
            ..RecordPolicy::default()
        };
        let Err(ValidationError::InvalidRecords { message, records }) =
            validate(&sent, &h, policy, ("logs", 0), NOW)
        else {
            panic!("{source:?}: a keyless record was accepted");
        };
        assert_eq!(
            records,
            vec![RecordError {
                batch_index: 1,
                message:
                    "Compacted topic cannot accept message without key in topic partition logs-0."
                        .into()
            }]
        );
        assert_eq!(
            message,
            "One or more records have been rejected due to 1 record errors in total, and only \
             showing the first three errors at most: [RecordError(batchIndex=1, \
             message='Compacted topic cannot accept message without key in topic partition \
             logs-0.')]"
        );
        // Keys everywhere: accepted (and rebuilt only if the codec differs).
        let keyed = producer_batch(source, 3, false);
        assert!(
            validate(&keyed, &header(&keyed), policy, ("logs", 0), NOW)
                .unwrap()
                .is_none()
        );
    }
    // Without compaction, keyless records are fine.
    let sent = producer_batch(Compression::None, 3, true);
    assert!(
        validate(
            &sent,
            &header(&sent),
            RecordPolicy::default(),
            ("t", 0),
            NOW
        )
        .unwrap()
        .is_none()
    );
}

#[test]
fn a_record_count_the_bytes_cannot_hold_is_corrupt_before_any_allocation() {
    let mut sent = producer_batch(Compression::Gzip, 3, false);
    // Claim two billion records and fix the CRC, as a hostile client could.
    sent[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    let crc = crc32c::crc32c(&sent[21..]);
    sent[17..21].copy_from_slice(&crc.to_be_bytes());
    let h = header(&sent);
    assert!(matches!(
        validate(
            &sent,
            &h,
            topic(TopicCompression::Uncompressed),
            ("t", 0),
            NOW
        ),
        Err(ValidationError::Corrupt(_))
    ));
    sent[57..61].copy_from_slice(&1000i32.to_be_bytes());
    let crc = crc32c::crc32c(&sent[21..]);
    sent[17..21].copy_from_slice(&crc.to_be_bytes());
    let h = header(&sent);
    assert!(matches!(
        validate(
            &sent,
            &h,
            topic(TopicCompression::Uncompressed),
            ("t", 0),
            NOW
        ),
        Err(ValidationError::Corrupt(_))
    ));
}

#[test]
fn timestamps_out_of_the_topic_bounds_are_refused_with_every_record_error() {
    let bounds = |before_ms, after_ms| RecordPolicy {
        timestamps: Some(TimestampBounds {
            before_ms,
            after_ms,
        }),
        ..RecordPolicy::default()
    };
    // Kafka 4's defaults: an hour ahead, no limit behind. The batch's records are at
    // 1_700_000_000_000 + 1, 5, 9 or 2 ms.
    let sent = producer_batch(Compression::Lz4, 4, false);
    let h = header(&sent);
    assert!(
        validate(&sent, &h, bounds(i64::MAX, 3_600_000), ("t", 0), NOW)
            .unwrap()
            .is_none()
    );
    // A clock 200 s earlier with 100 004 ms allowed ahead: the bound is +4, so the records at
    // +5 and +9 are refused.
    let earlier = NOW - 200_000;
    let Err(ValidationError::InvalidTimestamps { message, records }) =
        validate(&sent, &h, bounds(i64::MAX, 100_004), ("t", 0), earlier)
    else {
        panic!("future timestamps accepted");
    };
    assert_eq!(
        message,
        "One or more records have been rejected due to invalid timestamp"
    );
    let hi = earlier + 100_004;
    assert_eq!(
        records,
        [(0, 1_700_000_000_005_i64), (2, 1_700_000_000_009)]
            .map(|(i, ts)| RecordError {
                batch_index: i,
                message: format!(
                    "Timestamp {ts} of message with offset {i} is out of range. The timestamp \
                     should be within [{}, {hi}]",
                    earlier - i64::MAX
                ),
            })
            .to_vec()
    );
    // Behind: 99 997 ms allowed at NOW puts the bound at +3: the records at +1 and +2.
    let Err(ValidationError::InvalidTimestamps { records, .. }) =
        validate(&sent, &h, bounds(99_997, 3_600_000), ("t", 0), NOW)
    else {
        panic!("old timestamps accepted");
    };
    assert_eq!(
        records.iter().map(|r| r.batch_index).collect::<Vec<_>>(),
        vec![1, 3]
    );
    // LogAppendTime topics (no bounds) take any timestamp.
    assert!(
        validate(&sent, &h, RecordPolicy::default(), ("t", 0), 0)
            .unwrap()
            .is_none()
    );
}
