#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Crash safety: kill -9 the broker during an acks=all idempotent produce stream; after the
//! restart every acknowledged record is present, in order, exactly once.

mod common;
use common::{CrashProducer, TestBroker, run_with_timeout};
use std::process::Command;
use std::time::Duration;

#[test]
fn kill_9_mid_stream_loses_and_duplicates_nothing_acknowledged() {
    let mut b = TestBroker::start(&["num.partitions=1"]);
    let total = 20_000;
    let mut producer = CrashProducer::start(&b.bootstrap(), "crash", total);
    // Kill once a few thousand records are acknowledged and the stream is still going.
    producer.wait_acked(3_000);
    b.kill9();
    let acked_at_kill = producer.acked_count();
    // Part of the scenario, not synchronisation: the producer retries against a dead broker for a
    // moment before the restart.
    std::thread::sleep(Duration::from_millis(300));
    b.spawn();
    let (out, err) = producer.finish(Duration::from_secs(120), "after the restart");
    assert!(
        out.success(),
        "producer failed: {err}\nbroker log:\n{}",
        b.log()
    );
    assert!(acked_at_kill < total, "the kill landed mid-stream");

    assert_eq!(
        producer.acked().len(),
        total,
        "every record was eventually acknowledged"
    );
    let consumed = run_with_timeout(
        Command::new("kcat").args([
            "-b",
            &b.bootstrap(),
            "-C",
            "-t",
            "crash",
            "-e",
            "-f",
            "%s\n",
        ]),
        None,
        Duration::from_secs(60),
    );
    assert!(consumed.status.success());
    let values: Vec<u64> = String::from_utf8(consumed.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let mut sorted = values.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), values.len(), "no record is stored twice");
    assert_eq!(
        values,
        (0..total as u64).collect::<Vec<_>>(),
        "every acknowledged record, in order, exactly once"
    );
}
