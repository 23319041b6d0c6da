#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Real clients against the broker's security features together (issue 14): SASL_SSL with
//! SCRAM-SHA-512 for kcat, confluent-kafka, kafka-python and KafkaJS (produce, a consumer group,
//! admin calls, Kafka's authentication failures); the SASL_PLAINTEXT SCRAM-SHA-256 and PLAIN
//! round trips sasl.rs leaves out; ACLs for SCRAM users through confluent-kafka's AdminClient;
//! user quotas holding a SASL user's producers to their rate while another user is not slowed.

#[path = "common/certs.rs"]
mod certs;
mod common;
mod wire;

use certs::{Spec, TestCa};
use common::{TestBroker, free_port, run_python, run_with_timeout};
use eddy_test_support::eventually;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const ADMIN: &str = "SCRAM-SHA-512=[name=admin,password=admin-secret]";
const ALICE: &str = "SCRAM-SHA-512=[name=alice,password=alice-secret]";
const ALICE_256: &str = "SCRAM-SHA-256=[name=alice,password=alice-secret]";
const BOB: &str = "SCRAM-SHA-512=[name=bob,password=bob-secret]";
/// What Kafka answers a failed SCRAM-SHA-512 authentication with (SASL_AUTHENTICATION_FAILED).
const SCRAM_512_FAILED: &str = "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512";
const AUTHORIZER: &str =
    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// A broker with a PLAINTEXT listener, a SASL listener (`SASL_SSL` with a server certificate
