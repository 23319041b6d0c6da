//! Admin and producer-id APIs end to end: confluent-kafka and kafka-python admin clients,
#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! idempotent produce (raw retries and a kill -9 mid-stream), max.message.bytes enforcement and
//! live change, and ListOffsets by timestamp inside a multi-record batch.

mod common;
mod wire;

use common::{TestBroker, run_python};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use wire::{Wire, batch, produce_request, topic_configs};

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn create_topic(w: &mut Wire, name: &str, configs: &[(&str, &str)]) {
    let req = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(TopicName(sb(name)))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(topic_configs(configs)),
    ]);
    let resp = w.call(&req, 7);
    assert_eq!(resp.topics[0].error_code, 0, "{:?}", resp.topics[0]);
    assert_eq!(resp.topics[0].num_partitions, 1);
    assert!(!resp.topics[0].topic_id.is_nil());
}

/// Produces one batch to partition 0 of `topic`: (error code, base offset).
fn produce(w: &mut Wire, topic: &str, records: bytes::Bytes) -> (i16, i64) {
    let resp = w.call(&produce_request(topic, 0, -1, records), 9);
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// ListOffsets on partition 0: (offset, timestamp).
fn list_offset(w: &mut Wire, topic: &str, timestamp: i64) -> (i64, i64) {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(TopicName(sb(topic)))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(timestamp),
                ]),
        ]);
    let resp = w.call(&req, 7);
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    (p.offset, p.timestamp)
}

fn init_producer_id(w: &mut Wire) -> (i64, i16) {
    let resp = w.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
        4,
    );
    assert_eq!(resp.error_code, 0);
    (resp.producer_id.0, resp.producer_epoch)
}

#[test]
fn confluent_kafka_admin_client() {
    let b = TestBroker::start(&[]);
    run_python("admin_confluent.py", &b.bootstrap(), &[]);
}

#[test]
fn kafka_python_admin_client() {
    let b = TestBroker::start(&[]);
    run_python("admin_kafka_python.py", &b.bootstrap(), &[]);
}

#[test]
fn init_producer_id_allocates_bumps_and_serves_transactional_ids() {
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    let (pid, epoch) = init_producer_id(&mut w);
    assert_eq!(epoch, 0);
    let (pid2, _) = init_producer_id(&mut w);
    assert_ne!(pid, pid2);
    let bumped = w.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(0),
        4,
    );
    assert_eq!((bumped.producer_id.0, bumped.producer_epoch), (pid, 1));
    let txn = w.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(sb("t1"))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
        4,
    );
    // A transactional id gets its own producer id from the transaction coordinator.
    assert_eq!(txn.error_code, 0);
    assert!(txn.producer_id.0 >= 0);
    assert_ne!(txn.producer_id.0, pid2);
}

#[test]
fn retried_idempotent_batch_is_appended_once_even_after_a_crash() {
    let mut b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    create_topic(&mut w, "idem", &[]);
    let (pid, epoch) = init_producer_id(&mut w);
    let first = || {
        batch(
            pid,
            epoch,
            0,
            &[b"a", b"b", b"c"],
            &[1, 2, 3],
            Compression::None,
        )
    };
    assert_eq!(produce(&mut w, "idem", first()), (0, 0));
    assert_eq!(
        produce(&mut w, "idem", first()),
        (0, 0),
        "retry answered with the original offset"
    );
    let second = batch(pid, epoch, 3, &[b"d"], &[4], Compression::None);
    assert_eq!(produce(&mut w, "idem", second), (0, 3));
    assert_eq!(list_offset(&mut w, "idem", -1).0, 4);
    // A gap in sequence numbers is refused.
    let gap = batch(pid, epoch, 9, &[b"x"], &[5], Compression::None);
    assert_eq!(
        produce(&mut w, "idem", gap).0,
        kafka_protocol::error::ResponseError::OutOfOrderSequenceNumber.code()
    );
    // Producer state survives a crash: the same retry is still recognised.
    b.kill9();
    b.spawn();
    let mut w = Wire::connect(&b.bootstrap());
    assert_eq!(produce(&mut w, "idem", first()), (0, 0));
    assert_eq!(list_offset(&mut w, "idem", -1).0, 4);
}

