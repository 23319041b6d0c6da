#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Transaction version 2 (KIP-890 part 2) over the wire, as Kafka 4's Java producer speaks it:
//! ApiVersions finalizes `transaction.version` 2; EndTxn v5 bumps the epoch on every commit and
//! abort and answers the new one (a retry answers the same, bumping nothing); Produce v12 and
//! TxnOffsetCommit v5 add their partition (group) to the transaction without AddPartitionsToTxn
//! or AddOffsetsToTxn. The anomaly KIP-890 closes cannot happen: a late write of transaction N
//! (its old epoch) reaching a partition after N's marker is refused, and neither it nor a delayed
//! AddPartitionsToTxn can join transaction N+1; read_committed sees committed TV2 transactions
//! and not aborted ones. On one broker and on three (the partition led by another broker than
//! the coordinator, which the leader asks with AddPartitionsToTxn v5), and kill -9 of the
//! coordinator's broker between PREPARE and the markers.

mod cluster_support;
mod common;
mod wire;

use cluster_support::{start_brokers, wait_for};
use common::{POLL, TestBroker};
use eddy_test_support::eventually;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use std::time::Duration;
use wire::{Wire, txn_batch};

const INVALID_PRODUCER_EPOCH: i16 = 47;
const PRODUCER_FENCED: i16 = 90;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// InitProducerId (v5) for a new producer of `tid`: (producer id, epoch).
fn init(w: &mut Wire, tid: &str) -> (i64, i16) {
    let r = w.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(sb(tid))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
        5,
    );
    assert_eq!(r.error_code, 0, "{r:?}");
    (r.producer_id.0, r.producer_epoch)
}

/// EndTxn v5: (error code, producer id, epoch) of the answer; on success, after the markers
/// are written (the answer comes at PREPARE, `wire::wait_txn_complete`).
fn end_v5(w: &mut Wire, tid: &str, pid: i64, epoch: i16, commit: bool) -> (i16, i64, i16) {
    let r = w.call(
        &EndTxnRequest::default()
            .with_transactional_id(TransactionalId(sb(tid)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(commit),
        5,
    );
    if r.error_code == 0 {
        wire::wait_txn_complete(w, tid);
    }
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

/// Produce v12 (transaction version 2: no AddPartitionsToTxn before it) of one batch to
/// `topic`-`partition`: (error code, base offset).
fn produce_v12(
    w: &mut Wire,
    tid: &str,
    topic: &str,
    partition: i32,
    records: bytes::Bytes,
) -> (i16, i64) {
    let req = wire::produce_request(topic, partition, -1, records)
        .with_transactional_id(Some(TransactionalId(sb(tid))));
    let r = w.call(&req, 12);
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// A client's (v3) AddPartitionsToTxn of `topic`-`partition`: its error code.
fn add_partition_v3(w: &mut Wire, tid: &str, pid: i64, epoch: i16, topic: &str, p: i32) -> i16 {
    let r = w.call(
        &AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(sb(tid)))
            .with_v3_and_below_producer_id(ProducerId(pid))
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(vec![
                AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(sb(topic)))
                    .with_partitions(vec![p]),
            ]),
        3,
    );
    r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
}

/// What a fetch of `topic`-`partition` from offset 0 at `isolation` returns.
struct Fetched {
    high_watermark: i64,
    last_stable_offset: i64,
    /// Producer ids of the aborted transactions listed.
    aborted: Vec<i64>,
    /// Data records' values, in offset order (control batches skipped).
    values: Vec<String>,
    /// Control batches: (producer id, epoch).
    markers: Vec<(i64, i16)>,
}

fn fetch(w: &mut Wire, topic: &str, partition: i32, isolation: i8) -> Fetched {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(sb(topic)))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let r = w.call(&req, 12);
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0, "{p:?}");
    let aborted: Vec<(i64, i64)> = p
        .aborted_transactions
        .iter()
        .flatten()
        .map(|a| (a.producer_id.0, a.first_offset))
        .collect();
    // As a read_committed consumer: a listed producer's records are dropped from the aborted
    // transaction's first offset until its ABORT marker.
    let mut pending = aborted.clone();
    let mut dropping: Vec<i64> = Vec::new();
    let mut values = Vec::new();
    let mut markers = Vec::new();
    let mut buf = p.records.clone().unwrap_or_default();
    while !buf.is_empty() {
        let set = RecordBatchDecoder::decode(&mut buf).unwrap();
        for rec in set.records {
            if let Some(i) = pending
                .iter()
                .position(|(pid, first)| *pid == rec.producer_id && rec.offset >= *first)
            {
                dropping.push(pending.remove(i).0);
            }
            if rec.control {
                markers.push((rec.producer_id, rec.producer_epoch));
                dropping.retain(|pid| *pid != rec.producer_id);
            } else if isolation == 0 || !dropping.contains(&rec.producer_id) {
                values.push(String::from_utf8_lossy(rec.value.as_deref().unwrap_or(b"")).into());
            }
        }
    }
    Fetched {
        high_watermark: p.high_watermark,
        last_stable_offset: p.last_stable_offset,
        aborted: aborted.into_iter().map(|(pid, _)| pid).collect(),
        values,
        markers,
    }
}

