//! Conformance gaps real clients found (issue 17), each with its regression test: Fetch's byte
#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! limits (KIP-74) with raw requests and librdkafka, topic compression.type recompression
//! (confluent-kafka and raw batches; the stored codec read from the segment files), keyless
//! records on compacted topics and out-of-bounds timestamps refused as Kafka does, Kafka 4.x
//! config keys accepted and validated, and delete.topic.enable.

mod common;
mod wire;

use common::{TestBroker, run_with_timeout};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use std::process::Command;
use std::time::Duration;
use wire::{Wire, batch, produce_request, topic_configs};

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Creates `name` with `partitions` partitions and `configs`: the topic's error code.
fn create_topic(w: &mut Wire, name: &str, partitions: i32, configs: &[(&str, &str)]) -> i16 {
    let req = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(TopicName(sb(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(topic_configs(configs)),
    ]);
    w.call(&req, 7).topics[0].error_code
}

/// Produces one single-record batch of `value` to `topic`/`partition`.
fn produce_one(w: &mut Wire, topic: &str, partition: i32, value: &[u8]) {
    let records = batch(-1, -1, 0, &[value], &[1_000], Compression::None);
    let resp = w.call(&produce_request(topic, partition, -1, records), 9);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "{p:?}");
}

/// A v12 Fetch of `partitions` partitions of `topic` from offset 0.
fn fetch_request(
    topic: &str,
    partitions: i32,
    max_bytes: i32,
    partition_max_bytes: i32,
) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(sb(topic)))
                .with_partitions(
                    (0..partitions)
                        .map(|p| {
                            FetchPartition::default()
                                .with_partition(p)
                                .with_fetch_offset(0)
                                .with_partition_max_bytes(partition_max_bytes)
                        })
                        .collect(),
                ),
        ])
}

/// Record bytes per partition of a fetch response.
fn record_bytes(resp: &FetchResponse) -> Vec<usize> {
    resp.responses[0]
        .partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, 0, "{p:?}");
            p.records.as_ref().map_or(0, bytes::Bytes::len)
        })
        .collect()
}

#[test]
fn fetch_exceeds_max_bytes_only_by_the_first_partitions_first_batch() {
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    assert_eq!(create_topic(&mut w, "many", 6, &[]), 0);
    let value = vec![b'v'; 900];
    for p in 0..6 {
        for _ in 0..3 {
            produce_one(&mut w, "many", p, &value);
        }
    }
    let one = record_bytes(&w.call(&fetch_request("many", 1, 1 << 20, 1 << 20), 12))[0] / 3;
    assert!(one > 900, "one batch is {one} bytes");

    // A response budget smaller than one batch: the first partition returns one batch, every
    // other partition nothing (before the fix each returned a whole batch).
    let got = record_bytes(&w.call(&fetch_request("many", 6, 100, 1 << 20), 12));
    assert_eq!(got, vec![one, 0, 0, 0, 0, 0]);

    // Room for two and a half batches: whole batches up to the limit, never past it.
    let max = i32::try_from(2 * one + one / 2).unwrap();
    let got = record_bytes(&w.call(&fetch_request("many", 6, max, 1 << 20), 12));
    assert_eq!(got, vec![2 * one, 0, 0, 0, 0, 0]);

    // partition_max_bytes below one batch: the first partition still returns one whole batch,
    // the others none, though the response budget would allow them.
    let got = record_bytes(&w.call(&fetch_request("many", 6, 1 << 20, 10), 12));
    assert_eq!(got, vec![one, 0, 0, 0, 0, 0]);

    // Both limits generous: everything.
    let got = record_bytes(&w.call(&fetch_request("many", 6, 1 << 20, 1 << 20), 12));
    assert_eq!(got, vec![3 * one; 6]);

    // The first partition *with data* gets the allowance, not the first requested.
    let mut w2 = Wire::connect(&b.bootstrap());
    assert_eq!(create_topic(&mut w2, "sparse", 4, &[]), 0);
    produce_one(&mut w2, "sparse", 2, &value);
    produce_one(&mut w2, "sparse", 3, &value);
    let got = record_bytes(&w2.call(&fetch_request("sparse", 4, 100, 1 << 20), 12));
    assert_eq!(got, vec![0, 0, one, 0]);
}

