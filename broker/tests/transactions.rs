//! Transactions (KIP-98) with the KIP-890 server-side defence, on one broker: confluent-kafka's
//! transactional producer (commit with send_offsets_to_transaction, abort, read_committed and
//! read_uncommitted consumers), zombie fencing, a transaction that times out, kill -9 of the
//! broker mid-transaction; and with raw requests: a late write after the markers cannot join a
//! finished (or the next) transaction, read_committed fetches stop at the last stable offset and
//! list the aborted transactions, require_stable OffsetFetch sees pending offsets as unstable,
//! describe/list transactions and producers, compaction of aborted records; KafkaJS's
//! transactional producer.
#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test

mod common;
mod wire;

use common::{POLL, TestBroker, run_python};
use eddy_test_support::eventually;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::time::Duration;
use wire::{Wire, produce_request};

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn create_topic(w: &mut Wire, name: &str, partitions: i32) {
    create_topic_with(w, name, partitions, &[]);
}

fn create_topic_with(w: &mut Wire, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let req = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(TopicName(sb(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(wire::topic_configs(configs)),
    ]);
    assert_eq!(w.call(&req, 7).topics[0].error_code, 0);
}

/// A transactional batch of `values` from producer (`pid`, `epoch`) starting at `seq`.
fn txn_batch(pid: i64, epoch: i16, seq: i32, values: &[&str]) -> bytes::Bytes {
    keyed_txn_batch(
        pid,
        epoch,
        seq,
        &values.iter().map(|v| (None, *v)).collect::<Vec<_>>(),
    )
}

/// A transactional batch of (key, value) records.
fn keyed_txn_batch(
    pid: i64,
    epoch: i16,
    seq: i32,
    records: &[(Option<&str>, &str)],
) -> bytes::Bytes {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: seq + i as i32,
            timestamp: 1_000,
            key: k.map(|k| bytes::Bytes::copy_from_slice(k.as_bytes())),
            value: Some(bytes::Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

fn init(w: &mut Wire, tid: &str, pid: i64, epoch: i16) -> (i64, i16) {
    let r = w.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(sb(tid))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch),
        4,
    );
    assert_eq!(r.error_code, 0, "{r:?}");
    (r.producer_id.0, r.producer_epoch)
}

fn add_partition(w: &mut Wire, tid: &str, pid: i64, epoch: i16, topic: &str) -> i16 {
    let r = w.call(
        &AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(sb(tid)))
            .with_v3_and_below_producer_id(ProducerId(pid))
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(vec![
                AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(sb(topic)))
                    .with_partitions(vec![0]),
            ]),
        3,
    );
    r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
}

/// EndTxn v3: its error code; on success, after the markers are written (the answer comes at
/// PREPARE, `wire::wait_txn_complete`).
fn end(w: &mut Wire, tid: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let code = w
        .call(
            &EndTxnRequest::default()
                .with_transactional_id(TransactionalId(sb(tid)))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_committed(commit),
            3,
        )
        .error_code;
    if code == 0 {
        wire::wait_txn_complete(w, tid);
    }
    code
}

/// Produces `records` to partition 0 of `topic`: (error code, base offset).
fn produce(w: &mut Wire, tid: &str, topic: &str, records: bytes::Bytes) -> (i16, i64) {
    let req = produce_request(topic, 0, -1, records)
        .with_transactional_id(Some(TransactionalId(sb(tid))));
    let r = w.call(&req, 9);
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// (high watermark, last stable offset, aborted transactions, record bytes) of partition 0.
fn fetch(w: &mut Wire, topic: &str, isolation: i8) -> (i64, i64, Vec<(i64, i64)>, usize) {
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
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let r = w.call(&req, 12);
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0, "{p:?}");
    let aborted = p
        .aborted_transactions
        .iter()
        .flatten()
        .map(|a| (a.producer_id.0, a.first_offset))
        .collect();
    (
        p.high_watermark,
        p.last_stable_offset,
        aborted,
        p.records.as_ref().map_or(0, bytes::Bytes::len),
    )
}

