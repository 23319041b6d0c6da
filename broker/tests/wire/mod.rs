//! A minimal blocking Kafka wire client for tests that need exact requests (raw produce retries,
//! oversized batches, ListOffsets by timestamp, pipelining): the workspace's Kafka client codec
//! (`eddy_kafka_client::codec`) encodes and frames; this only does blocking socket I/O.
#![allow(dead_code, clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use eddy_kafka_client::codec::{self, Decoder as _, Encoder as _, LengthDelimitedCodec};
use kafka_protocol::protocol::{Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Wire {
    stream: TcpStream,
    correlation: i32,
    frames: LengthDelimitedCodec,
    /// Bytes read but not yet decoded (pipelined responses arrive back to back).
    read: BytesMut,
}

impl Wire {
    pub fn connect(bootstrap: &str) -> Self {
        let stream = TcpStream::connect(bootstrap).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Wire {
            stream,
            correlation: 0,
            frames: codec::frame_codec(codec::MAX_FRAME),
            read: BytesMut::new(),
        }
    }

    /// Sends `req` at `version` and decodes the response.
    pub fn call<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        let correlation = self.send(req, version);
        let (got, resp) = self.recv::<R>(version);
        assert_eq!(got, correlation);
        resp
    }

    /// Sends `req` without waiting for its answer (pipelining); returns its correlation id.
    pub fn send<R: Request>(&mut self, req: &R, version: i16) -> i32 {
        self.correlation += 1;
        let body = codec::encode_request(req, version, self.correlation, "wire-test").unwrap();
        let mut frame = BytesMut::new();
        self.frames.encode(body, &mut frame).unwrap();
        self.stream.write_all(&frame).unwrap();
        self.correlation
    }

    /// Writes raw bytes (malformed frames).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Asserts that the broker closed the connection.
    pub fn expect_closed(&mut self) {
        let mut buf = [0u8; 16];
        match self.stream.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("expected the broker to close the connection, got {other:?}"),
        }
    }

    /// Like `recv`, but None when the broker closed the connection instead of answering.
    pub fn try_recv<R: Request>(&mut self, version: i16) -> Option<(i32, R::Response)> {
        let frame = loop {
            if let Some(frame) = self.frames.decode(&mut self.read).unwrap() {
                break frame;
            }
            let mut chunk = [0u8; 64 << 10];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.read.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading a response: {e}"),
            }
        };
        let resp = codec::decode_response::<R>(frame.freeze(), version).unwrap();
        Some((resp.correlation_id, resp.body))
    }

    /// Reads one raw length-prefixed frame (pre-KIP-43 SASL tokens have no header).
    pub fn recv_raw_frame(&mut self) -> Option<Bytes> {
        loop {
            if let Some(frame) = self.frames.decode(&mut self.read).unwrap() {
                return Some(frame.freeze());
            }
            let mut chunk = [0u8; 64 << 10];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.read.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading a frame: {e}"),
            }
        }
    }

    /// Reads the next response, as an answer to an `R` at `version`: (correlation id, body).
    pub fn recv<R: Request>(&mut self, version: i16) -> (i32, R::Response) {
        let frame = loop {
            if let Some(frame) = self.frames.decode(&mut self.read).unwrap() {
                break frame;
            }
            let mut chunk = [0u8; 64 << 10];
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the broker closed the connection before answering");
            self.read.extend_from_slice(&chunk[..n]);
        };
        let resp = codec::decode_response::<R>(frame.freeze(), version).unwrap();
        assert_eq!(resp.trailing, 0, "trailing bytes in the response");
        (resp.correlation_id, resp.body)
    }
}
/// An idempotent (or plain, with `producer_id` -1) batch of `values` with timestamps `ts`.
pub fn batch(
    producer_id: i64,
    epoch: i16,
    first_sequence: i32,
    values: &[&[u8]],
    timestamps: &[i64],
    compression: Compression,
) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .zip(timestamps)
        .enumerate()
        .map(|(i, (v, ts))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // kafka-protocol starts a new batch whenever offset - sequence changes, so plain
            // batches count up from -1: only the first (the batch's base sequence) is encoded.
            sequence: if producer_id >= 0 {
                first_sequence + i as i32
            } else {
                i as i32 - 1
            },
            timestamp: *ts,
            key: None,
            value: Some(Bytes::copy_from_slice(v)),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.freeze()
}

/// CreateTopics config entries from `(name, value)` pairs.
pub fn topic_configs(
    configs: &[(&str, &str)],
) -> Vec<kafka_protocol::messages::create_topics_request::CreatableTopicConfig> {
    configs
        .iter()
        .map(|(k, v)| {
            kafka_protocol::messages::create_topics_request::CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect()
}

/// A Produce request of one batch to one partition (10 s timeout).
pub fn produce_request(
    topic: &str,
    partition: i32,
    acks: i16,
    records: Bytes,
) -> kafka_protocol::messages::ProduceRequest {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    kafka_protocol::messages::ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(kafka_protocol::messages::TopicName(StrBytes::from_string(
                    topic.to_string(),
                )))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ])
}

/// Waits (DescribeTransactions v0 on `w`, polled for up to 30 s) until `tid`'s transaction has
/// left PrepareCommit/PrepareAbort: EndTxn is answered once PREPARE is durable and the
/// coordinator writes the markers in the background, so a test that needs them written (the
/// next transaction of the id, a read of the outcome) waits here. Returns the state reached.
pub fn wait_txn_complete(w: &mut Wire, tid: &str) -> String {
    use kafka_protocol::messages::{DescribeTransactionsRequest, TransactionalId};
    eddy_test_support::eventually(
        "the transaction's markers written (COMPLETE)",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || {
            let r = w.call(
                &DescribeTransactionsRequest::default().with_transactional_ids(vec![
                    TransactionalId(StrBytes::from_string(tid.to_string())),
                ]),
                0,
            );
            let s = &r.transaction_states[0];
            match s.transaction_state.as_str() {
                "PrepareCommit" | "PrepareAbort" => Err(s.transaction_state.to_string()),
                _ if s.error_code != 0 => Err(format!("error {}", s.error_code)),
                state => Ok(state.to_string()),
            }
        },
    )
    .unwrap()
}

/// A transactional batch of one record `value` from (`pid`, `epoch`) at sequence `seq`.
pub fn txn_batch(pid: i64, epoch: i16, seq: i32, value: &str) -> Bytes {
    let record = Record {
        transactional: true,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: pid,
        producer_epoch: epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: seq,
        timestamp: 1_000,
        key: None,
        value: Some(bytes::Bytes::copy_from_slice(value.as_bytes())),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &[record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}
