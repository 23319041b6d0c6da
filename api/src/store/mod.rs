//! Storage: one sqlx `Any` pool that runs the same migrations and queries on SQLite (the embedded
//! default, one file) and PostgreSQL. Queries use `$n` placeholders, which both accept; values are
//! limited to TEXT and BIGINT so both drivers decode them the same way.

pub mod accounts;
pub mod alarms;
pub mod audit;
pub mod billing;
pub mod channels;
pub mod clusters;
pub mod columns;
pub mod kafka_users;
pub mod metric_points;
pub mod operations;
pub mod plans;
pub mod probe_identities;
pub mod sla;
pub mod topics;

#[cfg(test)]
mod tests;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::time::Duration;

/// Errors of the storage layer. Database failures are classified here, once, so callers match
/// on what happened (a conflicting row, a transient outage) instead of inspecting driver errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write collided with an existing row (a unique constraint), e.g. a duplicate name.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A write broke another integrity rule (foreign key, not-null or check constraint).
    #[error("invalid write: {0}")]
    Invalid(String),
    /// The database could not be reached or asked to retry (pool exhausted, I/O, lock or
    /// serialization failure); the request may succeed later.
    #[error("database: {0}")]
    Unavailable(sqlx::Error),
    /// Any other database failure.
    #[error("database: {0}")]
    Db(sqlx::Error),
    #[error("run migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value this build cannot read.
    #[error("decode stored {what}: {detail}")]
    Corrupt { what: String, detail: String },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &e {
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => Self::Conflict(db.message().to_string()),
                ErrorKind::ForeignKeyViolation
                | ErrorKind::NotNullViolation
                | ErrorKind::CheckViolation => Self::Invalid(db.message().to_string()),
                // SQLite "database is locked" and PostgreSQL serialization (40xxx) and
                // connection (08xxx) faults are transient.
                _ if db.message().contains("locked")
                    || db
                        .code()
                        .is_some_and(|c| c.starts_with("40") || c.starts_with("08")) =>
                {
                    Self::Unavailable(e)
                }
                _ => Self::Db(e),
            },
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(e),
            sqlx::Error::ColumnDecode { index, source } => Self::Corrupt {
                what: format!("column {index}"),
                detail: source.to_string(),
            },
            _ => Self::Db(e),
        }
    }
}

/// Result alias of the storage layer.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database handle shared by all handlers.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Db {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`) and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        install_default_drivers();
        let backend = if url.starts_with("postgres") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let opts = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(5));
        let pool = match backend {
            Backend::Postgres => opts.max_connections(16).connect(url).await?,
            // One writer at a time is SQLite's model anyway; WAL lets readers run beside it.
            Backend::Sqlite => {
                opts.max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            conn.execute("PRAGMA busy_timeout = 5000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
        };
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool, backend })
    }

    /// "sqlite" or "postgres", for logs.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Whether the database answers (for `/healthz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// The current unix second.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A new time-ordered id (UUIDv7, hyphenless): sorts by creation, so it doubles as a cursor.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Formats unix seconds as RFC 3339 for responses.
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
