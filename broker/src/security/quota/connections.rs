//! Connection limits, as Kafka's ConnectionQuotas has them: `max.connections` (broker-wide)
//! and `listener.name.<l>.max.connections` stop the acceptor until a connection closes;
//! `max.connections.per.ip` (with `max.connections.per.ip.overrides`) closes a new connection
//! over its IP's limit; `max.connection.creation.rate` delays the acceptor by the throttle
//! time; an IP over its `connection_creation_rate` quota has its new connection closed after
//! the throttle time. The decisions are here; server/ does the accepting and waiting.

use super::rate::{Clock, QuotaWindow, SampledRate};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;

/// Kafka's "no limit" (Int.MaxValue) for every connection key.
pub const UNLIMITED: u64 = i32::MAX as u64;

/// The limits in force, read from the broker's settings (dynamic keys are re-read per accept).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionLimitConfig {
    pub max_connections: u64,
    pub listener_max: HashMap<String, u64>,
    pub max_per_ip: u64,
    pub per_ip_overrides: HashMap<IpAddr, u64>,
    pub max_creation_rate: f64,
}

impl Default for ConnectionLimitConfig {
    fn default() -> Self {
        ConnectionLimitConfig {
            max_connections: UNLIMITED,
            listener_max: HashMap::new(),
            max_per_ip: UNLIMITED,
            per_ip_overrides: HashMap::new(),
            max_creation_rate: UNLIMITED as f64,
        }
    }
}

fn count(key: &str, v: &str) -> Result<u64, String> {
    v.trim()
        .parse::<u64>()
        .map_err(|_| format!("{key} must be a non-negative integer, got {v:?}"))
}

impl ConnectionLimitConfig {
    /// Reads the keys through `get` (the effective broker setting, "" when unset) for the
    /// given listener names.
    pub fn from_settings(
        get: impl Fn(&str) -> String,
        listeners: &[String],
    ) -> Result<Self, String> {
        let mut c = ConnectionLimitConfig::default();
        let num = |key: &str, default: u64| -> Result<u64, String> {
            let v = get(key);
            if v.trim().is_empty() {
                Ok(default)
            } else {
                count(key, &v)
            }
        };
        c.max_connections = num("max.connections", UNLIMITED)?;
        c.max_per_ip = num("max.connections.per.ip", UNLIMITED)?;
        c.max_creation_rate = num("max.connection.creation.rate", UNLIMITED)? as f64;
        for l in listeners {
            let key = format!("listener.name.{}.max.connections", l.to_ascii_lowercase());
            let v = get(&key);
            if !v.trim().is_empty() {
                c.listener_max.insert(l.clone(), count(&key, &v)?);
            }
        }
        c.per_ip_overrides = parse_ip_overrides(&get("max.connections.per.ip.overrides"))?;
        Ok(c)
    }

    fn ip_limit(&self, ip: IpAddr) -> u64 {
        self.per_ip_overrides
            .get(&ip)
            .copied()
            .unwrap_or(self.max_per_ip)
    }
}

/// Parses `max.connections.per.ip.overrides` (`ip:limit,...`; Kafka also allows host names,
/// which this broker does not resolve: they are refused).
pub fn parse_ip_overrides(s: &str) -> Result<HashMap<IpAddr, u64>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (host, limit) = e
                .rsplit_once(':')
                .ok_or_else(|| format!("max.connections.per.ip.overrides entry {e:?} is not ip:limit"))?;
            let ip = host
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<IpAddr>()
                .map_err(|_| format!("max.connections.per.ip.overrides entry {e:?}: {host:?} is not an IP address"))?;
            Ok((ip, count("max.connections.per.ip.overrides", limit)?))
        })
        .collect()
}

/// Why a new connection is not served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionRefusal {
    #[error("too many connections from {ip} (max.connections.per.ip {limit})")]
    TooManyForIp { ip: IpAddr, limit: u64 },
    #[error(
        "connection creation rate of {ip} is over its quota: closing after {close_after_ms} ms"
    )]
    IpRateThrottled { ip: IpAddr, close_after_ms: u64 },
}

