//! Assembling the application: database, plans, signing keys, backend; the demo account.

use crate::auth::{self, JwtKeys};
use crate::domain::plans::Catalog;
use crate::domain::roles::Role;
use crate::kube::ClusterBackend;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::state::AppState;
use crate::store::{self, Db, accounts};
use std::sync::Arc;

/// The catalog shipped with this build (`api/plans/catalog.yaml`).
pub const BUILTIN_CATALOG: &str = include_str!("../plans/catalog.yaml");

/// Errors while assembling the application.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("open database: {0}")]
    Store(#[from] store::StoreError),
    #[error("load plans: {0}")]
    Plans(#[from] crate::domain::plans::PlanError),
    #[error("signing keys: {0}")]
    Keys(#[from] auth::AuthError),
    #[error("{0}")]
    Secrets(#[from] crate::alerting::secrets::SecretError),
}

/// Connects, migrates, seeds the catalog and loads or creates signing keys.
/// `jwt_keys` is the `kid:secret,...` spec; empty means "generate one and keep it in the database".
pub async fn build_state(
    database_url: &str,
    catalog_yaml: &str,
    jwt_keys: &str,
    backend: Arc<dyn ClusterBackend>,
) -> Result<AppState, AppError> {
    let db = Db::connect(database_url).await?;
    let mut catalog = Catalog::parse(catalog_yaml)?;
    let now = store::now();
    store::plans::seed(&db.pool, &catalog, now).await?;
    // Serve the full price history from the database (it keeps prices removed from the file).
    let stored = store::plans::all(&db.pool).await?;
    for p in &mut catalog.plans {
        if let Some(s) = stored.iter().find(|s| s.id == p.id) {
            p.prices.clone_from(&s.prices);
        }
    }
    let pairs = if jwt_keys.trim().is_empty() {
        let mut c = db.pool.acquire().await.map_err(store::StoreError::from)?;
        let mut keys = accounts::signing_keys(&mut c).await?;
        if keys.is_empty() {
            let kid = format!("k{now}");
            let secret = auth::random_secret();
            accounts::insert_signing_key(&mut c, &kid, &secret, now).await?;
            keys = accounts::signing_keys(&mut c).await?;
        }
        keys
    } else {
        JwtKeys::parse_spec(jwt_keys)?
    };
    Ok(AppState {
        db,
        catalog: Arc::new(catalog),
        keys: Arc::new(JwtKeys::new(&pairs)?),
        backend,
        metrics: Arc::new(Metrics::new()),
        signin_limiter: Arc::new(RateLimiter::new(10, 60)),
        prometheus: None,
        // A key that lives only in this process until the binary loads the configured one
        // (`--secrets-key-file` / `EDDY_SECRETS_KEY`).
        alerting: Arc::new(crate::alerting::Alerting::new(
            crate::alerting::secrets::SecretBox::ephemeral()?,
        )),
        // One process until the binary campaigns on PostgreSQL.
        leader: crate::leader::Leadership::always(),
    })
}

/// The demo account's sign-in.
#[derive(Debug, Clone)]
pub struct DemoCredentials {
    pub email: String,
    pub password: String,
    pub account_id: String,
}

/// Creates (or resets the password of) `demo@eddy.local`, owner of the "Demo" account.
pub async fn seed_demo(state: &AppState) -> Result<DemoCredentials, AppError> {
    let email = "demo@eddy.local".to_string();
    let password = format!("demo-{}", &auth::random_secret()[..16]);
    let hash = auth::hash_password(&password)?;
    let now = store::now();
    let mut tx = state
        .db
        .pool
        .begin()
        .await
        .map_err(store::StoreError::from)?;
    let account_id = match accounts::user_by_email(&mut tx, &email).await? {
        Some(u) => {
            sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(&u.id)
                .bind(&hash)
                .execute(&mut *tx)
                .await
                .map_err(store::StoreError::from)?;
            match accounts::first_account_of(&mut tx, &u.id).await? {
                Some(a) => a,
                None => new_account(&mut tx, &u.id, now).await?,
            }
        }
        None => {
            let u = accounts::User {
                id: store::new_id(),
                email: email.clone(),
                name: "Demo User".into(),
                password_hash: hash,
            };
            accounts::insert_user(&mut tx, &u, now).await?;
            new_account(&mut tx, &u.id, now).await?
        }
    };
    tx.commit().await.map_err(store::StoreError::from)?;
    Ok(DemoCredentials {
        email,
        password,
        account_id,
    })
}

async fn new_account(
    c: &mut sqlx::AnyConnection,
    user: &str,
    now: i64,
) -> Result<String, AppError> {
    let id = store::new_id();
    accounts::insert_account(c, &id, "Demo", now).await?;
    accounts::upsert_membership(c, &id, user, Role::Owner, now).await?;
    Ok(id)
}
