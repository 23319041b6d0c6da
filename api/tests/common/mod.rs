//! Shared fixtures of the route tests: a fresh database per test (a SQLite file or a private
//! PostgreSQL server), the router driven with `oneshot`, and a recording cluster backend.
#![allow(dead_code, clippy::unwrap_used)] // test fixtures: a failed unwrap is a failed test

pub mod broker;
pub mod postgres;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use eddy_api::domain::connection::{ListenerInfo, sasl_mechanisms, security_protocol};
use eddy_api::domain::operations::Observation;
use eddy_api::kube::{
    BackendError, ClusterBackend, ClusterConnection, DesiredCluster, DesiredTopic, DesiredUser,
    UserCertificate, UserObservation,
};
use eddy_api::state::AppState;
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

/// Test-only backend: records the KafkaCluster objects the API writes, bumps a generation per
/// write, and reports whatever observation the test sets. Never used outside tests.
#[derive(Default)]
pub struct RecordingBackend {
    pub objects: Mutex<HashMap<String, (DesiredCluster, i64)>>,
    pub observations: Mutex<HashMap<String, Observation>>,
    pub topics: Mutex<HashMap<String, DesiredTopic>>,
    /// KafkaUsers written, by resource name.
    pub users: Mutex<HashMap<String, DesiredUser>>,
    /// Password Secrets written: Secret name → password.
    pub secrets: Mutex<HashMap<String, String>>,
    /// KafkaUser resource names the "operator" reports Ready.
    pub ready_users: Mutex<Vec<String>>,
    /// When set, every write fails as if the apiserver were down.
    pub down: Mutex<bool>,
    /// Connection details published for a KafkaCluster resource name (a real test broker's),
    /// answered instead of the ones derived from the spec.
    pub connections: Mutex<HashMap<String, ClusterConnection>>,
    /// Certificates "issued" to TLS KafkaUsers, by resource name: as the operator does, one is
    /// issued when a TLS user is written without one (serial in the PEM text).
    pub certificates: Mutex<HashMap<String, UserCertificate>>,
    /// Certificates issued so far.
    pub issued: Mutex<u32>,
}

impl RecordingBackend {
    fn key(ns: &str, name: &str) -> String {
        format!("{ns}/{name}")
    }

    /// The last object written for a resource name.
    pub fn object(&self, name: &str) -> Option<(DesiredCluster, i64)> {
        self.objects
            .lock()
            .unwrap()
            .values()
            .find(|(d, _)| d.name == name)
            .cloned()
    }

    /// The observation currently reported for `name`.
    pub async fn observe_now(&self, name: &str) -> Observation {
        let (d, _) = self.object(name).expect("object written");
        self.observe(&d.namespace, name).await.unwrap()
    }

    /// Pretends the operator reconciled `name` to its latest generation, Ready or not.
    pub fn report(&self, name: &str, ready: bool) {
        let (d, _) = self.object(name).expect("object written");
        self.report_bootstrap(
            name,
            ready,
            &format!("{name}-bootstrap.{}.svc:9092", d.namespace),
        );
    }

    /// [`Self::report`] with the operator's upgrade status (`status.upgrade`).
    pub fn report_upgrade(
        &self,
        name: &str,
        ready: bool,
        upgrade: eddy_api::domain::operations::UpgradeObservation,
    ) {
        self.report(name, ready);
        let (d, _) = self.object(name).expect("object written");
        if let Some(obs) = self
            .observations
            .lock()
            .unwrap()
            .get_mut(&Self::key(&d.namespace, name))
        {
            obs.upgrade = Some(upgrade);
        }
    }

    /// [`Self::report`] with the bootstrap servers the operator publishes (e.g. a test broker's).
    pub fn report_bootstrap(&self, name: &str, ready: bool, bootstrap: &str) {
        let (d, generation) = self.object(name).expect("object written");
        let obs = Observation {
            exists: true,
            observed_generation: Some(generation),
            ready,
            failure: None,
            settling: false,
            completed_restart: d.restart_token.clone(),
            bootstrap: Some(bootstrap.to_string()),
            ..Observation::default()
        };
        self.observations
            .lock()
            .unwrap()
            .insert(Self::key(&d.namespace, name), obs);
    }
}

