//! The shared application state handed to every handler.

use crate::alerting::Alerting;
use crate::auth::JwtKeys;
use crate::domain::plans::Catalog;
use crate::kube::ClusterBackend;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::samples::prometheus::PrometheusSource;
use crate::store::Db;
use std::sync::Arc;

/// Everything handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub catalog: Arc<Catalog>,
    pub keys: Arc<JwtKeys>,
    pub backend: Arc<dyn ClusterBackend>,
    pub metrics: Arc<Metrics>,
    /// Sign-in attempts per email address.
    pub signin_limiter: Arc<RateLimiter>,
    /// Where the plots are read from when a Prometheus server is configured (else the API's
    /// own samples).
    pub prometheus: Option<Arc<PrometheusSource>>,
    /// Alarm channels' secrets key, providers' endpoints and the delivery policy.
    pub alerting: Arc<Alerting>,
    /// Whether this replica runs the once-only background work (`leader`).
    pub leader: Arc<crate::leader::Leadership>,
}
