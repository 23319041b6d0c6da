//! End-to-end check of `bench run`: a 2-second tiny workload against a real debug broker
//! process; asserts every acknowledged message was consumed and the result files exist and parse
//! (no assertion on speed).
#![allow(clippy::unwrap_used)]

use eddy_bench::report::RunResult;
use eddy_test_support::eventually;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The broker binary from this target directory, built if missing.
fn broker_bin() -> PathBuf {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_bench"));
    let bin = bench.parent().unwrap().join("broker");
    if !bin.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "eddy-broker", "--bin", "broker"])
            .status()
            .unwrap();
        assert!(status.success(), "building the broker");
    }
    bin
}

#[test]
fn tiny_workload_consumes_everything_and_writes_results() {
    let tmp = tempfile::tempdir().unwrap();
    let workload = tmp.path().join("tiny.yaml");
    std::fs::write(
        &workload,
        "name: tiny\npartitions_per_topic: 3\nmessage_size: 64\nkeyed: true\nproducers_per_topic: 2\n\
         consumers_per_topic: 2\nrate: 200\nwarmup_s: 0\nduration_s: 2\n",
    )
    .unwrap();
    let results = tmp.path().join("results");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bench"))
        .arg("run")
        .arg(&workload)
        .arg("--broker-bin")
        .arg(broker_bin())
        .arg("--results")
        .arg(&results)
        .arg("--data-parent")
        .arg(tmp.path())
        .arg("--skip-limits")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded wait; the bench stops its broker itself, and we kill the bench by PID on timeout.
    let finished = eventually(
        "the bench to finish",
        Duration::from_secs(180),
        Duration::from_millis(100),
        || child.try_wait().unwrap(),
    );
    let status = finished.unwrap_or_else(|e| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{e}");
    });
    assert!(status.success(), "bench run failed: {status}");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let dir = PathBuf::from(out.trim());
    assert!(dir.starts_with(&results), "{dir:?}");

    let r: RunResult =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    assert!(r.totals.sent > 0);
    assert_eq!(r.totals.failed, 0);
    assert_eq!(r.totals.acked, r.totals.sent);
    assert_eq!(
        r.totals.consumed, r.totals.acked,
        "every acknowledged message was consumed"
    );
    assert!(r.publish_latency.count > 0 && r.end_to_end_latency.count > 0);
    assert!(r.broker.unwrap().max_rss_mb > 0.0);
    let md = std::fs::read_to_string(dir.join("result.md")).unwrap();
    assert!(md.contains("| publish msgs/s |"));
    let svg = std::fs::read_to_string(dir.join("plot.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));

    // compare reads two result files.
    let cmp = Command::new(env!("CARGO_BIN_EXE_bench"))
        .arg("compare")
        .arg(dir.join("result.json"))
        .arg(dir.join("result.json"))
        .output()
        .unwrap();
    assert!(cmp.status.success());
    assert!(
        String::from_utf8(cmp.stdout)
            .unwrap()
            .contains("| publish msgs/s |")
    );
}