/// Waits until `topic`-`partition`'s high watermark reaches `offset` (read through `w`).
fn await_hw(w: &mut Wire, topic: &str, partition: i32, offset: i64) {
    eventually("the high watermark", Duration::from_secs(30), POLL, || {
        let hw = fetch(w, topic, partition, 0).high_watermark;
        if hw >= offset {
            Ok(())
        } else {
            Err(format!("high watermark {hw}"))
        }
    })
    .unwrap();
}

/// TxnOffsetCommit v5 (no AddOffsetsToTxn before it) of `offset` for `topic`-0 in `group`.
fn txn_offset_commit_v5(
    w: &mut Wire,
    tid: &str,
    pid: i64,
    epoch: i16,
    group: &str,
    topic: &str,
    offset: i64,
) -> i16 {
    let r = w.call(
        &TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(sb(tid)))
            .with_group_id(GroupId(sb(group)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_generation_id(-1)
            .with_topics(vec![
                TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(sb(topic)))
                    .with_partitions(vec![
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(offset),
                    ]),
            ]),
        5,
    );
    r.topics[0].partitions[0].error_code
}

/// OffsetFetch (v7, require_stable) of `topic`-0 in `group`: (error code, offset).
fn committed_offset(w: &mut Wire, group: &str, topic: &str) -> (i16, i64) {
    let r = w.call(
        &OffsetFetchRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_require_stable(true)
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(TopicName(sb(topic)))
                    .with_partition_indexes(vec![0]),
            ])),
        7,
    );
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

/// The scenario every test runs, through `c` (the coordinator) and `l` (the leader of
/// `topic`-`partition`; the same broker on one node): transaction N commits under TV2, its late
/// write and a delayed AddPartitionsToTxn are refused, transaction N+1 aborts, a retried EndTxn
/// answers the same epoch. Returns the producer id and its epoch after N+1.
fn late_writes_cannot_join(
    c: &mut Wire,
    l: &mut Wire,
    tid: &str,
    topic: &str,
    partition: i32,
) -> (i64, i16) {
    let (pid, e0) = init(c, tid);
    // Transaction N: the leader adds the partition on the producer's behalf.
    assert_eq!(
        produce_v12(l, tid, topic, partition, txn_batch(pid, e0, 0, "n-1")),
        (0, 0)
    );
    assert_eq!(
        produce_v12(l, tid, topic, partition, txn_batch(pid, e0, 1, "n-2")),
        (0, 1)
    );
    let (e, pid1, e1) = end_v5(c, tid, pid, e0, true);
    assert_eq!((e, pid1, e1), (0, pid, e0 + 1), "EndTxn v5 bumps the epoch");
    await_hw(l, topic, partition, 3);
    let after_n = fetch(l, topic, partition, 1);
    assert_eq!(
        after_n.markers,
        vec![(pid, e1)],
        "the marker carries the bumped epoch"
    );
    // The late write of N (its epoch, next sequence) after N's marker: fenced, nothing appended.
    let (e, _) = produce_v12(l, tid, topic, partition, txn_batch(pid, e0, 2, "n-late"));
    assert_eq!(e, INVALID_PRODUCER_EPOCH);
    // Transaction N+1 on the same partition.
    assert_eq!(
        produce_v12(l, tid, topic, partition, txn_batch(pid, e1, 0, "n1-1")),
        (0, 3)
    );
    // N's late write and a delayed AddPartitionsToTxn of N cannot join N+1.
    let (e, _) = produce_v12(l, tid, topic, partition, txn_batch(pid, e0, 2, "n-later"));
    assert_eq!(e, INVALID_PRODUCER_EPOCH);
    assert_eq!(
        add_partition_v3(c, tid, pid, e0, topic, partition),
        PRODUCER_FENCED
    );
    let (e, _, e2) = end_v5(c, tid, pid, e1, false);
    assert_eq!((e, e2), (0, e1 + 1));
    await_hw(l, topic, partition, 5);
    // The retried EndTxn (the client lost the answer) answers the same epoch, bumps nothing,
    // writes no marker; the other outcome at that epoch is refused.
    assert_eq!(end_v5(c, tid, pid, e1, false), (0, pid, e2));
    assert_eq!(
        end_v5(c, tid, pid, e1, true).0,
        ResponseError::InvalidTxnState.code()
    );
    let committed = fetch(l, topic, partition, 1);
    assert_eq!(
        (committed.high_watermark, committed.last_stable_offset),
        (5, 5)
    );
    assert_eq!(
        committed.values,
        vec!["n-1", "n-2"],
        "read_committed: N only"
    );
    assert_eq!(committed.aborted, vec![pid]);
    assert_eq!(committed.markers, vec![(pid, e1), (pid, e2)]);
    let all = fetch(l, topic, partition, 0);
    assert_eq!(
        all.values,
        vec!["n-1", "n-2", "n1-1"],
        "never the late writes"
    );
    (pid, e2)
}

