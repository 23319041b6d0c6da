//! Clients pinned to old Kafka versions (issue #3: every version Kafka 2.1 accepted): kafka-python
#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! with `api_version` 0.8.1 to 0.11.0, librdkafka (kcat) without version negotiation, and exact
//! old-version requests on the wire for every API whose oldest versions go through the legacy
//! bridge (message format v0/v1 up- and down-conversion, a corrupted CRC).

mod common;
use bytes::{Buf, Bytes, BytesMut};
use common::{TestBroker, run_python, run_with_timeout};
use eddy_broker::handlers::legacy::message_set::{self, Message};
use kafka_protocol::records::Compression;
use kafka_protocol_legacy::messages as old;
use kafka_protocol_legacy::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

fn broker() -> TestBroker {
    TestBroker::start(&[
        "num.partitions=2",
        "auto.create.topics.enable=true",
        "group.initial.rebalance.delay.ms=0",
    ])
}

fn kafka_python(version: &str) {
    let b = broker();
    let prefix = format!("kp{}", version.replace('.', ""));
    let out = run_python(
        "old_clients_kafka_python.py",
        &b.bootstrap(),
        &[&prefix, version],
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok"));
}

#[test]
fn kafka_python_pinned_to_0_8_1_commits_with_offset_commit_v0() {
    kafka_python("0.8.1");
}

#[test]
fn kafka_python_pinned_to_0_9_uses_message_format_v0() {
    kafka_python("0.9");
}

#[test]
fn kafka_python_pinned_to_0_10_1_uses_message_format_v1() {
    kafka_python("0.10.1");
}

#[test]
fn kafka_python_pinned_to_0_11_0_round_trips() {
    kafka_python("0.11.0");
}

fn kcat(b: &TestBroker, fallback: &str, args: &[&str], input: Option<&[u8]>) -> (bool, String) {
    let out = run_with_timeout(
        Command::new("kcat")
            .arg("-b")
            .arg(b.bootstrap())
            .args(["-X", "api.version.request=false"])
            .arg("-X")
            .arg(format!("broker.version.fallback={fallback}"))
            .args(args),
        input,
        Duration::from_secs(60),
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// librdkafka with `api.version.request=false`: Produce v1 / Fetch v1 / ListOffsets v0 for a
/// 0.9.0 fallback, Produce v0 / Fetch v0 for 0.8.2 (message format v0 both; LZ4 with the
/// pre-0.10 frame checksum). A 0.10.0 fallback is not old: librdkafka 2.0 then sends
/// ApiVersions anyway and uses current versions.
#[test]
fn librdkafka_without_version_negotiation_round_trips_every_codec() {
    let b = broker();
    for (fallback, codecs) in [
        ("0.9.0", &["none", "gzip", "snappy", "lz4"][..]),
        ("0.8.2", &["none", "gzip", "snappy"][..]),
    ] {
        for codec in codecs {
            let topic = format!("kc-{fallback}-{codec}");
            let payload: String = (0..30)
                .map(|i| format!("k{i}:{codec}-{i}-{}\n", "y".repeat(i)))
                .collect();
            let (ok, log) = kcat(
                &b,
                fallback,
                &["-P", "-t", &topic, "-p", "0", "-K:", "-z", codec],
                Some(payload.as_bytes()),
            );
            assert!(ok, "{fallback} {codec} produce: {log}\n{}", b.log());
            let (ok, out) = kcat(
                &b,
                fallback,
                &[
                    "-C",
                    "-t",
                    &topic,
                    "-p",
                    "0",
                    "-e",
                    "-q",
                    "-f",
                    "%k:%s|%o\n",
                ],
                None,
            );
            assert!(ok, "{fallback} {codec} consume: {out}\n{}", b.log());
            let want: String = payload
                .lines()
                .enumerate()
                .map(|(o, l)| format!("{l}|{o}\n"))
                .collect();
            assert_eq!(out, want, "{fallback} {codec}");
        }
    }
}

/// A blocking client speaking the old crate's request versions.
struct OldWire {
    stream: TcpStream,
    correlation: i32,
}

impl OldWire {
    fn connect(b: &TestBroker) -> Self {
        let stream = TcpStream::connect(b.bootstrap()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        OldWire {
            stream,
            correlation: 0,
        }
    }

    fn call<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        self.correlation += 1;
        let header = old::RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("old-wire")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .unwrap();
        req.encode(&mut body, version).unwrap();
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).unwrap();
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).unwrap();
        let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf).unwrap();
        let mut buf = Bytes::from(buf);
        let rh =
            old::ResponseHeader::decode(&mut buf, R::Response::header_version(version)).unwrap();
        assert_eq!(rh.correlation_id, self.correlation);
        let resp = R::Response::decode(&mut buf, version).unwrap();
        assert_eq!(buf.remaining(), 0, "trailing bytes in the response");
        resp
    }
}

fn name(s: &str) -> old::TopicName {
    old::TopicName(StrBytes::from_string(s.to_string()))
}

