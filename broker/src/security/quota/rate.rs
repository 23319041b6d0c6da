//! Rates measured Kafka's way (a `Rate` over `quota.window.num` samples of
//! `quota.window.size.seconds` each) and the throttle time of a rate over its quota
//! (ClientQuotaManager: (observed − quota) / quota × the rate's window, capped).

use std::collections::VecDeque;
use std::time::Instant;

/// Milliseconds on a monotonic clock (injected in tests).
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> u64;
}

/// The process's monotonic clock.
pub struct SystemClock(Instant);

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock(Instant::now())
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

/// The sampling window: `samples` samples of `size_ms` each (Kafka's `quota.window.num`, 11,
/// and `quota.window.size.seconds`, 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaWindow {
    pub samples: u32,
    pub size_ms: u64,
}

impl Default for QuotaWindow {
    fn default() -> Self {
        QuotaWindow {
            samples: 11,
            size_ms: 1000,
        }
    }
}

impl QuotaWindow {
    /// The longest throttle time: the whole sampled span, after which every sample that
    /// counted toward the violation has expired.
    pub fn max_throttle_ms(&self) -> u64 {
        u64::from(self.samples) * self.size_ms
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    start_ms: u64,
    value: f64,
}

/// A rate per second over the last samples (Kafka's `Rate` with a `WindowedSum`).
#[derive(Debug, Clone)]
pub struct SampledRate {
    window: QuotaWindow,
    samples: VecDeque<Sample>,
}

impl SampledRate {
    pub fn new(window: QuotaWindow) -> Self {
        SampledRate {
            window,
            samples: VecDeque::new(),
        }
    }

    /// Drops samples that started a whole sampled span ago or more.
    fn purge(&mut self, now_ms: u64) {
        let span = self.window.max_throttle_ms();
        while self
            .samples
            .front()
            .is_some_and(|s| now_ms.saturating_sub(s.start_ms) >= span)
        {
            self.samples.pop_front();
        }
    }

    /// Adds `value` at `now_ms` (a new sample starts when the current one is a window old).
    pub fn record(&mut self, value: f64, now_ms: u64) {
        self.purge(now_ms);
        match self.samples.back_mut() {
            Some(s) if now_ms.saturating_sub(s.start_ms) < self.window.size_ms => s.value += value,
            _ => {
                self.samples.push_back(Sample {
                    start_ms: now_ms,
                    value,
                });
                while self.samples.len() > self.window.samples as usize {
                    self.samples.pop_front();
                }
            }
        }
    }

    /// Takes back a recorded value (Kafka unrecords a throttled fetch's bytes: the response it
    /// sends is empty).
    pub fn unrecord(&mut self, value: f64, now_ms: u64) {
        self.record(-value, now_ms);
    }

    /// The span the rate divides by (Kafka's `Rate.windowSize`): from the oldest sample to
    /// now, but at least `samples − 1` whole windows, so a new client's first burst is not
    /// measured over a few milliseconds.
    pub fn window_ms(&mut self, now_ms: u64) -> u64 {
        self.purge(now_ms);
        let oldest = self.samples.front().map_or(now_ms, |s| s.start_ms);
        let mut elapsed = now_ms.saturating_sub(oldest);
        let full = elapsed / self.window.size_ms;
        let min_full = u64::from(self.window.samples.saturating_sub(1));
        if full < min_full {
            elapsed += (min_full - full) * self.window.size_ms;
        }
        elapsed.max(1)
    }

    /// The measured rate, per second.
    pub fn rate(&mut self, now_ms: u64) -> f64 {
        let window = self.window_ms(now_ms);
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        total / (window as f64 / 1000.0)
    }

    /// Kafka's throttle time for this rate against `bound`: 0 while within it, else
    /// (rate − bound) / bound × window, capped at the sampled span. A zero bound throttles
    /// any traffic for the whole span.
    pub fn throttle_ms(&mut self, bound: f64, now_ms: u64) -> u64 {
        let rate = self.rate(now_ms);
        if rate <= bound {
            return 0;
        }
        let cap = self.window.max_throttle_ms();
        if bound <= 0.0 {
            return cap;
        }
        let window = self.window_ms(now_ms) as f64;
        let t = ((rate - bound) / bound * window).round();
        (t as u64).min(cap)
    }

    /// When the rate last changed (for expiring idle rates).
    pub fn last_ms(&self) -> Option<u64> {
        self.samples.back().map(|s| s.start_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win() -> QuotaWindow {
        QuotaWindow::default()
    }

    #[test]
    fn a_first_burst_is_measured_over_ten_windows() {
        let mut r = SampledRate::new(win());
        r.record(10_000.0, 5_000);
        // One sample only: the span is padded to (11 - 1) windows = 10 s.
        assert_eq!(r.window_ms(5_000), 10_000);
        assert!((r.rate(5_000) - 1_000.0).abs() < 1e-9);
    }

    #[test]
    fn throttle_time_is_kafkas_formula() {
        let mut r = SampledRate::new(win());
        // 30 000 bytes in 10 s padded window = 3 000 B/s against 1 000 B/s:
        // (3000 - 1000) / 1000 × 10 000 ms = 20 000 ms, capped at 11 000 ms.
        r.record(30_000.0, 0);
        assert_eq!(r.throttle_ms(1_000.0, 0), 11_000);
        // 15 000 bytes: 1 500 B/s → (1500 - 1000) / 1000 × 10 000 = 5 000 ms.
        let mut r = SampledRate::new(win());
        r.record(15_000.0, 0);
        assert_eq!(r.throttle_ms(1_000.0, 0), 5_000);
        // Within the quota: no throttle.
        let mut r = SampledRate::new(win());
        r.record(9_000.0, 0);
        assert_eq!(r.throttle_ms(1_000.0, 0), 0);
        // A zero quota throttles any traffic for the whole span.
        let mut r = SampledRate::new(win());
        r.record(1.0, 0);
        assert_eq!(r.throttle_ms(0.0, 0), 11_000);
    }

    #[test]
    fn waiting_the_throttle_time_brings_the_rate_back_to_the_quota() {
        let mut r = SampledRate::new(win());
        let mut now = 0;
        // Steady 1 000 B/s for 20 s, then a 5 000-byte burst.
        for _ in 0..200 {
            r.record(100.0, now);
            now += 100;
        }
        r.record(5_000.0, now);
        let t = r.throttle_ms(1_000.0, now);
        assert!(t > 0);
        now += t;
        // Measured again after the throttle (without new traffic): at or under the quota.
        assert!(
            r.rate(now) <= 1_000.0 + 1.0,
            "rate {} after {t} ms",
            r.rate(now)
        );
    }

    #[test]
    fn old_samples_expire_and_a_sustained_rate_is_measured_exactly() {
        let mut r = SampledRate::new(win());
        for i in 0..100u64 {
            r.record(500.0, i * 1000);
        }
        // 11 samples of 500 over [89 000, 99 000] + now: 5 500 / 10.5 s at 99 500.
        let rate = r.rate(99_500);
        assert!((rate - 5_500.0 / 10.5).abs() < 1e-6, "{rate}");
        assert_eq!(r.rate(1_000_000), 0.0, "everything expired");
        r.record(100.0, 1_000_000);
        r.unrecord(100.0, 1_000_000);
        assert_eq!(r.rate(1_000_000), 0.0);
    }
}
