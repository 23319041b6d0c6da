//! Alarms and their notifications: `providers` renders a notice as each provider's request
//! (pure), `secrets` seals channel secrets at rest, `http` sends, `delivery` is the retrying
//! queue with its log, `evaluate` turns sampled metrics and failed operations into alarms that
//! open once and resolve once (the rules themselves are `domain::alarms`).

pub mod channel_input;
pub mod delivery;
pub mod evaluate;
pub mod http;
pub mod providers;
pub mod secrets;
pub mod source;

use providers::Endpoints;
use secrets::SecretBox;
use std::time::Duration;

/// How failed deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a delivery is marked failed.
    pub max_attempts: i64,
    /// Wait after the first failure; doubled after each further one.
    pub base_delay_secs: i64,
    /// Longest wait between two attempts.
    pub max_delay_secs: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay_secs: 5,
            max_delay_secs: 600,
        }
    }
}

impl RetryPolicy {
    /// The wait after `attempts` failed attempts (1 → base, 2 → 2 × base, ..., capped).
    pub fn delay_after(&self, attempts: i64) -> i64 {
        let doublings = u32::try_from((attempts - 1).clamp(0, 30)).unwrap_or(30);
        self.base_delay_secs
            .saturating_mul(1_i64 << doublings)
            .min(self.max_delay_secs)
    }
}

/// Everything alarms and deliveries need, shared through `AppState`.
#[derive(Debug)]
pub struct Alerting {
    /// Seals and opens channel secrets.
    pub secrets: SecretBox,
    /// Providers' base URLs.
    pub endpoints: Endpoints,
    pub retry: RetryPolicy,
    /// Deadline of one delivery attempt.
    pub request_timeout: Duration,
    /// How often the sampler reads brokers: evidence older than 3 of these is stale, and a
    /// broker unread for 2 of these (plus the rule's duration) is down.
    pub sample_interval_secs: i64,
    /// Whether Slack and webhook URLs may reach loopback, private, link-local or otherwise
    /// internal addresses. Off by default: an account's admin must not be able to make the API
    /// call services on its own network.
    pub allow_private_targets: bool,
    /// Wakes the delivery worker when something was queued.
    pub wake: tokio::sync::Notify,
}

impl Alerting {
    /// Settings with the given secrets box and every other value at its default.
    pub fn new(secrets: SecretBox) -> Self {
        Self {
            secrets,
            endpoints: Endpoints::default(),
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(10),
            sample_interval_secs: 30,
            allow_private_targets: false,
            wake: tokio::sync::Notify::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RetryPolicy;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay_secs: 2,
            max_delay_secs: 30,
        };
        let waits: Vec<i64> = (1..=6).map(|a| p.delay_after(a)).collect();
        assert_eq!(waits, vec![2, 4, 8, 16, 30, 30]);
        assert_eq!(p.delay_after(1000), 30);
    }
}
