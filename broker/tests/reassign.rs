#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Cluster mode with three broker processes on loopback: partition reassignment (KIP-455) under
//! an idempotent acks=all producer with a replication throttle, and topic/broker configs and
//! CreatePartitions written to the metadata log and seen by every broker.

mod cluster_support;
mod common;
mod wire;

use cluster_support::{create_topic, metadata, start_brokers, wait_for};
use common::{CrashProducer, TestBroker, run_with_timeout};
use eddy_test_support::eventually;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use wire::Wire;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_PARTITIONS: i16 = 37;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const INVALID_CONFIG: i16 = 40;
const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Three brokers, all controller quorum voters.
fn start_cluster() -> Vec<TestBroker> {
    start_brokers(3, &[], "4000")
}

fn partition_of<'a>(
    m: &'a MetadataResponse,
    topic: &str,
    p: usize,
) -> Option<&'a metadata_response::MetadataResponsePartition> {
    m.topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))
        .and_then(|t| t.partitions.get(p))
}

fn replicas_of(m: &MetadataResponse, topic: &str, p: usize) -> Vec<i32> {
    partition_of(m, topic, p)
        .map(|p| p.replica_nodes.iter().map(|b| b.0).collect())
        .unwrap_or_default()
}

fn isr_of(m: &MetadataResponse, topic: &str, p: usize) -> Vec<i32> {
    let mut isr: Vec<i32> = partition_of(m, topic, p)
        .map(|p| p.isr_nodes.iter().map(|b| b.0).collect())
        .unwrap_or_default();
    isr.sort_unstable();
    isr
}

fn leader_of(m: &MetadataResponse, topic: &str, p: usize) -> i32 {
    partition_of(m, topic, p).map_or(-1, |p| p.leader_id.0)
}

fn bootstrap_all(brokers: &[TestBroker]) -> String {
    brokers
        .iter()
        .map(TestBroker::bootstrap)
        .collect::<Vec<_>>()
        .join(",")
}

fn kcat_consume(b: &TestBroker, topic: &str, limit: Duration) -> Output {
    run_with_timeout(
        Command::new("kcat").args(["-b", &b.bootstrap(), "-C", "-t", topic, "-e", "-q"]),
        None,
        limit,
    )
}

/// Bytes in the segment files of partition 0 of `topic` on `b`.
fn replica_bytes(b: &TestBroker, topic: &str) -> u64 {
    common::partition_dir(b, topic, 0)
        .and_then(|d| std::fs::read_dir(d).ok())
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                .map(|e| e.metadata().map_or(0, |m| m.len()))
                .sum()
        })
        .unwrap_or(0)
}

/// AlterPartitionReassignments of partition 0 of each `(topic, target)`: the error codes.
fn reassign(b: &TestBroker, moves: &[(&str, i32, Option<Vec<i32>>)]) -> Vec<i16> {
    use alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
    let mut w = Wire::connect(&b.bootstrap());
    let topics = moves
        .iter()
        .map(|(t, p, target)| {
            ReassignableTopic::default()
                .with_name(TopicName(sb(t)))
                .with_partitions(vec![
                    ReassignablePartition::default()
                        .with_partition_index(*p)
                        .with_replicas(
                            target
                                .as_ref()
                                .map(|r| r.iter().copied().map(BrokerId).collect()),
                        ),
                ])
        })
        .collect();
    let r = w.call(
        &AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(topics),
        0,
    );
    assert_eq!(r.error_code, 0);
    r.responses
        .iter()
        .map(|t| t.partitions[0].error_code)
        .collect()
}

/// One listed reassignment: topic, replicas, adding, removing (of its partition 0).
type Listed = (String, Vec<i32>, Vec<i32>, Vec<i32>);

/// ListPartitionReassignments (all).
fn list_reassignments(b: &TestBroker) -> Vec<Listed> {
    let mut w = Wire::connect(&b.bootstrap());
    let r = w.call(
        &ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(None),
        0,
    );
    assert_eq!(r.error_code, 0);
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.to_string(),
                    ids(&p.replicas),
                    ids(&p.adding_replicas),
                    ids(&p.removing_replicas),
                )
            })
        })
        .collect()
}

/// IncrementalAlterConfigs APPEND of `value` to list config `key` of `topic` through `b`.
fn append_config(b: &TestBroker, topic: &str, key: &str, value: &str) -> i16 {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let mut w = Wire::connect(&b.bootstrap());
    let r = w.call(
        &IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(sb(topic))
                .with_configs(vec![
                    AlterableConfig::default()
                        .with_name(sb(key))
                        .with_config_operation(2)
                        .with_value(Some(sb(value))),
                ]),
        ]),
        1,
    );
    r.responses[0].error_code
}