/// ListOffsets latest at `isolation` for partition 0.
fn latest(w: &mut Wire, topic: &str, isolation: i8) -> i64 {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation)
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(TopicName(sb(topic)))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-1),
                ]),
        ]);
    w.call(&req, 5).topics[0].partitions[0].offset
}

/// The broker's high watermark moves after the fsync: wait for it to cover `offset`.
fn await_hw(w: &mut Wire, topic: &str, offset: i64) {
    eventually("the high watermark", Duration::from_secs(10), POLL, || {
        fetch(w, topic, 0).0 >= offset
    })
    .unwrap();
}

#[test]
fn find_coordinator_names_this_broker_for_transactional_ids() {
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    let r = w.call(
        &FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![sb("tx")]),
        4,
    );
    assert_eq!(r.coordinators[0].error_code, 0, "{r:?}");
    assert_eq!(r.coordinators[0].port, i32::from(b.port));
}

#[test]
fn a_late_write_after_the_markers_cannot_join_a_finished_or_the_next_transaction() {
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    create_topic(&mut w, "late", 1);
    let tid = "late-tx";
    let (pid, epoch) = init(&mut w, tid, -1, -1);
    // A write before AddPartitionsToTxn is refused (KIP-890 verification).
    let (e, _) = produce(&mut w, tid, "late", txn_batch(pid, epoch, 0, &["early"]));
    assert_eq!(e, ResponseError::InvalidTxnState.code());
    assert_eq!(add_partition(&mut w, tid, pid, epoch, "late"), 0);
    let (e, _) = produce(
        &mut w,
        tid,
        "late",
        txn_batch(pid, epoch, 0, &["t1-a", "t1-b"]),
    );
    assert_eq!(e, 0);
    // Open: the LSO stays at the transaction's first offset.
    await_hw(&mut w, "late", 2);
    assert_eq!(latest(&mut w, "late", 1), 0);
    assert_eq!(latest(&mut w, "late", 0), 2);
    assert_eq!(end(&mut w, tid, pid, epoch, true), 0);
    await_hw(&mut w, "late", 3);
    // The late write of the finished transaction (next sequence, same epoch) is refused and
    // leaves nothing behind: no record, no transaction holding the LSO back.
    let (e, _) = produce(&mut w, tid, "late", txn_batch(pid, epoch, 2, &["t1-late"]));
    assert_eq!(e, ResponseError::InvalidTxnState.code());
    assert_eq!(latest(&mut w, "late", 0), 3);
    assert_eq!(latest(&mut w, "late", 1), 3);
    // A new producer of the id fences the old epoch; the old producer's late write is refused
    // even though the new transaction contains the partition.
    let (pid2, epoch2) = init(&mut w, tid, -1, -1);
    assert_eq!(pid2, pid);
    assert!(epoch2 > epoch);
    assert_eq!(add_partition(&mut w, tid, pid2, epoch2, "late"), 0);
    let (e, _) = produce(&mut w, tid, "late", txn_batch(pid, epoch, 2, &["zombie"]));
    assert_eq!(e, ResponseError::InvalidProducerEpoch.code());
    // The fenced producer cannot end the new transaction either.
    assert_eq!(
        end(&mut w, tid, pid, epoch, true),
        ResponseError::ProducerFenced.code()
    );
    let (e, off) = produce(&mut w, tid, "late", txn_batch(pid2, epoch2, 0, &["t2"]));
    assert_eq!((e, off), (0, 3));
    assert_eq!(end(&mut w, tid, pid2, epoch2, false), 0);
    await_hw(&mut w, "late", 5);
    // read_committed: everything up to the LSO, with the aborted transaction listed.
    let (hw, lso, aborted, bytes) = fetch(&mut w, "late", 1);
    assert_eq!((hw, lso), (5, 5));
    assert_eq!(aborted, vec![(pid2, 3)]);
    assert!(bytes > 0);
    // read_uncommitted lists none.
    assert!(fetch(&mut w, "late", 0).2.is_empty());
}

