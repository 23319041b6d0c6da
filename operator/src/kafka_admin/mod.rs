//! A small async Kafka admin client on the workspace's wire client (`eddy-kafka-client`:
//! framing, ApiVersions negotiation, timeouts, TLS and SASL) and the `kafka-protocol` messages:
//! topic metadata, create/delete topics, add partitions, describe and incrementally alter topic
//! configs (here); SCRAM credentials, ACLs and client quotas (`security`); and which listener
//! and identity the operator uses for a cluster (`target`). Enough for the KafkaTopic and
//! KafkaUser reconcilers; not a general client.

pub mod elect;
pub mod features;
pub mod reassign;
pub mod security;
pub mod target;

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::error::ParseResponseErrorCode as _;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use eddy_kafka_client::{Client, Config, Security};

/// Kafka error code of an unknown topic.
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// Kafka error code of a topic that already exists.
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
/// The admin client's client id in request headers.
const CLIENT_ID: &str = "eddy-operator";
/// Config resource type of topics.
const RESOURCE_TOPIC: i8 = 2;
/// DescribeConfigs source of values set on the topic itself.
const SOURCE_TOPIC_CONFIG: i8 = 1;

/// Errors of the admin client, naming the failed step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connection, its framing or version negotiation failed (the shared wire client's
    /// errors: I/O, timeouts, a closed connection, codec errors, an unsupported API).
    #[error(transparent)]
    Wire(#[from] eddy_kafka_client::Error),
    /// A response lacked what the request asked for.
    #[error("kafka protocol: {0}")]
    Codec(String),
    /// The broker answered with an error code.
    #[error("kafka {op} failed: error code {code} ({}){}", describe(*code), if message.is_empty() { String::new() } else { format!(": {message}") })]
    Kafka {
        /// Operation.
        op: &'static str,
        /// Kafka error code.
        code: i16,
        /// Broker's message.
        message: String,
    },
}

fn describe(code: i16) -> String {
    code.err()
        .map_or_else(|| "unknown".to_string(), |e| format!("{e:?}"))
}

pub(crate) fn check(op: &'static str, code: i16, message: Option<&StrBytes>) -> Result<(), Error> {
    if code == 0 {
        return Ok(());
    }
    Err(Error::Kafka {
        op,
        code,
        message: message.map(|m| m.as_str().to_string()).unwrap_or_default(),
    })
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// Connects to the first broker of `target` that answers: the brokers form one cluster, so
/// any of them takes admin requests (forwarding metadata changes to the controller).
///
/// # Errors
/// The last address tried and its failure (an empty address when there was none to try).
pub async fn connect_any(
    target: &target::Target,
    timeout: Duration,
) -> Result<(String, AdminClient), (String, Error)> {
    let mut last = None;
    for endpoint in &target.endpoints {
        let mut security = target.security.clone();
        if let (Some(tls), Some(name)) = (security.tls.take(), &endpoint.server_name) {
            security.tls = Some(tls.with_server_name(name.clone()));
        }
        match AdminClient::connect(&endpoint.address, &security, timeout).await {
            Ok(admin) => return Ok((endpoint.address.clone(), admin)),
            Err(e) => last = Some((endpoint.address.clone(), e)),
        }
    }
    Err(last.unwrap_or_else(|| {
        (
            String::new(),
            Error::Wire(eddy_kafka_client::Error::Io {
                address: String::new(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the cluster has no broker address in its status",
                ),
            }),
        )
    }))
}

/// Connects to broker `broker_id` of `target` (for requests a broker answers only for itself,
/// such as DescribeLogDirs).
///
/// # Errors
/// The broker is not in the target, or connecting failed.
pub async fn connect_to(
    target: &target::Target,
    broker_id: i32,
    timeout: Duration,
) -> Result<AdminClient, Error> {
    let endpoint = target
        .endpoints
        .iter()
        .find(|e| e.broker_id == broker_id)
        .ok_or_else(|| {
            Error::Codec(format!(
                "broker {broker_id} has no address in the cluster's status"
            ))
        })?;
    let mut security = target.security.clone();
    if let (Some(tls), Some(name)) = (security.tls.take(), &endpoint.server_name) {
        security.tls = Some(tls.with_server_name(name.clone()));
    }
    AdminClient::connect(&endpoint.address, &security, timeout).await
}

/// Resolves the admin target of `cluster` and connects to the first broker that answers;
/// errors as one message naming the address.
///
/// # Errors
/// The target's Secrets cannot be read, or no broker answered.
pub async fn connect_cluster(
    client: &kube::Client,
    cluster: &crate::crd::KafkaCluster,
    timeout: Duration,
) -> Result<(target::Target, String, AdminClient), String> {
    let t = target::resolve(client, cluster)
        .await
        .map_err(|e| e.to_string())?;
    let (address, admin) = connect_any(&t, timeout)
        .await
        .map_err(|(a, e)| format!("{a}: {e}"))?;
    Ok((t, address, admin))
}

/// A topic as the broker describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// Number of partitions.
    pub partitions: i32,
    /// Topic id (UUID) when the broker has one.
    pub topic_id: Option<String>,
}