#[test]
fn api_versions_finalize_transaction_version_2_and_serve_its_request_versions() {
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    let r = w.call(
        &ApiVersionsRequest::default()
            .with_client_software_name(sb("eddy-test"))
            .with_client_software_version(sb("1")),
        3,
    );
    let supported = r
        .supported_features
        .iter()
        .find(|f| f.name.as_str() == "transaction.version")
        .expect("transaction.version supported");
    assert_eq!((supported.min_version, supported.max_version), (0, 2));
    let finalized = r
        .finalized_features
        .iter()
        .find(|f| f.name.as_str() == "transaction.version")
        .expect("transaction.version finalized");
    assert_eq!(finalized.max_version_level, 2);
    let max = |key: ApiKey| {
        r.api_keys
            .iter()
            .find(|k| k.api_key == key as i16)
            .map(|k| k.max_version)
    };
    assert_eq!(max(ApiKey::EndTxn), Some(5));
    assert_eq!(max(ApiKey::Produce), Some(12));
    assert_eq!(max(ApiKey::AddPartitionsToTxn), Some(5));
    assert_eq!(max(ApiKey::TxnOffsetCommit), Some(5));
}

/// (finalized `transaction.version` level if listed, finalized epoch) from ApiVersions v3.
fn finalized_tv(b: &TestBroker) -> (Option<i16>, i64) {
    let mut w = Wire::connect(&b.bootstrap());
    let r = w.call(
        &ApiVersionsRequest::default()
            .with_client_software_name(sb("eddy-test"))
            .with_client_software_version(sb("1")),
        3,
    );
    let level = r
        .finalized_features
        .iter()
        .find(|f| f.name.as_str() == "transaction.version")
        .map(|f| f.max_version_level);
    (level, r.finalized_features_epoch)
}

/// UpdateFeatures v1 of `transaction.version`: the feature's error code.
fn update_tv(b: &TestBroker, level: i16, upgrade_type: i8) -> i16 {
    use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
    let mut w = Wire::connect(&b.bootstrap());
    let r = w.call(
        &UpdateFeaturesRequest::default()
            .with_timeout_ms(30_000)
            .with_feature_updates(vec![
                FeatureUpdateKey::default()
                    .with_feature(sb("transaction.version"))
                    .with_max_version_level(level)
                    .with_upgrade_type(upgrade_type),
            ]),
        1,
    );
    assert_eq!(r.error_code, 0, "{r:?}");
    r.results[0].error_code
}

