#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! SSL listeners with real clients: kcat, confluent-kafka, kafka-python and KafkaJS over TLS;
//! client certificates (required, untrusted, expired, missing) and the principal they give;
//! a stalled handshake; certificate rotation under a running producer; refused settings.

#[path = "common/certs.rs"]
mod certs;
mod common;

use certs::{Spec, TestCa};
use common::{CrashProducer, TestBroker, free_port, run_python, run_with_timeout};
use eddy_broker::security::tls::principal::serial_of;
use eddy_test_support::eventually;
use rcgen::DnType;
use std::collections::BTreeSet;
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// A broker with a PLAINTEXT listener (for checks) and an SSL listener, its CA and files.
struct SslBroker {
    b: TestBroker,
    ssl_port: u16,
    ca: TestCa,
    ca_path: PathBuf,
    keystore: PathBuf,
    dir: tempfile::TempDir,
}

impl SslBroker {
    fn start(settings: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("Eddy test CA");
        let ca_path = ca.write(dir.path());
        let keystore = ca.issue(&Spec::server(1)).write(dir.path(), "server");
        let ssl_port = free_port();
        let mut all = vec![
            format!("ssl.keystore.location={}", keystore.display()),
            format!("ssl.truststore.location={}", ca_path.display()),
            "group.initial.rebalance.delay.ms=0".to_string(),
        ];
        all.extend(settings.iter().map(ToString::to_string));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let mut b = TestBroker::new(&all, Vec::new());
        b.extra_listeners
            .push(format!("SSL://127.0.0.1:{ssl_port}"));
        b.spawn();
        SslBroker {
            b,
            ssl_port,
            ca,
            ca_path,
            keystore,
            dir,
        }
    }

    fn ssl_bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.ssl_port)
    }

    fn ca(&self) -> &str {
        self.ca_path.to_str().unwrap()
    }

    /// Issues a client certificate; returns (cert, key) paths.
    fn client_cert(&self, ca: &TestCa, spec: &Spec<'_>, name: &str) -> (String, String) {
        ca.issue(spec).write(self.dir.path(), name);
        let p = |ext: &str| {
            self.dir
                .path()
                .join(format!("{name}.{ext}"))
                .display()
                .to_string()
        };
        (p("crt"), p("key"))
    }

    /// Records in `topic`, counted over the PLAINTEXT listener.
    fn count(&self, topic: &str) -> u64 {
        let out = run_python("tls_clients.py", &self.b.bootstrap(), &["count", topic]);
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }
}

/// The serial of the certificate a new TLS connection to `port` is shown (verified against
/// `ca_pem`, as a client would).
fn server_serial(port: u16, ca_pem: &str) -> Result<String, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(c.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut sock = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    for _ in 0..100 {
        if !conn.is_handshaking() {
            break;
        }
        conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    }
    let der = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no server certificate")?;
    serial_of(der).map_err(|e| e.to_string())
}

fn kcat_ssl(s: &SslBroker, args: &[&str], input: Option<&[u8]>) -> String {
    let ca = format!("ssl.ca.location={}", s.ca());
    let mut all = vec!["-X", "security.protocol=ssl", "-X", &ca];
    all.extend_from_slice(args);
    kcat_at(s, &s.ssl_bootstrap(), &all, input)
}

