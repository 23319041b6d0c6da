//! The `Principal` extractor: who is calling (a user session or an API key), in which account,
//! with which role. Every protected route takes one and checks a permission.

use crate::auth::{TokenKind, digests_equal, hash_secret};
use crate::domain::roles::{Permission, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{self, accounts, audit::Actor};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

/// Prefix of API keys: `eddy_<key id>_<secret>`.
pub const API_KEY_PREFIX: &str = "eddy_";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account_id: String,
    pub role: Role,
    pub user_id: Option<String>,
    pub api_key_id: Option<String>,
    pub request_id: Option<String>,
}

impl Principal {
    /// Fails with 403 unless the caller's role allows `p`.
    pub fn require(&self, p: Permission) -> ApiResult<()> {
        if self.role.allows(p) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "role {} may not do this",
                self.role.as_str()
            )))
        }
    }

    /// The caller as recorded in the audit log.
    pub fn actor(&self) -> Actor {
        let actor = match (&self.user_id, &self.api_key_id) {
            (_, Some(k)) => format!("api_key:{k}"),
            (Some(u), None) => format!("user:{u}"),
            (None, None) => "anonymous".into(),
        };
        Actor {
            actor,
            account_id: Some(self.account_id.clone()),
            request_id: self.request_id.clone(),
        }
    }
}

/// The request id set by the request-id layer.
pub fn request_id(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthenticated("missing Authorization header".into()))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::Unauthenticated("expected a Bearer token".into()))?
            .trim();
        let request_id = request_id(parts);
        let mut conn = state.db.pool.acquire().await?;
        if let Some(rest) = token.strip_prefix(API_KEY_PREFIX) {
            let (id, secret) = rest
                .split_once('_')
                .ok_or_else(|| ApiError::Unauthenticated("malformed API key".into()))?;
            let key = accounts::api_key_by_id(&mut conn, id)
                .await?
                .ok_or_else(|| ApiError::Unauthenticated("unknown API key".into()))?;
            let now = store::now();
            if !digests_equal(&key.secret_hash, &hash_secret(secret)) {
                return Err(ApiError::Unauthenticated("unknown API key".into()));
            }
            if key.revoked_at.is_some() || key.expires_at.is_some_and(|e| e <= now) {
                return Err(ApiError::Unauthenticated(
                    "API key revoked or expired".into(),
                ));
            }
            accounts::touch_api_key(&mut conn, &key.id, now).await?;
            return Ok(Self {
                account_id: key.account_id,
                role: key.role,
                user_id: None,
                api_key_id: Some(key.id),
                request_id,
            });
        }
        let claims = state
            .keys
            .verify(token, TokenKind::Access)
            .map_err(|e| ApiError::Unauthenticated(e.to_string()))?;
        // The role is read on every request so that role changes and removals apply at once.
        let role = accounts::membership_role(&mut conn, &claims.acc, &claims.sub)
            .await?
            .ok_or_else(|| ApiError::Unauthenticated("not a member of this account".into()))?;
        Ok(Self {
            account_id: claims.acc,
            role,
            user_id: Some(claims.sub),
            api_key_id: None,
            request_id,
        })
    }
}