fn create_topic(w: &mut OldWire, topic: &str) {
    let req = old::CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            old::create_topics_request::CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]);
    assert_eq!(w.call(&req, 0).topics[0].error_code, 0);
}

fn produce(w: &mut OldWire, version: i16, topic: &str, set: Bytes) -> (i16, i64) {
    let req = old::ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            old::produce_request::TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![
                    old::produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(set)),
                ]),
        ]);
    let resp = w.call(&req, version);
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn fetch(w: &mut OldWire, version: i16, topic: &str, offset: i64) -> (i16, i64, Bytes) {
    let req = old::FetchRequest::default()
        .with_replica_id(old::BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_topics(vec![
            old::fetch_request::FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![
                    old::fetch_request::FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let resp = w.call(&req, version);
    let p = &resp.responses[0].partitions[0];
    (
        p.error_code,
        p.high_watermark,
        p.records.clone().unwrap_or_default(),
    )
}

fn list_offsets_v0(w: &mut OldWire, topic: &str, timestamp: i64) -> Vec<i64> {
    let req = old::ListOffsetsRequest::default()
        .with_replica_id(old::BrokerId(-1))
        .with_topics(vec![
            old::list_offsets_request::ListOffsetsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![
                    old::list_offsets_request::ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(timestamp)
                        .with_max_num_offsets(1),
                ]),
        ]);
    let resp = w.call(&req, 0);
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.old_style_offsets.clone()
}

fn messages(n: usize, ts: i64) -> Vec<Message> {
    (0..n)
        .map(|i| Message {
            offset: i as i64,
            timestamp: ts + i as i64,
            log_append_time: false,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: (i % 5 != 4).then(|| Bytes::from(format!("value-{i}"))),
        })
        .collect()
}

/// Exact Produce v0-2 / Fetch v0-3 / ListOffsets v0 requests: every codec and both magics up-
/// converted on append and down-converted on fetch with the right offsets and timestamps.
#[test]
fn old_produce_and_fetch_versions_convert_message_formats() {
    let b = broker();
    let mut w = OldWire::connect(&b);
    create_topic(&mut w, "conv");
    let mut expected: Vec<Message> = Vec::new();
    let mut next = 0i64;
    for version in 0..=2i16 {
        let magic = if version == 2 { 1 } else { 0 };
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
        ] {
            let batch = messages(7, 1_700_000_000_000 + next * 10);
            let set = message_set::encode(&batch, magic, codec).unwrap();
            let (err, base) = produce(&mut w, version, "conv", set);
            assert_eq!((err, base), (0, next), "produce v{version} {codec:?}");
            for (i, mut m) in batch.into_iter().enumerate() {
                m.offset = next + i as i64;
                if magic == 0 {
                    m.timestamp = -1;
                }
                expected.push(m);
            }
            next += 7;
        }
    }
    for version in 0..=3i16 {
        let magic = if version <= 1 { 0 } else { 1 };
        let mut got = Vec::new();
        let mut offset = 0;
        for _ in 0..50 {
            if offset >= next {
                break;
            }
            let (err, hw, records) = fetch(&mut w, version, "conv", offset);
            assert_eq!((err, hw), (0, next), "fetch v{version}");
            let (msgs, codec) = message_set::parse(records).unwrap();
            assert_eq!(codec, Compression::None);
            offset = msgs.last().unwrap().offset + 1;
            got.extend(msgs);
        }
        let want: Vec<Message> = expected
            .iter()
            .cloned()
            .map(|mut m| {
                if magic == 0 {
                    m.timestamp = -1;
                }
                m
            })
            .collect();
        assert_eq!(got, want, "fetch v{version}");
        // From the middle of a stored batch: the records before the fetch offset are left out.
        let (_, _, records) = fetch(&mut w, version, "conv", 3);
        let (msgs, _) = message_set::parse(records).unwrap();
        assert_eq!(msgs.first().unwrap().offset, 3);
    }
    assert_eq!(list_offsets_v0(&mut w, "conv", -1), vec![next]);
    assert_eq!(list_offsets_v0(&mut w, "conv", -2), vec![0]);
}

/// A message whose CRC does not match gets CORRUPT_MESSAGE for its partition; the connection
/// stays open and nothing is appended.
#[test]
fn a_corrupted_crc_is_rejected_with_corrupt_message() {
    let b = broker();
    let mut w = OldWire::connect(&b);
    create_topic(&mut w, "crc");
    let good = message_set::encode(&messages(3, 1_000), 1, Compression::None).unwrap();
    for version in 0..=2i16 {
        let mut bad = good.to_vec();
        let at = bad.len() - 2;
        bad[at] ^= 0x40;
        let (err, base) = produce(&mut w, version, "crc", Bytes::from(bad));
        assert_eq!(
            (err, base),
            (
                kafka_protocol::error::ResponseError::CorruptMessage.code(),
                -1
            ),
            "v{version}"
        );
    }
    assert_eq!(list_offsets_v0(&mut w, "crc", -1), vec![0]);
    let (err, base) = produce(&mut w, 2, "crc", good);
    assert_eq!((err, base), (0, 0));
    assert_eq!(list_offsets_v0(&mut w, "crc", -1), vec![3]);
}

/// The other bridged versions answer as Kafka 2.1 did: CreateTopics v0-1, DeleteTopics v0,
/// DescribeConfigs v0 (is_default), OffsetCommit v0-1 / OffsetFetch v0, OffsetForLeaderEpoch
/// v0-1, DescribeLogDirs v0; and ApiVersions advertises them all from 0.
#[test]
fn every_bridged_admin_and_group_version_answers() {
    let b = TestBroker::start(&["auto.create.topics.enable=false"]);
    let mut w = OldWire::connect(&b);
    for (version, topic) in [(0i16, "ct0"), (1, "ct1")] {
        let req = old::CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![
                old::create_topics_request::CreatableTopic::default()
                    .with_name(name(topic))
                    .with_num_partitions(3)
                    .with_replication_factor(1),
            ]);
        let resp = w.call(&req, version);
        assert_eq!(resp.topics[0].error_code, 0, "CreateTopics v{version}");
    }
    // Validate-only (v1) creates nothing.
    let req = old::CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_validate_only(true)
        .with_topics(vec![
            old::create_topics_request::CreatableTopic::default()
                .with_name(name("ct-validate"))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]);
    assert_eq!(w.call(&req, 1).topics[0].error_code, 0);

    let req = old::DescribeConfigsRequest::default().with_resources(vec![
        old::describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("ct0"))
            .with_configuration_keys(None),
    ]);
    let resp = w.call(&req, 0);
    let r = &resp.results[0];
    assert_eq!(r.error_code, 0);
    let retention = r
        .configs
        .iter()
        .find(|c| c.name.as_str() == "retention.ms")
        .unwrap_or_else(|| panic!("{r:?}"));
    assert!(retention.is_default, "{retention:?}");

    // OffsetCommit v0 (no generation: a simple commit) and v1, read back with OffsetFetch v0.
    for (version, offset) in [(0i16, 5i64), (1, 9)] {
        let req = old::OffsetCommitRequest::default()
            .with_group_id(old::GroupId(StrBytes::from_static_str("old-g")))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                old::offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(name("ct0"))
                    .with_partitions(vec![
                        old::offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(1)
                            .with_committed_offset(offset)
                            .with_commit_timestamp(if version == 1 { 1_000 } else { -1 })
                            .with_committed_metadata(Some(StrBytes::from_static_str("m"))),
                    ]),
            ]);
        let resp = w.call(&req, version);
        assert_eq!(
            resp.topics[0].partitions[0].error_code, 0,
            "OffsetCommit v{version}"
        );
        let req = old::OffsetFetchRequest::default()
            .with_group_id(old::GroupId(StrBytes::from_static_str("old-g")))
            .with_topics(Some(vec![
                old::offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(name("ct0"))
                    .with_partition_indexes(vec![1]),
            ]));
        let resp = w.call(&req, 0);
        let p = &resp.topics[0].partitions[0];
        assert_eq!(
            (p.error_code, p.committed_offset),
            (0, offset),
            "after v{version}"
        );
        assert_eq!(p.metadata.as_deref(), Some("m"));
    }

    for version in 0..=1i16 {
        let req = old::OffsetForLeaderEpochRequest::default().with_topics(vec![
            old::offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                .with_topic(name("ct0"))
                .with_partitions(vec![
                    old::offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                        .with_partition(0)
                        .with_leader_epoch(0),
                ]),
        ]);
        let resp = w.call(&req, version);
        let p = &resp.topics[0].partitions[0];
        assert_eq!((p.error_code, p.end_offset), (0, 0), "v{version}");
    }

    let resp = w.call(&old::DescribeLogDirsRequest::default().with_topics(None), 0);
    assert_eq!(resp.results.len(), 1);
    assert!(
        resp.results[0]
            .topics
            .iter()
            .any(|t| t.name.0.as_str() == "ct1"),
        "{resp:?}"
    );

    let req = old::DeleteTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topic_names(vec![name("ct1")]);
    let resp = w.call(&req, 0);
    assert_eq!(resp.responses[0].error_code, 0);
    let resp = w.call(&old::DescribeLogDirsRequest::default().with_topics(None), 0);
    assert!(
        !resp.results[0]
            .topics
            .iter()
            .any(|t| t.name.0.as_str() == "ct1" || t.name.0.as_str() == "ct-validate")
    );

    let resp = w.call(&old::ApiVersionsRequest::default(), 0);
    for key in [0i16, 1, 2, 8, 9, 19, 20, 32, 23, 35] {
        let v = resp.api_keys.iter().find(|k| k.api_key == key).unwrap();
        assert_eq!(v.min_version, 0, "api {key}");
    }
}
