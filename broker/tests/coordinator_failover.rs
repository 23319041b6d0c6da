#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Group coordinator failover in cluster mode (three broker processes on loopback):
//! `__consumer_offsets` is a replicated internal topic (RF 3, full ISR, flagged internal), the
//! coordinator of a group is the leader of its offsets partition, other brokers answer
//! NOT_COORDINATOR, and after kill -9 of the coordinator a consumer of the same group resumes
//! exactly at the last committed offsets. The restarted broker catches up on the offsets log.

mod cluster_support;
mod common;
mod wire;

use cluster_support::{create_topic, metadata, start_brokers, wait_for};
use common::{TestBroker, free_port};
use eddy_test_support::{eventually, scaled};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use wire::Wire;

const OFFSETS_TOPIC: &str = "__consumer_offsets";
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const TOPIC: &str = "events";
const GROUP: &str = "failover-group";
const PARTITIONS: i32 = 2;
const PER_PARTITION: i64 = 100;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Three brokers, all controller voters, with 3 offsets partitions. The broker session timeout
/// (how long a killed broker keeps its leaderships) is 4 s, or `EDDY_SESSION_TIMEOUT_MS` when
/// measuring failover times.
/// Three voters with fast group starts and 3 offsets partitions; `EDDY_SESSION_TIMEOUT_MS`
/// (default 4000) sets the broker session timeout, for measuring failover.
fn start_cluster() -> Vec<TestBroker> {
    let session_timeout =
        std::env::var("EDDY_SESSION_TIMEOUT_MS").unwrap_or_else(|_| "4000".into());
    start_brokers(
        3,
        &[
            "group.initial.rebalance.delay.ms=0",
            "offsets.topic.num.partitions=3",
        ],
        &session_timeout,
    )
}

fn topic_of<'a>(
    m: &'a MetadataResponse,
    name: &str,
) -> Option<&'a metadata_response::MetadataResponseTopic> {
    m.topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == name))
}

/// Every partition of `name` has `rf` replicas, all in sync, and a leader.
fn fully_replicated(m: &MetadataResponse, name: &str, rf: usize) -> bool {
    topic_of(m, name).is_some_and(|t| {
        !t.partitions.is_empty()
            && t.partitions.iter().all(|p| {
                p.leader_id.0 >= 0 && p.replica_nodes.len() == rf && p.isr_nodes.len() == rf
            })
    })
}

/// FindCoordinator (v3) for the group through `b`: (error code, node id).
fn find_coordinator(b: &TestBroker, group: &str) -> (i16, i32) {
    let mut w = Wire::connect(&b.bootstrap());
    let r = w.call(
        &FindCoordinatorRequest::default()
            .with_key(sb(group))
            .with_key_type(0),
        3,
    );
    (r.error_code, r.node_id.0)
}

/// FindCoordinator until it names a broker (bounded: 60 s); the first calls create the topic.
fn wait_coordinator(b: &TestBroker, group: &str) -> i32 {
    let what = format!("a coordinator for {group}");
    eventually(
        &what,
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let (e, node) = find_coordinator(b, group);
            if e == 0 {
                Ok(node)
            } else {
                Err(format!("error {e}"))
            }
        },
    )
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", b.log()))
}

/// OffsetFetch (v7) of the group's committed offsets for TOPIC through `b`: top-level error.
fn offset_fetch_error(b: &TestBroker, group: &str) -> i16 {
    let mut w = Wire::connect(&b.bootstrap());
    let r = w.call(
        &OffsetFetchRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(TopicName(sb(TOPIC)))
                    .with_partition_indexes(vec![0]),
            ])),
        7,
    );
    r.error_code
}

fn bootstrap_all(brokers: &[TestBroker]) -> String {
    brokers
        .iter()
        .map(TestBroker::bootstrap)
        .collect::<Vec<_>>()
        .join(",")
}

fn consumer(bootstrap: &str) -> BaseConsumer {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", GROUP)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "15000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .unwrap();
    c.subscribe(&[TOPIC]).unwrap();
    c
}