/// kcat against `bootstrap` (one of `s`'s listeners); panics with the broker's log if it fails.
fn kcat_at(s: &SslBroker, bootstrap: &str, args: &[&str], input: Option<&[u8]>) -> String {
    let out = run_with_timeout(
        Command::new("kcat").arg("-b").arg(bootstrap).args(args),
        input,
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "kcat {args:?} failed: {}\n{}\nbroker log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        s.b.log()
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn kcat_produces_and_consumes_over_ssl() {
    let s = SslBroker::start(&[]);
    kcat_ssl(
        &s,
        &["-P", "-t", "tls-kcat", "-K:"],
        Some(b"k1:v1\nk2:v2\nk3:v3\n"),
    );
    let out = kcat_ssl(
        &s,
        &["-C", "-t", "tls-kcat", "-e", "-f", "%k|%s|%o\n"],
        None,
    );
    assert_eq!(out, "k1|v1|0\nk2|v2|1\nk3|v3|2\n");
    assert_eq!(s.count("tls-kcat"), 3, "the same records over PLAINTEXT");
}

/// Batches large enough to be sent from the segment files: over TLS they are read and
/// encrypted (no sendfile), over PLAINTEXT they go by sendfile; both reads are the same.
#[test]
fn large_batches_read_the_same_over_ssl_and_by_sendfile_over_plaintext() {
    let s = SslBroker::start(&[]);
    let value = "v".repeat(20_000);
    let input: String = (0..200).map(|i| format!("k{i}:{i}-{value}\n")).collect();
    kcat_ssl(&s, &["-P", "-t", "tls-big", "-K:"], Some(input.as_bytes()));
    let consume = ["-C", "-t", "tls-big", "-e", "-f", "%k|%s|%o\n"];
    let over_ssl = kcat_ssl(&s, &consume, None);
    let expected: String = (0..200)
        .map(|i| format!("k{i}|{i}-{value}|{i}\n"))
        .collect();
    assert!(over_ssl == expected, "every record read back over SSL");
    let sent = "eddy_fetch_sendfile_bytes_total";
    assert_eq!(
        common::metric_value(s.b.admin_port, sent),
        0.0,
        "nothing sent by sendfile over TLS"
    );
    let over_plaintext = kcat_at(&s, &s.b.bootstrap(), &consume, None);
    assert!(
        over_plaintext == expected,
        "the same records over PLAINTEXT"
    );
    assert!(
        common::metric_value(s.b.admin_port, sent) >= 200.0 * 20_000.0,
        "sent by sendfile over PLAINTEXT: {}",
        common::metric_value(s.b.admin_port, sent)
    );
}

#[test]
fn confluent_kafka_and_kafka_python_round_trip_over_ssl() {
    let s = SslBroker::start(&[]);
    for (mode, topic) in [("confluent", "tls-confluent"), ("kafka-python", "tls-kpy")] {
        let out = run_python("tls_clients.py", &s.ssl_bootstrap(), &[mode, topic, s.ca()]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "ok 100",
            "{mode}"
        );
    }
}

#[test]
fn kafkajs_round_trips_over_ssl() {
    let s = SslBroker::start(&[]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/js");
    assert!(
        dir.join("node_modules/kafkajs").exists(),
        "run scripts/install-test-deps.sh (npm ci)"
    );
    let out = run_with_timeout(
        Command::new("node")
            .arg(dir.join("roundtrip.js"))
            .arg(s.ssl_bootstrap())
            .arg("tls-js")
            .env("EDDY_SSL_CA", s.ca())
            .current_dir(&dir),
        None,
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "kafkajs failed:\n{}\n{}\nbroker log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        s.b.log()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok 50");
}

#[test]
fn client_certificates_are_required_verified_and_name_the_principal() {
    let s = SslBroker::start(&[
        "ssl.client.auth=required",
        "ssl.principal.mapping.rules=RULE:^CN=(.*?),OU=(.*?),O=Eddy$/$1@$2/L,DEFAULT",
    ]);
    let alice = Spec::client(
        vec![
            (DnType::OrganizationName, "Eddy"),
            (DnType::OrganizationalUnitName, "Eng"),
            (DnType::CommonName, "Alice"),
        ],
        11,
    );
    let (cert, key) = s.client_cert(&s.ca, &alice, "alice");
    let out = run_python(
        "tls_clients.py",
        &s.ssl_bootstrap(),
        &["confluent", "mtls-ok", s.ca(), &cert, &key],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok 100");
    assert!(
        s.b.log().contains("User:alice@eng"),
        "the connection runs as the mapped subject; log:\n{}",
        s.b.log()
    );

    let untrusted_ca = TestCa::new("Untrusted CA");
    let untrusted = s.client_cert(
        &untrusted_ca,
        &Spec::client(vec![(DnType::CommonName, "mallory")], 12),
        "mallory",
    );
    let mut old = Spec::client(vec![(DnType::CommonName, "old")], 13);
    old.expired = true;
    let expired = s.client_cert(&s.ca, &old, "old");
    let cases: [(&str, Option<(String, String)>); 3] = [
        ("mtls-none", None),
        ("mtls-untrusted", Some(untrusted)),
        ("mtls-expired", Some(expired)),
    ];
    for (topic, cert) in cases {
        let mut args = vec!["expect-failure", topic, s.ca()];
        if let Some((c, k)) = &cert {
            args.push(c);
            args.push(k);
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/tls_clients.py");
        let out = run_with_timeout(
            Command::new(common::python())
                .arg(script)
                .arg(s.ssl_bootstrap())
                .args(&args),
            None,
            Duration::from_secs(60),
        );
        assert!(
            out.status.success(),
            "{topic}: the client must report an SSL error:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(s.count(topic), 0, "{topic}: nothing was written");
    }
    assert!(
        s.b.log()
            .contains("closing connection: tls handshake failed"),
        "refused handshakes are logged"
    );
}

#[test]
fn a_stalled_handshake_closes_only_its_own_connection() {
    let s = SslBroker::start(&["ssl.handshake.timeout.ms=1000"]);
    let mut stalled = TcpStream::connect(("127.0.0.1", s.ssl_port)).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // Meanwhile other clients are served.
    let ca_pem = std::fs::read_to_string(&s.ca_path).unwrap();
    server_serial(s.ssl_port, &ca_pem).expect("a concurrent handshake completes");
    let mut buf = [0u8; 16];
    let n = stalled
        .read(&mut buf)
        .expect("the broker closes the stalled connection");
    assert_eq!(n, 0, "closed without a byte");
    eventually(
        "the stalled handshake logged",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || s.b.log().contains("tls handshake did not finish within"),
    )
    .unwrap();
}

#[test]
fn a_rotated_certificate_is_served_without_losing_acknowledged_records() {
    let s = SslBroker::start(&["ssl.reload.interval.ms=300"]);
    let ca_pem = std::fs::read_to_string(&s.ca_path).unwrap();
    let before = server_serial(s.ssl_port, &ca_pem).unwrap();
    let config = format!(
        r#"{{"security.protocol": "SSL", "ssl.ca.location": "{}"}}"#,
        s.ca()
    );
    let total = 60_000;
    let mut producer = CrashProducer::start_with(&s.ssl_bootstrap(), "rotate", total, &config);
    producer.wait_acked(2_000);

    // Rotate as a Secret update does: the new file replaces the old one in one step.
    let next = s.ca.issue(&Spec::server(2));
    let tmp = s.dir.path().join("server.pem.new");
    std::fs::write(&tmp, next.keystore_pem()).unwrap();
    std::fs::rename(&tmp, &s.keystore).unwrap();
    let new_serial = serial_of(&next.der).unwrap();
    assert_ne!(new_serial, before);
    eventually(
        "a new connection sees the new certificate",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || {
            server_serial(s.ssl_port, &ca_pem)
                .ok()
                .filter(|s| *s == new_serial)
        },
    )
    .unwrap();
    let at_rotation = producer.acked_count();
    assert!(
        at_rotation < total,
        "the producer still runs when the new certificate is served"
    );

    let (status, err) = producer.finish(Duration::from_secs(120), "after the rotation");
    assert!(status.success(), "producer failed: {err}");
    let acked: BTreeSet<u64> = producer.acked().into_iter().collect();
    assert_eq!(acked.len(), total, "every record acknowledged");
    let out = run_with_timeout(
        Command::new("kcat")
            .arg("-b")
            .arg(s.b.bootstrap())
            .args(["-C", "-t", "rotate", "-e", "-f", "%s\n"]),
        None,
        Duration::from_secs(60),
    );
    let read: BTreeSet<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let missing: Vec<_> = acked.difference(&read).take(5).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not read back: {missing:?}"
    );
    assert!(s.b.log().contains("new handshakes use the new certificate"));
}

#[test]
fn unsupported_tls_settings_refuse_the_start() {
    for (setting, expect) in [
        ("ssl.keystore.type=JKS", "JKS key stores are not supported"),
        ("ssl.key.password=secret", "encrypted keys"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("CA");
        let keystore = ca.issue(&Spec::server(1)).write(dir.path(), "server");
        let ks = format!("ssl.keystore.location={}", keystore.display());
        let mut b = TestBroker::new(&[&ks, setting], Vec::new());
        b.extra_listeners
            .push(format!("SSL://127.0.0.1:{}", free_port()));
        b.launch();
        let exited = eventually(
            "the broker refuses to start",
            Duration::from_secs(20),
            Duration::from_millis(50),
            || b.child.as_mut().unwrap().try_wait().unwrap(),
        )
        .unwrap();
        assert!(!exited.success());
        assert!(b.log().contains(expect), "{setting}: log:\n{}", b.log());
    }
}
