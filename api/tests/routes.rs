//! Route tests with `oneshot`, each scenario on a fresh SQLite file and on a fresh private
//! PostgreSQL server.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use axum::http::{Method, StatusCode};
use common::{TestApp, resource_name};
use serde_json::json;

on_both_databases!(
    signup_signin_refresh_rotation,
    roles_are_enforced_on_every_route,
    api_keys_are_shown_once_scoped_and_revocable,
    invitations_and_membership_management,
    cluster_lifecycle_create_resize_upgrade_restart_delete,
    one_active_operation_per_cluster_and_preconditions,
    idempotent_create,
    bad_input_gets_problems_and_changes_nothing,
    cursor_pagination,
    backend_faults_are_503_and_change_nothing,
    billing_invoices_and_credit_notes,
    failed_create_costs_nothing,
    audit_log_records_mutations,
    meta_endpoints,
    topics_within_plan_limits,
    topic_configs_are_checked_merged_and_written,
    a_cluster_ready_at_the_first_look_still_shows_a_running_step,
    an_upgrade_reports_the_operators_phases_as_steps,
);

async fn signup_signin_refresh_rotation(app: TestApp) {
    let (_, account, refresh) = app.signup("ann@example.com").await;
    let dup = app
        .call(Method::POST, "/v1/auth/signup", None, Some(json!({"email": "ANN@example.com", "password": "correct horse battery", "name": "A", "account_name": "B"})), &[])
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.code(), "email_taken");
    let bad = app
        .call(
            Method::POST,
            "/v1/auth/signin",
            None,
            Some(json!({"email": "ann@example.com", "password": "nope nope nope"})),
            &[],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let ok = app
        .call(
            Method::POST,
            "/v1/auth/signin",
            None,
            Some(json!({"email": "ann@example.com", "password": "correct horse battery"})),
            &[],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["account_id"], account);
    let access = ok.body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/v1/account", access).await.status, StatusCode::OK);
    // Refresh tokens rotate: each works once.
    let r1 = app
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
            &[],
        )
        .await;
    assert_eq!(r1.status, StatusCode::OK, "{:?}", r1.body);
    let again = app
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    // An access token is not a refresh token.
    let wrong = app
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": access})),
            &[],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    // Brute force is throttled with 429 + Retry-After.
    let mut last = None;
    for _ in 0..12 {
        last = Some(
            app.call(
                Method::POST,
                "/v1/auth/signin",
                None,
                Some(json!({"email": "ann@example.com", "password": "wrong wrong wrong"})),
                &[],
            )
            .await,
        );
    }
    let last = last.unwrap();
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(last.headers.get("retry-after").is_some());
}

