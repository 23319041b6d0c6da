#![allow(clippy::unwrap_used)] // integration test: a failed step aborts the test
//! The operator's admin connection and security calls against a real broker process started
//! here (`$EDDY_BROKER_BIN`, else `broker` next to this test binary): a SASL_SSL listener
//! named like the operator's `replication` listener, with a CA generated per test, the
//! StandardAuthorizer on and `User:eddy-operator` a super user created with `--add-scram` —
//! the shape of a secure cluster. The client connects over TLS with SCRAM-SHA-512 as
//! `eddy-operator`, refuses a broker its CA did not sign, is refused with a wrong password, then
//! round-trips SCRAM credentials (a user it creates logs in with SCRAM-SHA-512, -256 and PLAIN,
//! the old password stops working after a rotation, a deleted user cannot log in), ACLs
//! (created, described, converged by the KafkaUser plan, deleted) and client quotas (a user's
//! and the `<default>` user's, set and removed).

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eddy_kafka_client::sasl::{Credentials, Mechanism};
use eddy_kafka_client::scram::ScramMechanism;
use eddy_kafka_client::{Client, Config, Error as WireError, Security, Tls};
use eddy_operator::crd::{KafkaClusterSpec, KafkaUserSpec};
use eddy_operator::kafka_admin::security::{AclBinding, pattern_type, permission, resource_type};
use eddy_operator::kafka_admin::{AdminClient, Error};
use eddy_operator::user::plan;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::json;

const HOST: &str = "127.0.0.1";
const OPERATOR_PASSWORD: &str = "operator-secret";
const TIMEOUT: Duration = Duration::from_secs(10);

