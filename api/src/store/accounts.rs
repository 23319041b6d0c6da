//! Accounts, users, memberships, invitations, API keys, refresh tokens and signing keys.

use super::Result;
use crate::domain::roles::Role;
use sqlx::AnyConnection;

/// A user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
}

/// An account's billing-relevant details.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub payment_terms: String,
    pub po_number: Option<String>,
    pub billing_notes: Option<String>,
    pub billing_email: Option<String>,
    pub created_at: i64,
}

/// A member of an account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: i64,
}

/// A stored API key (never the secret).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKey {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub secret_hash: String,
    pub role: Role,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// An invitation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Invitation {
    pub id: String,
    pub account_id: String,
    pub email: String,
    pub role: Role,
    pub invited_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Inserts a user.
pub async fn insert_user(c: &mut AnyConnection, u: &User, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&u.id)
    .bind(&u.email)
    .bind(&u.name)
    .bind(&u.password_hash)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Finds a user by (lower-cased) email.
pub async fn user_by_email(c: &mut AnyConnection, email: &str) -> Result<Option<User>> {
    let row = sqlx::query_as("SELECT * FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(c)
        .await?;
    Ok(row)
}

/// Finds a user by id.
pub async fn user_by_id(c: &mut AnyConnection, id: &str) -> Result<Option<User>> {
    let row = sqlx::query_as("SELECT * FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(c)
        .await?;
    Ok(row)
}

/// Inserts an account.
pub async fn insert_account(c: &mut AnyConnection, id: &str, name: &str, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO accounts (id, name, payment_terms, created_at) VALUES ($1, $2, 'card', $3)",
    )
    .bind(id)
    .bind(name)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Loads an account.
pub async fn account_by_id(c: &mut AnyConnection, id: &str) -> Result<Option<Account>> {
    let row = sqlx::query_as("SELECT * FROM accounts WHERE id = $1")
        .bind(id)
        .fetch_optional(c)
        .await?;
    Ok(row)
}

/// Updates an account's billing details.
pub async fn update_billing(c: &mut AnyConnection, a: &Account) -> Result<()> {
    sqlx::query(
        "UPDATE accounts SET name = $2, payment_terms = $3, po_number = $4, billing_notes = $5, \
         billing_email = $6 WHERE id = $1",
    )
    .bind(&a.id)
    .bind(&a.name)
    .bind(&a.payment_terms)
    .bind(&a.po_number)
    .bind(&a.billing_notes)
    .bind(&a.billing_email)
    .execute(c)
    .await?;
    Ok(())
}

/// Adds or replaces a membership.
pub async fn upsert_membership(
    c: &mut AnyConnection,
    account_id: &str,
    user_id: &str,
    r: Role,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO memberships (account_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (account_id, user_id) DO UPDATE SET role = excluded.role",
    )
    .bind(account_id)
    .bind(user_id)
    .bind(r.as_str())
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// The role of `user_id` in `account_id`, if a member.
pub async fn membership_role(
    c: &mut AnyConnection,
    account_id: &str,
    user_id: &str,
) -> Result<Option<Role>> {
    Ok(
        sqlx::query_scalar("SELECT role FROM memberships WHERE account_id = $1 AND user_id = $2")
            .bind(account_id)
            .bind(user_id)
            .fetch_optional(c)
            .await?,
    )
}

/// The accounts a user belongs to, oldest membership first.
pub async fn first_account_of(c: &mut AnyConnection, user_id: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT account_id FROM memberships WHERE user_id = $1 ORDER BY created_at, account_id LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(c)
    .await?)
}

/// Lists an account's members.
pub async fn members(c: &mut AnyConnection, account_id: &str) -> Result<Vec<Member>> {
    Ok(sqlx::query_as(
        "SELECT m.user_id, u.email, u.name, m.role, m.created_at FROM memberships m \
         JOIN users u ON u.id = m.user_id WHERE m.account_id = $1 ORDER BY m.created_at, u.email",
    )
    .bind(account_id)
    .fetch_all(c)
    .await?)
}

/// How many owners an account has (the last owner cannot leave or be demoted).
pub async fn owner_count(c: &mut AnyConnection, account_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) AS n FROM memberships WHERE account_id = $1 AND role = 'owner'",
    )
    .bind(account_id)
    .fetch_one(c)
    .await?)
}

