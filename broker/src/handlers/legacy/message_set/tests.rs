//! Round trips, golden bytes and property tests of the v0/v1 message-set codec and conversions.
#![allow(clippy::unwrap_used)]
use super::compression::*;
use super::convert::*;
use super::decode::*;
use super::encode::*;
use super::*;
use bytes::BytesMut;
use kafka_protocol::error::ResponseError;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use proptest::prelude::*;

fn msg(offset: i64, ts: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> Message {
    Message {
        offset,
        timestamp: ts,
        log_append_time: false,
        key: key.map(Bytes::copy_from_slice),
        value: value.map(Bytes::copy_from_slice),
    }
}

const CODECS: [Compression; 4] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
];

#[test]
fn a_known_magic_0_message_has_kafkas_crc() {
    // Offset 0, key null, value "a": the CRC Kafka's own encoder writes for this message.
    let set = encode(&[msg(0, -1, None, Some(b"a"))], 0, Compression::None).unwrap();
    let body = &set[16..];
    assert_eq!(
        &set[12..16],
        &crc32_ieee_reference(body).to_be_bytes(),
        "CRC-32 (IEEE) over magic..value"
    );
    assert_eq!(set.len(), 12 + 4 + 1 + 1 + 4 + 4 + 1);
}

/// Bitwise CRC-32 (IEEE, reflected 0xEDB88320), independent of the table-driven one.
fn crc32_ieee_reference(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn a_corrupted_crc_is_rejected_with_corrupt_message() {
    let set = encode(&[msg(0, 5, Some(b"k"), Some(b"v"))], 1, Compression::None).unwrap();
    let mut bad = set.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    let err = parse(Bytes::from(bad)).unwrap_err();
    assert!(matches!(err, FormatError::Crc { .. }), "{err}");
    assert_eq!(err.response_error(), ResponseError::CorruptMessage);
    let err = up_convert(Bytes::from(set[..set.len() - 1].to_vec())).unwrap_err();
    assert_eq!(err.response_error(), ResponseError::CorruptMessage, "{err}");
}

#[test]
fn a_corrupted_inner_crc_inside_a_wrapper_is_rejected() {
    // Build the wrapper by hand from a damaged inner set.
    let inner = encode(&[msg(0, 7, None, Some(b"x"))], 1, Compression::None).unwrap();
    let mut inner = inner.to_vec();
    let last = inner.len() - 1;
    inner[last] ^= 0xff;
    let gz = compress(Compression::Gzip, &inner).unwrap();
    let mut set = BytesMut::new();
    put_message(&mut set, 0, 1, 1, 7, None, Some(&gz));
    let err = parse(set.freeze()).unwrap_err();
    assert!(matches!(err, FormatError::Crc { .. }), "{err}");
}

/// A wrapper that inflates beyond the limit is refused without allocating it: a snappy
/// block whose header claims 2^32-1 bytes, and a gzip stream of zeros.
#[test]
fn wrappers_inflating_beyond_the_limit_are_refused() {
    let mut set = BytesMut::new();
    put_message(
        &mut set,
        0,
        1,
        2,
        0,
        None,
        Some(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0]),
    );
    let err = parse(set.freeze()).unwrap_err();
    assert_eq!(err.response_error(), ResponseError::CorruptMessage, "{err}");
    assert!(err.to_string().contains("beyond"), "{err}");
    let zeros = vec![0u8; MAX_INFLATED + 1];
    let gz = compress(Compression::Gzip, &zeros).unwrap();
    assert!(gz.len() < MAX_INFLATED / 100);
    let mut set = BytesMut::new();
    put_message(&mut set, 0, 1, 1, 0, None, Some(&gz));
    let err = parse(set.freeze()).unwrap_err();
    assert!(err.to_string().contains("beyond"), "{err}");
}

#[test]
fn zstd_and_unknown_codecs_are_refused_like_kafka() {
    let mut set = BytesMut::new();
    put_message(&mut set, 0, 1, 4, 0, None, Some(b"zz"));
    assert_eq!(
        parse(set.freeze()).unwrap_err().response_error(),
        ResponseError::UnsupportedCompressionType
    );
    let mut set = BytesMut::new();
    put_message(&mut set, 0, 1, 6, 0, None, Some(b"zz"));
    assert_eq!(
        parse(set.freeze()).unwrap_err().response_error(),
        ResponseError::CorruptMessage
    );
}

#[test]
fn magic_1_wrappers_use_relative_inner_offsets() {
    let msgs = [
        msg(10, 100, Some(b"a"), Some(b"1")),
        msg(11, 101, None, Some(b"2")),
        msg(12, 102, Some(b"c"), None),
    ];
    for c in CODECS {
        let set = encode(&msgs, 1, c).unwrap();
        let (back, used) = parse(set).unwrap();
        assert_eq!(used, c);
        assert_eq!(back, msgs, "{c:?}");
    }
}

