//! The Prometheus metrics the console's plots read, scraped from a real broker's admin port:
#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! per-topic bytes and messages in/out (gone once the topic is deleted), partition health,
//! disk space per log directory, the active controller and consumer lag per group and partition.

mod common;
mod wire;

use common::{TestBroker, http_get};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use wire::{Wire, batch, produce_request};

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn create_topic(w: &mut Wire, name: &str) {
    let req = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(TopicName(sb(name)))
            .with_num_partitions(1)
            .with_replication_factor(1),
    ]);
    let resp = w.call(&req, 7);
    assert_eq!(resp.topics[0].error_code, 0, "{:?}", resp.topics[0]);
}

/// Produces `n` records of 100 bytes to partition 0 of `topic`: the batch's size in bytes.
fn produce(w: &mut Wire, topic: &str, n: usize) -> usize {
    let value = [b'x'; 100];
    let values: Vec<&[u8]> = (0..n).map(|_| &value[..]).collect();
    let ts: Vec<i64> = (0..n as i64).map(|i| 1_700_000_000_000 + i).collect();
    let records = batch(-1, -1, 0, &values, &ts, Compression::None);
    let len = records.len();
    let resp = w.call(&produce_request(topic, 0, -1, records), 9);
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
    len
}

/// Fetches partition 0 of `topic` from offset 0 (v12, by name): the record bytes returned.
fn fetch(w: &mut Wire, topic: &str) -> usize {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(sb(topic)))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let resp = w.call(&req, 12);
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.records.as_ref().map_or(0, bytes::Bytes::len)
}

fn commit(w: &mut Wire, group: &str, topic: &str, offset: i64) {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(TopicName(sb(topic)))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset),
                ]),
        ]);
    let r = w.call(&req, 8);
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
}

fn scrape(b: &TestBroker) -> String {
    let (code, body) = http_get(b.admin_port, "/metrics").expect("scraping /metrics");
    assert_eq!(code, 200);
    body
}

