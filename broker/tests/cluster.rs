#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Cluster mode with three broker processes on loopback: the openraft metadata quorum, replica
//! placement, Metadata from the replicated image, NOT_LEADER_OR_FOLLOWER off the leader, real
//! clients routing to leaders, fencing of a killed broker without unclean election, and a new
//! controller taking over when the active one is killed.

mod cluster_support;
mod common;
mod wire;

use cluster_support::{create_topic, kcat_produce_keyed, metadata, start_brokers, wait_for};
use common::{CrashProducer, TestBroker, run_with_timeout};
use eddy_test_support::eventually;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use std::process::{Command, Output};
use std::time::Duration;
use wire::{Wire, batch, produce_request};

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Three brokers, all controller quorum voters.
fn start_cluster() -> Vec<TestBroker> {
    start_brokers(3, &[], "4000")
}

fn produce(b: &TestBroker, topic: &str, partition: i32, acks: i16, value: &str) -> i16 {
    let mut w = Wire::connect(&b.bootstrap());
    let records = batch(-1, -1, 0, &[value.as_bytes()], &[1], Compression::None);
    w.call(&produce_request(topic, partition, acks, records), 9)
        .responses[0]
        .partition_responses[0]
        .error_code
}

fn partitions_of<'a>(
    m: &'a MetadataResponse,
    topic: &str,
) -> &'a [metadata_response::MetadataResponsePartition] {
    m.topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))
        .map(|t| t.partitions.as_slice())
        .unwrap_or(&[])
}

/// kcat consumes `topic` (plus `extra` arguments) through `b` up to its end: the values.
fn kcat_consume(b: &TestBroker, topic: &str, extra: &[&str], limit: Duration) -> Output {
    run_with_timeout(
        Command::new("kcat")
            .args(["-b", &b.bootstrap(), "-C", "-t", topic])
            .args(extra)
            .args(["-e", "-q"]),
        None,
        limit,
    )
}

