//! The SLA from evidence: the probe writes to a real broker (started on 127.0.0.31; build it
//! first with `cargo build -p eddy-broker --bin broker`, or set `EDDY_BROKER_BIN`) behind an
//! active dedicated cluster, the broker is stopped for 3 minutes, and the availability endpoint
//! and the month's invoice show the downtime and the credit computed from it. Each scenario on
//! SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use axum::http::StatusCode;
use common::{Db, TestApp, broker::Broker, resource_name};
use eddy_api::domain::billing::Period;
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
        let direct = eddy_api::probe::write::probe_write(&broker.bootstrap(), timeout, 0).await;
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
