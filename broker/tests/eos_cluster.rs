#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Exactly-once processing on three brokers under kill -9 (issue 17): confluent-kafka's
//! consume → transform → produce + offsets copy loop (`tests/clients/eos_copy.py`) is killed
//! -9 mid-transaction and replaced by a new process with the same transactional id and group,
//! then the broker coordinating its transactions is killed -9 mid-transaction and restarted
//! later; the output holds every input record exactly once and the group's offsets are at the
//! input's end. And KIP-447's zombie: a member whose generation ended while it stalled cannot
//! commit its copies with its old group metadata (TxnOffsetCommit is refused, it aborts).

mod cluster_support;
mod common;
mod wire;

use cluster_support::{bootstrap_all, create_topic, start_brokers, wait_for, wait_txn_coordinator};
use common::{POLL, TestBroker};
use eddy_test_support::eventually;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SRC: &str = "eos-in";
const DST: &str = "eos-out";
const GROUP: &str = "eos-copy";
const TID: &str = "eos-copy-tx";
/// Input records (keys hashed over six partitions): about 30 transactions of 200.
const RECORDS: usize = 6000;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/eos_copy.py")
}

/// One `eos_copy.py copy` process, its output in files of its own directory (a pipe nobody
/// reads would block librdkafka's logging); killed -9 by PID when dropped.
struct CopyLoop {
    child: Child,
    dir: tempfile::TempDir,
}

impl CopyLoop {
    /// Starts the loop; with `pause_after`, it leaves its transaction after that many commits
    /// open (records acknowledged, offsets sent) and waits for `go`.
    fn start(bootstrap: &str, pause_after: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(common::python())
            .arg(script())
            .arg(bootstrap)
            .args(["copy", SRC, DST, GROUP, TID])
            .arg(dir.path())
            .arg(pause_after.to_string())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .unwrap();
        Self { child, dir }
    }