/// A node whose metadata predates `transaction.version` runs level 0 (not listed, so Kafka 4
/// clients keep the original protocol) until UpdateFeatures raises it to 2; it never goes back.
#[test]
fn transaction_version_is_raised_through_update_features_and_never_lowered() {
    let mut b = TestBroker::start(&[]);
    assert_eq!(finalized_tv(&b).0, Some(2), "a new node runs TV2");
    assert!(b.stop());
    let path = b.data_dir().join("metadata.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    meta["features"]["levels"]
        .as_object_mut()
        .unwrap()
        .remove("transaction.version")
        .expect("transaction.version was finalized");
    std::fs::write(&path, serde_json::to_vec(&meta).unwrap()).unwrap();
    b.spawn();
    let (level, epoch) = finalized_tv(&b);
    assert_eq!(level, None, "metadata from before the feature: level 0");
    assert_eq!(update_tv(&b, 2, 1), 0);
    let (level, after) = finalized_tv(&b);
    assert_eq!((level, after), (Some(2), epoch + 1));
    // A safe downgrade is refused (what TV2 wrote stays readable only at TV2 here).
    assert_eq!(update_tv(&b, 1, 2), 95, "INVALID_UPDATE_VERSION");
    assert_eq!(finalized_tv(&b).0, Some(2));
}

/// AddPartitionsToTxn v5 with `verify_only` (KIP-890 part 1's inter-broker check): the
/// partitions of the producer's ongoing transaction at its epoch verify, others do not, a
/// stale epoch is fenced, and nothing is added.
#[test]
fn add_partitions_to_txn_v5_verify_only_checks_without_adding() {
    use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTransaction;
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    assert_eq!(cluster_support::create_topic(&b, "vo", 2, 1, &[]), 0);
    let tid = "vo-tx";
    let (pid, e0) = init(&mut w, tid);
    assert_eq!(
        produce_v12(&mut w, tid, "vo", 0, txn_batch(pid, e0, 0, "a")).0,
        0
    );
    let mut verify = |epoch: i16, partition: i32| {
        let r = w.call(
            &AddPartitionsToTxnRequest::default().with_transactions(vec![
                AddPartitionsToTxnTransaction::default()
                    .with_transactional_id(TransactionalId(sb(tid)))
                    .with_producer_id(ProducerId(pid))
                    .with_producer_epoch(epoch)
                    .with_verify_only(true)
                    .with_topics(vec![
                        AddPartitionsToTxnTopic::default()
                            .with_name(TopicName(sb("vo")))
                            .with_partitions(vec![partition]),
                    ]),
            ]),
            5,
        );
        assert_eq!(r.error_code, 0, "{r:?}");
        r.results_by_transaction[0].topic_results[0].results_by_partition[0].partition_error_code
    };
    assert_eq!(verify(e0, 0), 0);
    assert_eq!(verify(e0, 1), ResponseError::InvalidTxnState.code());
    // Verifying did not add partition 1.
    assert_eq!(verify(e0, 1), ResponseError::InvalidTxnState.code());
    assert_eq!(verify(e0 - 1, 0), INVALID_PRODUCER_EPOCH);
}

#[test]
fn tv2_on_one_broker_late_writes_cannot_join_and_every_end_bumps_the_epoch() {
    let b = TestBroker::start(&[]);
    let mut c = Wire::connect(&b.bootstrap());
    let mut l = Wire::connect(&b.bootstrap());
    assert_eq!(cluster_support::create_topic(&b, "tv2", 1, 1, &[]), 0);
    let (pid, mut epoch) = late_writes_cannot_join(&mut c, &mut l, "tv2-tx", "tv2", 0);
    // Every EndTxn v5 bumps again, an abort of nothing included.
    for i in 0..3 {
        let v = format!("more-{i}");
        assert_eq!(
            produce_v12(&mut l, "tv2-tx", "tv2", 0, txn_batch(pid, epoch, 0, &v)).0,
            0
        );
        let (e, p, next) = end_v5(&mut c, "tv2-tx", pid, epoch, true);
        assert_eq!((e, p, next), (0, pid, epoch + 1));
        epoch = next;
    }
    let (e, _, next) = end_v5(&mut c, "tv2-tx", pid, epoch, false);
    assert_eq!(
        (e, next),
        (0, epoch + 1),
        "an abort with nothing ongoing bumps too"
    );
    let committed = fetch(&mut l, "tv2", 0, 1);
    assert_eq!(
        committed.values,
        vec!["n-1", "n-2", "more-0", "more-1", "more-2"]
    );
}

/// A run of transactions in both protocols on one broker: TV2 needs one round trip fewer
/// (no AddPartitionsToTxn) and its epoch grows by one per transaction; read_committed sees
/// every committed record of both. Prints the mean time per transaction of each (not
/// asserted: a measurement, not a test of speed).
#[test]
fn a_run_of_tv1_and_tv2_transactions_commits_everything_and_tv2_bumps_once_each() {
    const N: i16 = 100;
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    assert_eq!(cluster_support::create_topic(&b, "run", 1, 1, &[]), 0);
    let (pid1, epoch1) = init(&mut w, "run-v1");
    let started = std::time::Instant::now();
    for i in 0..N {
        assert_eq!(
            add_partition_v3(&mut w, "run-v1", pid1, epoch1, "run", 0),
            0
        );
        let req = wire::produce_request("run", 0, -1, txn_batch(pid1, epoch1, i32::from(i), "v1"))
            .with_transactional_id(Some(TransactionalId(sb("run-v1"))));
        assert_eq!(
            w.call(&req, 9).responses[0].partition_responses[0].error_code,
            0
        );
        let r = w.call(
            &EndTxnRequest::default()
                .with_transactional_id(TransactionalId(sb("run-v1")))
                .with_producer_id(ProducerId(pid1))
                .with_producer_epoch(epoch1)
                .with_committed(true),
            3,
        );
        assert_eq!(r.error_code, 0);
        wire::wait_txn_complete(&mut w, "run-v1");
    }
    let tv1 = started.elapsed();
    let (pid2, e0) = init(&mut w, "run-v2");
    let mut epoch = e0;
    let started = std::time::Instant::now();
    for _ in 0..N {
        assert_eq!(
            produce_v12(&mut w, "run-v2", "run", 0, txn_batch(pid2, epoch, 0, "v2")).0,
            0
        );
        let (e, pid, next) = end_v5(&mut w, "run-v2", pid2, epoch, true);
        assert_eq!((e, pid, next), (0, pid2, epoch + 1));
        epoch = next;
    }
    let tv2 = started.elapsed();
    assert_eq!(epoch, e0 + N);
    let n = usize::try_from(N).unwrap();
    await_hw(&mut w, "run", 0, 4 * i64::from(N));
    let f = fetch(&mut w, "run", 0, 1);
    assert_eq!(f.values.iter().filter(|v| *v == "v1").count(), n);
    assert_eq!(f.values.iter().filter(|v| *v == "v2").count(), n);
    eprintln!(
        "{N} transactions of one record: TV1 (AddPartitionsToTxn, Produce, EndTxn) {:.2} ms each, \
         TV2 (Produce v12, EndTxn v5) {:.2} ms each",
        tv1.as_secs_f64() * 1000.0 / f64::from(N),
        tv2.as_secs_f64() * 1000.0 / f64::from(N)
    );
}

#[test]
fn tv2_txn_offset_commit_adds_the_group_itself_and_a_late_one_is_fenced() {
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    assert_eq!(cluster_support::create_topic(&b, "src", 1, 1, &[]), 0);
    assert_eq!(cluster_support::create_topic(&b, "out", 1, 1, &[]), 0);
    let (tid, group) = ("copy-tx", "copy-group");
    let (pid, e0) = init(&mut w, tid);
    assert_eq!(
        produce_v12(&mut w, tid, "out", 0, txn_batch(pid, e0, 0, "x")).0,
        0
    );
    // No AddOffsetsToTxn: TxnOffsetCommit v5 adds the group to the transaction.
    assert_eq!(
        txn_offset_commit_v5(&mut w, tid, pid, e0, group, "src", 7),
        0
    );
    assert_eq!(
        committed_offset(&mut w, group, "src").0,
        ResponseError::UnstableOffsetCommit.code()
    );
    let (e, _, e1) = end_v5(&mut w, tid, pid, e0, true);
    assert_eq!((e, e1), (0, e0 + 1));
    assert_eq!(committed_offset(&mut w, group, "src"), (0, 7));
    // A delayed TxnOffsetCommit of the finished transaction cannot join the next one.
    assert_eq!(
        txn_offset_commit_v5(&mut w, tid, pid, e0, group, "src", 99),
        PRODUCER_FENCED
    );
    assert_eq!(committed_offset(&mut w, group, "src"), (0, 7));
    // The next transaction's offsets, aborted: unchanged.
    assert_eq!(
        txn_offset_commit_v5(&mut w, tid, pid, e1, group, "src", 8),
        0
    );
    assert_eq!(end_v5(&mut w, tid, pid, e1, false).0, 0);
    assert_eq!(committed_offset(&mut w, group, "src"), (0, 7));
}

fn start_cluster() -> Vec<TestBroker> {
    start_brokers(3, &["transaction.state.log.num.partitions=3"], "4000")
}

/// FindCoordinator (v3, key type 1) through `b` until it answers: the coordinator's node id.
fn wait_txn_coordinator(b: &TestBroker, id: &str) -> i32 {
    eventually(
        "a transaction coordinator",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let mut w = Wire::connect(&b.bootstrap());
            let r = w.call(
                &FindCoordinatorRequest::default()
                    .with_key(sb(id))
                    .with_key_type(1),
                3,
            );
            if r.error_code == 0 {
                Ok(r.node_id.0)
            } else {
                Err(format!("error {}", r.error_code))
            }
        },
    )
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", b.log()))
}