/// Every value of `0..total` in `topic`, through `b`, exactly once and in order.
fn assert_consumed_in_order(b: &TestBroker, topic: &str, total: usize) {
    let out = kcat_consume(b, topic, &[], Duration::from_secs(120));
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

/// The comma-separated bootstrap list of all `brokers`.
fn bootstrap_all(brokers: &[TestBroker]) -> String {
    brokers
        .iter()
        .map(TestBroker::bootstrap)
        .collect::<Vec<_>>()
        .join(",")
}

const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const NOT_ENOUGH_REPLICAS: i16 = 19;
const REQUEST_TIMED_OUT: i16 = 7;
const INVALID_REPLICATION_FACTOR: i16 = 38;

#[test]
fn placement_leaders_and_not_leader_errors_follow_the_replicated_image() {
    let brokers = start_cluster();
    assert_eq!(
        create_topic(&brokers[2], "rf3", 3, 3, &[("min.insync.replicas", "2")]),
        0
    );
    assert_eq!(
        create_topic(&brokers[0], "rf3", 3, 3, &[]),
        36,
        "TOPIC_ALREADY_EXISTS"
    );
    assert_eq!(
        create_topic(&brokers[1], "rf4", 1, 4, &[]),
        INVALID_REPLICATION_FACTOR
    );
    // Every broker answers the same image: 3 replicas per partition, leaders spread.
    for b in &brokers {
        let m = wait_for(b, "rf3 in the image", |m| {
            partitions_of(m, "rf3").len() == 3
        });
        let parts = partitions_of(&m, "rf3");
        let mut leaders: Vec<i32> = parts.iter().map(|p| p.leader_id.0).collect();
        leaders.sort_unstable();
        assert_eq!(leaders, vec![0, 1, 2], "{parts:#?}");
        for p in parts {
            let mut r: Vec<i32> = p.replica_nodes.iter().map(|b| b.0).collect();
            r.sort_unstable();
            assert_eq!(r, vec![0, 1, 2]);
            // A new partition is empty everywhere: all three replicas start in sync.
            let mut isr: Vec<i32> = p.isr_nodes.iter().map(|b| b.0).collect();
            isr.sort_unstable();
            assert_eq!(isr, vec![0, 1, 2]);
        }
    }
    let m = metadata(&brokers[0]).unwrap();
    let p0 = &partitions_of(&m, "rf3")[0];
    let leader = p0.leader_id.0 as usize;
    let follower = (leader + 1) % 3;
    assert_eq!(
        produce(&brokers[follower], "rf3", 0, 1, "x"),
        NOT_LEADER_OR_FOLLOWER
    );
    assert_eq!(produce(&brokers[leader], "rf3", 0, 1, "x"), 0);
    // acks=all returns once the ISR has the record.
    assert_eq!(produce(&brokers[leader], "rf3", 0, -1, "y"), 0);

    // Explicit replica assignments are honoured, and refused when they name unknown brokers.
    let assigned = |name: &str, a: &[&[i32]]| {
        let mut w = Wire::connect(&brokers[0].bootstrap());
        let req = CreateTopicsRequest::default().with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(sb(name)))
                .with_num_partitions(-1)
                .with_replication_factor(-1)
                .with_assignments(
                    a.iter()
                        .enumerate()
                        .map(|(i, r)| {
                            create_topics_request::CreatableReplicaAssignment::default()
                                .with_partition_index(i as i32)
                                .with_broker_ids(r.iter().map(|b| BrokerId(*b)).collect())
                        })
                        .collect(),
                ),
        ]);
        w.call(&req, 7).topics[0].error_code
    };
    assert_eq!(assigned("manual", &[&[2, 0], &[0, 1]]), 0);
    assert_eq!(
        assigned("manual-bad", &[&[2, 7]]),
        39,
        "INVALID_REPLICA_ASSIGNMENT"
    );
    let m = wait_for(&brokers[1], "manual", |m| {
        partitions_of(m, "manual").len() == 2
    });
    let got: Vec<(i32, Vec<i32>)> = partitions_of(&m, "manual")
        .iter()
        .map(|p| (p.leader_id.0, p.replica_nodes.iter().map(|b| b.0).collect()))
        .collect();
    assert_eq!(got, vec![(2, vec![2, 0]), (0, vec![0, 1])]);

    // A real client finds the leaders through any broker: 6 RF=1 partitions over 3 brokers.
    assert_eq!(create_topic(&brokers[1], "spread", 6, 1, &[]), 0);
    kcat_produce_keyed(&brokers[0], "spread", 600);
    let out = kcat_consume(&brokers[2], "spread", &[], Duration::from_secs(60));
    let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    got.sort();
    let mut want: Vec<String> = (0..600).map(|i| format!("v{i}")).collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn killed_brokers_are_fenced_and_a_new_controller_keeps_metadata_changing() {
    let mut brokers = start_cluster();
    assert_eq!(create_topic(&brokers[0], "solo", 3, 1, &[]), 0);
    assert_eq!(
        create_topic(&brokers[0], "strict", 1, 3, &[("min.insync.replicas", "3")]),
        0
    );
    let m = wait_for(&brokers[0], "solo", |m| partitions_of(m, "solo").len() == 3);
    let controller = m.controller_id.0;
    let survivor = ((controller + 1) % 3) as usize;
    let led: i32 = partitions_of(&m, "solo")
        .iter()
        .find(|p| p.leader_id.0 == controller)
        .map(|p| p.partition_index)
        .unwrap();
    assert_eq!(
        produce(&brokers[controller as usize], "solo", led, 1, "kept"),
        0
    );

    brokers[controller as usize].kill9();
    // A new controller is elected and fences the dead broker; its partition (ISR = itself only)
    // goes offline rather than electing an out-of-sync replica.
    let m = wait_for(
        &brokers[survivor],
        "a new controller and the dead broker fenced",
        |m| {
            m.controller_id.0 >= 0
                && m.controller_id.0 != controller
                && m.brokers.len() == 2
                && partitions_of(m, "solo")
                    .get(led as usize)
                    .is_some_and(|p| p.leader_id.0 == -1)
        },
    );
    let p = &partitions_of(&m, "solo")[led as usize];
    assert_eq!(p.error_code, 5, "LEADER_NOT_AVAILABLE");
    assert_eq!(
        p.offline_replicas.iter().map(|b| b.0).collect::<Vec<_>>(),
        vec![controller]
    );
    // The dead broker left the ISR of the RF=3 topic: with min.insync.replicas=3, acks=all is
    // refused with NOT_ENOUGH_REPLICAS by the new leader.
    let m = wait_for(&brokers[survivor], "strict without the dead broker", |m| {
        let p = partitions_of(m, "strict");
        p.len() == 1 && p[0].leader_id.0 >= 0 && p[0].isr_nodes.len() == 2
    });
    let strict_leader = partitions_of(&m, "strict")[0].leader_id.0 as usize;
    assert_eq!(
        produce(&brokers[strict_leader], "strict", 0, -1, "z"),
        NOT_ENOUGH_REPLICAS
    );
    assert_eq!(produce(&brokers[strict_leader], "strict", 0, 1, "z"), 0);
    // Metadata changes keep working through the new controller.
    assert_eq!(
        create_topic(&brokers[survivor], "after-failover", 2, 2, &[]),
        0
    );
    let m = wait_for(&brokers[survivor], "after-failover", |m| {
        partitions_of(m, "after-failover").len() == 2
    });
    for p in partitions_of(&m, "after-failover") {
        assert!(
            !p.replica_nodes.iter().any(|b| b.0 == controller),
            "placed on a dead broker"
        );
    }

    // The dead broker comes back: registered again, it leads its partition with a new epoch and
    // still has the record.
    brokers[controller as usize].spawn();
    let m = wait_for(&brokers[survivor], "the broker back as leader", |m| {
        m.brokers.len() == 3
            && partitions_of(m, "solo")
                .get(led as usize)
                .is_some_and(|p| p.leader_id.0 == controller)
    });
    assert!(partitions_of(&m, "solo")[led as usize].leader_epoch >= 2);
    let out = kcat_consume(
        &brokers[survivor],
        "solo",
        &["-p", &led.to_string()],
        Duration::from_secs(60),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "kept");
}

