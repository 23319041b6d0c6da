#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! The cooperative-sticky "hang", reproduced deterministically. A raw-wire group leader holds a
//! rebalance open (it delays its own JoinGroup) while a librdkafka consumer, whose JoinGroup is
//! parked at the coordinator, keeps consuming the partitions it owns, as the cooperative protocol
//! allows. Its OffsetCommit waits behind its parked JoinGroup on the coordinator connection (the
//! broker, like Kafka, handles one connection's group requests in order) and is handled once the
//! join phase completed, against the new generation: it fails (ILLEGAL_GENERATION, or
//! REBALANCE_IN_PROGRESS), as with Kafka's classic coordinator. The consumer's position is already
//! past that record and the partition stays with it after the rebalance, so nobody would ever
//! commit the record unless the application rewinds to it. groups_rebalance.py used to skip such
//! records and then wait forever for them (the rare 90 s hang); it rewinds now, as this test does.

mod common;
mod wire;
use bytes::{BufMut, Bytes, BytesMut};
use common::TestBroker;
use eddy_test_support::{eventually, scaled};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, GroupId, HeartbeatRequest,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, MetadataRequest, ProduceRequest,
    SyncGroupRequest, TopicName, consumer_protocol_assignment,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::Compression;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::{ClientConfig, ClientContext, Message, Offset, Statistics};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wire::{Wire, batch};

const TOPIC: &str = "race";
const GROUP: &str = "race-group";
const PROTOCOL: &str = "cooperative-sticky";
const REBALANCE_IN_PROGRESS: i16 = 27;

fn sb(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn produce(w: &mut Wire, partition: i32, values: std::ops::Range<u32>) {
    let values: Vec<String> = values.map(|v| v.to_string()).collect();
    let refs: Vec<&[u8]> = values.iter().map(String::as_bytes).collect();
    let ts = vec![1_700_000_000_000; refs.len()];
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(sb(TOPIC)))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch(-1, -1, -1, &refs, &ts, Compression::None))),
                ]),
        ]);
    let resp = w.call(&req, 9);
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
}

fn subscription() -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    ConsumerProtocolSubscription::default()
        .with_topics(vec![sb(TOPIC)])
        .encode(&mut b, 0)
        .unwrap();
    b.freeze()
}

/// Both partitions to the consumer.
fn assignment_of_everything() -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    ConsumerProtocolAssignment::default()
        .with_assigned_partitions(vec![
            consumer_protocol_assignment::TopicPartition::default()
                .with_topic(TopicName(sb(TOPIC)))
                .with_partitions(vec![0, 1]),
        ])
        .encode(&mut b, 0)
        .unwrap();
    b.freeze()
}

fn empty_assignment() -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    ConsumerProtocolAssignment::default()
        .encode(&mut b, 0)
        .unwrap();
    b.freeze()
}

fn join(w: &mut Wire, member: &str) -> JoinGroupResponse {
    w.call(&join_req(member), 5)
}

fn join_req(member: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(sb(GROUP)))
        .with_session_timeout_ms(120_000)
        .with_rebalance_timeout_ms(120_000)
        .with_member_id(sb(member))
        .with_protocol_type(sb("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(sb(PROTOCOL))
                .with_metadata(subscription()),
        ])
}

fn sync(w: &mut Wire, member: &str, generation: i32, consumer: Option<&str>) -> i16 {
    let mut assignments = vec![
        SyncGroupRequestAssignment::default()
            .with_member_id(sb(member))
            .with_assignment(empty_assignment()),
    ];
    if let Some(c) = consumer {
        assignments.push(
            SyncGroupRequestAssignment::default()
                .with_member_id(sb(c))
                .with_assignment(assignment_of_everything()),
        );
    }
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(sb(GROUP)))
        .with_generation_id(generation)
        .with_member_id(sb(member))
        .with_protocol_type(Some(sb("consumer")))
        .with_protocol_name(Some(sb(PROTOCOL)))
        .with_assignments(assignments);
    w.call(&req, 5).error_code
}

/// The librdkafka consumer's group join state, from its statistics.
#[derive(Clone, Default)]
struct JoinState(Arc<Mutex<String>>);

impl ClientContext for JoinState {
    fn stats(&self, statistics: Statistics) {
        if let Some(cgrp) = statistics.cgrp {
            *self.0.lock().unwrap() = cgrp.join_state;
        }
    }
}

impl ConsumerContext for JoinState {}

fn heartbeat(w: &mut Wire, member: &str, generation: i32) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(sb(GROUP)))
        .with_generation_id(generation)
        .with_member_id(sb(member));
    w.call(&req, 4).error_code
}

