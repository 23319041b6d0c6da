//! The TLS settings, real handshakes (over an in-memory pipe) with their mTLS principals, and
//! reloading changed files.

use super::*;
use rcgen::DnType;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "../../../tests/common/certs.rs"]
mod certs;
use certs::{Spec, TestCa};

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

struct Fixture {
    dir: tempfile::TempDir,
    ca: TestCa,
    keystore: String,
    truststore: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("Eddy test CA");
    let keystore = ca
        .issue(&Spec::server(1))
        .write(dir.path(), "server")
        .display()
        .to_string();
    let truststore = ca.write(dir.path()).display().to_string();
    Fixture {
        dir,
        ca,
        keystore,
        truststore,
    }
}

fn refusal(settings: &BTreeMap<String, String>) -> String {
    match TlsServer::new(settings, "SSL") {
        Ok(_) => panic!("accepted {settings:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unsupported_stores_and_keys_are_refused_with_a_reason() {
    let f = fixture();
    let ks = f.keystore.as_str();
    let jks = refusal(&map(&[
        ("ssl.keystore.type", "JKS"),
        ("ssl.keystore.location", ks),
    ]));
    assert!(jks.contains("JKS key stores are not supported"), "{jks}");
    let p12 = refusal(&map(&[
        ("ssl.truststore.type", "PKCS12"),
        ("ssl.keystore.location", ks),
    ]));
    assert!(p12.contains("PKCS12 trust stores"), "{p12}");
    let pw = refusal(&map(&[
        ("ssl.keystore.location", ks),
        ("ssl.key.password", "secret"),
    ]));
    assert!(pw.contains("encrypted keys"), "{pw}");
    let encrypted = f.dir.path().join("enc.pem");
    std::fs::write(
        &encrypted,
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
    )
    .expect("write");
    let enc = refusal(&map(&[(
        "ssl.keystore.location",
        encrypted.to_str().expect("utf-8"),
    )]));
    assert!(enc.contains("the private key is encrypted"), "{enc}");
    assert!(refusal(&map(&[])).contains("needs a key store"));
    let no_trust = refusal(&map(&[
        ("ssl.keystore.location", ks),
        ("ssl.client.auth", "required"),
    ]));
    assert!(no_trust.contains("needs a trust store"), "{no_trust}");
    let missing = refusal(&map(&[("ssl.keystore.location", "/nonexistent/k.pem")]));
    assert!(missing.contains("/nonexistent/k.pem"), "{missing}");
    assert!(
        refusal(&map(&[
            ("ssl.keystore.location", ks),
            ("ssl.client.auth", "maybe")
        ]))
        .contains("ssl.client.auth")
    );
    assert!(
        refusal(&map(&[
            ("ssl.keystore.location", ks),
            ("ssl.enabled.protocols", "TLSv1.1")
        ]))
        .contains("ssl.enabled.protocols")
    );
    assert!(
        refusal(&map(&[
            ("ssl.keystore.location", ks),
            ("ssl.principal.mapping.rules", "RULE:x/y/LU")
        ]))
        .contains("ssl.principal.mapping.rules")
    );
    assert!(
        refusal(&map(&[
            ("ssl.keystore.location", ks),
            ("ssl.cipher.suites", "TLS_NULL_WITH_NULL_NULL")
        ]))
        .contains("unsupported cipher suite")
    );
}

#[test]
fn listener_overrides_win_and_inline_pem_is_read() {
    let f = fixture();
    let settings = map(&[
        ("ssl.keystore.location", "/nonexistent/k.pem"),
        ("listener.name.secure.ssl.keystore.location", &f.keystore),
    ]);
    TlsServer::new(&settings, "SECURE").expect("the override names a good file");
    assert!(TlsServer::new(&settings, "OTHER").is_err());

    let issued = f.ca.issue(&Spec::server(9));
    // As a properties file with `\` continuations delivers it: no line breaks.
    let flat = |s: &str| s.replace('\n', " ");
    let inline = map(&[
        ("ssl.keystore.certificate.chain", &flat(&issued.cert_pem)),
        ("ssl.keystore.key", &flat(&issued.key_pem)),
        ("ssl.truststore.certificates", &flat(&f.ca.pem)),
        ("ssl.client.auth", "required"),
        (
            "ssl.cipher.suites",
            "TLS_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ),
    ]);
    let server = TlsServer::new(&inline, "SSL").expect("inline PEM");
    assert!(server.settings().files().is_empty());
    let half = map(&[("ssl.keystore.key", &issued.key_pem)]);
    assert!(refusal(&half).contains("go together"));
}

/// A client's settings: the CA as trust store and, optionally, a client certificate.
fn client_settings(f: &Fixture, keystore: Option<&str>) -> SslSettings {
    let mut m = map(&[("ssl.truststore.location", &f.truststore)]);
    if let Some(k) = keystore {
        m.insert("ssl.keystore.location".into(), k.to_string());
    }
    SslSettings::resolve(&m, "CLIENT").expect("client settings")
}

/// Runs a handshake between `server` and a client with `client`'s settings over an in-memory
/// pipe; returns the server's view (principal) and the server certificate the client saw.
async fn handshake(
    server: &TlsServer,
    client: &SslSettings,
) -> (Result<Principal, TlsError>, Option<Vec<u8>>) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let material = client.read_material().expect("client material");
    let connector = tokio_rustls::TlsConnector::from(client.client_config(&material).expect("cfg"));
    let name = ServerName::try_from("localhost").expect("name");
    let client_side = async move {
        match connector.connect(name, a).await {
            Ok(mut s) => {
                let seen = s
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.to_vec());
                // TLS 1.3: the server's verdict on the client certificate arrives after the
                // client's handshake is done; a read surfaces it.
                let _ = s.write_all(b"ping").await;
                let mut buf = [0u8; 4];
                let ok = s.read_exact(&mut buf).await.is_ok();
                ok.then_some(seen).flatten()
            }
            Err(_) => None,
        }
    };
    let server_side = async move {
        let (mut s, principal) = server.accept(b).await?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.map_err(TlsError::Handshake)?;
        s.write_all(b"pong").await.map_err(TlsError::Handshake)?;
        s.flush().await.map_err(TlsError::Handshake)?;
        Ok(principal)
    };
    tokio::join!(server_side, client_side)
}

#[tokio::test]
async fn the_client_certificate_names_the_principal() {
    let f = fixture();
    let alice =
        f.ca.issue(&Spec::client(
            vec![
                (DnType::OrganizationName, "Eddy"),
                (DnType::OrganizationalUnitName, "eng"),
                (DnType::CommonName, "alice"),
            ],
            7,
        ))
        .write(f.dir.path(), "alice");
    let alice = alice.to_str().expect("utf-8");
    let base = [
        ("ssl.keystore.location", f.keystore.as_str()),
        ("ssl.truststore.location", f.truststore.as_str()),
    ];
    let with = |extra: &[(&str, &str)]| {
        let mut m = map(&base);
        m.extend(map(extra));
        TlsServer::new(&m, "SSL").expect("server")
    };

    let required = with(&[("ssl.client.auth", "required")]);
    let (p, seen) = handshake(&required, &client_settings(&f, Some(alice))).await;
    assert_eq!(
        p.expect("handshake").to_string(),
        "User:CN=alice,OU=eng,O=Eddy"
    );
    assert!(seen.is_some());

    let mapped = with(&[
        ("ssl.client.auth", "required"),
        (
            "ssl.principal.mapping.rules",
            "RULE:^CN=(.*?),OU=(.*?),.*$/$1@$2/U,DEFAULT",
        ),
    ]);
    let (p, _) = handshake(&mapped, &client_settings(&f, Some(alice))).await;
    assert_eq!(p.expect("handshake").to_string(), "User:ALICE@ENG");

    // Required: no certificate, no connection.
    let (p, seen) = handshake(&required, &client_settings(&f, None)).await;
    assert!(matches!(p, Err(TlsError::Handshake(_))), "{p:?}");
    assert!(seen.is_none());

    // Requested: without a certificate the connection is anonymous.
    let requested = with(&[("ssl.client.auth", "requested")]);
    let (p, _) = handshake(&requested, &client_settings(&f, None)).await;
    assert!(p.expect("handshake").is_anonymous());
    let (p, _) = handshake(&requested, &client_settings(&f, Some(alice))).await;
    assert_eq!(p.expect("handshake").name, "CN=alice,OU=eng,O=Eddy");

    // No client auth: a certificate the client offers is not asked for.
    let none = with(&[]);
    let (p, _) = handshake(&none, &client_settings(&f, Some(alice))).await;
    assert!(p.expect("handshake").is_anonymous());

    // A certificate from another CA, or an expired one, is refused.
    let other = TestCa::new("Other CA")
        .issue(&Spec::client(vec![(DnType::CommonName, "mallory")], 8))
        .write(f.dir.path(), "mallory");
    let (p, _) = handshake(&required, &client_settings(&f, other.to_str())).await;
    assert!(p.is_err());
    let mut old = Spec::client(vec![(DnType::CommonName, "old")], 9);
    old.expired = true;
    let expired = f.ca.issue(&old).write(f.dir.path(), "old");
    let (p, _) = handshake(&required, &client_settings(&f, expired.to_str())).await;
    assert!(p.is_err());
}

#[tokio::test]
async fn changed_files_are_used_by_new_handshakes_and_bad_ones_are_ignored() {
    let f = fixture();
    let server = TlsServer::new(
        &map(&[("ssl.keystore.location", f.keystore.as_str())]),
        "SSL",
    )
    .expect("server");
    let client = client_settings(&f, None);
    let serial = |der: Option<Vec<u8>>| {
        principal::serial_of(&der.expect("server certificate")).expect("serial")
    };
    let (_, first) = handshake(&server, &client).await;
    let first = serial(first);
    assert!(!server.reload_if_changed(), "nothing changed");

    let next = f.ca.issue(&Spec::server(2));
    let tmp = f.dir.path().join("swap.pem");
    std::fs::write(&tmp, next.keystore_pem()).expect("write");
    std::fs::rename(&tmp, &f.keystore).expect("swap");
    assert!(server.reload_if_changed());
    let (_, second) = handshake(&server, &client).await;
    assert_eq!(
        serial(second),
        principal::serial_of(&next.der).expect("serial")
    );
    assert_ne!(principal::serial_of(&next.der).expect("serial"), first);

    std::fs::write(&f.keystore, "not pem").expect("write");
    assert!(
        !server.reload_if_changed(),
        "invalid material is not loaded"
    );
    assert!(
        !server.reload_if_changed(),
        "and is not retried until it changes"
    );
    let (p, still) = handshake(&server, &client).await;
    assert!(p.is_ok());
    assert_eq!(
        serial(still),
        principal::serial_of(&next.der).expect("serial")
    );
}

#[test]
fn the_cheapest_suites_come_first() {
    let name = |s: &rustls::SupportedCipherSuite| s.suite().as_str().unwrap_or_default();
    let mut suites = rustls::crypto::ring::default_provider().cipher_suites;
    settings::cheapest_first(&mut suites, true);
    assert_eq!(name(&suites[0]), "TLS13_AES_128_GCM_SHA256");
    assert_eq!(name(&suites[1]), "TLS13_AES_256_GCM_SHA384");
    assert!(
        name(&suites[3]).contains("AES_128_GCM"),
        "{}",
        name(&suites[3])
    );
    settings::cheapest_first(&mut suites, false);
    assert_eq!(name(&suites[0]), "TLS13_CHACHA20_POLY1305_SHA256");
}

#[tokio::test]
async fn the_server_picks_aes_128_gcm_over_the_clients_order() {
    let f = fixture();
    let server =
        TlsServer::new(&map(&[("ssl.keystore.location", &f.keystore)]), "SSL").expect("server");
    // A client that, like OpenSSL, lists AES-256-GCM first.
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|s| !s.suite().as_str().unwrap_or_default().contains("AES_256"));
    assert_eq!(
        provider.cipher_suites[0].suite().as_str(),
        Some("TLS13_AES_256_GCM_SHA384")
    );
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(cfg_roots(&f))
        .with_no_client_auth();
    let (a, b) = tokio::io::duplex(64 * 1024);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let name = ServerName::try_from("localhost").expect("name");
    let (client, accepted) = tokio::join!(connector.connect(name, a), server.accept(b));
    let (stream, _) = accepted.expect("server handshake");
    client.expect("client handshake");
    assert_eq!(
        stream
            .get_ref()
            .1
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str()),
        Some("TLS13_AES_128_GCM_SHA256")
    );
}

fn cfg_roots(f: &Fixture) -> rustls::RootCertStore {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(&f.truststore).expect("ca") {
        roots.add(c.expect("cert")).expect("add");
    }
    roots
}