fn leader_of(m: &MetadataResponse, topic: &str, partition: usize) -> i32 {
    partitions_of(m, topic)
        .get(partition)
        .map_or(-1, |p| p.leader_id.0)
}

fn isr_of(m: &MetadataResponse, topic: &str, partition: usize) -> Vec<i32> {
    let mut isr: Vec<i32> = partitions_of(m, topic)
        .get(partition)
        .map(|p| p.isr_nodes.iter().map(|b| b.0).collect())
        .unwrap_or_default();
    isr.sort_unstable();
    isr
}

/// Bytes in a replica's segment files for partition 0 of `topic`.
fn replica_bytes(b: &TestBroker, topic: &str) -> u64 {
    common::partition_dir(b, topic, 0)
        .map(std::fs::read_dir)
        .unwrap()
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn kill_9_the_leader_mid_stream_loses_and_duplicates_nothing_acknowledged() {
    let mut brokers = start_cluster();
    assert_eq!(
        create_topic(&brokers[0], "fo", 1, 3, &[("min.insync.replicas", "2")]),
        0
    );
    let m = wait_for(&brokers[0], "fo fully in sync", |m| {
        isr_of(m, "fo", 0) == vec![0, 1, 2]
    });
    let leader = leader_of(&m, "fo", 0) as usize;
    let other = (leader + 1) % 3;
    let total = 100_000;
    let mut producer = CrashProducer::start(&bootstrap_all(&brokers), "fo", total);
    producer.wait_acked(3_000);
    brokers[leader].kill9();
    let acked_at_kill = producer.acked_count();
    // A new leader is elected from the ISR; the dead broker leaves the ISR.
    let m = wait_for(&brokers[other], "a new leader for fo", |m| {
        let l = leader_of(m, "fo", 0);
        l >= 0 && l != leader as i32
    });
    assert!(!isr_of(&m, "fo", 0).contains(&(leader as i32)));
    let (status, err) = producer.finish(Duration::from_secs(120), "after the failover");
    assert!(status.success(), "producer failed: {err}");
    assert!(acked_at_kill < total, "the kill landed mid-stream");
    assert_eq!(
        producer.acked().len(),
        total,
        "every record was eventually acknowledged"
    );

    // The checker: everything acknowledged is there, exactly once, in order (one key).
    assert_consumed_in_order(&brokers[other], "fo", total);

    // The old leader restarts: it truncates to the new leader's log, catches up, rejoins.
    brokers[leader].spawn();
    let m = wait_for(
        &brokers[other],
        "the restarted broker back in the ISR",
        |m| isr_of(m, "fo", 0) == vec![0, 1, 2],
    );
    let new_leader = leader_of(&m, "fo", 0) as usize;
    assert_eq!(
        replica_bytes(&brokers[leader], "fo"),
        replica_bytes(&brokers[new_leader], "fo"),
        "the rejoined replica's log matches the leader's"
    );
    // The two others gone, the metadata quorum is lost with them: the ISR cannot shrink, so
    // the lone leader acknowledges no acks=all write (it times out instead of claiming them).
    for (i, b) in brokers.iter_mut().enumerate() {
        if i != new_leader {
            b.kill9();
        }
    }
    let code = produce(&brokers[new_leader], "fo", 0, -1, "late");
    assert_eq!(code, REQUEST_TIMED_OUT);
}

/// GETs an admin JSON document.
fn admin_json(b: &TestBroker, path: &str) -> serde_json::Value {
    let (code, body) = common::http_get(b.admin_port, path).expect("admin http answers");
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls an admin JSON document until `ok` holds (bounded: 60 s).
fn wait_admin(
    b: &TestBroker,
    path: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let what = format!("{path} to hold");
    eventually(
        &what,
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let v = common::http_get(b.admin_port, path)
                .filter(|(code, _)| *code == 200)
                .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
                .ok_or_else(|| "no JSON answer".to_owned())?;
            if ok(&v) { Ok(v) } else { Err(format!("{v:#}")) }
        },
    )
    .unwrap()
}

#[test]
fn maintenance_health_and_a_rolling_restart_under_an_acks_all_producer() {
    let mut brokers = start_cluster();
    assert_eq!(
        create_topic(&brokers[0], "roll", 3, 3, &[("min.insync.replicas", "2")]),
        0
    );
    wait_for(&brokers[0], "roll fully in sync", |m| {
        (0..3).all(|p| isr_of(m, "roll", p) == vec![0, 1, 2])
    });
    let health = wait_admin(&brokers[1], "/v1/cluster/health", |h| h["healthy"] == true);
    assert_eq!(health["live_brokers"].as_array().unwrap().len(), 3);
    assert!(health["controller_id"].as_i64().unwrap() >= 0);

    // Maintenance drains leadership and keeps it away; DELETE lets the broker lead again.
    let (code, body) =
        common::http_call(brokers[2].admin_port, "PUT", "/v1/broker/maintenance").unwrap();
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["still_leading"], serde_json::json!([]));
    let m = wait_for(&brokers[0], "no leadership on broker 2", |m| {
        (0..3).all(|p| leader_of(m, "roll", p) != 2)
    });
    assert!((0..3).all(|p| leader_of(&m, "roll", p) >= 0));
    let (code, _) =
        common::http_call(brokers[2].admin_port, "DELETE", "/v1/broker/maintenance").unwrap();
    assert_eq!(code, 200);
    // ElectLeaders (preferred) moves leadership back to each partition's first replica.
    let mut w = Wire::connect(&brokers[1].bootstrap());
    let r = w.call(
        &ElectLeadersRequest::default()
            .with_election_type(0)
            .with_timeout_ms(30_000)
            .with_topic_partitions(Some(vec![
                elect_leaders_request::TopicPartitions::default()
                    .with_topic(TopicName(sb("roll")))
                    .with_partitions(vec![0, 1, 2]),
            ])),
        2,
    );
    let codes: Vec<i16> = r.replica_election_results[0]
        .partition_result
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert!(codes.iter().all(|c| *c == 0 || *c == 84), "{codes:?}");
    assert!(
        codes.contains(&0),
        "broker 2's preferred partition was re-elected: {codes:?}"
    );
    let m = wait_for(&brokers[0], "preferred leaders", |m| {
        partitions_of(m, "roll")
            .iter()
            .all(|p| p.leader_id == p.replica_nodes[0])
    });
    assert!((0..3).any(|p| leader_of(&m, "roll", p) == 2));
    let probe = admin_json(&brokers[2], "/v1/broker/pre-restart-probe");
    assert_eq!(probe["safe"], true, "{probe:#}");

    // Rolling restart, the active controller last, gated on the probes, while an idempotent
    // acks=all producer streams: it must only ever see retriable errors (it fails otherwise).
    let total = 150_000;
    let mut producer = CrashProducer::start(&bootstrap_all(&brokers), "roll", total);
    let controller = metadata(&brokers[0]).unwrap().controller_id.0 as usize;
    let mut order: Vec<usize> = (0..3).filter(|i| *i != controller).collect();
    order.push(controller);
    for i in order {
        wait_admin(&brokers[i], "/v1/broker/pre-restart-probe", |p| {
            p["safe"] == true
        });
        assert!(brokers[i].stop(), "broker {i} exits cleanly on SIGTERM");
        brokers[i].spawn();
        wait_admin(&brokers[i], "/v1/broker/post-restart-probe", |p| {
            p["caught_up"] == true
        });
    }
    let (status, err) = producer.finish(Duration::from_secs(150), "after the rolling restart");
    assert!(
        status.success(),
        "producer saw a non-retriable error: {err}"
    );
    assert_eq!(producer.acked_count(), total);
    assert_consumed_in_order(&brokers[0], "roll", total);
}