/// from a fresh rcgen CA, or `SASL_PLAINTEXT`) and the SCRAM users admin, alice (SHA-512 and
/// SHA-256) and bob; PLAIN checks the same credentials.
struct SecBroker {
    b: TestBroker,
    sasl: String,
    protocol: &'static str,
    /// The CA's PEM file (SASL_SSL), else None.
    ca: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl SecBroker {
    fn start(protocol: &'static str, settings: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut all = vec!["group.initial.rebalance.delay.ms=0".to_string()];
        let ca = (protocol == "SASL_SSL").then(|| {
            let ca = TestCa::new("Eddy security test CA");
            let ca_path = ca.write(dir.path());
            let keystore = ca.issue(&Spec::server(1)).write(dir.path(), "server");
            all.push(format!("ssl.keystore.location={}", keystore.display()));
            ca_path
        });
        all.extend(settings.iter().map(ToString::to_string));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let args = [ADMIN, ALICE, ALICE_256, BOB]
            .iter()
            .flat_map(|c| ["--add-scram".to_string(), (*c).to_string()])
            .collect();
        let mut b = TestBroker::new(&all, args);
        let port = free_port();
        b.extra_listeners
            .push(format!("{protocol}://127.0.0.1:{port}"));
        b.spawn();
        SecBroker {
            b,
            sasl: format!("127.0.0.1:{port}"),
            protocol,
            ca,
            _dir: dir,
        }
    }

    fn ca(&self) -> &str {
        self.ca.as_deref().map_or("-", |p| p.to_str().unwrap())
    }

    /// kcat on the SASL listener as `user`.
    fn kcat(
        &self,
        mechanism: &str,
        user: &str,
        password: &str,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> Output {
        let mut cmd = Command::new("kcat");
        cmd.args(["-b", &self.sasl, "-X"])
            .arg(format!("security.protocol={}", self.protocol))
            .arg("-X")
            .arg(format!("sasl.mechanisms={mechanism}"))
            .arg("-X")
            .arg(format!("sasl.username={user}"))
            .arg("-X")
            .arg(format!("sasl.password={password}"));
        if let Some(ca) = &self.ca {
            cmd.arg("-X")
                .arg(format!("ssl.ca.location={}", ca.display()));
        }
        run_with_timeout(cmd.args(args), input, Duration::from_secs(60))
    }

    /// `sec_clients.py MODE LIB ...` on the SASL listener; its stdout, trimmed.
    fn python(&self, mode: &str, lib: &str, mechanism: &str, user: &str, password: &str) -> String {
        self.python_topic(mode, lib, mechanism, user, password, "")
    }

    fn python_topic(
        &self,
        mode: &str,
        lib: &str,
        mechanism: &str,
        user: &str,
        password: &str,
        topic: &str,
    ) -> String {
        let mut args = vec![
            mode,
            lib,
            self.protocol,
            mechanism,
            user,
            password,
            self.ca(),
        ];
        if !topic.is_empty() {
            args.push(topic);
        }
        let out = run_python("sec_clients.py", &self.sasl, &args);
        stdout(&out).trim().to_string()
    }

    /// `js/sec.js` on the SASL listener; its stdout, trimmed (the run must succeed).
    fn kafkajs(&self, mechanism: &str, user: &str, password: &str, topic: &str) -> String {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/js");
        assert!(
            dir.join("node_modules/kafkajs").exists(),
            "run scripts/install-test-deps.sh (npm ci)"
        );
        let mut cmd = Command::new("node");
        cmd.arg(dir.join("sec.js"))
            .args([self.sasl.as_str(), mechanism, user, password, topic])
            .current_dir(&dir);
        if let Some(ca) = &self.ca {
            cmd.env("EDDY_SSL_CA", ca);
        }
        let out = run_with_timeout(&mut cmd, None, Duration::from_secs(120));
        assert!(
            out.status.success(),
            "kafkajs {mechanism} {user} {topic}: {}\nbroker log:\n{}",
            all_output(&out),
            self.b.log()
        );
        stdout(&out).trim().to_string()
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Waits (bounded) until the broker's log has `text`.
fn log_shows(b: &TestBroker, text: &str) -> bool {
    eventually(
        text,
        Duration::from_secs(10),
        Duration::from_millis(50),
        || b.log().contains(text),
    )
    .is_ok()
}

#[test]
fn kcat_over_sasl_ssl_with_scram_sha_512() {
    let s = SecBroker::start("SASL_SSL", &[]);
    let m = "SCRAM-SHA-512";
    let out = s.kcat(
        m,
        "alice",
        "alice-secret",
        &["-P", "-t", "ss-kcat", "-K:"],
        Some(b"k1:v1\nk2:v2\nk3:v3\n"),
    );
    assert!(out.status.success(), "{}\n{}", all_output(&out), s.b.log());
    let out = s.kcat(
        m,
        "alice",
        "alice-secret",
        &[
            "-G",
            "ss-kcat-group",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%k=%s\n",
            "ss-kcat",
        ],
        None,
    );
    for kv in ["k1=v1", "k2=v2", "k3=v3"] {
        assert!(
            stdout(&out).contains(kv),
            "the group consumer missed {kv}: {}\n{}",
            all_output(&out),
            s.b.log()
        );
    }
    // Metadata (kcat's admin call): the topic, and the SASL_SSL listener as the broker address.
    let out = s.kcat(m, "alice", "alice-secret", &["-L"], None);
    let listing = stdout(&out);
    assert!(
        listing.contains("topic \"ss-kcat\"") && listing.contains(&s.sasl),
        "{}",
        all_output(&out)
    );
    for (user, password) in [("alice", "wrong"), ("ghost", "x")] {
        let out = s.kcat(m, user, password, &["-L"], None);
        assert!(!out.status.success(), "{user} was let in");
        assert!(
            all_output(&out).contains(SCRAM_512_FAILED),
            "{user}: {}",
            all_output(&out)
        );
    }
    assert!(log_shows(&s.b, "SASL authentication succeeded"));
}

#[test]
fn python_clients_over_sasl_ssl_with_scram_sha_512() {
    let s = SecBroker::start("SASL_SSL", &[]);
    let m = "SCRAM-SHA-512";
    for (lib, topic) in [("confluent", "ss-confluent"), ("kafka-python", "ss-kpy")] {
        let got = s.python_topic("roundtrip", lib, m, "alice", "alice-secret", topic);
        assert_eq!(got, "ok 20", "{lib}\nbroker log:\n{}", s.b.log());
    }
    for (user, password) in [("alice", "wrong"), ("ghost", "x")] {
        let got = s.python("login", "confluent", m, user, password);
        assert!(
            got.starts_with("error:") && got.contains(SCRAM_512_FAILED),
            "confluent {user}: {got}"
        );
        // kafka-python 2.0 sends SCRAM in pre-KIP-43 framing, where Kafka can only close the
        // connection: the client gives up without Kafka's message.
        let got = s.python("login", "kafka-python", m, user, password);
        assert!(got.starts_with("error:"), "kafka-python {user}: {got}");
    }
    assert!(
        log_shows(&s.b, "SCRAM-SHA-512 authentication failed"),
        "{}",
        s.b.log()
    );
}

#[test]
fn kafkajs_over_sasl_ssl_with_scram_sha_512() {
    let s = SecBroker::start("SASL_SSL", &[]);
    assert_eq!(
        s.kafkajs("scram-sha-512", "alice", "alice-secret", "ss-js"),
        "ok 20"
    );
    for (user, password) in [("alice", "wrong"), ("ghost", "x")] {
        let got = s.kafkajs("scram-sha-512", user, password, "--login");
        assert!(
            got.starts_with("error:") && got.contains(SCRAM_512_FAILED),
            "{user}: {got}"
        );
    }
}

/// The SASL_PLAINTEXT round trips sasl.rs does not run: kafka-python with SCRAM-SHA-256,
/// KafkaJS with SCRAM-SHA-256 and PLAIN (sasl.rs only logs in with those), confluent-kafka's
/// admin calls with each mechanism.
#[test]
fn sasl_plaintext_scram_sha_256_and_plain_round_trips() {
    let s = SecBroker::start("SASL_PLAINTEXT", &[]);
    for (lib, mechanism, topic) in [
        ("kafka-python", "SCRAM-SHA-256", "sp-kpy-256"),
        ("kafka-python", "PLAIN", "sp-kpy-plain"),
        ("confluent", "SCRAM-SHA-256", "sp-c-256"),
        ("confluent", "PLAIN", "sp-c-plain"),
    ] {
        let got = s.python_topic("roundtrip", lib, mechanism, "alice", "alice-secret", topic);
        assert_eq!(
            got,
            "ok 20",
            "{lib} {mechanism}\nbroker log:\n{}",
            s.b.log()
        );
    }
    for (mechanism, topic) in [("scram-sha-256", "sp-js-256"), ("plain", "sp-js-plain")] {
        assert_eq!(
            s.kafkajs(mechanism, "alice", "alice-secret", topic),
            "ok 20",
            "{mechanism}"
        );
    }
    // A wrong password: Kafka's message names the mechanism.
    let got = s.kafkajs("scram-sha-256", "alice", "wrong", "--login");
    assert!(
        got.contains("invalid credentials with SASL mechanism SCRAM-SHA-256"),
        "{got}"
    );
    let got = s.python("login", "confluent", "PLAIN", "alice", "wrong");
    assert!(got.contains("Authentication failed"), "{got}");
}

fn sb(s: &str) -> kafka_protocol::protocol::StrBytes {
    kafka_protocol::protocol::StrBytes::from_string(s.to_string())
}

/// A wire connection to a SASL listener, logged in with PLAIN (the principal of a SCRAM user:
/// PLAIN checks the stored SCRAM credential).
fn wire_as(sasl: &str, user: &str, password: &str) -> wire::Wire {
    use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
    let mut w = wire::Wire::connect(sasl);
    let hs = w.call(
        &SaslHandshakeRequest::default().with_mechanism(sb("PLAIN")),
        1,
    );
    assert_eq!(hs.error_code, 0);
    let auth = w.call(
        &SaslAuthenticateRequest::default()
            .with_auth_bytes(format!("\0{user}\0{password}").into_bytes().into()),
        2,
    );
    assert_eq!(auth.error_code, 0, "{user}: {:?}", auth.error_message);
    w
}

/// AlterClientQuotas setting `producer_byte_rate` for `entity` ((type, name) parts) over `w`;
/// the entry's error code.
fn alter_quota(w: &mut wire::Wire, entity: &[(&str, &str)], rate: f64) -> i16 {
    use kafka_protocol::messages::AlterClientQuotasRequest;
    use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
    let entry = EntryData::default()
        .with_entity(
            entity
                .iter()
                .map(|(t, n)| {
                    EntityData::default()
                        .with_entity_type(sb(t))
                        .with_entity_name(Some(sb(n)))
                })
                .collect(),
        )
        .with_ops(vec![
            OpData::default()
                .with_key(sb("producer_byte_rate"))
                .with_value(rate),
        ]);
    let resp = w.call(
        &AlterClientQuotasRequest::default().with_entries(vec![entry]),
        1,
    );
    resp.entries[0].error_code
}

/// DescribeClientQuotas of everything over `w`: the top-level error code.
fn describe_quotas_error(w: &mut wire::Wire) -> i16 {
    use kafka_protocol::messages::DescribeClientQuotasRequest;
    w.call(&DescribeClientQuotasRequest::default(), 1)
        .error_code
}

const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;

#[test]
fn acls_for_scram_users_through_the_admin_client() {
    let s = SecBroker::start(
        "SASL_PLAINTEXT",
        &[
            AUTHORIZER,
            "super.users=User:admin",
            "allow.everyone.if.no.acl.found=false",
        ],
    );
    let out = run_python("sec_acl.py", &s.sasl, &[]);
    assert!(
        stdout(&out).contains("acl: ok"),
        "{}\nbroker log:\n{}",
        all_output(&out),
        s.b.log()
    );
    // The quota APIs (the Python clients here have no quota calls): alice, not a super user,
    // may neither alter (ALTER_CONFIGS on the cluster) nor describe (DESCRIBE_CONFIGS) them.
    let mut alice = wire_as(&s.sasl, "alice", "alice-secret");
    assert_eq!(
        alter_quota(&mut alice, &[("user", "alice")], 1e9),
        CLUSTER_AUTHORIZATION_FAILED
    );
    assert_eq!(
        describe_quotas_error(&mut alice),
        CLUSTER_AUTHORIZATION_FAILED
    );
    // DescribeUserScramCredentials needs DESCRIBE on the cluster (checked here on the wire:
    // librdkafka 2.6.1 crashes on that response's request-level error message).
    assert_eq!(
        describe_scram_error(&mut alice, "alice"),
        CLUSTER_AUTHORIZATION_FAILED
    );
    let mut admin = wire_as(&s.sasl, "admin", "admin-secret");
    assert_eq!(alter_quota(&mut admin, &[("user", "alice")], 1e9), 0);
    assert_eq!(describe_quotas_error(&mut admin), 0);
    assert_eq!(describe_scram_error(&mut admin, "alice"), 0);
}

/// DescribeUserScramCredentials of `user` over `w`: the top-level error code.
fn describe_scram_error(w: &mut wire::Wire, user: &str) -> i16 {
    use kafka_protocol::messages::DescribeUserScramCredentialsRequest;
    use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
    let req = DescribeUserScramCredentialsRequest::default()
        .with_users(Some(vec![UserName::default().with_name(sb(user))]));
    w.call(&req, 0).error_code
}

/// Rates are measured as in quota.rs: over 22 s after a 12 s warm-up, two whole sampled spans
/// (Kafka's sampled rate lets a throttled client send a span's worth in one burst when its
/// oldest big sample expires, so acknowledged bytes grow as a staircase with an 11 s period).
#[test]
fn user_quotas_hold_a_sasl_users_producers_while_another_user_is_not_slowed() {
    const MB: f64 = 1_048_576.0;
    let s = SecBroker::start("SASL_PLAINTEXT", &[]);
    let mut admin = wire_as(&s.sasl, "admin", "admin-secret");
    assert_eq!(alter_quota(&mut admin, &[("user", "alice")], MB), 0);
    assert_eq!(
        alter_quota(
            &mut admin,
            &[("user", "alice"), ("client-id", "capped")],
            MB / 2.0
        ),
        0
    );
    let out = run_python("sec_quota.py", &s.sasl, &["12", "22"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("user quotas: {r}");
    for (client, limit) in [("a1", MB), ("capped", MB / 2.0)] {
        let got = r[client]["rate"].as_f64().unwrap();
        assert!(
            (got - limit).abs() <= 0.1 * limit,
            "alice's {client} ran at {got:.0} B/s over 22 s, not {limit:.0} B/s ± 10 %: {r}"
        );
        assert!(
            r[client]["throttles"].as_u64().unwrap() > 0,
            "alice's {client} saw no throttle time: {r}"
        );
    }
    let bob = r["bob"]["rate"].as_f64().unwrap();
    assert!(bob >= 3.0 * MB, "bob was slowed: {r}");
    assert_eq!(r["bob"]["throttles"].as_u64().unwrap(), 0, "{r}");
}
