#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Transactions in cluster mode (three broker processes on loopback): `__transaction_state` is
//! a replicated internal topic, the coordinator of a transactional id is the leader of its
//! partition, markers reach partitions led by other brokers through WriteTxnMarkers, and
//! read_committed consumers see exactly the committed transactions. kill -9 of the
//! coordinator's broker mid-transaction: the producer's commit either succeeds after failover
//! or fails, and read_committed readers see the transaction whole or not at all; the committed
//! one before it is never lost.

mod cluster_support;
mod common;
mod wire;

use cluster_support::{bootstrap_all, start_brokers, wait_for, wait_txn_coordinator};
use common::{POLL, TestBroker};
use eddy_test_support::eventually;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::time::Duration;
use wire::{Wire, txn_batch};

const STATE_TOPIC: &str = "__transaction_state";
const NOT_COORDINATOR: i16 = 16;

fn start_cluster() -> Vec<TestBroker> {
    start_brokers(
        3,
        &[
            "transaction.state.log.num.partitions=3",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms=500",
        ],
        "4000",
    )
}

/// Runs `txn_cluster.py` with `args`; on failure, panics with its output and the brokers'
/// warnings.
fn run_script(brokers: &[TestBroker], bootstrap: &str, args: &[&str]) -> String {
    run_script_named(brokers, "txn_cluster.py", bootstrap, args)
}

/// `run_script` for another script of `tests/clients`.
fn run_script_named(
    brokers: &[TestBroker],
    script: &str,
    bootstrap: &str,
    args: &[&str],
) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let out = common::run_with_timeout(
        std::process::Command::new(common::python())
            .arg(path)
            .arg(bootstrap)
            .args(args),
        None,
        Duration::from_secs(240),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        let logs: Vec<String> = brokers
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let log = b.log();
                let lines: Vec<&str> = log
                    .lines()
                    .filter(|l| {
                        l.contains("WARN")
                            || l.contains("ERROR")
                            || l.contains("txn")
                            || l.contains("transaction")
                            || l.contains("marker")
                            || l.contains("verif")
                    })
                    .collect();
                format!(
                    "broker {i}:\n{}",
                    lines[lines.len().saturating_sub(80)..].join("\n")
                )
            })
            .collect();
        panic!(
            "{script} {args:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            logs.join("\n")
        );
    }
    stdout
}

/// InitProducerId for `id` sent to broker `b` (v3): its error code.
fn init_producer_id_error(b: &TestBroker, id: &str) -> i16 {
    let mut w = Wire::connect(&b.bootstrap());
    w.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(StrBytes::from_string(id.to_string()).into()))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
        3,
    )
    .error_code
}

#[test]
fn commit_and_abort_across_brokers_are_visible_to_read_committed_only_when_committed() {
    let brokers = start_cluster();
    let coordinator = wait_txn_coordinator(&brokers[0], "cluster-basic");
    // The state topic is replicated to every broker, and only its leader coordinates.
    let m = wait_for(&brokers[0], "__transaction_state fully replicated", |m| {
        m.topics.iter().any(|t| {
            t.name.as_ref().is_some_and(|n| n.as_str() == STATE_TOPIC)
                && t.partitions.len() == 3
                && t.partitions
                    .iter()
                    .all(|p| p.replica_nodes.len() == 3 && p.isr_nodes.len() == 3)
        })
    });
    assert!(m.brokers.len() == 3);
    for (i, b) in brokers.iter().enumerate() {
        let e = init_producer_id_error(b, "cluster-other-check");
        let owner = wait_txn_coordinator(b, "cluster-other-check");
        if i32::try_from(i).unwrap() == owner {
            assert_eq!(e, 0, "the coordinator answers");
        } else {
            assert_eq!(e, NOT_COORDINATOR, "broker {i} is not the coordinator");
        }
    }
    let stdout = run_script(
        &brokers,
        &bootstrap_all(&brokers),
        &["basic", "cluster-txn", "20"],
    );
    assert!(stdout.contains("ok 72 96"), "{stdout}");
    eprintln!("coordinator {coordinator}: {stdout}");
    // Markers went to partitions led by other brokers through WriteTxnMarkers.
    let leaders = wait_for(&brokers[0], "cluster-txn's leaders", |m| {
        m.topics
            .iter()
            .any(|t| t.name.as_ref().is_some_and(|n| n.as_str() == "cluster-txn"))
    });
    let t = leaders
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == "cluster-txn"))
        .unwrap();
    let coordinator_of_basic = wait_txn_coordinator(&brokers[0], "cluster-basic");
    assert!(
        t.partitions
            .iter()
            .any(|p| p.leader_id.0 != coordinator_of_basic),
        "every partition led by the coordinator: the test proves nothing about remote markers"
    );
}

