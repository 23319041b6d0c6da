//! Route tests of Kafka users, connection details and plan features, each scenario on a fresh
//! SQLite file and on a fresh private PostgreSQL server, with the recording backend in place of
//! Kubernetes.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use axum::http::{Method, StatusCode};
use common::{TestApp, resource_name};
use serde_json::{Value, json};

on_both_databases!(
    plan_features_shape_the_kafka_cluster,
    kafka_users_lifecycle_and_roles,
    requests_beyond_the_plan_are_422_and_change_nothing,
    acls_per_user_on_plans_with_acls,
    connection_details_with_ca_and_snippets,
    idempotent_user_create_and_backend_faults,
);

fn users_path(id: &str) -> String {
    format!("/v1/clusters/{id}/users")
}

/// Proves a response body carries no password (of any user) anywhere.
fn assert_no_password<S: AsRef<str>>(body: &Value, passwords: &[S]) {
    let text = body.to_string();
    for p in passwords {
        assert!(
            !text.contains(p.as_ref()),
            "a stored password leaked: {text}"
        );
    }
}

async fn plan_features_shape_the_kafka_cluster(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    let small = app.create_cluster(&owner, "small", "shared-small").await;
    let (d, _) = app.backend.object(&resource_name(&small)).unwrap();
    let listeners: Vec<_> = d
        .security
        .listeners
        .iter()
        .map(|l| (l.name, l.port, l.tls, l.authentication.as_str()))
        .collect();
    // CloudKarafka's layout, secure by default: nothing anonymous.
    assert_eq!(
        listeners,
        [
            ("tls", 9094, true, "scram-sha-512"),
            ("internal", 9092, false, "scram-sha-512")
        ]
    );
    assert!(!d.security.authorization);
    assert_eq!(
        (
            d.ingress_bytes_per_sec,
            d.egress_bytes_per_sec,
            d.max_connections
        ),
        (1_048_576, 2_097_152, 100)
    );
    let dedicated = app.create_cluster(&owner, "big", "dedicated-1").await;
    let (d, _) = app.backend.object(&resource_name(&dedicated)).unwrap();
    assert!(d.security.authorization, "acls turn the authorizer on");
    assert_eq!(
        d.security
            .listeners
            .iter()
            .map(|l| l.port)
            .collect::<Vec<_>>(),
        [9094, 9093, 9092]
    );
    // A plan change rewrites limits and features: shared-small → shared-medium adds ACLs.
    let id = app.active_cluster(&owner, "grows", "shared-small").await;
    let r = app
        .post(&users_path(&id), &owner, json!({"name": "early"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        app.backend.user("early").unwrap().producer_byte_rate,
        1_048_576
    );
    let k = app.get(&format!("/v1/clusters/{id}"), &owner).await;
    let r = app
        .if_match(
            Method::POST,
            &format!("/v1/clusters/{id}/resize"),
            &owner,
            Some(json!({"plan_id": "shared-medium"})),
            &k.etag(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let (d, generation) = app.backend.object(&resource_name(&r.body)).unwrap();
    assert_eq!(generation, 2);
    // ... and each Kafka user's quotas with them.
    assert_eq!(
        app.backend.user("early").unwrap().producer_byte_rate,
        5_242_880
    );
    assert!(d.security.authorization);
    assert_eq!(
        (d.max_connections, d.ingress_bytes_per_sec),
        (500, 5_242_880)
    );
}

async fn kafka_users_lifecycle_and_roles(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    let viewer = app.member(&owner, "viewer@example.com", "viewer").await;
    let billing = app
        .member(&owner, "billing@example.com", "billing_manager")
        .await;
    let member = app.member(&owner, "member@example.com", "member").await;
    let id = app.active_cluster(&owner, "orders", "shared-small").await;
    let path = users_path(&id);

    let r = app.post(&path, &member, json!({"name": "alice"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let password = r.body["password"].as_str().unwrap().to_string();
    assert_eq!(password.len(), 64, "256 random bits, hex");
    assert!(password.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(r.body["user"]["mechanism"], "scram-sha-512");
    assert_eq!(
        r.headers["location"].to_str().unwrap(),
        format!("{path}/alice")
    );
    // The KafkaUser: spec.username is the chosen name, the password comes from the Secret the
    // API wrote, which holds exactly the password shown.
    let written = app.backend.user("alice").unwrap();
    assert_eq!(written.cluster, written.name.rsplit_once("-u-").unwrap().0);
    assert!(
        written
            .secret_name
            .as_deref()
            .unwrap()
            .ends_with("-password")
    );
    assert_eq!(app.backend.password_of("alice").unwrap(), password);
    assert_eq!(app.count("kafka_users").await, 1);

    // Reads: never the password; Ready from the KafkaUser status.
    let list = app.get(&path, &viewer).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body[0]["name"], "alice");
    assert_eq!(list.body[0]["ready"], false);
    assert_no_password(&list.body, &[&password]);
    app.backend.report_user_ready("alice");
    let one = app.get(&format!("{path}/alice"), &viewer).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["ready"], true);
    assert!(one.headers.contains_key("etag"));
    assert_no_password(&one.body, &[&password]);
    assert!(one.body.get("password").is_none());
    assert_eq!(
        app.get(&format!("{path}/nobody"), &owner).await.status,
        StatusCode::NOT_FOUND
    );

    // Roles: viewers read only, billing managers see nothing of it.
    for (method, p, body) in [
        (Method::POST, path.clone(), Some(json!({"name": "v"}))),
        (Method::POST, format!("{path}/alice/rotate"), None),
        (Method::DELETE, format!("{path}/alice"), None),
        (
            Method::PUT,
            format!("{path}/alice/acls"),
            Some(json!({"acls": []})),
        ),
    ] {
        let r = app
            .call(method, &p, Some(&viewer), body, &[("if-match", "*")])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "viewer {p}");
    }
    for p in [path.clone(), format!("{path}/alice")] {
        assert_eq!(
            app.get(&p, &billing).await.status,
            StatusCode::FORBIDDEN,
            "billing manager {p}"
        );
    }
    assert_eq!(
        app.post(&format!("{path}/alice/rotate"), &billing, json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Rotation: a new password into the same Secret, shown once.
    let r = app
        .call(
            Method::POST,
            &format!("{path}/alice/rotate"),
            Some(&owner),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let rotated = r.body["password"].as_str().unwrap().to_string();
    assert_ne!(rotated, password);
    assert_eq!(app.backend.password_of("alice").unwrap(), rotated);
    assert_eq!(app.backend.user("alice").unwrap().credential_revision, 2);
    let list = app.get(&path, &owner).await;
    assert_no_password(&list.body, &[&password, &rotated]);

    // Names: duplicates, reserved and malformed ones.
    let dup = app.post(&path, &owner, json!({"name": "alice"})).await;
    assert_eq!(
        (dup.status, dup.code()),
        (StatusCode::CONFLICT, "user_exists")
    );
    for bad in [
        "eddy-operator",
        "ANONYMOUS",
        "bad name",
        "",
        &"x".repeat(65),
    ] {
        let r = app.post(&path, &owner, json!({"name": bad})).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("name")),
            "{bad}"
        );
    }
    let r = app
        .post(&path, &owner, json!({"name": "m", "mechanism": "plain"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("kafka_users").await, 1);

    // SCRAM-SHA-256: the plan's SCRAM listeners take it too; the KafkaUser says so and gets a
    // password Secret like a SCRAM-SHA-512 user.
    let r = app
        .post(
            &path,
            &owner,
            json!({"name": "carol", "mechanism": "scram-sha-256"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["user"]["mechanism"], "scram-sha-256");
    let carol = app.backend.user("carol").unwrap();
    assert_eq!(carol.mechanism.as_str(), "scram-sha-256");
    assert_eq!(
        app.backend.password_of("carol").as_deref(),
        r.body["password"].as_str()
    );
    let r = app
        .post(
            &path,
            &owner,
            json!({"name": "bob", "mechanism": "scram-sha-512"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    // The plan's ingress and egress limits are each user's quotas.
    let bob = app.backend.user("bob").unwrap();
    assert_eq!(
        (bob.producer_byte_rate, bob.consumer_byte_rate),
        (1_048_576, 2_097_152)
    );

    // Delete: the KafkaUser and its Secret go.
    let secret = app.backend.user("alice").unwrap().secret_name.unwrap();
    let del = app.delete(&format!("{path}/alice"), &member).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert!(app.backend.user("alice").is_none());
    assert!(!app.backend.secrets.lock().unwrap().contains_key(&secret));
    assert_eq!(
        app.get(&format!("{path}/alice"), &owner).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("{path}/alice"), &owner).await.status,
        StatusCode::NOT_FOUND
    );

    // The OpenAPI document describes every Kafka-user route.
    let doc = app
        .call(Method::GET, "/v1/openapi.json", None, None, &[])
        .await;
    for (p, m) in [
        ("/v1/clusters/{id}/users", "post"),
        ("/v1/clusters/{id}/users", "get"),
        ("/v1/clusters/{id}/users/{name}", "delete"),
        ("/v1/clusters/{id}/users/{name}/rotate", "post"),
        ("/v1/clusters/{id}/users/{name}/acls", "put"),
    ] {
        assert!(doc.body["paths"][p][m].is_object(), "{m} {p}");
    }

    // Every mutation is in the audit log.
    let log = app.get("/v1/audit", &owner).await;
    let actions: Vec<&str> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|a| a.starts_with("kafka_user."))
        .collect();
    assert_eq!(
        actions,
        [
            "kafka_user.delete",
            "kafka_user.create",
            "kafka_user.create",
            "kafka_user.rotate",
            "kafka_user.create"
        ]
    );
    assert_no_password(&log.body, &[&password, &rotated]);
}

async fn requests_beyond_the_plan_are_422_and_change_nothing(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    // shared-small: sasl_scram and tls, no mtls, no acls.
    let id = app.active_cluster(&owner, "orders", "shared-small").await;
    let path = users_path(&id);
    app.post(&path, &owner, json!({"name": "alice"})).await;
    let users_before = app.count("kafka_users").await;
    let audit_before = app.count("audit_log").await;
    let written_before = app.backend.users.lock().unwrap().len();
    let acl =
        json!([{"resource_type": "topic", "resource_name": "orders", "operations": ["Read"]}]);
    for (body, field) in [
        (json!({"name": "cert", "mechanism": "tls"}), "mechanism"),
        (json!({"name": "reader", "acls": acl}), "acls"),
    ] {
        let r = app.post(&path, &owner, body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
        assert_eq!(r.headers["content-type"], "application/problem+json");
        assert_eq!(r.body["field"], field);
    }
    let one = app.get(&format!("{path}/alice"), &owner).await;
    let r = app
        .if_match(
            Method::PUT,
            &format!("{path}/alice/acls"),
            &owner,
            Some(json!({"acls": acl})),
            &one.etag(),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("acls"))
    );
    assert!(r.body["detail"].as_str().unwrap().contains("acls"));
    assert_eq!(app.count("kafka_users").await, users_before);
    assert_eq!(app.count("audit_log").await, audit_before);
    assert_eq!(app.backend.users.lock().unwrap().len(), written_before);
    assert!(app.backend.user("alice").unwrap().acls.is_empty());
}

async fn acls_per_user_on_plans_with_acls(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    let id = app.active_cluster(&owner, "orders", "shared-medium").await;
    let path = users_path(&id);
    let acl = json!([
        {"resource_type": "topic", "resource_name": "orders", "operations": ["Read", "Write", "Describe"]},
        {"resource_type": "group", "resource_name": "billing-", "pattern_type": "prefix", "operations": ["Read"]}
    ]);
    let r = app
        .post(&path, &owner, json!({"name": "alice", "acls": acl}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // Answered with the defaults filled in.
    assert_eq!(r.body["user"]["acls"][0]["host"], "*");
    assert_eq!(r.body["user"]["acls"][0]["pattern_type"], "literal");
    assert_eq!(r.body["user"]["acls"][1]["effect"], "allow");
    assert_eq!(r.body["user"]["acls"][1]["resource_name"], "billing-");
    assert_eq!(app.backend.user("alice").unwrap().acls.len(), 2);
    // Bad entries are 422 naming the entry.
    let r = app
        .post(&path, &owner, json!({"name": "x", "acls": [{"resource_type": "topic", "resource_name": "t", "operations": []}]}))
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("acls"))
    );
    assert!(r.body["detail"].as_str().unwrap().contains("acls[0]"));
    let r = app
        .post(&path, &owner, json!({"name": "x", "acls": [{"resource_type": "queue", "resource_name": "t", "operations": ["Read"]}]}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // PUT acls: If-Match required (428), stale 412, current 200.
    let acls_path = format!("{path}/alice/acls");
    let new_acl = json!([{"resource_type": "topic", "resource_name": "*", "pattern_type": "literal",
                          "operations": ["All"], "host": "*", "effect": "allow"}]);
    let r = app
        .call(
            Method::PUT,
            &acls_path,
            Some(&owner),
            Some(json!({"acls": new_acl})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_REQUIRED);
    let etag = app.get(&format!("{path}/alice"), &owner).await.etag();
    let r = app
        .if_match(
            Method::PUT,
            &acls_path,
            &owner,
            Some(json!({"acls": new_acl})),
            &etag,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["acls"], new_acl);
    assert_ne!(r.etag(), etag);
    let written = app.backend.user("alice").unwrap();
    assert_eq!(written.acls.len(), 1);
    assert_eq!(
        written.credential_revision, 1,
        "ACLs leave the password alone"
    );
    let r = app
        .if_match(
            Method::PUT,
            &acls_path,
            &owner,
            Some(json!({"acls": []})),
            &etag,
        )
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(app.backend.user("alice").unwrap().acls.len(), 1);

    // A resize to a plan without acls would drop alice's ACLs: refused, nothing changes.
    let k = app.get(&format!("/v1/clusters/{id}"), &owner).await;
    let r = app
        .if_match(
            Method::POST,
            &format!("/v1/clusters/{id}/resize"),
            &owner,
            Some(json!({"plan_id": "shared-small"})),
            &k.etag(),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("acls"))
    );
    let again = app.get(&format!("/v1/clusters/{id}"), &owner).await;
    assert_eq!(
        (again.body["plan_id"].as_str(), again.etag()),
        (Some("shared-medium"), k.etag())
    );

    // Certificate users on a plan with mtls: no password, the operator issues the certificate.
    let d = app.active_cluster(&owner, "secure", "dedicated-1").await;
    let r = app
        .post(
            &users_path(&d),
            &owner,
            json!({"name": "svc", "mechanism": "tls"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert!(r.body["password"].is_null());
    assert!(r.body["note"].is_null(), "{:?}", r.body);
    assert!(app.backend.user("svc").unwrap().secret_name.is_none());
    // The create shows the certificate, its key and the CA chain, once.
    let issued = &r.body["certificate"];
    assert!(
        issued["certificate"]
            .as_str()
            .unwrap()
            .contains("CN=svc serial 1")
    );
    assert!(issued["private_key"].as_str().unwrap().contains("key 1"));
    assert_eq!(issued["ca_certificate"], common::TEST_CA);
    // A read gives the public certificate and chain, never the key.
    let cert_path = format!("{}/svc/certificate", users_path(&d));
    let c = app.get(&cert_path, &viewer_of(&app, &owner).await).await;
    assert_eq!(c.status, StatusCode::OK, "{:?}", c.body);
    assert_eq!(c.body["certificate"], issued["certificate"]);
    assert_eq!(c.body["ca_certificate"], common::TEST_CA);
    assert!(!c.body.to_string().contains("PRIVATE KEY"), "{:?}", c.body);
    for r in [
        app.get(&format!("{}/svc", users_path(&d)), &owner).await,
        app.get(&users_path(&d), &owner).await,
    ] {
        assert!(!r.body.to_string().contains("PRIVATE KEY"), "{:?}", r.body);
    }
    // Rotation: a new certificate with a new key, shown once; the old one is gone.
    let r = app
        .call(
            Method::POST,
            &format!("{}/svc/rotate", users_path(&d)),
            Some(&owner),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["password"].is_null());
    let rotated = &r.body["certificate"];
    assert!(
        rotated["certificate"]
            .as_str()
            .unwrap()
            .contains("CN=svc serial 2")
    );
    assert!(rotated["private_key"].as_str().unwrap().contains("key 2"));
    let c = app.get(&cert_path, &owner).await;
    assert_eq!(c.body["certificate"], rotated["certificate"]);
    // The mTLS listener is the one recommended to a certificate user.
    let conn = app
        .get(&format!("/v1/clusters/{d}/connection?user=svc"), &owner)
        .await;
    assert_eq!(conn.status, StatusCode::OK, "{:?}", conn.body);
    assert_eq!(conn.body["security_protocol"], "SSL");
    assert!(conn.body["sasl_mechanism"].is_null());
    let rd = conn.body["listeners"][0]["clients"]["librdkafka"]
        .as_str()
        .unwrap();
    assert!(
        rd.contains("ssl.certificate.location=user.crt\nssl.key.location=user.key"),
        "{rd}"
    );
    // A SCRAM user has no certificate; an unknown user none either.
    let r = app
        .post(&users_path(&d), &owner, json!({"name": "pw"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert!(r.body["certificate"].is_null());
    let c = app
        .get(&format!("{}/pw/certificate", users_path(&d)), &owner)
        .await;
    assert_eq!(c.status, StatusCode::UNPROCESSABLE_ENTITY);
    let c = app
        .get(&format!("{}/nobody/certificate", users_path(&d)), &owner)
        .await;
    assert_eq!(c.status, StatusCode::NOT_FOUND);
    // Before the operator issued it: a clear 409, not an empty answer.
    app.backend
        .certificates
        .lock()
        .unwrap()
        .retain(|_, c| !c.certificate.contains("CN=svc"));
    let c = app.get(&cert_path, &owner).await;
    assert_eq!(
        (c.status, c.code()),
        (StatusCode::CONFLICT, "not_issued"),
        "{:?}",
        c.body
    );
}

async fn viewer_of(app: &TestApp, owner: &str) -> String {
    app.member(owner, "cert-viewer@example.com", "viewer").await
}

async fn connection_details_with_ca_and_snippets(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    let viewer = app.member(&owner, "viewer@example.com", "viewer").await;
    let id = app.active_cluster(&owner, "orders", "shared-small").await;
    let created = app
        .post(&users_path(&id), &owner, json!({"name": "alice"}))
        .await;
    let password = created.body["password"].as_str().unwrap().to_string();
    let conn_path = format!("/v1/clusters/{id}/connection");
    let c = app.get(&conn_path, &owner).await;
    assert_eq!(c.status, StatusCode::OK, "{:?}", c.body);
    assert_eq!(c.body["security_protocol"], "SASL_SSL");
    assert_eq!(c.body["sasl_mechanism"], "SCRAM-SHA-512");
    assert!(
        c.body["bootstrap_servers"]
            .as_str()
            .unwrap()
            .ends_with(":9094")
    );
    assert_eq!(c.body["ca_certificate"], common::TEST_CA);
    assert!(c.body.get("note").is_none() && c.body.get("password").is_none());
    let listeners = c.body["listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 2);
    assert_eq!(
        (
            listeners[1]["name"].as_str(),
            listeners[1]["security_protocol"].as_str()
        ),
        (Some("internal"), Some("SASL_PLAINTEXT"))
    );
    let rd = listeners[0]["clients"]["librdkafka"].as_str().unwrap();
    assert!(
        rd.contains("sasl.username=<username>\nsasl.password=<password>\n"),
        "{rd}"
    );
    assert!(rd.contains("ssl.ca.location=ca.crt"));
    for client in ["java", "kafka_python", "kafkajs"] {
        assert!(
            listeners[0]["clients"][client]
                .as_str()
                .unwrap()
                .contains("<password>"),
            "{client}"
        );
    }
    // Every SCRAM listener takes both SCRAM mechanisms; a SCRAM-SHA-256 user's snippets use its
    // own.
    assert_eq!(
        listeners[0]["sasl_mechanisms"],
        json!(["SCRAM-SHA-512", "SCRAM-SHA-256"])
    );
    let r = app
        .post(
            &users_path(&id),
            &owner,
            json!({"name": "bob", "mechanism": "scram-sha-256"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let c = app.get(&format!("{conn_path}?user=bob"), &owner).await;
    assert_eq!(c.body["sasl_mechanism"], "SCRAM-SHA-256", "{:?}", c.body);
    let rd = c.body["listeners"][0]["clients"]["librdkafka"]
        .as_str()
        .unwrap();
    assert!(
        rd.contains("sasl.mechanisms=SCRAM-SHA-256\nsasl.username=bob\n"),
        "{rd}"
    );
    // For a named user: their name, still never their password.
    let c = app.get(&format!("{conn_path}?user=alice"), &owner).await;
    assert_eq!(c.body["username"], "alice");
    let rd = c.body["listeners"][0]["clients"]["librdkafka"]
        .as_str()
        .unwrap();
    assert!(rd.contains("sasl.username=alice\n"));
    assert_no_password(&c.body, &[&password]);
    assert_eq!(
        app.get(&format!("{conn_path}?user=nobody"), &owner)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // As before: connection details are for roles that change clusters.
    assert_eq!(
        app.get(&conn_path, &viewer).await.status,
        StatusCode::FORBIDDEN
    );
}

async fn idempotent_user_create_and_backend_faults(app: TestApp) {
    let (owner, _, _) = app.signup("owner@example.com").await;
    let id = app.active_cluster(&owner, "orders", "shared-small").await;
    let path = users_path(&id);
    let key = [("idempotency-key", "user-1")];
    let body = json!({"name": "carol"});
    let first = app
        .call(Method::POST, &path, Some(&owner), Some(body.clone()), &key)
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let password = first.body["password"].as_str().unwrap().to_string();
    // The same request again: the same user, no second password (none is stored to repeat).
    let again = app
        .call(Method::POST, &path, Some(&owner), Some(body), &key)
        .await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.body["user"]["name"], "carol");
    assert!(again.body["password"].is_null());
    assert!(again.body["note"].as_str().unwrap().contains("rotate"));
    assert_no_password(&again.body, &[&password]);
    assert_eq!(app.count("kafka_users").await, 1);
    let other = app
        .call(
            Method::POST,
            &path,
            Some(&owner),
            Some(json!({"name": "dave"})),
            &key,
        )
        .await;
    assert_eq!(
        (other.status, other.code()),
        (StatusCode::CONFLICT, "idempotency_key_reused")
    );

    // Kubernetes down: 503 with Retry-After, and nothing recorded.
    let audit_before = app.count("audit_log").await;
    *app.backend.down.lock().unwrap() = true;
    let r = app.post(&path, &owner, json!({"name": "erin"})).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers.contains_key("retry-after"));
    let r = app
        .call(
            Method::POST,
            &format!("{path}/carol/rotate"),
            Some(&owner),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.backend.password_of("carol").unwrap(), password);
    // Reads still answer from the database, with the status unknown.
    let list = app.get(&path, &owner).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body[0]["ready"].is_null());
    *app.backend.down.lock().unwrap() = false;
    assert_eq!(app.count("kafka_users").await, 1);
    assert_eq!(app.count("audit_log").await, audit_before);
    assert_eq!(
        app.get(&format!("{path}/carol"), &owner).await.body["credential_revision"],
        Value::Null,
        "internal revisions are not part of the view"
    );
}
