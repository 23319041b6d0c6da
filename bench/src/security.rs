//! Helpers for `bench/security.sh`: `bench certs` writes a throwaway CA and a server
//! certificate for 127.0.0.1 (rcgen, so the script needs no openssl CLI), and
//! `bench connect-rate` opens, authenticates and closes client connections (librdkafka, e.g.
//! SASL_SSL with SCRAM-SHA-512) for a while and counts them.

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Writes `ca.crt` (the trust store) and `server.pem` (unencrypted key + certificate, the
/// broker's `ssl.keystore.location` layout) for `localhost` / 127.0.0.1 under `dir`. ECDSA
/// P-256 keys: what a handshake costs is the usual modern server's.
pub fn write_certs(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "eddy-bench-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let mut server =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    server.distinguished_name = rcgen::DistinguishedName::new();
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate()?;
    let server_cert = server.signed_by(&server_key, &issuer)?;

    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("ca.crt", ca_cert.pem())?;
    write(
        "server.pem",
        format!("{}{}", server_key.serialize_pem(), server_cert.pem()),
    )?;
    Ok(())
}

/// What `connect_rate` measured.
#[derive(Debug, Clone, Copy)]
pub struct ConnectRate {
    /// Clients that connected, authenticated and got the cluster's metadata.
    pub sessions: u64,
    pub failures: u64,
    pub elapsed: Duration,
}

/// For `duration`, `threads` loops each create a librdkafka client with `config`, wait for
/// one metadata answer (so the connection is up and authenticated) and drop the client.
pub fn connect_rate(
    config: &ClientConfig,
    threads: usize,
    duration: Duration,
) -> anyhow::Result<ConnectRate> {
    let sessions = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let (config, sessions, failures) =
                (config.clone(), Arc::clone(&sessions), Arc::clone(&failures));
            std::thread::spawn(move || {
                // Bounded: at most one client per 10 ms per thread, until the deadline.
                let max = duration.as_millis() / 10 + 1;
                for _ in 0..max {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let ok = config
                        .create::<BaseProducer>()
                        .map_err(|e| e.to_string())
                        .and_then(|p| {
                            p.client()
                                .fetch_metadata(None, Duration::from_secs(10))
                                .map(|_| ())
                                .map_err(|e| e.to_string())
                        });
                    match ok {
                        Ok(()) => sessions.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            if failures.fetch_add(1, Ordering::Relaxed) < 3 {
                                tracing::warn!(error = %e, "connection failed");
                            }
                            0
                        }
                    };
                }
            })
        })
        .collect();
    for w in workers {
        if w.join().is_err() {
            anyhow::bail!("a connect-rate thread panicked");
        }
    }
    Ok(ConnectRate {
        sessions: sessions.load(Ordering::Relaxed),
        failures: failures.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    })
}