/// An admin session with one broker.
pub struct AdminClient {
    conn: Client,
    timeout_ms: i32,
}

impl AdminClient {
    /// Connects to `address` as `security` says (TLS and SASL for a secure cluster's
    /// replication listener, plaintext otherwise) with `timeout` per request.
    ///
    /// # Errors
    /// Connection, TLS, negotiation or authentication failures.
    pub async fn connect(
        address: &str,
        security: &Security,
        timeout: Duration,
    ) -> Result<Self, Error> {
        Ok(Self {
            conn: Client::connect_secure(address, Config::new(CLIENT_ID, timeout), security)
                .await?,
            timeout_ms: i32::try_from(timeout.as_millis()).unwrap_or(30_000),
        })
    }

    /// Describes `name`; `None` when the topic does not exist.
    ///
    /// # Errors
    /// Protocol or broker errors.
    pub async fn describe_topic(&mut self, name: &str) -> Result<Option<TopicDescription>, Error> {
        let mut topic = MetadataRequestTopic::default();
        topic.name = Some(topic_name(name));
        let mut req = MetadataRequest::default();
        req.topics = Some(vec![topic]);
        req.allow_auto_topic_creation = false;
        let resp = self.conn.call(&req, 12).await?;
        let Some(t) = resp
            .topics
            .into_iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
        else {
            return Ok(None);
        };
        if t.error_code == UNKNOWN_TOPIC_OR_PARTITION {
            return Ok(None);
        }
        check("metadata", t.error_code, None)?;
        let id = (!t.topic_id.is_nil()).then(|| t.topic_id.to_string());
        Ok(Some(TopicDescription {
            partitions: i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
            topic_id: id,
        }))
    }

