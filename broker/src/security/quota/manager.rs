//! The broker's quota bookkeeping: the stored quotas (an in-memory copy, replaced when the
//! metadata image changes), one sampled rate per quota type and tag set, and the throttle time
//! a request earns (KIP-219: the response carries it and the connection is muted for it).

use super::connections::ConnectionLimits;
use super::rate::{Clock, QuotaWindow, SampledRate};
use super::resolve::{QuotaTags, resolve};
use super::{ClientQuotaMap, QuotaType};
use prometheus::{IntCounterVec, Opts, Registry};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// The throttle time a request earned (KIP-219), set by the handler that measured it and
/// taken by the connection, which then stops reading that client's requests for as long.
#[derive(Debug, Default)]
pub struct Throttle {
    ms: std::sync::atomic::AtomicU64,
    exempt: std::sync::atomic::AtomicBool,
}

impl Throttle {
    /// Marks the request as exempt from the request-time quota (a follower's fetch).
    pub fn exempt(&self) {
        self.exempt
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the request was marked exempt, reset to false.
    pub fn take_exempt(&self) -> bool {
        self.exempt
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    /// Raises the pending throttle to `ms` (the longest of the quotas a request violated).
    pub fn raise(&self, ms: u64) {
        self.ms.fetch_max(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// The pending throttle, reset to 0.
    pub fn take(&self) -> u64 {
        self.ms.swap(0, std::sync::atomic::Ordering::Relaxed)
    }
}

/// How many records between sweeps of idle rates.
const SWEEP_EVERY: u64 = 1024;

/// Client quotas for one broker (see the module comment).
pub struct QuotaManager {
    window: QuotaWindow,
    clock: Arc<dyn Clock>,
    quotas: RwLock<Arc<ClientQuotaMap>>,
    rates: Mutex<Rates>,
    throttle_ms: IntCounterVec,
    throttled: IntCounterVec,
    connections: Arc<ConnectionLimits>,
}

#[derive(Default)]
struct Rates {
    by_tags: HashMap<(QuotaType, QuotaTags), SampledRate>,
    records: u64,
}

impl QuotaManager {
    /// A manager with no quotas; its metrics go to `registry` when given.
    pub fn new(window: QuotaWindow, clock: Arc<dyn Clock>, registry: Option<&Registry>) -> Self {
        let throttle_ms = IntCounterVec::new(
            Opts::new(
                "quota_throttle_time_ms_total",
                "Milliseconds clients were throttled for, by quota type (produce, fetch, request)",
            ),
            &["type"],
        )
        .unwrap_or_else(|e| panic!("static metric definition: {e}"));
        let throttled = IntCounterVec::new(
            Opts::new(
                "quota_throttled_requests_total",
                "Requests answered with a throttle time, by quota type",
            ),
            &["type"],
        )
        .unwrap_or_else(|e| panic!("static metric definition: {e}"));
        if let Some(r) = registry {
            for m in [&throttle_ms, &throttled] {
                if let Err(e) = r.register(Box::new(m.clone())) {
                    tracing::warn!(error = %e, "registering a quota metric failed");
                }
            }
        }
        QuotaManager {
            window,
            connections: Arc::new(ConnectionLimits::new(window, Arc::clone(&clock))),
            clock,
            quotas: RwLock::new(Arc::new(ClientQuotaMap::default())),
            rates: Mutex::new(Rates::default()),
            throttle_ms,
            throttled,
        }
    }

    /// The window rates are measured over.
    pub fn window(&self) -> QuotaWindow {
        self.window
    }

    /// The clock (connection limits measure with it too).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The connection counts and creation rates (server/ admits connections through them).
    pub fn connections(&self) -> &Arc<ConnectionLimits> {
        &self.connections
    }

    /// The stored quotas this broker enforces.
    pub fn quotas(&self) -> Arc<ClientQuotaMap> {
        Arc::clone(&self.quotas.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the quotas (after an AlterClientQuotas here, or when the metadata image
    /// changes). Rates already measured are kept; only the bounds change.
    pub fn update(&self, quotas: &ClientQuotaMap) {
        let mut cur = self.quotas.write().unwrap_or_else(PoisonError::into_inner);
        if **cur != *quotas {
            tracing::info!(entities = quotas.0.len(), "client quotas changed");
            *cur = Arc::new(quotas.clone());
        }
    }

    /// Records `value` against the quota of `ty` that applies to (user, client id) and returns
    /// the throttle time in ms (0 when within the quota or when no quota applies).
    pub fn record(&self, ty: QuotaType, user: &str, client_id: &str, value: f64) -> u64 {
        let Some(q) = resolve(&self.quotas(), ty.key(), user, client_id) else {
            return 0;
        };
        let now = self.clock.now_ms();
        let mut rates = self.rates.lock().unwrap_or_else(PoisonError::into_inner);
        rates.records += 1;
        if rates.records.is_multiple_of(SWEEP_EVERY) {
            let span = self.window.max_throttle_ms();
            rates
                .by_tags
                .retain(|_, r| r.last_ms().is_some_and(|l| now.saturating_sub(l) < span));
        }
        let rate = rates
            .by_tags
            .entry((ty, q.tags))
            .or_insert_with(|| SampledRate::new(self.window));
        rate.record(value, now);
        let t = rate.throttle_ms(q.bound, now);
        drop(rates);
        if t > 0 {
            tracing::debug!(quota = ty.label(), entity = %q.entity, user, client_id, throttle_ms = t, "quota exceeded");
        }
        t
    }

    /// Takes back a value recorded by `record` (a throttled fetch answers without data).
    pub fn unrecord(&self, ty: QuotaType, user: &str, client_id: &str, value: f64) {
        let Some(q) = resolve(&self.quotas(), ty.key(), user, client_id) else {
            return;
        };
        let now = self.clock.now_ms();
        let mut rates = self.rates.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = rates.by_tags.get_mut(&(ty, q.tags)) {
            r.unrecord(value, now);
        }
    }

    /// Request-handling time against `request_percentage` (Kafka records nanoseconds as a
    /// percentage of one second: a handler busy for a whole second is 100 %).
    pub fn record_request_time(&self, user: &str, client_id: &str, nanos: u64) -> u64 {
        self.record(
            QuotaType::Request,
            user,
            client_id,
            nanos as f64 * 100.0 / 1e9,
        )
    }

    /// Counts a throttle that was applied (the metrics per quota type).
    pub fn observe_throttle(&self, ty: QuotaType, ms: u64) {
        if ms > 0 {
            self.throttle_ms.with_label_values(&[ty.label()]).inc_by(ms);
            self.throttled.with_label_values(&[ty.label()]).inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::quota::{
        EntityName, PRODUCER_BYTE_RATE, QuotaAlteration, QuotaEntity, QuotaValue,
    };
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Default)]
    struct FakeClock(AtomicU64);

    impl Clock for FakeClock {
        fn now_ms(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn manager(entity: QuotaEntity, key: &str, bound: f64) -> (QuotaManager, Arc<FakeClock>) {
        let clock = Arc::new(FakeClock::default());
        let m = QuotaManager::new(QuotaWindow::default(), clock.clone(), None);
        let mut map = ClientQuotaMap::default();
        map.apply(&[QuotaAlteration {
            entity,
            set: [(key.to_string(), QuotaValue(bound))].into(),
            remove: vec![],
        }]);
        m.update(&map);
        (m, clock)
    }

    #[test]
    fn a_producer_over_its_quota_is_throttled_and_others_are_not() {
        let (m, clock) = manager(
            QuotaEntity::client(EntityName::Name("slow".into())),
            PRODUCER_BYTE_RATE,
            1000.0,
        );
        // 15 000 bytes at once: 1 500 B/s over the padded 10 s window → 5 000 ms.
        assert_eq!(
            m.record(QuotaType::Produce, "ANONYMOUS", "slow", 15_000.0),
            5_000
        );
        assert_eq!(m.record(QuotaType::Produce, "ANONYMOUS", "fast", 1e9), 0);
        assert_eq!(m.record(QuotaType::Fetch, "ANONYMOUS", "slow", 1e9), 0);
        clock.0.store(11_000, Ordering::SeqCst);
        // Once the burst's sample has expired the client is within its quota again.
        assert_eq!(m.record(QuotaType::Produce, "ANONYMOUS", "slow", 0.0), 0);
    }

    #[test]
    fn a_user_quota_applies_to_user_principals_and_is_shared_by_their_clients() {
        let (m, _clock) = manager(
            QuotaEntity::user(EntityName::Name("alice".into())),
            PRODUCER_BYTE_RATE,
            1000.0,
        );
        assert_eq!(m.record(QuotaType::Produce, "alice", "one", 8_000.0), 0);
        // The same rate: 8 000 + 7 000 = 1 500 B/s.
        assert_eq!(m.record(QuotaType::Produce, "alice", "two", 7_000.0), 5_000);
        assert_eq!(m.record(QuotaType::Produce, "bob", "one", 1e9), 0);
    }

    #[test]
    fn request_time_is_a_percentage_of_a_second() {
        let (m, _clock) = manager(
            QuotaEntity::user(EntityName::Default),
            "request_percentage",
            10.0,
        );
        // 1 s of handler time over the padded 10 s window: 10 % — at the quota, not over.
        assert_eq!(m.record_request_time("u", "c", 1_000_000_000), 0);
        // 0.5 s more: 15 % → (15 - 10) / 10 × 10 000 ms.
        assert_eq!(m.record_request_time("u", "c", 500_000_000), 5_000);
    }

    #[test]
    fn unrecording_takes_a_throttled_fetch_back() {
        let (m, _clock) = manager(
            QuotaEntity::client(EntityName::Default),
            "consumer_byte_rate",
            1000.0,
        );
        assert!(m.record(QuotaType::Fetch, "u", "c", 20_000.0) > 0);
        m.unrecord(QuotaType::Fetch, "u", "c", 20_000.0);
        assert_eq!(m.record(QuotaType::Fetch, "u", "c", 100.0), 0);
    }
}
