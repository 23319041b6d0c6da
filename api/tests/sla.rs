//! The SLA from evidence: the probe writes to a real broker (started on 127.0.0.31; build it
//! first with `cargo build -p eddy-broker --bin broker`, or set `EDDY_BROKER_BIN`) behind an
//! active dedicated cluster, the broker is stopped for 3 minutes, and the availability endpoint
//! and the month's invoice show the downtime and the credit computed from it. A secured cluster
//! (the shipped plan, SCRAM over TLS on 127.0.0.32) is probed as the API's own identity, and a
//! refused sign-in counts as down. Each scenario on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use axum::http::StatusCode;
use common::{Db, TestApp, broker::Broker, resource_name};
use eddy_api::domain::billing::Period;
use eddy_api::domain::connection::ListenerInfo;
use eddy_api::domain::security::Mechanism;
use eddy_api::kube::ClusterConnection;
use eddy_api::probe::identity::{PROBE_USERNAME, probe_acls};
use rust_decimal::Decimal;
use serde_json::json;
use std::time::Duration;

mod probe_measures_downtime_and_credits_it {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::probe_measures_downtime_and_credits_it(super::Db::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::probe_measures_downtime_and_credits_it(super::Db::Postgres).await;
    }
}

mod secured_cluster_is_probed_as_its_own_identity {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::secured_cluster_is_probed_as_its_own_identity(super::Db::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::secured_cluster_is_probed_as_its_own_identity(super::Db::Postgres).await;
    }
}

/// The shipped catalog with the dedicated plans opted into an anonymous listener: the probe
/// reaches only such clusters (secured ones need the operator's identity, not read yet).
fn plaintext_catalog() -> String {
    eddy_api::app::BUILTIN_CATALOG.replace(
        "features: [sasl_scram, tls, mtls, acls, sla_99_95, rack_awareness]",
        "features: [sasl_scram, tls, mtls, acls, sla_99_95, rack_awareness, plaintext]",
    )
}

/// The month before the current one.
fn previous_month() -> Period {
    let now = time::OffsetDateTime::now_utc();
    let (y, m) = match u8::from(now.month()) {
        1 => (now.year() - 1, 12),
        m => (now.year(), m - 1),
    };
    Period::month(y, m).unwrap()
}

async fn probe_measures_downtime_and_credits_it(db: Db) {
    let app = TestApp::with_catalog(db, &plaintext_catalog()).await;
    let broker = Broker::start("127.0.0.31");
    let (owner, _, _) = app.signup("owner@example.com").await;
    let accepted = app.create_cluster(&owner, "payments", "dedicated-1").await;
    let id = accepted["cluster"]["id"].as_str().unwrap().to_string();
    app.backend
        .report_bootstrap(&resource_name(&accepted), true, &broker.bootstrap());
    app.sync().await;
    let shared = app.active_cluster(&owner, "scratch", "shared-small").await;

    // The cluster has been billed for the last day of the previous month: 1440 minutes.
    let period = previous_month();
    let from = period.end - 86_400;
    for sql in [
        "UPDATE usage_segments SET started_at = $1 WHERE cluster_id = $2",
        "UPDATE clusters SET created_at = $1 WHERE id = $2",
    ] {
        sqlx::query(sql)
            .bind(from)
            .bind(&id)
            .execute(&app.state.db.pool)
            .await
            .unwrap();
    }
    let timeout = Duration::from_secs(2);
    // The first write succeeds once the broker is up (it creates _eddy_sla_probe).
    let mut minute = from + 600;
    let first = eddy_test_support::eventually_async(
        "the first probe write succeeds",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let r = eddy_api::probe::probe_once(&app.state, timeout, minute)
                .await
                .unwrap();
            (r.ok == 1).then_some(r)
        },
    )
    .await;
    if first.is_err() {
        let direct = eddy_api::probe::write::probe_write(
            &broker.bootstrap(),
            &eddy_kafka_client::Security::plaintext(),
            timeout,
            0,
        )
        .await;
        panic!(
            "no probe write succeeded (a direct write: {direct:?}); broker log:\n{}",
            broker.log()
        );
    }
    // A failed write followed by a good one in the same minute: that minute is up.
    drop(broker);
    minute += 60;
    let r = eddy_api::probe::probe_once(&app.state, timeout, minute)
        .await
        .unwrap();
    assert_eq!((r.ok, r.failed, r.skipped), (0, 1, 0));
    eddy_api::store::sla::record(&app.state.db.pool, &id, minute + 5, true, None)
        .await
        .unwrap();
    // Three minutes with the broker stopped: every write in them fails.
    for _ in 0..3 {
        minute += 60;
        for s in [0, 20, 40] {
            let r = eddy_api::probe::probe_once(&app.state, timeout, minute + s)
                .await
                .unwrap();
            assert_eq!(r.failed, 1);
        }
    }
    let a = app
        .get(
            &format!(
                "/v1/clusters/{id}/availability?year={}&month={}",
                period.year, period.month
            ),
            &owner,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["sla"], true);
    assert_eq!(a.body["minutes"], 1440);
    assert_eq!(a.body["probed_minutes"], 5);
    assert_eq!(a.body["down_minutes"], 3);
    // 1 - 3/1440 = 99.7917 %.
    assert_eq!(a.body["availability_percent"], "99.7917");
    assert_eq!(a.body["sla_target_percent"], "99.95");
    assert_eq!(a.body["credit_percent"], "50");
    // A shared cluster is not probed and earns no credit.
    let s = app
        .get(&format!("/v1/clusters/{shared}/availability"), &owner)
        .await;
    assert_eq!(s.body["sla"], false);
    assert_eq!(s.body["probed_minutes"], 0);
    assert_eq!(s.body["credit_percent"], "0");
    let bad = app
        .get(&format!("/v1/clusters/{id}/availability?month=13"), &owner)
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The invoice of that month credits 50 % of the cluster's charge, from the probe alone.
    let inv = app
        .post(
            "/v1/invoices",
            &owner,
            json!({"year": period.year, "month": period.month}),
        )
        .await;
    assert_eq!(inv.status, StatusCode::CREATED, "{:?}", inv.body);
    let lines = inv.body["lines"].as_array().unwrap();
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        lines
            .iter()
            .filter(|l| l["kind"] == kind && l["cluster_id"] == id.as_str())
            .collect()
    };
    let plan: Decimal = of("plan")[0]["amount"].as_str().unwrap().parse().unwrap();
    let credit = of("sla_credit");
    assert_eq!(credit.len(), 1, "{lines:?}");
    let amount: Decimal = credit[0]["amount"].as_str().unwrap().parse().unwrap();
    assert_eq!(amount, -(plan * Decimal::new(5, 1)).round_dp(2));
    assert!(
        credit[0]["description"]
            .as_str()
            .unwrap()
            .contains("99.792"),
        "{:?}",
        credit[0]
    );
}

