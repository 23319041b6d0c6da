#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Replica fetchers (issue 19) with three broker processes on loopback: a follower runs one
//! fetcher per leader it follows, which fetches all of that leader's partitions with one Fetch.
//! Checked through each broker's `eddy_replica_fetcher_partitions{leader}` gauge against the
//! metadata, and through the replicas' logs, which must equal the leader's byte for byte: with
//! many partitions in one fetcher, with a topic added and one deleted while the fetchers run,
//! and after a leader change moved partitions from one leader's fetcher to another's. Leaders
//! send the followers' records from the segment files (sendfile), and a topic created while
//! the fetchers long-poll joins them at once.

mod cluster_support;
mod common;
mod wire;

use cluster_support::{
    create_topic, kcat_produce_keyed, kcat_produce_lines, metadata, start_brokers, wait_for,
};
use common::TestBroker;
use eddy_test_support::eventually;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::time::Duration;
use wire::Wire;

/// (topic, partition) -> (leader, replicas) of every partition in `m`.
fn placement(m: &MetadataResponse) -> BTreeMap<(String, i32), (i32, Vec<i32>)> {
    m.topics
        .iter()
        .flat_map(|t| {
            let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
            t.partitions.iter().map(move |p| {
                (
                    (name.clone(), p.partition_index),
                    (p.leader_id.0, p.replica_nodes.iter().map(|r| r.0).collect()),
                )
            })
        })
        .collect()
}

/// Partitions broker `me` follows, by leader, as the metadata places them.
fn followed_by_leader(m: &MetadataResponse, me: i32) -> BTreeMap<i32, i64> {
    let mut out = BTreeMap::new();
    for (leader, replicas) in placement(m).values() {
        if *leader >= 0 && *leader != me && replicas.contains(&me) {
            *out.entry(*leader).or_default() += 1;
        }
    }
    out
}

/// `b`'s replica fetcher gauges: (fetchers, partitions by leader), zero entries left out.
fn fetcher_gauges(b: &TestBroker) -> Option<(i64, BTreeMap<i32, i64>)> {
    let (code, body) = common::http_get(b.admin_port, "/metrics")?;
    if code != 200 {
        return None;
    }
    let mut fetchers = None;
    let mut by_leader = BTreeMap::new();
    for line in body.lines() {
        if let Some(v) = line.strip_prefix("eddy_replica_fetchers ") {
            fetchers = v.trim().parse::<f64>().ok().map(|v| v as i64);
        } else if let Some(rest) = line.strip_prefix("eddy_replica_fetcher_partitions{leader=\"") {
            let (leader, value) = rest.split_once("\"} ")?;
            let n = value.trim().parse::<f64>().ok()? as i64;
            if n > 0 {
                by_leader.insert(leader.parse().ok()?, n);
            }
        }
    }
    Some((fetchers?, by_leader))
}

/// Waits (bounded: 60 s) until every broker runs one fetcher per leader it follows, holding
/// exactly the partitions the metadata has it follow there.
fn wait_fetchers_match_metadata(brokers: &[TestBroker], what: &str) {
    eventually(
        what,
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let m = metadata(&brokers[0]).ok_or("no metadata")?;
            for (i, b) in brokers.iter().enumerate() {
                let want = followed_by_leader(&m, i as i32);
                let got = fetcher_gauges(b).ok_or("no metrics")?;
                if got != (want.len() as i64, want.clone()) {
                    return Err(format!("broker {i}: fetchers {got:?}, metadata {want:?}"));
                }
            }
            Ok(())
        },
    )
    .unwrap();
}

/// Waits (bounded: 90 s) until every replica of every partition of `topic` has the leader's
/// log byte for byte, and that log is not empty.
fn wait_logs_equal(brokers: &[TestBroker], topic: &str) {
    let what = format!("every replica of {topic} equal to its leader");
    eventually(
        &what,
        Duration::from_secs(90),
        Duration::from_millis(250),
        || {
            let m = metadata(&brokers[0]).ok_or("no metadata")?;
            let mut total = 0;
            for ((t, p), (leader, replicas)) in placement(&m) {
                if t != topic {
                    continue;
                }
                let leader_log = common::replica_log_in(brokers[leader as usize].data_dir(), &t, p);
                total += leader_log.len();
                for r in replicas.iter().filter(|r| **r != leader) {
                    let log = common::replica_log_in(brokers[*r as usize].data_dir(), &t, p);
                    if log != leader_log {
                        return Err(format!(
                            "{t}-{p}: broker {r} has {} bytes, leader {leader} {}",
                            log.len(),
                            leader_log.len()
                        ));
                    }
                }
            }
            if total == 0 {
                return Err(format!("{topic} is empty"));
            }
            Ok(())
        },
    )
    .unwrap();
}

fn delete_topic(b: &TestBroker, name: &str) -> i16 {
    let mut w = Wire::connect(&b.bootstrap());
    let r = w.call(
        &DeleteTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topic_names(vec![TopicName(StrBytes::from_string(name.to_string()))]),
        5,
    );
    r.responses[0].error_code
}

