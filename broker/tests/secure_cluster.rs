#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Three brokers with TLS and SCRAM between them (issue 14): listeners `INTERNAL` (SASL_SSL,
//! SCRAM-SHA-512, `inter.broker.listener.name=INTERNAL`) and `CLIENT` (SASL_SSL), the Raft
//! transport over mutual TLS, the authorizer on with the broker user as a super user. A
//! confluent-kafka producer over SASL_SSL/SCRAM-SHA-512 (acks=all, RF 3, min.insync.replicas 2)
//! keeps writing while the partition leader is killed with -9 and restarted; every
//! acknowledged record is read back over SASL_SSL. A broker restarted with a wrong
//! inter-broker password stays out of the ISR, says why in its log, and the others keep
//! working. (The harness's PLAINTEXT listener only serves the brokers-live checks.)

#[path = "common/certs.rs"]
mod certs;
mod cluster_support;
mod common;
mod wire;

use certs::{Spec, TestCa};
use cluster_support::wait_for;
use common::{CrashProducer, TestBroker, free_port, python, run_with_timeout, spawn_all};
use eddy_test_support::eventually;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const TOPIC: &str = "secure-fo";
const BROKER_SCRAM: &str = "SCRAM-SHA-512=[name=broker,password=broker-secret]";
const ADMIN_SCRAM: &str = "SCRAM-SHA-512=[name=admin,password=admin-secret]";
const AUTH_FAILED: &str = "inter-broker authentication to the leader failed";

fn jaas(password: &str) -> String {
    format!(
        r#"listener.name.internal.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="{password}";"#
    )
}

/// One broker's settings, with `password` as its inter-broker password.
fn settings(keystore: &Path, trust: &Path, password: &str) -> Vec<String> {
    vec![
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:SASL_SSL,CLIENT:SASL_SSL,CONTROLLER:SSL".into(),
        "inter.broker.listener.name=INTERNAL".into(),
        "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512".into(),
        "listener.name.internal.sasl.enabled.mechanisms=SCRAM-SHA-512".into(),
        "listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512".into(),
        jaas(password),
        format!("ssl.keystore.location={}", keystore.display()),
        format!("ssl.truststore.location={}", trust.display()),
        "controller.ssl.enabled=true".into(),
        "listener.name.controller.ssl.client.auth=required".into(),
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".into(),
        "super.users=User:broker;User:admin".into(),
        "replica.lag.time.max.ms=4000".into(),
    ]
}

struct Cluster {
    brokers: Vec<TestBroker>,
    keystores: Vec<std::path::PathBuf>,
    trust: std::path::PathBuf,
    /// Each broker's CLIENT listener address.
    clients: Vec<String>,
}

impl Cluster {
    fn start(dir: &Path) -> Self {
        let ca = TestCa::new("Eddy secure cluster CA");
        let trust = ca.write(dir);
        let voters = (0..3)
            .map(|i| format!("{i}@127.0.0.1:{}", free_port()))
            .collect::<Vec<_>>()
            .join(",");
        let mut keystores = Vec::new();
        let mut clients = Vec::new();
        let mut brokers: Vec<TestBroker> = (0..3)
            .map(|i| {
                let keystore = ca
                    .issue(&Spec::server(200 + i as u64))
                    .write(dir, &format!("broker-{i}"));
                let s = settings(&keystore, &trust, "broker-secret");
                keystores.push(keystore);
                let s: Vec<&str> = s.iter().map(String::as_str).collect();
                let mut b = TestBroker::new(
                    &s,
                    vec![
                        "--node-id".into(),
                        i.to_string(),
                        "--controller-quorum-voters".into(),
                        voters.clone(),
                        "--broker-session-timeout-ms".into(),
                        "4000".into(),
                        "--add-scram".into(),
                        BROKER_SCRAM.into(),
                        "--add-scram".into(),
                        ADMIN_SCRAM.into(),
                    ],
                );
                let client = format!("127.0.0.1:{}", free_port());
                b.extra_listeners
                    .push(format!("INTERNAL://127.0.0.1:{}", free_port()));
                b.extra_listeners.push(format!("CLIENT://{client}"));
                clients.push(client);
                b
            })
            .collect();
        spawn_all(&mut brokers);
        for b in &brokers {
            wait_for(b, "every broker live and a controller", |m| {
                m.brokers.len() == 3 && m.controller_id.0 >= 0
            });
        }
        Cluster {
            brokers,
            keystores,
            trust,
            clients,
        }
    }

    /// librdkafka settings for the admin user over SASL_SSL/SCRAM-SHA-512.
    fn client_config(&self) -> String {
        format!(
            r#"{{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "admin", "sasl.password": "admin-secret", "ssl.ca.location": "{}"}}"#,
            self.trust.display()
        )
    }

    fn bootstrap(&self) -> String {
        self.clients.join(",")
    }

