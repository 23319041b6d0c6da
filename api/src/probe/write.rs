//! One probe write to a cluster, as a Kafka client makes it: ask any reachable bootstrap broker
//! for the probe topic's metadata (creating the topic through the admin API the first time),
//! connect to partition 0's leader and produce one record with `acks=all`, every connection
//! secured as the listener asks (TLS, SASL). Any failure on the way (an authentication refused
//! included) is the write failing.

use bytes::{Bytes, BytesMut};
use eddy_kafka_client::{Client, Config, Security};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    CreateTopicsRequest, MetadataRequest, MetadataResponse, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::time::Duration;

/// The internal topic the probe writes to (one underscore: Eddy brokers reserve `__` names for
/// their own internal topics and refuse to create them through the admin API).
pub const PROBE_TOPIC: &str = "_eddy_sla_probe";

/// Kafka's TOPIC_ALREADY_EXISTS: another probe created it first.
const TOPIC_ALREADY_EXISTS: i16 = 36;

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str(PROBE_TOPIC))
}

async fn connect(address: &str, security: &Security, timeout: Duration) -> Result<Client, String> {
    Client::connect_secure(address, Config::new("eddy-sla-probe", timeout), security)
        .await
        .map_err(|e| e.to_string())
}

/// The first bootstrap broker that answers.
async fn any_broker(
    bootstrap: &str,
    security: &Security,
    timeout: Duration,
) -> Result<Client, String> {
    let mut last = "empty bootstrap list".to_string();
    for address in bootstrap
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        match connect(address, security, timeout).await {
            Ok(c) => return Ok(c),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn metadata(c: &mut Client) -> Result<MetadataResponse, String> {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic())),
        ]))
        .with_allow_auto_topic_creation(false);
    c.call(&req, 12).await.map_err(|e| format!("metadata: {e}"))
}

/// Partition 0's leader as `host:port`, or `None` when the topic does not exist.
fn leader(m: &MetadataResponse) -> Result<Option<String>, String> {
    let Some(t) = m.topics.iter().find(|t| t.name.as_ref() == Some(&topic())) else {
        return Ok(None);
    };
    if t.error_code == 3 {
        return Ok(None);
    }
    if t.error_code != 0 {
        return Err(format!("metadata of {PROBE_TOPIC}: error {}", t.error_code));
    }
    let p = t
        .partitions
        .iter()
        .find(|p| p.partition_index == 0)
        .ok_or_else(|| format!("{PROBE_TOPIC} has no partition 0"))?;
    if p.error_code != 0 || p.leader_id.0 < 0 {
        return Err(format!(
            "partition 0 has no leader (error {})",
            p.error_code
        ));
    }
    let b = m
        .brokers
        .iter()
        .find(|b| b.node_id == p.leader_id)
        .ok_or_else(|| format!("leader {} not among the brokers", p.leader_id.0))?;
    Ok(Some(format!("{}:{}", b.host.as_str(), b.port)))
}

async fn create_topic(c: &mut Client, replicas: i16, timeout: Duration) -> Result<(), String> {
    let t = CreatableTopic::default()
        .with_name(topic())
        .with_num_partitions(1)
        .with_replication_factor(replicas);
    let req = CreateTopicsRequest::default()
        .with_topics(vec![t])
        .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX));
    let resp = c
        .call(&req, 7)
        .await
        .map_err(|e| format!("create topic: {e}"))?;
    match resp.topics.first().map(|t| t.error_code) {
        Some(0 | TOPIC_ALREADY_EXISTS) => Ok(()),
        Some(code) => Err(format!("create topic {PROBE_TOPIC}: error {code}")),
        None => Err("create topic: empty answer".into()),
    }
}

fn record(now_ms: i64) -> Result<Bytes, String> {
    let r = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: now_ms,
        key: None,
        value: Some(Bytes::from(now_ms.to_string())),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&r],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| format!("encode record: {e}"))?;
    Ok(buf.freeze())
}

/// Writes one probe record to the cluster behind `bootstrap` (`host:port,...`) connecting as
/// `security` says, creating the topic when missing with as many replicas as the cluster has
/// brokers, at most 3. `Ok` only when the leader acknowledged it with `acks=all`.
pub async fn probe_write(
    bootstrap: &str,
    security: &Security,
    timeout: Duration,
    now_ms: i64,
) -> Result<(), String> {
    let mut c = any_broker(bootstrap, security, timeout).await?;
    let mut m = metadata(&mut c).await?;
    if leader(&m)?.is_none() {
        let replicas = i16::try_from(m.brokers.len().clamp(1, 3)).unwrap_or(1);
        create_topic(&mut c, replicas, timeout).await?;
        m = metadata(&mut c).await?;
    }
    let address = leader(&m)?.ok_or_else(|| format!("{PROBE_TOPIC} not created yet"))?;
    let mut c = if address == c.address() {
        c
    } else {
        connect(&address, security, timeout).await?
    };
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX))
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic())
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(record(now_ms)?)),
                ]),
        ]);
    let resp = c.call(&req, 9).await.map_err(|e| format!("produce: {e}"))?;
    let code = resp
        .responses
        .first()
        .and_then(|t| t.partition_responses.first())
        .map(|p| p.error_code)
        .ok_or("produce: empty answer")?;
    if code != 0 {
        return Err(format!("produce: error {code}"));
    }
    Ok(())
}