#[test]
fn max_message_bytes_is_enforced_and_changes_live_and_persists() {
    let mut b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    create_topic(&mut w, "big", &[("max.message.bytes", "1000")]);
    let payload = vec![b'x'; 2000];
    let big = || batch(-1, -1, 0, &[&payload], &[1], Compression::None);
    assert_eq!(
        produce(&mut w, "big", big()).0,
        kafka_protocol::error::ResponseError::MessageTooLarge.code()
    );
    assert_eq!(list_offset(&mut w, "big", -1).0, 0, "nothing stored");

    let alter = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(sb("big"))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(sb("max.message.bytes"))
                    .with_config_operation(0)
                    .with_value(Some(sb("5000"))),
            ]),
    ]);
    let resp = w.call(&alter, 1);
    assert_eq!(resp.responses[0].error_code, 0, "{:?}", resp.responses[0]);
    assert_eq!(produce(&mut w, "big", big()), (0, 0));

    b.stop();
    b.spawn();
    let mut w = Wire::connect(&b.bootstrap());
    assert_eq!(
        produce(&mut w, "big", big()),
        (0, 1),
        "the altered limit persisted"
    );
    let describe = w.call(
        &DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(sb("big"))
                .with_configuration_keys(Some(vec![sb("max.message.bytes")])),
        ]),
        4,
    );
    let configs = &describe.results[0].configs;
    assert_eq!(configs.len(), 1);
    assert_eq!(configs[0].value.as_deref(), Some("5000"));
    assert_eq!(configs[0].config_source, 1);
}

#[test]
fn list_offsets_by_timestamp_finds_the_record_inside_a_batch() {
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    let values: [&[u8]; 5] = [b"0", b"1", b"2", b"3", b"4"];
    let ts = [1000, 2000, 3000, 4000, 5000];
    for (topic, compression) in [("plain", Compression::None), ("gz", Compression::Gzip)] {
        create_topic(&mut w, topic, &[]);
        let (err, base) = produce(&mut w, topic, batch(-1, -1, 0, &values, &ts, compression));
        assert_eq!((err, base), (0, 0));
        assert_eq!(list_offset(&mut w, topic, 2500), (2, 3000), "{topic}");
        assert_eq!(list_offset(&mut w, topic, 1000), (0, 1000), "{topic}");
        assert_eq!(list_offset(&mut w, topic, 5000), (4, 5000), "{topic}");
        assert_eq!(list_offset(&mut w, topic, 5001), (-1, -1), "{topic}");
        assert_eq!(list_offset(&mut w, topic, -3), (4, 5000), "{topic}");
    }
}

