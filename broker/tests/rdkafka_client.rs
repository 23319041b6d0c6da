#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! The `rdkafka` crate (librdkafka) against the broker: keyed records with headers produced with
//! acks=all and zstd, consumed back in order by a group that commits its offsets.

mod common;
use common::TestBroker;
use rdkafka::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_round_trip_with_headers_and_committed_offsets() {
    let b = TestBroker::start(&["group.initial.rebalance.delay.ms=0", "num.partitions=1"]);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("compression.type", "zstd")
        .create()
        .unwrap();
    for i in 0..100 {
        let key = format!("key-{}", i % 7);
        let value = format!("value-{i}");
        let headers = OwnedHeaders::new().insert(Header {
            key: "i",
            value: Some(&i.to_string()),
        });
        producer
            .send(
                FutureRecord::to("rd")
                    .key(&key)
                    .payload(&value)
                    .headers(headers),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("group.id", "rd-group")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    consumer.subscribe(&["rd"]).unwrap();
    for i in 0..100 {
        let m = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.offset(), i64::from(i));
        assert_eq!(m.key(), Some(format!("key-{}", i % 7).as_bytes()));
        assert_eq!(m.payload(), Some(format!("value-{i}").as_bytes()));
        let h = m.headers().unwrap().get(0);
        assert_eq!((h.key, h.value), ("i", Some(i.to_string().as_bytes())));
        if i == 99 {
            consumer.commit_message(&m, CommitMode::Sync).unwrap();
        }
    }
    let committed = consumer.committed(Duration::from_secs(10)).unwrap();
    let offset = committed.elements_for_topic("rd")[0].offset();
    assert_eq!(offset, rdkafka::Offset::Offset(100));
}
