//! ACLs end to end with real clients: the authorizer on, ACLs created, described and deleted
//! through confluent-kafka's AdminClient, kept across a restart, enforced on consumers,
//! producers and Metadata, and shared by the brokers of a cluster.
#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test

mod common;

use common::{TestBroker, run_python};

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
            "eddy_authorization_denials_total{operation=\"Read\",resource_type=\"TOPIC\"}"
        ),
        "denials are counted:\n{metrics}"
    );
}
