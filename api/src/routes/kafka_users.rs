//! Kafka users of a cluster (KafkaUser resources, passwords in Secrets the API writes): create
//! (the password shown once), list and get with the operator's Ready state, rotate, delete, and
//! ACLs per user, all within the plan's features. The API stores no password.

use crate::auth::extract::Principal;
use crate::domain::acls::{self, AclEntry};
use crate::domain::roles::Permission;
use crate::domain::security::{Mechanism, check_acls, check_mechanism};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::kube::UserObservation;
use crate::ops::desired_user;
use crate::routes::topics::live_cluster;
use crate::state::AppState;
use crate::store::clusters::Cluster;
use crate::store::kafka_users::{self, KafkaUser};
use crate::store::{self, audit, rfc3339, topics};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// Routes under `/v1/clusters/{id}/users`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/clusters/{id}/users", get(list_users).post(create_user))
        .route(
            "/v1/clusters/{id}/users/{name}",
            get(get_user).delete(delete_user),
        )
        .route(
            "/v1/clusters/{id}/users/{name}/rotate",
            post(rotate_password),
        )
        .route(
            "/v1/clusters/{id}/users/{name}/certificate",
            get(get_certificate),
        )
        .route("/v1/clusters/{id}/users/{name}/acls", put(put_acls))
}

/// A new Kafka user.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKafkaUser {
    /// The Kafka principal's name (`User:<name>`): 1-64 of `[a-zA-Z0-9._-]`, not starting with
    /// `eddy-` (the operator's own users).
    pub name: String,
    /// Defaults to `scram-sha-512`; `scram-sha-256` works on the same listeners (they take both
    /// SCRAM mechanisms); `tls` (client certificates) needs a plan with `mtls`.
    pub mechanism: Option<Mechanism>,
    /// ACL entries; only on plans with `acls`.
    #[serde(default)]
    pub acls: Vec<AclEntry>,
}

/// A user's ACLs, replaced as a whole.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutAcls {
    pub acls: Vec<AclEntry>,
}

/// A Kafka user as users see it: never a password.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KafkaUserView {
    pub name: String,
    pub mechanism: Mechanism,
    pub acls: Vec<AclEntry>,
    /// Whether the operator reports the credential in place on the brokers (null when the
    /// status cannot be read right now).
    pub ready: Option<bool>,
    /// The operator's Ready reason and message, when it reported one.
    pub reason: Option<String>,
    pub message: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

/// The answer to a create or a rotation: the user and, once, its password or its certificate
/// with the private key.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KafkaUserCredentials {
    pub user: KafkaUserView,
    /// The password, shown only in this answer (null for certificate users, and when a create
    /// is replayed with its Idempotency-Key: rotate to get a new one).
    pub password: Option<String>,
    /// A certificate (`tls`) user's client certificate, private key and CA chain, shown with
    /// the key only in this answer (null for SCRAM users, on a replay, and when the operator
    /// did not issue it in time: rotate then).
    pub certificate: Option<CertificateBundle>,
    /// Why there is no password or certificate, when there is none.
    pub note: Option<String>,
}

/// A certificate user's credential as a create or rotation shows it once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CertificateBundle {
    /// The client certificate (PEM; `ssl.certificate.location`, `user.crt` in the snippets).
    pub certificate: String,
    /// Its private key (PEM; `ssl.key.location`, `user.key`): shown once, never in a read.
    pub private_key: String,
    /// The CA chain clients trust for the brokers (PEM; `ssl.ca.location`, `ca.crt`).
    pub ca_certificate: String,
}

/// A certificate user's public certificate and chain, as `GET .../certificate` reads them:
/// never the key.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicCertificate {
    pub certificate: String,
    pub ca_certificate: String,
}

fn view(u: &KafkaUser, obs: Option<&UserObservation>, known: bool) -> KafkaUserView {
    KafkaUserView {
        name: u.name.clone(),
        mechanism: u.mechanism,
        acls: u.acls.clone(),
        ready: known.then(|| obs.is_some_and(|o| o.ready)),
        reason: obs.and_then(|o| o.reason.clone()),
        message: obs.and_then(|o| o.message.clone()),
        created_by: u.created_by.clone(),
        created_at: rfc3339(u.created_at),
        updated_at: rfc3339(u.updated_at),
    }
}