/// An RF=3 topic of three partitions: (partition, leader) of one led by another broker than
/// `not`.
fn partition_led_elsewhere(brokers: &[TestBroker], topic: &str, not: i32) -> (i32, usize) {
    assert_eq!(
        cluster_support::create_topic(&brokers[0], topic, 3, 3, &[]),
        0
    );
    let m = wait_for(&brokers[0], "the topic's leaders", |m| {
        m.topics.iter().any(|t| {
            t.name.as_ref().is_some_and(|n| n.as_str() == topic)
                && t.partitions.len() == 3
                && t.partitions.iter().all(|p| p.leader_id.0 >= 0)
        })
    });
    let t = m
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))
        .unwrap();
    let p = t
        .partitions
        .iter()
        .find(|p| p.leader_id.0 != not)
        .expect("a partition led elsewhere");
    (p.partition_index, usize::try_from(p.leader_id.0).unwrap())
}

#[test]
fn tv2_across_three_brokers_the_leader_adds_at_the_remote_coordinator_and_late_writes_cannot_join()
{
    let brokers = start_cluster();
    let tid = "tv2-cluster-tx";
    let coordinator = wait_txn_coordinator(&brokers[0], tid);
    let (index, leader) = partition_led_elsewhere(&brokers, "tv2c", coordinator);
    let mut c = Wire::connect(&brokers[usize::try_from(coordinator).unwrap()].bootstrap());
    let mut l = Wire::connect(&brokers[leader].bootstrap());
    late_writes_cannot_join(&mut c, &mut l, tid, "tv2c", index);
}