#[test]
fn a_non_voter_broker_learns_the_metadata_and_serves_replicas() {
    let brokers = start_brokers(4, &[], "4000");
    // The non-voter forwards the change to the controller and then sees it applied.
    assert_eq!(
        create_topic(&brokers[3], "wide", 4, 4, &[("min.insync.replicas", "3")]),
        0
    );
    let m = wait_for(&brokers[3], "wide fully in sync", |m| {
        (0..4).all(|p| isr_of(m, "wide", p) == vec![0, 1, 2, 3])
    });
    assert!(m.controller_id.0 < 3, "the controller is a voter");
    // Without a controller listener it is no learner; it answers the quorum view from a voter.
    let q = admin_json(&brokers[3], "/v1/cluster/quorum");
    assert_eq!(q["voters"], serde_json::json!([0, 1, 2]), "{q:#}");
    assert_eq!(q["learners"], serde_json::json!([]), "{q:#}");
    kcat_produce_keyed(&brokers[3], "wide", 400);
    let out = kcat_consume(&brokers[1], "wide", &[], Duration::from_secs(60));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 400);
    // Every broker names the same group coordinator (the leader of the group's offsets
    // partition, once the first FindCoordinator has had __consumer_offsets created).
    let find = || -> Vec<i32> {
        brokers
            .iter()
            .map(|b| {
                let mut w = Wire::connect(&b.bootstrap());
                let r = w.call(
                    &FindCoordinatorRequest::default()
                        .with_key_type(0)
                        .with_coordinator_keys(vec![sb("g1")]),
                    4,
                );
                r.coordinators[0].node_id.0
            })
            .collect()
    };
    eventually(
        "every broker naming the same coordinator",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let coordinators = find();
            if coordinators
                .iter()
                .all(|c| *c == coordinators[0] && *c >= 0)
            {
                Ok(())
            } else {
                Err(coordinators)
            }
        },
    )
    .unwrap();
}