fn with_etag(status: StatusCode, u: &KafkaUser, body: impl Serialize) -> Response {
    let mut resp = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&u.etag()) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// Kafka principal names: 1-64 of `[a-zA-Z0-9._-]`; `eddy-*` is the operator's and `ANONYMOUS`
/// is Kafka's unauthenticated principal.
fn user_name(s: &str) -> ApiResult<()> {
    let ok = (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        return Err(ApiError::invalid("name", "1-64 of [a-zA-Z0-9._-]"));
    }
    if s.to_ascii_lowercase().starts_with("eddy-") || s.eq_ignore_ascii_case("anonymous") {
        return Err(ApiError::invalid(
            "name",
            "names starting with eddy- and ANONYMOUS are reserved",
        ));
    }
    Ok(())
}

/// A new password: 32 bytes from the operating system's CSPRNG, hex (256 bits, no characters
/// that need quoting in a properties file or a JAAS line).
fn new_password() -> ApiResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("random password: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The operator's view of the cluster's users; `None` when it cannot be read now (the answer
/// then says `ready: null` rather than fail a read).
async fn observed(state: &AppState, k: &Cluster) -> Option<Vec<UserObservation>> {
    match state
        .backend
        .user_states(&k.namespace, &k.resource_name)
        .await
    {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(cluster = %k.id, error = %e, "read KafkaUser status");
            None
        }
    }
}

fn find<'a>(obs: Option<&'a [UserObservation]>, u: &KafkaUser) -> Option<&'a UserObservation> {
    obs.and_then(|o| o.iter().find(|x| x.name == u.resource_name))
}

async fn load_user(state: &AppState, k: &Cluster, name: &str) -> ApiResult<KafkaUser> {
    let mut c = state.db.pool.acquire().await?;
    kafka_users::get(&mut c, &k.id, name)
        .await?
        .ok_or_else(|| ApiError::NotFound("kafka user".into()))
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let k = v
        .to_str()
        .map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))?;
    if k.is_empty() || k.len() > 255 {
        return Err(ApiError::invalid("Idempotency-Key", "1 to 255 characters"));
    }
    Ok(Some(k.to_string()))
}

const REPLAYED: &str =
    "the password was shown once, when this user was created; rotate it to get a new one";
const NOT_ISSUED: &str = "the operator has not issued the client certificate yet: its private key can no longer be shown here; rotate the user to get a new certificate and key";
const REPLAYED_CERTIFICATE: &str = "the private key was shown once, when this user was created; rotate the user to get a new certificate and key";

/// How long a create or rotation of a certificate user waits for the operator to issue the
/// certificate, and how often it looks.
const ISSUE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
const ISSUE_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Waits (bounded by [`ISSUE_WAIT`]) until the operator has issued a certificate to the TLS user
/// `u` other than `previous`; `None` when it has not in time (the caller says so).
async fn issued_certificate(
    state: &AppState,
    k: &Cluster,
    u: &KafkaUser,
    previous: Option<&str>,
) -> ApiResult<Option<CertificateBundle>> {
    let deadline = tokio::time::Instant::now() + ISSUE_WAIT;
    loop {
        if let Some(c) = state
            .backend
            .user_certificate(&k.namespace, &u.resource_name)
            .await?
            && previous != Some(c.certificate.as_str())
        {
            return Ok(Some(CertificateBundle {
                certificate: c.certificate,
                private_key: c.private_key,
                ca_certificate: c.ca_certificate,
            }));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(ISSUE_POLL).await;
    }
}

/// The cluster's Kafka users with the operator's Ready state.
#[utoipa::path(get, path = "/v1/clusters/{id}/users", tag = "kafka users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = [KafkaUserView]), (status = 404, body = crate::error::Problem)))]
pub async fn list_users(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<KafkaUserView>>> {
    p.require(Permission::ReadClusters)?;
    let mut c = state.db.pool.acquire().await?;
    let k = crate::store::clusters::get(&mut c, &p.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("cluster".into()))?;
    let users = kafka_users::list(&mut c, &k.id).await?;
    drop(c);
    let obs = observed(&state, &k).await;
    Ok(Json(
        users
            .iter()
            .map(|u| view(u, find(obs.as_deref(), u), obs.is_some()))
            .collect(),
    ))
}

/// One Kafka user, with its ETag.
#[utoipa::path(get, path = "/v1/clusters/{id}/users/{name}", tag = "kafka users", security(("bearer" = [])),
    params(("id" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = KafkaUserView, headers(("ETag" = String))), (status = 404, body = crate::error::Problem)))]
