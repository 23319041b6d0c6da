#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Crash safety: kill -9 the broker during an acks=all idempotent produce stream; after the
//! restart every acknowledged record is present, in order, exactly once.

mod common;
use common::{TestBroker, python, run_with_timeout};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn acked_count(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn kill_9_mid_stream_loses_and_duplicates_nothing_acknowledged() {
    let mut b = TestBroker::start(&["num.partitions=1"]);
    let dir = tempfile::tempdir().unwrap();
    let ackfile = dir.path().join("acked.txt");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/crash_producer.py");
    let total = 20_000;
    let mut producer = Command::new(python())
        .arg(&script)
        .arg(b.bootstrap())
        .arg("crash")
        .arg(total.to_string())
        .arg(&ackfile)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill once a few thousand records are acknowledged and the stream is still going.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked_count(&ackfile) < 3_000 {
        assert!(Instant::now() < deadline, "producer made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    b.kill9();
    let acked_at_kill = acked_count(&ackfile);
    std::thread::sleep(Duration::from_millis(300));
    b.spawn();
    let out = {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = producer.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = producer.kill();
                panic!("producer did not finish after the restart");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut err = String::new();
    std::io::Read::read_to_string(producer.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(
        out.success(),
        "producer failed: {err}\nbroker log:\n{}",
        b.log()
    );
    assert!(acked_at_kill < total, "the kill landed mid-stream");

    let acked: Vec<u64> = std::fs::read_to_string(&ackfile)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(
        acked.len(),
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