/// Automatic preferred-leader balancing (`auto.leader.rebalance.enable`, on by default): a
/// broker killed and restarted loses its leaderships to the other replicas, and once it is back
/// in sync the active controller hands its preferred partitions back without anyone calling
/// ElectLeaders.
#[test]
fn a_restarted_broker_gets_its_preferred_leaderships_back_automatically() {
    let mut brokers = start_brokers(3, &["leader.imbalance.check.interval.seconds=1"], "3000");
    assert_eq!(create_topic(&brokers[0], "bal", 6, 3, &[]), 0);
    let m = wait_for(
        &brokers[0],
        "bal fully in sync and led by preferred replicas",
        |m| {
            (0..6).all(|p| isr_of(m, "bal", p).len() == 3)
                && partitions_of(m, "bal")
                    .iter()
                    .all(|p| p.leader_id == p.replica_nodes[0])
        },
    );
    // The broker that prefers the most partitions and is not the controller (killing the
    // controller also works, but takes an election longer).
    let controller = m.controller_id.0;
    let victim = (0..3)
        .filter(|b| *b != controller)
        .max_by_key(|b| {
            partitions_of(&m, "bal")
                .iter()
                .filter(|p| p.replica_nodes[0].0 == *b)
                .count()
        })
        .expect("a broker");
    let preferred_by_victim = partitions_of(&m, "bal")
        .iter()
        .filter(|p| p.replica_nodes[0].0 == victim)
        .count();
    assert!(preferred_by_victim > 0, "{m:?}");
    let other = usize::try_from((victim + 1) % 3).unwrap();
    let v = usize::try_from(victim).unwrap();
    brokers[v].kill9();
    wait_for(
        &brokers[other],
        "no leadership left on the killed broker",
        |m| {
            partitions_of(m, "bal")
                .iter()
                .all(|p| p.leader_id.0 != victim && p.leader_id.0 >= 0)
        },
    );
    brokers[v].spawn();
    let m = wait_for(
        &brokers[other],
        "preferred leaders restored automatically",
        |m| {
            partitions_of(m, "bal")
                .iter()
                .all(|p| p.leader_id == p.replica_nodes[0])
        },
    );
    assert_eq!(
        partitions_of(&m, "bal")
            .iter()
            .filter(|p| p.leader_id.0 == victim)
            .count(),
        preferred_by_victim
    );
}