/// The next record (bounded: 90 s, enough for a partition leader to be re-elected):
/// (partition, offset, value).
fn next(c: &BaseConsumer) -> (i32, i64, String) {
    // Each check is a consumer poll of up to 200 ms.
    eventually(
        "a record",
        Duration::from_secs(90),
        Duration::from_millis(1),
        || {
            // Errors are transient while a broker is down (transport, leader changes): poll on.
            let m = c.poll(Duration::from_millis(200))?.ok()?;
            let v = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
            Some((m.partition(), m.offset(), v))
        },
    )
    .unwrap()
}

/// Commits `next_offset` for `partition` synchronously; retries retriable failures (bounded:
/// 60 s). Returns how many attempts failed before it went through.
fn commit(c: &BaseConsumer, partition: i32, next_offset: i64) -> usize {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, partition, Offset::Offset(next_offset))
        .unwrap();
    let mut failed = 0;
    eventually(
        "the commit to go through",
        Duration::from_secs(60),
        Duration::from_millis(1),
        || {
            let result = c.commit(&tpl, CommitMode::Sync);
            if result.is_err() {
                failed += 1;
                // Keep the consumer's protocol running between attempts.
                let _ = c.poll(Duration::from_millis(50));
            }
            result
        },
    )
    .unwrap();
    failed
}

