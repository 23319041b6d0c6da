#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! The admin HTTP server over TLS (`admin.ssl.enabled`): an HTTPS client trusting the CA reads
//! /readyz and /metrics, plain HTTP gets no answer, a rotated certificate is served, client
//! certificates are asked for when `listener.name.admin.ssl.client.auth=required`; and
//! `controller.listener.names` naming a SASL listener refuses the start.

#[path = "common/certs.rs"]
mod certs;
mod common;

use certs::{Spec, TestCa};
use common::{TestBroker, http_get};
use eddy_broker::security::tls::principal::serial_of;
use eddy_test_support::eventually;
use rcgen::DnType;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(100);

/// A broker whose admin HTTP speaks TLS only, with its CA and files.
struct AdminTls {
    b: TestBroker,
    ca: TestCa,
    keystore: PathBuf,
    dir: tempfile::TempDir,
}

impl AdminTls {
    fn start(settings: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("Eddy admin CA");
        let ca_path = ca.write(dir.path());
        let keystore = ca.issue(&Spec::server(1)).write(dir.path(), "admin");
        let mut all = vec![
            "admin.ssl.enabled=true".to_string(),
            format!(
                "listener.name.admin.ssl.keystore.location={}",
                keystore.display()
            ),
            format!(
                "listener.name.admin.ssl.truststore.location={}",
                ca_path.display()
            ),
            "listener.name.admin.ssl.reload.interval.ms=300".to_string(),
        ];
        all.extend(settings.iter().map(ToString::to_string));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let mut b = TestBroker::new(&all, Vec::new());
        b.launch();
        AdminTls {
            b,
            ca,
            keystore,
            dir,
        }
    }

    /// Waits (bounded) until /readyz answers 200 over HTTPS with `identity`.
    fn wait_ready(&mut self, identity: Option<&certs::Issued>) {
        let port = self.b.admin_port;
        let ca = self.ca.pem.clone();
        let ready = eventually(
            "admin /readyz 200 over https",
            Duration::from_secs(30),
            POLL,
            || {
                if let Some(status) = self.b.child.as_mut().unwrap().try_wait().unwrap() {
                    panic!(
                        "broker exited during start ({status}); log:\n{}",
                        self.b.log()
                    );
                }
                https_get(port, "/readyz", &ca, identity)
                    .ok()
                    .filter(|r| r.status == 200)
            },
        );
        if let Err(e) = ready {
            panic!("{e}; log:\n{}", self.b.log());
        }
    }
}

struct Response {
    status: u16,
    body: String,
    serial: String,
}

/// One HTTP/1.0 GET over TLS on loopback, verifying the server against `ca_pem` as `localhost`,
/// optionally presenting a client certificate.
fn https_get(
    port: u16,
    path: &str,
    ca_pem: &str,
    identity: Option<&certs::Issued>,
) -> Result<Response, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.map_err(|x| e(&x))?).map_err(|x| e(&x))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|x| e(&x))?
    .with_root_certificates(roots);
    let config = match identity {
        Some(id) => {
            let chain = CertificateDer::pem_slice_iter(id.cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|x| e(&x))?;
            let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes()).map_err(|x| e(&x))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|x| e(&x))?
        }
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from("localhost").map_err(|x| e(&x))?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|x| e(&x))?;
    let sock = TcpStream::connect(("127.0.0.1", port)).map_err(|x| e(&x))?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|x| e(&x))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    write!(tls, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").map_err(|x| e(&x))?;
    let mut out = Vec::new();
    match tls.read_to_end(&mut out) {
        Ok(_) => {}
        // Servers may close without close_notify once the response is complete.
        Err(x) if x.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {}
        Err(x) => return Err(x.to_string()),
    }
    let serial = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no server certificate")?;
    let serial = serial_of(serial).map_err(|x| e(&x))?;
    let out = String::from_utf8_lossy(&out).to_string();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {out:?}"))?;
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    Ok(Response {
        status,
        body,
        serial,
    })
}

#[test]
fn admin_http_over_tls_serves_https_refuses_plain_http_and_picks_up_rotation() {
    let mut s = AdminTls::start(&[]);
    s.wait_ready(None);
    let ca = s.ca.pem.clone();
    let port = s.b.admin_port;

    let metrics = https_get(port, "/metrics", &ca, None).unwrap();
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.body.contains("# TYPE"),
        "metrics body: {}",
        metrics.body
    );

    // Plain HTTP gets no HTTP answer: the handshake fails and the connection is closed.
    assert_eq!(http_get(port, "/readyz"), None);
    // ... and the server still serves HTTPS afterwards.
    assert_eq!(https_get(port, "/healthz", &ca, None).unwrap().status, 200);

    // Rotation: the new key store replaces the old one in one step, as a Secret update does.
    let before = https_get(port, "/healthz", &ca, None).unwrap().serial;
    let next = s.ca.issue(&Spec::server(2));
    let tmp = s.dir.path().join("admin.pem.new");
    std::fs::write(&tmp, next.keystore_pem()).unwrap();
    std::fs::rename(&tmp, &s.keystore).unwrap();
    let new_serial = serial_of(&next.der).unwrap();
    assert_ne!(new_serial, before);
    eventually(
        "a new admin connection sees the new certificate",
        Duration::from_secs(20),
        POLL,
        || {
            https_get(port, "/healthz", &ca, None)
                .ok()
                .filter(|r| r.serial == new_serial)
        },
    )
    .unwrap();
    assert!(s.b.log().contains("admin http: tls handshake failed"));
}

#[test]
fn admin_client_auth_required_asks_for_a_trusted_certificate() {
    let mut s = AdminTls::start(&["listener.name.admin.ssl.client.auth=required"]);
    let client =
        s.ca.issue(&Spec::client(vec![(DnType::CommonName, "operator")], 7));
    s.wait_ready(Some(&client));
    let ca = s.ca.pem.clone();
    let port = s.b.admin_port;
    let r = https_get(port, "/metrics", &ca, Some(&client)).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        https_get(port, "/readyz", &ca, None).is_err(),
        "no client certificate: refused"
    );
    let other = TestCa::new("Other CA").issue(&Spec::client(vec![(DnType::CommonName, "x")], 8));
    assert!(
        https_get(port, "/readyz", &ca, Some(&other)).is_err(),
        "untrusted client certificate: refused"
    );
}

#[test]
fn controller_listener_with_sasl_refuses_the_start() {
    let mut b = TestBroker::new(&["controller.listener.names=SASL_SSL"], Vec::new());
    b.launch();
    let status = eventually("the broker exits", Duration::from_secs(20), POLL, || {
        b.child.as_mut().unwrap().try_wait().unwrap()
    })
    .unwrap();
    assert!(!status.success());
    let log = b.log();
    assert!(
        log.contains("controller (Raft) transport supports PLAINTEXT and SSL only"),
        "log:\n{log}"
    );
}