/// `auto.leader.rebalance.enable=false` turns the balancing off: a restarted broker back in
/// every ISR stays without leadership through many check intervals, until ElectLeaders asks.
#[test]
fn with_automatic_leader_balancing_off_a_restarted_broker_stays_a_follower() {
    let mut brokers = start_brokers(
        3,
        &[
            "auto.leader.rebalance.enable=false",
            "leader.imbalance.check.interval.seconds=1",
        ],
        "3000",
    );
    assert_eq!(create_topic(&brokers[0], "off", 6, 3, &[]), 0);
    let m = wait_for(
        &brokers[0],
        "off in sync and led by preferred replicas",
        |m| {
            (0..6).all(|p| isr_of(m, "off", p).len() == 3)
                && partitions_of(m, "off")
                    .iter()
                    .all(|p| p.leader_id == p.replica_nodes[0])
        },
    );
    let controller = m.controller_id.0;
    let victim = (0..3)
        .filter(|b| *b != controller)
        .max_by_key(|b| {
            partitions_of(&m, "off")
                .iter()
                .filter(|p| p.replica_nodes[0].0 == *b)
                .count()
        })
        .expect("a broker");
    let other = usize::try_from((victim + 1) % 3).unwrap();
    let v = usize::try_from(victim).unwrap();
    brokers[v].kill9();
    wait_for(&brokers[other], "no leadership on the killed broker", |m| {
        partitions_of(m, "off")
            .iter()
            .all(|p| p.leader_id.0 != victim && p.leader_id.0 >= 0)
    });
    brokers[v].spawn();
    wait_for(
        &brokers[other],
        "the restarted broker back in every ISR",
        |m| (0..6).all(|p| isr_of(m, "off", p).contains(&victim)),
    );
    // Ten looks half a second apart span several check intervals: nothing moves by itself.
    for _ in 0..10 {
        if let Some(m) = metadata(&brokers[other]) {
            let led = partitions_of(&m, "off")
                .iter()
                .filter(|p| p.leader_id.0 == victim)
                .count();
            assert_eq!(led, 0, "balancing is off, yet broker {victim} leads again");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // It could lead: a preferred election moves its partitions back.
    let mut w = Wire::connect(&brokers[other].bootstrap());
    let r = w.call(
        &ElectLeadersRequest::default()
            .with_election_type(0)
            .with_timeout_ms(30_000)
            .with_topic_partitions(Some(vec![
                elect_leaders_request::TopicPartitions::default()
                    .with_topic(TopicName(sb("off")))
                    .with_partitions((0..6).collect()),
            ])),
        2,
    );
    assert!(
        r.replica_election_results[0]
            .partition_result
            .iter()
            .all(|p| p.error_code == 0 || p.error_code == 84),
        "{r:?}"
    );
    wait_for(
        &brokers[other],
        "preferred leaders after ElectLeaders",
        |m| {
            partitions_of(m, "off")
                .iter()
                .all(|p| p.leader_id == p.replica_nodes[0])
        },
    );
}

/// UnregisterBroker, the last step of a safe scale-down: a broker that still holds replicas, a
/// controller voter and an unknown id are refused with Kafka's codes; once its replicas moved
/// away, the broker is forgotten — gone from Metadata and from the quorum's learners.
#[test]
fn a_drained_broker_is_unregistered_and_leaves_the_quorum_learners() {
    let brokers = cluster_support::start_brokers_with(4, &[], "3000", |b| {
        if b.args.get(1).map(String::as_str) == Some("3") {
            b.args.push("--controller-listener".into());
            b.args.push(format!("127.0.0.1:{}", common::free_port()));
        }
    });
    let learners = |b: &TestBroker| -> Vec<i64> {
        admin_json(b, "/v1/cluster/quorum")["learners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect()
    };
    eventually(
        "broker 3 a learner",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || learners(&brokers[0]) == [3],
    )
    .unwrap();
    // A topic on all four brokers: broker 3 holds replicas.
    assert_eq!(create_topic(&brokers[0], "drain", 2, 4, &[]), 0);
    wait_for(&brokers[0], "drain in sync", |m| {
        (0..2).all(|p| isr_of(m, "drain", p).len() == 4)
    });
    let unregister = |b: &TestBroker, id: i32| {
        let mut w = Wire::connect(&b.bootstrap());
        let r = w.call(
            &UnregisterBrokerRequest::default().with_broker_id(BrokerId(id)),
            0,
        );
        (
            r.error_code,
            r.error_message.map(|m| m.to_string()).unwrap_or_default(),
        )
    };
    let (code, msg) = unregister(&brokers[1], 3);
    assert_eq!(code, 42, "INVALID_REQUEST while it holds replicas: {msg}");
    assert!(msg.contains("still holds 2 replica(s)"), "{msg}");
    let (code, msg) = unregister(&brokers[1], 0);
    assert_eq!(code, 42, "{msg}");
    assert!(msg.contains("voter"), "{msg}");
    assert_eq!(
        unregister(&brokers[1], 9).0,
        102,
        "BROKER_ID_NOT_REGISTERED"
    );
    // Drain: move both partitions to brokers 0-2 (RF 3), then unregister.
    let mut w = Wire::connect(&brokers[0].bootstrap());
    let r = w.call(
        &AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![
                alter_partition_reassignments_request::ReassignableTopic::default()
                    .with_name(TopicName(sb("drain")))
                    .with_partitions(
                        (0..2)
                            .map(|p| {
                                alter_partition_reassignments_request::ReassignablePartition::default()
                                    .with_partition_index(p)
                                    .with_replicas(Some(vec![BrokerId(0), BrokerId(1), BrokerId(2)]))
                            })
                            .collect(),
                    ),
            ]),
        0,
    );
    assert_eq!(r.error_code, 0, "{r:?}");
    wait_for(&brokers[0], "drain off broker 3", |m| {
        partitions_of(m, "drain")
            .iter()
            .all(|p| !p.replica_nodes.contains(&BrokerId(3)))
    });
    let (code, msg) = unregister(&brokers[2], 3);
    assert_eq!(code, 0, "{msg}");
    wait_for(&brokers[0], "broker 3 gone from Metadata", |m| {
        m.brokers.len() == 3 && m.brokers.iter().all(|b| b.node_id.0 != 3)
    });
    eventually(
        "broker 3 no longer a learner",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || learners(&brokers[0]).is_empty(),
    )
    .unwrap();
    // The topic still works on the remaining brokers.
    kcat_produce_keyed(&brokers[1], "drain", 50);
    let out = kcat_consume(&brokers[0], "drain", &[], Duration::from_secs(60));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 50);
}