    /// secure_cluster.py over the CLIENT listeners; its stdout.
    fn python(&self, args: &[&str]) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/secure_cluster.py");
        let out = run_with_timeout(
            Command::new(python())
                .arg(script)
                .arg(self.bootstrap())
                .args(args)
                .env("EDDY_CLIENT_CONFIG", self.client_config()),
            None,
            Duration::from_secs(120),
        );
        assert!(
            out.status.success(),
            "secure_cluster.py {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The partition's leader and sorted ISR, over SASL_SSL.
    fn describe(&self) -> Option<(i32, Vec<i32>)> {
        let out = self.python(&["describe", TOPIC]);
        let line = out.trim();
        let rest = line.strip_prefix("leader=")?;
        let (leader, isr) = rest.split_once(" isr=")?;
        let isr = isr
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().ok())
            .collect::<Option<Vec<i32>>>()?;
        Some((leader.parse().ok()?, isr))
    }

    /// Waits (bounded) until the partition's state satisfies `ok`.
    fn wait_state(&self, what: &str, ok: impl Fn(i32, &[i32]) -> bool) -> (i32, Vec<i32>) {
        eventually(
            what,
            Duration::from_secs(90),
            Duration::from_millis(300),
            || match self.describe() {
                Some((l, isr)) if ok(l, &isr) => Ok((l, isr)),
                other => Err(format!("{other:?}")),
            },
        )
        .unwrap_or_else(|e| {
            let logs: Vec<String> = self.brokers.iter().map(TestBroker::log).collect();
            panic!("{e}\nlogs:\n{}", logs.join("\n-----\n"))
        })
    }
}

#[test]
fn scram_over_tls_between_brokers_survives_kill_9_and_a_wrong_password_stays_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::start(dir.path());
    assert_eq!(c.python(&["create", TOPIC]).trim(), "ok");
    let (leader, _) = c.wait_state("secure-fo fully in sync over SASL_SSL", |l, isr| {
        l >= 0 && isr == [0, 1, 2]
    });
    let leader = leader as usize;
    // No log check here: a follower may try a leader that has not applied the brokers' SCRAM
    // credential from the metadata log yet (a busy machine), and then retries; the ISR above is
    // the proof that every broker authenticated.

    // kill -9 of the leader under an acks=all producer over SASL_SSL.
    let total = 30_000;
    let mut producer = CrashProducer::start_with(&c.bootstrap(), TOPIC, total, &c.client_config());
    producer.wait_acked(3_000);
    c.brokers[leader].kill9();
    let acked_at_kill = producer.acked_count();
    c.wait_state("a new leader", |l, _| l >= 0 && l != leader as i32);
    c.brokers[leader].launch();
    let (status, err) = producer.finish(Duration::from_secs(120), "after the failover");
    assert!(status.success(), "producer failed: {err}");
    assert!(acked_at_kill < total, "the kill landed mid-stream");
    let acked = producer.acked();
    assert_eq!(acked.len(), total, "every record was acknowledged");
    // The restarted broker authenticates again and catches up into the ISR.
    c.brokers[leader].wait_ready();
    c.wait_state("the restarted broker back in the ISR", |_, isr| {
        isr == [0, 1, 2]
    });

    let consumed: Vec<u64> = c
        .python(&["consume", TOPIC, &total.to_string()])
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(
        consumed == (0..total as u64).collect::<Vec<_>>(),
        "lost, duplicated or reordered: {} records consumed over SASL_SSL",
        consumed.len()
    );

    // A follower restarted with a wrong inter-broker password does not rejoin the ISR.
    let (now_leader, _) = c.describe().unwrap();
    let bad = (0..3).find(|&i| i as i32 != now_leader).unwrap();
    c.brokers[bad].stop();
    c.wait_state("the stopped follower out of the ISR", |_, isr| {
        isr.len() == 2 && !isr.contains(&(bad as i32))
    });
    let wrong = settings(&c.keystores[bad], &c.trust, "wrong-password");
    c.brokers[bad].settings = wrong;
    c.brokers[bad].spawn();
    eventually(
        "the bad broker logs why it cannot replicate (twice: it retries with backoff)",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || c.brokers[bad].log().matches(AUTH_FAILED).count() >= 2,
    )
    .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", c.brokers[bad].log()));
    let log = c.brokers[bad].log();
    assert!(
        log.contains("SCRAM-SHA-512") && log.contains("\"broker\""),
        "the log names the mechanism and user:\n{log}"
    );
    // The others keep working: acks=all with min.insync.replicas=2 succeeds without it.
    let more = 2_000;
    let mut producer = CrashProducer::start_with(&c.bootstrap(), TOPIC, more, &c.client_config());
    let (status, err) = producer.finish(Duration::from_secs(120), "with the bad broker up");
    assert!(status.success(), "producer failed: {err}");
    let (_, isr) = c.describe().unwrap();
    assert!(
        isr.len() == 2 && !isr.contains(&(bad as i32)),
        "the broker with the wrong password is not in the ISR: {isr:?}"
    );
    for b in &mut c.brokers {
        b.stop();
    }
}