/// kill -9 during an idempotent confluent-kafka produce stream: after the restart the producer
/// finishes, and the partition holds every acknowledged value exactly once, in order.
#[test]
fn idempotent_producer_survives_kill9_without_duplicates() {
    use eddy_test_support::eventually;
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    const COUNT: usize = 4000;
    let mut b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    create_topic(&mut w, "idem-crash", &[]);
    drop(w);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients/idempotent_produce.py");
    let mut child = Command::new(common::python())
        .arg(script)
        .arg(b.bootstrap())
        .arg("idem-crash")
        .arg(COUNT.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(child.id());
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut acked = Vec::new();
    let mut crashed = false;
    // Each check reads at most one line (waiting up to 200 ms for it).
    let done = eventually(
        "the producer's done line",
        Duration::from_secs(120),
        Duration::from_millis(1),
        || {
            let line = rx.recv_timeout(Duration::from_millis(200)).ok()?;
            let mut parts = line.split_whitespace();
            let done = match (parts.next(), parts.next()) {
                (Some("ack"), Some(n)) => {
                    acked.push(n.parse::<usize>().unwrap());
                    None
                }
                (Some("done"), Some(n)) => Some(n.parse::<usize>().unwrap()),
                (Some("err"), _) => panic!("delivery failed: {line}"),
                _ => None,
            };
            if !crashed && acked.len() >= 500 {
                b.kill9();
                b.spawn();
                crashed = true;
            }
            done
        },
    );
    let _ = child.wait();
    drop(guard);
    assert!(crashed, "the stream ended before the crash point");
    assert_eq!(
        done.as_ref().ok(),
        Some(&0),
        "producer did not finish cleanly: {done:?}"
    );
    assert_eq!(acked.len(), COUNT);

    let out = common::run_with_timeout(
        Command::new("kcat").args([
            "-b",
            &b.bootstrap(),
            "-C",
            "-t",
            "idem-crash",
            "-p",
            "0",
            "-e",
            "-f",
            "%s\n",
        ]),
        None,
        Duration::from_secs(60),
    );
    assert!(out.status.success());
    let stored: Vec<usize> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(stored.len(), COUNT, "duplicates or losses in the log");
    assert_eq!(
        stored,
        (0..COUNT).collect::<Vec<_>>(),
        "every value once, in order"
    );
}

/// Kills a client process by PID if the test fails before it exits.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn cluster_log_dirs_epochs_delete_records_and_delete_by_id() {
    use kafka_protocol::error::ResponseError;
    let mut b = TestBroker::start(&["broker.rack=rack-a"]);
    let mut w = Wire::connect(&b.bootstrap());

    let cluster = w.call(&DescribeClusterRequest::default(), 1);
    assert_eq!(cluster.error_code, 0);
    assert_eq!(cluster.controller_id.0, 0);
    assert_eq!(cluster.brokers.len(), 1);
    assert_eq!(cluster.brokers[0].host.as_str(), "127.0.0.1");
    assert_eq!(cluster.brokers[0].port, i32::from(b.port));
    assert_eq!(cluster.brokers[0].rack.as_deref(), Some("rack-a"));
    assert!(!cluster.cluster_id.is_empty());

    // validate_only creates nothing.
    let dry = w.call(
        &CreateTopicsRequest::default()
            .with_validate_only(true)
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(TopicName(sb("dry")))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
            ]),
        7,
    );
    assert_eq!(dry.topics[0].error_code, 0);
    assert_eq!(dry.topics[0].num_partitions, 1);
    create_topic(&mut w, "logs", &[]);
    for i in 0..3 {
        let (err, _) = produce(
            &mut w,
            "logs",
            batch(-1, -1, 0, &[b"v"], &[i], Compression::None),
        );
        assert_eq!(err, 0);
    }

    let dirs = w.call(&DescribeLogDirsRequest::default().with_topics(None), 4);
    let dir = &dirs.results[0];
    assert_eq!(dir.error_code, 0);
    assert!(dir.total_bytes > 0 && dir.usable_bytes > 0 && dir.usable_bytes <= dir.total_bytes);
    let logs = dir
        .topics
        .iter()
        .find(|t| t.name.as_str() == "logs")
        .unwrap();
    assert!(logs.partitions[0].partition_size > 0);
    assert!(!dir.topics.iter().any(|t| t.name.as_str() == "dry"));

    let epoch_req = |current: i32, requested: i32| {
        use offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
        OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                OffsetForLeaderTopic::default()
                    .with_topic(TopicName(sb("logs")))
                    .with_partitions(vec![
                        OffsetForLeaderPartition::default()
                            .with_partition(0)
                            .with_current_leader_epoch(current)
                            .with_leader_epoch(requested),
                    ]),
            ])
    };
    let ok = &w.call(&epoch_req(0, 0), 4).topics[0].partitions[0];
    assert_eq!((ok.error_code, ok.leader_epoch, ok.end_offset), (0, 0, 3));
    let unknown = &w.call(&epoch_req(0, 5), 4).topics[0].partitions[0];
    assert_eq!((unknown.leader_epoch, unknown.end_offset), (-1, -1));
    let fenced = &w.call(&epoch_req(3, 0), 4).topics[0].partitions[0];
    assert_eq!(fenced.error_code, ResponseError::UnknownLeaderEpoch.code());

    let del = w.call(
        &DeleteRecordsRequest::default().with_topics(vec![
            delete_records_request::DeleteRecordsTopic::default()
                .with_name(TopicName(sb("logs")))
                .with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(-1),
                ]),
        ]),
        2,
    );
    let p = &del.topics[0].partitions[0];
    assert_eq!((p.error_code, p.low_watermark), (0, 3));
    assert_eq!(list_offset(&mut w, "logs", -2).0, 3);

    // Broker dynamic configs persist across a restart.
    let alter = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(sb(""))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(sb("log.retention.ms"))
                    .with_config_operation(0)
                    .with_value(Some(sb("3600000"))),
            ]),
    ]);
    assert_eq!(w.call(&alter, 1).responses[0].error_code, 0);
    b.stop();
    b.spawn();
    let mut w = Wire::connect(&b.bootstrap());
    let describe = w.call(
        &DescribeConfigsRequest::default()
            .with_include_synonyms(true)
            .with_resources(vec![
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(sb("logs"))
                    .with_configuration_keys(Some(vec![sb("retention.ms")])),
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(4)
                    .with_resource_name(sb("7")),
            ]),
        4,
    );
    let r = &describe.results[0].configs[0];
    assert_eq!((r.value.as_deref(), r.config_source), (Some("3600000"), 2));
    assert_eq!(r.synonyms.len(), 2, "dynamic broker value and default");
    assert_eq!(
        describe.results[1].error_code,
        ResponseError::InvalidRequest.code()
    );

    // Delete by topic id (v6).
    let id = w
        .call(&MetadataRequest::default().with_topics(None), 12)
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == "logs"))
        .unwrap()
        .topic_id;
    let del = w.call(
        &DeleteTopicsRequest::default().with_topics(vec![
            delete_topics_request::DeleteTopicState::default()
                .with_name(None)
                .with_topic_id(id),
        ]),
        6,
    );
    assert_eq!(del.responses[0].error_code, 0);
    assert_eq!(
        del.responses[0].name.as_ref().map(|n| n.as_str()),
        Some("logs")
    );
    let again = w.call(
        &DeleteTopicsRequest::default().with_topics(vec![
            delete_topics_request::DeleteTopicState::default()
                .with_name(None)
                .with_topic_id(id),
        ]),
        6,
    );
    assert_eq!(
        again.responses[0].error_code,
        ResponseError::UnknownTopicId.code()
    );
}