#[derive(Default)]
struct Counts {
    total: u64,
    by_listener: HashMap<String, u64>,
    by_ip: HashMap<IpAddr, u64>,
    ip_rates: HashMap<IpAddr, SampledRate>,
    broker_rate: Option<SampledRate>,
}

/// Live connection counts and creation rates.
pub struct ConnectionLimits {
    window: QuotaWindow,
    clock: Arc<dyn Clock>,
    counts: Mutex<Counts>,
    /// Woken when a connection closes (an acceptor waiting for a slot retries).
    pub closed: Notify,
}

/// A served connection's place in the counts; released when dropped.
pub struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    listener: String,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        {
            let mut c = self.limits.lock();
            c.total = c.total.saturating_sub(1);
            if let Some(n) = c.by_listener.get_mut(&self.listener) {
                *n = n.saturating_sub(1);
            }
            if let Some(n) = c.by_ip.get_mut(&self.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    c.by_ip.remove(&self.ip);
                }
            }
        }
        self.limits.closed.notify_waiters();
    }
}

impl ConnectionLimits {
    pub fn new(window: QuotaWindow, clock: Arc<dyn Clock>) -> Self {
        ConnectionLimits {
            window,
            clock,
            counts: Mutex::new(Counts::default()),
            closed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the acceptor of `listener` may accept now (below `max.connections` and the
    /// listener's own limit); otherwise it waits for `closed`.
    pub fn has_slot(&self, listener: &str, cfg: &ConnectionLimitConfig) -> bool {
        let c = self.lock();
        let listener_max = cfg.listener_max.get(listener).copied().unwrap_or(UNLIMITED);
        c.total < cfg.max_connections
            && c.by_listener.get(listener).copied().unwrap_or(0) < listener_max
    }

    /// Records one accepted connection against `max.connection.creation.rate`; returns how
    /// long the acceptor waits before accepting the next (0 within the rate).
    pub fn record_creation(&self, cfg: &ConnectionLimitConfig) -> u64 {
        if cfg.max_creation_rate >= UNLIMITED as f64 {
            return 0;
        }
        let now = self.clock.now_ms();
        let mut c = self.lock();
        let window = self.window;
        let rate = c
            .broker_rate
            .get_or_insert_with(|| SampledRate::new(window));
        rate.record(1.0, now);
        rate.throttle_ms(cfg.max_creation_rate, now)
    }

    /// Counts a new connection from `ip` on `listener`: refused over the IP's limit, or over
    /// its `connection_creation_rate` quota (`ip_rate`, None = unlimited).
    pub fn admit(
        self: &Arc<Self>,
        listener: &str,
        ip: IpAddr,
        cfg: &ConnectionLimitConfig,
        ip_rate: Option<f64>,
    ) -> Result<ConnectionSlot, ConnectionRefusal> {
        let now = self.clock.now_ms();
        let mut c = self.lock();
        let limit = cfg.ip_limit(ip);
        if c.by_ip.get(&ip).copied().unwrap_or(0) >= limit {
            return Err(ConnectionRefusal::TooManyForIp { ip, limit });
        }
        if let Some(bound) = ip_rate {
            let window = self.window;
            let rate = c
                .ip_rates
                .entry(ip)
                .or_insert_with(|| SampledRate::new(window));
            rate.record(1.0, now);
            let t = rate.throttle_ms(bound, now);
            if t > 0 {
                // Kafka does not count a throttled connection toward the rate it is refused by.
                rate.unrecord(1.0, now);
                return Err(ConnectionRefusal::IpRateThrottled {
                    ip,
                    close_after_ms: t,
                });
            }
        }
        if c.ip_rates.len() > 10_000 {
            let span = self.window.max_throttle_ms();
            c.ip_rates
                .retain(|_, r| r.last_ms().is_some_and(|l| now.saturating_sub(l) < span));
        }
        c.total += 1;
        *c.by_listener.entry(listener.to_string()).or_default() += 1;
        *c.by_ip.entry(ip).or_default() += 1;
        Ok(ConnectionSlot {
            limits: Arc::clone(self),
            listener: listener.to_string(),
            ip,
        })
    }

    /// Connections open now (all listeners).
    pub fn open(&self) -> u64 {
        self.lock().total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Default)]
    struct FakeClock(AtomicU64);

    impl Clock for FakeClock {
        fn now_ms(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn limits() -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits::new(
            QuotaWindow::default(),
            Arc::new(FakeClock::default()),
        ))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn settings_parse_with_kafkas_defaults_and_overrides() {
        let settings: HashMap<&str, &str> = [
            ("max.connections.per.ip", "3"),
            ("max.connections.per.ip.overrides", "127.0.0.2:5, [::1]:7"),
            ("listener.name.internal.max.connections", "9"),
        ]
        .into();
        let get = |k: &str| settings.get(k).map(ToString::to_string).unwrap_or_default();
        let c = ConnectionLimitConfig::from_settings(get, &["INTERNAL".into(), "EXTERNAL".into()])
            .unwrap();
        assert_eq!(c.max_connections, UNLIMITED);
        assert_eq!(c.max_per_ip, 3);
        assert_eq!(c.ip_limit(ip("127.0.0.2")), 5);
        assert_eq!(c.ip_limit(ip("::1")), 7);
        assert_eq!(c.ip_limit(ip("127.0.0.1")), 3);
        assert_eq!(c.listener_max.get("INTERNAL"), Some(&9));
        assert!(!c.listener_max.contains_key("EXTERNAL"));
        assert!(parse_ip_overrides("localhost:3").is_err());
        assert!(parse_ip_overrides("127.0.0.1").is_err());
    }

    #[test]
    fn the_fourth_connection_from_an_ip_is_refused_until_one_closes() {
        let l = limits();
        let cfg = ConnectionLimitConfig {
            max_per_ip: 3,
            ..Default::default()
        };
        let a = ip("127.0.0.1");
        let slots: Vec<_> = (0..3)
            .map(|_| l.admit("PLAINTEXT", a, &cfg, None).unwrap())
            .collect();
        assert_eq!(
            l.admit("PLAINTEXT", a, &cfg, None).err(),
            Some(ConnectionRefusal::TooManyForIp { ip: a, limit: 3 })
        );
        assert!(
            l.admit("PLAINTEXT", ip("127.0.0.2"), &cfg, None).is_ok(),
            "other IPs unaffected"
        );
        drop(slots);
        assert!(l.admit("PLAINTEXT", a, &cfg, None).is_ok());
    }

    #[test]
    fn the_acceptor_waits_at_the_broker_and_listener_limits() {
        let l = limits();
        let cfg = ConnectionLimitConfig {
            max_connections: 2,
            listener_max: [("A".to_string(), 1)].into(),
            ..Default::default()
        };
        assert!(l.has_slot("A", &cfg));
        let a = l.admit("A", ip("10.0.0.1"), &cfg, None).unwrap();
        assert!(!l.has_slot("A", &cfg), "listener A is full");
        assert!(l.has_slot("B", &cfg));
        let b = l.admit("B", ip("10.0.0.2"), &cfg, None).unwrap();
        assert!(!l.has_slot("B", &cfg), "the broker is full");
        drop(a);
        assert!(l.has_slot("A", &cfg));
        assert_eq!(l.open(), 1);
        drop(b);
    }

    #[test]
    fn creation_rates_throttle_the_acceptor_and_close_an_ips_excess() {
        let l = limits();
        let cfg = ConnectionLimitConfig {
            max_creation_rate: 1.0,
            ..Default::default()
        };
        // 10 connections in the padded 10 s window are 1/s: at the rate; the 11th is over.
        for _ in 0..10 {
            assert_eq!(l.record_creation(&cfg), 0);
        }
        assert!(l.record_creation(&cfg) > 0);
        let a = ip("10.0.0.9");
        let cfg = ConnectionLimitConfig::default();
        let mut kept = Vec::new();
        for _ in 0..5 {
            kept.push(l.admit("A", a, &cfg, Some(0.5)).unwrap());
        }
        assert!(matches!(
            l.admit("A", a, &cfg, Some(0.5)),
            Err(ConnectionRefusal::IpRateThrottled { .. })
        ));
    }
}
