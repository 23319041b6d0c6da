//! Alarms and notification channels, each scenario on a fresh SQLite file and on a fresh
//! private PostgreSQL server. A loopback HTTP receiver (axum on 127.0.0.1) plays PagerDuty,
//! OpsGenie (EU), VictorOps, Slack and a webhook endpoint and records every request; alarms
//! are driven by metric points written the way the sampler writes them, at fixed instants, and
//! once by the sampler itself reading a real broker (127.0.0.32; build it first with
//! `cargo build -p eddy-broker --bin broker`) while kcat produces and a consumer group stops.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use axum::http::{HeaderMap, StatusCode};
use common::broker::{Broker, kcat};
use common::{TestApp, resource_name};
use eddy_api::alerting::http::{DeliveryClient, delivery_client};
use eddy_api::alerting::providers::Endpoints;
use eddy_api::alerting::secrets::SecretBox;
use eddy_api::alerting::{Alerting, RetryPolicy, delivery, evaluate};
use eddy_api::samples::series::{Point, Series, labels};
use eddy_api::store::metric_points;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

on_both_databases!(
    an_alarm_opens_once_and_resolves_once_on_every_provider,
    a_failing_receiver_is_retried_then_logged_as_failed,
    bad_input_and_roles_change_nothing,
    brokers_down_and_failed_operations_raise_alarms,
    a_stopped_consumer_on_a_real_broker_raises_one_alarm_and_its_resolve,
    rules_are_edited_in_place,
);