#[test]
fn kill_9_of_the_coordinator_mid_transaction_loses_nothing_committed_and_tears_nothing() {
    let mut brokers = start_cluster();
    let coordinator = wait_txn_coordinator(&brokers[0], "cluster-crash");
    let dir = tempfile::tempdir().unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/txn_cluster.py");
    let bootstrap = bootstrap_all(&brokers);
    let mut child = std::process::Command::new(common::python())
        .arg(script)
        .arg(&bootstrap)
        .args(["crash", "cluster-crash"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ready = eventually(
        "the client's open transaction",
        Duration::from_secs(90),
        POLL,
        || dir.path().join("ready").exists() || child.try_wait().unwrap().is_some(),
    );
    if ready.is_err() || !dir.path().join("ready").exists() {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "the client did not get ready:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let victim = usize::try_from(coordinator).unwrap();
    brokers[victim].kill9();
    std::fs::write(dir.path().join("go"), b"").unwrap();
    let done = eventually(
        "the client's commit",
        Duration::from_secs(150),
        POLL,
        || child.try_wait().unwrap(),
    );
    let status = match done {
        Ok(s) => s,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{e}");
        }
    };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr),
    );
    let survivors: Vec<&TestBroker> = brokers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(_, b)| b)
        .collect();
    let new_coordinator = wait_txn_coordinator(survivors[0], "cluster-crash");
    assert_ne!(new_coordinator, coordinator, "the coordinator moved");
    let live = survivors
        .iter()
        .map(|b| b.bootstrap())
        .collect::<Vec<_>>()
        .join(",");
    let committed = stdout.lines().any(|l| l.starts_with("committed"));
    eprintln!("after kill -9 of coordinator {coordinator}: {stdout}");
    let expect = if committed { "60" } else { "30" };
    run_script(&brokers, &live, &["verify", "cluster-crash", expect]);
    assert!(
        survivors.iter().any(|b| b
            .log()
            .contains("transactions recovered: now their coordinator")),
        "the new coordinator loaded the state"
    );
    // The killed broker comes back and the transaction's outcome stays as it was.
    brokers[victim].spawn();
    run_script(
        &brokers,
        &bootstrap_all(&brokers),
        &["verify", "cluster-crash", expect],
    );
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The KIP-890 defence across brokers: the leader of a partition on another broker than the
/// coordinator verifies a producer's batch with the coordinator; after the transaction's
/// markers, a late write of it is refused (INVALID_TXN_STATE) and appends nothing, so the last
/// stable offset is not held back by a hanging transaction.
#[test]
fn a_late_write_after_the_markers_is_refused_by_a_leader_on_another_broker() {
    use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let brokers = start_cluster();
    let tid = "late-tx";
    let coordinator = wait_txn_coordinator(&brokers[0], tid);
    let mut admin = Wire::connect(&brokers[0].bootstrap());
    let created = admin.call(
        &CreateTopicsRequest::default().with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(sb("late")))
                .with_num_partitions(3)
                .with_replication_factor(3),
        ]),
        7,
    );
    assert_eq!(created.topics[0].error_code, 0, "{created:?}");
    // A partition led by another broker than the coordinator.
    let m = wait_for(&brokers[0], "late's leaders", |m| {
        m.topics.iter().any(|t| {
            t.name.as_ref().is_some_and(|n| n.as_str() == "late")
                && t.partitions.len() == 3
                && t.partitions.iter().all(|p| p.leader_id.0 >= 0)
        })
    });
    let t = m
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == "late"))
        .unwrap();
    let p = t
        .partitions
        .iter()
        .find(|p| p.leader_id.0 != coordinator)
        .expect("a partition led elsewhere");
    let (index, leader) = (p.partition_index, usize::try_from(p.leader_id.0).unwrap());
    let mut c = Wire::connect(&brokers[usize::try_from(coordinator).unwrap()].bootstrap());
    let init = c.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(sb(tid))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
        4,
    );
    assert_eq!(init.error_code, 0);
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    let add = c.call(
        &AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(sb(tid)))
            .with_v3_and_below_producer_id(ProducerId(pid))
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(vec![
                AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(sb("late")))
                    .with_partitions(vec![index]),
            ]),
        3,
    );
    assert_eq!(
        add.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        0
    );
    let mut l = Wire::connect(&brokers[leader].bootstrap());
    let produce = |l: &mut Wire, seq: i32, v: &str| {
        let req = wire::produce_request("late", index, -1, txn_batch(pid, epoch, seq, v))
            .with_transactional_id(Some(TransactionalId(sb(tid))));
        let r = l.call(&req, 9);
        r.responses[0].partition_responses[0].error_code
    };
    assert_eq!(produce(&mut l, 0, "in-time"), 0);
    let end = c.call(
        &EndTxnRequest::default()
            .with_transactional_id(TransactionalId(sb(tid)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(true),
        3,
    );
    assert_eq!(end.error_code, 0);
    // EndTxn answers at PREPARE; the late write is one that comes after the marker.
    wire::wait_txn_complete(&mut c, tid);
    // The late write of the finished transaction: refused, nothing appended.
    assert_eq!(produce(&mut l, 1, "late"), 48, "INVALID_TXN_STATE");
    let latest = |l: &mut Wire, isolation: i8| {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(isolation)
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(TopicName(sb("late")))
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(index)
                            .with_timestamp(-1),
                    ]),
            ]);
        l.call(&req, 5).topics[0].partitions[0].offset
    };
    // The record and its marker, nothing after; the last stable offset is the high watermark.
    eventually(
        "the marker replicated",
        Duration::from_secs(30),
        POLL,
        || match (latest(&mut l, 0), latest(&mut l, 1)) {
            (2, 2) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .unwrap();
}

/// Zombie fencing and the coordinator's timeout abort, with the single-node scenarios of
/// `txn_confluent.py` against three brokers (RF=1 topics: the partition's leader is usually not
/// the coordinator, so the fencing abort and the timeout abort reach it with WriteTxnMarkers).
#[test]
fn zombie_fencing_and_timed_out_transactions_across_brokers() {
    let brokers = start_cluster();
    let bootstrap = bootstrap_all(&brokers);
    let zombie = run_script_named(
        &brokers,
        "txn_confluent.py",
        &bootstrap,
        &["zombie", "cl-zombie"],
    );
    assert!(zombie.contains("ok"), "{zombie}");
    let timeout = run_script_named(
        &brokers,
        "txn_confluent.py",
        &bootstrap,
        &["timeout", "cl-timeout"],
    );
    assert!(timeout.contains("ok"), "{timeout}");
    assert!(
        brokers
            .iter()
            .any(|b| b.log().contains("aborting a transaction that timed out")),
        "the coordinator aborted the timed-out transaction"
    );
}

/// FindCoordinator (v3) through `b` for `key` of `key_type` until it names a broker.
fn wait_coordinator_of(b: &TestBroker, key: &str, key_type: i8) -> i32 {
    eventually(
        "a coordinator",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let mut w = Wire::connect(&b.bootstrap());
            let r = w.call(
                &FindCoordinatorRequest::default()
                    .with_key(sb(key))
                    .with_key_type(key_type),
                3,
            );
            match r.error_code {
                0 => Ok(r.node_id.0),
                e => Err(format!("error {e}")),
            }
        },
    )
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", b.log()))
}