fn broker_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("EDDY_BROKER_BIN") {
        return PathBuf::from(p);
    }
    // target/debug/deps/kafka_admin-<hash> → target/debug/broker
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("broker");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p eddy-broker --bin broker` first (or set EDDY_BROKER_BIN)",
        bin.display()
    );
    bin
}

/// A free port below the ephemeral range, walking from an offset of this process's pid.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919) % 12_000;
    (0..12_000)
        .map(|_| {
            let k = NEXT.fetch_add(1, Ordering::Relaxed);
            u16::try_from(20_000 + (start + k) % 12_000).unwrap()
        })
        .find(|&port| TcpListener::bind((HOST, port)).is_ok())
        .expect("a free loopback port")
}

/// A CA and a server certificate for 127.0.0.1 it signed: (CA PEM, key + chain PEM).
fn certificates(ca_name: &str) -> (String, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec![HOST.to_string(), "localhost".into()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "broker-0");
    leaf.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (ca_pem, format!("{}{}", key.serialize_pem(), cert.pem()))
}

/// The broker process, killed by PID when dropped.
struct Broker {
    child: Child,
    plaintext: String,
    replication: String,
    ca_pem: String,
    dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (ca_pem, keystore) = certificates("eddy test cluster CA");
        let keystore_path = dir.path().join("broker.pem");
        std::fs::write(&keystore_path, keystore).unwrap();
        let plaintext = format!("{HOST}:{}", free_port());
        let replication = format!("{HOST}:{}", free_port());
        let log = std::fs::File::create(dir.path().join("broker.log")).unwrap();
        let mut cmd = Command::new(broker_bin());
        cmd.arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--listeners")
            .arg(format!(
                "PLAINTEXT://{plaintext},REPLICATION://{replication}"
            ))
            .arg("--admin-addr")
            .arg(format!("{HOST}:{}", free_port()))
            .arg("--add-scram")
            .arg(format!(
                "SCRAM-SHA-512=[name=eddy-operator,password={OPERATOR_PASSWORD}]"
            ))
            .stdout(Stdio::null())
            .stderr(log);
        for s in [
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,REPLICATION:SASL_SSL".to_string(),
            "listener.name.replication.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN"
                .to_string(),
            format!("ssl.keystore.location={}", keystore_path.display()),
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
                .to_string(),
            "super.users=User:eddy-operator".to_string(),
        ] {
            cmd.arg("--set").arg(s);
        }
        let child = cmd.spawn().expect("spawn the broker");
        Self {
            child,
            plaintext,
            replication,
            ca_pem,
            dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }

    /// Waits (bounded) until the plaintext listener answers ApiVersions.
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("broker exited ({status}):\n{}", self.log());
            }
            if Client::connect_negotiated(&self.plaintext, Config::new("probe", TIMEOUT))
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "broker not ready:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn security(&self, mechanism: Mechanism, user: &str, password: &str) -> Security {
        Security {
            tls: Some(Tls::trusting(self.ca_pem.as_bytes()).unwrap()),
            sasl: Some(Credentials {
                mechanism,
                username: user.to_string(),
                password: password.to_string(),
            }),
        }
    }

    fn operator(&self) -> Security {
        self.security(
            Mechanism::Scram(ScramMechanism::Sha512),
            "eddy-operator",
            OPERATOR_PASSWORD,
        )
    }

    async fn login(
        &self,
        mechanism: Mechanism,
        user: &str,
        password: &str,
    ) -> Result<(), WireError> {
        Client::connect_secure(
            &self.replication,
            Config::new("login", TIMEOUT),
            &self.security(mechanism, user, password),
        )
        .await
        .map(drop)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SHA512: Mechanism = Mechanism::Scram(ScramMechanism::Sha512);
const SHA256: Mechanism = Mechanism::Scram(ScramMechanism::Sha256);

fn refused(r: Result<(), WireError>) -> bool {
    matches!(r, Err(WireError::Authentication { .. }))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_connection_is_tls_and_scram_and_manages_credentials_acls_and_quotas() {
    let mut broker = Broker::start();
    broker.wait_ready().await;

    // TLS + SCRAM-SHA-512 as the operator; a wrong password and a foreign CA are refused.
    let mut admin = AdminClient::connect(&broker.replication, &broker.operator(), TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("operator connection: {e}\n{}", broker.log()));
    assert!(refused(
        broker.login(SHA512, "eddy-operator", "wrong").await
    ));
    let (other_ca, _) = certificates("someone else's CA");
    let foreign = Security {
        tls: Some(Tls::trusting(other_ca.as_bytes()).unwrap()),
        ..broker.operator()
    };
    match AdminClient::connect(&broker.replication, &foreign, TIMEOUT).await {
        Err(Error::Wire(WireError::Tls(m))) => assert!(m.contains("handshake"), "{m}"),
        Err(e) => panic!("expected a TLS failure, got {e}"),
        Ok(_) => panic!("a broker signed by another CA was trusted"),
    }

    // SCRAM credentials: the operator derives them; the user logs in with each mechanism.
    assert!(admin.describe_scram("alice").await.unwrap().is_empty());
    assert!(refused(broker.login(SHA512, "alice", "pw-1").await));
    admin
        .upsert_scram("alice", ScramMechanism::Sha512, "pw-1")
        .await
        .unwrap();
    let infos = admin.describe_scram("alice").await.unwrap();
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].mechanism, ScramMechanism::Sha512);
    assert!(infos[0].iterations >= 4096, "{infos:?}");
    broker.login(SHA512, "alice", "pw-1").await.unwrap();
    broker
        .login(Mechanism::Plain, "alice", "pw-1")
        .await
        .unwrap();
    assert!(refused(broker.login(SHA256, "alice", "pw-1").await));
    admin
        .upsert_scram("alice", ScramMechanism::Sha256, "pw-1")
        .await
        .unwrap();
    broker.login(SHA256, "alice", "pw-1").await.unwrap();
    // Rotation: the new password works, the old one no longer does.
    admin
        .upsert_scram("alice", ScramMechanism::Sha512, "pw-2")
        .await
        .unwrap();
    broker.login(SHA512, "alice", "pw-2").await.unwrap();
    assert!(refused(broker.login(SHA512, "alice", "pw-1").await));

    // ACLs: the KafkaUser plan's bindings are created, described and converged.
    let cluster: KafkaClusterSpec = serde_json::from_value(json!({
        "brokers": 1,
        "listeners": [{"name": "sasl", "port": 9094, "tls": true, "authentication": "scram-sha-512"}],
        "authorization": {"type": "simple"},
    }))
    .or_else(|_| {
        serde_json::from_value(json!({
            "brokers": 1,
            "listeners": [{"name": "sasl", "port": 9094, "tls": true, "authentication": "scram"}],
            "authorization": {"type": "simple"},
        }))
    })
    .unwrap();
    let spec: KafkaUserSpec = serde_json::from_value(json!({
        "cluster": "c",
        "authentication": {"type": "scram-sha-512"},
        "authorization": {"acls": [
            {"resource": {"type": "topic", "name": "orders"}, "operations": ["Read", "Write", "Describe"]},
            {"resource": {"type": "group", "name": "orders-", "patternType": "prefix"}, "operations": ["Read"]},
        ]},
    }))
    .unwrap();
    let desired = plan::desired(&spec, "alice", &cluster).unwrap();
    let stray = AclBinding {
        resource_type: resource_type::TOPIC,
        resource_name: "payments".into(),
        pattern_type: pattern_type::LITERAL,
        principal: "User:alice".into(),
        host: "*".into(),
        operation: 2,
        permission: permission::ALLOW,
    };
    admin
        .create_acls(std::slice::from_ref(&stray))
        .await
        .unwrap();
    let observed = admin.describe_acls("User:alice").await.unwrap();
    assert_eq!(observed, vec![stray.clone()]);
    let (create, delete) = plan::acl_diff(&desired.acls, &observed);
    assert_eq!(delete, vec![stray]);
    admin.delete_acls(&delete).await.unwrap();
    admin.create_acls(&create).await.unwrap();
    let observed = admin.describe_acls("User:alice").await.unwrap();
    assert_eq!(
        observed.iter().cloned().collect::<BTreeSet<_>>(),
        desired.acls,
        "exactly the spec's ACLs"
    );
    assert_eq!(plan::acl_diff(&desired.acls, &observed), (vec![], vec![]));
    assert!(
        admin.describe_acls("User:bob").await.unwrap().is_empty(),
        "the filter is per principal"
    );

    // Quotas: a user's and the <default> user's, set and removed.
    let set = BTreeMap::from([("producer_byte_rate".to_string(), 1024.0)]);
    admin
        .alter_user_quotas(Some("alice"), &set, &[])
        .await
        .unwrap();
    let defaults = BTreeMap::from([("consumer_byte_rate".to_string(), 4096.0)]);
    admin.alter_user_quotas(None, &defaults, &[]).await.unwrap();
    assert_eq!(
        admin.describe_user_quotas(Some("alice")).await.unwrap(),
        set
    );
    assert_eq!(admin.describe_user_quotas(None).await.unwrap(), defaults);
    admin
        .alter_user_quotas(
            Some("alice"),
            &BTreeMap::new(),
            &["producer_byte_rate".to_string()],
        )
        .await
        .unwrap();
    assert!(
        admin
            .describe_user_quotas(Some("alice"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(admin.describe_user_quotas(None).await.unwrap(), defaults);

    // Deletion: the credential goes (twice is fine), the user can no longer log in.
    for _ in 0..2 {
        admin
            .delete_scram("alice", ScramMechanism::Sha512)
            .await
            .unwrap();
    }
    assert!(refused(broker.login(SHA512, "alice", "pw-2").await));
    broker.login(SHA256, "alice", "pw-1").await.unwrap();
    admin.delete_acls(&observed).await.unwrap();
    assert!(admin.describe_acls("User:alice").await.unwrap().is_empty());
}