#[test]
fn pending_transactional_offsets_are_unstable_until_commit() {
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    create_topic(&mut w, "offs", 1);
    let tid = "offs-tx";
    let (pid, epoch) = init(&mut w, tid, -1, -1);
    let r = w.call(
        &AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(sb(tid)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(sb("g1"))),
        3,
    );
    assert_eq!(r.error_code, 0);
    let r = w.call(
        &TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(sb(tid)))
            .with_group_id(GroupId(sb("g1")))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_generation_id(-1)
            .with_topics(vec![
                TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(sb("offs")))
                    .with_partitions(vec![
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(17)
                            .with_committed_leader_epoch(-1),
                    ]),
            ]),
        3,
    );
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let fetch_offsets = |w: &mut Wire, stable: bool| {
        let r = w.call(
            &OffsetFetchRequest::default()
                .with_group_id(GroupId(sb("g1")))
                .with_require_stable(stable)
                .with_topics(Some(vec![
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(sb("offs")))
                        .with_partition_indexes(vec![0]),
                ])),
            7,
        );
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.committed_offset)
    };
    assert_eq!(
        fetch_offsets(&mut w, true).0,
        ResponseError::UnstableOffsetCommit.code()
    );
    assert_eq!(fetch_offsets(&mut w, false), (0, -1));
    assert_eq!(end(&mut w, tid, pid, epoch, true), 0);
    assert_eq!(fetch_offsets(&mut w, true), (0, 17));
}

#[test]
fn confluent_kafka_commit_abort_and_isolation_levels() {
    let b = TestBroker::start(&[]);
    let out = run_python("txn_confluent.py", &b.bootstrap(), &["basic", "txn-basic"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ok 40 60"), "{stdout}");
}

#[test]
fn confluent_kafka_zombie_producer_is_fenced() {
    let b = TestBroker::start(&[]);
    let out = run_python(
        "txn_confluent.py",
        &b.bootstrap(),
        &["zombie", "txn-zombie"],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
}

#[test]
fn a_transaction_past_its_timeout_is_aborted() {
    let b = TestBroker::start(&["transaction.abort.timed.out.transaction.cleanup.interval.ms=200"]);
    let out = run_python(
        "txn_confluent.py",
        &b.bootstrap(),
        &["timeout", "txn-timeout"],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
    assert!(b.log().contains("aborting a transaction that timed out"));
}

#[test]
fn kill_9_mid_transaction_then_the_recovered_coordinator_commits_it() {
    let mut b = TestBroker::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/txn_confluent.py");
    let mut child = std::process::Command::new(common::python())
        .arg(script)
        .arg(b.bootstrap())
        .args(["crash", "txn-crash"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ready = eventually(
        "the client's open transaction",
        Duration::from_secs(60),
        POLL,
        || dir.path().join("ready").exists() || child.try_wait().unwrap().is_some(),
    );
    assert!(
        ready.is_ok() && dir.path().join("ready").exists(),
        "the client did not get ready"
    );
    // Before the crash a read_committed reader sees only the first transaction.
    run_python(
        "txn_confluent.py",
        &b.bootstrap(),
        &["verify", "txn-crash", "10"],
    );
    b.kill9();
    b.spawn();
    std::fs::write(dir.path().join("go"), b"").unwrap();
    let done = eventually("the client's commit", Duration::from_secs(90), POLL, || {
        child.try_wait().unwrap()
    });
    let status = match done {
        Ok(s) => s,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{e}");
        }
    };
    let out = child.wait_with_output().unwrap();
    assert!(
        status.success(),
        "stdout:\n{}\nstderr:\n{}\nbroker log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        b.log()
    );
    run_python(
        "txn_confluent.py",
        &b.bootstrap(),
        &["verify", "txn-crash", "20"],
    );
    assert!(b.log().contains("transactions recovered"));
}

/// Every data record of partition 0 (read_uncommitted, from offset 0): (key, value).
fn read_all(w: &mut Wire, topic: &str) -> Vec<(String, String)> {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(8 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(sb(topic)))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(8 << 20),
                ]),
        ]);
    let r = w.call(&req, 12);
    let mut buf = r.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    let mut out = Vec::new();
    while !buf.is_empty() {
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).unwrap();
        for rec in set.records.into_iter().filter(|r| !r.control) {
            let s = |b: Option<bytes::Bytes>| {
                String::from_utf8_lossy(&b.unwrap_or_default()).into_owned()
            };
            out.push((s(rec.key), s(rec.value)));
        }
    }
    out
}

