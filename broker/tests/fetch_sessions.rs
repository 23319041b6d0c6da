#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Incremental fetch sessions (KIP-227) against a real broker process, over TCP with the
//! workspace's wire client (librdkafka never opens fetch sessions: it always sends session id 0
//! and epoch -1, which `kcat.rs` and `rdkafka_client.rs` keep exercising).

mod common;

use common::{TestBroker, run_with_timeout};
use eddy_kafka_client::{Client, Config};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::process::Command;
use std::time::Duration;

const TOPIC: &str = "sessions";
/// Fetch v12: the last version with topic names (sessions work the same with ids).
const V: i16 = 12;

fn produce(b: &TestBroker, partition: i32, lines: &str) {
    let out = run_with_timeout(
        Command::new("kcat").arg("-b").arg(b.bootstrap()).args([
            "-P",
            "-t",
            TOPIC,
            "-p",
            &partition.to_string(),
        ]),
        Some(lines.as_bytes()),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "kcat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn part(p: i32, offset: i64) -> FetchPartition {
    FetchPartition::default()
        .with_partition(p)
        .with_fetch_offset(offset)
        .with_partition_max_bytes(1 << 20)
}

fn fetch(id: i32, epoch: i32, parts: Vec<FetchPartition>) -> FetchRequest {
    let topics = if parts.is_empty() {
        Vec::new()
    } else {
        vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partitions(parts),
        ]
    };
    FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(50)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_session_id(id)
        .with_session_epoch(epoch)
        .with_topics(topics)
}

/// (partition, high watermark, record bytes) of every partition the response lists.
fn listed(resp: &FetchResponse) -> Vec<(i32, i64, usize)> {
    resp.responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            (
                p.partition_index,
                p.high_watermark,
                p.records.as_ref().map_or(0, bytes::Bytes::len),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_session_answers_only_partitions_with_news_and_checks_its_epochs() {
    let b = TestBroker::start(&["num.partitions=3"]);
    produce(&b, 0, "a\nb\n");
    produce(&b, 2, "c\n");
    let config = Config::new("fetch-session-test", Duration::from_secs(10));
    let mut client = Client::connect_negotiated(&b.bootstrap(), config)
        .await
        .unwrap();

    // Epoch 0: a full fetch opening a session; every partition is answered.
    let resp = client
        .call_at(&fetch(0, 0, vec![part(0, 0), part(1, 0), part(2, 0)]), V)
        .await
        .unwrap();
    assert_eq!(resp.error_code, 0);
    let id = resp.session_id;
    assert_ne!(id, 0, "the broker opened no session: {resp:?}");
    let first = listed(&resp);
    assert_eq!(first.len(), 3, "{first:?}");
    assert!(first.iter().any(|(p, hw, n)| *p == 0 && *hw == 2 && *n > 0));
    assert!(
        first
            .iter()
            .any(|(p, hw, n)| *p == 1 && *hw == 0 && *n == 0)
    );

    // Epoch 1: the client moves its offsets past what it read; nothing is new.
    let resp = client
        .call_at(&fetch(id, 1, vec![part(0, 2), part(2, 1)]), V)
        .await
        .unwrap();
    assert_eq!((resp.error_code, resp.session_id), (0, id));
    assert_eq!(listed(&resp), vec![], "no partition has news");

    // New data in partition 1 only: epoch 2 (no partitions in the request) answers it alone.
    produce(&b, 1, "d\n");
    let resp = client.call_at(&fetch(id, 2, vec![]), V).await.unwrap();
    assert_eq!(resp.session_id, id);
    let news = listed(&resp);
    assert_eq!(news.len(), 1, "{news:?}");
    assert_eq!((news[0].0, news[0].1), (1, 1));
    assert!(news[0].2 > 0);

    // A replayed epoch and an unknown session are refused at the top level.
    let resp = client.call_at(&fetch(id, 2, vec![]), V).await.unwrap();
    assert_eq!(
        resp.error_code,
        ResponseError::InvalidFetchSessionEpoch.code()
    );
    let other = if id == i32::MAX { 1 } else { id + 1 };
    let resp = client.call_at(&fetch(other, 1, vec![]), V).await.unwrap();
    assert_eq!(
        resp.error_code,
        ResponseError::FetchSessionIdNotFound.code()
    );

    // Epoch -1 closes the session: a sessionless full fetch, and the id is gone afterwards.
    let resp = client
        .call_at(&fetch(id, -1, vec![part(1, 0)]), V)
        .await
        .unwrap();
    assert_eq!((resp.error_code, resp.session_id), (0, 0));
    assert_eq!(listed(&resp).len(), 1);
    let resp = client.call_at(&fetch(id, 3, vec![]), V).await.unwrap();
    assert_eq!(
        resp.error_code,
        ResponseError::FetchSessionIdNotFound.code()
    );
}

#[tokio::test]
async fn zero_cache_slots_keep_every_fetch_full() {
    let b = TestBroker::start(&[
        "num.partitions=1",
        "max.incremental.fetch.session.cache.slots=0",
    ]);
    produce(&b, 0, "a\n");
    let config = Config::new("fetch-session-test", Duration::from_secs(10));
    let mut client = Client::connect_negotiated(&b.bootstrap(), config)
        .await
        .unwrap();
    let resp = client
        .call_at(&fetch(0, 0, vec![part(0, 0)]), V)
        .await
        .unwrap();
    assert_eq!((resp.error_code, resp.session_id), (0, 0));
    assert_eq!(listed(&resp).len(), 1);
}
