//! Replication throttles, Kafka's way (KIP-73): the broker dynamic configs
//! `leader.replication.throttled.rate` / `follower.replication.throttled.rate` (bytes/s) cap the
//! replication traffic of the replicas listed in the topic configs
//! `leader.replication.throttled.replicas` / `follower.replication.throttled.replicas` (`*` or
//! `partition:broker,...`), which is what `kafka-reassign-partitions --throttle` sets. Replicas
//! already in the ISR are never throttled.
//!
//! The quota counts bytes in fixed one-second windows. Each throttled read reserves what is left
//! of the window (so a read returns at most that, or one whole batch when the first batch is
//! larger), then settles what it actually moved: any window holds at most the rate plus one
//! batch. `eddy_replication_throttled_bytes_total` and
//! `eddy_replication_throttled_window_max_bytes` (by side) expose what the throttle let through.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The length of one quota window.
pub const WINDOW: Duration = Duration::from_secs(1);

pub use crate::config::throttled_replicas::{ThrottledReplicas, listed};

#[derive(Debug)]
struct Window {
    index: u64,
    bytes: u64,
    max: u64,
}

/// One side's (leader or follower) byte quota.
#[derive(Debug)]
pub struct Quota {
    start: Instant,
    window: Mutex<Window>,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            start: Instant::now(),
            window: Mutex::new(Window {
                index: 0,
                bytes: 0,
                max: 0,
            }),
        }
    }
}

impl Quota {
    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn current(&self, w: &mut Window) {
        let index = (self.start.elapsed().as_millis() / WINDOW.as_millis()) as u64;
        if index != w.index {
            w.index = index;
            w.bytes = 0;
        }
    }

    /// Reserves up to `want` bytes of the current window at `rate` bytes/s: the grant, or None
    /// when the window is used up.
    pub fn reserve(&self, rate: u64, want: u64) -> Option<u64> {
        let mut w = self.lock();
        self.current(&mut w);
        let left = rate.saturating_sub(w.bytes);
        if left == 0 {
            return None;
        }
        let grant = left.min(want).max(1);
        w.bytes += grant;
        Some(grant)
    }

    /// Replaces a reservation of `granted` bytes by the `moved` bytes actually transferred;
    /// returns the largest window total seen so far.
    pub fn settle(&self, granted: u64, moved: u64) -> u64 {
        let mut w = self.lock();
        let before = w.index;
        self.current(&mut w);
        if w.index == before {
            w.bytes = w.bytes.saturating_sub(granted);
        }
        w.bytes += moved;
        w.max = w.max.max(w.bytes);
        w.max
    }

    /// How long until the next window opens.
    pub fn until_next_window(&self) -> Duration {
        let ms = self.start.elapsed().as_millis() % WINDOW.as_millis();
        WINDOW.saturating_sub(Duration::from_millis(ms as u64))
    }
}

/// The rate a broker setting gives, or None when unlimited/unset.
pub fn rate(value: &str) -> Option<u64> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|r| *r >= 0 && *r < i64::MAX)
        .map(|r| r as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_lists_parse_like_kafka() {
        assert_eq!(
            ThrottledReplicas::parse("*").unwrap(),
            ThrottledReplicas::All
        );
        let r = ThrottledReplicas::parse("0:1, 1:2").unwrap();
        assert!(r.covers(0, 1) && r.covers(1, 2) && !r.covers(0, 2));
        assert!(!ThrottledReplicas::parse("").unwrap().covers(0, 0));
        assert!(ThrottledReplicas::parse("0-1").is_err());
        assert!(ThrottledReplicas::parse("a:1").is_err());
        assert_eq!(rate("9223372036854775807"), None);
        assert_eq!(rate("1000"), Some(1000));
    }

    #[test]
    fn a_window_grants_at_most_the_rate() {
        let q = Quota::default();
        // Reserve, in the same window, more than the rate in pieces.
        let mut granted = 0;
        while let Some(g) = q.reserve(1000, 300) {
            granted += g;
            q.settle(g, g);
            if granted > 2000 {
                break;
            }
        }
        // Unless the window rolled over mid-loop, the grants stop at the rate.
        assert!(granted <= 2000);
        assert!(q.settle(0, 0) <= 1000 + 300);
    }
}