#[test]
fn one_fetcher_per_leader_replicates_many_partitions_through_topic_and_leader_changes() {
    let brokers = start_brokers(3, &[], "4000");
    // 12 partitions over 3 brokers: each broker follows 8 of them, 4 from each other leader.
    assert_eq!(
        create_topic(&brokers[0], "many", 12, 3, &[("min.insync.replicas", "2")]),
        0
    );
    wait_for(&brokers[0], "many fully in sync", |m| {
        placement(m)
            .iter()
            .filter(|((t, _), _)| t == "many")
            .count()
            == 12
            && m.topics.iter().all(|t| {
                t.partitions
                    .iter()
                    .all(|p| p.leader_id.0 >= 0 && p.isr_nodes.len() == 3)
            })
    });
    wait_fetchers_match_metadata(&brokers, "one fetcher per leader for many");
    // Each broker follows the 12 partitions it does not lead with at most 2 fetchers: some
    // fetcher serves several partitions.
    let busiest = brokers
        .iter()
        .filter_map(|b| fetcher_gauges(b).map(|(_, g)| g.values().copied().max().unwrap_or(0)))
        .max()
        .unwrap_or(0);
    assert!(busiest >= 2, "no fetcher follows several partitions");
    kcat_produce_keyed(&brokers[0], "many", 3000);
    wait_logs_equal(&brokers, "many");

    // A topic created while the fetchers run joins them; its data replicates too.
    assert_eq!(create_topic(&brokers[1], "late", 4, 3, &[]), 0);
    wait_fetchers_match_metadata(&brokers, "late joined the fetchers");
    let m = metadata(&brokers[0]).unwrap();
    let late = placement(&m).keys().filter(|(t, _)| t == "late").count();
    assert_eq!(late, 4);
    kcat_produce_keyed(&brokers[1], "late", 1000);
    kcat_produce_keyed(&brokers[2], "many", 1000);
    wait_logs_equal(&brokers, "late");
    wait_logs_equal(&brokers, "many");

    // Deleted while the fetchers run: it leaves them; "many" keeps replicating.
    assert_eq!(delete_topic(&brokers[0], "late"), 0);
    wait_for(&brokers[0], "late deleted", |m| {
        !placement(m).keys().any(|(t, _)| t == "late")
    });
    wait_fetchers_match_metadata(&brokers, "late left the fetchers");
    kcat_produce_keyed(&brokers[0], "many", 1000);
    wait_logs_equal(&brokers, "many");

    // A leader change: broker 2 drains its leaderships (maintenance), so the partitions its
    // fetchers on 0 and 1 followed move to the fetchers of the new leaders.
    let (code, body) =
        common::http_call(brokers[2].admin_port, "PUT", "/v1/broker/maintenance").unwrap();
    assert_eq!(code, 200, "{body}");
    wait_for(&brokers[0], "no leadership on broker 2", |m| {
        placement(m)
            .values()
            .all(|(leader, _)| *leader != 2 && *leader >= 0)
    });
    wait_fetchers_match_metadata(&brokers, "partitions moved off broker 2's fetchers");
    for b in &brokers {
        let (fetchers, by_leader) = fetcher_gauges(b).unwrap();
        assert!(
            !by_leader.contains_key(&2) && fetchers == by_leader.len() as i64,
            "no fetcher of broker 2 is left: {fetchers} fetchers, {by_leader:?}"
        );
    }
    kcat_produce_keyed(&brokers[1], "many", 2000);
    wait_logs_equal(&brokers, "many");
    let (code, _) =
        common::http_call(brokers[2].admin_port, "DELETE", "/v1/broker/maintenance").unwrap();
    assert_eq!(code, 200);
}

fn sum(brokers: &[TestBroker], name: &str) -> f64 {
    brokers
        .iter()
        .map(|b| common::metric_value(b.admin_port, name))
        .sum()
}

/// Batches of 20 KB records go to the followers from the leaders' segment files (sendfile):
/// the replicas still equal the leader byte for byte. Then a topic created while every
/// fetcher long-polls (5 s here) cuts those polls short, and its records replicate.
#[test]
fn followers_get_large_batches_by_sendfile_and_new_topics_cut_long_polls_short() {
    let brokers = start_brokers(
        3,
        &[
            "replica.fetch.wait.max.ms=5000",
            "replica.lag.time.max.ms=60000",
        ],
        "4000",
    );
    assert_eq!(create_topic(&brokers[0], "big", 3, 3, &[]), 0);
    let in_sync = |topic: &'static str, n: usize| {
        move |m: &MetadataResponse| {
            let parts: Vec<_> = m
                .topics
                .iter()
                .filter(|t| t.name.as_ref().is_some_and(|x| x.as_str() == topic))
                .flat_map(|t| &t.partitions)
                .collect();
            parts.len() == n
                && parts
                    .iter()
                    .all(|p| p.leader_id.0 >= 0 && p.isr_nodes.len() == 3)
        }
    };
    wait_for(&brokers[0], "big in sync", in_sync("big", 3));
    wait_fetchers_match_metadata(&brokers, "fetchers for big");
    let value = "x".repeat(20_000);
    let input: String = (0..300).map(|i| format!("k{i}:{i}-{value}\n")).collect();
    kcat_produce_lines(&brokers[0], "big", &input);
    wait_logs_equal(&brokers, "big");
    let sent = sum(&brokers, "eddy_fetch_sendfile_bytes_total");
    assert!(
        sent >= 2.0 * 300.0 * 20_000.0,
        "both followers of each partition got its records by sendfile: {sent} bytes"
    );

    let cut_before = sum(&brokers, "eddy_replica_fetches_cut_short_total");
    assert_eq!(create_topic(&brokers[1], "joined", 6, 3, &[]), 0);
    wait_for(&brokers[0], "joined in sync", in_sync("joined", 6));
    wait_fetchers_match_metadata(&brokers, "joined in the fetchers");
    let cut = sum(&brokers, "eddy_replica_fetches_cut_short_total") - cut_before;
    assert!(
        cut >= 1.0,
        "a fetch long-polling without the new partitions was cut short"
    );
    kcat_produce_keyed(&brokers[2], "joined", 500);
    wait_logs_equal(&brokers, "joined");
}