#[test]
fn compaction_removes_aborted_records_without_losing_the_committed_values_they_follow() {
    let b = TestBroker::start(&[
        "log.cleaner.backoff.ms=100",
        "log.retention.check.interval.ms=100",
    ]);
    let mut w = Wire::connect(&b.bootstrap());
    create_topic_with(
        &mut w,
        "ctx",
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "2048"),
            ("segment.ms", "300"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    );
    let tid = "compact-tx";
    let (pid, epoch) = init(&mut w, tid, -1, -1);
    let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    let with = |v: &'static str| -> Vec<(Option<&str>, &str)> {
        keys.iter().map(|k| (Some(k.as_str()), v)).collect()
    };
    assert_eq!(add_partition(&mut w, tid, pid, epoch, "ctx"), 0);
    assert_eq!(
        produce(
            &mut w,
            tid,
            "ctx",
            keyed_txn_batch(pid, epoch, 0, &with("committed"))
        )
        .0,
        0
    );
    assert_eq!(end(&mut w, tid, pid, epoch, true), 0);
    assert_eq!(add_partition(&mut w, tid, pid, epoch, "ctx"), 0);
    assert_eq!(
        produce(
            &mut w,
            tid,
            "ctx",
            keyed_txn_batch(pid, epoch, 10, &with("aborted"))
        )
        .0,
        0
    );
    assert_eq!(end(&mut w, tid, pid, epoch, false), 0);
    // read_uncommitted sees the aborted records until the cleaner removes them.
    await_hw(&mut w, "ctx", 22);
    let before = read_all(&mut w, "ctx");
    assert_eq!(
        before.iter().filter(|(_, v)| v == "aborted").count(),
        10,
        "{before:?}"
    );
    // Later plain writes of other keys roll the segments so the cleaner reaches the above.
    let filler = "x".repeat(400);
    let plain = strip_txn(&keyed_txn_batch(-1, -1, 0, &[(Some("filler"), &filler)]));
    for _ in 0..12 {
        let r = w.call(&produce_request("ctx", 0, -1, plain.clone()), 9);
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    let cleaned = eventually(
        "the aborted records cleaned away",
        Duration::from_secs(30),
        POLL,
        || {
            let all = read_all(&mut w, "ctx");
            (!all.iter().any(|(_, v)| v == "aborted")).then_some(all)
        },
    );
    let all = cleaned.unwrap_or_else(|e| panic!("{e}; log:\n{}", b.log()));
    for k in &keys {
        assert!(
            all.iter().any(|(key, v)| key == k && v == "committed"),
            "{k}'s committed value was lost: {all:?}"
        );
    }
}

/// The same records as a plain (non-transactional, no producer id) batch.
fn strip_txn(batch: &bytes::Bytes) -> bytes::Bytes {
    let mut buf = batch.clone();
    let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).unwrap();
    let records: Vec<Record> = set
        .records
        .into_iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            producer_id: -1,
            producer_epoch: -1,
            sequence: i as i32 - 1,
            ..r
        })
        .collect();
    let mut out = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    out.freeze()
}