/// Creates TOPIC (RF 3) and produces `{p}-{i}` to offset i of each partition p, acks=all.
async fn create_and_fill_topic(b: &TestBroker, bootstrap: &str) {
    assert_eq!(create_topic(b, TOPIC, PARTITIONS, 3, &[]), 0);
    wait_for(b, "the data topic fully replicated", |m| {
        fully_replicated(m, TOPIC, 3)
    });
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    for p in 0..PARTITIONS {
        for i in 0..PER_PARTITION {
            producer
                .send(
                    FutureRecord::<(), _>::to(TOPIC)
                        .partition(p)
                        .payload(&format!("{p}-{i}")),
                    Duration::from_secs(30),
                )
                .await
                .map_err(|(e, _)| e)
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_group_coordinator_loses_no_committed_offset() {
    let mut brokers = start_cluster();
    let bootstrap = bootstrap_all(&brokers);

    // The first FindCoordinator has the controller create the replicated offsets topic, and
    // is answered with the retriable COORDINATOR_NOT_AVAILABLE until it exists.
    assert_eq!(
        find_coordinator(&brokers[0], GROUP),
        (COORDINATOR_NOT_AVAILABLE, -1)
    );
    let coordinator = wait_coordinator(&brokers[0], GROUP);
    let m = wait_for(&brokers[0], "__consumer_offsets fully replicated", |m| {
        fully_replicated(m, OFFSETS_TOPIC, 3)
    });
    let t = topic_of(&m, OFFSETS_TOPIC).unwrap();
    assert!(t.is_internal, "{OFFSETS_TOPIC} must be flagged internal");
    assert_eq!(t.partitions.len(), 3);
    // Every broker names the same coordinator: the leader of the group's partition.
    for b in &brokers {
        assert_eq!(wait_coordinator(b, GROUP), coordinator);
    }

    create_and_fill_topic(&brokers[0], &bootstrap).await;

    // Consumer A reads and commits (synchronously, record by record) part of the topic.
    let a = consumer(&bootstrap);
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();
    for _ in 0..120 {
        let (p, o, v) = next(&a);
        assert_eq!(v, format!("{p}-{o}"));
        commit(&a, p, o + 1);
        committed.insert(p, o + 1);
    }

    // Brokers other than the coordinator refuse group requests for it.
    let coord_index = usize::try_from(coordinator).unwrap();
    for (i, b) in brokers.iter().enumerate() {
        let e = offset_fetch_error(b, GROUP);
        if i == coord_index {
            assert_eq!(e, 0, "the coordinator serves OffsetFetch");
        } else {
            assert_eq!(e, NOT_COORDINATOR, "broker {i} is not the coordinator");
        }
    }

    let members_before = describe_members(&brokers[coord_index]);
    assert_eq!(members_before.len(), 1, "{members_before:?}");

    // kill -9 the coordinator; the first commit that goes through afterwards is the failover.
    let killed_at = Instant::now();
    brokers[coord_index].kill9();
    let (&p, &o) = committed.iter().next().unwrap();
    let failed = commit(&a, p, o);
    let failover = killed_at.elapsed();
    println!(
        "coordinator failover: {} ms from kill -9 to the first successful commit ({failed} failed attempts)",
        failover.as_millis()
    );
    let survivor = brokers.iter().find(|b| b.child.is_some()).unwrap();
    let new_coordinator = wait_coordinator(survivor, GROUP);
    assert_ne!(new_coordinator, coordinator);
    // The membership snapshot was replicated too: the new coordinator knows A as the same
    // member (a rejoin after UNKNOWN_MEMBER_ID would give it a new member id).
    let members_after = describe_members(&brokers[usize::try_from(new_coordinator).unwrap()]);
    assert_eq!(members_after, members_before);

    // A carries on committing through the new coordinator, then reads 10 more records that it
    // does not commit: they are the only ones a new member may see again.
    for _ in 0..20 {
        let (p, o, v) = next(&a);
        assert_eq!(v, format!("{p}-{o}"));
        assert!(
            o >= committed.get(&p).copied().unwrap_or(0),
            "went backwards"
        );
        commit(&a, p, o + 1);
        committed.insert(p, o + 1);
    }
    for _ in 0..10 {
        next(&a);
    }
    drop(a);

    // Consumer B of the same group starts exactly at the committed offsets and reads the rest.
    let b = consumer(&bootstrap);
    let mut position: BTreeMap<i32, i64> = BTreeMap::new();
    let total: i64 = (0..PARTITIONS)
        .map(|p| PER_PARTITION - committed.get(&p).copied().unwrap_or(0))
        .sum();
    for _ in 0..total {
        let (p, o, v) = next(&b);
        assert_eq!(v, format!("{p}-{o}"));
        let expected = position
            .get(&p)
            .copied()
            .unwrap_or_else(|| committed.get(&p).copied().unwrap_or(0));
        assert_eq!(
            o, expected,
            "partition {p}: resumed/continued at {o}, expected {expected} (committed {committed:?})"
        );
        position.insert(p, o + 1);
    }
    for p in 0..PARTITIONS {
        assert_eq!(
            position
                .get(&p)
                .copied()
                .unwrap_or(0)
                .max(committed.get(&p).copied().unwrap_or(0)),
            PER_PARTITION
        );
    }
    drop(b);

    // The killed broker comes back and catches up on __consumer_offsets: it rejoins the ISR of
    // every offsets partition (the leader adds it only once it has fetched up to the log end).
    brokers[coord_index].spawn();
    let restarted = &brokers[coord_index];
    // Asked of a broker that stayed up: the restarted one's image may be stale at first.
    let other = &brokers[(coord_index + 1) % brokers.len()];
    wait_for(
        other,
        "the restarted broker back in every offsets ISR",
        |m| fully_replicated(m, OFFSETS_TOPIC, 3),
    );
    // Proof that it has them: drain leadership from the two others (maintenance), so that it
    // leads every offsets partition, loads the group from its own replica and serves exactly
    // the committed offsets.
    for (i, b) in brokers.iter().enumerate() {
        if i != coord_index {
            let (code, body) =
                common::http_call(b.admin_port, "PUT", "/v1/broker/maintenance").unwrap();
            assert_eq!(code, 200, "{body}");
        }
    }
    wait_for(
        restarted,
        "the restarted broker leading every offsets partition",
        |m| {
            topic_of(m, OFFSETS_TOPIC)
                .is_some_and(|t| t.partitions.iter().all(|p| p.leader_id.0 == coordinator))
        },
    );
    assert_eq!(wait_coordinator(restarted, GROUP), coordinator);
    let fetched = eventually(
        "OffsetFetch of the committed offsets",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || committed_offsets(restarted, GROUP),
    )
    .unwrap();
    assert_eq!(
        fetched, committed,
        "the restarted broker serves the committed offsets"
    );
}

/// DescribeGroups (v5) through `b`: the group's member ids, when it is Stable.
fn describe_members(b: &TestBroker) -> Vec<String> {
    let mut w = Wire::connect(&b.bootstrap());
    let r = w.call(
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(GROUP))]),
        5,
    );
    let g = &r.groups[0];
    assert_eq!(g.error_code, 0, "{g:?}");
    assert_eq!(g.group_state.as_str(), "Stable", "{g:?}");
    g.members.iter().map(|m| m.member_id.to_string()).collect()
}

