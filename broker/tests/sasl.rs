#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! SASL over SASL_PLAINTEXT with real clients (kcat, confluent-kafka, kafka-python, KafkaJS):
//! SCRAM-SHA-512/256 and PLAIN round trips in consumer groups, Kafka's failures for a wrong
//! password and an unknown user, users created and described with the AdminClient, credentials
//! kept across a restart, silent/garbage/unauthenticated connections closed while others keep
//! working, re-authentication (KIP-368) on the wire and with librdkafka, pre-KIP-43 framing,
//! and a credential created on one broker of a cluster used on the others.

mod cluster_support;
mod common;
mod wire;

use common::{TestBroker, free_port, run_python, run_with_timeout};
use eddy_test_support::eventually;
use kafka_protocol::messages::{
    ApiVersionsRequest, MetadataRequest, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::StrBytes;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use wire::Wire;

const ADMIN: &str = "SCRAM-SHA-512=[name=admin,password=admin-secret]";
const ADMIN_256: &str = "SCRAM-SHA-256=[name=admin,password=admin-secret]";
const JAAS: &str = r#"listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret" user_bob="bob-secret";"#;

/// A broker with a PLAINTEXT listener and a SASL_PLAINTEXT one, the bootstrap admin user
/// (SCRAM-SHA-512 and -256) and the JAAS PLAIN users alice and bob. Returns it and the SASL
/// listener's address.
fn sasl_broker(settings: &[&str]) -> (TestBroker, String) {
    let mut all = vec![JAAS, "group.initial.rebalance.delay.ms=0"];
    all.extend_from_slice(settings);
    let mut b = TestBroker::new(
        &all,
        vec![
            "--add-scram".into(),
            ADMIN.into(),
            "--add-scram".into(),
            ADMIN_256.into(),
        ],
    );
    let port = free_port();
    b.extra_listeners
        .push(format!("SASL_PLAINTEXT://127.0.0.1:{port}"));
    b.spawn();
    (b, format!("127.0.0.1:{port}"))
}

fn kcat(
    sasl: &str,
    mechanism: &str,
    user: &str,
    password: &str,
    args: &[&str],
    input: Option<&[u8]>,
) -> std::process::Output {
    run_with_timeout(
        Command::new("kcat")
            .args(["-b", sasl, "-X", "security.protocol=SASL_PLAINTEXT"])
            .arg("-X")
            .arg(format!("sasl.mechanisms={mechanism}"))
            .arg("-X")
            .arg(format!("sasl.username={user}"))
            .arg("-X")
            .arg(format!("sasl.password={password}"))
            .args(args),
        input,
        Duration::from_secs(60),
    )
}

/// Waits (bounded) until the broker's log has `text`: a connection's close is logged right
/// after its socket is closed, so a client may see the close first.
fn log_shows(b: &TestBroker, text: &str) -> bool {
    eventually(
        text,
        Duration::from_secs(10),
        Duration::from_millis(50),
        || b.log().contains(text),
    )
    .is_ok()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn kcat_produces_and_consumes_in_a_group_with_each_mechanism() {
    let (b, sasl) = sasl_broker(&[]);
    let out = kcat(
        &sasl,
        "SCRAM-SHA-512",
        "admin",
        "admin-secret",
        &["-P", "-t", "kc", "-K:"],
        Some(b"k1:v1\nk2:v2\nk3:v3\n"),
    );
    assert!(out.status.success(), "{}\n{}", all_output(&out), b.log());
    let out = kcat(
        &sasl,
        "SCRAM-SHA-512",
        "admin",
        "admin-secret",
        &[
            "-G",
            "kcat-group",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%k=%s\n",
            "kc",
        ],
        None,
    );
    let got = stdout(&out);
    for kv in ["k1=v1", "k2=v2", "k3=v3"] {
        assert!(
            got.contains(kv),
            "group consumer missed {kv}: {}\n{}",
            all_output(&out),
            b.log()
        );
    }
    let out = kcat(
        &sasl,
        "SCRAM-SHA-256",
        "admin",
        "admin-secret",
        &["-C", "-t", "kc", "-e", "-f", "%s\n"],
        None,
    );
    assert_eq!(stdout(&out), "v1\nv2\nv3\n", "{}", all_output(&out));
    // PLAIN: a JAAS user, and a SCRAM user (checked against its stored credential).
    for (user, password) in [("alice", "alice-secret"), ("admin", "admin-secret")] {
        let out = kcat(&sasl, "PLAIN", user, password, &["-L", "-t", "kc"], None);
        assert!(
            out.status.success() && stdout(&out).contains("topic \"kc\""),
            "{user}: {}",
            all_output(&out)
        );
    }
    for (mechanism, user, password) in [
        ("SCRAM-SHA-512", "admin", "wrong"),
        ("SCRAM-SHA-512", "ghost", "x"),
        ("PLAIN", "alice", "wrong"),
    ] {
        let out = kcat(&sasl, mechanism, user, password, &["-L"], None);
        assert!(!out.status.success(), "{mechanism} {user} was let in");
        assert!(
            all_output(&out).contains("Authentication failed"),
            "{mechanism} {user}: {}",
            all_output(&out)
        );
    }
    assert!(log_shows(&b, "SASL authentication succeeded"));
}

#[test]
fn python_clients_round_trip_and_see_kafkas_authentication_errors() {
    let (b, sasl) = sasl_broker(&[]);
    for (lib, mechanism, user, password, topic) in [
        (
            "confluent",
            "SCRAM-SHA-512",
            "admin",
            "admin-secret",
            "py-c512",
        ),
        (
            "confluent",
            "SCRAM-SHA-256",
            "admin",
            "admin-secret",
            "py-c256",
        ),
        ("confluent", "PLAIN", "bob", "bob-secret", "py-cplain"),
        (
            "kafka-python",
            "SCRAM-SHA-512",
            "admin",
            "admin-secret",
            "py-k512",
        ),
        (
            "kafka-python",
            "PLAIN",
            "alice",
            "alice-secret",
            "py-kplain",
        ),
    ] {
        let out = run_python(
            "sasl_clients.py",
            &sasl,
            &["roundtrip", lib, mechanism, user, password, topic],
        );
        assert_eq!(
            stdout(&out).trim(),
            "ok 20",
            "{lib} {mechanism}: {}",
            all_output(&out)
        );
    }
    for (user, password) in [("admin", "wrong"), ("nobody", "x")] {
        let out = run_python(
            "sasl_clients.py",
            &sasl,
            &["login", "confluent", "SCRAM-SHA-512", user, password],
        );
        let text = stdout(&out);
        assert!(text.starts_with("error:"), "{user}: {text}");
        assert!(
            text.contains("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"),
            "{user}: {text}"
        );
    }
    // kafka-python 2.0 sends SCRAM tokens in pre-KIP-43 framing (SaslHandshake v0), where Kafka
    // has no way to report the failure but closing the connection: the client gives up.
    let out = run_python(
        "sasl_clients.py",
        &sasl,
        &["login", "kafka-python", "SCRAM-SHA-512", "admin", "wrong"],
    );
    assert!(stdout(&out).starts_with("error:"), "{}", all_output(&out));
    assert!(
        log_shows(
            &b,
            "SCRAM-SHA-512 authentication failed: invalid client proof"
        ),
        "{}",
        b.log()
    );
}

#[test]
fn kafkajs_round_trips_with_scram_and_plain_and_reports_failures() {
    let (b, sasl) = sasl_broker(&[]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/js");
    assert!(
        dir.join("node_modules/kafkajs").exists(),
        "run scripts/install-test-deps.sh (npm ci)"
    );
    let node = |args: &[&str]| {
        let out = run_with_timeout(
            Command::new("node")
                .arg(dir.join("sasl.js"))
                .arg(&sasl)
                .args(args)
                .current_dir(&dir),
            None,
            Duration::from_secs(120),
        );
        assert!(
            out.status.success(),
            "kafkajs {args:?}: {}\nbroker log:\n{}",
            all_output(&out),
            b.log()
        );
        stdout(&out).trim().to_string()
    };
    assert_eq!(
        node(&["scram-sha-512", "admin", "admin-secret", "js-512"]),
        "ok 20"
    );
    assert_eq!(
        node(&["scram-sha-256", "admin", "admin-secret", "--login"]),
        "ok"
    );
    assert_eq!(node(&["plain", "alice", "alice-secret", "--login"]), "ok");
    let wrong = node(&["scram-sha-512", "admin", "wrong", "--login"]);
    assert!(wrong.contains("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"), "{wrong}");
    let unknown = node(&["plain", "ghost", "x", "--login"]);
    assert!(unknown.contains("Authentication failed"), "{unknown}");
}

#[test]
fn admin_created_users_log_in_and_survive_a_restart() {
    let (mut b, sasl) = sasl_broker(&[]);
    let out = run_python(
        "sasl_clients.py",
        &sasl,
        &["create", "admin", "admin-secret", "carol", "carol-secret"],
    );
    assert_eq!(
        stdout(&out).trim(),
        "carol:SCRAM_SHA_512:8192 carol-256:SCRAM_SHA_256:4096 nobody:RESOURCE_NOT_FOUND",
        "{}",
        all_output(&out)
    );
    let logins = |sasl: &str| {
        for (lib, mechanism, user) in [
            ("confluent", "SCRAM-SHA-512", "carol"),
            ("kafka-python", "SCRAM-SHA-256", "carol-256"),
            // PLAIN against the SCRAM credential (users created through the API).
            ("confluent", "PLAIN", "carol"),
        ] {
            let out = run_python(
                "sasl_clients.py",
                sasl,
                &["login", lib, mechanism, user, "carol-secret"],
            );
            assert_eq!(
                stdout(&out).trim(),
                "ok",
                "{lib} {mechanism} {user}: {}",
                all_output(&out)
            );
        }
    };
    logins(&sasl);
    let metadata = std::fs::read_to_string(b.data_dir().join("metadata.json")).unwrap();
    assert!(
        metadata.contains("stored_key") && !metadata.contains("carol-secret"),
        "{metadata}"
    );
    assert!(b.stop(), "graceful stop");
    b.spawn();
    logins(&sasl);
}

/// A SASL handshake and PLAIN authentication on `w` at SaslAuthenticate `version`.
fn plain_login(
    w: &mut Wire,
    user: &str,
    password: &str,
    version: i16,
) -> kafka_protocol::messages::SaslAuthenticateResponse {
    let hs = w.call(
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        1,
    );
    assert_eq!(hs.error_code, 0);
    w.call(
        &SaslAuthenticateRequest::default()
            .with_auth_bytes(format!("\0{user}\0{password}").into_bytes().into()),
        version,
    )
}

#[test]
fn silent_garbage_and_unauthenticated_connections_are_closed_while_others_keep_working() {
    let (b, sasl) = sasl_broker(&["sasl.authentication.timeout.ms=1000"]);
    // Connects and sends nothing: closed after the authentication timeout (well before the
    // 20 s read timeout).
    let mut silent = std::net::TcpStream::connect(&sasl).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // Garbage: an HTTP request, whose first four bytes read as a 1.2 GB frame.
    let mut garbage = std::net::TcpStream::connect(&sasl).unwrap();
    garbage
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // A frame larger than Kafka's sasl.server.max.receive.size before authentication.
    let mut big = std::net::TcpStream::connect(&sasl).unwrap();
    big.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    big.write_all(&(1_000_000i32).to_be_bytes()).unwrap();
    // Metadata before authenticating: ApiVersions is answered, Metadata closes the connection.
    let mut early = Wire::connect(&sasl);
    let versions = early.call(&ApiVersionsRequest::default(), 3);
    assert_eq!(versions.error_code, 0);
    early.send(&MetadataRequest::default(), 12);
    assert!(
        early.try_recv::<MetadataRequest>(12).is_none(),
        "metadata before authentication was answered"
    );
    // Meanwhile an authenticated client works.
    let mut ok = Wire::connect(&sasl);
    assert_eq!(
        plain_login(&mut ok, "alice", "alice-secret", 2).error_code,
        0
    );
    for (name, s) in [
        ("garbage", &mut garbage),
        ("big", &mut big),
        ("silent", &mut silent),
    ] {
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("{name}: expected a close, got {other:?}"),
        }
    }
    assert!(!ok.call(&MetadataRequest::default(), 12).brokers.is_empty());
    let out = kcat(
        &sasl,
        "SCRAM-SHA-512",
        "admin",
        "admin-secret",
        &["-L"],
        None,
    );
    assert!(out.status.success(), "{}", all_output(&out));
    let log = b.log();
    for reason in [
        "no SASL authentication within",
        "before SASL authentication",
        "outside 4..=",
    ] {
        assert!(log_shows(&b, reason), "no log line with {reason:?}:\n{log}");
    }
}

#[test]
fn sessions_expire_and_reauthenticate_as_kip_368_says() {
    let (b, sasl) = sasl_broker(&["connections.max.reauth.ms=1500"]);
    let mut w = Wire::connect(&sasl);
    let auth = plain_login(&mut w, "alice", "alice-secret", 2);
    assert_eq!((auth.error_code, auth.session_lifetime_ms), (0, 1500));
    // v0 has no session lifetime field.
    let mut v0 = Wire::connect(&sasl);
    assert_eq!(
        plain_login(&mut v0, "alice", "alice-secret", 0).error_code,
        0
    );
    // Re-authentication as the same principal is accepted; as another one it fails and closes.
    assert_eq!(
        plain_login(&mut w, "alice", "alice-secret", 2).error_code,
        0
    );
    assert!(!w.call(&MetadataRequest::default(), 12).brokers.is_empty());
    let other = plain_login(&mut w, "bob", "bob-secret", 2);
    assert_eq!(other.error_code, 58, "SASL_AUTHENTICATION_FAILED");
    w.expect_closed();
    // Once the session expired, the next request (not a re-authentication) closes it.
    let mut expiring = Wire::connect(&sasl);
    assert_eq!(
        plain_login(&mut expiring, "alice", "alice-secret", 2).error_code,
        0
    );
    let closed = eventually(
        "the expired session closed",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || {
            expiring.send(&MetadataRequest::default(), 12);
            expiring.try_recv::<MetadataRequest>(12).is_none()
        },
    );
    assert!(closed.is_ok(), "{closed:?}");
    assert!(log_shows(&b, "after the SASL session expired"));
    // librdkafka 2.6 (confluent-kafka) re-authenticates a producer's connections as they expire.
    let out = run_python(
        "sasl_clients.py",
        &sasl,
        &["stream", "admin", "admin-secret", "reauth", "5"],
    );
    assert!(stdout(&out).starts_with("ok "), "{}", all_output(&out));
    assert!(
        log_shows(&b, "SASL re-authentication succeeded"),
        "{}",
        b.log()
    );
}

#[test]
fn pre_kip_43_raw_tokens_after_a_v0_handshake() {
    let (_b, sasl) = sasl_broker(&[]);
    let mut w = Wire::connect(&sasl);
    let hs = w.call(
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        0,
    );
    assert_eq!(hs.error_code, 0);
    assert_eq!(hs.mechanisms.len(), 3);
    w.send_raw(&[&(15i32).to_be_bytes()[..], b"\0bob\0bob-secret"].concat());
    assert_eq!(
        w.recv_raw_frame().map(|f| f.len()),
        Some(0),
        "an empty PLAIN response frame"
    );
    assert!(!w.call(&MetadataRequest::default(), 12).brokers.is_empty());
    // An unknown mechanism: UNSUPPORTED_SASL_MECHANISM with the enabled ones, then closed.
    let mut bad = Wire::connect(&sasl);
    let hs = bad.call(
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("GSSAPI")),
        1,
    );
    assert_eq!(hs.error_code, 33, "UNSUPPORTED_SASL_MECHANISM");
    assert_eq!(hs.mechanisms.len(), 3);
    bad.expect_closed();
}

#[test]
fn a_credential_created_on_one_broker_works_on_the_others() {
    let settings = [JAAS];
    let mut brokers = cluster_support::start_brokers_with(3, &settings, "3000", |b| {
        b.args
            .extend(["--add-scram".to_string(), ADMIN.to_string()]);
        b.extra_listeners
            .push(format!("SASL_PLAINTEXT://127.0.0.1:{}", free_port()));
    });
    let sasl: Vec<String> = brokers
        .iter()
        .map(|b| {
            b.extra_listeners[0]
                .trim_start_matches("SASL_PLAINTEXT://")
                .to_string()
        })
        .collect();
    // Through broker 1's PLAINTEXT listener: in cluster mode a broker registers one endpoint
    // (its first listener), so Metadata on a SASL listener still names the PLAINTEXT ports and
    // the AdminClient could not reach the controller over SASL.
    let out = run_python(
        "sasl_clients.py",
        &brokers[1].bootstrap(),
        &["create", "-", "-", "dave", "dave-secret"],
    );
    assert!(
        stdout(&out).contains("dave:SCRAM_SHA_512:8192"),
        "{}",
        all_output(&out)
    );
    for s in &sasl {
        let ok = eventually(
            "dave logs in",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || {
                let out = run_python(
                    "sasl_clients.py",
                    s,
                    &["login", "confluent", "SCRAM-SHA-512", "dave", "dave-secret"],
                );
                stdout(&out).trim() == "ok"
            },
        );
        assert!(ok.is_ok(), "{s}: {ok:?}");
    }
    for b in &mut brokers {
        b.stop();
    }
}
