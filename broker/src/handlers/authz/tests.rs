//! Handlers under the authorizer with principals other than ANONYMOUS (SASL and mTLS users):
//! a single node with two topics and ACLs for `User:alice`, requests run as alice and bob.

#![allow(clippy::unwrap_used)]

use crate::config::BrokerConfig;
use crate::control::{MetadataControl, NewTopic, SingleNode};
use crate::handlers::{RequestContext, create_acls, describe_cluster, metadata, produce};
use crate::node::Node;
use crate::security::acl::{AclBinding, Operation, ResourceType};
use crate::security::{Principal, SecurityProtocol};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, DescribeClusterRequest, MetadataRequest, TopicName,
};
use std::collections::BTreeMap;
use std::sync::Arc;

struct Fixture {
    node: Arc<Node>,
    control: Arc<dyn MetadataControl>,
    _dir: tempfile::TempDir,
}

/// A node with the authorizer on (no super users), topics a.t and b.t, and ACLs: alice may
/// READ topics prefixed "a." and DESCRIBE the cluster.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::for_test(dir.path().join("data"));
    config.settings.insert(
        "authorizer.class.name".into(),
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer".into(),
    );
    let node = Node::open(config).unwrap();
    let control: Arc<dyn MetadataControl> = Arc::new(SingleNode::new(Arc::clone(&node)));
    for name in ["a.t", "b.t"] {
        control
            .create_topic(NewTopic {
                name: name.into(),
                partitions: 1,
                replication_factor: 1,
                configs: BTreeMap::new(),
                assignment: None,
                validate_only: false,
            })
            .unwrap();
    }
    control
        .create_acls(vec![
            AclBinding::from_wire(2, "a.", 4, "User:alice", "*", 3, 3).unwrap(),
            AclBinding::from_wire(4, "kafka-cluster", 3, "User:alice", "*", 8, 3).unwrap(),
        ])
        .unwrap();
    Fixture {
        node,
        control,
        _dir: dir,
    }
}

fn ctx(f: &Fixture, who: &str, api_key: ApiKey, api_version: i16) -> RequestContext {
    let groups = Arc::new(crate::group::Coordinator::new(&f.node.config, false));
    RequestContext {
        api_key,
        api_version,
        correlation_id: 1,
        client_id: None,
        peer: "127.0.0.1:40000".parse().unwrap(),
        listener: "PLAINTEXT".into(),
        security_protocol: SecurityProtocol::Plaintext,
        principal: Arc::new(who.parse::<Principal>().unwrap()),
        node: Arc::clone(&f.node),
        metadata: Arc::clone(&f.control),
        groups: Arc::clone(&groups),
        txns: Arc::new(crate::txn::TxnCoordinator::new(
            &f.node.config,
            false,
            groups,
        )),
        replication: Arc::new(crate::replication::Replication::new(
            Arc::clone(&f.node),
            false,
        )),
        quotas: Arc::new(crate::security::quota::QuotaManager::new(
            crate::security::quota::QuotaWindow::default(),
            Arc::new(crate::security::quota::SystemClock::default()),
            None,
        )),
        throttle: Arc::default(),
    }
}