/// OffsetFetch (v7) of the group's committed offsets for every TOPIC partition through `b`.
fn committed_offsets(b: &TestBroker, group: &str) -> Result<BTreeMap<i32, i64>, i16> {
    let mut w = Wire::connect(&b.bootstrap());
    let r = w.call(
        &OffsetFetchRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(TopicName(sb(TOPIC)))
                    .with_partition_indexes((0..PARTITIONS).collect()),
            ])),
        7,
    );
    if r.error_code != 0 {
        return Err(r.error_code);
    }
    Ok(r.topics[0]
        .partitions
        .iter()
        .filter(|p| p.committed_offset >= 0)
        .map(|p| (p.partition_index, p.committed_offset))
        .collect())
}

/// A stream of synchronous commits (a librdkafka consumer outside any generation, so nothing
/// but the commits matters) while the coordinator is killed: the commit acknowledged last
/// before the kill, or any later one, is what the new coordinator serves.
#[test]
fn the_last_acknowledged_commit_survives_a_kill_during_a_commit_stream() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
    const STREAM_GROUP: &str = "stream-group";
    let mut brokers = start_cluster();
    let bootstrap = bootstrap_all(&brokers);
    assert_eq!(create_topic(&brokers[0], TOPIC, 1, 3, &[]), 0);
    let coordinator = wait_coordinator(&brokers[0], STREAM_GROUP);
    wait_for(&brokers[0], "__consumer_offsets fully replicated", |m| {
        fully_replicated(m, OFFSETS_TOPIC, 3)
    });

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicI64::new(0));
    let attempted = Arc::new(AtomicI64::new(0));
    let committer = {
        let (stop, acked, attempted) = (
            Arc::clone(&stop),
            Arc::clone(&acked),
            Arc::clone(&attempted),
        );
        std::thread::spawn(move || {
            let c: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", STREAM_GROUP)
                .set("enable.auto.commit", "false")
                .create()
                .unwrap();
            // A worker's lifetime bound (it stops on `stop`), scaled like the waits it outlives.
            let deadline = Instant::now() + scaled(Duration::from_secs(120));
            let mut next = 1;
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                attempted.store(next, Ordering::SeqCst);
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(TOPIC, 0, Offset::Offset(next))
                    .unwrap();
                if c.commit(&tpl, CommitMode::Sync).is_ok() {
                    acked.store(next, Ordering::SeqCst);
                    next += 1;
                } else {
                    // The worker's retry pace after a failed commit, not a wait for anything.
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        })
    };
    eventually(
        "50 commits of the stream acknowledged",
        Duration::from_secs(60),
        Duration::from_millis(10),
        || {
            let n = acked.load(Ordering::SeqCst);
            if n >= 50 { Ok(()) } else { Err(n) }
        },
    )
    .unwrap();
    let coord_index = usize::try_from(coordinator).unwrap();
    brokers[coord_index].kill9();
    let acked_at_kill = acked.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    committer.join().unwrap();
    let (last_acked, last_attempted) = (
        acked.load(Ordering::SeqCst),
        attempted.load(Ordering::SeqCst),
    );
    assert!(last_acked >= acked_at_kill);

    let survivor = &brokers[(coord_index + 1) % brokers.len()];
    let served = eventually(
        "a new coordinator serving the offsets",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let node = wait_coordinator(survivor, STREAM_GROUP);
            if node == coordinator {
                return Err(format!("coordinator still {node}"));
            }
            committed_offsets(&brokers[usize::try_from(node).unwrap()], STREAM_GROUP)
                .map(|o| o.get(&0).copied().unwrap_or(-1))
                .map_err(|e| format!("OffsetFetch through {node}: {e:?}"))
        },
    )
    .unwrap();
    println!(
        "commit stream: {last_acked} acknowledged ({acked_at_kill} at the kill), last attempted {last_attempted}, served {served}"
    );
    assert!(
        served >= last_acked && served <= last_attempted,
        "served {served}, last acknowledged {last_acked}, last attempted {last_attempted}"
    );

    // DeleteGroups goes through the replicated log too: refused off the coordinator, answered
    // by it once replicated, after which the offsets are gone.
    let node = wait_coordinator(survivor, STREAM_GROUP);
    let delete = |b: &TestBroker| {
        let mut w = Wire::connect(&b.bootstrap());
        w.call(
            &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(sb(STREAM_GROUP))]),
            2,
        )
        .results[0]
            .error_code
    };
    for (i, b) in brokers.iter().enumerate() {
        if i != coord_index && i != usize::try_from(node).unwrap() {
            assert_eq!(delete(b), NOT_COORDINATOR);
        }
    }
    let coord = &brokers[usize::try_from(node).unwrap()];
    assert_eq!(delete(coord), 0);
    assert_eq!(committed_offsets(coord, STREAM_GROUP), Ok(BTreeMap::new()));
}