impl RecordingBackend {
    /// The KafkaUser written for the Kafka user `username`.
    pub fn user(&self, username: &str) -> Option<DesiredUser> {
        self.users
            .lock()
            .unwrap()
            .values()
            .find(|u| u.username == username)
            .cloned()
    }

    /// The password in a Kafka user's Secret.
    pub fn password_of(&self, username: &str) -> Option<String> {
        let secret = self.user(username)?.secret_name?;
        self.secrets.lock().unwrap().get(&secret).cloned()
    }

    /// Pretends the operator reconciled the Kafka user `username` (Ready=True).
    pub fn report_user_ready(&self, username: &str) {
        let name = self.user(username).expect("user written").name;
        self.ready_users.lock().unwrap().push(name);
    }

    fn is_down(&self) -> Result<(), BackendError> {
        if *self.down.lock().unwrap() {
            return Err(BackendError::Unavailable("apiserver down (test)".into()));
        }
        Ok(())
    }
}

/// The CA certificate the test backend publishes.
pub const TEST_CA: &str = "-----BEGIN CERTIFICATE-----\ntest-ca\n-----END CERTIFICATE-----\n";

impl ClusterBackend for RecordingBackend {
    fn apply<'a>(&'a self, d: &'a DesiredCluster) -> BoxFuture<'a, Result<i64, BackendError>> {
        Box::pin(async move {
            if *self.down.lock().unwrap() {
                return Err(BackendError::Unavailable("apiserver down (test)".into()));
            }
            let mut objs = self.objects.lock().unwrap();
            let key = Self::key(&d.namespace, &d.name);
            let generation = objs.get(&key).map_or(1, |(_, g)| g + 1);
            objs.insert(key, (d.clone(), generation));
            Ok(generation)
        })
    }
    fn delete<'a>(&'a self, ns: &'a str, name: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            if *self.down.lock().unwrap() {
                return Err(BackendError::Unavailable("apiserver down (test)".into()));
            }
            self.objects.lock().unwrap().remove(&Self::key(ns, name));
            self.observations
                .lock()
                .unwrap()
                .insert(Self::key(ns, name), Observation::default());
            Ok(())
        })
    }
    fn observe<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Observation, BackendError>> {
        Box::pin(async move {
            let exists = self
                .objects
                .lock()
                .unwrap()
                .contains_key(&Self::key(ns, name));
            let obs = self
                .observations
                .lock()
                .unwrap()
                .get(&Self::key(ns, name))
                .cloned();
            Ok(obs.unwrap_or(Observation {
                exists,
                ..Observation::default()
            }))
        })
    }
    fn apply_topic<'a>(&'a self, t: &'a DesiredTopic) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.topics
                .lock()
                .unwrap()
                .insert(Self::key(&t.namespace, &t.name), t.clone());
            Ok(())
        })
    }
    fn delete_topic<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.topics.lock().unwrap().remove(&Self::key(ns, name));
            Ok(())
        })
    }
    fn connection<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<ClusterConnection, BackendError>> {
        Box::pin(async move {
            self.is_down()?;
            if let Some(c) = self.connections.lock().unwrap().get(name) {
                return Ok(c.clone());
            }
            // The listeners the API asked for, published as an operator would.
            let (d, _) = self
                .objects
                .lock()
                .unwrap()
                .get(&Self::key(ns, name))
                .cloned()
                .ok_or_else(|| BackendError::Unavailable("KafkaCluster not found".into()))?;
            let listeners: Vec<ListenerInfo> = d
                .security
                .listeners
                .iter()
                .map(|l| ListenerInfo {
                    name: l.name.into(),
                    type_: "internal".into(),
                    bootstrap_servers: format!("{name}-bootstrap.{ns}.svc:{}", l.port),
                    security_protocol: security_protocol(l.tls, l.authentication.as_str()).into(),
                    sasl_mechanisms: sasl_mechanisms(l.authentication.as_str()),
                    authentication: l.authentication.as_str().into(),
                    tls: l.tls,
                })
                .collect();
            let tls = listeners.iter().any(|l| l.tls);
            Ok(ClusterConnection {
                listeners,
                ca_certificate: tls.then(|| TEST_CA.to_string()),
            })
        })
    }
    fn apply_user<'a>(
        &'a self,
        u: &'a DesiredUser,
        password: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.is_down()?;
            if let (Some(secret), Some(pw)) = (&u.secret_name, password) {
                self.secrets
                    .lock()
                    .unwrap()
                    .insert(secret.clone(), pw.to_string());
            }
            self.users.lock().unwrap().insert(u.name.clone(), u.clone());
            if u.mechanism.as_str() == "tls" {
                let mut certs = self.certificates.lock().unwrap();
                if !certs.contains_key(&u.name) {
                    let mut n = self.issued.lock().unwrap();
                    *n += 1;
                    certs.insert(
                        u.name.clone(),
                        UserCertificate {
                            certificate: format!(
                                "-----BEGIN CERTIFICATE-----\nCN={} serial {n}\n-----END CERTIFICATE-----\n",
                                u.username
                            ),
                            private_key: format!(
                                "-----BEGIN PRIVATE KEY-----\nkey {n}\n-----END PRIVATE KEY-----\n"
                            ),
                            ca_certificate: TEST_CA.into(),
                        },
                    );
                }
            }
            Ok(())
        })
    }
    fn user_certificate<'a>(
        &'a self,
        _ns: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<UserCertificate>, BackendError>> {
        Box::pin(async move {
            self.is_down()?;
            Ok(self.certificates.lock().unwrap().get(name).cloned())
        })
    }
    fn drop_certificate<'a>(
        &'a self,
        _ns: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.is_down()?;
            self.certificates.lock().unwrap().remove(name);
            Ok(())
        })
    }
    fn delete_user<'a>(
        &'a self,
        _ns: &'a str,
        name: &'a str,
        secret: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.is_down()?;
            self.users.lock().unwrap().remove(name);
            if let Some(s) = secret {
                self.secrets.lock().unwrap().remove(s);
            }
            Ok(())
        })
    }
    fn user_states<'a>(
        &'a self,
        _ns: &'a str,
        cluster: &'a str,
    ) -> BoxFuture<'a, Result<Vec<UserObservation>, BackendError>> {
        Box::pin(async move {
            self.is_down()?;
            let ready = self.ready_users.lock().unwrap().clone();
            Ok(self
                .users
                .lock()
                .unwrap()
                .values()
                .filter(|u| u.cluster == cluster)
                .map(|u| {
                    let r = ready.contains(&u.name);
                    UserObservation {
                        name: u.name.clone(),
                        ready: r,
                        reason: Some(if r { "Ready" } else { "Pending" }.into()),
                        message: None,
                    }
                })
                .collect())
        })
    }
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// One API instance on a fresh database.
pub struct TestApp {
    pub state: AppState,
    pub backend: Arc<RecordingBackend>,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<postgres::PgServer>,
}

