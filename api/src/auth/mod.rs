//! Credentials: argon2 password hashes, JWT access/refresh tokens signed with rotating keys
//! (selected by `kid`), and opaque secrets (API keys, invitation tokens) stored as SHA-256 hashes.

pub mod extract;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Errors of credential handling.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("hash password: {0}")]
    Hash(String),
    #[error("sign token: {0}")]
    Sign(String),
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("configure signing keys: {0}")]
    Keys(String),
}

/// Access tokens live 15 minutes; refresh tokens 30 days (rotated on every use).
pub const ACCESS_TTL_SECS: i64 = 15 * 60;
/// Lifetime of a refresh token.
pub const REFRESH_TTL_SECS: i64 = 30 * 24 * 3600;

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Checks a password against a stored PHC hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A random secret: 256 bits from the OS generator, hex.
pub fn random_secret() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    format!("{}{}", a.simple(), b.simple())
}

/// SHA-256 of a high-entropy secret, hex. (Passwords use argon2; these secrets are random.)
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Constant-time comparison of two hex digests.
pub fn digests_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Access,
    Refresh,
}

/// The claims of both token kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Account the session acts in.
    pub acc: String,
    pub typ: TokenKind,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

/// HMAC signing keys by `kid`; tokens are signed with `current` and verified with any known key,
/// so a key can be rotated by adding a new current one and retiring the old after the refresh TTL.
#[derive(Clone)]
pub struct JwtKeys {
    current: String,
    keys: HashMap<String, (EncodingKey, DecodingKey)>,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Builds the key set from `(kid, secret)` pairs; the last pair is the current signing key.
    pub fn new(pairs: &[(String, String)]) -> Result<Self, AuthError> {
        let current = pairs
            .last()
            .ok_or_else(|| AuthError::Keys("no signing key".into()))?
            .0
            .clone();
        let mut keys = HashMap::new();
        for (kid, secret) in pairs {
            if secret.len() < 32 {
                return Err(AuthError::Keys(format!(
                    "key {kid} is shorter than 32 bytes"
                )));
            }
            let enc = EncodingKey::from_secret(secret.as_bytes());
            let dec = DecodingKey::from_secret(secret.as_bytes());
            keys.insert(kid.clone(), (enc, dec));
        }
        Ok(Self { current, keys })
    }

    /// Parses `kid1:secret1,kid2:secret2` (last is current), as given in `EDDY_JWT_KEYS`.
    pub fn parse_spec(spec: &str) -> Result<Vec<(String, String)>, AuthError> {
        spec.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.split_once(':')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .ok_or_else(|| AuthError::Keys("expected kid:secret pairs".into()))
            })
            .collect()
    }

    /// The kid new tokens are signed with.
    pub fn current_kid(&self) -> &str {
        &self.current
    }

    /// Signs a token of `typ` for `user` acting in `account`, valid from `now` for `ttl`.
    pub fn issue(
        &self,
        user: &str,
        account: &str,
        typ: TokenKind,
        now: i64,
    ) -> Result<(String, Claims), AuthError> {
        let ttl = match typ {
            TokenKind::Access => ACCESS_TTL_SECS,
            TokenKind::Refresh => REFRESH_TTL_SECS,
        };
        let claims = Claims {
            sub: user.into(),
            acc: account.into(),
            typ,
            jti: crate::store::new_id(),
            iat: now,
            exp: now + ttl,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current.clone());
        let (enc, _) = &self.keys[&self.current];
        let token = jsonwebtoken::encode(&header, &claims, enc)
            .map_err(|e| AuthError::Sign(e.to_string()))?;
        Ok((token, claims))
    }

    /// Verifies signature (by kid), algorithm, expiry and kind.
    pub fn verify(&self, token: &str, typ: TokenKind) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::InvalidToken(e.to_string()))?;
        let kid = header
            .kid
            .ok_or_else(|| AuthError::InvalidToken("no kid".into()))?;
        let (_, dec) = self
            .keys
            .get(&kid)
            .ok_or_else(|| AuthError::InvalidToken("unknown kid".into()))?;
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 5;
        v.set_required_spec_claims(&["exp", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, dec, &v)
            .map_err(|e| AuthError::InvalidToken(e.to_string()))?;
        if data.claims.typ != typ {
            return Err(AuthError::InvalidToken("wrong token kind".into()));
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pairs: &[(&str, &str)]) -> JwtKeys {
        JwtKeys::new(
            &pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    const S1: &str = "0123456789abcdef0123456789abcdef-one";
    const S2: &str = "0123456789abcdef0123456789abcdef-two";

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_round_trip_and_check_kind() {
        let k = keys(&[("k1", S1)]);
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let (t, c) = k.issue("u", "a", TokenKind::Access, now).unwrap();
        assert_eq!(k.verify(&t, TokenKind::Access).unwrap(), c);
        assert!(k.verify(&t, TokenKind::Refresh).is_err());
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_and_signs_with_the_new_key() {
        let old = keys(&[("k1", S1)]);
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let (t, _) = old.issue("u", "a", TokenKind::Access, now).unwrap();
        let rotated = keys(&[("k1", S1), ("k2", S2)]);
        assert!(rotated.verify(&t, TokenKind::Access).is_ok());
        let (t2, _) = rotated.issue("u", "a", TokenKind::Access, now).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&t2).unwrap().kid.as_deref(),
            Some("k2")
        );
        // Retiring k1 invalidates tokens it signed.
        let retired = keys(&[("k2", S2)]);
        assert!(retired.verify(&t, TokenKind::Access).is_err());
    }

    #[test]
    fn expired_and_forged_tokens_are_rejected() {
        let k = keys(&[("k1", S1)]);
        let (t, _) = k.issue("u", "a", TokenKind::Access, 1_000_000).unwrap();
        assert!(k.verify(&t, TokenKind::Access).is_err(), "expired long ago");
        let forger = keys(&[("k1", S2)]);
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let (f, _) = forger.issue("u", "a", TokenKind::Access, now).unwrap();
        assert!(
            k.verify(&f, TokenKind::Access).is_err(),
            "same kid, other secret"
        );
    }

    #[test]
    fn key_spec_parses_and_short_keys_are_refused() {
        let pairs = JwtKeys::parse_spec(&format!("a:{S1}, b:{S2}")).unwrap();
        assert_eq!(JwtKeys::new(&pairs).unwrap().current_kid(), "b");
        assert!(JwtKeys::new(&[("a".into(), "short".into())]).is_err());
        assert!(JwtKeys::parse_spec("nocolon").is_err());
    }

    #[test]
    fn secrets_are_random_and_hashes_compare() {
        assert_ne!(random_secret(), random_secret());
        let h = hash_secret("s");
        assert!(digests_equal(&h, &hash_secret("s")));
        assert!(!digests_equal(&h, &hash_secret("t")));
    }
}
