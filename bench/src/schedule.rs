//! Open-loop send schedule: message `i` of a producer is *intended* to go out at
//! `i / rate` seconds after the start, whatever happened to earlier messages. Latency is measured
//! from that intended time, so a stalled broker shows up as latency instead of silently lowering
//! the offered load (no coordinated omission). Pure arithmetic.

use std::time::Duration;

/// When each message of one producer should be sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// As fast as possible: a message's intended time is when the producer gets to it.
    Unlimited,
    /// A fixed rate: `interval_ns` between consecutive intended send times.
    Fixed { interval_ns: f64 },
}

impl Schedule {
    /// A schedule for `rate` messages per second (0 or less = unlimited).
    pub fn per_second(rate: f64) -> Self {
        if rate > 0.0 {
            Schedule::Fixed {
                interval_ns: 1e9 / rate,
            }
        } else {
            Schedule::Unlimited
        }
    }

    /// Intended send time of message `index`, relative to the producer's start; `None` when
    /// unlimited (the intended time is then "now").
    pub fn intended(&self, index: u64) -> Option<Duration> {
        match self {
            Schedule::Unlimited => None,
            Schedule::Fixed { interval_ns } => {
                Some(Duration::from_nanos((index as f64 * interval_ns) as u64))
            }
        }
    }

    /// How many messages are due by `elapsed` (those with intended time ≤ elapsed); `u64::MAX`
    /// when unlimited.
    pub fn due_by(&self, elapsed: Duration) -> u64 {
        match self {
            Schedule::Unlimited => u64::MAX,
            Schedule::Fixed { interval_ns } => {
                (elapsed.as_nanos() as f64 / interval_ns).floor() as u64 + 1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fixed_rate_spaces_messages_evenly() {
        let s = Schedule::per_second(1000.0);
        assert_eq!(s.intended(0), Some(Duration::ZERO));
        assert_eq!(s.intended(1), Some(Duration::from_millis(1)));
        assert_eq!(s.intended(1000), Some(Duration::from_secs(1)));
        assert_eq!(s.due_by(Duration::ZERO), 1);
        assert_eq!(s.due_by(Duration::from_micros(999)), 1);
        assert_eq!(s.due_by(Duration::from_millis(1)), 2);
        assert_eq!(s.due_by(Duration::from_secs(2)), 2001);
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let s = Schedule::per_second(0.0);
        assert_eq!(s, Schedule::Unlimited);
        assert_eq!(s.intended(5), None);
        assert_eq!(s.due_by(Duration::ZERO), u64::MAX);
    }

    proptest! {
        #[test]
        fn due_messages_are_exactly_those_intended_by_then(rate in 1.0f64..200_000.0, ms in 0u64..10_000) {
            let s = Schedule::per_second(rate);
            let elapsed = Duration::from_millis(ms);
            let due = s.due_by(elapsed);
            prop_assert!(due >= 1);
            // The last due message is intended no later than `elapsed` (1 ns float slack), the next one after.
            prop_assert!(s.intended(due - 1).unwrap() <= elapsed + Duration::from_nanos(1));
            prop_assert!(s.intended(due).unwrap() + Duration::from_nanos(1) >= elapsed);
            // Over a whole run the count matches the rate within one message.
            let expected = rate * elapsed.as_secs_f64();
            prop_assert!((due as f64 - 1.0 - expected).abs() <= 1.0);
        }
    }
}