/// IncrementalAlterConfigs SET of `configs` on one resource through `b`: the error code.
fn set_configs(
    b: &TestBroker,
    ty: i8,
    name: &str,
    configs: &[(&str, &str)],
    validate: bool,
) -> i16 {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let mut w = Wire::connect(&b.bootstrap());
    let r = w.call(
        &IncrementalAlterConfigsRequest::default()
            .with_validate_only(validate)
            .with_resources(vec![
                AlterConfigsResource::default()
                    .with_resource_type(ty)
                    .with_resource_name(sb(name))
                    .with_configs(
                        configs
                            .iter()
                            .map(|(k, v)| {
                                AlterableConfig::default()
                                    .with_name(sb(k))
                                    .with_config_operation(0)
                                    .with_value(Some(sb(v)))
                            })
                            .collect(),
                    ),
            ]),
        1,
    );
    r.responses[0].error_code
}

/// DescribeConfigs of one key of one resource through `b`: (value, source).
fn describe(b: &TestBroker, ty: i8, name: &str, key: &str) -> (String, i8) {
    use describe_configs_request::DescribeConfigsResource;
    let mut w = Wire::connect(&b.bootstrap());
    let r = w.call(
        &DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(ty)
                .with_resource_name(sb(name))
                .with_configuration_keys(Some(vec![sb(key)])),
        ]),
        4,
    );
    let res = &r.results[0];
    assert_eq!(res.error_code, 0, "{:?}", res.error_message);
    let c = res
        .configs
        .iter()
        .find(|c| c.name.as_str() == key)
        .unwrap_or_else(|| panic!("{key} not described"));
    (
        c.value
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        c.config_source,
    )
}