/// A client configured for SASL on a PLAINTEXT listener gets Kafka's answer (KafkaApis:
/// `ILLEGAL_SASL_STATE`), not an unexplained disconnect; the connection stays usable. SASL
/// listeners are tested in sasl.rs.
#[test]
fn sasl_handshakes_are_refused_with_kafkas_error_codes() {
    use kafka_protocol::messages::{
        ApiVersionsRequest, SaslAuthenticateRequest, SaslHandshakeRequest,
    };
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    for version in 0..=1 {
        let r = w.call(
            &SaslHandshakeRequest::default().with_mechanism(sb("SCRAM-SHA-512")),
            version,
        );
        assert_eq!(
            r.error_code,
            kafka_protocol::error::ResponseError::IllegalSaslState.code()
        );
        assert!(r.mechanisms.is_empty());
    }
    let r = w.call(
        &SaslAuthenticateRequest::default().with_auth_bytes(bytes::Bytes::from_static(b"x")),
        2,
    );
    assert_eq!(
        r.error_code,
        kafka_protocol::error::ResponseError::IllegalSaslState.code()
    );
    // Still the same connection, still served.
    let v = w.call(&ApiVersionsRequest::default(), 3);
    assert_eq!(v.error_code, 0);
    let advertised = |key: i16| v.api_keys.iter().any(|k| k.api_key == key);
    assert!(
        advertised(17) && advertised(36),
        "SaslHandshake and SaslAuthenticate"
    );

    // librdkafka (kcat) with SASL/PLAIN on a PLAINTEXT listener says why it cannot connect.
    let out = std::process::Command::new("kcat")
        .args(["-b", &b.bootstrap(), "-L", "-m", "5"])
        .args([
            "-X",
            "security.protocol=SASL_PLAINTEXT",
            "-X",
            "sasl.mechanisms=PLAIN",
        ])
        .args(["-X", "sasl.username=u", "-X", "sasl.password=p"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("Request not valid in current SASL state"),
        "kcat should report the refused handshake: {text}"
    );
}
