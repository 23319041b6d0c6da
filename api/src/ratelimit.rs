//! A small fixed-window rate limiter keyed by string (sign-in attempts per email), answering
//! how long to wait so the API can send 429 with Retry-After.

use std::collections::HashMap;
use std::sync::Mutex;

/// At most `limit` hits per key per `window_secs`.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window_secs: i64,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    /// A limiter allowing `limit` hits per key per window.
    pub fn new(limit: u32, window_secs: i64) -> Self {
        Self {
            limit,
            window_secs,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a hit at unix second `now`; `Err(seconds to wait)` when over the limit.
    pub fn hit(&self, key: &str, now: i64) -> Result<(), u64> {
        let mut w = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if w.len() > 100_000 {
            // Bounded memory: forget windows that have ended.
            w.retain(|_, (start, _)| now - *start < self.window_secs);
        }
        let entry = w.entry(key.to_string()).or_insert((now, 0));
        if now - entry.0 >= self.window_secs {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let wait = self.window_secs - (now - entry.0);
            return Err(u64::try_from(wait.max(1)).unwrap_or(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_resets_with_the_window() {
        let l = RateLimiter::new(2, 60);
        assert!(l.hit("a", 100).is_ok());
        assert!(l.hit("a", 101).is_ok());
        assert_eq!(l.hit("a", 110), Err(50));
        assert!(l.hit("b", 110).is_ok());
        assert!(l.hit("a", 160).is_ok());
    }
}