    /// Creates a topic; an existing topic is not an error (`Ok(false)`).
    ///
    /// # Errors
    /// Protocol or broker errors (invalid replication factor, invalid config...).
    pub async fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        config: &BTreeMap<String, String>,
    ) -> Result<bool, Error> {
        let mut topic = CreatableTopic::default();
        topic.name = topic_name(name);
        topic.num_partitions = partitions;
        topic.replication_factor = replication_factor;
        topic.configs = config
            .iter()
            .map(|(k, v)| {
                let mut c = CreatableTopicConfig::default();
                c.name = StrBytes::from_string(k.clone());
                c.value = Some(StrBytes::from_string(v.clone()));
                c
            })
            .collect();
        let mut req = CreateTopicsRequest::default();
        req.topics = vec![topic];
        req.timeout_ms = self.timeout_ms;
        let resp = self.conn.call(&req, 7).await?;
        let r = resp
            .topics
            .into_iter()
            .next()
            .ok_or_else(|| Error::Codec("empty create topics response".into()))?;
        if r.error_code == TOPIC_ALREADY_EXISTS {
            return Ok(false);
        }
        check("create topic", r.error_code, r.error_message.as_ref())?;
        Ok(true)
    }

    /// Raises the partition count of `name` to `count`.
    ///
    /// # Errors
    /// Protocol or broker errors.
    pub async fn create_partitions(&mut self, name: &str, count: i32) -> Result<(), Error> {
        let mut topic = CreatePartitionsTopic::default();
        topic.name = topic_name(name);
        topic.count = count;
        topic.assignments = None;
        let mut req = CreatePartitionsRequest::default();
        req.topics = vec![topic];
        req.timeout_ms = self.timeout_ms;
        let resp = self.conn.call(&req, 3).await?;
        for r in resp.results {
            check("create partitions", r.error_code, r.error_message.as_ref())?;
        }
        Ok(())
    }

    /// Deletes `name`; a missing topic is not an error.
    ///
    /// # Errors
    /// Protocol or broker errors.
    pub async fn delete_topic(&mut self, name: &str) -> Result<(), Error> {
        let mut req = DeleteTopicsRequest::default();
        req.topic_names = vec![topic_name(name)];
        req.timeout_ms = self.timeout_ms;
        // v6 identifies topics by name in `topics`; stay at v5 where `topic_names` is used.
        let resp = self.conn.call(&req, 5).await?;
        for r in resp.responses {
            if r.error_code != UNKNOWN_TOPIC_OR_PARTITION {
                check("delete topic", r.error_code, r.error_message.as_ref())?;
            }
        }
        Ok(())
    }

    /// The configs set on topic `name` itself (not broker defaults).
    ///
    /// # Errors
    /// Protocol or broker errors.
    pub async fn topic_config(&mut self, name: &str) -> Result<BTreeMap<String, String>, Error> {
        let mut res = DescribeConfigsResource::default();
        res.resource_type = RESOURCE_TOPIC;
        res.resource_name = StrBytes::from_string(name.to_string());
        res.configuration_keys = None;
        let mut req = DescribeConfigsRequest::default();
        req.resources = vec![res];
        let resp = self.conn.call(&req, 4).await?;
        let mut out = BTreeMap::new();
        for r in resp.results {
            check("describe configs", r.error_code, r.error_message.as_ref())?;
            for c in r.configs {
                if c.config_source == SOURCE_TOPIC_CONFIG
                    && let Some(v) = c.value
                {
                    out.insert(c.name.as_str().to_string(), v.as_str().to_string());
                }
            }
        }
        Ok(out)
    }

    /// Sets `set` and removes `delete` on topic `name` (IncrementalAlterConfigs).
    ///
    /// # Errors
    /// Protocol or broker errors.
    pub async fn alter_topic_config(
        &mut self,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> Result<(), Error> {
        self.alter_configs(RESOURCE_TOPIC, name, set, delete).await
    }

    /// Sets `set` and removes `delete` on a config resource (IncrementalAlterConfigs).
    ///
    /// # Errors
    /// Protocol or broker errors.
    pub(crate) async fn alter_configs(
        &mut self,
        resource_type: i8,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> Result<(), Error> {
        let mut configs: Vec<AlterableConfig> = set
            .iter()
            .map(|(k, v)| {
                let mut c = AlterableConfig::default();
                c.name = StrBytes::from_string(k.clone());
                c.config_operation = 0; // SET
                c.value = Some(StrBytes::from_string(v.clone()));
                c
            })
            .collect();
        configs.extend(delete.iter().map(|k| {
            let mut c = AlterableConfig::default();
            c.name = StrBytes::from_string(k.clone());
            c.config_operation = 1; // DELETE
            c.value = None;
            c
        }));
        let mut res = AlterConfigsResource::default();
        res.resource_type = resource_type;
        res.resource_name = StrBytes::from_string(name.to_string());
        res.configs = configs;
        let mut req = IncrementalAlterConfigsRequest::default();
        req.resources = vec![res];
        let resp = self.conn.call(&req, 1).await?;
        for r in resp.responses {
            check("alter configs", r.error_code, r.error_message.as_ref())?;
        }
        Ok(())
    }
}