#[test]
fn librdkafka_consumes_many_partitions_with_a_small_fetch_max_bytes() {
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    let partitions = 6;
    assert_eq!(create_topic(&mut w, "small-fetch", partitions, &[]), 0);
    let mut expected = Vec::new();
    for p in 0..partitions {
        for i in 0..5 {
            let v = format!("p{p}-r{i}-{}", "x".repeat(900));
            produce_one(&mut w, "small-fetch", p, v.as_bytes());
            expected.push(format!("{p} {i}"));
        }
    }
    // librdkafka refuses a response frame larger than receive.message.max.bytes (at least
    // fetch.max.bytes + 512): with a batch from every partition the response would be ~6 KB,
    // the consumer would reject it and fetch the same offsets again until killed.
    let out = run_with_timeout(
        Command::new("kcat").arg("-b").arg(b.bootstrap()).args([
            "-C",
            "-t",
            "small-fetch",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%p %o\n",
            "-X",
            "fetch.max.bytes=2000",
            "-X",
            "message.max.bytes=1000",
            "-X",
            "receive.message.max.bytes=2512",
        ]),
        None,
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kcat failed: {}\n{}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: Vec<String> = stdout.lines().map(str::to_string).collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

/// The codec (attributes & 7) of every batch in a partition's segment files.
fn stored_codecs(b: &TestBroker, topic: &str) -> Vec<i16> {
    let dir = common::partition_dir(b, topic, 0).unwrap();
    let mut logs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    let mut codecs = Vec::new();
    for log in logs {
        let data = std::fs::read(log).unwrap();
        let mut pos = 0;
        // base offset (8), length (4), leader epoch (4), magic (1), crc (4), attributes (2)
        while pos + 23 <= data.len() {
            let len = i32::from_be_bytes(data[pos + 8..pos + 12].try_into().unwrap());
            if len <= 0 {
                break;
            }
            codecs.push(i16::from_be_bytes(data[pos + 21..pos + 23].try_into().unwrap()) & 7);
            pos += 12 + usize::try_from(len).unwrap();
        }
    }
    codecs
}

#[test]
fn confluent_kafka_writes_none_and_lz4_into_a_gzip_topic_and_keyless_records_are_refused_on_a_compacted_one()
 {
    let b = TestBroker::start(&[]);
    let out = common::run_python("conform_compression.py", &b.bootstrap(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("gzip-records 400"), "{stdout}");
    assert!(stdout.contains("keyless-error INVALID_RECORD"), "{stdout}");
    let codecs = stored_codecs(&b, "gz");
    assert!(codecs.len() >= 2, "{codecs:?}");
    assert!(
        codecs.iter().all(|c| *c == Compression::Gzip as i16),
        "batches not stored as gzip: {codecs:?}"
    );
    // Two keyed records, each its own batch; the keyless one left nothing behind.
    assert_eq!(stored_codecs(&b, "compacted").len(), 2);
}

/// A batch of `(key, value)` records (plain producer).
fn keyed_batch(records: &[(Option<&[u8]>, &[u8])], compression: Compression) -> bytes::Bytes {
    use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32 - 1,
            timestamp: 1_000 + i as i64,
            key: k.map(bytes::Bytes::copy_from_slice),
            value: Some(bytes::Bytes::copy_from_slice(v)),
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.freeze()
}

#[test]
fn keyless_records_on_a_compacted_topic_get_invalid_record_with_record_errors() {
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    assert_eq!(
        create_topic(&mut w, "kv", 1, &[("cleanup.policy", "compact,delete")]),
        0
    );
    let records = keyed_batch(
        &[
            (Some(b"a"), b"1"),
            (None, b"2"),
            (Some(b"c"), b"3"),
            (None, b"4"),
        ],
        Compression::Lz4,
    );
    let resp = w.call(&produce_request("kv", 0, -1, records.clone()), 9);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 87, "{p:?}");
    let errors: Vec<(i32, String)> = p
        .record_errors
        .iter()
        .map(|e| {
            (
                e.batch_index,
                e.batch_index_error_message
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            )
        })
        .collect();
    let msg = "Compacted topic cannot accept message without key in topic partition kv-0.";
    assert_eq!(errors, vec![(1, msg.to_string()), (3, msg.to_string())]);
    let message = p.error_message.as_ref().map(ToString::to_string);
    assert_eq!(
        message.as_deref(),
        Some(
            "One or more records have been rejected due to 2 record errors in total, and only \
             showing the first three errors at most: [RecordError(batchIndex=1, message='Compacted \
             topic cannot accept message without key in topic partition kv-0.'), \
             RecordError(batchIndex=3, message='Compacted topic cannot accept message without key \
             in topic partition kv-0.')]"
        )
    );
    // Produce v7 has no record errors: the code alone.
    let resp = w.call(&produce_request("kv", 0, -1, records), 7);
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 87);
    // Nothing was appended: the first keyed batch lands at offset 0.
    let ok = keyed_batch(&[(Some(b"a"), b"1")], Compression::None);
    let resp = w.call(&produce_request("kv", 0, -1, ok), 9);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0), "{p:?}");
}

