#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! `ack.durability` (README "Durability modes"): in the replicated mode acks=all is answered
//! once every in-sync replica holds the records in memory, and the fsync runs in the
//! background. Its promise, checked with real processes and a real client: a replica killed
//! with SIGKILL mid-stream loses nothing that was acknowledged (its page cache survives it, and
//! the other in-sync replicas hold every acknowledged record).

mod cluster_support;
mod common;
mod wire;

use cluster_support::{start_brokers, wait_for};
use common::{CrashProducer, TestBroker, run_with_timeout};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use std::process::Command;
use std::time::Duration;
use wire::{Wire, batch, produce_request};

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A one-partition topic.
fn create_topic(b: &TestBroker, name: &str, rf: i16, configs: &[(&str, &str)]) -> i16 {
    cluster_support::create_topic(b, name, 1, rf, configs)
}

/// The topic's `ack.durability` as DescribeConfigs reports it.
fn ack_durability(b: &TestBroker, topic: &str) -> String {
    let mut w = Wire::connect(&b.bootstrap());
    let req = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(sb(topic))
            .with_configuration_keys(Some(vec![sb("ack.durability")])),
    ]);
    let resp = w.call(&req, 4);
    resp.results[0]
        .configs
        .iter()
        .find(|c| c.name.as_str() == "ack.durability")
        .and_then(|c| c.value.as_ref().map(ToString::to_string))
        .unwrap_or_default()
}

fn partition0<'a>(
    m: &'a MetadataResponse,
    topic: &str,
) -> Option<&'a metadata_response::MetadataResponsePartition> {
    m.topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))
        .and_then(|t| t.partitions.first())
}

fn leader_of(m: &MetadataResponse, topic: &str) -> i32 {
    partition0(m, topic).map_or(-1, |p| p.leader_id.0)
}

fn isr_of(m: &MetadataResponse, topic: &str) -> Vec<i32> {
    let mut isr: Vec<i32> = partition0(m, topic)
        .map(|p| p.isr_nodes.iter().map(|b| b.0).collect())
        .unwrap_or_default();
    isr.sort_unstable();
    isr
}

/// Every value of `0..total` in `topic`, through `b`, exactly once and in order.
fn assert_consumed_in_order(b: &TestBroker, topic: &str, total: usize) {
    let out = run_with_timeout(
        Command::new("kcat").args(["-b", &b.bootstrap(), "-C", "-t", topic, "-e", "-q"]),
        None,
        Duration::from_secs(120),
    );
    let consumed: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(
        consumed == (0..total as u64).collect::<Vec<_>>(),
        "lost, duplicated or reordered: {} records consumed",
        consumed.len()
    );
}

