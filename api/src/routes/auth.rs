//! Sign-up, sign-in, token refresh (rotating refresh tokens) and accepting invitations.

use crate::auth::{self, TokenKind};
use crate::domain::roles::Role;
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::routes::validate;
use crate::state::AppState;
use crate::store::{self, accounts, audit};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;

/// Routes under `/v1/auth`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/signup", post(signup))
        .route("/v1/auth/signin", post(signin))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/accept-invitation", post(accept_invitation))
}

/// Sign-up request: a new user owning a new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub email: String,
    pub password: String,
    pub name: String,
    pub account_name: String,
}

/// Sign-in request; `account_id` picks the account when the user belongs to several.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SigninRequest {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub account_id: Option<String>,
}

/// Refresh request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Accepting an invitation: as a new user (name + password) or an existing one (password).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    pub token: String,
    pub password: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A session: short-lived access token and a one-use refresh token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub user_id: String,
    pub account_id: String,
}

async fn issue_session(
    state: &AppState,
    c: &mut AnyConnection,
    user: &str,
    account: &str,
) -> ApiResult<Session> {
    let now = store::now();
    let sign = |e: auth::AuthError| ApiError::Internal(e.to_string());
    let (access, _) = state
        .keys
        .issue(user, account, TokenKind::Access, now)
        .map_err(sign)?;
    let (refresh, claims) = state
        .keys
        .issue(user, account, TokenKind::Refresh, now)
        .map_err(sign)?;
    accounts::insert_refresh(c, &claims.jti, user, account, claims.exp).await?;
    Ok(Session {
        access_token: access,
        refresh_token: refresh,
        token_type: "Bearer".into(),
        expires_in: auth::ACCESS_TTL_SECS,
        user_id: user.into(),
        account_id: account.into(),
    })
}

fn actor(user: &str, account: &str, headers: &HeaderMap) -> audit::Actor {
    audit::Actor {
        actor: format!("user:{user}"),
        account_id: Some(account.into()),
        request_id: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

/// Creates a user and an account they own.
#[utoipa::path(post, path = "/v1/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = Session), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SignupRequest>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let email = validate::email(&req.email)?;
    validate::password(&req.password)?;
    validate::display_name("name", &req.name)?;
    validate::display_name("account_name", &req.account_name)?;
    let hash = auth::hash_password(&req.password).map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = store::now();
    let mut tx = state.db.pool.begin().await?;
    if accounts::user_by_email(&mut tx, &email).await?.is_some() {
        return Err(ApiError::conflict(
            "email_taken",
            "a user with this email already exists",
        ));
    }
    let user = accounts::User {
        id: store::new_id(),
        email,
        name: req.name.trim().into(),
        password_hash: hash,
    };
    let account_id = store::new_id();
    accounts::insert_user(&mut tx, &user, now).await?;
    accounts::insert_account(&mut tx, &account_id, req.account_name.trim(), now).await?;
    accounts::upsert_membership(&mut tx, &account_id, &user.id, Role::Owner, now).await?;
    let who = actor(&user.id, &account_id, &headers);
    audit::record(
        &mut tx,
        &who,
        "account.create",
        &account_id,
        &serde_json::json!({"email": user.email}),
        now,
    )
    .await?;
    let session = issue_session(&state, &mut tx, &user.id, &account_id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// Signs in with email and password. Ten attempts per email per minute, then 429.
#[utoipa::path(post, path = "/v1/auth/signin", tag = "auth", request_body = SigninRequest,
    responses((status = 200, body = Session), (status = 401, body = crate::error::Problem),
              (status = 429, body = crate::error::Problem)))]
pub async fn signin(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SigninRequest>,
) -> ApiResult<Json<Session>> {
    let email = req.email.trim().to_lowercase();
    state
        .signin_limiter
        .hit(&email, store::now())
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    let mut conn = state.db.pool.acquire().await?;
    let bad = || ApiError::Unauthenticated("wrong email or password".into());
    let user = accounts::user_by_email(&mut conn, &email)
        .await?
        .ok_or_else(bad)?;
    let hash = user.password_hash.clone();
    let password = req.password.clone();
    // argon2 is deliberately slow: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if !ok {
        return Err(bad());
    }
    let account = match req.account_id {
        Some(a) => {
            accounts::membership_role(&mut conn, &a, &user.id)
                .await?
                .ok_or_else(|| ApiError::Forbidden("not a member of that account".into()))?;
            a
        }
        None => accounts::first_account_of(&mut conn, &user.id)
            .await?
            .ok_or_else(|| ApiError::Forbidden("this user belongs to no account".into()))?,
    };
    Ok(Json(
        issue_session(&state, &mut conn, &user.id, &account).await?,
    ))
}

