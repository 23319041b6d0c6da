//! Crash-restart backoff (pure): the kubelet's policy, with a configurable base.
//!
//! The first crash restarts at once; crash n > 1 waits `base * 2^(n-2)`, capped at `base * 30`
//! (10 s, 20 s, ... 5 min with the kubelet's defaults). A container that ran for `base * 60` (10 minutes)
//! before exiting starts again from the base delay.

use std::time::Duration;

/// Backoff parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub base: Duration,
}

impl Backoff {
    /// The longest delay.
    #[must_use]
    pub fn cap(self) -> Duration {
        self.base.saturating_mul(30)
    }

    /// Delay before the next start, given the consecutive crashes so far and the last run time.
    #[must_use]
    pub fn delay(self, consecutive_crashes: u32, last_run: Duration) -> Duration {
        if consecutive_crashes <= 1 || last_run >= self.reset_after() {
            return Duration::ZERO;
        }
        let factor = 1u32
            .checked_shl(consecutive_crashes - 2)
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap())
    }

    /// A run at least this long resets the crash count.
    #[must_use]
    pub fn reset_after(self) -> Duration {
        self.base.saturating_mul(60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff {
        base: Duration::from_secs(10),
    };

    #[test]
    fn doubles_from_the_base_to_the_cap() {
        let short = Duration::from_secs(1);
        let delays: Vec<u64> = (0..9).map(|n| B.delay(n, short).as_secs()).collect();
        assert_eq!(delays, [0, 0, 10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn a_long_run_resets() {
        assert_eq!(B.delay(5, Duration::from_secs(600)), Duration::ZERO);
    }

    proptest::proptest! {
        #[test]
        fn never_exceeds_the_cap_and_is_monotonic(n in 1u32..200) {
            let short = Duration::from_millis(1);
            proptest::prop_assert!(B.delay(n, short) <= B.cap());
            proptest::prop_assert!(B.delay(n, short) <= B.delay(n + 1, short));
        }
    }
}
