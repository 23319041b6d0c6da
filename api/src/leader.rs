//! Leader election between API replicas: the background work that must happen once — alarm
//! evaluation, notification delivery, broker sampling and the SLA probe — runs only on the
//! leader; every replica serves HTTP and follows operations. On PostgreSQL the leader is the
//! replica holding a session-level advisory lock on one dedicated connection: PostgreSQL releases
//! it when that connection or the process dies, and a standby takes it on its next attempt (one
//! retry interval). On SQLite one process owns the file: it is always the leader.

use sqlx::{AnyConnection, Connection as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The advisory lock key (`'eddy-api-leader'` as a fixed 64-bit number; any other holder of
/// this key in the same database would be another Eddy API).
pub const LOCK_KEY: i64 = 0x6564_6479_6c65_6164;

/// Whether this replica leads; shared by the background loops, which check it every round.
#[derive(Debug)]
pub struct Leadership {
    leader: AtomicBool,
    gauge: prometheus::IntGauge,
}

impl Leadership {
    fn with(leader: bool) -> Arc<Self> {
        let gauge = prometheus::IntGauge::new(
            "eddy_api_leader",
            "1 while this API replica runs the background work (alarms, deliveries, sampling, SLA probe)",
        )
        .expect("static metric definition");
        gauge.set(i64::from(leader));
        Arc::new(Self {
            leader: AtomicBool::new(leader),
            gauge,
        })
    }

    /// A replica that leads for good (SQLite, tests).
    pub fn always() -> Arc<Self> {
        Self::with(true)
    }

    /// A replica that leads only once [`campaign`] wins the lock.
    pub fn standby() -> Arc<Self> {
        Self::with(false)
    }

    /// Whether this replica should do the once-only work now.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Acquire)
    }

    fn set(&self, leader: bool) {
        if self.leader.swap(leader, Ordering::AcqRel) != leader {
            tracing::info!(leader, "API leadership changed");
        }
        self.gauge.set(i64::from(leader));
    }

    /// The `eddy_api_leader` gauge, for the API's registry.
    pub fn gauge(&self) -> prometheus::IntGauge {
        self.gauge.clone()
    }
}

/// Holds the lock while the connection lives: tries to take it, then checks the connection
/// every `retry`; returns when the connection fails (leadership is dropped first).
async fn hold(conn: &mut AnyConnection, leadership: &Leadership, retry: Duration) {
    loop {
        let alive = if leadership.is_leader() {
            sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok()
        } else {
            match sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                .bind(LOCK_KEY)
                .fetch_one(&mut *conn)
                .await
            {
                Ok(won) => {
                    if won {
                        leadership.set(true);
                    }
                    true
                }
                Err(e) => {
                    tracing::warn!(error = %e, "leader election query failed");
                    false
                }
            }
        };
        if !alive {
            // The session (and so the lock) may be gone: stop leading before anything else.
            leadership.set(false);
            return;
        }
        tokio::time::sleep(retry).await;
    }
}

/// Campaigns for leadership on the PostgreSQL database at `url` until the process ends: one
/// dedicated connection, reconnected after a failure, the lock tried every `retry`.
pub async fn campaign(url: String, leadership: Arc<Leadership>, retry: Duration) {
    loop {
        match AnyConnection::connect(&url).await {
            Ok(mut conn) => {
                hold(&mut conn, &leadership, retry).await;
                let _ = conn.close().await;
            }
            Err(e) => {
                leadership.set(false);
                tracing::warn!(error = %e, "leader election: connect to the database");
            }
        }
        tokio::time::sleep(retry).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gauge_follows_leadership() {
        let l = Leadership::standby();
        assert!(!l.is_leader());
        assert_eq!(l.gauge().get(), 0);
        l.set(true);
        assert!(l.is_leader());
        assert_eq!(l.gauge().get(), 1);
        assert!(Leadership::always().is_leader());
    }
}