/// SIGTERM of the coordinator (a rolling restart's step): the controlled shutdown moves the
/// offsets partitions' leadership before the broker exits; the member keeps its id (no rejoin)
/// and commits on through the new coordinator, which serves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controlled_shutdown_of_the_coordinator_moves_the_group_without_a_rejoin() {
    let mut brokers = start_cluster();
    let bootstrap = bootstrap_all(&brokers);
    let coordinator = wait_coordinator(&brokers[0], GROUP);
    wait_for(&brokers[0], "__consumer_offsets fully replicated", |m| {
        fully_replicated(m, OFFSETS_TOPIC, 3)
    });
    create_and_fill_topic(&brokers[0], &bootstrap).await;
    let a = consumer(&bootstrap);
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();
    for _ in 0..50 {
        let (p, o, _) = next(&a);
        commit(&a, p, o + 1);
        committed.insert(p, o + 1);
    }
    let coord_index = usize::try_from(coordinator).unwrap();
    let members_before = describe_members(&brokers[coord_index]);

    // No commit is in flight during the stop: librdkafka 2.0's retry of an OffsetCommit that
    // was in flight when the coordinator's connection closed can keep failing with "broker
    // transport failure" and stop its heartbeats until its session expires (seen in 3 of 7
    // runs, client-side). Heartbeats go on meanwhile.
    let stopping = Instant::now();
    let mut stopped = brokers.remove(coord_index);
    assert!(
        stopped.stop(),
        "the coordinator did not stop cleanly:\n{}",
        stopped.log()
    );
    let exited = stopping.elapsed();
    let (&p, &o) = committed.iter().next().unwrap();
    let failed = commit(&a, p, o);
    println!(
        "controlled shutdown: the broker exited {} ms after SIGTERM, the first commit went through {} ms after SIGTERM ({failed} failed attempts)",
        exited.as_millis(),
        stopping.elapsed().as_millis()
    );
    for _ in 0..50 {
        let (p, o, _) = next(&a);
        commit(&a, p, o + 1);
        committed.insert(p, o + 1);
    }
    let node = wait_coordinator(&brokers[0], GROUP);
    assert_ne!(node, coordinator);
    let new_coordinator = brokers
        .iter()
        .find(|b| {
            metadata(b).is_some_and(|m| {
                m.brokers
                    .iter()
                    .any(|x| x.node_id.0 == node && x.port == i32::from(b.port))
            })
        })
        .unwrap();
    assert_eq!(describe_members(new_coordinator), members_before);
    assert_eq!(committed_offsets(new_coordinator, GROUP), Ok(committed));
}

/// A one-broker cluster: `offsets.topic.replication.factor` (3 by default) is capped, with a
/// warning, at the expected cluster size instead of leaving groups without a coordinator.
#[test]
fn a_one_broker_cluster_caps_the_offsets_replication_factor() {
    let voters = format!("0@127.0.0.1:{}", free_port());
    let mut b = TestBroker::new(
        &[],
        vec![
            "--node-id".into(),
            "0".into(),
            "--controller-quorum-voters".into(),
            voters,
        ],
    );
    b.spawn();
    wait_for(&b, "the broker registered", |m| m.brokers.len() == 1);
    assert_eq!(wait_coordinator(&b, GROUP), 0);
    let m = wait_for(&b, "__consumer_offsets with one replica", |m| {
        fully_replicated(m, OFFSETS_TOPIC, 1)
    });
    assert!(topic_of(&m, OFFSETS_TOPIC).unwrap().is_internal);
    assert!(
        b.log()
            .contains("offsets.topic.replication.factor is larger than the cluster"),
        "no warning about the capped replication factor:\n{}",
        b.log()
    );
    // The coordinator works: a commit through the wire is served back.
    assert_eq!(create_topic(&b, TOPIC, PARTITIONS, 1, &[]), 0);
    let mut w = Wire::connect(&b.bootstrap());
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(sb(GROUP)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(TopicName(sb(TOPIC)))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(1)
                        .with_committed_offset(42),
                ]),
        ]);
    let r = w.call(&commit, 8);
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(committed_offsets(&b, GROUP), Ok(BTreeMap::from([(1, 42)])));
}