const PD_KEY: &str = "pdintegrationkey0123456789abcdef";
const OG_KEY: &str = "opsgenie-api-key-5555-aaaa";
const VO_KEY: &str = "victorops-rest-key-7777";
const SLACK_TOKEN: &str = "slacktokenXYZ12345678";
const HOOK_SECRET: &str = "webhook-hmac-secret-0000";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Recorded {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// The loopback receiver: records every request and answers `status` (202 by default).
struct Receiver {
    base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    status: Arc<AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Self {
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(202));
        let (r, s) = (requests.clone(), status.clone());
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| {
                let (r, s) = (r.clone(), s.clone());
                async move {
                    r.lock().unwrap().push(Recorded {
                        path: uri
                            .path_and_query()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                        headers,
                        body: body.to_vec(),
                    });
                    let code = StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap();
                    (code, "{\"status\":\"recorded\"}")
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base,
            requests,
            status,
            task,
        }
    }

    fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }

    fn one(reqs: &[Recorded], prefix: &str) -> Recorded {
        let found: Vec<_> = reqs.iter().filter(|r| r.path.starts_with(prefix)).collect();
        assert_eq!(found.len(), 1, "one request under {prefix}: {reqs:?}");
        found[0].clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Points the app's providers at the receiver, with a short retry policy.
fn use_receiver(app: &mut TestApp, rx: &Receiver) {
    let mut a = Alerting::new(SecretBox::ephemeral().unwrap());
    a.endpoints = Endpoints {
        pagerduty: format!("{}/pd", rx.base),
        opsgenie_us: format!("{}/og-us", rx.base),
        opsgenie_eu: format!("{}/og-eu", rx.base),
        victorops: format!("{}/vo", rx.base),
    };
    a.retry = RetryPolicy {
        max_attempts: 3,
        base_delay_secs: 2,
        max_delay_secs: 60,
    };
    a.sample_interval_secs = 30;
    // The receiver is on loopback.
    a.allow_private_targets = true;
    app.state.alerting = Arc::new(a);
}

async fn channel(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.post("/v1/channels", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body
}

/// Creates one channel of every kind.
async fn every_channel(app: &TestApp, owner: &str, rx: &Receiver) {
    let slack_url = format!("{}/slack/T0/B0/{SLACK_TOKEN}", rx.base);
    let hook_url = format!("{}/hook?token=abc", rx.base);
    for body in [
        json!({"name": "pd", "kind": "pagerduty", "secret": PD_KEY}),
        json!({"name": "og", "kind": "opsgenie", "secret": OG_KEY, "region": "eu"}),
        json!({"name": "vo", "kind": "victorops", "secret": VO_KEY, "routing_key": "kafka-team"}),
        json!({"name": "slack", "kind": "slack", "url": slack_url}),
        json!({"name": "hook", "kind": "webhook", "url": hook_url, "secret": HOOK_SECRET}),
    ] {
        let ch = channel(app, owner, body).await;
        assert_no_secret(&ch);
        assert!(
            ch["secret_hint"].as_str().unwrap().starts_with("…")
                || ch["secret_hint"].as_str().unwrap().starts_with("http")
        );
    }
}

fn assert_no_secret(v: &Value) {
    let text = v.to_string();
    for s in [PD_KEY, OG_KEY, VO_KEY, SLACK_TOKEN, HOOK_SECRET] {
        assert!(!text.contains(s), "a secret in an answer: {text}");
    }
}

async fn lag(app: &TestApp, cluster: &str, group: &str, ts: i64, value: f64) {
    let p = Point {
        series: Series::ConsumerLag,
        labels: labels([("group", group)]),
        value,
    };
    metric_points::record(&app.state.db.pool, cluster, ts, &[p])
        .await
        .unwrap();
}

fn verify_signature(r: &Recorded) {
    use hmac::{KeyInit as _, Mac as _};
    let ts = r.headers["x-eddy-timestamp"].to_str().unwrap();
    let sig = r.headers["x-eddy-signature"].to_str().unwrap();
    let hex = sig.strip_prefix("v1=").unwrap();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    mac.verify_slice(&bytes)
        .expect("the webhook signature verifies");
    // A different body does not.
    let mut other = hmac::Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    other.update(ts.as_bytes());
    other.update(b".{}");
    assert!(other.verify_slice(&bytes).is_err());
}

async fn dispatch(app: &TestApp, client: &DeliveryClient, now: i64) -> delivery::DispatchReport {
    delivery::dispatch_once(&app.state, client, now)
        .await
        .unwrap()
}

/// Dispatches rounds at `now` until nothing is due (a resolve goes in the round after its
/// trigger); returns how many were delivered.
async fn drain(app: &TestApp, client: &DeliveryClient, now: i64) -> usize {
    let mut delivered = 0;
    for _ in 0..10 {
        let r = dispatch(app, client, now).await;
        if r == delivery::DispatchReport::default() {
            return delivered;
        }
        delivered += r.delivered;
    }
    panic!("deliveries still due after 10 rounds");
}

async fn an_alarm_opens_once_and_resolves_once_on_every_provider(mut app: TestApp) {
    let rx = Receiver::start().await;
    use_receiver(&mut app, &rx);
    let client = delivery_client();
    let (owner, _, _) = app.signup("owner@example.com").await;
    every_channel(&app, &owner, &rx).await;
    let cluster = app.active_cluster(&owner, "orders", "shared-small").await;
    let rule = app
        .post(
            "/v1/alarm-rules",
            &owner,
            json!({"kind": "consumer_lag", "threshold": 100, "for_minutes": 1, "cluster_id": cluster}),
        )
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{:?}", rule.body);
    assert_eq!(rule.body["for_minutes"], 1);

    let t0 = eddy_api::store::now();
    lag(&app, &cluster, "billing", t0 - 90, 50.0).await;
    lag(&app, &cluster, "billing", t0 - 60, 500.0).await;
    lag(&app, &cluster, "billing", t0 - 30, 550.0).await;
    // Above the threshold for 30 s of the required 60: nothing yet.
    let r = evaluate::evaluate_once(&app.state, t0 - 30).await.unwrap();
    assert_eq!((r.opened, r.resolved), (0, 0));
    lag(&app, &cluster, "billing", t0, 600.0).await;
    let r = evaluate::evaluate_once(&app.state, t0).await.unwrap();
    assert_eq!((r.opened, r.resolved), (1, 0));
    // Still above: open once.
    let r = evaluate::evaluate_once(&app.state, t0).await.unwrap();
    assert_eq!((r.opened, r.resolved), (0, 0));
    let open = app.get("/v1/alarms", &owner).await;
    assert_eq!(open.status, StatusCode::OK);
    let alarms = open.body.as_array().unwrap();
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert_eq!(alarms[0]["subject"], "group=billing");
    assert_eq!(alarms[0]["state"], "open");
    let key = alarms[0]["dedup_key"].as_str().unwrap().to_string();

    let sent = dispatch(&app, &client, t0).await;
    assert_eq!(sent.delivered, 5, "{sent:?}");
    let reqs = rx.take();
    assert_eq!(reqs.len(), 5);
    // PagerDuty Events API v2.
    let pd = Receiver::one(&reqs, "/pd/").json();
    assert_eq!(Receiver::one(&reqs, "/pd/").path, "/pd/v2/enqueue");
    assert_eq!(pd["routing_key"], PD_KEY);
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["dedup_key"], key.as_str());
    assert_eq!(pd["payload"]["severity"], "warning");
    assert_eq!(pd["payload"]["source"], "orders");
    assert!(
        pd["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains("billing")
    );
    // OpsGenie, EU endpoint.
    let og = Receiver::one(&reqs, "/og-eu/");
    assert_eq!(og.path, "/og-eu/v2/alerts");
    assert_eq!(
        og.headers["authorization"],
        format!("GenieKey {OG_KEY}").as_str()
    );
    assert_eq!(og.json()["alias"], key.as_str());
    assert!(og.json()["message"].as_str().unwrap().chars().count() <= 130);
    // VictorOps REST endpoint with its routing key.
    let vo = Receiver::one(&reqs, "/vo/");
    assert_eq!(
        vo.path,
        format!("/vo/integrations/generic/20131114/alert/{VO_KEY}/kafka-team")
    );
    assert_eq!(vo.json()["message_type"], "CRITICAL");
    assert_eq!(vo.json()["entity_id"], key.as_str());
    // Slack incoming webhook.
    let slack = Receiver::one(&reqs, "/slack/");
    assert_eq!(slack.path, format!("/slack/T0/B0/{SLACK_TOKEN}"));
    assert!(
        slack.json()["text"]
            .as_str()
            .unwrap()
            .starts_with("[ALARM]")
    );
    // Signed webhook.
    let hook = Receiver::one(&reqs, "/hook");
    assert_eq!(hook.path, "/hook?token=abc");
    assert_eq!(hook.json()["type"], "alarm.opened");
    assert_eq!(hook.json()["dedup_key"], key.as_str());
    verify_signature(&hook);

    // The group catches up: the alarm resolves once.
    lag(&app, &cluster, "billing", t0 + 30, 3.0).await;
    let r = evaluate::evaluate_once(&app.state, t0 + 30).await.unwrap();
    assert_eq!((r.opened, r.resolved), (0, 1));
    let r = evaluate::evaluate_once(&app.state, t0 + 30).await.unwrap();
    assert_eq!((r.opened, r.resolved), (0, 0));
    let sent = dispatch(&app, &client, t0 + 30).await;
    assert_eq!(sent.delivered, 5, "{sent:?}");
    let reqs = rx.take();
    let pd = Receiver::one(&reqs, "/pd/").json();
    assert_eq!(pd["event_action"], "resolve");
    assert_eq!(pd["dedup_key"], key.as_str());
    assert_eq!(
        Receiver::one(&reqs, "/og-eu/").path,
        format!("/og-eu/v2/alerts/{key}/close?identifierType=alias")
    );
    assert_eq!(
        Receiver::one(&reqs, "/vo/").json()["message_type"],
        "RECOVERY"
    );
    assert!(
        Receiver::one(&reqs, "/slack/").json()["text"]
            .as_str()
            .unwrap()
            .starts_with("[RESOLVED]")
    );
    let hook = Receiver::one(&reqs, "/hook");
    assert_eq!(hook.json()["type"], "alarm.resolved");
    verify_signature(&hook);
    assert!(
        app.get("/v1/alarms", &owner)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    let all = app.get("/v1/alarms?state=all", &owner).await;
    assert_eq!(all.body[0]["state"], "resolved");

    // No answer carries a secret: channels, the delivery log, the audit log.
    let list = app.get("/v1/channels", &owner).await;
    assert_eq!(list.body.as_array().unwrap().len(), 5);
    assert_no_secret(&list.body);
    for ch in list.body.as_array().unwrap() {
        let id = ch["id"].as_str().unwrap();
        assert_no_secret(&app.get(&format!("/v1/channels/{id}"), &owner).await.body);
        let log = app
            .get(&format!("/v1/channels/{id}/deliveries"), &owner)
            .await;
        assert_eq!(log.body.as_array().unwrap().len(), 2, "{:?}", log.body);
        assert_eq!(log.body[0]["status_code"], 202);
        assert_eq!(log.body[0]["state"], "delivered");
        assert_eq!(log.body[0]["action"], "resolve");
        assert_no_secret(&log.body);
    }
    assert_no_secret(&app.get("/v1/audit", &owner).await.body);
    // Stored sealed: the database holds no secret in clear either.
    use sqlx::Row as _;
    for row in sqlx::query("SELECT secret_box, config FROM notification_channels")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap()
    {
        let sealed: String = row.try_get("secret_box").unwrap();
        let config: String = row.try_get("config").unwrap();
        assert_no_secret(&json!([sealed, config]));
    }

    // Deleting a rule resolves what it has open (and says so to the channels).
    lag(&app, &cluster, "billing", t0 + 60, 900.0).await;
    lag(&app, &cluster, "billing", t0 + 120, 900.0).await;
    let r = evaluate::evaluate_once(&app.state, t0 + 120).await.unwrap();
    assert_eq!(r.opened, 1);
    let rule_id = rule.body["id"].as_str().unwrap();
    let d = app
        .delete(&format!("/v1/alarm-rules/{rule_id}"), &owner)
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    assert!(
        app.get("/v1/alarms", &owner)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        drain(&app, &client, t0 + 120).await,
        10,
        "trigger and resolve on 5 channels"
    );
}

async fn a_failing_receiver_is_retried_then_logged_as_failed(mut app: TestApp) {
    let rx = Receiver::start().await;
    use_receiver(&mut app, &rx);
    let client = delivery_client();
    let (owner, _, _) = app.signup("owner@example.com").await;
    let hook = channel(
        &app,
        &owner,
        json!({"name": "hook", "kind": "webhook", "url": format!("{}/hook", rx.base), "secret": HOOK_SECRET}),
    )
    .await;
    let id = hook["id"].as_str().unwrap();
    rx.status.store(500, Ordering::SeqCst);
    let t = app
        .post(&format!("/v1/channels/{id}/test"), &owner, json!({}))
        .await;
    assert_eq!(t.status, StatusCode::ACCEPTED, "{:?}", t.body);
    let now = eddy_api::store::now();
    assert_eq!(dispatch(&app, &client, now).await.retrying, 1);
    // Not due again before the backoff (2 s, then 4 s).
    assert_eq!(
        dispatch(&app, &client, now + 1).await,
        delivery::DispatchReport::default()
    );
    assert_eq!(dispatch(&app, &client, now + 2).await.retrying, 1);
    assert_eq!(
        dispatch(&app, &client, now + 5).await,
        delivery::DispatchReport::default()
    );
    assert_eq!(dispatch(&app, &client, now + 6).await.failed, 1);
    // Out of attempts: never sent again.
    assert_eq!(
        dispatch(&app, &client, now + 1000).await,
        delivery::DispatchReport::default()
    );
    let reqs = rx.take();
    assert_eq!(reqs.len(), 3);
    assert!(reqs.iter().all(|r| r.json()["type"] == "test"));
    let log = app
        .get(&format!("/v1/channels/{id}/deliveries"), &owner)
        .await;
    let entries = log.body.as_array().unwrap();
    assert_eq!(entries.len(), 3, "{entries:?}");
    let attempts: Vec<i64> = entries
        .iter()
        .map(|e| e["attempt"].as_i64().unwrap())
        .collect();
    assert_eq!(attempts, vec![3, 2, 1]);
    for e in entries {
        assert_eq!(e["status_code"], 500);
        assert_eq!(e["state"], "failed");
        assert!(e["error"].as_str().unwrap().contains("500"));
        assert_eq!(e["action"], "test");
    }
    // The receiver recovers: the next test is delivered at once.
    rx.status.store(200, Ordering::SeqCst);
    app.post(&format!("/v1/channels/{id}/test"), &owner, json!({}))
        .await;
    assert_eq!(dispatch(&app, &client, now + 1001).await.delivered, 1);
    let log = app
        .get(&format!("/v1/channels/{id}/deliveries"), &owner)
        .await;
    assert_eq!(log.body[0]["status_code"], 200);
    assert_eq!(log.body[0]["state"], "delivered");
    // A receiver that does not listen at all is an error without a status.
    let dead = channel(
        &app,
        &owner,
        json!({"name": "dead", "kind": "slack", "url": "http://127.0.0.1:9/nothing"}),
    )
    .await;
    let dead_id = dead["id"].as_str().unwrap();
    app.post(&format!("/v1/channels/{dead_id}/test"), &owner, json!({}))
        .await;
    assert_eq!(dispatch(&app, &client, now + 1002).await.retrying, 1);
    let log = app
        .get(&format!("/v1/channels/{dead_id}/deliveries"), &owner)
        .await;
    assert!(log.body[0]["status_code"].is_null());
    assert!(!log.body[0]["error"].as_str().unwrap().is_empty());
}

async fn bad_input_and_roles_change_nothing(mut app: TestApp) {
    let rx = Receiver::start().await;
    use_receiver(&mut app, &rx);
    let (owner, _, _) = app.signup("owner@example.com").await;
    let billing = app
        .member(&owner, "billing@example.com", "billing_manager")
        .await;
    let member = app.member(&owner, "member@example.com", "member").await;
    let cluster = app.active_cluster(&owner, "orders", "shared-small").await;
    let ok_hook = json!({"name": "hook", "kind": "webhook", "url": "https://example.com/h", "secret": HOOK_SECRET});
    // Billing managers see nothing of alarms; members read alarms but manage nothing.
    for (path, who) in [
        ("/v1/channels", &billing),
        ("/v1/alarm-rules", &billing),
        ("/v1/alarms", &billing),
        ("/v1/channels", &member),
        ("/v1/alarm-rules", &member),
    ] {
        let r = app.get(path, who).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(r.headers["content-type"], "application/problem+json");
    }
    assert_eq!(app.get("/v1/alarms", &member).await.status, StatusCode::OK);
    assert_eq!(
        app.post("/v1/channels", &billing, ok_hook.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post("/v1/channels", &member, ok_hook.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post("/v1/alarm-rules", &billing, json!({"kind": "broker_down"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Bad channels: 422 naming the field.
    for (body, field) in [
        (
            json!({"name": "h", "kind": "webhook", "url": "ftp://example.com/h", "secret": HOOK_SECRET}),
            "url",
        ),
        (
            json!({"name": "h", "kind": "webhook", "url": "example.com", "secret": HOOK_SECRET}),
            "url",
        ),
        (
            json!({"name": "h", "kind": "webhook", "url": "https://example.com/h", "secret": "short"}),
            "secret",
        ),
        (
            json!({"name": "h", "kind": "carrier-pigeon", "secret": HOOK_SECRET}),
            "kind",
        ),
        (json!({"name": "p", "kind": "pagerduty"}), "secret"),
        (
            json!({"name": "p", "kind": "pagerduty", "secret": PD_KEY, "url": "https://x.example"}),
            "url",
        ),
        (
            json!({"name": "o", "kind": "opsgenie", "secret": OG_KEY, "region": "mars"}),
            "region",
        ),
        (
            json!({"name": "v", "kind": "victorops", "secret": VO_KEY}),
            "routing_key",
        ),
        (
            json!({"name": "", "kind": "slack", "url": "https://hooks.slack.com/x"}),
            "name",
        ),
    ] {
        let r = app.post("/v1/channels", &owner, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            r.body
        );
        assert_eq!(r.headers["content-type"], "application/problem+json");
        assert_eq!(r.body["field"], field, "{body}: {:?}", r.body);
        assert!(!r.body["title"].as_str().unwrap().is_empty());
    }
    // An unknown field (a secret smuggled where none goes) is refused too.
    let r = app
        .post(
            "/v1/channels",
            &owner,
            json!({"name": "s", "kind": "slack", "url": "https://h.example/x", "token": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Bad rules.
    for (body, field) in [
        (
            json!({"kind": "disk_used_percent", "threshold": 150}),
            "threshold",
        ),
        (json!({"kind": "consumer_lag"}), "threshold"),
        (
            json!({"kind": "consumer_lag", "threshold": -1}),
            "threshold",
        ),
        (
            json!({"kind": "consumer_lag", "threshold": 10, "for_minutes": 5000}),
            "for_minutes",
        ),
        (json!({"kind": "broker_down", "threshold": 1}), "threshold"),
        (json!({"kind": "broker_down", "group": "g"}), "group"),
        (json!({"kind": "cpu_on_fire"}), "kind"),
        (
            json!({"kind": "broker_down", "cluster_id": "0000000000000000000000000000dead"}),
            "cluster_id",
        ),
        (
            json!({"kind": "broker_down", "channel_ids": []}),
            "channel_ids",
        ),
        (
            json!({"kind": "broker_down", "channel_ids": ["0000000000000000000000000000dead"]}),
            "channel_ids",
        ),
    ] {
        let r = app.post("/v1/alarm-rules", &owner, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            r.body
        );
        assert_eq!(r.body["field"], field, "{body}: {:?}", r.body);
    }
    let r = app.get("/v1/alarms?state=bogus", &owner).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Nothing stored, nothing audited.
    assert_eq!(app.count("notification_channels").await, 0);
    assert_eq!(app.count("alarm_rules").await, 0);
    // A good rule on the cluster, with defaults.
    let r = app
        .post(
            "/v1/alarm-rules",
            &owner,
            json!({"kind": "disk_used_percent", "cluster_id": cluster}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["threshold"], 80.0);
    // Channels: replace the secret, which changes the hint and never shows the secret.
    let ch = channel(&app, &owner, ok_hook).await;
    let id = ch["id"].as_str().unwrap();
    let new_secret = "a-brand-new-secret-value-9999";
    let p = app
        .patch(
            &format!("/v1/channels/{id}"),
            &owner,
            json!({"url": "https://example.com/h2", "secret": new_secret}),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{:?}", p.body);
    assert!(p.body["secret_hint"].as_str().unwrap().contains("9999"));
    assert!(!p.body.to_string().contains(new_secret));
    let bad = app
        .patch(
            &format!("/v1/channels/{id}"),
            &owner,
            json!({"url": "mailto:x@y"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get(&format!("/v1/channels/{id}"), &owner).await.body["secret_hint"],
        p.body["secret_hint"]
    );
    // Another account sees none of it.
    let (other, _, _) = app.signup("other@example.com").await;
    assert_eq!(
        app.get(&format!("/v1/channels/{id}"), &other).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(&format!("/v1/channels/{id}/test"), &other, json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(
        app.get("/v1/channels", &other)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Deleting removes it.
    assert_eq!(
        app.delete(&format!("/v1/channels/{id}"), &owner)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/v1/channels/{id}"), &owner).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn brokers_down_and_failed_operations_raise_alarms(mut app: TestApp) {
    let rx = Receiver::start().await;
    use_receiver(&mut app, &rx);
    let client = delivery_client();
    let (owner, _, _) = app.signup("owner@example.com").await;
    let pd = channel(
        &app,
        &owner,
        json!({"name": "pd", "kind": "pagerduty", "secret": PD_KEY}),
    )
    .await;
    let pd_id = pd["id"].as_str().unwrap();
    channel(
        &app,
        &owner,
        json!({"name": "hook", "kind": "webhook", "url": format!("{}/hook", rx.base), "secret": HOOK_SECRET}),
    )
    .await;
    let accepted = app.create_cluster(&owner, "orders", "shared-small").await;
    let cluster = accepted["cluster"]["id"].as_str().unwrap().to_string();
    // Two brokers in the bootstrap list, and a third one's old samples (scaled away: never
    // "down").
    app.backend
        .report_bootstrap(&resource_name(&accepted), true, "b0:9092,b1:9092");
    app.sync().await;
    for body in [
        json!({"kind": "broker_down"}),
        json!({"kind": "operation_failed"}),
        // Offline partitions page PagerDuty only.
        json!({"kind": "offline_partitions", "channel_ids": [pd_id]}),
    ] {
        let r = app.post("/v1/alarm-rules", &owner, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let rules = app.get("/v1/alarm-rules", &owner).await.body;
    assert_eq!(rules[2]["channel_ids"], json!([pd_id]));
    assert!(rules[0]["channel_ids"].is_null());
    let t0 = eddy_api::store::now();
    let partitions = |broker: &str| Point {
        series: Series::Partitions,
        labels: labels([("broker", broker)]),
        value: 3.0,
    };
    let offline = |v: f64| Point {
        series: Series::OfflinePartitions,
        labels: labels([]),
        value: v,
    };
    let pool = &app.state.db.pool;
    metric_points::record(pool, &cluster, t0 - 600, &[partitions("b2")])
        .await
        .unwrap();
    metric_points::record(
        pool,
        &cluster,
        t0,
        &[partitions("b0"), partitions("b1"), offline(0.0)],
    )
    .await
    .unwrap();
    assert_eq!(
        evaluate::evaluate_once(&app.state, t0)
            .await
            .unwrap()
            .opened,
        0
    );
    // b1 stops answering; two rounds later (2 × 30 s) it is down, and a partition is offline.
    for t in [t0 + 30, t0 + 60, t0 + 90] {
        metric_points::record(pool, &cluster, t, &[partitions("b0"), offline(1.0)])
            .await
            .unwrap();
    }
    let r = evaluate::evaluate_once(&app.state, t0 + 90).await.unwrap();
    assert_eq!((r.opened, r.resolved), (2, 0), "{r:?}");
    let open = app.get("/v1/alarms", &owner).await.body;
    let subjects: Vec<&str> = open
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["subject"].as_str().unwrap())
        .collect();
    assert!(subjects.contains(&"broker=b1"), "{subjects:?}");
    assert!(subjects.contains(&"cluster"), "{subjects:?}");
    assert!(!subjects.contains(&"broker=b2"), "{subjects:?}");
    // b1 is back and the partition too: both resolve.
    metric_points::record(
        pool,
        &cluster,
        t0 + 120,
        &[partitions("b0"), partitions("b1"), offline(0.0)],
    )
    .await
    .unwrap();
    let r = evaluate::evaluate_once(&app.state, t0 + 120).await.unwrap();
    assert_eq!((r.opened, r.resolved), (0, 2), "{r:?}");
    // Fresh evidence that all is well changes nothing.
    let r = evaluate::evaluate_once(&app.state, t0 + 150).await.unwrap();
    assert_eq!((r.opened, r.resolved), (0, 0), "{r:?}");

    // A failed operation raises one alarm.
    let r = app.create_cluster(&owner, "doomed", "shared-small").await;
    let name = resource_name(&r);
    let (_, generation) = app.backend.object(&name).unwrap();
    app.backend.observations.lock().unwrap().insert(
        format!("eddy-clusters/{name}"),
        eddy_api::domain::operations::Observation {
            exists: true,
            observed_generation: Some(generation),
            ready: false,
            failure: Some("InsufficientCapacity: no node".into()),
            ..Default::default()
        },
    );
    app.sync().await;
    let now = eddy_api::store::now().max(t0 + 150);
    let r = evaluate::evaluate_once(&app.state, now).await.unwrap();
    assert_eq!(r.opened, 1, "{r:?}");
    assert_eq!(
        evaluate::evaluate_once(&app.state, now)
            .await
            .unwrap()
            .opened,
        0
    );
    let open = app.get("/v1/alarms", &owner).await.body;
    let failed: Vec<_> = open
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "operation_failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]["summary"]
            .as_str()
            .unwrap()
            .contains("InsufficientCapacity")
    );
    rx.take();
    // broker_down and offline each triggered and resolved (4), the failure triggered (1) to
    // PagerDuty; the webhook gets all but offline partitions (3).
    assert_eq!(drain(&app, &client, now).await, 8);
    let reqs: Vec<Recorded> = rx.take();
    let hook: Vec<String> = reqs
        .iter()
        .filter(|r| r.path == "/hook")
        .map(|r| r.json()["summary"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hook.len(), 3, "{hook:?}");
    assert!(hook.iter().all(|s| !s.contains("offline")), "{hook:?}");
    let reqs: Vec<Recorded> = reqs
        .into_iter()
        .filter(|r| r.path.starts_with("/pd/"))
        .collect();
    let severities: Vec<String> = reqs
        .iter()
        .filter(|r| r.json()["event_action"] == "trigger")
        .map(|r| {
            r.json()["payload"]["severity"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(severities.iter().filter(|s| *s == "critical").count(), 2);
    assert_eq!(severities.iter().filter(|s| *s == "error").count(), 1);
}

async fn a_stopped_consumer_on_a_real_broker_raises_one_alarm_and_its_resolve(mut app: TestApp) {
    let rx = Receiver::start().await;
    use_receiver(&mut app, &rx);
    let client = delivery_client();
    let broker = Broker::start("127.0.0.32");
    let (owner, _, _) = app.signup("owner@example.com").await;
    channel(
        &app,
        &owner,
        json!({"name": "hook", "kind": "webhook", "url": format!("{}/hook", rx.base), "secret": HOOK_SECRET}),
    )
    .await;
    let body = app.create_cluster(&owner, "orders", "shared-small").await;
    app.backend
        .report_bootstrap(&resource_name(&body), true, &broker.bootstrap());
    app.sync().await;
    let rule = app
        .post(
            "/v1/alarm-rules",
            &owner,
            json!({"kind": "consumer_lag", "threshold": 20, "for_minutes": 1, "group": "billing"}),
        )
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{:?}", rule.body);
    let sampler = eddy_api::samples::Sampler::new(eddy_api::samples::SamplerConfig {
        admin_port: broker.admin_port,
        ..eddy_api::samples::SamplerConfig::default()
    });
    let t0 = eddy_api::store::now();
    eddy_test_support::eventually_async(
        "the broker's /metrics read",
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(100),
        || async {
            let r = sampler.sample_once(&app.state, t0).await.unwrap();
            (r.brokers_read == 1).then_some(r)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nbroker log:\n{}", broker.log()));
    let consume = || {
        kcat(
            &broker,
            &[
                "-G",
                "billing",
                "-X",
                "auto.offset.reset=earliest",
                "-e",
                "-f",
                "%s\n",
                "orders",
            ],
            b"",
        )
    };
    let first: String = (0..100).map(|i| format!("r{i}\n")).collect();
    kcat(
        &broker,
        &["-P", "-t", "orders", "-p", "0"],
        first.as_bytes(),
    );
    assert_eq!(consume().lines().count(), 100);
    // The consumer stops; 50 more arrive: lag 50, above 20.
    let more: String = (0..50).map(|i| format!("late{i}\n")).collect();
    kcat(&broker, &["-P", "-t", "orders", "-p", "0"], more.as_bytes());
    let mut opened = 0;
    for t in [t0 + 30, t0 + 60, t0 + 90] {
        let r = sampler.sample_once(&app.state, t).await.unwrap();
        assert_eq!(r.brokers_read, 1, "{r:?}");
        let e = evaluate::evaluate_once(&app.state, t).await.unwrap();
        assert_eq!(e.resolved, 0);
        // Not before the lag has lasted a minute (t0 + 30 → t0 + 90).
        if t < t0 + 90 {
            assert_eq!(e.opened, 0, "at {}", t - t0);
        }
        opened += e.opened;
    }
    assert_eq!(opened, 1);
    let open = app.get("/v1/alarms", &owner).await.body;
    assert_eq!(open[0]["subject"], "group=billing");
    assert_eq!(open[0]["value"], "50");
    // It catches up: one resolve.
    assert_eq!(consume().lines().count(), 50);
    let r = sampler.sample_once(&app.state, t0 + 120).await.unwrap();
    assert_eq!(r.brokers_read, 1);
    let e = evaluate::evaluate_once(&app.state, t0 + 120).await.unwrap();
    assert_eq!((e.opened, e.resolved), (0, 1));
    assert_eq!(drain(&app, &client, t0 + 120).await, 2);
    let kinds: Vec<String> = rx
        .take()
        .iter()
        .map(|r| {
            verify_signature(r);
            r.json()["type"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(kinds, vec!["alarm.opened", "alarm.resolved"]);
}

/// CPU time of this process (user + system), from `/proc/self/stat`.
fn cpu_time() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split(' ')
        .skip(11)
        .take(2)
        .map(|v| v.parse().unwrap())
        .collect();
    std::time::Duration::from_millis((f[0] + f[1]) * 10) // USER_HZ is 100 on Linux
}

/// The evaluator's cost: 100 clusters with 2 consumer groups, a broker and its log dir each,
/// 5 rules covering every cluster, 2 h of 15-second samples; one round measured (SQLite;
/// `cargo nextest run -p eddy-api --test alarms --run-ignored only --no-capture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark, run by hand"]
async fn evaluation_cost_of_100_clusters() {
    const CLUSTERS: usize = 100;
    let app = TestApp::new(common::Db::Sqlite).await;
    let (owner, _, _) = app.signup("owner@example.com").await;
    for i in 0..CLUSTERS {
        let body = app
            .create_cluster(&owner, &format!("c{i:03}"), "shared-small")
            .await;
        app.backend
            .report_bootstrap(&resource_name(&body), true, "127.0.0.1:9092");
    }
    app.sync().await;
    for body in [
        json!({"kind": "consumer_lag", "threshold": 1000, "for_minutes": 5}),
        json!({"kind": "disk_used_percent"}),
        json!({"kind": "broker_down"}),
        json!({"kind": "offline_partitions"}),
        json!({"kind": "operation_failed"}),
    ] {
        assert_eq!(
            app.post("/v1/alarm-rules", &owner, body).await.status,
            StatusCode::CREATED
        );
    }
    let ids: Vec<String> = app.get("/v1/clusters?limit=100", &owner).await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    let t0 = eddy_api::store::now() - 7200;
    for (n, id) in ids.iter().enumerate() {
        for r in 0..480 {
            let lagging = n % 10 == 0 && r > 400;
            let points = vec![
                Point {
                    series: Series::ConsumerLag,
                    labels: labels([("group", "a")]),
                    value: if lagging { 5000.0 } else { 10.0 },
                },
                Point {
                    series: Series::ConsumerLag,
                    labels: labels([("group", "b")]),
                    value: 3.0,
                },
                Point {
                    series: Series::DiskUsed,
                    labels: labels([("broker", "b0"), ("dir", "/d")]),
                    value: 1e9,
                },
                Point {
                    series: Series::DiskFree,
                    labels: labels([("broker", "b0"), ("dir", "/d")]),
                    value: 9e9,
                },
                Point {
                    series: Series::Partitions,
                    labels: labels([("broker", "127.0.0.1")]),
                    value: 12.0,
                },
                Point {
                    series: Series::OfflinePartitions,
                    labels: labels([]),
                    value: 0.0,
                },
            ];
            metric_points::record(&app.state.db.pool, id, t0 + 15 * r, &points)
                .await
                .unwrap();
        }
    }
    let now = t0 + 15 * 479;
    let (cpu0, wall0) = (cpu_time(), std::time::Instant::now());
    let r = evaluate::evaluate_once(&app.state, now).await.unwrap();
    let (cpu, wall) = (cpu_time() - cpu0, wall0.elapsed());
    assert_eq!(r.opened, CLUSTERS / 10, "{r:?}");
    let (cpu1, wall1) = (cpu_time(), std::time::Instant::now());
    let again = evaluate::evaluate_once(&app.state, now).await.unwrap();
    let (cpu_steady, wall_steady) = (cpu_time() - cpu1, wall1.elapsed());
    assert_eq!((again.opened, again.resolved), (0, 0));
    println!(
        "{CLUSTERS} clusters × 5 rules: first round (opening {} alarms, {} deliveries queued) CPU {cpu:?} wall {wall:?}; \
         steady round CPU {cpu_steady:?} wall {wall_steady:?} ({:.2} % of one core at a 30 s interval)",
        r.opened,
        app.count("notification_deliveries").await,
        cpu_steady.as_secs_f64() / 30.0 * 100.0
    );
}

/// `PATCH /v1/alarm-rules/{id}`: the terms change in place (the same id), what is left out
/// stays, bad values are a 422 that changes nothing, and members may not edit.
async fn rules_are_edited_in_place(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    let member = app.member(&owner, "member@example.com", "member").await;
    let cluster = app.active_cluster(&owner, "orders", "shared-small").await;
    let hook = app
        .post(
            "/v1/channels",
            &owner,
            json!({"name": "hook", "kind": "webhook", "url": "https://example.com/h", "secret": HOOK_SECRET}),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{:?}", hook.body);
    let hook_id = hook.body["id"].as_str().unwrap().to_string();
    let rule = app
        .post(
            "/v1/alarm-rules",
            &owner,
            json!({"kind": "consumer_lag", "threshold": 100, "for_minutes": 1, "cluster_id": cluster}),
        )
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{:?}", rule.body);
    let id = rule.body["id"].as_str().unwrap().to_string();
    let path = format!("/v1/alarm-rules/{id}");
    let r = app
        .patch(
            &path,
            &owner,
            json!({"name": "billing lag", "threshold": 500, "group": "billing", "channel_ids": [hook_id]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let got = app.get(&path, &owner).await.body;
    assert_eq!(
        (
            &got["id"],
            &got["name"],
            &got["threshold"],
            &got["for_minutes"],
            &got["group"],
            &got["channel_ids"],
            &got["cluster_id"],
        ),
        (
            &json!(id),
            &json!("billing lag"),
            &json!(500.0),
            &json!(1),
            &json!("billing"),
            &json!([hook_id]),
            &json!(cluster),
        )
    );
    // `null` goes back to every group and every channel.
    let r = app
        .patch(&path, &owner, json!({"group": null, "channel_ids": null}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["group"].is_null() && r.body["channel_ids"].is_null());
    assert_eq!(r.body["threshold"], 500.0);
    // Bad values and immutable fields: 422 (or 400 for an unknown field), nothing changed.
    for (body, field) in [
        (json!({"threshold": -1}), "threshold"),
        (json!({"for_minutes": 5000}), "for_minutes"),
        (json!({"channel_ids": []}), "channel_ids"),
        (json!({"channel_ids": ["nope"]}), "channel_ids"),
        (json!({"name": ""}), "name"),
    ] {
        let r = app.patch(&path, &owner, body.clone()).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}: {:?}",
            r.body
        );
    }
    let r = app
        .patch(&path, &owner, json!({"kind": "broker_down"}))
        .await;
    assert!(r.status.is_client_error(), "{:?}", r.body);
    assert_eq!(
        app.patch(&path, &member, json!({"threshold": 1}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let after = app.get(&path, &owner).await.body;
    assert_eq!(
        (&after["kind"], &after["threshold"], &after["name"]),
        (&json!("consumer_lag"), &json!(500.0), &json!("billing lag"))
    );
    assert_eq!(
        app.patch("/v1/alarm-rules/nope", &owner, json!({"threshold": 1}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