/// A Prometheus sample `name{side="<side>"}` of broker `b`.
fn metric(b: &TestBroker, name: &str, side: &str) -> u64 {
    let (code, body) = common::http_get(b.admin_port, "/metrics").unwrap();
    assert_eq!(code, 200);
    let prefix = format!("{name}{{side=\"{side}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
}

/// Waits (bounded: 180 s) until no reassignment is listed; returns how long it took.
fn wait_reassignments_done(b: &TestBroker) -> Duration {
    let start = Instant::now();
    eventually(
        "the reassignment to complete",
        Duration::from_secs(180),
        Duration::from_millis(50),
        || {
            let listed = list_reassignments(b);
            if listed.is_empty() {
                Ok(())
            } else {
                Err(listed)
            }
        },
    )
    .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", b.log()));
    start.elapsed()
}

/// Produces `n` records of `size` bytes to `topic` through `b` with kcat, acks=all, in batches
/// of at most 64 KiB (the throttle check allows one batch over the rate).
fn kcat_fill(b: &TestBroker, topic: &str, n: usize, size: usize) {
    let line = "x".repeat(size);
    let input: String = (0..n).map(|_| format!("{line}\n")).collect();
    let out = run_with_timeout(
        Command::new("kcat").args([
            "-b",
            &b.bootstrap(),
            "-P",
            "-t",
            topic,
            "-p",
            "0",
            "-X",
            "acks=all",
            "-X",
            "batch.size=65536",
        ]),
        Some(input.as_bytes()),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const RATE: u64 = 2 << 20;
const BATCH_SLACK: u64 = 128 << 10;

#[test]
fn reassigning_under_an_acks_all_producer_with_a_throttle_loses_nothing() {
    let brokers = start_cluster();
    assert_eq!(create_topic(&brokers[0], "live", 1, 2, &[]), 0);
    assert_eq!(create_topic(&brokers[0], "bulk", 1, 2, &[]), 0);
    let m = wait_for(&brokers[0], "both topics in sync on 0 and 1", |m| {
        ["live", "bulk"]
            .iter()
            .all(|t| isr_of(m, t, 0) == vec![0, 1] && leader_of(m, t, 0) == 0)
    });
    assert_eq!(replicas_of(&m, "bulk", 0), vec![0, 1]);

    // 8 MB of backlog to move.
    let records = 8_000;
    kcat_fill(&brokers[0], "bulk", records, 1_000);
    let bulk_bytes = replica_bytes(&brokers[0], "bulk");
    assert!(bulk_bytes > 8_000_000, "{bulk_bytes}");

    // Errors as Kafka's.
    assert_eq!(
        reassign(&brokers[1], &[("bulk", 0, None)]),
        vec![NO_REASSIGNMENT_IN_PROGRESS]
    );
    assert_eq!(
        reassign(&brokers[1], &[("bulk", 5, Some(vec![2, 1]))]),
        vec![UNKNOWN_TOPIC_OR_PARTITION]
    );
    assert_eq!(
        reassign(&brokers[1], &[("bulk", 0, Some(vec![2, 9]))]),
        vec![INVALID_REPLICA_ASSIGNMENT]
    );

    // What kafka-reassign-partitions --throttle sets: the rates on every broker, the leader
    // throttle on the current replicas, the follower throttle on the new one. Set through
    // broker 1, applied by all.
    let rate = RATE.to_string();
    for id in ["0", "1", "2"] {
        let code = set_configs(
            &brokers[1],
            RESOURCE_BROKER,
            id,
            &[
                ("leader.replication.throttled.rate", &rate),
                ("follower.replication.throttled.rate", &rate),
            ],
            false,
        );
        assert_eq!(code, 0);
    }
    for t in ["live", "bulk"] {
        let code = set_configs(
            &brokers[1],
            RESOURCE_TOPIC,
            t,
            &[
                ("leader.replication.throttled.replicas", "0:0,0:1"),
                ("follower.replication.throttled.replicas", "0:2"),
            ],
            false,
        );
        assert_eq!(code, 0);
    }
    assert_eq!(
        describe(
            &brokers[0],
            RESOURCE_BROKER,
            "0",
            "leader.replication.throttled.rate"
        )
        .0,
        rate
    );

    let total = 60_000;
    let mut producer = CrashProducer::start(&bootstrap_all(&brokers), "live", total);
    producer.wait_acked(2_000);
    let acked_at_start = producer.acked_count();

    // Move both partitions off broker 0 (their leader) onto 2 and 1.
    assert_eq!(
        reassign(
            &brokers[1],
            &[("live", 0, Some(vec![2, 1])), ("bulk", 0, Some(vec![2, 1]))]
        ),
        vec![0, 0]
    );
    let started = Instant::now();
    // The 8 MB at 2 MB/s take seconds: the move is listed, and Metadata reports the union
    // (asked of broker 1, whose image has both writes applied).
    let listed = list_reassignments(&brokers[1]);
    let bulk = listed.iter().find(|r| r.0 == "bulk").unwrap_or_else(|| {
        panic!("bulk is being reassigned: {listed:?}");
    });
    assert_eq!(
        (bulk.1.clone(), bulk.2.clone(), bulk.3.clone()),
        (vec![2, 1, 0], vec![2], vec![0])
    );
    let m = metadata(&brokers[1]).unwrap();
    assert_eq!(replicas_of(&m, "bulk", 0), vec![2, 1, 0]);

    let throttled_time = started.elapsed() + wait_reassignments_done(&brokers[1]);
    let m = wait_for(&brokers[2], "the moved replicas", |m| {
        ["live", "bulk"]
            .iter()
            .all(|t| replicas_of(m, t, 0) == vec![2, 1] && isr_of(m, t, 0) == vec![1, 2])
    });
    for t in ["live", "bulk"] {
        assert!([1, 2].contains(&leader_of(&m, t, 0)), "leader moved off 0");
    }

    // The producer only ever saw retriable errors; the checker finds every acknowledged
    // record exactly once, in order.
    let (status, err) = producer.finish(Duration::from_secs(150), "after the reassignment");
    assert!(
        status.success(),
        "producer saw a non-retriable error: {err}"
    );
    assert!(acked_at_start < total, "the move started mid-stream");
    assert_eq!(producer.acked_count(), total);
    let out = kcat_consume(&brokers[2], "live", Duration::from_secs(120));
    let consumed: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(
        consumed == (0..total as u64).collect::<Vec<_>>(),
        "lost, duplicated or reordered: {} records consumed",
        consumed.len()
    );
    let out = kcat_consume(&brokers[1], "bulk", Duration::from_secs(120));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        records
    );

    // The throttle's own numbers: the backlog went through it on both sides, and no
    // one-second window carried more than the rate plus one batch.
    let leader_bytes = metric(
        &brokers[0],
        "eddy_replication_throttled_bytes_total",
        "leader",
    );
    let follower_bytes = metric(
        &brokers[2],
        "eddy_replication_throttled_bytes_total",
        "follower",
    );
    let leader_max = metric(
        &brokers[0],
        "eddy_replication_throttled_window_max_bytes",
        "leader",
    );
    let follower_max = metric(
        &brokers[2],
        "eddy_replication_throttled_window_max_bytes",
        "follower",
    );
    eprintln!(
        "throttled at {RATE} B/s: moved {bulk_bytes} bytes in {throttled_time:?}; leader \
         {leader_bytes} B (max {leader_max} B/window), follower {follower_bytes} B (max \
         {follower_max} B/window)"
    );
    assert!(leader_bytes >= bulk_bytes, "{leader_bytes} < {bulk_bytes}");
    assert!(
        follower_bytes >= bulk_bytes,
        "{follower_bytes} < {bulk_bytes}"
    );
    assert!(leader_max <= RATE + BATCH_SLACK, "{leader_max}");
    assert!(follower_max <= RATE + BATCH_SLACK, "{follower_max}");
    // Broker 1 stayed in the ISR all along: never throttled.
    assert_eq!(
        metric(
            &brokers[1],
            "eddy_replication_throttled_bytes_total",
            "follower"
        ),
        0
    );

    // The removed replica's data is gone (bounded wait: applied with the image).
    eventually(
        "broker 0 to drop the moved data",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let bytes = replica_bytes(&brokers[0], "bulk") + replica_bytes(&brokers[0], "live");
            if bytes == 0 { Ok(()) } else { Err(bytes) }
        },
    )
    .unwrap();

    // Without a throttle: move the backlog back onto 0 (which starts from nothing).
    for id in ["0", "1", "2"] {
        let code = set_configs(
            &brokers[0],
            RESOURCE_BROKER,
            id,
            &[
                ("leader.replication.throttled.rate", "9223372036854775807"),
                ("follower.replication.throttled.rate", "9223372036854775807"),
            ],
            false,
        );
        assert_eq!(code, 0);
    }
    assert_eq!(
        reassign(&brokers[0], &[("bulk", 0, Some(vec![0, 1]))]),
        vec![0]
    );
    let unthrottled_time = wait_reassignments_done(&brokers[0]);
    eprintln!("unthrottled: moved {bulk_bytes} bytes in {unthrottled_time:?}");
    wait_for(&brokers[0], "bulk back on 0 and 1", |m| {
        replicas_of(m, "bulk", 0) == vec![0, 1] && isr_of(m, "bulk", 0) == vec![0, 1]
    });
    let out = kcat_consume(&brokers[0], "bulk", Duration::from_secs(120));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        records
    );
    assert_eq!(
        replica_bytes(&brokers[0], "bulk"),
        replica_bytes(&brokers[1], "bulk")
    );

    // Cancelling: a slow move (broker 2 fetches at 256 KiB/s) is cancelled with a null target;
    // the partition is back on its replicas and broker 2's partial copy is deleted.
    assert_eq!(
        set_configs(
            &brokers[0],
            RESOURCE_BROKER,
            "2",
            &[("follower.replication.throttled.rate", "262144")],
            false,
        ),
        0
    );
    assert_eq!(
        reassign(&brokers[0], &[("bulk", 0, Some(vec![2, 1]))]),
        vec![0]
    );
    eventually(
        "broker 2 to start copying",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || replica_bytes(&brokers[2], "bulk") > 0,
    )
    .unwrap();
    assert_eq!(list_reassignments(&brokers[0]).len(), 1);
    assert_eq!(reassign(&brokers[0], &[("bulk", 0, None)]), vec![0]);
    assert!(list_reassignments(&brokers[0]).is_empty());
    assert_eq!(
        reassign(&brokers[0], &[("bulk", 0, None)]),
        vec![NO_REASSIGNMENT_IN_PROGRESS]
    );
    wait_for(&brokers[2], "bulk back on 0 and 1 after the cancel", |m| {
        replicas_of(m, "bulk", 0) == vec![0, 1] && isr_of(m, "bulk", 0) == vec![0, 1]
    });
    eventually(
        "broker 2 to drop its partial copy",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let bytes = replica_bytes(&brokers[2], "bulk");
            if bytes == 0 { Ok(()) } else { Err(bytes) }
        },
    )
    .unwrap();
}