pub async fn get_user(
    State(state): State<AppState>,
    p: Principal,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    p.require(Permission::ReadClusters)?;
    let mut c = state.db.pool.acquire().await?;
    let k = crate::store::clusters::get(&mut c, &p.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("cluster".into()))?;
    drop(c);
    let u = load_user(&state, &k, &name).await?;
    let obs = observed(&state, &k).await;
    Ok(with_etag(
        StatusCode::OK,
        &u,
        view(&u, find(obs.as_deref(), &u), obs.is_some()),
    ))
}

/// Creates a Kafka user: a KafkaUser and, for SCRAM, a Secret with a generated password, which
/// this answer shows once. Within the plan's features (422 otherwise, nothing changed). A repeat
/// with the same `Idempotency-Key` and body answers 200 with the user and no password.
#[utoipa::path(post, path = "/v1/clusters/{id}/users", tag = "kafka users", security(("bearer" = [])), request_body = CreateKafkaUser,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = KafkaUserCredentials), (status = 200, body = KafkaUserCredentials),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem),
              (status = 503, body = crate::error::Problem)))]
pub async fn create_user(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateKafkaUser>,
) -> ApiResult<Response> {
    p.require(Permission::WriteClusters)?;
    user_name(&req.name)?;
    let mechanism = req.mechanism.unwrap_or(Mechanism::ScramSha512);
    acls::validate(&req.acls)?;
    let k = live_cluster(&state, &p, &id).await?;
    let plan = state.catalog.plan(&k.plan_id)?;
    check_mechanism(&plan.id, &plan.features, mechanism)?;
    check_acls(&plan.id, &plan.features, req.acls.len())?;
    let key = idempotency_key(&headers)?;
    let fingerprint = crate::auth::hash_secret(&serde_json::to_string(&req).unwrap_or_default());
    if let Some(key) = &key {
        let mut c = state.db.pool.acquire().await?;
        if let Some(u) = kafka_users::by_idempotency_key(&mut c, &k.id, key).await? {
            if u.request_fingerprint.as_deref() != Some(fingerprint.as_str()) {
                return Err(ApiError::conflict(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for a different request",
                ));
            }
            let note = if u.mechanism.has_password() {
                REPLAYED
            } else {
                REPLAYED_CERTIFICATE
            };
            let body = KafkaUserCredentials {
                user: view(&u, None, false),
                password: None,
                certificate: None,
                note: Some(note.into()),
            };
            return Ok(with_etag(StatusCode::OK, &u, body));
        }
    }
    let now = store::now();
    let uid = store::new_id();
    let resource_name = format!("{}-u-{}", k.resource_name, &uid[uid.len() - 8..]);
    let user = KafkaUser {
        secret_name: mechanism
            .has_password()
            .then(|| format!("{resource_name}-password")),
        resource_name,
        id: uid,
        cluster_id: k.id.clone(),
        name: req.name.clone(),
        mechanism,
        acls: req.acls.clone(),
        revision: 1,
        credential_revision: 1,
        idempotency_key: key,
        request_fingerprint: Some(fingerprint),
        created_by: p.actor().actor,
        created_at: now,
        updated_at: now,
    };
    let password = if mechanism.has_password() {
        Some(new_password()?)
    } else {
        None
    };
    let mut tx = state.db.pool.begin().await?;
    topics::lock_cluster(&mut tx, &k.id).await?;
    if let Err(e) = kafka_users::insert(&mut tx, &user).await {
        if let store::StoreError::Conflict(_) = &e {
            return Err(ApiError::conflict(
                "user_exists",
                "a Kafka user with this name exists on this cluster",
            ));
        }
        return Err(e.into());
    }
    audit::record(
        &mut tx,
        &p.actor(),
        "kafka_user.create",
        &k.id,
        &json!({"user": user.name, "mechanism": mechanism.as_str(), "acls": user.acls.len()}),
        now,
    )
    .await?;
    // Kubernetes last: a refused write rolls the row back, so a failed create changes nothing.
    state
        .backend
        .apply_user(&desired_user(&k, plan, &user), password.as_deref())
        .await?;
    tx.commit().await?;
    let certificate = if mechanism.has_password() {
        None
    } else {
        issued_certificate(&state, &k, &user, None).await?
    };
    let note = (password.is_none() && certificate.is_none()).then(|| NOT_ISSUED.to_string());
    let mut resp = with_etag(
        StatusCode::CREATED,
        &user,
        KafkaUserCredentials {
            user: view(&user, None, true),
            password,
            certificate,
            note,
        },
    );
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/clusters/{}/users/{}", k.id, user.name)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Rotates a user's credential: for SCRAM a new password is written to its Secret (the operator
/// replaces the credential on the brokers) and shown once in this answer; for a certificate user
/// the operator issues a new certificate and key, shown once likewise.
#[utoipa::path(post, path = "/v1/clusters/{id}/users/{name}/rotate", tag = "kafka users", security(("bearer" = [])),
    params(("id" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = KafkaUserCredentials), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem), (status = 503, body = crate::error::Problem)))]