/// What the consumer thread saw: (partition, offset, value, commit error, position after).
#[derive(Debug, Clone)]
struct Seen {
    partition: i32,
    offset: i64,
    value: u32,
    commit_error: Option<String>,
    position_after: Option<i64>,
}

fn wait_for(what: &str, limit: Duration, cond: impl FnMut() -> bool) {
    eventually(what, limit, Duration::from_millis(20), cond).unwrap();
}

#[test]
fn commit_queued_behind_a_parked_join_fails_and_the_record_must_be_rewound() {
    let b = TestBroker::start(&["num.partitions=2", "group.initial.rebalance.delay.ms=0"]);
    let mut producer = Wire::connect(&b.bootstrap());
    let md = MetadataRequest::default()
        .with_allow_auto_topic_creation(true)
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName(sb(TOPIC)))),
        ]));
    assert_eq!(producer.call(&md, 4).topics[0].error_code, 0);
    produce(&mut producer, 0, 0..10);
    produce(&mut producer, 1, 10..20);

    // The raw leader: alone in generation 1.
    let mut leader = Wire::connect(&b.bootstrap());
    let first = join(&mut leader, "");
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    let me = first.member_id.to_string();
    let j = join(&mut leader, &me);
    assert_eq!(j.error_code, 0);
    assert_eq!(j.leader.as_str(), me);
    assert_eq!(sync(&mut leader, &me, j.generation_id, None), 0);

    // The librdkafka consumer: commits every record synchronously; on a failed commit it notes
    // where its position was and rewinds to the record (the fix).
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let committing = Arc::new(Mutex::new(None::<u32>));
    let stop = Arc::new(AtomicBool::new(false));
    let join_state = JoinState::default();
    let bootstrap = b.bootstrap();
    let consumer_thread = {
        let (seen, stop, committing) = (
            Arc::clone(&seen),
            Arc::clone(&stop),
            Arc::clone(&committing),
        );
        let ctx = join_state.clone();
        std::thread::spawn(move || {
            let consumer: BaseConsumer<JoinState> = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", GROUP)
                .set("partition.assignment.strategy", PROTOCOL)
                .set("enable.auto.commit", "false")
                .set("auto.offset.reset", "earliest")
                .set("session.timeout.ms", "10000")
                .set("heartbeat.interval.ms", "200")
                .set("statistics.interval.ms", "100")
                .create_with_context(ctx)
                .unwrap();
            consumer.subscribe(&[TOPIC]).unwrap();
            // A worker's lifetime bound (it stops on `stop`), scaled like the waits it outlives.
            let deadline = Instant::now() + scaled(Duration::from_secs(90));
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) else {
                    continue;
                };
                let value: u32 = std::str::from_utf8(m.payload().unwrap())
                    .unwrap()
                    .parse()
                    .unwrap();
                let (partition, offset) = (m.partition(), m.offset());
                *committing.lock().unwrap() = Some(value);
                let commit_error = consumer
                    .commit_message(&m, CommitMode::Sync)
                    .err()
                    .map(|e| e.to_string());
                let mut position_after = None;
                if commit_error.is_some() {
                    position_after = consumer
                        .position()
                        .unwrap()
                        .find_partition(TOPIC, partition)
                        .and_then(|p| p.offset().to_raw());
                    consumer
                        .seek(
                            TOPIC,
                            partition,
                            Offset::Offset(offset),
                            Duration::from_secs(5),
                        )
                        .unwrap();
                }
                seen.lock().unwrap().push(Seen {
                    partition,
                    offset,
                    value,
                    commit_error,
                    position_after,
                });
            }
            let committed = consumer.committed(Duration::from_secs(10)).unwrap();
            (0..2)
                .map(|p| {
                    committed
                        .find_partition(TOPIC, p)
                        .and_then(|e| e.offset().to_raw())
                        .unwrap_or(-1)
                })
                .collect::<Vec<i64>>()
        })
    };
    let committed_ok = |seen: &Arc<Mutex<Vec<Seen>>>| {
        let s = seen.lock().unwrap();
        let mut values: Vec<u32> = s
            .iter()
            .filter(|x| x.commit_error.is_none())
            .map(|x| x.value)
            .collect();
        values.sort_unstable();
        values
    };

    // The consumer's join starts a rebalance; a third raw member joins too; the leader learns
    // of it from its heartbeat, rejoins, and (generation 2) gives the consumer both partitions.
    wait_for("the consumer's join", Duration::from_secs(30), || {
        heartbeat(&mut leader, &me, j.generation_id) == REBALANCE_IN_PROGRESS
    });
    let mut third = Wire::connect(&b.bootstrap());
    let t = join(&mut third, "");
    assert_eq!(t.error_code, 79);
    let third_id = t.member_id.to_string();
    third.send(&join_req(&third_id), 5);
    let j2 = join(&mut leader, &me);
    assert_eq!(j2.error_code, 0);
    assert_eq!(j2.leader.as_str(), me, "the raw member stays leader");
    assert_eq!(j2.members.len(), 3);
    let (_, t2) = third.recv::<JoinGroupRequest>(5);
    assert_eq!(t2.generation_id, j2.generation_id);
    let consumer_id = j2
        .members
        .iter()
        .map(|m| m.member_id.to_string())
        .find(|m| *m != me && *m != third_id)
        .unwrap();
    assert_eq!(
        sync(&mut leader, &me, j2.generation_id, Some(&consumer_id)),
        0
    );
    wait_for("20 records committed", Duration::from_secs(30), || {
        committed_ok(&seen).len() >= 20
    });

    // The third member leaves: a rebalance. The consumer rejoins (its JoinGroup is parked until
    // every member joined) and keeps its partitions; the leader holds the join phase open.
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(sb(GROUP)))
        .with_members(vec![
            MemberIdentity::default().with_member_id(sb(&third_id)),
        ]);
    assert_eq!(third.call(&leave, 3).error_code, 0);
    wait_for("the consumer's rejoin", Duration::from_secs(30), || {
        join_state.0.lock().unwrap().as_str() == "wait-join"
    });
    // New records: the consumer reads them and commits the first; that OffsetCommit waits behind
    // its parked JoinGroup.
    produce(&mut producer, 0, 20..25);
    produce(&mut producer, 1, 25..30);
    wait_for(
        "a commit behind the parked join",
        Duration::from_secs(30),
        || committing.lock().unwrap().is_some_and(|v| v >= 20),
    );
    // Let the commit reach the broker (it is sent at once; this only covers scheduling). Kept as a
    // sleep: a commit parked behind a JoinGroup shows nowhere outside the broker to poll on.
    std::thread::sleep(Duration::from_millis(300));
    let j3 = join(&mut leader, &me);
    assert_eq!(j3.error_code, 0);
    assert!(j3.generation_id > j2.generation_id);
    let failed = eventually(
        "a commit failed across the rebalance",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || {
            let seen = seen.lock().unwrap();
            let failed = seen.iter().find(|x| x.commit_error.is_some()).cloned();
            failed.ok_or_else(|| format!("consumer saw {seen:?}"))
        },
    )
    .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", b.log()));
    assert!(failed.value >= 20, "{failed:?}");
    let err = failed.commit_error.as_deref().unwrap();
    assert!(
        err.contains("IllegalGeneration") || err.contains("RebalanceInProgress"),
        "{failed:?}"
    );
    // The consumer had already moved past the record it could not commit: without the rewind
    // nobody would consume (and commit) it again, as the partition stays with this consumer.
    assert!(
        failed.position_after.is_some_and(|p| p > failed.offset),
        "{failed:?}"
    );
    assert!((0..2).contains(&failed.partition), "{failed:?}");
    // The leader completes the rebalance, again giving the consumer everything, and keeps
    // serving the group: librdkafka rejoins after a failed commit, which starts another one.
    let mut generation = j3.generation_id;
    let mut sync_code = sync(&mut leader, &me, generation, Some(&consumer_id));
    eventually(
        "every record committed",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || {
            if committed_ok(&seen).len() >= 30 {
                return Ok(());
            }
            if sync_code == REBALANCE_IN_PROGRESS
                || heartbeat(&mut leader, &me, generation) == REBALANCE_IN_PROGRESS
            {
                let again = join(&mut leader, &me);
                assert_eq!(again.error_code, 0);
                generation = again.generation_id;
                sync_code = sync(&mut leader, &me, generation, Some(&consumer_id));
            }
            Err(format!(
                "consumer saw {:?}, join state {}",
                seen.lock().unwrap(),
                join_state.0.lock().unwrap()
            ))
        },
    )
    .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", b.log()));
    stop.store(true, Ordering::SeqCst);
    let committed = consumer_thread.join().unwrap();
    assert_eq!(
        committed_ok(&seen),
        (0..30).collect::<Vec<u32>>(),
        "once each"
    );
    assert_eq!(
        committed,
        vec![15, 15],
        "committed offsets at the end of both partitions"
    );
}