#[test]
fn configs_and_create_partitions_go_through_the_metadata_log() {
    use create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
    let brokers = start_cluster();
    assert_eq!(create_topic(&brokers[0], "cfg", 1, 2, &[]), 0);
    assert_eq!(create_topic(&brokers[0], "ca", 1, 2, &[]), 0);
    // Every broker knows the topics before another one is asked about them.
    for b in &brokers {
        wait_for(b, "cfg and ca", |m| {
            isr_of(m, "cfg", 0).len() == 2 && isr_of(m, "ca", 0).len() == 2
        });
    }

    // A topic config altered through broker 1 is described through broker 2; validate_only
    // changes nothing, bad values are refused.
    let key = "retention.ms";
    assert_eq!(
        set_configs(&brokers[1], RESOURCE_TOPIC, "cfg", &[(key, "1234")], true),
        0
    );
    assert_eq!(
        describe(&brokers[2], RESOURCE_TOPIC, "cfg", key).0,
        "604800000"
    );
    assert_eq!(
        set_configs(&brokers[1], RESOURCE_TOPIC, "cfg", &[(key, "soon")], false),
        INVALID_CONFIG
    );
    assert_eq!(
        set_configs(&brokers[1], RESOURCE_TOPIC, "cfg", &[(key, "1234")], false),
        0
    );
    eventually(
        "broker 2 to apply the change",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let seen = describe(&brokers[2], RESOURCE_TOPIC, "cfg", key);
            if seen == ("1234".into(), 1) {
                Ok(())
            } else {
                Err(seen)
            }
        },
    )
    .unwrap();
    // Concurrent APPENDs through all three brokers lose nothing: each is a compare-and-set on
    // the overrides it was computed from, recomputed when another got there first.
    let key = "follower.replication.throttled.replicas";
    std::thread::scope(|scope| {
        for (i, b) in brokers.iter().enumerate() {
            scope.spawn(move || {
                for j in 0..5 {
                    assert_eq!(append_config(b, "cfg", key, &format!("{j}:{i}")), 0);
                }
            });
        }
    });
    eventually(
        "all 15 appends (none lost)",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let (v, _) = describe(&brokers[0], RESOURCE_TOPIC, "cfg", key);
            if v.split(',').count() == 15 {
                Ok(())
            } else {
                Err(v)
            }
        },
    )
    .unwrap();

    // A cluster-wide broker default set through broker 0 applies on broker 2.
    assert_eq!(
        set_configs(
            &brokers[0],
            RESOURCE_BROKER,
            "",
            &[("num.partitions", "3")],
            false
        ),
        0
    );
    eventually(
        "broker 2 to apply the default",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let (v, _) = describe(&brokers[2], RESOURCE_BROKER, "2", "num.partitions");
            if v == "3" { Ok(()) } else { Err(v) }
        },
    )
    .unwrap();

    // Another broker's configs, described from the metadata log.
    assert_eq!(
        describe(&brokers[2], RESOURCE_BROKER, "1", "num.partitions").0,
        "3"
    );

    // CreatePartitions in cluster mode through broker 2.
    let grow = |count: i32, assignment: Option<Vec<Vec<i32>>>, validate: bool| -> i16 {
        let mut w = Wire::connect(&brokers[2].bootstrap());
        let r = w.call(
            &CreatePartitionsRequest::default()
                .with_timeout_ms(30_000)
                .with_validate_only(validate)
                .with_topics(vec![
                    CreatePartitionsTopic::default()
                        .with_name(TopicName(sb("cfg")))
                        .with_count(count)
                        .with_assignments(assignment.map(|a| {
                            a.into_iter()
                                .map(|r| {
                                    CreatePartitionsAssignment::default()
                                        .with_broker_ids(r.into_iter().map(BrokerId).collect())
                                })
                                .collect()
                        })),
                ]),
            3,
        );
        r.results[0].error_code
    };
    assert_eq!(grow(1, None, false), INVALID_PARTITIONS);
    assert_eq!(
        grow(2, Some(vec![vec![0]]), false),
        INVALID_REPLICA_ASSIGNMENT
    );
    assert_eq!(grow(3, None, true), 0);
    assert_eq!(partition_count(&brokers[0], "cfg"), 1, "validate_only");
    assert_eq!(grow(3, Some(vec![vec![2, 0], vec![1, 2]]), false), 0);
    let m = wait_for(&brokers[0], "three partitions of cfg", |m| {
        isr_of(m, "cfg", 1) == vec![0, 2] && isr_of(m, "cfg", 2) == vec![1, 2]
    });
    assert_eq!(replicas_of(&m, "cfg", 1), vec![2, 0]);
    assert_eq!(replicas_of(&m, "cfg", 2), vec![1, 2]);
    assert_eq!(grow(5, None, false), 0);
    let m = wait_for(&brokers[1], "five partitions of cfg", |m| {
        (0..5).all(|p| isr_of(m, "cfg", p).len() == 2)
    });
    // A real admin client (confluent-kafka) through all three brokers, on topic ca.
    common::run_python("cluster_admin_confluent.py", &bootstrap_all(&brokers), &[]);
    // The new partitions take writes on their leaders.
    for p in 0..5 {
        let leader = leader_of(&m, "cfg", p) as usize;
        let mut w = Wire::connect(&brokers[leader].bootstrap());
        let records = wire::batch(
            -1,
            -1,
            0,
            &[b"v"],
            &[1],
            kafka_protocol::records::Compression::None,
        );
        let r = w.call(&wire::produce_request("cfg", p as i32, -1, records), 9);
        assert_eq!(
            r.responses[0].partition_responses[0].error_code, 0,
            "partition {p}"
        );
    }
}

