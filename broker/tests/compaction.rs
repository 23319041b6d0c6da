#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Log compaction with real clients: kcat and confluent-kafka write repeated keys and
//! tombstones into compacted topics; the cleaner (made eager with a short back-off, small
//! segments and segment.ms) leaves the latest value per key at its offset, drops tombstones
//! after delete.retention.ms, keeps idempotent producers working, survives kill -9 at every
//! step of a segment swap, and bounds `__consumer_offsets` under a long commit stream.

mod common;
use common::{TestBroker, http_get, partition_dir, run_python, run_with_timeout};
use eddy_test_support::eventually;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

const EAGER: &[&str] = &[
    "log.cleaner.backoff.ms=100",
    "log.retention.check.interval.ms=100",
    "num.partitions=1",
];

fn create_compacted(b: &TestBroker, topic: &str, extra: &[&str]) {
    let mut args = vec![
        "create",
        topic,
        "cleanup.policy=compact",
        "segment.bytes=2048",
        "segment.ms=300",
        "min.cleanable.dirty.ratio=0.01",
    ];
    args.extend_from_slice(extra);
    run_python("compaction.py", &b.bootstrap(), &args);
}

/// Produces `key:value` lines with kcat (an empty value is a tombstone).
fn kcat_produce(b: &TestBroker, topic: &str, lines: &str) {
    let out = run_with_timeout(
        Command::new("kcat").args([
            "-b",
            &b.bootstrap(),
            "-P",
            "-t",
            topic,
            "-p",
            "0",
            "-K:",
            "-Z",
        ]),
        Some(lines.as_bytes()),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "kcat produce: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every record of partition 0 read with kcat: (offset, key, value; None = tombstone).
fn kcat_read(b: &TestBroker, topic: &str) -> Vec<(i64, String, Option<String>)> {
    let out = run_with_timeout(
        Command::new("kcat").args([
            "-b",
            &b.bootstrap(),
            "-C",
            "-t",
            topic,
            "-p",
            "0",
            "-o",
            "beginning",
            "-e",
            "-Z",
            "-f",
            "%o|%k|%s\n",
        ]),
        None,
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "kcat consume: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut it = l.splitn(3, '|');
            let o = it.next().unwrap().parse().unwrap();
            let k = it.next().unwrap().to_string();
            let v = it.next().unwrap();
            (o, k, (v != "NULL").then(|| v.to_string()))
        })
        .collect()
}

/// The latest value of every key (None: the last record is a tombstone).
fn latest(records: &[(i64, String, Option<String>)]) -> BTreeMap<String, Option<String>> {
    records
        .iter()
        .map(|(_, k, v)| (k.clone(), v.clone()))
        .collect()
}

fn one_per_key(records: &[(i64, String, Option<String>)]) -> bool {
    latest(records).len() == records.len()
}

/// `rounds` rounds over k0..k9 with values `<tag>-<round>`.
fn rounds(tag: &str, from: usize, to: usize) -> String {
    (from..to)
        .flat_map(|r| (0..10).map(move |k| format!("k{k}:{tag}-{r}\n")))
        .collect()
}

fn watermarks(b: &TestBroker, topic: &str) -> (i64, i64) {
    let out = run_python("compaction.py", &b.bootstrap(), &["watermarks", topic]);
    let s = String::from_utf8(out.stdout).unwrap();
    let w: Vec<i64> = s
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    (w[0], w[1])
}

#[test]
fn compacted_topic_keeps_the_latest_value_per_key_and_drops_tombstones_later() {
    let b = TestBroker::start(EAGER);
    create_compacted(&b, "compacted", &["delete.retention.ms=4000"]);
    kcat_produce(&b, "compacted", &rounds("v", 0, 60));
    kcat_produce(&b, "compacted", "k3:\nk7:\n");
    kcat_produce(
        &b,
        "compacted",
        &rounds("w", 0, 1)
            .replace("k3:w-0\n", "")
            .replace("k7:w-0\n", ""),
    );
    let (_, high) = watermarks(&b, "compacted");
    assert_eq!(high, 60 * 10 + 2 + 8);
    let mut expected: BTreeMap<String, Option<String>> = (0..10)
        .map(|k| (format!("k{k}"), Some("w-0".to_string())))
        .collect();
    expected.insert("k3".into(), None);
    expected.insert("k7".into(), None);

    // 1. Cleaned: one record per key, each the latest (tombstones may still be there).
    let mut seen = Vec::new();
    eventually(
        "one record per key",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            seen = kcat_read(&b, "compacted");
            one_per_key(&seen)
        },
    )
    .unwrap_or_else(|e| panic!("{e}: {seen:?}\n{}", b.log()));
    let mut got = latest(&seen);
    for k in ["k3", "k7"] {
        assert_eq!(
            got.remove(k).unwrap_or(None),
            None,
            "{k} is a tombstone or gone"
        );
    }
    let mut live = expected.clone();
    live.remove("k3");
    live.remove("k7");
    assert_eq!(got, live, "every key's latest value");
    let offsets: Vec<i64> = seen.iter().map(|(o, ..)| *o).collect();
    assert!(
        offsets.iter().all(|o| *o >= 600),
        "older records are gone, offsets kept: {offsets:?}"
    );
    assert_eq!(
        watermarks(&b, "compacted"),
        (0, high),
        "the log's offsets do not move"
    );

    // 2. After delete.retention.ms the tombstones go, and no older value comes back.
    eventually(
        "tombstones removed",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            seen = kcat_read(&b, "compacted");
            !seen.iter().any(|(_, k, _)| k == "k3" || k == "k7")
        },
    )
    .unwrap_or_else(|e| panic!("{e}: {seen:?}"));
    assert_eq!(latest(&seen), live);
    assert_eq!(seen.len(), 8);

    let metrics = http_get(b.admin_port, "/metrics").unwrap().1;
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from:\n{metrics}"))
    };
    assert!(value("eddy_log_cleaner_bytes_read_total") > 0.0);
    assert!(value("eddy_log_cleaner_bytes_written_total") > 0.0);
    assert!(value("eddy_log_cleaner_records_removed_total") >= 600.0);
    assert!(
        value("eddy_log_cleaner_last_clean_time_seconds{partition=\"0\",topic=\"compacted\"}")
            > 0.0
    );
    assert!(metrics.contains("eddy_log_cleaner_dirty_ratio{partition=\"0\",topic=\"compacted\"}"));
}

