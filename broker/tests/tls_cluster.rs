#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Three brokers replicating over TLS: clients on PLAINTEXT, `inter.broker.listener.name=SSL`
//! with client certificates required, so followers fetch only through mutually authenticated
//! TLS, and the Raft transport over mutual TLS too (`controller.ssl.enabled`); kill -9 of the
//! leader under an acks=all producer loses nothing acknowledged.

#[path = "common/certs.rs"]
mod certs;
mod cluster_support;
mod common;
mod wire;

use certs::{Spec, TestCa};
use cluster_support::wait_for;
use common::{CrashProducer, TestBroker, free_port, run_with_timeout, spawn_all};
use eddy_test_support::eventually;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::process::Command;
use std::time::Duration;
use wire::{Wire, topic_configs};

fn leader_of(m: &MetadataResponse, topic: &str) -> i32 {
    partition(m, topic).map_or(-1, |p| p.leader_id.0)
}

fn isr_of(m: &MetadataResponse, topic: &str) -> Vec<i32> {
    let mut isr: Vec<i32> = partition(m, topic)
        .map(|p| p.isr_nodes.iter().map(|b| b.0).collect())
        .unwrap_or_default();
    isr.sort_unstable();
    isr
}

fn partition<'a>(
    m: &'a MetadataResponse,
    topic: &str,
) -> Option<&'a metadata_response::MetadataResponsePartition> {
    m.topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))
        .and_then(|t| t.partitions.first())
}

/// Three voters, each with a PLAINTEXT listener for clients and an SSL one between brokers.
fn start_tls_cluster(dir: &std::path::Path) -> Vec<TestBroker> {
    let ca = TestCa::new("Eddy cluster CA");
    let trust = ca.write(dir);
    let voters = (0..3)
        .map(|i| format!("{i}@127.0.0.1:{}", free_port()))
        .collect::<Vec<_>>()
        .join(",");
    let mut brokers: Vec<TestBroker> = (0..3)
        .map(|i| {
            let keystore = ca
                .issue(&Spec::server(100 + i as u64))
                .write(dir, &format!("broker-{i}"));
            let settings = [
                "inter.broker.listener.name=SSL".to_string(),
                format!("ssl.keystore.location={}", keystore.display()),
                format!("ssl.truststore.location={}", trust.display()),
                "ssl.client.auth=required".to_string(),
                "controller.ssl.enabled=true".to_string(),
            ];
            let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
            let mut b = TestBroker::new(
                &settings,
                vec![
                    "--node-id".into(),
                    i.to_string(),
                    "--controller-quorum-voters".into(),
                    voters.clone(),
                    "--broker-session-timeout-ms".into(),
                    "4000".into(),
                ],
            );
            b.extra_listeners
                .push(format!("SSL://127.0.0.1:{}", free_port()));
            b
        })
        .collect();
    spawn_all(&mut brokers);
    for b in &brokers {
        wait_for(b, "every broker live and a controller", |m| {
            m.brokers.len() == 3 && m.controller_id.0 >= 0
        });
    }
    brokers
}

#[test]
fn replication_over_mutual_tls_survives_kill_9_of_the_leader() {
    let dir = tempfile::tempdir().unwrap();
    let mut brokers = start_tls_cluster(dir.path());
    // Clients on PLAINTEXT see the PLAINTEXT endpoints of every broker.
    let m = wait_for(&brokers[0], "metadata", |_| true);
    for b in &m.brokers {
        let own = &brokers[b.node_id.0 as usize];
        assert_eq!(
            b.port,
            i32::from(own.port),
            "the PLAINTEXT endpoint of {}",
            b.node_id.0
        );
    }

    let mut w = Wire::connect(&brokers[0].bootstrap());
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("tls-fo")))
                .with_num_partitions(1)
                .with_replication_factor(3)
                .with_configs(topic_configs(&[("min.insync.replicas", "2")])),
        ]);
    assert_eq!(w.call(&req, 7).topics[0].error_code, 0);
    let m = wait_for(&brokers[0], "tls-fo fully in sync", |m| {
        isr_of(m, "tls-fo") == vec![0, 1, 2]
    });
    let leader = leader_of(&m, "tls-fo") as usize;
    eventually(
        "followers fetching over TLS with their certificates",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || brokers[leader].log().contains("User:CN=localhost"),
    )
    .unwrap_or_else(|e| panic!("{e}; leader log:\n{}", brokers[leader].log()));
    for b in &brokers {
        assert!(
            b.log().contains("controller tls connection established"),
            "the quorum talks over TLS; log:\n{}",
            b.log()
        );
    }
    let other = (leader + 1) % 3;
    let bootstrap = brokers
        .iter()
        .map(TestBroker::bootstrap)
        .collect::<Vec<_>>()
        .join(",");
    let total = 50_000;
    let mut producer = CrashProducer::start(&bootstrap, "tls-fo", total);
    producer.wait_acked(3_000);
    brokers[leader].kill9();
    let acked_at_kill = producer.acked_count();
    wait_for(&brokers[other], "a new leader for tls-fo", |m| {
        let l = leader_of(m, "tls-fo");
        l >= 0 && l != leader as i32
    });
    let (status, err) = producer.finish(Duration::from_secs(120), "after the failover");
    assert!(status.success(), "producer failed: {err}");
    assert!(acked_at_kill < total, "the kill landed mid-stream");
    let acked = producer.acked();
    assert_eq!(
        acked.len(),
        total,
        "every record was eventually acknowledged"
    );

    let out = run_with_timeout(
        Command::new("kcat").args([
            "-b",
            &brokers[other].bootstrap(),
            "-C",
            "-t",
            "tls-fo",
            "-e",
            "-q",
        ]),
        None,
        Duration::from_secs(120),
    );
    let consumed: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(
        consumed == (0..total as u64).collect::<Vec<_>>(),
        "lost, duplicated or reordered: {} records consumed",
        consumed.len()
    );
}