pub async fn rotate_password(
    State(state): State<AppState>,
    p: Principal,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    p.require(Permission::WriteClusters)?;
    let k = live_cluster(&state, &p, &id).await?;
    let plan = state.catalog.plan(&k.plan_id)?;
    let mut u = load_user(&state, &k, &name).await?;
    if !u.mechanism.has_password() {
        return rotate_certificate(&state, &p, &k, plan, u).await;
    }
    let password = new_password()?;
    let now = store::now();
    let rev = u.revision;
    u.credential_revision += 1;
    let mut tx = state.db.pool.begin().await?;
    if !kafka_users::update_if(&mut tx, &u, rev, now).await? {
        return Err(ApiError::conflict(
            "conflict",
            "the user changed meanwhile; retry",
        ));
    }
    u.revision = rev + 1;
    u.updated_at = now;
    audit::record(
        &mut tx,
        &p.actor(),
        "kafka_user.rotate",
        &k.id,
        &json!({"user": u.name}),
        now,
    )
    .await?;
    state
        .backend
        .apply_user(&desired_user(&k, plan, &u), Some(&password))
        .await?;
    tx.commit().await?;
    Ok(with_etag(
        StatusCode::OK,
        &u,
        KafkaUserCredentials {
            user: view(&u, None, true),
            password: Some(password),
            certificate: None,
            note: None,
        },
    ))
}

/// Rotates a certificate user: its Secret is dropped and the KafkaUser's credential revision
/// bumped, so the operator issues a new certificate with a new key, which this answer shows
/// once (after a bounded wait).
async fn rotate_certificate(
    state: &AppState,
    p: &Principal,
    k: &Cluster,
    plan: &crate::domain::plans::Plan,
    mut u: KafkaUser,
) -> ApiResult<Response> {
    let previous = state
        .backend
        .user_certificate(&k.namespace, &u.resource_name)
        .await?
        .map(|c| c.certificate);
    let now = store::now();
    let rev = u.revision;
    u.credential_revision += 1;
    let mut tx = state.db.pool.begin().await?;
    if !kafka_users::update_if(&mut tx, &u, rev, now).await? {
        return Err(ApiError::conflict(
            "conflict",
            "the user changed meanwhile; retry",
        ));
    }
    u.revision = rev + 1;
    u.updated_at = now;
    audit::record(
        &mut tx,
        &p.actor(),
        "kafka_user.rotate",
        &k.id,
        &json!({"user": u.name}),
        now,
    )
    .await?;
    state
        .backend
        .drop_certificate(&k.namespace, &u.resource_name)
        .await?;
    state
        .backend
        .apply_user(&desired_user(k, plan, &u), None)
        .await?;
    tx.commit().await?;
    let certificate = issued_certificate(state, k, &u, previous.as_deref()).await?;
    let note = certificate.is_none().then(|| NOT_ISSUED.to_string());
    Ok(with_etag(
        StatusCode::OK,
        &u,
        KafkaUserCredentials {
            user: view(&u, None, true),
            password: None,
            certificate,
            note,
        },
    ))
}