#[test]
fn an_idempotent_producer_keeps_producing_after_its_batches_were_cleaned() {
    let b = TestBroker::start(EAGER);
    create_compacted(&b, "idem", &[]);
    let dir = partition_dir(&b, "idem", 0).unwrap();
    let out = run_python(
        "compaction.py",
        &b.bootstrap(),
        &["idem", "idem", "30", "p", dir.to_str().unwrap(), "10"],
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("done 0 []"),
        "no delivery error after cleaning: {s}"
    );
    let expected: BTreeMap<String, Option<String>> = (0..10)
        .map(|k| (format!("k{k}"), Some("p-39".to_string())))
        .collect();
    assert_eq!(latest(&kcat_read(&b, "idem")), expected);
    assert_eq!(
        watermarks(&b, "idem").1,
        400,
        "every record was appended once"
    );
}

#[test]
fn kill_9_at_every_step_of_a_segment_swap_loses_nothing() {
    for step in ["cleaned", "swap", "deleted"] {
        let mut b = TestBroker::new(EAGER, Vec::new());
        b.env
            .push(("EDDY_CLEANER_TEST_PAUSE_AT".into(), step.into()));
        b.spawn();
        create_compacted(&b, "swapped", &[]);
        kcat_produce(&b, "swapped", &rounds("v", 0, 40));
        let dir = partition_dir(&b, "swapped", 0).unwrap();
        let marker = dir.join(format!("cleaner-paused-{step}"));
        eventually(
            "the cleaner reaches the step",
            Duration::from_secs(60),
            Duration::from_millis(50),
            || marker.exists(),
        )
        .unwrap_or_else(|e| panic!("{e} ({step})\n{}", b.log()));
        b.kill9();
        b.env.clear();
        std::fs::remove_file(&marker).unwrap();
        b.spawn();
        let expected: BTreeMap<String, Option<String>> = (0..10)
            .map(|k| (format!("k{k}"), Some("v-39".to_string())))
            .collect();
        assert_eq!(
            latest(&kcat_read(&b, "swapped")),
            expected,
            "after a kill -9 at {step}"
        );
        let leftovers: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".swap") || n.ends_with(".cleaned"))
            .collect();
        assert!(leftovers.is_empty(), "{step}: {leftovers:?}");
        // The cleaner carries on after the recovery.
        let mut seen = Vec::new();
        eventually(
            "cleaned after the restart",
            Duration::from_secs(60),
            Duration::from_millis(200),
            || {
                seen = kcat_read(&b, "swapped");
                one_per_key(&seen)
            },
        )
        .unwrap_or_else(|e| panic!("{e} ({step}): {seen:?}"));
        assert_eq!(latest(&seen), expected);
    }
}

/// The broker log without terminal colour codes.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\u{1b}') => in_escape = true,
            (false, c) => out.push(c),
            (true, 'm') => in_escape = false,
            (true, _) => {}
        }
    }
    out
}

/// Bytes of the `.log` files of a partition directory.
fn log_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn consumer_offsets_stay_bounded_under_a_long_commit_stream() {
    let mut settings = EAGER.to_vec();
    settings.extend([
        "offsets.topic.segment.bytes=16384",
        "offsets.topic.num.partitions=1",
    ]);
    let mut b = TestBroker::start(&settings);
    kcat_produce(&b, "src", "a:1\n");
    let commits = 20_000;
    run_python(
        "compaction.py",
        &b.bootstrap(),
        &["commits", "g", "src", &commits.to_string()],
    );
    let dir = partition_dir(&b, "__consumer_offsets", 0).unwrap();
    // Uncleaned, 20,000 commits take about 4 MB; cleaned, a few segments of 16 KiB.
    let mut size = 0;
    eventually(
        "__consumer_offsets cleaned",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            size = log_bytes(&dir);
            size < 100_000
        },
    )
    .unwrap_or_else(|e| panic!("{e}: {size} bytes\n{}", b.log()));
    assert!(b.stop(), "graceful stop");
    b.spawn();
    let out = run_python("compaction.py", &b.bootstrap(), &["committed", "g", "src"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("committed {commits}")),
        "the last commit survives: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The coordinator replayed the live state, not the history.
    let log = strip_ansi(&b.log());
    let replayed: u64 = log
        .lines()
        .rfind(|l| l.contains("consumer groups recovered"))
        .and_then(|l| l.split("records=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| {
            let lines: Vec<&str> = log.lines().filter(|l| l.contains("recovered")).collect();
            panic!("no replay count in {lines:?}")
        });
    assert!(
        replayed < 2_000,
        "replayed {replayed} records of {commits} commits"
    );
}