#[test]
fn a_zstd_batch_is_stored_uncompressed_on_an_uncompressed_topic_and_fetched_intact() {
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    assert_eq!(
        create_topic(&mut w, "plain", 1, &[("compression.type", "uncompressed")]),
        0
    );
    let values: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("v{i}").repeat(50).into_bytes())
        .collect();
    let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    let ts: Vec<i64> = (0..20).map(|i| 5_000 - i).collect();
    for (i, chunk) in refs.chunks(10).enumerate() {
        let records = batch(
            -1,
            -1,
            0,
            chunk,
            &ts[i * 10..i * 10 + 10],
            Compression::Zstd,
        );
        let resp = w.call(&produce_request("plain", 0, -1, records), 9);
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, 10 * i as i64), "{p:?}");
    }
    assert_eq!(stored_codecs(&b, "plain"), vec![0, 0]);
    let resp = w.call(&fetch_request("plain", 1, 1 << 20, 1 << 20), 12);
    let mut records = resp.responses[0].partitions[0].records.clone().unwrap();
    let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut records).unwrap();
    let got: Vec<(i64, i64, Vec<u8>)> = sets
        .into_iter()
        .flat_map(|s| s.records)
        .map(|r| (r.offset, r.timestamp, r.value.unwrap().to_vec()))
        .collect();
    let want: Vec<(i64, i64, Vec<u8>)> = (0..20)
        .map(|i| (i, 5_000 - i, values[i as usize].clone()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn kafka_topic_keys_are_accepted_and_bad_values_refused_with_kafkas_message() {
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    let configs = [
        ("delete.retention.ms", "1000"),
        ("min.cleanable.dirty.ratio", "0.3"),
        ("min.compaction.lag.ms", "0"),
        ("max.compaction.lag.ms", "86400000"),
        ("file.delete.delay.ms", "1"),
        ("flush.messages", "1000"),
        ("index.interval.bytes", "8192"),
        ("message.timestamp.before.max.ms", "1000"),
        ("message.timestamp.after.max.ms", "1000"),
        ("preallocate", "false"),
        ("segment.jitter.ms", "10"),
        ("segment.index.bytes", "4096"),
        ("compression.type", "zstd"),
        ("compression.zstd.level", "10"),
        ("local.retention.ms", "-2"),
    ];
    assert_eq!(create_topic(&mut w, "kafka-keys", 1, &configs), 0);
    let req = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(TopicName(sb("bad-ratio")))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(topic_configs(&[("min.cleanable.dirty.ratio", "2")])),
    ]);
    let t = &w.call(&req, 7).topics[0];
    assert_eq!(t.error_code, 40, "{t:?}"); // INVALID_CONFIG
    assert_eq!(
        t.error_message.as_ref().map(ToString::to_string).as_deref(),
        Some(
            "Invalid value 2 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"
        )
    );
    let req = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(sb("kafka-keys"))
            .with_configuration_keys(None),
    ]);
    let resp = w.call(&req, 4);
    let value = |name: &str| {
        resp.results[0]
            .configs
            .iter()
            .find(|c| c.name.as_str() == name)
            .and_then(|c| c.value.as_ref().map(ToString::to_string))
    };
    assert_eq!(value("delete.retention.ms").as_deref(), Some("1000"));
    assert_eq!(value("compression.type").as_deref(), Some("zstd"));
    // Kafka's defaults for keys not set.
    assert_eq!(value("remote.storage.enable").as_deref(), Some("false"));
    assert_eq!(value("compression.gzip.level").as_deref(), Some("-1"));
}

