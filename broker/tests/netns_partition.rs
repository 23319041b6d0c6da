#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! A network partition that isolates one broker, built with Linux network namespaces.
//!
//! The network. Every broker runs in its own network namespace (`ip netns exec`), with its own
//! `lo` (up) and one veth pair: `eth0` in the broker's namespace (10.213.0.1<i>/24), the other
//! end plugged into a bridge in a dedicated "switch" namespace. Nothing is added to the host's
//! network namespace and no namespace has a route out, so nothing this test starts is reachable
//! from the host or the network (the brokers' admin HTTP binds the namespace's own loopback).
//! Namespace names carry the test's pid, so concurrent runs never meet; a drop guard kills every
//! broker (by PID) and then deletes the namespaces (`ip netns del`, which also removes the veths)
//! on every exit path, and a run killed before its guard ran is cleaned up by the next one. Clients run inside the namespaces too, with `ip netns exec` (ip execs the
//! program, so the PID we hold is the client's).
//!
//! The partition: the switch-side veth of the isolated broker is set down (packets are dropped,
//! no reset is sent) and set up again to heal.
//!
//! This needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2 (scripts/install-test-deps.sh);
//! when `ip netns add` is refused the test fails saying so; it never skips.

mod common;

use common::{broker_bin, python, run_with_timeout};
use eddy_test_support::eventually;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SUBNET: &str = "10.213.0";
const KAFKA_PORT: u16 = 9092;
const CONTROLLER_PORT: u16 = 9093;
const ADMIN_PORT: u16 = 9644;
/// replica.lag.time.max.ms of every broker.
const LAG_MS: u64 = 2_000;

/// Namespace names start with this and the test process's pid.
const PREFIX: &str = "eddy-np";

/// Namespaces left by an earlier run of this test that was killed before its drop guard ran
/// (its pid is gone): the processes inside (that run's brokers and clients) are killed by PID,
/// then the namespaces deleted.
fn remove_stale_namespaces() {
    let out = run_with_timeout(
        Command::new("ip").args(["netns", "list"]),
        None,
        Duration::from_secs(15),
    );
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue; // a run in progress
        }
        let pids = run_with_timeout(
            Command::new("ip").args(["netns", "pids", name]),
            None,
            Duration::from_secs(15),
        );
        for p in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", p]).status();
        }
        let _ = Command::new("ip").args(["netns", "del", name]).status();
        eprintln!("removed the stale network namespace {name}");
    }
}

/// Runs `ip` with `args` (bounded: 15 s), panicking with `what` and ip's stderr on failure.
fn ip(args: &[&str], what: &str) {
    let out = run_with_timeout(Command::new("ip").args(args), None, Duration::from_secs(15));
    assert!(
        out.status.success(),
        "{what}: `ip {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// A broker process inside its namespace. Killed by PID by the [`Lab`] that owns it.
struct NsBroker {
    ns: String,
    ip: String,
    data_dir: PathBuf,
    child: Option<Child>,
    _tmp: tempfile::TempDir,
}

impl NsBroker {
    fn bootstrap(&self) -> String {
        format!("{}:{KAFKA_PORT}", self.ip)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.with_extension("log")).unwrap_or_default()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The log of partition 0 of `topic` on this broker, byte for byte.
    fn replica_log(&self, topic: &str) -> Vec<u8> {
        common::replica_log_in(&self.data_dir, topic, 0)
    }
}

/// The namespaces, the switch and the brokers of one test run. Dropping it kills the brokers by
/// PID, then deletes every namespace it created (which removes the veths). Clients are owned
/// by values declared after the lab, so they are dropped (killed) before it.
struct Lab {
    switch: String,
    namespaces: Vec<String>,
    brokers: Vec<NsBroker>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for b in &mut self.brokers {
            b.kill();
        }
        for ns in self.namespaces.iter().rev() {
            let ok = Command::new("ip")
                .args(["netns", "del", ns])
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("could not delete network namespace {ns}");
            }
        }
    }
}

