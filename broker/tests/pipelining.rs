#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Pipelining: a connection keeps reading and appending requests while earlier acks=all
//! produces wait for their group-commit fsync, appends stay in request order, and the answers
//! come back in request order.

mod common;
mod wire;
use common::{TestBroker, http_get};
use eddy_test_support::eventually;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    FetchRequest, MetadataRequest, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder};
use std::time::Duration;
use wire::{Wire, batch};

fn produce_req(topic: &str, partition: i32, acks: i16, value: &str) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.into())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch(
                            -1,
                            -1,
                            -1,
                            &[value.as_bytes()],
                            &[1_700_000_000_000],
                            Compression::None,
                        ))),
                ]),
        ])
}

/// Metadata for `topic`, creating it (auto-create is on by default).
fn metadata(topic: &str) -> MetadataRequest {
    MetadataRequest::default()
        .with_allow_auto_topic_creation(true)
        .with_topics(Some(vec![
            MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(topic.into())))),
        ]))
}

fn messages_in(b: &TestBroker) -> u64 {
    let (_, body) = http_get(b.admin_port, "/metrics").unwrap();
    body.lines()
        .find(|l| l.starts_with("eddy_messages_in_total "))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

fn fetch_values(w: &mut Wire, topic: &str, partition: i32) -> Vec<String> {
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.into())))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let resp = w.call(&req, 12);
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    let mut records = p.records.clone().unwrap_or_default();
    let mut out = Vec::new();
    while !records.is_empty() {
        let set = RecordBatchDecoder::decode(&mut records).unwrap();
        for r in set.records {
            out.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    out
}

#[test]
fn pipelined_produces_append_in_order_and_answer_in_order() {
    let b = TestBroker::start(&["num.partitions=2"]);
    let mut w = Wire::connect(&b.bootstrap());
    let md = metadata("pipe");
    let created = w.call(&md, 4);
    assert_eq!(created.topics[0].error_code, 0);
    let _ = w.call(&produce_req("pipe", 0, -1, "warm-up"), 9);
    // 60 acks=all produces over two partitions, an acks=0 one (no answer) and a Metadata
    // request in the middle, all sent before reading anything.
    let mut expected = Vec::new(); // (correlation id, partition, value) of answered produces
    let mut sent_values: [Vec<String>; 2] = [vec!["warm-up".into()], Vec::new()];
    let mut metadata_corr = 0;
    for i in 0..60 {
        let part = i % 2;
        let value = format!("v{i}");
        if i == 30 {
            metadata_corr = w.send(&md, 4);
            let _ = w.send(&produce_req("pipe", part, 0, "acks0"), 9);
            sent_values[part as usize].push("acks0".into());
        }
        let corr = w.send(&produce_req("pipe", part, -1, &value), 9);
        expected.push((corr, part));
        sent_values[part as usize].push(value);
    }
    let mut last_offset = [-1i64; 2];
    for (n, (corr, part)) in expected.iter().enumerate() {
        if n == 30 {
            let (got, _) = w.recv::<MetadataRequest>(4);
            assert_eq!(
                got, metadata_corr,
                "the Metadata answer comes in request order"
            );
        }
        let (got, resp): (i32, ProduceResponse) = w.recv::<ProduceRequest>(9);
        assert_eq!(got, *corr, "answers come in request order");
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 0);
        assert_eq!(p.index, *part);
        assert!(
            p.base_offset > last_offset[*part as usize],
            "offsets grow in request order: {} after {}",
            p.base_offset,
            last_offset[*part as usize]
        );
        last_offset[*part as usize] = p.base_offset;
    }
    for part in 0..2 {
        assert_eq!(
            fetch_values(&mut w, "pipe", part),
            sent_values[part as usize]
        );
    }
}

#[test]
fn a_connection_keeps_reading_while_an_acks_all_produce_waits_for_its_fsync() {
    // A 30 s group-commit window: the first acks=all produce waits that long for its fsync.
    let b = TestBroker::start(&["log.flush.interval.ms=30000"]);
    let mut w = Wire::connect(&b.bootstrap());
    let created = w.call(&metadata("slow"), 4);
    assert_eq!(created.topics[0].error_code, 0);
    let before = messages_in(&b);
    let _ = w.send(&produce_req("slow", 0, -1, "waits"), 9);
    let _ = w.send(&produce_req("slow", 0, 0, "behind it"), 9);
    // Without pipelining the second request would only be read after the first was answered.
    eventually(
        "the request behind a waiting acks=all produce to be handled",
        Duration::from_secs(15),
        Duration::from_millis(20),
        || {
            let seen = messages_in(&b);
            if seen >= before + 2 {
                Ok(())
            } else {
                Err(seen)
            }
        },
    )
    .unwrap();
}

#[test]
fn answers_owed_before_a_malformed_frame_are_still_sent() {
    // A 2 s group-commit window keeps the produce waiting while the bad frame is read.
    let b = TestBroker::start(&["log.flush.interval.ms=2000"]);
    let mut w = Wire::connect(&b.bootstrap());
    let created = w.call(&metadata("bad"), 4);
    assert_eq!(created.topics[0].error_code, 0);
    let corr = w.send(&produce_req("bad", 0, -1, "acknowledged"), 9);
    // Unknown api key 32512: closes the connection.
    w.send_raw(&[0, 0, 0, 8, 0x7f, 0x00, 0, 0, 0, 0, 0, 1]);
    let (got, resp) = w.recv::<ProduceRequest>(9);
    assert_eq!(got, corr);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    w.expect_closed();
    assert_eq!(
        fetch_values(&mut Wire::connect(&b.bootstrap()), "bad", 0),
        vec!["acknowledged".to_string()]
    );
}
