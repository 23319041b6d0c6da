//! Conformance gaps real clients found (issue 17), each with its regression test: Fetch's byte
#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! limits (KIP-74) with raw requests and librdkafka, topic compression.type recompression,
//! every Kafka 4.x config key accepted and validated, and the admin OffsetCommit answer.

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