fn names(resp: &kafka_protocol::messages::MetadataResponse) -> Vec<String> {
    let mut n: Vec<String> = resp
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.as_str().to_string()))
        .collect();
    n.sort();
    n
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_shows_each_principal_only_what_it_may_describe() {
    let f = fixture();
    let all = MetadataRequest::default().with_topics(None);
    let alice = metadata::handle(&ctx(&f, "User:alice", ApiKey::Metadata, 12), all.clone()).await;
    assert_eq!(names(&alice), vec!["a.t"]);
    let bob = metadata::handle(&ctx(&f, "User:bob", ApiKey::Metadata, 12), all).await;
    assert!(names(&bob).is_empty(), "{bob:?}");
    let named = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName("b.t".into()))),
        ]))
        .with_include_topic_authorized_operations(true);
    let alice_b = metadata::handle(&ctx(&f, "User:alice", ApiKey::Metadata, 12), named).await;
    assert_eq!(alice_b.topics[0].error_code, 29, "{alice_b:?}");
    let named_a = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName("a.t".into()))),
        ]))
        .with_include_topic_authorized_operations(true);
    let alice_a = metadata::handle(&ctx(&f, "User:alice", ApiKey::Metadata, 12), named_a).await;
    assert_eq!(alice_a.topics[0].error_code, 0);
    // READ and the DESCRIBE it implies.
    assert_eq!(
        alice_a.topics[0].topic_authorized_operations,
        (1 << Operation::Read.code()) | (1 << Operation::Describe.code())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn produce_is_refused_per_partition_without_write() {
    let f = fixture();
    let ctx = ctx(&f, "User:alice", ApiKey::Produce, 9);
    let records = {
        use kafka_protocol::records::{
            Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
        };
        let record = Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: 0,
            key: None,
            value: Some(bytes::Bytes::from_static(b"v")),
            headers: Default::default(),
        };
        let mut buf = bytes::BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            [&record],
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        buf.freeze()
    };
    use kafka_protocol::messages::ProduceRequest;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let req = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName("a.t".into()))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ]);
    let produce::Appended::Done(resp) =
        produce::append_all(&ctx, 9, req, &produce::Verified::new())
    else {
        panic!("a refused produce appends nothing");
    };
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 29);
    assert_eq!(f.node.partition("a.t", 0).unwrap().high_watermark(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_apis_follow_the_cluster_acls() {
    let f = fixture();
    let req = DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
    let alice = describe_cluster::handle(
        &ctx(&f, "User:alice", ApiKey::DescribeCluster, 0),
        req.clone(),
    )
    .await;
    assert_eq!(alice.error_code, 0);
    assert_eq!(
        alice.cluster_authorized_operations,
        1 << Operation::Describe.code()
    );
    let bob = describe_cluster::handle(&ctx(&f, "User:bob", ApiKey::DescribeCluster, 0), req).await;
    assert_eq!(bob.error_code, 31);
    // CreateAcls needs ALTER on the cluster: DESCRIBE is not enough.
    let create = CreateAclsRequest::default().with_creations(vec![Default::default()]);
    let refused = create_acls::handle(&ctx(&f, "User:alice", ApiKey::CreateAcls, 3), create).await;
    assert_eq!(refused.results[0].error_code, 31);
    let denials = f
        .node
        .metrics
        .authorization_denials
        .with_label_values(&[&ResourceType::Cluster.to_string(), "ALTER"])
        .get();
    assert_eq!(denials, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotent_producers_need_idempotent_write_or_write_on_some_topic() {
    use crate::handlers::init_producer_id;
    use kafka_protocol::messages::InitProducerIdRequest;
    let f = fixture();
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    let alice = || ctx(&f, "User:alice", ApiKey::InitProducerId, 4);
    // READ on a. topics is not enough.
    let refused = init_producer_id::handle(&alice(), req.clone()).await;
    assert_eq!(refused.error_code, 31);
    f.control
        .create_acls(vec![
            AclBinding::from_wire(2, "b.", 4, "User:alice", "*", 4, 3).unwrap(),
        ])
        .unwrap();
    let allowed = init_producer_id::handle(&alice(), req.clone()).await;
    assert_eq!(allowed.error_code, 0);
    assert!(allowed.producer_id.0 >= 0);
    // IDEMPOTENT_WRITE on the cluster is the other way in.
    let bob = || ctx(&f, "User:bob", ApiKey::InitProducerId, 4);
    assert_eq!(
        init_producer_id::handle(&bob(), req.clone())
            .await
            .error_code,
        31
    );
    f.control
        .create_acls(vec![
            AclBinding::from_wire(4, "kafka-cluster", 3, "User:bob", "*", 12, 3).unwrap(),
        ])
        .unwrap();
    assert_eq!(init_producer_id::handle(&bob(), req).await.error_code, 0);
}
