//! The account: billing details, members and their roles, invitations, API keys.

use crate::auth::{
    self,
    extract::{API_KEY_PREFIX, Principal},
};
use crate::domain::billing::PaymentTerms;
use crate::domain::roles::{Permission, Role};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::routes::validate;
use crate::state::AppState;
use crate::store::{self, accounts, audit, rfc3339};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// Routes for the caller's account.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/account", get(get_account).patch(update_account))
        .route("/v1/members", get(list_members))
        .route(
            "/v1/members/{user_id}",
            delete(remove_member).patch(change_role),
        )
        .route("/v1/invitations", get(list_invitations).post(invite))
        .route("/v1/invitations/{id}", delete(revoke_invitation))
        .route("/v1/api-keys", get(list_api_keys).post(create_api_key))
        .route("/v1/api-keys/{id}", delete(revoke_api_key))
}

/// The account and its billing details.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub name: String,
    pub payment_terms: PaymentTerms,
    pub po_number: Option<String>,
    pub billing_notes: Option<String>,
    pub billing_email: Option<String>,
    pub created_at: String,
}

/// Changes to the account; absent fields stay as they are, `null` clears optional ones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    pub name: Option<String>,
    pub payment_terms: Option<PaymentTerms>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub po_number: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub billing_notes: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub billing_email: Option<Option<String>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// A member.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub since: String,
}

/// A role change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub role: Role,
}

/// An invitation request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub email: String,
    pub role: Role,
}

/// An invitation; `token` is present only in the response that created it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub invited_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub accepted: bool,
    pub revoked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// An API key request: a name, the role it acts with (at most the caller's) and an expiry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRequest {
    pub name: String,
    pub role: Role,
    /// Days until it expires (1–730); absent means it never expires.
    pub expires_in_days: Option<i64>,
}

/// An API key; `secret` is present only in the response that created it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn account_view(a: accounts::Account) -> AccountView {
    AccountView {
        payment_terms: PaymentTerms::parse(&a.payment_terms).unwrap_or(PaymentTerms::Card),
        id: a.id,
        name: a.name,
        po_number: a.po_number,
        billing_notes: a.billing_notes,
        billing_email: a.billing_email,
        created_at: rfc3339(a.created_at),
    }
}

fn key_view(k: accounts::ApiKey, secret: Option<String>) -> ApiKeyView {
    ApiKeyView {
        id: k.id,
        name: k.name,
        role: k.role,
        created_by: k.created_by,
        created_at: rfc3339(k.created_at),
        expires_at: k.expires_at.map(rfc3339),
        last_used_at: k.last_used_at.map(rfc3339),
        revoked: k.revoked_at.is_some(),
        secret,
    }
}

fn invitation_view(i: accounts::Invitation, token: Option<String>) -> InvitationView {
    InvitationView {
        id: i.id,
        email: i.email,
        role: i.role,
        invited_by: i.invited_by,
        created_at: rfc3339(i.created_at),
        expires_at: rfc3339(i.expires_at),
        accepted: i.accepted_at.is_some(),
        revoked: i.revoked_at.is_some(),
        token,
    }
}

