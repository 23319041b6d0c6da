#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! The workspace's Kafka wire client (`eddy-kafka-client`, used by replication and the operator)
//! against a real broker: ApiVersions v3 negotiation, version capping, a call at the negotiated
//! version.

mod common;

use common::TestBroker;
use eddy_kafka_client::{Client, Config};
use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
use kafka_protocol::protocol::Message;
use std::time::Duration;

#[tokio::test]
async fn negotiates_with_the_broker_and_calls_at_the_highest_common_version() {
    let b = TestBroker::start(&[]);
    let config = Config::new("kafka-client-test", Duration::from_secs(10));
    let mut client = Client::connect_negotiated(&b.bootstrap(), config)
        .await
        .unwrap();
    // The broker answers ApiVersions v3 (client software name and version) and lists itself.
    assert_eq!(client.version::<ApiVersionsRequest>(3).unwrap(), 3);
    let ours = <MetadataRequest as Message>::VERSIONS.max;
    let metadata = client.version::<MetadataRequest>(ours).unwrap();
    assert!(metadata >= 9, "metadata v{metadata}");
    assert_eq!(client.version::<MetadataRequest>(4).unwrap(), 4);
    let resp = client
        .call(&MetadataRequest::default().with_topics(None), ours)
        .await
        .unwrap();
    assert_eq!(resp.brokers.len(), 1);
}