/// A cluster CA and a broker certificate for `host` (PEM key + certificate in one file, as the
/// broker's `ssl.keystore.location` reads it), written under `dir`; returns the CA PEM and the
/// keystore path.
fn broker_certificate(dir: &std::path::Path, host: &str) -> (String, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "payments cluster CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let mut server = CertificateParams::new(vec![host.to_string()]).unwrap();
    server.distinguished_name.push(DnType::CommonName, host);
    let key = KeyPair::generate().unwrap();
    let cert = server.signed_by(&key, &issuer).unwrap();
    let path = dir.join("broker.pem");
    std::fs::write(&path, format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
    (ca_pem, path)
}

/// A broker with one SCRAM-over-TLS listener on `host` knowing `user` with `password`.
fn secured_broker(host: &str, keystore: &std::path::Path, user: &str, password: &str) -> Broker {
    Broker::start_with(
        host,
        "SASL_SSL",
        &[
            "--set".into(),
            format!("ssl.keystore.location={}", keystore.display()),
            "--add-scram".into(),
            format!("SCRAM-SHA-512=[name={user},password={password}]"),
        ],
    )
}

async fn last_error(app: &TestApp, id: &str, minute: i64) -> Option<String> {
    sqlx::query_scalar::<_, Option<String>>(
        "SELECT last_error FROM sla_probe_minutes WHERE cluster_id = $1 AND minute = $2",
    )
    .bind(id)
    .bind(minute)
    .fetch_optional(&app.state.db.pool)
    .await
    .unwrap()
    .flatten()
}

async fn secured_cluster_is_probed_as_its_own_identity(db: Db) {
    // The shipped catalog: dedicated-1 has SCRAM over TLS, client certificates and ACLs, and no
    // anonymous listener.
    let app = TestApp::new(db).await;
    let (owner, _, _) = app.signup("owner@example.com").await;
    let accepted = app.create_cluster(&owner, "payments", "dedicated-1").await;
    let id = accepted["cluster"]["id"].as_str().unwrap().to_string();
    let name = resource_name(&accepted);
    app.backend
        .report_bootstrap(&name, true, &format!("{name}-bootstrap.svc:9094"));
    app.sync().await;
    let timeout = Duration::from_secs(2);
    // Measured in the previous month, where the cluster already ran.
    let period = previous_month();
    for sql in [
        "UPDATE usage_segments SET started_at = $1 WHERE cluster_id = $2",
        "UPDATE clusters SET created_at = $1 WHERE id = $2",
    ] {
        sqlx::query(sql)
            .bind(period.end - 86_400)
            .bind(&id)
            .execute(&app.state.db.pool)
            .await
            .unwrap();
    }
    let mut minute = period.end - 3600;

    // The first round creates the probe's identity; until the operator reports it Ready the
    // cluster is skipped, not counted down.
    for _ in 0..2 {
        let r = eddy_api::probe::probe_once(&app.state, timeout, minute)
            .await
            .unwrap();
        assert_eq!((r.ok, r.failed, r.skipped), (0, 0, 1));
    }
    let user = app.backend.user(PROBE_USERNAME).expect("probe KafkaUser");
    assert_eq!(user.mechanism, Mechanism::ScramSha512);
    assert_eq!(user.cluster, name);
    assert_eq!(user.acls, probe_acls(), "only its own topic");
    assert_eq!(app.backend.users.lock().unwrap().len(), 1, "created once");
    let password = app.backend.password_of(PROBE_USERNAME).unwrap();
    assert_eq!(password.len(), 64);
    let sealed: String = sqlx::query_scalar(
        "SELECT password_sealed FROM sla_probe_identities WHERE cluster_id = $1",
    )
    .bind(&id)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert!(!sealed.contains(&password), "sealed at rest");
    // Hidden from the account's Kafka users, and not theirs to delete.
    let list = app.get(&format!("/v1/clusters/{id}/users"), &owner).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body, json!([]));
    let del = app
        .delete(&format!("/v1/clusters/{id}/users/{PROBE_USERNAME}"), &owner)
        .await;
    assert_eq!(del.status, StatusCode::NOT_FOUND);
    assert!(app.backend.user(PROBE_USERNAME).is_some());

    // The "operator" puts the credential on a real broker (SCRAM over TLS, certificate from
    // the cluster CA) and reports the user Ready; the cluster publishes that listener.
    let host = "127.0.0.32";
    let certs = tempfile::tempdir().unwrap();
    let (ca, keystore) = broker_certificate(certs.path(), host);
    let broker = secured_broker(host, &keystore, PROBE_USERNAME, &password);
    app.backend.connections.lock().unwrap().insert(
        name.clone(),
        ClusterConnection {
            listeners: vec![
                ListenerInfo {
                    name: "mtls".into(),
                    type_: "internal".into(),
                    bootstrap_servers: format!("{host}:1"),
                    security_protocol: "SSL".into(),
                    sasl_mechanisms: vec![],
                    authentication: "tls".into(),
                    tls: true,
                },
                ListenerInfo {
                    name: "tls".into(),
                    type_: "internal".into(),
                    bootstrap_servers: broker.bootstrap(),
                    security_protocol: "SASL_SSL".into(),
                    sasl_mechanisms: vec!["SCRAM-SHA-512".into()],
                    authentication: "scram-sha-512".into(),
                    tls: true,
                },
            ],
            ca_certificate: Some(ca),
        },
    );
    app.backend.report_user_ready(PROBE_USERNAME);
    minute += 60;
    let first = eddy_test_support::eventually_async(
        "a probe write to the secured cluster succeeds",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let r = eddy_api::probe::probe_once(&app.state, timeout, minute)
                .await
                .unwrap();
            (r.ok == 1).then_some(r)
        },
    )
    .await;
    assert!(
        first.is_ok(),
        "no probe write succeeded: {:?}; broker log:\n{}",
        last_error(&app, &id, minute).await,
        broker.log()
    );

    // The credential no longer matches (a broker that knows another password): every write of
    // the minute is refused, and the minute is down, with the reason kept.
    drop(broker);
    let wrong = secured_broker(host, &keystore, PROBE_USERNAME, "not-the-password");
    let bootstrap = wrong.bootstrap();
    app.backend
        .connections
        .lock()
        .unwrap()
        .get_mut(&name)
        .unwrap()
        .listeners[1]
        .bootstrap_servers = bootstrap;
    minute += 60;
    let refused = eddy_test_support::eventually_async(
        "the probe is refused by the broker",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let r = eddy_api::probe::probe_once(&app.state, timeout, minute)
                .await
                .unwrap();
            assert_eq!((r.ok, r.skipped), (0, 0));
            last_error(&app, &id, minute)
                .await
                .filter(|e| e.contains("authentication"))
        },
    )
    .await;
    assert!(
        refused.is_ok(),
        "{:?}; broker log:\n{}",
        last_error(&app, &id, minute).await,
        wrong.log()
    );
    let a = app
        .get(
            &format!(
                "/v1/clusters/{id}/availability?year={}&month={}",
                period.year, period.month
            ),
            &owner,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["probed_minutes"], 2, "{:?}", a.body);
    assert_eq!(a.body["down_minutes"], 1, "{:?}", a.body);
}
