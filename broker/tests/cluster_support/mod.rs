//! Shared by the multi-broker tests: start a cluster of broker processes on loopback and poll
//! Metadata until it shows what a test waits for.
#![allow(dead_code, clippy::unwrap_used)]

use crate::common::{TestBroker, free_port, run_with_timeout, spawn_all};
use crate::wire::Wire;
use eddy_test_support::eventually;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{
    CreateTopicsRequest, FindCoordinatorRequest, MetadataRequest, MetadataResponse, TopicName,
};
use std::process::Command;
use std::time::Duration;

/// `n` brokers with `settings`; the first three are the controller quorum voters, the others
/// only brokers. Returns once every broker sees all of them registered and a controller.
pub fn start_brokers(n: usize, settings: &[&str], session_timeout_ms: &str) -> Vec<TestBroker> {
    start_brokers_with(n, settings, session_timeout_ms, |_| {})
}

/// `start_brokers`, with `prepare` adjusting each broker (extra listeners, flags) before start.
pub fn start_brokers_with(
    n: usize,
    settings: &[&str],
    session_timeout_ms: &str,
    prepare: impl Fn(&mut TestBroker),
) -> Vec<TestBroker> {
    let voters = (0..3)
        .map(|i| format!("{i}@127.0.0.1:{}", free_port()))
        .collect::<Vec<_>>()
        .join(",");
    let mut brokers: Vec<TestBroker> = (0..n)
        .map(|i| {
            TestBroker::new(
                settings,
                vec![
                    "--node-id".into(),
                    i.to_string(),
                    "--controller-quorum-voters".into(),
                    voters.clone(),
                    "--broker-session-timeout-ms".into(),
                    session_timeout_ms.into(),
                ],
            )
        })
        .collect();
    brokers.iter_mut().for_each(&prepare);
    spawn_all(&mut brokers);
    for b in &brokers {
        wait_for(b, "every broker live and a controller", |m| {
            m.brokers.len() == n && m.controller_id.0 >= 0
        });
    }
    brokers
}

/// `b`'s Metadata for every topic, or None while it does not accept connections.
pub fn metadata(b: &TestBroker) -> Option<MetadataResponse> {
    std::net::TcpStream::connect(b.bootstrap()).ok()?;
    let mut w = Wire::connect(&b.bootstrap());
    Some(w.call(&MetadataRequest::default().with_topics(None), 12))
}

/// Polls `b`'s Metadata until `ok` holds (bounded: 120 s), returning the matching response.
pub fn wait_for(
    b: &TestBroker,
    what: &str,
    ok: impl Fn(&MetadataResponse) -> bool,
) -> MetadataResponse {
    eventually(
        what,
        Duration::from_secs(120),
        Duration::from_millis(100),
        || {
            let Some(m) = metadata(b) else {
                return Err("no connection".to_owned());
            };
            if ok(&m) {
                Ok(m)
            } else {
                Err(format!("metadata {m:#?}"))
            }
        },
    )
    .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", b.log()))
}

/// CreateTopics through `b` (v7, 30 s timeout): the topic's error code.
pub fn create_topic(
    b: &TestBroker,
    name: &str,
    partitions: i32,
    rf: i16,
    configs: &[(&str, &str)],
) -> i16 {
    let mut w = Wire::connect(&b.bootstrap());
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(kafka_protocol::protocol::StrBytes::from_string(
                    name.to_string(),
                )))
                .with_num_partitions(partitions)
                .with_replication_factor(rf)
                .with_configs(crate::wire::topic_configs(configs)),
        ]);
    w.call(&req, 7).topics[0].error_code
}

/// Every broker's bootstrap address, comma-separated (a client's `bootstrap.servers`).
pub fn bootstrap_all(brokers: &[TestBroker]) -> String {
    brokers
        .iter()
        .map(TestBroker::bootstrap)
        .collect::<Vec<_>>()
        .join(",")
}

/// FindCoordinator (v3, key type 1: a transactional id) through `b`: (error code, node id).
pub fn find_txn_coordinator(b: &TestBroker, id: &str) -> (i16, i32) {
    let mut w = Wire::connect(&b.bootstrap());
    let r = w.call(
        &FindCoordinatorRequest::default()
            .with_key(kafka_protocol::protocol::StrBytes::from_string(
                id.to_string(),
            ))
            .with_key_type(1),
        3,
    );
    (r.error_code, r.node_id.0)
}

/// Polls `find_txn_coordinator` (bounded: 60 s) until it names a broker: its node id.
pub fn wait_txn_coordinator(b: &TestBroker, id: &str) -> i32 {
    eventually(
        "a transaction coordinator",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || match find_txn_coordinator(b, id) {
            (0, node) => Ok(node),
            (e, _) => Err(format!("error {e}")),
        },
    )
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", b.log()))
}

/// kcat produces `k{i}:v{i}` for `i` in `0..n` to `topic` through `b`, acks=all.
pub fn kcat_produce_keyed(b: &TestBroker, topic: &str, n: usize) {
    let input: String = (0..n).map(|i| format!("k{i}:v{i}\n")).collect();
    kcat_produce_lines(b, topic, &input);
}

/// Produces `input`'s lines (`key:value`) with kcat, acks=all; panics if kcat fails.
pub fn kcat_produce_lines(b: &TestBroker, topic: &str, input: &str) {
    let out = run_with_timeout(
        Command::new("kcat").args([
            "-b",
            &b.bootstrap(),
            "-P",
            "-t",
            topic,
            "-K:",
            "-X",
            "acks=all",
        ]),
        Some(input.as_bytes()),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