#[test]
fn describe_and_list_transactions_and_describe_producers() {
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    create_topic(&mut w, "desc", 1);
    let tid = "desc-tx";
    let (pid, epoch) = init(&mut w, tid, -1, -1);
    assert_eq!(add_partition(&mut w, tid, pid, epoch, "desc"), 0);
    assert_eq!(
        produce(&mut w, tid, "desc", txn_batch(pid, epoch, 0, &["a", "b"])).0,
        0
    );
    let describe = |w: &mut Wire| {
        let r = w.call(
            &DescribeTransactionsRequest::default().with_transactional_ids(vec![
                TransactionalId(sb(tid)),
                TransactionalId(sb("nope")),
            ]),
            0,
        );
        r.transaction_states
    };
    let s = describe(&mut w);
    assert_eq!(s[0].error_code, 0);
    assert_eq!(s[0].transaction_state.as_str(), "Ongoing");
    assert_eq!((s[0].producer_id.0, s[0].producer_epoch), (pid, epoch));
    assert_eq!(s[0].topics[0].topic.as_str(), "desc");
    assert_eq!(s[0].topics[0].partitions, vec![0]);
    assert_eq!(
        s[1].error_code,
        ResponseError::TransactionalIdNotFound.code()
    );
    let list = |w: &mut Wire, state: &str| {
        let r = w.call(
            &ListTransactionsRequest::default()
                .with_state_filters(vec![sb(state)])
                .with_duration_filter(-1),
            1,
        );
        r.transaction_states
            .iter()
            .map(|t| t.transactional_id.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(list(&mut w, "Ongoing"), vec![tid.to_string()]);
    assert!(list(&mut w, "CompleteCommit").is_empty());
    let producers = |w: &mut Wire| {
        let r = w.call(
            &DescribeProducersRequest::default().with_topics(vec![
                describe_producers_request::TopicRequest::default()
                    .with_name(TopicName(sb("desc")))
                    .with_partition_indexes(vec![0]),
            ]),
            0,
        );
        let p = &r.topics[0].partitions[0];
        assert_eq!(p.error_code, 0);
        p.active_producers
            .iter()
            .map(|a| (a.producer_id.0, a.last_sequence, a.current_txn_start_offset))
            .collect::<Vec<_>>()
    };
    assert_eq!(producers(&mut w), vec![(pid, 1, 0)]);
    assert_eq!(end(&mut w, tid, pid, epoch, true), 0);
    assert_eq!(
        describe(&mut w)[0].transaction_state.as_str(),
        "CompleteCommit"
    );
    assert_eq!(list(&mut w, "CompleteCommit"), vec![tid.to_string()]);
    assert_eq!(producers(&mut w), vec![(pid, 1, -1)]);
}

#[test]
fn kafkajs_commit_abort_and_send_offsets() {
    let b = TestBroker::start(&["group.initial.rebalance.delay.ms=0"]);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/js");
    assert!(
        dir.join("node_modules/kafkajs").exists(),
        "run scripts/install-test-deps.sh (npm ci)"
    );
    let out = common::run_with_timeout(
        std::process::Command::new("node")
            .arg(dir.join("transactions.js"))
            .arg(b.bootstrap())
            .arg("js-txn")
            .env("KAFKAJS_NO_PARTITIONER_WARNING", "1")
            .current_dir(&dir),
        None,
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "kafkajs failed:\n{}\n{}\nbroker log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        b.log()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok 20"));
}

#[test]
fn bad_transactional_requests_get_kafkas_errors_and_change_nothing() {
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    create_topic(&mut w, "bad", 1);
    // An EndTxn or AddPartitionsToTxn for an id nobody initialised.
    assert_eq!(
        end(&mut w, "nobody", 5, 0, true),
        ResponseError::InvalidProducerIdMapping.code()
    );
    assert_eq!(
        add_partition(&mut w, "nobody", 5, 0, "bad"),
        ResponseError::InvalidProducerIdMapping.code()
    );
    // A timeout above transaction.max.timeout.ms.
    let r = w.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(sb("slow"))))
            .with_transaction_timeout_ms(3_600_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
        4,
    );
    assert_eq!(
        r.error_code,
        ResponseError::InvalidTransactionTimeout.code()
    );
    let (pid, epoch) = init(&mut w, "bad-tx", -1, -1);
    // Another producer id for the id, an EndTxn without a transaction, a partition that does
    // not exist (the others are not attempted).
    assert_eq!(
        end(&mut w, "bad-tx", pid + 1, epoch, true),
        ResponseError::InvalidProducerIdMapping.code()
    );
    assert_eq!(
        end(&mut w, "bad-tx", pid, epoch, true),
        ResponseError::InvalidTxnState.code()
    );
    assert_eq!(
        add_partition(&mut w, "bad-tx", pid, epoch, "missing"),
        ResponseError::UnknownTopicOrPartition.code()
    );
    // A client's control batch (a forged marker) is refused; nothing is appended.
    let marker = {
        let rec = Record {
            transactional: true,
            control: true,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: 1,
            key: Some(bytes::Bytes::from_static(&[0, 0, 0, 1])),
            value: Some(bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
            headers: Default::default(),
        };
        let mut buf = bytes::BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &[rec],
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        buf.freeze()
    };
    assert_eq!(
        produce(&mut w, "bad-tx", "bad", marker).0,
        ResponseError::InvalidRecord.code()
    );
    assert_eq!(latest(&mut w, "bad", 0), 0);
}