async fn roles_are_enforced_on_every_route(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    let viewer = app.member(&owner, "viewer@example.com", "viewer").await;
    let billing = app
        .member(&owner, "billing@example.com", "billing_manager")
        .await;
    let member = app.member(&owner, "member@example.com", "member").await;
    let id = app.active_cluster(&owner, "orders", "shared-small").await;

    // Viewer: reads clusters, cannot change them or see billing.
    assert_eq!(
        app.get("/v1/clusters", &viewer).await.status,
        StatusCode::OK
    );
    let r = app
        .post(
            "/v1/clusters",
            &viewer,
            json!({"name": "x-one", "plan_id": "shared-small"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.headers["content-type"], "application/problem+json");
    assert_eq!(
        app.get("/v1/invoices", &viewer).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/v1/audit", &viewer).await.status,
        StatusCode::FORBIDDEN
    );
    // Billing manager: invoices and billing details, never clusters.
    assert_eq!(
        app.get("/v1/invoices", &billing).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/clusters", &billing).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&format!("/v1/clusters/{id}"), &billing)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let patch = app
        .patch("/v1/account", &billing, json!({"po_number": "PO-1"}))
        .await;
    assert_eq!(patch.status, StatusCode::OK);
    // Member: clusters yes, members and keys no.
    assert_eq!(
        app.post(
            "/v1/clusters",
            &member,
            json!({"name": "by-member", "plan_id": "shared-small"})
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.post(
            "/v1/invitations",
            &member,
            json!({"email": "x@example.com", "role": "viewer"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/v1/api-keys", &member).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.patch("/v1/account", &member, json!({"po_number": "x"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Nobody unauthenticated.
    assert_eq!(
        app.call(Method::GET, "/v1/clusters", None, None, &[])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Plans are public.
    assert_eq!(
        app.call(Method::GET, "/v1/plans", None, None, &[])
            .await
            .status,
        StatusCode::OK
    );
}

async fn api_keys_are_shown_once_scoped_and_revocable(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    let r = app
        .post(
            "/v1/api-keys",
            &owner,
            json!({"name": "ci", "role": "viewer", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    let key_id = r.body["id"].as_str().unwrap().to_string();
    assert!(secret.starts_with("eddy_"));
    let list = app.get("/v1/api-keys", &owner).await;
    assert!(
        list.body[0].get("secret").is_none(),
        "secret shown once only"
    );
    assert!(list.body[0]["last_used_at"].is_null());
    // The key acts with its (viewer) scope.
    assert_eq!(
        app.get("/v1/clusters", &secret).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.post(
            "/v1/clusters",
            &secret,
            json!({"name": "nope", "plan_id": "shared-small"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let list = app.get("/v1/api-keys", &owner).await;
    assert!(
        list.body[0]["last_used_at"].is_string(),
        "last use recorded"
    );
    // A tampered secret and a revoked key are rejected.
    let tampered = format!("{}x", &secret[..secret.len() - 1]);
    assert_eq!(
        app.get("/v1/clusters", &tampered).await.status,
        StatusCode::UNAUTHORIZED
    );
    let del = app.delete(&format!("/v1/api-keys/{key_id}"), &owner).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/v1/clusters", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Admins cannot mint owner keys.
    let admin = app.member(&owner, "admin@example.com", "admin").await;
    assert_eq!(
        app.post(
            "/v1/api-keys",
            &admin,
            json!({"name": "x", "role": "owner"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(
            "/v1/api-keys",
            &admin,
            json!({"name": "x", "role": "admin", "expires_in_days": 0})
        )
        .await
        .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn invitations_and_membership_management(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    let admin = app.member(&owner, "admin@example.com", "admin").await;
    // Admins cannot invite owners.
    assert_eq!(
        app.post(
            "/v1/invitations",
            &admin,
            json!({"email": "o2@example.com", "role": "owner"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let members = app.get("/v1/members", &owner).await;
    assert_eq!(members.body.as_array().unwrap().len(), 2);
    let owner_id = members
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "owner")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let admin_id = members
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "admin")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    // The last owner stays.
    let demote = app
        .patch(
            &format!("/v1/members/{owner_id}"),
            &owner,
            json!({"role": "viewer"}),
        )
        .await;
    assert_eq!(demote.status, StatusCode::CONFLICT);
    assert_eq!(demote.code(), "last_owner");
    // Admin cannot touch the owner.
    let r = app.delete(&format!("/v1/members/{owner_id}"), &admin).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Demoting the admin takes effect on their very next request.
    let r = app
        .patch(
            &format!("/v1/members/{admin_id}"),
            &owner,
            json!({"role": "viewer"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/v1/invitations", &admin).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app.delete(&format!("/v1/members/{admin_id}"), &owner).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/v1/clusters", &admin).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Revoked invitations cannot be accepted.
    let inv = app
        .post(
            "/v1/invitations",
            &owner,
            json!({"email": "late@example.com", "role": "member"}),
        )
        .await;
    let id = inv.body["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/v1/invitations/{id}"), &owner)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let acc = app
        .call(
            Method::POST,
            "/v1/auth/accept-invitation",
            None,
            Some(json!({"token": inv.body["token"], "password": "long enough pw", "name": "L"})),
            &[],
        )
        .await;
    assert_eq!(acc.status, StatusCode::NOT_FOUND);
}

async fn cluster_lifecycle_create_resize_upgrade_restart_delete(app: TestApp) {
    let (owner, account, _) = app.signup("owner@example.com").await;
    let created = app.create_cluster(&owner, "orders", "shared-small").await;
    let id = created["cluster"]["id"].as_str().unwrap().to_string();
    let op = created["operation"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["cluster"]["state"], "creating");
    assert_eq!(created["operation"]["state"], "pending");
    let name = resource_name(&created);
    let (obj, _) = app.backend.object(&name).expect("KafkaCluster written");
    assert_eq!(
        (obj.namespace.as_str(), obj.brokers, obj.storage_gb),
        ("eddy-clusters", 1, 5)
    );
    assert_eq!(obj.account_id, account);
    // The operator picks it up (not ready yet): running.
    app.backend.report(&name, false);
    app.sync().await;
    let o = app.get(&format!("/v1/operations/{op}"), &owner).await;
    assert_eq!(o.body["state"], "running");
    // Connection details are refused while creating.
    assert_eq!(
        app.get(&format!("/v1/clusters/{id}/connection"), &owner)
            .await
            .status,
        StatusCode::CONFLICT
    );
    app.backend.report(&name, true);
    app.sync().await;
    let o = app.get(&format!("/v1/operations/{op}"), &owner).await;
    assert_eq!(o.body["state"], "succeeded", "{:?}", o.body);
    let k = app.get(&format!("/v1/clusters/{id}"), &owner).await;
    assert_eq!(k.body["state"], "active");
    assert!(
        k.body["bootstrap_servers"]
            .as_str()
            .unwrap()
            .contains(&name)
    );
    let conn = app
        .get(&format!("/v1/clusters/{id}/connection"), &owner)
        .await;
    assert_eq!(conn.status, StatusCode::OK);
    // Secure by default: SCRAM over TLS first, the CA, and never a password.
    assert_eq!(conn.body["security_protocol"], "SASL_SSL");
    assert_eq!(conn.body["sasl_mechanism"], "SCRAM-SHA-512");
    assert!(conn.body["username"].is_null() && conn.body.get("password").is_none());
    assert_eq!(conn.body["ca_certificate"], common::TEST_CA);

    // The preview says what a resize will do and changes nothing: brokers 1 and 2 are added,
    // the price goes up; no disk sampled yet, so no byte estimate. A refused resize is 422.
    let etag = k.etag();
    let preview = app
        .post(
            &format!("/v1/clusters/{id}/resize/preview"),
            &owner,
            json!({"plan_id": "shared-medium"}),
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{:?}", preview.body);
    assert_eq!(preview.body["brokers_added"], json!([1, 2]));
    assert_eq!(preview.body["brokers_drained"], json!([]));
    assert_eq!(preview.body["storage_gb_after"], 20);
    assert!(preview.body["estimated_bytes_to_move"].is_null());
    let price = |k: &str| preview.body[k].as_str().unwrap().parse::<f64>().unwrap();
    assert!(price("monthly_price_after") > price("monthly_price_before"));
    let refused = app
        .post(
            &format!("/v1/clusters/{id}/resize/preview"),
            &owner,
            json!({"plan_id": "dedicated-1"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get(&format!("/v1/clusters/{id}"), &owner).await.etag(),
        etag,
        "a preview changes nothing"
    );

    // Resize: shared-small -> shared-medium, then cross-tier is refused, storage never shrinks.
    let r = app
        .if_match(
            Method::POST,
            &format!("/v1/clusters/{id}/resize"),
            &owner,
            Some(json!({"plan_id": "shared-medium"})),
            &etag,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(r.body["cluster"]["state"], "updating");
    assert_eq!(app.backend.object(&name).unwrap().0.brokers, 3);
    app.backend.report(&name, true);
    app.sync().await;
    let k = app.get(&format!("/v1/clusters/{id}"), &owner).await;
    assert_eq!(
        (
            k.body["state"].as_str(),
            k.body["plan_id"].as_str(),
            k.body["storage_gb"].as_i64()
        ),
        (Some("active"), Some("shared-medium"), Some(20))
    );
    let etag = k.etag();
    let r = app
        .if_match(
            Method::POST,
            &format!("/v1/clusters/{id}/resize"),
            &owner,
            Some(json!({"plan_id": "dedicated-1"})),
            &etag,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .if_match(
            Method::POST,
            &format!("/v1/clusters/{id}/resize"),
            &owner,
            Some(json!({"plan_id": "shared-small", "storage_gb": 10})),
            &etag,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "storage_gb");

    // Upgrade: only forward (the catalog has one version, so this is a downgrade/same).
    let r = app
        .if_match(
            Method::POST,
            &format!("/v1/clusters/{id}/upgrade"),
            &owner,
            Some(json!({"version": "0.1.0"})),
            &etag,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "version");

    // Restart: succeeds only once the operator reports the restart token done.
    let r = app
        .if_match(
            Method::POST,
            &format!("/v1/clusters/{id}/restart"),
            &owner,
            None,
            &etag,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let restart_op = r.body["operation"]["id"].as_str().unwrap().to_string();
    assert!(app.backend.object(&name).unwrap().0.restart_token.is_some());
    app.backend.report(&name, true);
    app.sync().await;
    assert_eq!(
        app.get(&format!("/v1/operations/{restart_op}"), &owner)
            .await
            .body["state"],
        "succeeded"
    );

    // Delete with If-Match; resources removed -> deleted, gone from the list.
    let k = app.get(&format!("/v1/clusters/{id}"), &owner).await;
    let etag = k.etag();
    let r = app
        .if_match(
            Method::DELETE,
            &format!("/v1/clusters/{id}"),
            &owner,
            None,
            &etag,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(r.body["cluster"]["state"], "deleting");
    assert!(app.backend.object(&name).is_none());
    app.sync().await;
    assert_eq!(
        app.get(&format!("/v1/clusters/{id}"), &owner).await.status,
        StatusCode::NOT_FOUND
    );
    let ops = app
        .get(
            &format!(
                "/v1/operations/{}",
                r.body["operation"]["id"].as_str().unwrap()
            ),
            &owner,
        )
        .await;
    assert_eq!(ops.body["state"], "succeeded");
    assert_eq!(app.cluster_count(&owner).await, 0);
}

async fn one_active_operation_per_cluster_and_preconditions(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    let r = app
        .post(
            "/v1/clusters",
            &owner,
            json!({"name": "orders", "plan_id": "shared-small"}),
        )
        .await;
    let id = r.body["cluster"]["id"].as_str().unwrap().to_string();
    let name = resource_name(&r.body);
    let etag = r.etag();
    // While creating, nothing else may start.
    let busy = app
        .if_match(
            Method::POST,
            &format!("/v1/clusters/{id}/restart"),
            &owner,
            None,
            &etag,
        )
        .await;
    assert_eq!(busy.status, StatusCode::CONFLICT);
    assert_eq!(busy.code(), "operation_in_progress");
    app.backend.report(&name, true);
    app.sync().await;
    // Missing If-Match: 428; stale: 412.
    let r = app
        .call(
            Method::POST,
            &format!("/v1/clusters/{id}/restart"),
            Some(&owner),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_REQUIRED);
    let r = app
        .if_match(
            Method::POST,
            &format!("/v1/clusters/{id}/restart"),
            &owner,
            None,
            &etag,
        )
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    // Deletion protection (on by default) is enforced server-side.
    let fresh = app.get(&format!("/v1/clusters/{id}"), &owner).await;
    let etag = fresh.etag();
    let r = app
        .if_match(
            Method::DELETE,
            &format!("/v1/clusters/{id}"),
            &owner,
            None,
            &etag,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "deletion_protected");
    let r = app
        .if_match(
            Method::PATCH,
            &format!("/v1/clusters/{id}"),
            &owner,
            Some(json!({"deletion_protection": false})),
            &etag,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let etag2 = r.etag();
    assert_ne!(etag, etag2);
    // Two racing mutations with the same ETag: exactly one wins.
    let (restart, delete) = (
        format!("/v1/clusters/{id}/restart"),
        format!("/v1/clusters/{id}"),
    );
    let h = [("if-match", etag2.as_str())];
    let a = app.call(Method::POST, &restart, Some(&owner), None, &h);
    let b = app.call(Method::DELETE, &delete, Some(&owner), None, &h);
    let (a, b) = tokio::join!(a, b);
    let wins = [a.status, b.status]
        .iter()
        .filter(|s| **s == StatusCode::ACCEPTED)
        .count();
    assert_eq!(wins, 1, "{:?} {:?}", a.body, b.body);
    for r in [a, b] {
        assert!(
            [
                StatusCode::ACCEPTED,
                StatusCode::PRECONDITION_FAILED,
                StatusCode::CONFLICT,
                StatusCode::SERVICE_UNAVAILABLE
            ]
            .contains(&r.status),
            "{:?}",
            r.body
        );
    }
    assert_eq!(app.count("operations WHERE active = 1").await, 1);
}

async fn idempotent_create(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    let body = json!({"name": "orders", "plan_id": "shared-small"});
    let h = [("idempotency-key", "k-123")];
    let a = app
        .call(
            Method::POST,
            "/v1/clusters",
            Some(&owner),
            Some(body.clone()),
            &h,
        )
        .await;
    let b = app
        .call(Method::POST, "/v1/clusters", Some(&owner), Some(body), &h)
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(b.status, StatusCode::ACCEPTED);
    assert_eq!(a.body["cluster"]["id"], b.body["cluster"]["id"]);
    assert_eq!(a.body["operation"]["id"], b.body["operation"]["id"]);
    assert_eq!(app.count("clusters").await, 1);
    let other = app
        .call(
            Method::POST,
            "/v1/clusters",
            Some(&owner),
            Some(json!({"name": "other", "plan_id": "shared-small"})),
            &h,
        )
        .await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(other.code(), "idempotency_key_reused");
    // Same name without a key: 409 name_taken.
    let dup = app
        .post(
            "/v1/clusters",
            &owner,
            json!({"name": "orders", "plan_id": "shared-small"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.code(), "name_taken");
}

async fn bad_input_gets_problems_and_changes_nothing(app: TestApp) {
    let (owner, account, _) = app.signup("owner@example.com").await;
    let before = (
        app.count("clusters").await,
        app.count("operations").await,
        app.count("audit_log").await,
    );
    let send = |body: &'static str, ctype: &'static str| {
        let req = axum::http::Request::builder()
            .method(Method::POST)
            .uri("/v1/clusters")
            .header("authorization", format!("Bearer {owner}"))
            .header("content-type", ctype)
            .body(axum::body::Body::from(body))
            .unwrap();
        app.raw(req)
    };
    let r = send("{not json", "application/json").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    assert_eq!(r.headers["content-type"], "application/problem+json");
    let r = send(
        r#"{"name": 5, "plan_id": "shared-small"}"#,
        "application/json",
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation")
    );
    let r = send(
        r#"{"name": "a", "plan_id": "x", "surprise": 1}"#,
        "application/json",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = send(
        r#"{"name": "abc", "plan_id": "shared-small"}"#,
        "text/plain",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge: &'static str = Box::leak(
        format!(
            r#"{{"name": "{}", "plan_id": "shared-small"}}"#,
            "a".repeat(200_000)
        )
        .into_boxed_str(),
    );
    let r = send(huge, "application/json").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let r = app
        .post(
            "/v1/clusters",
            &owner,
            json!({"name": "x'; DROP TABLE clusters; --", "plan_id": "shared-small"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("name"))
    );
    let r = app
        .post(
            "/v1/clusters",
            &owner,
            json!({"name": "orders", "plan_id": "' OR 1=1 --"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("plan_id"))
    );
    let r = app
        .post(
            "/v1/clusters",
            &owner,
            json!({"name": "orders", "plan_id": "shared-small", "storage_gb": 1}),
        )
        .await;
    assert_eq!(r.body["field"], "storage_gb");
    let r = app
        .get("/v1/clusters?cursor=%27%20OR%201%3D1%20--", &owner)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .get("/v1/clusters/%27%20OR%20%271%27%3D%271", &owner)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // SQL-looking free text is stored as text, not executed.
    let r = app
        .call(
            Method::PATCH,
            "/v1/account",
            Some(&owner),
            Some(json!({"billing_notes": "'); DELETE FROM accounts; --"})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.count("accounts").await, 1);
    // Expired, forged and malformed tokens.
    let keys = eddy_api::auth::JwtKeys::new(&[(
        "t1".into(),
        "test-signing-key-0123456789abcdef0123456789".into(),
    )])
    .unwrap();
    let (expired, _) = keys
        .issue("u", &account, eddy_api::auth::TokenKind::Access, 1_000_000)
        .unwrap();
    let forger = eddy_api::auth::JwtKeys::new(&[(
        "t1".into(),
        "some-other-secret-0123456789abcdef0123456".into(),
    )])
    .unwrap();
    let (forged, _) = forger
        .issue(
            "u",
            &account,
            eddy_api::auth::TokenKind::Access,
            eddy_api::store::now(),
        )
        .unwrap();
    for t in [
        expired.as_str(),
        forged.as_str(),
        "garbage",
        "eddy_nope",
        "",
    ] {
        let r = app
            .post(
                "/v1/clusters",
                t,
                json!({"name": "sneaky", "plan_id": "shared-small"}),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
            "{t}"
        );
    }
    // Unknown routes and methods are problems too.
    assert_eq!(app.get("/v1/nope", &owner).await.code(), "not_found");
    let r = app
        .call(Method::PUT, "/v1/clusters", Some(&owner), None, &[])
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let after = (
        app.count("clusters").await,
        app.count("operations").await,
        app.count("audit_log").await,
    );
    // Only the billing-notes PATCH wrote an audit entry.
    assert_eq!(
        (after.0, after.1, after.2),
        (before.0, before.1, before.2 + 1)
    );
    assert!(app.backend.objects.lock().unwrap().is_empty());
}

async fn cursor_pagination(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    for i in 0..5 {
        app.create_cluster(&owner, &format!("c-{i}"), "shared-small")
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/v1/clusters?limit=2&cursor={c}"),
            None => "/v1/clusters?limit=2".into(),
        };
        let page = app.get(&path, &owner).await;
        assert_eq!(page.status, StatusCode::OK);
        for k in page.body["items"].as_array().unwrap() {
            seen.push(k["name"].as_str().unwrap().to_string());
        }
        cursor = page.body["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["c-0", "c-1", "c-2", "c-3", "c-4"]);
    // Other accounts see nothing.
    let (other, _, _) = app.signup("other@example.com").await;
    assert_eq!(app.cluster_count(&other).await, 0);
}

async fn backend_faults_are_503_and_change_nothing(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    *app.backend.down.lock().unwrap() = true;
    let r = app
        .post(
            "/v1/clusters",
            &owner,
            json!({"name": "orders", "plan_id": "shared-small"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "backend_unavailable")
    );
    assert!(r.headers.get("retry-after").is_some());
    assert_eq!(app.count("clusters").await, 0);
    assert_eq!(app.count("operations").await, 0);
    *app.backend.down.lock().unwrap() = false;
    assert_eq!(
        app.post(
            "/v1/clusters",
            &owner,
            json!({"name": "orders", "plan_id": "shared-small"})
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
}

async fn billing_invoices_and_credit_notes(app: TestApp) {
    use eddy_api::domain::billing::Period;
    let (owner, _, _) = app.signup("owner@example.com").await;
    let billing = app
        .member(&owner, "billing@example.com", "billing_manager")
        .await;
    let r = app.create_cluster(&owner, "orders", "dedicated-1").await;
    let id = r["cluster"]["id"].as_str().unwrap().to_string();
    let name = resource_name(&r);
    // Drive the create to success at the very start of January 2026 (the observation's time is
    // the billing time), so January is a full month of the plan.
    let jan = Period::month(2026, 1).unwrap();
    app.backend.report(&name, true);
    let obs = app.backend.observe_now(&name).await;
    eddy_api::ops::apply_observation(&app.state, &id, &obs, jan.start)
        .await
        .unwrap();
    let r = app.patch("/v1/account", &billing, json!({"payment_terms": "wire_net15", "po_number": "PO-77", "billing_notes": "attn: finance"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let inv = app
        .post("/v1/invoices", &billing, json!({"year": 2026, "month": 1}))
        .await;
    assert_eq!(inv.status, StatusCode::CREATED, "{:?}", inv.body);
    assert_eq!(inv.body["total"], "499.00");
    assert_eq!(inv.body["po_number"], "PO-77");
    assert_eq!(inv.body["payment_terms"], "wire_net15");
    let issued =
        eddy_api::domain::plans::parse_rfc3339(inv.body["issued_at"].as_str().unwrap()).unwrap();
    let due = eddy_api::domain::plans::parse_rfc3339(inv.body["due_at"].as_str().unwrap()).unwrap();
    assert_eq!(due - issued, 15 * 86_400);
    // Invoices are immutable: a second issue of January is refused.
    let again = app
        .post("/v1/invoices", &billing, json!({"year": 2026, "month": 1}))
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "already_invoiced")
    );
    // Open months cannot be invoiced.
    let now = eddy_api::domain::billing::Period::containing(eddy_api::store::now()).unwrap();
    let open = app
        .post(
            "/v1/invoices",
            &billing,
            json!({"year": now.year, "month": now.month}),
        )
        .await;
    assert_eq!(open.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Credit notes correct it, never beyond its total.
    let inv_id = inv.body["id"].as_str().unwrap();
    let cn = app
        .post(
            &format!("/v1/invoices/{inv_id}/credit-notes"),
            &billing,
            json!({"amount": "99.00", "reason": "goodwill"}),
        )
        .await;
    assert_eq!(cn.status, StatusCode::CREATED, "{:?}", cn.body);
    assert_eq!(cn.body["total"], "-99.00");
    assert_eq!(cn.body["corrects"], inv_id);
    let too_much = app
        .post(
            &format!("/v1/invoices/{inv_id}/credit-notes"),
            &billing,
            json!({"amount": "400.01", "reason": "x"}),
        )
        .await;
    assert_eq!(too_much.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get("/v1/invoices", &billing)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let again = app.get(&format!("/v1/invoices/{inv_id}"), &billing).await;
    assert_eq!(
        again.body["total"], "499.00",
        "the invoice itself never changes"
    );
}

async fn failed_create_costs_nothing(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    let r = app.create_cluster(&owner, "doomed", "shared-small").await;
    let name = resource_name(&r);
    let op = r["operation"]["id"].as_str().unwrap().to_string();
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
    let o = app.get(&format!("/v1/operations/{op}"), &owner).await;
    assert_eq!(o.body["state"], "failed");
    assert!(
        o.body["error"]
            .as_str()
            .unwrap()
            .contains("InsufficientCapacity")
    );
    assert_eq!(
        app.get(
            &format!("/v1/clusters/{}", r["cluster"]["id"].as_str().unwrap()),
            &owner
        )
        .await
        .body["state"],
        "failed"
    );
    assert_eq!(app.count("usage_segments").await, 0);
}

async fn audit_log_records_mutations(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    app.create_cluster(&owner, "orders", "shared-small").await;
    app.post(
        "/v1/api-keys",
        &owner,
        json!({"name": "ci", "role": "viewer"}),
    )
    .await;
    let log = app.get("/v1/audit", &owner).await;
    assert_eq!(log.status, StatusCode::OK);
    let actions: Vec<&str> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["api_key.create", "cluster.create", "account.create"]
    );
    assert!(
        log.body["items"][0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("user:")
    );
    assert!(log.body["items"][0]["request_id"].is_string());
}

async fn meta_endpoints(app: TestApp) {
    let r = app.call(Method::GET, "/healthz", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers.get("x-request-id").is_some(),
        "every response carries X-Request-Id"
    );
    let r = app
        .call(Method::GET, "/v1/openapi.json", None, None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(r.body["paths"]["/v1/clusters"]["post"].is_object());
    assert!(r.body["paths"]["/v1/clusters/{id}/resize"]["post"].is_object());
    let r = app.call(Method::GET, "/metrics", None, None, &[]).await;
    assert!(
        r.body
            .as_str()
            .unwrap()
            .contains("eddy_api_http_requests_total")
    );
    let r = app.call(Method::GET, "/", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.body.as_str().unwrap().contains("/assets/app.js"));
    // The console's bundle is embedded and speaks the public API.
    let r = app
        .call(Method::GET, "/assets/app.js", None, None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(r.body.as_str().unwrap().contains("/v1/auth/signin"));
    // A client-supplied request id is echoed back.
    let r = app
        .call(
            Method::GET,
            "/healthz",
            None,
            None,
            &[("x-request-id", "abc-123")],
        )
        .await;
    assert_eq!(r.headers["x-request-id"], "abc-123");
}

async fn topics_within_plan_limits(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    let viewer = app.member(&owner, "viewer@example.com", "viewer").await;
    let id = app.active_cluster(&owner, "orders", "shared-small").await;
    let path = format!("/v1/clusters/{id}/topics");
    let r = app
        .post(
            &path,
            &owner,
            json!({"name": "payments.v1", "partitions": 40}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let written: Vec<_> = app
        .backend
        .topics
        .lock()
        .unwrap()
        .values()
        .cloned()
        .collect();
    assert_eq!(written.len(), 1);
    assert_eq!(
        (
            written[0].topic_name.as_str(),
            written[0].partitions,
            written[0].retention_ms
        ),
        ("payments.v1", 40, 24 * 3_600_000)
    );
    // shared-small allows 50 partitions in total, 1 broker, 72 h retention.
    let r = app
        .post(&path, &owner, json!({"name": "more", "partitions": 11}))
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("topic"))
    );
    assert_eq!(
        app.post(&path, &owner, json!({"name": "rf", "replicas": 3}))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.post(
            &path,
            &owner,
            json!({"name": "long", "retention_hours": 100})
        )
        .await
        .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.post(&path, &owner, json!({"name": "bad name!"}))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let dup = app
        .post(&path, &owner, json!({"name": "payments.v1"}))
        .await;
    assert_eq!(
        (dup.status, dup.code()),
        (StatusCode::CONFLICT, "topic_exists")
    );
    assert_eq!(
        app.post(&path, &viewer, json!({"name": "x"})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&path, &viewer).await.body.as_array().unwrap().len(),
        1
    );
    // Editing: partitions grow within the plan, retention changes, the KafkaTopic is rewritten;
    // shrinking, exceeding the plan, a viewer and an unknown topic change nothing.
    let topic = format!("{path}/payments.v1");
    let r = app
        .patch(
            &topic,
            &owner,
            json!({"partitions": 45, "retention_hours": 48}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (
            r.body["partitions"].as_i64(),
            r.body["retention_hours"].as_i64()
        ),
        (Some(45), Some(48))
    );
    let rewritten = app
        .backend
        .topics
        .lock()
        .unwrap()
        .values()
        .next()
        .cloned()
        .unwrap();
    assert_eq!(
        (rewritten.partitions, rewritten.retention_ms),
        (45, 48 * 3_600_000)
    );
    for (body, field) in [
        (json!({"partitions": 44}), "partitions"),
        (json!({"partitions": 51}), "topic"),
        (json!({"retention_hours": 100}), "topic"),
    ] {
        let r = app.patch(&topic, &owner, body.clone()).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}: {:?}",
            r.body
        );
    }
    assert_eq!(
        app.patch(&topic, &owner, json!({"replicas": 2}))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the replication factor is fixed"
    );
    assert_eq!(
        app.patch(&topic, &viewer, json!({"partitions": 46}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.patch(&format!("{path}/nope"), &owner, json!({"partitions": 2}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let listed = app.get(&path, &viewer).await;
    assert_eq!(listed.body[0]["partitions"], 45, "{:?}", listed.body);
    assert_eq!(
        app.backend
            .topics
            .lock()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .partitions,
        45
    );
    let del = app.delete(&format!("{path}/payments.v1"), &owner).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert!(app.backend.topics.lock().unwrap().is_empty());
    assert_eq!(
        app.post(&path, &owner, json!({"name": "more", "partitions": 11}))
            .await
            .status,
        StatusCode::CREATED
    );
}

/// A fast operator reports Ready before the API ever saw the operation running: the operation
/// still reads pending → running → succeeded, in one sync.
async fn a_cluster_ready_at_the_first_look_still_shows_a_running_step(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    let created = app.create_cluster(&owner, "fast", "shared-small").await;
    let op = created["operation"]["id"].as_str().unwrap().to_string();
    app.backend.report(&resource_name(&created), true);
    app.sync().await;
    let o = app.get(&format!("/v1/operations/{op}"), &owner).await;
    assert_eq!(o.body["state"], "succeeded", "{:?}", o.body);
    let states: Vec<&str> = o.body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    let running = states.iter().position(|s| *s == "running");
    let done = states.iter().position(|s| *s == "succeeded");
    assert!(
        matches!((running, done), (Some(r), Some(d)) if r < d),
        "{states:?}"
    );
}

async fn an_upgrade_reports_the_operators_phases_as_steps(app: TestApp) {
    use eddy_api::domain::operations::UpgradeObservation;
    let (owner, _, _) = app.signup("owner@example.com").await;
    // The catalog lists both versions with the feature level each supports.
    let plans = app.get("/v1/plans", &owner).await;
    assert_eq!(plans.body["versions"], json!(["0.1.0", "0.2.0"]));
    assert_eq!(
        plans.body["version_levels"],
        json!({"0.1.0": 1, "0.2.0": 2})
    );
    let r = app
        .post(
            "/v1/clusters",
            &owner,
            json!({"name": "upgrading", "plan_id": "shared-small", "version": "0.1.0"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let id = r.body["cluster"]["id"].as_str().unwrap().to_string();
    let name = resource_name(&r.body);
    app.backend.report(&name, true);
    app.sync().await;
    let etag = app.get(&format!("/v1/clusters/{id}"), &owner).await.etag();
    let r = app
        .if_match(
            Method::POST,
            &format!("/v1/clusters/{id}/upgrade"),
            &owner,
            Some(json!({"version": "0.2.0"})),
            &etag,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let op = r.body["operation"]["id"].as_str().unwrap().to_string();
    let phase = |phase: &str, on_target: usize, finalized: i16| UpgradeObservation {
        phase: phase.into(),
        to_version: "0.2.0".into(),
        on_target,
        brokers: 3,
        finalized_level: Some(finalized),
        target_level: Some(2),
        message: None,
    };
    // Ready between two broker restarts is not the end of an upgrade.
    for (p, n, level) in [
        ("Rolling", 0, 1),
        ("Rolling", 1, 1),
        ("Rolling", 3, 1),
        ("Finalizing", 3, 1),
    ] {
        app.backend.report_upgrade(&name, true, phase(p, n, level));
        app.sync().await;
        let o = app.get(&format!("/v1/operations/{op}"), &owner).await;
        assert_eq!(o.body["state"], "running", "{p} {n}: {:?}", o.body);
    }
    app.backend.report_upgrade(&name, true, phase("Done", 3, 2));
    app.sync().await;
    let o = app.get(&format!("/v1/operations/{op}"), &owner).await;
    assert_eq!(o.body["state"], "succeeded", "{:?}", o.body);
    let steps: Vec<&str> = o.body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for want in [
        "rolling brokers to 0.2.0: 1 of 3 upgraded",
        "rolling brokers to 0.2.0: 3 of 3 upgraded",
        "finalizing eddy.version 2",
        "every broker runs 0.2.0 at eddy.version 2",
    ] {
        assert!(steps.contains(&want), "{want}: {steps:?}");
    }
    let k = app.get(&format!("/v1/clusters/{id}"), &owner).await;
    assert_eq!(k.body["state"], "active", "{:?}", k.body);
    // A downgrade is refused with a clear detail, and nothing starts.
    let before = app.count("operations").await;
    let r = app
        .if_match(
            Method::POST,
            &format!("/v1/clusters/{id}/upgrade"),
            &owner,
            Some(json!({"version": "0.1.0"})),
            &k.etag(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "version");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("downgrades are refused"),
        "{:?}",
        r.body
    );
    assert_eq!(app.count("operations").await, before);
}

/// Topic configurations beyond partitions and retention: offered keys within their bounds are
/// stored, shown and written into the KafkaTopic; a PATCH sets and removes (null) keys; an
/// unknown key, a bad value or `retention.ms` is a 422 on `configs.<key>` that changes nothing.
async fn topic_configs_are_checked_merged_and_written(app: TestApp) {
    let (owner, _, _) = app.signup("cfg@example.com").await;
    let id = app.active_cluster(&owner, "cfg", "shared-small").await;
    let path = format!("/v1/clusters/{id}/topics");
    let kafka_topic = |name: &str| {
        app.backend
            .topics
            .lock()
            .unwrap()
            .values()
            .find(|t| t.topic_name == name)
            .cloned()
            .unwrap()
    };
    let r = app
        .post(
            &path,
            &owner,
            json!({"name": "state", "configs": {"cleanup.policy": "compact", "max.message.bytes": "2097152"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["configs"]["cleanup.policy"], "compact");
    let written = kafka_topic("state");
    assert_eq!(written.configs["cleanup.policy"], "compact");
    assert_eq!(written.configs["max.message.bytes"], "2097152");
    for (body, field) in [
        (
            json!({"name": "x1", "configs": {"unclean.leader.election.enable": "true"}}),
            "configs.unclean.leader.election.enable",
        ),
        (
            json!({"name": "x2", "configs": {"cleanup.policy": "forever"}}),
            "configs.cleanup.policy",
        ),
        (
            json!({"name": "x3", "configs": {"retention.ms": "1000"}}),
            "configs.retention.ms",
        ),
        (
            json!({"name": "x4", "configs": {"min.insync.replicas": "2"}}),
            "configs.min.insync.replicas",
        ),
    ] {
        let r = app.post(&path, &owner, body).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{:?}",
            r.body
        );
    }
    let topic = format!("{path}/state");
    let r = app
        .patch(
            &topic,
            &owner,
            json!({"configs": {"cleanup.policy": null, "segment.bytes": "1048576"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body["configs"],
        json!({"max.message.bytes": "2097152", "segment.bytes": "1048576"})
    );
    let written = kafka_topic("state");
    assert!(!written.configs.contains_key("cleanup.policy"));
    assert_eq!(written.configs["segment.bytes"], "1048576");
    // A bad change is refused and the stored configs stay as they were.
    let r = app
        .patch(&topic, &owner, json!({"configs": {"segment.bytes": "12"}}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let listed = app.get(&path, &owner).await;
    let state = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "state")
        .unwrap()
        .clone();
    assert_eq!(state["configs"]["segment.bytes"], "1048576");
    assert_eq!(
        listed.body.as_array().unwrap().len(),
        1,
        "refused topics were not created"
    );
}