/// Exchanges a refresh token (used once) for a new session.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = Session), (status = 401, body = crate::error::Problem)))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Json<Session>> {
    let claims = state
        .keys
        .verify(&req.refresh_token, TokenKind::Refresh)
        .map_err(|e| ApiError::Unauthenticated(e.to_string()))?;
    let mut tx = state.db.pool.begin().await?;
    if !accounts::consume_refresh(&mut tx, &claims.jti, store::now()).await? {
        return Err(ApiError::Unauthenticated(
            "refresh token already used or revoked".into(),
        ));
    }
    if accounts::membership_role(&mut tx, &claims.acc, &claims.sub)
        .await?
        .is_none()
    {
        return Err(ApiError::Unauthenticated(
            "no longer a member of this account".into(),
        ));
    }
    let session = issue_session(&state, &mut tx, &claims.sub, &claims.acc).await?;
    tx.commit().await?;
    Ok(Json(session))
}

/// Accepts an invitation, creating the user if the invited email is new.
#[utoipa::path(post, path = "/v1/auth/accept-invitation", tag = "auth", request_body = AcceptInvitationRequest,
    responses((status = 200, body = Session), (status = 404, body = crate::error::Problem),
              (status = 401, body = crate::error::Problem)))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<AcceptInvitationRequest>,
) -> ApiResult<Json<Session>> {
    let now = store::now();
    let mut tx = state.db.pool.begin().await?;
    let inv = accounts::invitation_by_token(&mut tx, &auth::hash_secret(&req.token))
        .await?
        .filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > now)
        .ok_or_else(|| ApiError::NotFound("invitation".into()))?;
    let user = match accounts::user_by_email(&mut tx, &inv.email).await? {
        Some(u) if auth::verify_password(&req.password, &u.password_hash) => u,
        Some(_) => {
            return Err(ApiError::Unauthenticated(
                "wrong password for the invited user".into(),
            ));
        }
        None => {
            validate::password(&req.password)?;
            let name = req.name.as_deref().unwrap_or_default();
            validate::display_name("name", name)?;
            let hash = auth::hash_password(&req.password)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let u = accounts::User {
                id: store::new_id(),
                email: inv.email.clone(),
                name: name.trim().into(),
                password_hash: hash,
            };
            accounts::insert_user(&mut tx, &u, now).await?;
            u
        }
    };
    if !accounts::accept_invitation(&mut tx, &inv.id, now).await? {
        return Err(ApiError::conflict(
            "invitation_used",
            "invitation already accepted",
        ));
    }
    accounts::upsert_membership(&mut tx, &inv.account_id, &user.id, inv.role, now).await?;
    let who = actor(&user.id, &inv.account_id, &headers);
    audit::record(
        &mut tx,
        &who,
        "invitation.accept",
        &inv.id,
        &serde_json::json!({"role": inv.role}),
        now,
    )
    .await?;
    let session = issue_session(&state, &mut tx, &user.id, &inv.account_id).await?;
    tx.commit().await?;
    Ok(Json(session))
}