/// A response, decoded.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    /// The problem `code`, for error responses.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// The `ETag` header.
    pub fn etag(&self) -> String {
        self.headers["etag"].to_str().unwrap().to_string()
    }
}

const KEYS: &str = "t1:test-signing-key-0123456789abcdef0123456789";

impl TestApp {
    /// A fresh API on `db`.
    pub async fn new(db: Db) -> Self {
        Self::with_catalog(db, eddy_api::app::BUILTIN_CATALOG).await
    }

    /// A fresh API on `db` selling the plans of `catalog` (YAML).
    pub async fn with_catalog(db: Db, catalog: &str) -> Self {
        let backend = Arc::new(RecordingBackend::default());
        match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/api.db?mode=rwc", dir.path().display());
                let state = eddy_api::app::build_state(&url, catalog, KEYS, backend.clone())
                    .await
                    .unwrap();
                Self {
                    state,
                    backend,
                    _dir: Some(dir),
                    _pg: None,
                }
            }
            Db::Postgres => {
                let pg = tokio::task::spawn_blocking(postgres::PgServer::start)
                    .await
                    .unwrap()
                    .unwrap();
                create_database(&pg).await;
                let state = eddy_api::app::build_state(
                    &pg.url("eddy_test"),
                    catalog,
                    KEYS,
                    backend.clone(),
                )
                .await
                .unwrap();
                Self {
                    state,
                    backend,
                    _dir: None,
                    _pg: Some(pg),
                }
            }
        }
    }

    /// Sends a request through the router.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        self.raw(req).await
    }

    /// Sends a prepared request.
    pub async fn raw(&self, req: Request<Body>) -> Resp {
        let resp = eddy_api::build_router(self.state.clone())
            .oneshot(req)
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body), &[])
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(token), Some(body), &[])
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None, &[])
            .await
    }

    /// A mutation conditional on `etag` (`If-Match`).
    pub async fn if_match(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        etag: &str,
    ) -> Resp {
        self.call(method, path, Some(token), body, &[("if-match", etag)])
            .await
    }

    /// How many clusters `token`'s account lists on its first page.
    pub async fn cluster_count(&self, token: &str) -> usize {
        self.get("/v1/clusters", token).await.body["items"]
            .as_array()
            .unwrap()
            .len()
    }

    /// Signs up a new owner; returns (access token, account id, refresh token).
    pub async fn signup(&self, email: &str) -> (String, String, String) {
        let r = self
            .call(Method::POST, "/v1/auth/signup", None, Some(json!({
                "email": email, "password": "correct horse battery", "name": "Ann", "account_name": "Acme"
            })), &[])
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        (
            r.body["access_token"].as_str().unwrap().into(),
            r.body["account_id"].as_str().unwrap().into(),
            r.body["refresh_token"].as_str().unwrap().into(),
        )
    }

    /// Invites `email` with `role` and accepts; returns the new member's access token.
    pub async fn member(&self, owner: &str, email: &str, role: &str) -> String {
        let inv = self
            .post(
                "/v1/invitations",
                owner,
                json!({"email": email, "role": role}),
            )
            .await;
        assert_eq!(inv.status, StatusCode::CREATED, "{:?}", inv.body);
        let token = inv.body["token"].as_str().unwrap();
        let r = self
            .call(
                Method::POST,
                "/v1/auth/accept-invitation",
                None,
                Some(json!({
                    "token": token, "password": "another good password", "name": "Bob"
                })),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["access_token"].as_str().unwrap().into()
    }

    /// Creates a cluster and returns the 202 body.
    pub async fn create_cluster(&self, token: &str, name: &str, plan: &str) -> Value {
        let r = self
            .post(
                "/v1/clusters",
                token,
                json!({"name": name, "plan_id": plan, "deletion_protection": false}),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
        r.body
    }

    /// Lets the status sync run once.
    pub async fn sync(&self) {
        eddy_api::ops::sync_once(&self.state).await.unwrap();
    }

    /// Creates a cluster and drives it to active; returns its id.
    pub async fn active_cluster(&self, token: &str, name: &str, plan: &str) -> String {
        let body = self.create_cluster(token, name, plan).await;
        let id = body["cluster"]["id"].as_str().unwrap().to_string();
        self.backend.report(&resource_name(&body), true);
        self.sync().await;
        id
    }

    /// Counts rows of a table (to prove that rejected requests changed nothing).
    pub async fn count(&self, table: &str) -> i64 {
        use sqlx::Row;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM {table}"
        )))
        .fetch_one(&self.state.db.pool)
        .await
        .unwrap();
        row.try_get("n").unwrap()
    }
}

/// The KafkaCluster name of a 202 body's cluster.
pub fn resource_name(accepted: &Value) -> String {
    let name = accepted["cluster"]["name"].as_str().unwrap();
    let id = accepted["cluster"]["id"].as_str().unwrap();
    format!("{name}-{}", &id[id.len() - 8..])
}

pub async fn create_database(pg: &postgres::PgServer) {
    use sqlx::Connection;
    // "the database system is starting up": poll until it is up, with a deadline.
    let mut c = eddy_test_support::eventually_async(
        "postgres accepting connections",
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(50),
        || {
            let url = pg.admin_url();
            async move { sqlx::PgConnection::connect(&url).await }
        },
    )
    .await
    .unwrap();
    sqlx::query("CREATE DATABASE eddy_test")
        .execute(&mut c)
        .await
        .unwrap();
}

/// Runs each listed scenario on SQLite and on PostgreSQL, as separate tests.
#[macro_export]
macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario(super::common::TestApp::new(super::common::Db::Sqlite).await).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$scenario(super::common::TestApp::new(super::common::Db::Postgres).await).await;
                }
            }
        )*
    };
}