/// Removes a membership; returns whether one existed.
pub async fn delete_membership(
    c: &mut AnyConnection,
    account_id: &str,
    user_id: &str,
) -> Result<bool> {
    let r = sqlx::query("DELETE FROM memberships WHERE account_id = $1 AND user_id = $2")
        .bind(account_id)
        .bind(user_id)
        .execute(c)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Inserts an invitation with the hash of its token.
pub async fn insert_invitation(
    c: &mut AnyConnection,
    i: &Invitation,
    token_hash: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO invitations (id, account_id, email, role, token_hash, invited_by, created_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&i.id)
    .bind(&i.account_id)
    .bind(&i.email)
    .bind(i.role.as_str())
    .bind(token_hash)
    .bind(&i.invited_by)
    .bind(i.created_at)
    .bind(i.expires_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Lists an account's invitations, newest first.
pub async fn invitations(c: &mut AnyConnection, account_id: &str) -> Result<Vec<Invitation>> {
    let rows = sqlx::query_as("SELECT * FROM invitations WHERE account_id = $1 ORDER BY id DESC")
        .bind(account_id)
        .fetch_all(c)
        .await?;
    Ok(rows)
}

/// Finds an invitation by its token hash.
pub async fn invitation_by_token(
    c: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<Invitation>> {
    let row = sqlx::query_as("SELECT * FROM invitations WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(c)
        .await?;
    Ok(row)
}

/// Marks an invitation accepted (once); returns whether it was still open.
pub async fn accept_invitation(c: &mut AnyConnection, id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE invitations SET accepted_at = $2 WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Revokes an open invitation of an account; returns whether one was revoked.
pub async fn revoke_invitation(
    c: &mut AnyConnection,
    account_id: &str,
    id: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE invitations SET revoked_at = $3 WHERE id = $1 AND account_id = $2 \
         AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(account_id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Inserts an API key.
pub async fn insert_api_key(c: &mut AnyConnection, k: &ApiKey) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, name, secret_hash, role, created_by, created_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&k.id)
    .bind(&k.account_id)
    .bind(&k.name)
    .bind(&k.secret_hash)
    .bind(k.role.as_str())
    .bind(&k.created_by)
    .bind(k.created_at)
    .bind(k.expires_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Loads an API key by id.
pub async fn api_key_by_id(c: &mut AnyConnection, id: &str) -> Result<Option<ApiKey>> {
    let row = sqlx::query_as("SELECT * FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_optional(c)
        .await?;
    Ok(row)
}

/// Lists an account's API keys, newest first.
pub async fn api_keys(c: &mut AnyConnection, account_id: &str) -> Result<Vec<ApiKey>> {
    let rows = sqlx::query_as("SELECT * FROM api_keys WHERE account_id = $1 ORDER BY id DESC")
        .bind(account_id)
        .fetch_all(c)
        .await?;
    Ok(rows)
}

/// Records a key's use (at most once a minute, to keep reads cheap).
pub async fn touch_api_key(c: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(id)
    .bind(now)
    .bind(now - 60)
    .execute(c)
    .await?;
    Ok(())
}

/// Revokes an account's key; returns whether it was active.
pub async fn revoke_api_key(
    c: &mut AnyConnection,
    account_id: &str,
    id: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(account_id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Records an issued refresh token (by its jti).
pub async fn insert_refresh(
    c: &mut AnyConnection,
    jti: &str,
    user_id: &str,
    account_id: &str,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, user_id, account_id, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(jti)
    .bind(user_id)
    .bind(account_id)
    .bind(expires_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Revokes a refresh token if still valid; returns whether it was (rotation: one use each).
pub async fn consume_refresh(c: &mut AnyConnection, jti: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(jti)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Loads stored signing keys (kid, secret), oldest first.
pub async fn signing_keys(c: &mut AnyConnection) -> Result<Vec<(String, String)>> {
    Ok(
        sqlx::query_as("SELECT kid, secret FROM signing_keys ORDER BY created_at, kid")
            .fetch_all(c)
            .await?,
    )
}

/// Stores a generated signing key.
pub async fn insert_signing_key(
    c: &mut AnyConnection,
    kid: &str,
    secret: &str,
    now: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO signing_keys (kid, secret, created_at) VALUES ($1, $2, $3)")
        .bind(kid)
        .bind(secret)
        .bind(now)
        .execute(c)
        .await?;
    Ok(())
}
