//! A minimal blocking Kafka wire client for tests that need exact requests (raw produce retries,
//! oversized batches, ListOffsets by timestamp): kafka-protocol encodes, we frame.
#![allow(dead_code, clippy::unwrap_used)]

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Wire {
    stream: TcpStream,
    correlation: i32,
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
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("wire-test")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .unwrap();
        req.encode(&mut body, version).unwrap();
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
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

    /// Reads the next response, as an answer to an `R` at `version`: (correlation id, body).
    pub fn recv<R: Request>(&mut self, version: i16) -> (i32, R::Response) {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).unwrap();
        let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf).unwrap();
        let mut buf = Bytes::from(buf);
        let rh = ResponseHeader::decode(&mut buf, R::Response::header_version(version)).unwrap();
        let resp = R::Response::decode(&mut buf, version).unwrap();
        assert_eq!(buf.remaining(), 0, "trailing bytes in the response");
        (rh.correlation_id, resp)
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