/// The value of the sample whose name and labels are exactly `series` (e.g.
/// `eddy_topic_bytes_in_total{topic="a"}`), if present.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[test]
fn per_topic_counters_partition_health_disk_controller_and_lag_are_exported() {
    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    create_topic(&mut w, "alpha");
    create_topic(&mut w, "beta");
    let alpha_in = produce(&mut w, "alpha", 3) + produce(&mut w, "alpha", 2);
    let beta_in = produce(&mut w, "beta", 7);
    let alpha_out = fetch(&mut w, "alpha");
    assert_eq!(alpha_out, alpha_in, "one fetch returns both batches");
    commit(&mut w, "g1", "beta", 4);

    let m = scrape(&b);
    let get = |s: &str| sample(&m, s).unwrap_or_else(|| panic!("no {s} in:\n{m}"));
    assert_eq!(
        get(r#"eddy_topic_bytes_in_total{topic="alpha"}"#),
        alpha_in as f64
    );
    assert_eq!(
        get(r#"eddy_topic_bytes_in_total{topic="beta"}"#),
        beta_in as f64
    );
    assert_eq!(get(r#"eddy_topic_messages_in_total{topic="alpha"}"#), 5.0);
    assert_eq!(get(r#"eddy_topic_messages_in_total{topic="beta"}"#), 7.0);
    assert_eq!(
        get(r#"eddy_topic_bytes_out_total{topic="alpha"}"#),
        alpha_out as f64
    );
    assert_eq!(
        sample(&m, r#"eddy_topic_bytes_out_total{topic="beta"}"#),
        None
    );
    // The totals still count what the per-topic counters count (the offsets topic gets none).
    assert_eq!(get("eddy_bytes_in_total"), (alpha_in + beta_in) as f64);
    assert_eq!(get("eddy_messages_in_total"), 12.0);
    assert_eq!(get("eddy_bytes_out_total"), alpha_out as f64);

    assert_eq!(get("eddy_under_replicated_partitions"), 0.0);
    assert_eq!(get("eddy_under_min_isr_partitions"), 0.0);
    assert_eq!(get("eddy_offline_partitions"), 0.0);
    assert_eq!(get("eddy_active_controller"), 1.0);

    let dir = b.data_dir().display().to_string();
    let used = get(&format!(r#"eddy_log_dir_used_bytes{{dir="{dir}"}}"#));
    assert!(used >= (alpha_in + beta_in) as f64, "used {used}");
    assert!(get(&format!(r#"eddy_log_dir_free_bytes{{dir="{dir}"}}"#)) > 0.0);
    let total = get(&format!(r#"eddy_log_dir_total_bytes{{dir="{dir}"}}"#));
    assert!(total >= get(&format!(r#"eddy_log_dir_free_bytes{{dir="{dir}"}}"#)));

    // 7 records in beta, committed at 4: lag 3 for the group's one partition.
    assert_eq!(
        get(r#"eddy_consumer_lag{group="g1",partition="0",topic="beta"}"#),
        3.0
    );

    // Deleting a topic drops its label sets (and the group's lag on it).
    let del = w.call(
        &DeleteTopicsRequest::default()
            .with_topic_names(vec![TopicName(sb("alpha"))])
            .with_timeout_ms(10_000),
        4,
    );
    assert_eq!(del.responses[0].error_code, 0);
    let m = scrape(&b);
    assert!(!m.contains(r#"topic="alpha""#), "alpha lingers:\n{m}");
    assert_eq!(
        sample(&m, r#"eddy_topic_bytes_in_total{topic="beta"}"#),
        Some(beta_in as f64)
    );
}

/// The `eddy_*` metric names (not the operator's) an expression text refers to.
fn broker_metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("eddy_") {
        let start = i + at;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = start
            + text[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(text.len() - start);
        let name = &text[start..end];
        if boundary && !name.starts_with("eddy_operator_") && name != "eddy_io_cluster" {
            names.insert(name.to_string());
        }
        i = end;
    }
    names
}

/// The Helm chart's Grafana dashboard and Prometheus alert rules (charts/eddy) query the broker
/// by metric name: each name they use must be one a broker with traffic exports, or a panel
/// stays empty and an alert never fires.
#[test]
fn the_charts_dashboard_and_alert_rules_use_only_exported_metrics() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dashboard =
        std::fs::read_to_string(root.join("charts/eddy/dashboards/eddy-brokers.json")).unwrap();
    let rules =
        std::fs::read_to_string(root.join("charts/eddy/templates/monitoring.yaml")).unwrap();
    let used: std::collections::BTreeSet<String> = broker_metric_names(&dashboard)
        .into_iter()
        .chain(broker_metric_names(&rules))
        .collect();
    for expected in [
        "eddy_topic_bytes_in_total",
        "eddy_offline_partitions",
        "eddy_consumer_lag",
        "eddy_request_duration_seconds_bucket",
        "eddy_log_dir_free_bytes",
    ] {
        assert!(
            used.contains(expected),
            "the extractor missed {expected}: {used:?}"
        );
    }

    let b = TestBroker::start(&[]);
    let mut w = Wire::connect(&b.bootstrap());
    create_topic(&mut w, "plotted");
    produce(&mut w, "plotted", 5);
    fetch(&mut w, "plotted");
    commit(&mut w, "plotters", "plotted", 2);
    let m = scrape(&b);
    let exported: std::collections::BTreeSet<&str> = m
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    // Labelled counters of rare events have no series until one happens: those are checked
    // against the registered names instead.
    let registered = std::fs::read_to_string(root.join("broker/src/metrics.rs")).unwrap();
    let rare = [
        "eddy_request_errors_total",
        "eddy_replication_throttled_bytes_total",
    ];
    let missing: Vec<&String> = used
        .iter()
        .filter(|n| !exported.contains(n.as_str()))
        // A histogram's own name (in prose) stands for its _bucket/_sum/_count series.
        .filter(|n| !exported.contains(format!("{n}_bucket").as_str()))
        .filter(|n| {
            !(rare.contains(&n.as_str())
                && registered.contains(&format!("\"{}\"", &n["eddy_".len()..])))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the chart queries metrics the broker does not export: {missing:?}\n{m}"
    );
}