impl Lab {
    /// `n` brokers (all controller voters), each in its own namespace on one switch.
    fn start(n: usize) -> Lab {
        let have_ip = Command::new("ip")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            have_ip,
            "iproute2's `ip` is missing: run scripts/install-test-deps.sh (this test does not skip)"
        );
        remove_stale_namespaces();
        // Unique per run: the pid, and a counter for tests sharing a process (`cargo test`).
        static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n_run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let run = format!("{PREFIX}{}-{n_run}", std::process::id());
        let mut lab = Lab {
            switch: format!("{run}-sw"),
            namespaces: Vec::new(),
            brokers: Vec::new(),
        };
        let sw = lab.switch.clone();
        let add = |lab: &mut Lab, ns: &str| {
            ip(
                &["netns", "add", ns],
                "creating a network namespace (this test needs root and iproute2; \
                 it does not skip)",
            );
            lab.namespaces.push(ns.to_string());
            ip(&["-n", ns, "link", "set", "lo", "up"], "lo up");
        };
        add(&mut lab, &sw);
        ip(
            &["-n", &sw, "link", "add", "br0", "type", "bridge"],
            "the switch",
        );
        ip(&["-n", &sw, "link", "set", "br0", "up"], "the switch up");
        let voters = (0..n)
            .map(|i| format!("{i}@{SUBNET}.1{i}:{CONTROLLER_PORT}"))
            .collect::<Vec<_>>()
            .join(",");
        for i in 0..n {
            let ns = format!("{run}-b{i}");
            add(&mut lab, &ns);
            let port = format!("vb{i}");
            let addr = format!("{SUBNET}.1{i}");
            ip(
                &[
                    "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                    "netns", &ns,
                ],
                "a veth pair",
            );
            ip(
                &["-n", &sw, "link", "set", &port, "master", "br0"],
                "plugging into the switch",
            );
            ip(&["-n", &sw, "link", "set", &port, "up"], "switch port up");
            ip(
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{addr}/24"),
                    "dev",
                    "eth0",
                ],
                "broker address",
            );
            ip(&["-n", &ns, "link", "set", "eth0", "up"], "broker link up");
            let tmp = tempfile::tempdir().unwrap();
            lab.brokers.push(NsBroker {
                ns,
                ip: addr,
                data_dir: tmp.path().join("data"),
                child: None,
                _tmp: tmp,
            });
        }
        for i in 0..n {
            lab.spawn(i, &voters);
        }
        for i in 0..n {
            lab.wait_ready(i);
        }
        // Bounded: every broker registered and a controller elected, seen from each side.
        for i in 0..n {
            lab.wait_metadata(
                i,
                &lab.brokers[i].bootstrap(),
                "",
                "all brokers live",
                |m| {
                    m["brokers"].as_array().map(Vec::len) == Some(n)
                        && m["controller"].as_i64().is_some_and(|c| c >= 0)
                },
            );
        }
        lab
    }

    fn spawn(&mut self, i: usize, voters: &str) {
        let b = &mut self.brokers[i];
        let log = std::fs::File::create(b.data_dir.with_extension("log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &b.ns])
            .arg(broker_bin())
            .arg("--data-dir")
            .arg(&b.data_dir)
            .arg("--listeners")
            .arg(format!("PLAINTEXT://{}:{KAFKA_PORT}", b.ip))
            .arg("--admin-addr")
            .arg(format!("127.0.0.1:{ADMIN_PORT}"))
            .args(["--node-id", &i.to_string()])
            .args(["--controller-quorum-voters", voters])
            .args(["--broker-session-timeout-ms", "4000"])
            // A leader shrinks its ISR after 2 s without a follower fetch: the isolated leader
            // tries (and cannot reach the quorum) well within the partition.
            .args(["--set", &format!("replica.lag.time.max.ms={LAG_MS}")])
            .env("RUST_LOG", "info,eddy_broker=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning the broker with ip netns exec");
        b.child = Some(child);
    }

    /// Bounded: /readyz on the namespace's loopback answers 200 within 30 s (a broker in cluster
    /// mode is ready once it registered with the quorum, so a new cluster's brokers are started
    /// first and waited for together).
    fn wait_ready(&mut self, i: usize) {
        let b = &mut self.brokers[i];
        let what = format!("broker {i} /readyz");
        let ready = eventually(
            &what,
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                if let Some(status) = b.child.as_mut().unwrap().try_wait().unwrap() {
                    panic!(
                        "broker {i} exited during start ({status}); log:\n{}",
                        b.log()
                    );
                }
                admin_get(&b.ns, "/readyz").is_some()
            },
        );
        if let Err(e) = ready {
            panic!("{e}; log:\n{}", b.log());
        }
    }

    /// Runs `tests/clients/netns_client.py` inside broker `i`'s namespace (bounded: 90 s).
    fn client(&self, i: usize, args: &[&str]) -> Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/netns_client.py");
        run_with_timeout(
            Command::new("ip")
                .args(["netns", "exec", &self.brokers[i].ns])
                .arg(python())
                .arg(script)
                .args(args),
            None,
            Duration::from_secs(90),
        )
    }

    /// Metadata for `topic` as broker `i`'s namespace sees it through `bootstrap`.
    fn metadata(&self, i: usize, bootstrap: &str, topic: &str) -> Option<Value> {
        let out = self.client(i, &["metadata", bootstrap, topic]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Polls metadata from broker `i`'s namespace until `ok` holds (bounded: 90 s).
    fn wait_metadata(
        &self,
        i: usize,
        bootstrap: &str,
        topic: &str,
        what: &str,
        ok: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(
            what,
            Duration::from_secs(90),
            Duration::from_millis(200),
            || {
                let m = self
                    .metadata(i, bootstrap, topic)
                    .ok_or_else(|| "no metadata".to_owned())?;
                if ok(&m) {
                    Ok(m)
                } else {
                    Err(format!("metadata {m:#}"))
                }
            },
        )
        .unwrap_or_else(|e| panic!("{e}\nlog of broker {i}:\n{}", self.brokers[i].log()))
    }

    /// Takes broker `i`'s switch port down (`up == false`) or up again.
    fn set_link(&self, i: usize, up: bool) {
        ip(
            &[
                "-n",
                &self.switch,
                "link",
                "set",
                &format!("vb{i}"),
                if up { "up" } else { "down" },
            ],
            "changing a switch port",
        );
    }
}

/// GET of a broker's admin HTTP, which listens on its namespace's loopback (curl inside the
/// namespace, bounded: 2 s): the body of a 2xx answer.
fn admin_get(ns: &str, path: &str) -> Option<String> {
    let out = run_with_timeout(
        Command::new("ip").args(["netns", "exec", ns]).args([
            "curl",
            "-sf",
            "-m",
            "2",
            &format!("http://127.0.0.1:{ADMIN_PORT}{path}"),
        ]),
        None,
        Duration::from_secs(10),
    );
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `netns_client.py produce` inside a namespace: an idempotent acks=all producer of
/// `PREFIX-0, PREFIX-1, ...` until told to stop. Killed by PID when dropped.
struct NsProducer {
    child: Child,
    ackfile: PathBuf,
    stopfile: PathBuf,
    _dir: tempfile::TempDir,
}

impl NsProducer {
    fn start(ns: &str, bootstrap: &str, topic: &str, prefix: &str) -> NsProducer {
        let dir = tempfile::tempdir().unwrap();
        let ackfile = dir.path().join("acked.txt");
        let stopfile = dir.path().join("stop");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/netns_client.py");
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(python())
            .arg(script)
            .args(["produce", bootstrap, topic, prefix])
            .arg(&ackfile)
            .arg(&stopfile)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        NsProducer {
            child,
            ackfile,
            stopfile,
            _dir: dir,
        }
    }

    /// Every acknowledgement so far: (value, unix time it arrived).
    fn acks(&self) -> Vec<(String, f64)> {
        std::fs::read_to_string(&self.ackfile)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (v, t) = l.split_once(' ')?;
                Some((v.to_string(), t.parse().ok()?))
            })
            .collect()
    }

    /// Waits (bounded: 90 s) until `ok` holds for the acknowledgements.
    fn wait_acks(&mut self, what: &str, ok: impl Fn(&[(String, f64)]) -> bool) {
        eventually(
            what,
            Duration::from_secs(90),
            Duration::from_millis(20),
            || {
                let acks = self.acks();
                if ok(&acks) {
                    return Ok(());
                }
                if let Some(s) = self.child.try_wait().unwrap() {
                    panic!("the producer exited ({s}) before {what}");
                }
                Err(format!("{} acks", acks.len()))
            },
        )
        .unwrap();
    }

    /// Tells it to stop, waits (bounded: 180 s) until it has flushed, and asserts every record
    /// it produced was acknowledged.
    fn finish(&mut self, who: &str) {
        std::fs::write(&self.stopfile, b"").unwrap();
        let what = format!("the {who} producer to finish");
        let status = eventually(
            &what,
            Duration::from_secs(180),
            Duration::from_millis(50),
            || self.child.try_wait().unwrap(),
        )
        .unwrap();
        let mut out = String::new();
        let mut err = String::new();
        std::io::Read::read_to_string(self.child.stdout.as_mut().unwrap(), &mut out).unwrap();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert!(
            status.success(),
            "the {who} producer lost records: {out}{err}"
        );
        eprintln!("{who} producer: {}", out.trim());
    }
}