#[test]
fn replicated_mode_kill_9_of_a_follower_loses_nothing_acknowledged() {
    let mut brokers = start_brokers(3, &[], "4000");
    assert_eq!(
        create_topic(
            &brokers[0],
            "relaxed",
            3,
            &[
                ("min.insync.replicas", "2"),
                ("ack.durability", "replicated")
            ]
        ),
        0
    );
    assert_eq!(ack_durability(&brokers[0], "relaxed"), "replicated");
    let m = wait_for(&brokers[0], "relaxed fully in sync", |m| {
        isr_of(m, "relaxed") == vec![0, 1, 2]
    });
    let leader = leader_of(&m, "relaxed") as usize;
    let follower = (leader + 1) % 3;
    // An acks=all write to another replicated-mode topic with a follower's fetch pending:
    // answered without an error once the ISR has it (no fsync wait).
    assert_eq!(
        create_topic(&brokers[0], "probe", 3, &[("ack.durability", "replicated")]),
        0
    );
    wait_for(&brokers[0], "probe fully in sync", |m| {
        isr_of(m, "probe") == vec![0, 1, 2]
    });
    let probe_leader = wait_for(&brokers[0], "a probe leader", |m| {
        leader_of(m, "probe") >= 0
    });
    let probe_leader = leader_of(&probe_leader, "probe") as usize;
    let mut w = Wire::connect(&brokers[probe_leader].bootstrap());
    let records = batch(-1, -1, 0, &[b"first".as_slice()], &[1], Compression::None);
    let resp = w.call(&produce_request("probe", 0, -1, records), 9);
    let code = resp.responses[0].partition_responses[0].error_code;
    assert_eq!(code, 0, "leader log:\n{}", brokers[probe_leader].log());
    let bootstrap = brokers
        .iter()
        .map(TestBroker::bootstrap)
        .collect::<Vec<_>>()
        .join(",");
    let total = 60_000;
    let mut producer = CrashProducer::start(&bootstrap, "relaxed", total);
    producer.wait_acked(3_000);
    brokers[follower].kill9();
    let acked_at_kill = producer.acked_count();
    // The leader drops the dead follower from the ISR and goes on acknowledging with two.
    wait_for(
        &brokers[leader],
        "the killed follower out of the ISR",
        |m| !isr_of(m, "relaxed").contains(&(follower as i32)),
    );
    let (status, err) = producer.finish(Duration::from_secs(120), "after the follower died");
    assert!(status.success(), "producer failed: {err}");
    assert!(acked_at_kill < total, "the kill landed mid-stream");
    assert_eq!(
        producer.acked().len(),
        total,
        "every record was acknowledged"
    );
    assert_consumed_in_order(&brokers[leader], "relaxed", total);

    // The killed follower restarts from what its page cache kept, catches up and rejoins;
    // then the leader is killed and the restarted follower's copy still has everything.
    brokers[follower].spawn();
    wait_for(
        &brokers[leader],
        "the restarted follower back in the ISR",
        |m| isr_of(m, "relaxed") == vec![0, 1, 2],
    );
    brokers[leader].kill9();
    let m = wait_for(&brokers[follower], "a new leader", |m| {
        let l = leader_of(m, "relaxed");
        l >= 0 && l != leader as i32
    });
    let new_leader = leader_of(&m, "relaxed") as usize;
    assert_consumed_in_order(&brokers[new_leader], "relaxed", total);
}

#[test]
fn replicated_mode_on_one_node_answers_acks_all_and_keeps_the_records_over_a_restart() {
    let mut b = TestBroker::start(&["log.ack.durability=replicated"]);
    assert_eq!(create_topic(&b, "one", 1, &[]), 0);
    assert_eq!(ack_durability(&b, "one"), "replicated");
    let total = 5_000;
    let mut producer = CrashProducer::start(&b.bootstrap(), "one", total);
    let (status, err) = producer.finish(Duration::from_secs(120), "on one node");
    assert!(status.success(), "producer failed: {err}");
    assert_eq!(producer.acked().len(), total);
    // SIGKILL: only the page cache holds what the background fsync had not reached yet.
    b.kill9();
    b.spawn();
    assert_consumed_in_order(&b, "one", total);
}

/// Kafka's `log.flush.scheduler.interval.ms` bounds how often the replicated mode fsyncs a
/// partition by time (Eddy's default 1 s): many appends within the interval share one
/// background fsync. Set to 0 (a dynamic broker config) the fsync follows every append.
#[test]
fn replicated_mode_background_fsyncs_follow_the_flush_scheduler_interval() {
    let fsyncs = "eddy_log_background_fsyncs_total";
    let b = TestBroker::start(&[
        "log.ack.durability=replicated",
        "log.flush.scheduler.interval.ms=600000",
    ]);
    assert_eq!(create_topic(&b, "paced", 1, &[]), 0);
    let mut w = Wire::connect(&b.bootstrap());
    let produce = |w: &mut Wire, n: usize| {
        for i in 0..n {
            let records = batch(
                -1,
                -1,
                0,
                &[format!("v{i}").as_bytes()],
                &[1],
                Compression::None,
            );
            let resp = w.call(&produce_request("paced", 0, -1, records), 9);
            assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
        }
    };
    produce(&mut w, 20);
    assert_eq!(
        common::metric_value(b.admin_port, fsyncs),
        0.0,
        "20 acks=all appends answered, their fsync waits for the 10-minute interval"
    );
    let alter = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(sb(""))
            .with_configs(vec![
                incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(sb("log.flush.scheduler.interval.ms"))
                    .with_config_operation(0)
                    .with_value(Some(sb("0"))),
            ]),
    ]);
    assert_eq!(w.call(&alter, 1).responses[0].error_code, 0);
    produce(&mut w, 10);
    assert_eq!(
        common::metric_value(b.admin_port, fsyncs),
        10.0,
        "with the interval at 0 every append is followed by its own background fsync"
    );
}