    fn output(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        let stderr = read("stderr");
        let tail: Vec<&str> = stderr.lines().rev().take(60).collect();
        format!(
            "stdout:\n{}\nstderr (last lines):\n{}",
            read("stdout"),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }

    /// Transactions committed so far.
    fn commits(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("progress"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// Waits (bounded: 120 s) until the loop holds its transaction open at the pause.
    fn wait_paused(&mut self) {
        let paused = eventually(
            "the copy loop's pause",
            Duration::from_secs(120),
            POLL,
            || self.dir.path().join("paused").exists() || self.child.try_wait().unwrap().is_some(),
        );
        assert!(
            paused.is_ok() && self.dir.path().join("paused").exists(),
            "the copy loop did not reach its pause:\n{}",
            self.output()
        );
    }

    fn go(&self) {
        std::fs::write(self.dir.path().join("go"), b"").unwrap();
    }

    /// Waits (bounded: 150 s) for the loop to exit successfully: its stdout.
    fn finish(&mut self, brokers: &[TestBroker]) -> String {
        let status = eventually(
            "the copy loop's end",
            Duration::from_secs(150),
            POLL,
            || self.child.try_wait().unwrap(),
        );
        match status {
            Ok(s) if s.success() => {
                std::fs::read_to_string(self.dir.path().join("stdout")).unwrap()
            }
            other => panic!(
                "copy loop: {other:?}\n{}\n{}",
                self.output(),
                broker_warnings(brokers)
            ),
        }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for CopyLoop {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The last warnings and transaction lines of each broker's log (for a failure message).
fn broker_warnings(brokers: &[TestBroker]) -> String {
    brokers
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let log = b.log();
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("txn"))
                .collect();
            format!(
                "broker {i}:\n{}",
                lines[lines.len().saturating_sub(60)..].join("\n")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `eos_copy.py` to completion (fill, verify): its stdout; panics with its output.
fn run(brokers: &[TestBroker], bootstrap: &str, args: &[&str]) -> String {
    let out = common::run_with_timeout(
        Command::new(common::python())
            .arg(script())
            .arg(bootstrap)
            .args(args),
        None,
        Duration::from_secs(180),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "eos_copy.py {args:?}: {}\nstdout:\n{stdout}\nstderr:\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        broker_warnings(brokers)
    );
    stdout
}

/// Three brokers with `SRC` and `DST` (six partitions, RF=3, min.insync.replicas=2) and
/// `RECORDS` records in `SRC`.
fn cluster_with_input() -> (Vec<TestBroker>, String) {
    let brokers = start_brokers(
        3,
        &[
            "transaction.state.log.num.partitions=3",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms=500",
        ],
        "4000",
    );
    for topic in [SRC, DST] {
        assert_eq!(
            create_topic(&brokers[0], topic, 6, 3, &[("min.insync.replicas", "2")]),
            0
        );
        wait_for(&brokers[0], "the topic's leaders", |m| {
            m.topics.iter().any(|t| {
                t.name.as_ref().is_some_and(|n| n.as_str() == topic)
                    && t.partitions.len() == 6
                    && t.partitions
                        .iter()
                        .all(|p| p.leader_id.0 >= 0 && p.isr_nodes.len() == 3)
            })
        });
    }
    let bootstrap = bootstrap_all(&brokers);
    run(&brokers, &bootstrap, &["fill", SRC, &RECORDS.to_string()]);
    (brokers, bootstrap)
}

// The regression test of a follower that did not track the transactions it replicated: after
// the leader change of scenario B, the new leader showed the zombie's aborted batch to
// read_committed readers (or a later commit marker of the same producer committed it), and 170-
// 200 records were copied twice in about 2 of 5 runs.
#[test]
fn copy_loop_killed_9_and_its_coordinators_broker_killed_9_copies_every_record_exactly_once() {
    let (mut brokers, bootstrap) = cluster_with_input();
    let n = RECORDS.to_string();

    // A: the client dies with -9 inside a transaction after five commits; a new process with
    // the same transactional id fences it (aborting the open transaction) and takes over.
    let mut zombie = CopyLoop::start(&bootstrap, 5);
    zombie.wait_paused();
    assert_eq!(zombie.commits(), 5, "{}", zombie.output());
    zombie.kill9();

    // B: the broker coordinating the id dies with -9 while the new process's transaction is
    // open; it comes back once the loop made progress without it.
    let coordinator = usize::try_from(wait_txn_coordinator(&brokers[0], TID)).unwrap();
    let mut survivor = CopyLoop::start(&bootstrap, 3);
    survivor.wait_paused();
    brokers[coordinator].kill9();
    survivor.go();
    let progressed = eventually(
        "commits after the coordinator's failover",
        Duration::from_secs(120),
        POLL,
        || survivor.commits() >= 6 || survivor.child.try_wait().unwrap().is_some(),
    );
    assert!(progressed.is_ok(), "{}", survivor.output());
    brokers[coordinator].spawn();
    let out = survivor.finish(&brokers);
    assert!(out.contains("ok commits="), "{out}");
    eprintln!("copy loop after both kills (coordinator was {coordinator}): {out}");

    let verified = run(&brokers, &bootstrap, &["verify", SRC, DST, GROUP, &n]);
    assert!(verified.contains(&format!("ok {RECORDS}")), "{verified}");
}

#[test]
fn a_member_whose_generation_ended_cannot_commit_its_copies_in_a_transaction() {
    let (brokers, bootstrap) = cluster_with_input();
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let out = run(&brokers, &bootstrap, &["zombie", SRC, DST, GROUP, dir_arg]);
    assert!(out.contains("ok fenced"), "{out}");
    eprintln!("zombie: {out}");
    let n = RECORDS.to_string();
    let verified = run(&brokers, &bootstrap, &["verify", SRC, DST, GROUP, &n]);
    assert!(verified.contains(&format!("ok {RECORDS}")), "{verified}");
}