/// DescribeTransactions of one id: (error code, state).
fn describe_one(w: &mut Wire, tid: &str) -> (i16, String) {
    let r = w.call(
        &DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(sb(tid))]),
        0,
    );
    let s = &r.transaction_states[0];
    (s.error_code, s.transaction_state.to_string())
}

#[test]
fn idle_transactional_ids_expire_with_a_tombstone_and_open_transactions_do_not() {
    let mut b = TestBroker::start(&[
        "transactional.id.expiration.ms=1500",
        "transaction.remove.expired.transaction.cleanup.interval.ms=100",
    ]);
    let mut w = Wire::connect(&b.bootstrap());
    create_topic(&mut w, "expiry", 1);
    // Opened first: an ongoing transaction (timeout 60 s) is never expired.
    let (pid_open, epoch_open) = init(&mut w, "expiry-open", -1, -1);
    assert_eq!(
        add_partition(&mut w, "expiry-open", pid_open, epoch_open, "expiry"),
        0
    );
    let (pid_idle, _) = init(&mut w, "expiry-idle", -1, -1);
    assert_eq!(describe_one(&mut w, "expiry-idle").0, 0);
    eventually(
        "the idle id expired",
        Duration::from_secs(60),
        Duration::from_millis(50),
        || match describe_one(&mut w, "expiry-idle") {
            (105, _) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .unwrap();
    // The older, ongoing one is still there.
    assert_eq!(
        describe_one(&mut w, "expiry-open"),
        (0, "Ongoing".to_string())
    );
    assert!(b.log().contains("expired transactional ids removed"));
    // The tombstone is durable: a restart does not bring the id back; the open one survives.
    b.kill9();
    b.spawn();
    let mut w = Wire::connect(&b.bootstrap());
    assert_eq!(describe_one(&mut w, "expiry-idle").0, 105);
    assert_eq!(
        describe_one(&mut w, "expiry-open"),
        (0, "Ongoing".to_string())
    );
    // The expired id starts afresh: a new producer id, not a bump of the old one.
    let (pid_again, epoch_again) = init(&mut w, "expiry-idle", -1, -1);
    assert_ne!(pid_again, pid_idle);
    assert_eq!(epoch_again, 0);
}