/// kill -9 of the coordinator's broker right after EndTxn v5 was sent (PREPARE durable or not,
/// markers maybe not written): the new coordinator completes the transaction with the bumped
/// epoch (or it was never prepared and the transaction times out as an abort); either way the
/// partition ends with one marker at the bumped epoch and a late write of the old epoch is
/// refused.
#[test]
fn tv2_kill_9_of_the_coordinator_after_end_txn_completes_with_the_bumped_epoch() {
    let mut brokers = start_brokers(
        3,
        &[
            "transaction.state.log.num.partitions=3",
            "transaction.state.log.replication.factor=3",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms=500",
        ],
        "4000",
    );
    let tid = "tv2-kill-tx";
    let coordinator = wait_txn_coordinator(&brokers[0], tid);
    let (index, leader) = partition_led_elsewhere(&brokers, "tv2k", coordinator);
    let ci = usize::try_from(coordinator).unwrap();
    let mut c = Wire::connect(&brokers[ci].bootstrap());
    let mut l = Wire::connect(&brokers[leader].bootstrap());
    let r = c.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(sb(tid))))
            .with_transaction_timeout_ms(5_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
        5,
    );
    assert_eq!(r.error_code, 0);
    let (pid, e0) = (r.producer_id.0, r.producer_epoch);
    assert_eq!(
        produce_v12(&mut l, tid, "tv2k", index, txn_batch(pid, e0, 0, "k")).0,
        0
    );
    // EndTxn v5 commit sent, the coordinator killed before (or while) it answers.
    c.send(
        &EndTxnRequest::default()
            .with_transactional_id(TransactionalId(sb(tid)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(e0)
            .with_committed(true),
        5,
    );
    brokers[ci].kill9();
    // The transaction ends at the partition with a marker at the bumped epoch (a commit
    // completed by the new coordinator, or the timeout's abort, which bumps the epoch too).
    let ended = eventually(
        "the transaction's marker",
        Duration::from_secs(90),
        POLL,
        || {
            let f = fetch(&mut l, "tv2k", index, 1);
            match f.markers.as_slice() {
                [(p, e)] if f.last_stable_offset == f.high_watermark => Ok((*p, *e, f)),
                other => Err(format!("markers {other:?}, lso {}", f.last_stable_offset)),
            }
        },
    )
    .unwrap();
    let (marker_pid, marker_epoch, f) = ended;
    assert_eq!((marker_pid, marker_epoch), (pid, e0 + 1));
    // Committed (PREPARE was durable) or aborted (it was not): whole or nothing.
    assert!(
        f.values.is_empty() || f.values == vec!["k"],
        "{:?}",
        f.values
    );
    let (e, _) = produce_v12(&mut l, tid, "tv2k", index, txn_batch(pid, e0, 1, "late"));
    assert_eq!(e, INVALID_PRODUCER_EPOCH);
}