fn partition_count(b: &TestBroker, topic: &str) -> usize {
    let m = metadata(b).unwrap();
    m.topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))
        .map_or(0, |t| t.partitions.len())
}

/// CreateTopics of `name` with one partition on broker `on` through `b`: (error, topic id).
fn create_on(b: &TestBroker, name: &str, on: i32) -> (i16, String) {
    use create_topics_request::CreatableReplicaAssignment;
    let mut w = Wire::connect(&b.bootstrap());
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(sb(name)))
                .with_num_partitions(-1)
                .with_replication_factor(-1)
                .with_assignments(vec![
                    CreatableReplicaAssignment::default()
                        .with_partition_index(0)
                        .with_broker_ids(vec![BrokerId(on)]),
                ]),
        ]);
    let r = w.call(&req, 7);
    (
        r.topics[0].error_code,
        r.topics[0].topic_id.simple().to_string(),
    )
}

/// Produces one record to partition 0 through `b` with acks=all: (error, base offset).
fn produce_one(b: &TestBroker, topic: &str, value: &str) -> (i16, i64) {
    let mut w = Wire::connect(&b.bootstrap());
    let records = wire::batch(
        -1,
        -1,
        0,
        &[value.as_bytes()],
        &[1],
        kafka_protocol::records::Compression::None,
    );
    let r = w.call(&wire::produce_request(topic, 0, -1, records), 9);
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

#[test]
fn a_topic_recreated_while_its_broker_was_down_never_sees_the_old_data() {
    // Broker 3 is not a voter: after a restart it learns the current image whole, so without
    // topic ids in its directory names it would open the old topic's files as the new topic's.
    let mut brokers = start_brokers(4, &[], "4000");
    let (code, old_id) = create_on(&brokers[1], "again", 3);
    assert_eq!(code, 0);
    wait_for(&brokers[3], "again led by 3", |m| {
        leader_of(m, "again", 0) == 3
    });
    for i in 0..3 {
        assert_eq!(produce_one(&brokers[3], "again", "old"), (0, i));
    }
    let old_dir = brokers[3].data_dir().join(format!("again-0-{old_id}"));
    assert!(old_dir.is_dir());

    // Broker 3 stops; the topic is deleted and recreated under the same name on broker 3.
    assert!(brokers[3].stop());
    wait_for(&brokers[1], "broker 3 gone", |m| m.brokers.len() == 3);
    let mut w = Wire::connect(&brokers[1].bootstrap());
    let r = w.call(
        &DeleteTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topic_names(vec![TopicName(sb("again"))]),
        5,
    );
    assert_eq!(r.responses[0].error_code, 0);
    let (code, new_id) = create_on(&brokers[1], "again", 3);
    assert_eq!(code, 0);
    assert_ne!(old_id, new_id);

    // Back: the new topic starts empty there, and the old incarnation's files are deleted.
    brokers[3].spawn();
    wait_for(&brokers[3], "the new again led by 3", |m| {
        leader_of(m, "again", 0) == 3
            && m.topics.iter().any(|t| {
                t.name.as_ref().is_some_and(|n| n.as_str() == "again")
                    && t.topic_id.simple().to_string() == new_id
            })
    });
    assert_eq!(produce_one(&brokers[3], "again", "new"), (0, 0));
    let out = kcat_consume(&brokers[3], "again", Duration::from_secs(60));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "new");
    eventually(
        "the old topic's files to go",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || !old_dir.exists(),
    )
    .unwrap();
    assert!(
        brokers[3]
            .data_dir()
            .join(format!("again-0-{new_id}"))
            .is_dir()
    );
}