/// Transactional offsets staged at a group's coordinator survive its kill -9: the new group
/// coordinator reloads them as pending (unstable for require_stable readers) and the
/// transaction's commit, sent by a transaction coordinator on another broker, commits them.
#[test]
fn staged_transactional_offsets_survive_the_group_coordinators_kill_9() {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    use kafka_protocol::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    const UNSTABLE_OFFSET_COMMIT: i16 = 88;
    let mut brokers = start_cluster();
    let group = "eos-group";
    let g = wait_coordinator_of(&brokers[0], group, 0);
    // A transactional id coordinated elsewhere than the group (bounded search).
    let (tid, t) = (0..50)
        .map(|i| format!("eos-tx-{i}"))
        .map(|id| {
            let c = wait_coordinator_of(&brokers[0], &id, 1);
            (id, c)
        })
        .find(|(_, c)| *c != g)
        .expect("a transactional id coordinated by another broker than the group");
    let (gi, ti) = (usize::try_from(g).unwrap(), usize::try_from(t).unwrap());
    let mut tw = Wire::connect(&brokers[ti].bootstrap());
    let created = tw.call(
        &CreateTopicsRequest::default().with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(sb("src")))
                .with_num_partitions(1)
                .with_replication_factor(3),
        ]),
        7,
    );
    assert_eq!(created.topics[0].error_code, 0);
    let init = tw.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(sb(&tid))))
            .with_transaction_timeout_ms(120_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
        4,
    );
    assert_eq!(init.error_code, 0);
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    let added = tw.call(
        &AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(sb(&tid)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(sb(group))),
        3,
    );
    assert_eq!(added.error_code, 0);
    let mut gw = Wire::connect(&brokers[gi].bootstrap());
    let staged = gw.call(
        &TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(sb(&tid)))
            .with_group_id(GroupId(sb(group)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_generation_id(-1)
            .with_topics(vec![
                TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(sb("src")))
                    .with_partitions(vec![
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(7)
                            .with_committed_leader_epoch(-1),
                    ]),
            ]),
        3,
    );
    assert_eq!(staged.topics[0].partitions[0].error_code, 0);
    brokers[gi].kill9();
    let survivor = if gi == 0 { 1 } else { 0 };
    let g2 = eventually(
        "a new group coordinator",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || match wait_coordinator_of(&brokers[survivor], group, 0) {
            c if c != g => Ok(c),
            c => Err(format!("still {c}")),
        },
    )
    .unwrap();
    let fetch = |stable: bool| {
        let mut w = Wire::connect(&brokers[usize::try_from(g2).unwrap()].bootstrap());
        let r = w.call(
            &OffsetFetchRequest::default()
                .with_group_id(GroupId(sb(group)))
                .with_require_stable(stable)
                .with_topics(Some(vec![
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(sb("src")))
                        .with_partition_indexes(vec![0]),
                ])),
            7,
        );
        let p = &r.topics[0].partitions[0];
        (r.error_code, p.error_code, p.committed_offset)
    };
    // The reloaded offset is pending: unstable, not yet committed.
    eventually(
        "the new coordinator's view of the pending offset",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || match fetch(true) {
            (0, UNSTABLE_OFFSET_COMMIT, _) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .unwrap();
    let end = tw.call(
        &EndTxnRequest::default()
            .with_transactional_id(TransactionalId(sb(&tid)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(true),
        3,
    );
    assert_eq!(end.error_code, 0);
    wire::wait_txn_complete(&mut tw, &tid);
    assert_eq!(fetch(true), (0, 0, 7), "the staged offset is committed");
}

/// EndTxn is answered once PREPARE is in its state partition's ISR, as Kafka does, while the
/// marker waits for a partition whose only replica is down: the id's next requests meanwhile
/// get CONCURRENT_TRANSACTIONS (InitProducerId, AddPartitionsToTxn, the retried EndTxn) and
/// DescribeTransactions shows PrepareCommit; once the broker is back the coordinator writes the
/// marker, completes, and the same requests succeed.
#[test]
fn end_txn_answers_before_a_marker_to_a_down_leader_and_the_id_waits_for_it() {
    use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    const CONCURRENT_TRANSACTIONS: i16 = 51;
    let mut brokers = start_cluster();
    let tid = "pending-tx";
    let coordinator = wait_txn_coordinator(&brokers[0], tid);
    assert_eq!(
        cluster_support::create_topic(&brokers[0], "pend", 3, 1, &[]),
        0
    );
    let is_pend = |t: &metadata_response::MetadataResponseTopic| {
        t.name.as_ref().is_some_and(|n| n.as_str() == "pend")
    };
    // A partition whose only replica is on another broker than the coordinator.
    let m = wait_for(&brokers[0], "pend's leaders", |m| {
        m.topics.iter().any(|t| {
            is_pend(t) && t.partitions.len() == 3 && t.partitions.iter().all(|p| p.leader_id.0 >= 0)
        })
    });
    let p = m
        .topics
        .iter()
        .find(|t| is_pend(t))
        .unwrap()
        .partitions
        .iter()
        .find(|p| p.leader_id.0 != coordinator)
        .expect("a partition led elsewhere")
        .clone();
    let (index, leader) = (p.partition_index, usize::try_from(p.leader_id.0).unwrap());
    let ci = usize::try_from(coordinator).unwrap();
    let mut c = Wire::connect(&brokers[ci].bootstrap());
    let init = c.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(sb(tid))))
            .with_transaction_timeout_ms(120_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
        4,
    );
    assert_eq!(init.error_code, 0);
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    let add = |c: &mut Wire| {
        let r = c.call(
            &AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(TransactionalId(sb(tid)))
                .with_v3_and_below_producer_id(ProducerId(pid))
                .with_v3_and_below_producer_epoch(epoch)
                .with_v3_and_below_topics(vec![
                    AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(sb("pend")))
                        .with_partitions(vec![index]),
                ]),
            3,
        );
        r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
    };
    let end = |c: &mut Wire| {
        c.call(
            &EndTxnRequest::default()
                .with_transactional_id(TransactionalId(sb(tid)))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_committed(true),
            3,
        )
        .error_code
    };
    let state = |c: &mut Wire| {
        let r = c.call(
            &DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(sb(tid))]),
            0,
        );
        r.transaction_states[0].transaction_state.to_string()
    };
    assert_eq!(add(&mut c), 0);
    let req = wire::produce_request("pend", index, -1, txn_batch(pid, epoch, 0, "v"))
        .with_transactional_id(Some(TransactionalId(sb(tid))));
    let mut l = Wire::connect(&brokers[leader].bootstrap());
    assert_eq!(
        l.call(&req, 9).responses[0].partition_responses[0].error_code,
        0
    );
    drop(l);
    // The partition's only replica goes down; wait until the cluster has fenced it (no leader
    // for the partition), so that PREPARE's ISR no longer waits for it.
    brokers[leader].kill9();
    wait_for(&brokers[ci], "the partition leaderless", |m| {
        m.topics.iter().any(|t| {
            is_pend(t)
                && t.partitions
                    .iter()
                    .any(|p| p.partition_index == index && p.leader_id.0 < 0)
        })
    });
    assert_eq!(end(&mut c), 0, "EndTxn answered with the marker pending");
    assert_eq!(state(&mut c), "PrepareCommit");
    assert_eq!(add(&mut c), CONCURRENT_TRANSACTIONS);
    assert_eq!(
        init_producer_id_error(&brokers[ci], tid),
        CONCURRENT_TRANSACTIONS
    );
    assert_eq!(end(&mut c), CONCURRENT_TRANSACTIONS, "the retried EndTxn");
    assert_eq!(
        state(&mut c),
        "PrepareCommit",
        "the marker is still pending"
    );
    // The broker comes back: the coordinator writes the marker and completes.
    brokers[leader].spawn();
    eventually(
        "the transaction completed",
        Duration::from_secs(120),
        Duration::from_millis(100),
        || match state(&mut c).as_str() {
            "CompleteCommit" => Ok(()),
            s => Err(s.to_string()),
        },
    )
    .unwrap();
    assert_eq!(
        end(&mut c),
        0,
        "the retried EndTxn of the completed transaction"
    );
    // The committed record and its marker: read_committed reads up to both.
    let mut l = Wire::connect(&brokers[leader].bootstrap());
    eventually(
        "the marker in the partition",
        Duration::from_secs(60),
        POLL,
        || {
            let r = l.call(
                &ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_isolation_level(1)
                    .with_topics(vec![
                        ListOffsetsTopic::default()
                            .with_name(TopicName(sb("pend")))
                            .with_partitions(vec![
                                ListOffsetsPartition::default()
                                    .with_partition_index(index)
                                    .with_timestamp(-1),
                            ]),
                    ]),
                5,
            );
            match r.topics[0].partitions[0].offset {
                2 => Ok(()),
                o => Err(format!("last stable offset {o}")),
            }
        },
    )
    .unwrap();
    // The next transaction and a new producer are served again.
    assert_eq!(add(&mut c), 0);
    assert_eq!(init_producer_id_error(&brokers[ci], tid), 0);
}