#[test]
fn the_broker_default_codec_applies_and_idempotent_retries_of_rebuilt_batches_are_deduplicated() {
    let b = TestBroker::start(&["compression.type=lz4", "compression.lz4.level=1"]);
    let mut w = Wire::connect(&b.bootstrap());
    assert_eq!(create_topic(&mut w, "inherits", 1, &[]), 0);
    // An idempotent producer's batch, sent twice (a retry): appended once, at the same offset.
    let values: [&[u8]; 3] = [b"a", b"b", b"c"];
    let records = batch(7, 0, 0, &values, &[1, 2, 3], Compression::None);
    for _ in 0..2 {
        let resp = w.call(&produce_request("inherits", 0, -1, records.clone()), 9);
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, 0), "{p:?}");
    }
    // The next sequence goes on; a gap is still refused (the producer state saw the rebuilt
    // batch's sequence range).
    let next = batch(7, 0, 3, &values, &[4, 5, 6], Compression::Gzip);
    let resp = w.call(&produce_request("inherits", 0, -1, next), 9);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (0, 3), "{p:?}");
    let gap = batch(7, 0, 9, &values, &[7, 8, 9], Compression::None);
    let resp = w.call(&produce_request("inherits", 0, -1, gap), 9);
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 45); // OUT_OF_ORDER_SEQUENCE
    assert_eq!(stored_codecs(&b, "inherits"), vec![3, 3]);
    // __consumer_offsets keeps compression.type=producer, as in Kafka: commits stay as written.
    let commit = w.call(
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(sb("admin")))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(TopicName(sb("inherits")))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_committed_offset(6),
                    ]),
            ]),
        8,
    );
    assert_eq!(commit.topics[0].partitions[0].error_code, 0);
    let offsets = stored_codecs(&b, "__consumer_offsets");
    assert!(
        !offsets.is_empty() && offsets.iter().all(|c| *c == 0),
        "{offsets:?}"
    );
}

#[test]
fn delete_topic_enable_false_refuses_deletion_with_topic_deletion_disabled() {
    let b = TestBroker::start(&["delete.topic.enable=false"]);
    let mut w = Wire::connect(&b.bootstrap());
    assert_eq!(create_topic(&mut w, "kept", 1, &[]), 0);
    let req = DeleteTopicsRequest::default()
        .with_topic_names(vec![TopicName(sb("kept"))])
        .with_timeout_ms(5_000);
    let r = &w.call(&req, 5).responses[0];
    assert_eq!(r.error_code, 73, "{r:?}"); // TOPIC_DELETION_DISABLED
    assert_eq!(
        r.error_message.as_ref().map(ToString::to_string).as_deref(),
        Some("Topic deletion is disabled.")
    );
    let md = w.call(
        &MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default()
                .with_name(Some(TopicName(sb("kept")))),
        ])),
        12,
    );
    assert_eq!(md.topics[0].error_code, 0, "{:?}", md.topics[0]);
}

#[test]
fn record_timestamps_beyond_message_timestamp_after_max_ms_get_invalid_timestamp() {
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    assert_eq!(create_topic(&mut w, "clock", 1, &[]), 0);
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    // Kafka 4's default: at most an hour ahead. A day ahead is refused, nothing appended.
    let values: [&[u8]; 2] = [b"now", b"tomorrow"];
    let records = batch(
        -1,
        -1,
        0,
        &values,
        &[now, now + 86_400_000],
        Compression::Gzip,
    );
    let resp = w.call(&produce_request("clock", 0, -1, records), 9);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 32, "{p:?}"); // INVALID_TIMESTAMP
    assert_eq!(
        p.record_errors
            .iter()
            .map(|e| e.batch_index)
            .collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(
        p.error_message.as_ref().map(ToString::to_string).as_deref(),
        Some("One or more records have been rejected due to invalid timestamp")
    );
    // Old timestamps are fine by default; a topic bound refuses them.
    let old = batch(-1, -1, 0, &values, &[1_000, 2_000], Compression::None);
    let resp = w.call(&produce_request("clock", 0, -1, old.clone()), 9);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0), "{p:?}");
    assert_eq!(
        create_topic(
            &mut w,
            "recent",
            1,
            &[("message.timestamp.before.max.ms", "60000")]
        ),
        0
    );
    let resp = w.call(&produce_request("recent", 0, -1, old), 9);
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 32);
    // LogAppendTime topics take any timestamp (the broker's clock replaces it).
    assert_eq!(
        create_topic(
            &mut w,
            "appended",
            1,
            &[("message.timestamp.type", "LogAppendTime")]
        ),
        0
    );
    let records = batch(
        -1,
        -1,
        0,
        &values,
        &[now, now + 86_400_000],
        Compression::None,
    );
    let resp = w.call(&produce_request("appended", 0, -1, records), 9);
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
}
