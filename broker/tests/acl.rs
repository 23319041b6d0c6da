//! ACLs end to end with real clients: the authorizer on, ACLs created, described and deleted
//! through confluent-kafka's AdminClient, kept across a restart, enforced on consumers,
//! producers and Metadata, and shared by the brokers of a cluster.
#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test

mod cluster_support;
mod common;
mod wire;

use cluster_support::start_brokers;
use common::{TestBroker, run_python};
use eddy_test_support::eventually;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::time::Duration;
use wire::Wire;

const AUTHORIZER: &str =
    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer";

#[test]
fn acls_are_created_described_deleted_and_survive_a_restart() {
    let mut b = TestBroker::start(&[AUTHORIZER, "super.users=User:ANONYMOUS"]);
    let out = run_python("acl_admin.py", &b.bootstrap(), &["create"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("create: ok"));
    assert!(b.stop(), "graceful stop");
    b.spawn();
    let out = run_python("acl_admin.py", &b.bootstrap(), &["persisted"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("persisted: ok"));
}

#[test]
fn without_an_authorizer_the_acl_apis_answer_security_disabled() {
    let b = TestBroker::start(&[]);
    let out = run_python("acl_admin.py", &b.bootstrap(), &["disabled"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("disabled: ok"));
}

#[test]
fn acls_are_enforced_on_consumers_producers_and_metadata() {
    // First start: ANONYMOUS is a super user and creates the topics, records and ACLs.
    let mut b = TestBroker::start(&[AUTHORIZER, "super.users=User:ANONYMOUS"]);
    run_python("acl_enforce.py", &b.bootstrap(), &["setup"]);
    assert!(b.stop(), "graceful stop");
    // Then without super users: the stored ACLs alone decide.
    b.settings = vec![
        AUTHORIZER.to_string(),
        "allow.everyone.if.no.acl.found=false".to_string(),
    ];
    b.spawn();
    let out = run_python("acl_enforce.py", &b.bootstrap(), &["enforced"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("enforced: ok"));
    let metrics = common::http_get(b.admin_port, "/metrics")
        .map(|(_, body)| body)
        .unwrap_or_default();
    assert!(
        metrics.contains(
            "eddy_authorization_denials_total{operation=\"READ\",resource_type=\"TOPIC\"}"
        ),
        "denials are counted:\n{metrics}"
    );
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The error code of a Metadata request naming `topic` (no auto-creation).
fn metadata_error(b: &TestBroker, topic: &str) -> i16 {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName(sb(topic)))),
        ]))
        .with_allow_auto_topic_creation(false);
    Wire::connect(&b.bootstrap()).call(&req, 12).topics[0].error_code
}

/// The principals of the bindings DescribeAcls shows for topic `topic` on `b`.
fn described(b: &TestBroker, topic: &str) -> Vec<String> {
    let req = DescribeAclsRequest::default()
        .with_resource_type_filter(2)
        .with_resource_name_filter(Some(sb(topic)))
        .with_pattern_type_filter(3)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(1)
        .with_permission_type(1);
    let resp = Wire::connect(&b.bootstrap()).call(&req, 3);
    assert_eq!(resp.error_code, 0, "{resp:?}");
    resp.resources
        .iter()
        .flat_map(|r| r.acls.iter().map(|a| a.principal.to_string()))
        .collect()
}

#[test]
fn acls_created_on_one_broker_apply_on_the_others() {
    // allow.everyone.if.no.acl.found: brokers and clients may do whatever no ACL names.
    let brokers = start_brokers(
        3,
        &[AUTHORIZER, "allow.everyone.if.no.acl.found=true"],
        "4000",
    );
    const UNKNOWN_TOPIC: i16 = 3;
    const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
    assert_eq!(metadata_error(&brokers[1], "guarded"), UNKNOWN_TOPIC);
    let create = CreateAclsRequest::default().with_creations(vec![
        AclCreation::default()
            .with_resource_type(2)
            .with_resource_name(sb("guarded"))
            .with_resource_pattern_type(3)
            .with_principal(sb("User:ANONYMOUS"))
            .with_host(sb("*"))
            .with_operation(2)
            .with_permission_type(2),
    ]);
    let resp = Wire::connect(&brokers[0].bootstrap()).call(&create, 3);
    assert_eq!(resp.results[0].error_code, 0, "{resp:?}");
    // Every broker applies the ACL from the metadata log.
    for b in &brokers {
        eventually(
            "the DENY applies on every broker",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                let code = metadata_error(b, "guarded");
                (code == TOPIC_AUTHORIZATION_FAILED)
                    .then_some(())
                    .ok_or(format!("Metadata answered {code}"))
            },
        )
        .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", b.log()));
        assert_eq!(described(b, "guarded"), vec!["User:ANONYMOUS".to_string()]);
    }
    // Deleted through another broker: gone everywhere.
    let delete = DeleteAclsRequest::default().with_filters(vec![
        DeleteAclsFilter::default()
            .with_resource_type_filter(2)
            .with_resource_name_filter(Some(sb("guarded")))
            .with_pattern_type_filter(1)
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_operation(1)
            .with_permission_type(1),
    ]);
    let resp = Wire::connect(&brokers[2].bootstrap()).call(&delete, 3);
    assert_eq!(resp.filter_results[0].error_code, 0, "{resp:?}");
    assert_eq!(resp.filter_results[0].matching_acls.len(), 1, "{resp:?}");
    for b in &brokers {
        eventually(
            "the DENY is gone on every broker",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                let code = metadata_error(b, "guarded");
                (code == UNKNOWN_TOPIC)
                    .then_some(())
                    .ok_or(format!("Metadata answered {code}"))
            },
        )
        .unwrap();
    }
}

#[test]
fn an_unknown_authorizer_or_super_user_is_refused_at_start() {
    for (setting, expected) in [
        (
            "authorizer.class.name=com.example.CustomAuthorizer",
            "supported authorizers",
        ),
        ("super.users=admin", "is not TYPE:NAME"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = common::run_with_timeout(
            std::process::Command::new(common::broker_bin())
                .arg("--data-dir")
                .arg(dir.path().join("data"))
                .arg("--listeners")
                .arg(format!("PLAINTEXT://127.0.0.1:{}", common::free_port()))
                .arg("--admin-addr")
                .arg(format!("127.0.0.1:{}", common::free_port()))
                .arg("--set")
                .arg(setting),
            None,
            Duration::from_secs(30),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{setting}: started");
        assert!(stderr.contains(expected), "{setting}: {stderr}");
    }
}