/// The caller's account. Everyone in the account may read it.
#[utoipa::path(get, path = "/v1/account", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = AccountView), (status = 401, body = crate::error::Problem)))]
pub async fn get_account(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<Json<AccountView>> {
    let mut c = state.db.pool.acquire().await?;
    let a = accounts::account_by_id(&mut c, &p.account_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("account".into()))?;
    Ok(Json(account_view(a)))
}

/// Edits the account name and billing details (owner, admin, billing manager).
#[utoipa::path(patch, path = "/v1/account", tag = "account", security(("bearer" = [])), request_body = AccountUpdate,
    responses((status = 200, body = AccountView), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update_account(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(req): ApiJson<AccountUpdate>,
) -> ApiResult<Json<AccountView>> {
    p.require(Permission::WriteBilling)?;
    let now = store::now();
    let mut tx = state.db.pool.begin().await?;
    let mut a = accounts::account_by_id(&mut tx, &p.account_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("account".into()))?;
    if let Some(n) = &req.name {
        validate::display_name("name", n)?;
        a.name = n.trim().into();
    }
    if let Some(t) = req.payment_terms {
        a.payment_terms = t.as_str().into();
    }
    let text = |field: &str, v: Option<String>, max: usize| -> ApiResult<Option<String>> {
        match v {
            Some(s) if s.chars().count() > max => Err(ApiError::invalid(
                field,
                format!("at most {max} characters"),
            )),
            other => Ok(other),
        }
    };
    if let Some(v) = req.po_number {
        a.po_number = text("po_number", v, 64)?;
    }
    if let Some(v) = req.billing_notes {
        a.billing_notes = text("billing_notes", v, 1000)?;
    }
    if let Some(v) = req.billing_email {
        a.billing_email = v.map(|e| validate::email(&e)).transpose()?;
    }
    accounts::update_billing(&mut tx, &a).await?;
    let details =
        json!({"name": a.name, "payment_terms": a.payment_terms, "po_number": a.po_number});
    audit::record(&mut tx, &p.actor(), "account.update", &a.id, &details, now).await?;
    tx.commit().await?;
    Ok(Json(account_view(a)))
}

/// Members of the account.
#[utoipa::path(get, path = "/v1/members", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = [MemberView])))]
pub async fn list_members(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Vec<MemberView>>> {
    p.require(Permission::ReadMembers)?;
    let mut c = state.db.pool.acquire().await?;
    let members = accounts::members(&mut c, &p.account_id).await?;
    Ok(Json(
        members
            .into_iter()
            .map(|m| MemberView {
                user_id: m.user_id,
                email: m.email,
                name: m.name,
                role: m.role,
                since: rfc3339(m.created_at),
            })
            .collect(),
    ))
}

/// Changes a member's role (owner, admin; admins cannot grant owner or change owners).
#[utoipa::path(patch, path = "/v1/members/{user_id}", tag = "account", security(("bearer" = [])), request_body = RoleChange,
    params(("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn change_role(
    State(state): State<AppState>,
    p: Principal,
    Path(user_id): Path<String>,
    ApiJson(req): ApiJson<RoleChange>,
) -> ApiResult<StatusCode> {
    p.require(Permission::ManageMembers)?;
    let now = store::now();
    let mut tx = state.db.pool.begin().await?;
    let current = accounts::membership_role(&mut tx, &p.account_id, &user_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("member".into()))?;
    if !p.role.may_grant(req.role) || !p.role.may_grant(current) {
        return Err(ApiError::Forbidden(format!(
            "role {} cannot make this change",
            p.role.as_str()
        )));
    }
    if current == Role::Owner
        && req.role != Role::Owner
        && accounts::owner_count(&mut tx, &p.account_id).await? <= 1
    {
        return Err(ApiError::conflict(
            "last_owner",
            "an account keeps at least one owner",
        ));
    }
    accounts::upsert_membership(&mut tx, &p.account_id, &user_id, req.role, now).await?;
    audit::record(
        &mut tx,
        &p.actor(),
        "member.role",
        &user_id,
        &json!({"from": current, "to": req.role}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a member (owner, admin); the last owner cannot be removed.
#[utoipa::path(delete, path = "/v1/members/{user_id}", tag = "account", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn remove_member(
    State(state): State<AppState>,
    p: Principal,
    Path(user_id): Path<String>,
) -> ApiResult<StatusCode> {
    p.require(Permission::ManageMembers)?;
    let now = store::now();
    let mut tx = state.db.pool.begin().await?;
    let current = accounts::membership_role(&mut tx, &p.account_id, &user_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("member".into()))?;
    if !p.role.may_grant(current) {
        return Err(ApiError::Forbidden(format!(
            "role {} cannot remove an {}",
            p.role.as_str(),
            current.as_str()
        )));
    }
    if current == Role::Owner && accounts::owner_count(&mut tx, &p.account_id).await? <= 1 {
        return Err(ApiError::conflict(
            "last_owner",
            "an account keeps at least one owner",
        ));
    }
    accounts::delete_membership(&mut tx, &p.account_id, &user_id).await?;
    audit::record(
        &mut tx,
        &p.actor(),
        "member.remove",
        &user_id,
        &json!({"role": current}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Invitations of the account.
#[utoipa::path(get, path = "/v1/invitations", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = [InvitationView])))]
pub async fn list_invitations(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Vec<InvitationView>>> {
    p.require(Permission::ManageMembers)?;
    let mut c = state.db.pool.acquire().await?;
    let list = accounts::invitations(&mut c, &p.account_id).await?;
    Ok(Json(
        list.into_iter().map(|i| invitation_view(i, None)).collect(),
    ))
}

/// Invites someone by email with a role; the token in the response is shown once (7 days).
#[utoipa::path(post, path = "/v1/invitations", tag = "account", security(("bearer" = [])), request_body = InviteRequest,
    responses((status = 201, body = InvitationView), (status = 403, body = crate::error::Problem)))]
pub async fn invite(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(req): ApiJson<InviteRequest>,
) -> ApiResult<(StatusCode, Json<InvitationView>)> {
    p.require(Permission::ManageMembers)?;
    if !p.role.may_grant(req.role) {
        return Err(ApiError::Forbidden(format!(
            "role {} cannot grant {}",
            p.role.as_str(),
            req.role.as_str()
        )));
    }
    let email = validate::email(&req.email)?;
    let now = store::now();
    let token = auth::random_secret();
    let inv = accounts::Invitation {
        id: store::new_id(),
        account_id: p.account_id.clone(),
        email,
        role: req.role,
        invited_by: p.actor().actor,
        created_at: now,
        expires_at: now + 7 * 86_400,
        accepted_at: None,
        revoked_at: None,
    };
    let mut tx = state.db.pool.begin().await?;
    accounts::insert_invitation(&mut tx, &inv, &auth::hash_secret(&token)).await?;
    audit::record(
        &mut tx,
        &p.actor(),
        "invitation.create",
        &inv.id,
        &json!({"email": inv.email, "role": inv.role}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(invitation_view(inv, Some(token)))))
}

/// Revokes an open invitation.
#[utoipa::path(delete, path = "/v1/invitations/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    p.require(Permission::ManageMembers)?;
    let now = store::now();
    let mut tx = state.db.pool.begin().await?;
    if !accounts::revoke_invitation(&mut tx, &p.account_id, &id, now).await? {
        return Err(ApiError::NotFound("open invitation".into()));
    }
    audit::record(
        &mut tx,
        &p.actor(),
        "invitation.revoke",
        &id,
        &json!({}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// API keys of the account (never their secrets).
#[utoipa::path(get, path = "/v1/api-keys", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = [ApiKeyView])))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Vec<ApiKeyView>>> {
    p.require(Permission::ManageApiKeys)?;
    let mut c = state.db.pool.acquire().await?;
    let keys = accounts::api_keys(&mut c, &p.account_id).await?;
    Ok(Json(keys.into_iter().map(|k| key_view(k, None)).collect()))
}

/// Creates an API key scoped to a role no higher than the caller's; the secret is shown once.
#[utoipa::path(post, path = "/v1/api-keys", tag = "account", security(("bearer" = [])), request_body = ApiKeyRequest,
    responses((status = 201, body = ApiKeyView), (status = 403, body = crate::error::Problem)))]
pub async fn create_api_key(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(req): ApiJson<ApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<ApiKeyView>)> {
    p.require(Permission::ManageApiKeys)?;
    if !p.role.may_grant(req.role) {
        return Err(ApiError::Forbidden(format!(
            "role {} cannot create a {} key",
            p.role.as_str(),
            req.role.as_str()
        )));
    }
    validate::display_name("name", &req.name)?;
    let now = store::now();
    let expires_at = match req.expires_in_days {
        None => None,
        Some(d) if (1..=730).contains(&d) => Some(now + d * 86_400),
        Some(_) => return Err(ApiError::invalid("expires_in_days", "between 1 and 730")),
    };
    let id = store::new_id();
    let secret = auth::random_secret();
    let key = accounts::ApiKey {
        id: id.clone(),
        account_id: p.account_id.clone(),
        name: req.name.trim().into(),
        secret_hash: auth::hash_secret(&secret),
        role: req.role,
        created_by: p.actor().actor,
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    let mut tx = state.db.pool.begin().await?;
    accounts::insert_api_key(&mut tx, &key).await?;
    audit::record(
        &mut tx,
        &p.actor(),
        "api_key.create",
        &id,
        &json!({"name": key.name, "role": key.role}),
        now,
    )
    .await?;
    tx.commit().await?;
    let full = format!("{API_KEY_PREFIX}{id}_{secret}");
    Ok((StatusCode::CREATED, Json(key_view(key, Some(full)))))
}

/// Revokes an API key.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    p.require(Permission::ManageApiKeys)?;
    let now = store::now();
    let mut tx = state.db.pool.begin().await?;
    if !accounts::revoke_api_key(&mut tx, &p.account_id, &id, now).await? {
        return Err(ApiError::NotFound("active API key".into()));
    }
    audit::record(&mut tx, &p.actor(), "api_key.revoke", &id, &json!({}), now).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