/// KAFKA-3160: LZ4 under magic 0 was written with a header checksum over the wrong bytes,
/// which the frame decoder refuses; it is read anyway, only under magic 0.
#[test]
fn lz4_under_magic_0_ignores_the_pre_0_10_header_checksum() {
    let msgs = [
        msg(0, -1, Some(b"a"), Some(b"1")),
        msg(1, -1, None, Some(b"2")),
    ];
    let mut inner = BytesMut::new();
    for m in &msgs {
        put_message(
            &mut inner,
            m.offset,
            0,
            0,
            -1,
            m.key.as_deref(),
            m.value.as_deref(),
        );
    }
    let mut frame = compress(Compression::Lz4, &inner).unwrap().to_vec();
    let hc_at = 6 + if frame[4] & 0x08 != 0 { 8 } else { 0 };
    frame[hc_at] = frame[hc_at].wrapping_add(1);
    assert!(inflate(Compression::Lz4, &frame).is_err());
    for magic in [0, 1] {
        let mut set = BytesMut::new();
        put_message(&mut set, 1, magic, 3, -1, None, Some(&frame));
        let parsed = parse(set.freeze());
        if magic == 0 {
            assert_eq!(parsed.unwrap().0, msgs);
        } else {
            assert_eq!(
                parsed.unwrap_err().response_error(),
                ResponseError::CorruptMessage
            );
        }
    }
}

#[test]
fn log_append_time_wrappers_stamp_their_inner_messages() {
    let mut msgs = vec![msg(0, 100, None, Some(b"1")), msg(1, 900, None, Some(b"2"))];
    for m in &mut msgs {
        m.log_append_time = true;
    }
    let (back, _) = parse(encode(&msgs, 1, Compression::Gzip).unwrap()).unwrap();
    assert!(back.iter().all(|m| m.timestamp == 900 && m.log_append_time));
}

fn arb_message() -> impl Strategy<Value = (Option<Vec<u8>>, Option<Vec<u8>>, i64)> {
    (
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
        0i64..4_000_000_000_000,
    )
}

proptest! {
    /// Old set → parse → record batch → down-convert → parse gives the same keys, values
    /// and (magic 1) timestamps, for every codec and both magics.
    #[test]
    fn up_then_down_conversion_round_trips(
        raw in proptest::collection::vec(arb_message(), 1..20),
        magic in 0i8..=1,
        codec_idx in 0usize..4,
        base in 0i64..1_000_000,
    ) {
        let c = CODECS[codec_idx];
        let msgs: Vec<Message> = raw.iter().enumerate().map(|(i, (k, v, ts))| Message {
            offset: base + i as i64,
            timestamp: if magic == 1 { *ts } else { -1 },
            log_append_time: false,
            key: k.clone().map(Bytes::from),
            value: v.clone().map(Bytes::from),
        }).collect();
        let set = encode(&msgs, magic, c).unwrap();
        let batch = up_convert(set).unwrap();
        let decoded = RecordBatchDecoder::decode_all(&mut batch.clone()).unwrap();
        prop_assert_eq!(decoded.len(), 1);
        prop_assert_eq!(decoded[0].compression, c);
        // The log stamps the base offset in place; emulate it.
        let mut stamped = batch.to_vec();
        stamped[0..8].copy_from_slice(&base.to_be_bytes());
        let down = down_convert(Bytes::from(stamped), magic, base);
        let (back, used) = parse(down).unwrap();
        prop_assert_eq!(used, Compression::None);
        prop_assert_eq!(back, msgs);
    }

    /// Arbitrary bytes never panic the parser.
    #[test]
    fn arbitrary_message_sets_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse(Bytes::from(data));
    }
}

#[test]
fn down_conversion_skips_records_before_the_fetch_offset_and_drops_headers() {
    let mut headers = IndexMap::new();
    headers.insert(
        kafka_protocol::protocol::StrBytes::from_static_str("h"),
        Some(Bytes::from_static(b"hv")),
    );
    let records: Vec<Record> = (0..4)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 50 + i,
            sequence: -1 + i as i32,
            timestamp: 1_000 + i,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("v{i}"))),
            headers: headers.clone(),
        })
        .collect();
    let mut batch = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut batch,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::Zstd,
        },
    )
    .unwrap();
    let (v1, _) = parse(down_convert(batch.clone().freeze(), 1, 52)).unwrap();
    assert_eq!(
        v1,
        vec![
            msg(52, 1_002, Some(b"k2"), Some(b"v2")),
            msg(53, 1_003, Some(b"k3"), Some(b"v3"))
        ]
    );
    let (v0, _) = parse(down_convert(batch.freeze(), 0, 0)).unwrap();
    assert_eq!(v0.len(), 4);
    assert!(v0.iter().all(|m| m.timestamp == -1));
}