/// A certificate user's public certificate and the CA chain, as the operator issued them:
/// never the private key. 409 until the operator has issued it; 422 for SCRAM users.
#[utoipa::path(get, path = "/v1/clusters/{id}/users/{name}/certificate", tag = "kafka users", security(("bearer" = [])),
    params(("id" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = PublicCertificate), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem),
              (status = 503, body = crate::error::Problem)))]
pub async fn get_certificate(
    State(state): State<AppState>,
    p: Principal,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Json<PublicCertificate>> {
    p.require(Permission::ReadClusters)?;
    let mut c = state.db.pool.acquire().await?;
    let k = crate::store::clusters::get(&mut c, &p.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("cluster".into()))?;
    drop(c);
    let u = load_user(&state, &k, &name).await?;
    if u.mechanism.has_password() {
        return Err(ApiError::invalid(
            "mechanism",
            "SCRAM users have no certificate: they sign in with their password",
        ));
    }
    let cert = state
        .backend
        .user_certificate(&k.namespace, &u.resource_name)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "not_issued",
                "the operator has not issued this user's certificate yet",
            )
        })?;
    Ok(Json(PublicCertificate {
        certificate: cert.certificate,
        ca_certificate: cert.ca_certificate,
    }))
}

/// Replaces a user's ACLs (plans with `acls` only). Needs If-Match with the user's ETag.
#[utoipa::path(put, path = "/v1/clusters/{id}/users/{name}/acls", tag = "kafka users", security(("bearer" = [])), request_body = PutAcls,
    params(("id" = String, Path), ("name" = String, Path), ("If-Match" = String, Header)),
    responses((status = 200, body = KafkaUserView), (status = 412, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem), (status = 428, body = crate::error::Problem)))]
pub async fn put_acls(
    State(state): State<AppState>,
    p: Principal,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PutAcls>,
) -> ApiResult<Response> {
    p.require(Permission::WriteClusters)?;
    let k = live_cluster(&state, &p, &id).await?;
    let plan = state.catalog.plan(&k.plan_id)?;
    // Even an empty list is refused: without `acls` the plan has no ACLs to manage at all.
    check_acls(&plan.id, &plan.features, 1)?;
    acls::validate(&req.acls)?;
    let mut u = load_user(&state, &k, &name).await?;
    let if_match = headers
        .get(header::IF_MATCH)
        .ok_or(ApiError::PreconditionRequired)?
        .to_str()
        .map_err(|_| ApiError::PreconditionFailed)?;
    if !(if_match.trim() == "*" || if_match.split(',').any(|t| t.trim() == u.etag())) {
        return Err(ApiError::PreconditionFailed);
    }
    let now = store::now();
    let rev = u.revision;
    u.acls = req.acls;
    let mut tx = state.db.pool.begin().await?;
    if !kafka_users::update_if(&mut tx, &u, rev, now).await? {
        return Err(ApiError::PreconditionFailed);
    }
    u.revision = rev + 1;
    u.updated_at = now;
    audit::record(
        &mut tx,
        &p.actor(),
        "kafka_user.acls",
        &k.id,
        &json!({"user": u.name, "acls": u.acls.len()}),
        now,
    )
    .await?;
    state
        .backend
        .apply_user(&desired_user(&k, plan, &u), None)
        .await?;
    tx.commit().await?;
    Ok(with_etag(StatusCode::OK, &u, view(&u, None, false)))
}

/// Deletes a Kafka user: its KafkaUser (the operator removes the credential and ACLs from the
/// brokers) and its password Secret.
#[utoipa::path(delete, path = "/v1/clusters/{id}/users/{name}", tag = "kafka users", security(("bearer" = [])),
    params(("id" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 503, body = crate::error::Problem)))]
pub async fn delete_user(
    State(state): State<AppState>,
    p: Principal,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    p.require(Permission::WriteClusters)?;
    let k = live_cluster(&state, &p, &id).await?;
    let u = load_user(&state, &k, &name).await?;
    let now = store::now();
    let mut tx = state.db.pool.begin().await?;
    if !kafka_users::delete(&mut tx, &u.id).await? {
        return Err(ApiError::NotFound("kafka user".into()));
    }
    audit::record(
        &mut tx,
        &p.actor(),
        "kafka_user.delete",
        &k.id,
        &json!({"user": u.name}),
        now,
    )
    .await?;
    state
        .backend
        .delete_user(&k.namespace, &u.resource_name, u.secret_name.as_deref())
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