impl Drop for NsProducer {
    fn drop(&mut self) {
        // Already reaped on the success path (kill is then a no-op); stops it on a failure.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The partition leader epoch of each record batch in a log (v2 batches: base offset i64,
/// batch length i32, partition leader epoch i32, ...).
fn batch_leader_epochs(log: &[u8]) -> Vec<i32> {
    let mut epochs = Vec::new();
    let mut pos = 0;
    while pos + 16 <= log.len() {
        let len = i32::from_be_bytes(log[pos + 8..pos + 12].try_into().unwrap());
        epochs.push(i32::from_be_bytes(
            log[pos + 12..pos + 16].try_into().unwrap(),
        ));
        pos += 12 + usize::try_from(len).unwrap();
    }
    assert_eq!(pos, log.len(), "the log ends mid-batch");
    epochs
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn partition0(m: &Value) -> &Value {
    &m["partitions"][0]
}

fn leader(m: &Value) -> i64 {
    partition0(m)["leader"].as_i64().unwrap_or(-1)
}

fn isr(m: &Value) -> Vec<i64> {
    partition0(m)["isr"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

#[test]
fn isolating_the_leader_and_controller_stops_its_acks_and_the_logs_converge_after_healing() {
    partition_and_heal(true);
}

#[test]
fn isolating_a_leader_that_is_not_the_controller_stops_its_acks_and_logs_converge() {
    partition_and_heal(false);
}

/// 3 brokers, one partition with RF=3 and min.insync.replicas=2 led by the broker the network
/// partition cuts off. With `controller`, that broker is also the active controller: the cut
/// takes away the partition leader and the metadata quorum's leader at once; without, the
/// controller stays on the majority side (and the cut-off broker, a Raft follower, campaigns
/// in vain until it heals).
fn partition_and_heal(controller: bool) {
    const TOPIC: &str = "np";
    let lab = Lab::start(3);
    let m = lab.wait_metadata(0, &lab.brokers[0].bootstrap(), "", "a controller", |m| {
        m["controller"].as_i64().is_some_and(|c| c >= 0)
    });
    let active = m["controller"].as_u64().unwrap() as usize;
    let old = if controller { active } else { (active + 1) % 3 };
    let (a, b) = ((old + 1) % 3, (old + 2) % 3);
    let out = lab.client(
        a,
        &[
            "create",
            &lab.brokers[a].bootstrap(),
            TOPIC,
            &format!("{old},{a},{b}"),
            "min.insync.replicas=2",
        ],
    );
    assert!(
        out.status.success(),
        "create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // (The controller is checked again: the case under test is the one set up.)
    lab.wait_metadata(a, &lab.brokers[a].bootstrap(), TOPIC, "np in sync", |m| {
        leader(m) == old as i64
            && isr(m) == vec![0, 1, 2]
            && (m["controller"].as_i64() == Some(old as i64)) == controller
    });

    // The majority side's producer runs in `a`'s namespace, bootstrapping from `a` and `b`.
    let majority_bootstrap = format!(
        "{},{}",
        lab.brokers[a].bootstrap(),
        lab.brokers[b].bootstrap()
    );
    let mut majority = NsProducer::start(&lab.brokers[a].ns, &majority_bootstrap, TOPIC, "M");
    majority.wait_acks("the first 2000 acks", |acks| acks.len() >= 2_000);

    // Partition: `old` can reach nobody, and nobody can reach it.
    lab.set_link(old, false);
    let t_isolate = now();
    // What the majority's producer got into the isolated log before the cut has landed by now
    // (nothing crosses the cut); whatever the isolated log gains from here is the minority's.
    // Kept as a sleep, a settling window of the scenario: nothing outside marks the moment the
    // last in-flight batch has landed.
    std::thread::sleep(Duration::from_secs(1));
    let isolated_bytes = lab.brokers[old].replica_log(TOPIC).len();
    // The minority side's producer runs in the isolated namespace and knows only `old`.
    let mut minority = NsProducer::start(
        &lab.brokers[old].ns,
        &lab.brokers[old].bootstrap(),
        TOPIC,
        "m",
    );

    // The majority elects a new leader from the ISR and fences `old` out of it...
    let m = lab.wait_metadata(a, &majority_bootstrap, TOPIC, "a new leader", |m| {
        let l = leader(m);
        l >= 0 && l != old as i64 && !isr(m).contains(&(old as i64))
    });
    let t_elected = now();
    assert_eq!(isr(&m), {
        let mut s = vec![a as i64, b as i64];
        s.sort_unstable();
        s
    });
    assert_ne!(m["controller"].as_i64(), Some(old as i64));
    // ... and its producer carries on: 2000 more acks after the partition began.
    majority.wait_acks("2000 acks on the majority side", |acks| {
        acks.iter().filter(|(_, t)| *t > t_isolate).count() >= 2_000
    });
    // The isolated leader takes the minority's writes into its log (it still believes it
    // leads) but acknowledges none of them: its followers cannot confirm them.
    eventually(
        "the minority producer's records to reach the isolated leader",
        Duration::from_secs(60),
        Duration::from_millis(50),
        || {
            let len = lab.brokers[old].replica_log(TOPIC).len();
            if len > isolated_bytes {
                Ok(())
            } else {
                Err(len)
            }
        },
    )
    .unwrap();
    // The partition lasts past the isolated leader's replica lag time, so it has asked to shrink
    // its ISR (its followers stopped fetching) and could not: it still acknowledges nothing.
    // Part of the scenario, not synchronisation: the partition must outlast the lag time.
    let shrink_tried = t_isolate + (LAG_MS + 1_500) as f64 / 1_000.0;
    let remaining = shrink_tried - now();
    if remaining > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(remaining));
    }
    let isolated_log = lab.brokers[old].replica_log(TOPIC);
    let t_heal = now();
    lab.set_link(old, true);
    // Acknowledgements time-stamped before the heal began came during the partition.
    let minority_acks_during = minority.acks().iter().filter(|(_, t)| *t < t_heal).count();
    assert_eq!(
        minority_acks_during, 0,
        "the isolated leader acknowledged acks=all writes during the partition"
    );
    let majority_acks = majority.acks();
    let majority_acks_during = majority_acks
        .iter()
        .filter(|(_, t)| *t > t_isolate && *t < t_heal)
        .count();
    // The failover as the majority's producer saw it: the largest gap between its acks.
    let mut times: Vec<f64> = majority_acks
        .iter()
        .map(|(_, t)| *t)
        .filter(|t| *t < t_heal)
        .collect();
    times.sort_by(f64::total_cmp);
    let failover = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);

    // Healed: the old leader truncates what it alone took, catches up and rejoins the ISR.
    // Polled on `a`'s admin HTTP (/v1/cluster/health: no under-replicated or offline partition,
    // all three brokers live), which answers in milliseconds; bounded: 90 s.
    eventually(
        "the ISR whole again after healing",
        Duration::from_secs(90),
        Duration::from_millis(20),
        || {
            let last = admin_get(&lab.brokers[a].ns, "/v1/cluster/health").unwrap_or_default();
            let whole = serde_json::from_str::<Value>(&last).is_ok_and(|h| {
                h["healthy"] == true && h["live_brokers"].as_array().map(Vec::len) == Some(3)
            });
            if whole { Ok(()) } else { Err(last) }
        },
    )
    .unwrap();
    let t_isr = now();
    let m = lab.metadata(a, &majority_bootstrap, TOPIC).unwrap();
    assert_eq!(isr(&m), vec![0, 1, 2], "{m:#}");
    // The minority's records are acknowledged after healing, by the new leader.
    minority.wait_acks("the minority side's first ack after healing", |acks| {
        !acks.is_empty()
    });
    majority.finish("majority");
    minority.finish("minority");
    let t_stopped = now();

    // All three replicas' logs converge, byte for byte (bounded: 60 s): the old leader dropped
    // the records it alone took during the partition (its log diverged, see below).
    let logs = eventually(
        "the replica logs to converge",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let logs: Vec<Vec<u8>> = lab.brokers.iter().map(|b| b.replica_log(TOPIC)).collect();
            if logs.iter().all(|l| *l == logs[0]) {
                Ok(logs)
            } else {
                Err(format!(
                    "replica logs differ: {:?} bytes",
                    logs.iter().map(Vec::len).collect::<Vec<_>>()
                ))
            }
        },
    )
    .unwrap();
    let t_converged = now();
    assert!(
        !logs[0].starts_with(&isolated_log),
        "the isolated leader's log did not diverge: nothing to truncate"
    );
    // Exactly one leader election happened: the batches carry the first leader's epoch, then
    // the epoch of the election that replaced it, and nothing later (no healthy broker was
    // fenced and no leader moved once the partition healed).
    let mut epochs = batch_leader_epochs(&logs[0]);
    assert!(epochs.is_sorted(), "leader epochs go back in the log");
    epochs.dedup();
    assert!(
        epochs.len() == 2 && epochs[1] == epochs[0] + 1,
        "one election expected, the log has batches of leader epochs {epochs:?}"
    );

    // The checker: every acknowledged record of both sides is in the log exactly once, each
    // producer's records in order, and nothing is duplicated.
    let m = lab.metadata(a, &majority_bootstrap, TOPIC).unwrap();
    let lead = leader(&m) as usize;
    let out = run_with_timeout(
        Command::new("ip")
            .args(["netns", "exec", &lab.brokers[a].ns])
            .args([
                "kcat",
                "-b",
                &lab.brokers[lead].bootstrap(),
                "-C",
                "-t",
                TOPIC,
                "-e",
                "-q",
            ]),
        None,
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let consumed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (i, v) in consumed.iter().enumerate() {
        assert!(position.insert(v, i).is_none(), "{v} is in the log twice");
    }
    for (who, p) in [("majority", &majority), ("minority", &minority)] {
        let acked = p.acks();
        let mut last = None;
        for (v, _) in &acked {
            let at = *position
                .get(v.as_str())
                .unwrap_or_else(|| panic!("{who}: acknowledged {v} is lost"));
            assert!(last < Some(at), "{who}: {v} is out of order");
            last = Some(at);
        }
        eprintln!("{who}: {} acknowledged, all present once", acked.len());
    }

    eprintln!(
        "partition: {majority_acks_during} acks on the majority side and \
         {minority_acks_during} on the isolated side during {:.1}s; new leader seen {:.2}s \
         after isolation; the majority's producer waited {failover:.2}s for an ack (its largest \
         gap); ISR whole {:.2}s after healing; logs identical ({} bytes, {} records) {:.2}s \
         after the producers stopped",
        t_heal - t_isolate,
        t_elected - t_isolate,
        t_isr - t_heal,
        logs[0].len(),
        consumed.len(),
        t_converged - t_stopped,
    );
}