/// A data directory holding an unreplicated `__consumer_offsets` (what every broker of an
/// earlier cluster-mode version created locally) starts in cluster mode with that log moved
/// aside; the replicated topic replaces it.
#[test]
fn an_unreplicated_offsets_log_is_moved_aside_in_cluster_mode() {
    let mut b = TestBroker::new(&[], Vec::new());
    b.spawn();
    assert!(b.stop());
    let local = b.data_dir().join(format!("{OFFSETS_TOPIC}-0"));
    assert!(local.is_dir(), "the single node created its offsets log");
    b.args = vec![
        "--node-id".into(),
        "0".into(),
        "--controller-quorum-voters".into(),
        format!("0@127.0.0.1:{}", free_port()),
    ];
    b.spawn();
    assert!(
        local.with_extension("unreplicated").is_dir(),
        "moved aside:\n{}",
        b.log()
    );
    assert_eq!(wait_coordinator(&b, GROUP), 0);
    wait_for(&b, "the replicated __consumer_offsets", |m| {
        fully_replicated(m, OFFSETS_TOPIC, 1)
    });
}

/// A Python client script run with piped stdin/stdout, killed by PID when dropped (a failed
/// test leaves nothing running).
struct Script(std::process::Child);

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// KIP-848 (`group.protocol=consumer`) in cluster mode: two confluent-kafka members consume and
/// commit; kill -9 of the group's coordinator half way; they find the new coordinator (which
/// loaded the group from `__consumer_offsets`) and every record is consumed at least once, the
/// committed offsets at the end of the log.
#[test]
fn a_consumer_protocol_group_survives_a_coordinator_kill() {
    use std::io::{BufRead, Write};
    use std::process::{Command, Stdio};
    const KIP848_GROUP: &str = "kip848-failover";
    const KIP848_TOPIC: &str = "kip848-events";
    let mut brokers = start_brokers(
        3,
        &[
            "offsets.topic.num.partitions=3",
            // Kafka's 45 s session timeout: members find the new coordinator well within it,
            // so none is expired by the failover itself.
            "group.consumer.heartbeat.interval.ms=500",
        ],
        "4000",
    );
    let bootstrap = bootstrap_all(&brokers);
    assert_eq!(create_topic(&brokers[0], KIP848_TOPIC, 4, 3, &[]), 0);
    let coordinator = wait_coordinator(&brokers[0], KIP848_GROUP);
    wait_for(&brokers[0], "__consumer_offsets fully replicated", |m| {
        fully_replicated(m, OFFSETS_TOPIC, 3)
    });
    wait_for(&brokers[0], "the topic fully replicated", |m| {
        fully_replicated(m, KIP848_TOPIC, 3)
    });
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients/groups_consumer_failover.py");
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let mut child = Script(
        Command::new(common::python())
            .arg(script)
            .arg(&bootstrap)
            .arg(KIP848_TOPIC)
            .arg("2000")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr.reopen().unwrap()))
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let log = || std::fs::read_to_string(stderr.path()).unwrap_or_default();
    let half = rx
        .recv_timeout(scaled(Duration::from_secs(150)))
        .unwrap_or_else(|e| panic!("no `half` from the script ({e}); stderr:\n{}", log()));
    assert_eq!(half, "half", "stderr:\n{}", log());
    brokers[usize::try_from(coordinator).unwrap()].kill9();
    writeln!(child.0.stdin.as_mut().unwrap(), "go").unwrap();
    let result = rx
        .recv_timeout(scaled(Duration::from_secs(180)))
        .unwrap_or_else(|e| panic!("the script did not finish ({e}); stderr:\n{}", log()));
    let status = eventually(
        "the script to exit",
        scaled(Duration::from_secs(30)),
        Duration::from_millis(50),
        || child.0.try_wait().unwrap(),
    )
    .unwrap();
    assert!(status.success(), "{result}\nstderr:\n{}", log());
    eprintln!("after the coordinator kill: {result}");
}
