#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Compaction in cluster mode: replicas clean independently, and a follower that fetches its
//! whole log from a cleaned leader (offset holes and all) converges to the same records.

mod cluster_support;
mod common;
mod wire;

use cluster_support::{start_brokers, wait_for};
use common::{TestBroker, partition_dir, run_with_timeout};
use eddy_test_support::eventually;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use wire::{Wire, topic_configs};

/// (offset, key, value) of every record in a partition directory's segment files.
fn records_on_disk(dir: &Path) -> Vec<(i64, String, Option<String>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for f in files {
        all.extend(std::fs::read(f).unwrap());
    }
    let mut buf = bytes::Bytes::from(all);
    RecordBatchDecoder::decode_all(&mut buf)
        .unwrap()
        .into_iter()
        .flat_map(|set| set.records)
        .map(|r| {
            let s = |b: bytes::Bytes| String::from_utf8_lossy(&b).into_owned();
            (r.offset, s(r.key.unwrap()), r.value.map(s))
        })
        .collect()
}

fn cleaned(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("cleaner-checkpoint"))
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("dirty ")
                    .map(|v| v.trim().parse::<i64>().ok())
            })
        })
        .flatten()
        .is_some_and(|d| d > 0)
}

#[test]
fn a_follower_fetching_from_a_cleaned_leader_converges() {
    let mut brokers = start_brokers(
        3,
        &[
            "log.cleaner.backoff.ms=100",
            "log.retention.check.interval.ms=100",
        ],
        "4000",
    );
    let mut w = Wire::connect(&brokers[0].bootstrap());
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("cc")))
                .with_num_partitions(1)
                .with_replication_factor(3)
                .with_configs(topic_configs(&[
                    ("cleanup.policy", "compact"),
                    ("segment.bytes", "2048"),
                    ("segment.ms", "300"),
                    ("min.cleanable.dirty.ratio", "0.01"),
                ])),
        ]);
    assert_eq!(w.call(&req, 7).topics[0].error_code, 0);
    let m = wait_for(&brokers[0], "cc has a leader and a full ISR", |m| {
        m.topics.iter().any(|t| {
            t.name.as_ref().is_some_and(|n| n.as_str() == "cc")
                && t.partitions
                    .first()
                    .is_some_and(|p| p.leader_id.0 >= 0 && p.isr_nodes.len() == 3)
        })
    });
    let leader = m.topics[0].partitions[0].leader_id.0 as usize;
    let follower = (leader + 1) % 3;
    // The follower is down while the leader takes the writes and cleans them; then it starts
    // over from an empty directory and fetches everything from the cleaned leader.
    // A new partition's ISR lists every replica at once (as in Kafka): wait until the follower
    // has created its replica's directory before taking it away.
    let fdir = eventually(
        "the follower's replica directory",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || partition_dir(&brokers[follower], "cc", 0).ok_or("not yet"),
    )
    .unwrap();
    brokers[follower].kill9();
    std::fs::remove_dir_all(&fdir).unwrap();
    let input: String = (0..40)
        .flat_map(|r| (0..10).map(move |k| format!("k{k}:v-{r}\n")))
        .collect();
    let live = format!(
        "{},{}",
        brokers[leader].bootstrap(),
        brokers[(leader + 2) % 3].bootstrap()
    );
    let out = run_with_timeout(
        Command::new("kcat").args(["-b", &live, "-P", "-t", "cc", "-K:"]),
        Some(input.as_bytes()),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ldir = partition_dir(&brokers[leader], "cc", 0).unwrap();
    eventually(
        "the leader cleaned",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || cleaned(&ldir),
    )
    .unwrap();
    let leader_records = records_on_disk(&ldir);
    assert!(leader_records.len() < 400, "the leader's log has holes");

    brokers[follower].spawn();
    wait_for(&brokers[leader], "the follower back in the ISR", |m| {
        m.topics.iter().any(|t| {
            t.name.as_ref().is_some_and(|n| n.as_str() == "cc")
                && t.partitions.first().is_some_and(|p| p.isr_nodes.len() == 3)
        })
    });
    let expected: BTreeMap<String, Option<String>> = (0..10)
        .map(|k| (format!("k{k}"), Some("v-39".to_string())))
        .collect();
    let fdir = partition_dir(&brokers[follower], "cc", 0).unwrap();
    let mut got = Vec::new();
    eventually(
        "the follower holds the latest values",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            got = records_on_disk(&fdir);
            got.last().is_some_and(|(o, ..)| *o == 399)
        },
    )
    .unwrap_or_else(|e| panic!("{e}: {got:?}"));
    let latest: BTreeMap<String, Option<String>> =
        got.iter().map(|(_, k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(latest, expected);
    assert!(got.windows(2).all(|p| p[0].0 < p[1].0), "offsets ascend");
    assert!(
        got.len() < 400,
        "the follower copied the cleaned log, holes included"
    );
    // The follower's own cleaner runs on its copy too.
    eventually(
        "the follower cleaned its copy",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || cleaned(&fdir),
    )
    .unwrap();
    drop::<Vec<TestBroker>>(brokers);
}
