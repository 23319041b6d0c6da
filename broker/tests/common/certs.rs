//! Test certificates: a CA and the server and client certificates it signs, generated with
//! rcgen and written as PEM (Kafka's `ssl.keystore.type=PEM` layout: key and chain in one file).
#![allow(dead_code)]

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use std::path::{Path, PathBuf};

/// A certificate authority for one test.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate (the trust store).
    pub pem: String,
}

/// A certificate with its key.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl Issued {
    /// One PEM file with the private key and the certificate, as `ssl.keystore.location` reads it.
    pub fn keystore_pem(&self) -> String {
        format!("{}{}", self.key_pem, self.cert_pem)
    }

    /// Writes `<name>.key`, `<name>.crt` and `<name>.pem` (key + chain) under `dir`; returns
    /// the `.pem` path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        std::fs::write(dir.join(format!("{name}.key")), &self.key_pem).expect("write key");
        std::fs::write(dir.join(format!("{name}.crt")), &self.cert_pem).expect("write cert");
        let path = dir.join(format!("{name}.pem"));
        std::fs::write(&path, self.keystore_pem()).expect("write keystore");
        path
    }
}

/// What to issue.
pub struct Spec<'a> {
    pub subject: Vec<(DnType, &'a str)>,
    pub sans: Vec<&'a str>,
    pub serial: u64,
    pub expired: bool,
    pub server: bool,
}

impl<'a> Spec<'a> {
    /// A server certificate for `localhost` and 127.0.0.1.
    pub fn server(serial: u64) -> Self {
        Spec {
            subject: vec![(DnType::CommonName, "localhost")],
            sans: vec!["localhost", "127.0.0.1"],
            serial,
            expired: false,
            server: true,
        }
    }

    /// A client certificate with this subject (most general RDN first, as DER holds them).
    pub fn client(subject: Vec<(DnType, &'a str)>, serial: u64) -> Self {
        Spec {
            subject,
            sans: vec![],
            serial,
            expired: false,
            server: false,
        }
    }
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("ca cert");
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    pub fn issue(&self, spec: &Spec<'_>) -> Issued {
        let sans: Vec<String> = spec.sans.iter().map(ToString::to_string).collect();
        let mut params = CertificateParams::new(sans).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in &spec.subject {
            params.distinguished_name.push(t.clone(), *v);
        }
        params.serial_number = Some(SerialNumber::from(spec.serial));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        // A broker's certificate also authenticates it as a client of other brokers.
        params.extended_key_usages = if spec.server {
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ]
        } else {
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        };
        if spec.expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// Writes the CA certificate to `dir/ca.crt` (a PEM trust store).
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.crt");
        std::fs::write(&path, &self.pem).expect("write ca");
        path
    }
}
