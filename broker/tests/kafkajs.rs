#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! KafkaJS (npm) against the broker: admin create, idempotent produce with gzip and headers, a
//! consumer group that commits offsets.

mod common;
use common::{TestBroker, run_with_timeout};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[test]
fn kafkajs_round_trip_with_a_consumer_group() {
    let b = TestBroker::start(&["group.initial.rebalance.delay.ms=0"]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/js");
    assert!(
        dir.join("node_modules/kafkajs").exists(),
        "run scripts/install-test-deps.sh (npm ci)"
    );
    let out = run_with_timeout(
        Command::new("node")
            .arg(dir.join("roundtrip.js"))
            .arg(b.bootstrap())
            .arg("js-topic")
            .current_dir(&dir),
        None,
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "kafkajs failed:\n{}\n{}\nbroker log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        b.log()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok 50");
}
