//! Prometheus metrics of the operator: reconciles, failures and durations per kind, and the
//! HTTP endpoint serving them with `/healthz`.
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Errors of the metrics module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A metric could not be registered (duplicate name: a bug).
    #[error("registering metrics: {0}")]
    Register(#[from] prometheus::Error),
    /// The HTTP listener could not bind.
    #[error("binding metrics listener {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("serving metrics: {0}")]
    Serve(std::io::Error),
}

/// The operator's metrics, cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    reconciles: IntCounterVec,
    failures: IntCounterVec,
    duration: HistogramVec,
    leader: IntGauge,
    healthy: Arc<AtomicBool>,
}

impl Metrics {
    /// Registers every metric in a fresh registry.
    ///
    /// # Errors
    /// Only on duplicate registration, which would be a bug.
    pub fn new() -> Result<Self, Error> {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new("eddy_operator_reconciles_total", "Reconciles run, per kind"),
            &["kind"],
        )?;
        let failures = IntCounterVec::new(
            Opts::new(
                "eddy_operator_reconcile_errors_total",
                "Reconciles that failed, per kind and step",
            ),
            &["kind", "step"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "eddy_operator_reconcile_duration_seconds",
                "Reconcile duration, per kind",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["kind"],
        )?;
        let leader = IntGauge::new(
            "eddy_operator_leader",
            "1 while this instance holds the leader lease",
        )?;
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(leader.clone()))?;
        Ok(Self {
            registry,
            reconciles,
            failures,
            duration,
            leader,
            healthy: Arc::new(AtomicBool::new(true)),
        })
    }

    /// Starts timing a reconcile of `kind`; the returned guard records the duration on drop.
    #[must_use]
    pub fn reconcile_started(&self, kind: &'static str) -> ReconcileTimer {
        self.reconciles.with_label_values(&[kind]).inc();
        ReconcileTimer {
            histogram: self.duration.with_label_values(&[kind]),
            start: Instant::now(),
        }
    }

    /// Counts a failed reconcile of `kind` at `step`.
    pub fn reconcile_failed(&self, kind: &str, step: &str) {
        self.failures.with_label_values(&[kind, step]).inc();
    }

    /// Records whether this instance leads.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Marks the process unhealthy (`/healthz` answers 503), e.g. after losing the lease.
    pub fn set_unhealthy(&self) {
        self.healthy.store(false, Ordering::Relaxed);
    }

    /// Prometheus text exposition of every metric.
    #[must_use]
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// The HTTP routes: `/metrics`, `/healthz`.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/metrics",
                get(|State(m): State<Metrics>| async move { m.render() }),
            )
            .route(
                "/healthz",
                get(|State(m): State<Metrics>| async move {
                    if m.healthy.load(Ordering::Relaxed) {
                        (StatusCode::OK, "ok")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
                    }
                }),
            )
            .with_state(self.clone())
    }

    /// Binds `addr` and serves the routes until `shutdown` resolves.
    ///
    /// # Errors
    /// When binding or serving fails.
    pub async fn serve(
        &self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        tracing::info!(%addr, "serving /metrics and /healthz");
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(Error::Serve)
    }
}

/// Records a reconcile's duration when dropped.
pub struct ReconcileTimer {
    histogram: prometheus::Histogram,
    start: Instant,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_reconciles_and_failures_per_kind() {
        let m = Metrics::new().expect("metrics");
        drop(m.reconcile_started("KafkaCluster"));
        m.reconcile_failed("KafkaCluster", "apply");
        let text = m.render();
        assert!(
            text.contains("eddy_operator_reconciles_total{kind=\"KafkaCluster\"} 1"),
            "{text}"
        );
        assert!(text.contains(
            "eddy_operator_reconcile_errors_total{kind=\"KafkaCluster\",step=\"apply\"} 1"
        ));
        assert!(
            text.contains(
                "eddy_operator_reconcile_duration_seconds_count{kind=\"KafkaCluster\"} 1"
            )
        );
    }
}
