//! Poll-with-deadline for the workspace's tests: wait for a condition instead of sleeping.
//!
//! One helper, blocking (`eventually`) and async (`eventually_async`): call a probe every
//! `interval` until it reports ready or the deadline passes. The deadline is the time an idle
//! machine needs, multiplied by `EDDY_TEST_TIME_SCALE` (default [`DEFAULT_TIME_SCALE`]) so the
//! suites still pass on a busy machine. Both the number of checks and the time are bounded.

use std::fmt;
use std::time::{Duration, Instant};

/// The environment variable that scales every deadline (a positive decimal, e.g. `1` or `3.5`).
pub const TIME_SCALE_VAR: &str = "EDDY_TEST_TIME_SCALE";

/// The scale when `EDDY_TEST_TIME_SCALE` is unset or invalid: a machine twice as loaded as an idle
/// 2-core one still passes.
pub const DEFAULT_TIME_SCALE: f64 = 2.0;

/// The deadline scale from `EDDY_TEST_TIME_SCALE`, or [`DEFAULT_TIME_SCALE`].
#[must_use]
pub fn time_scale() -> f64 {
    parse_time_scale(std::env::var(TIME_SCALE_VAR).ok().as_deref())
}

/// A positive, finite scale from the variable's text; anything else is the default.
fn parse_time_scale(text: Option<&str>) -> f64 {
    text.and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(DEFAULT_TIME_SCALE)
}

/// `limit` multiplied by the deadline scale (for deadlines a test computes itself).
#[must_use]
pub fn scaled(limit: Duration) -> Duration {
    scale(limit, time_scale())
}

fn scale(limit: Duration, factor: f64) -> Duration {
    // At most a day: a huge factor must not overflow Duration.
    Duration::from_secs_f64((limit.as_secs_f64() * factor).min(86_400.0))
}

/// What a probe reports: ready with a value, or not yet with the state it saw.
pub trait Observation {
    /// The value `eventually` returns once the probe is ready.
    type Value;
    /// `Ok(value)` when ready, `Err(observed state)` when not yet.
    fn observe(self) -> Result<Self::Value, String>;
}

impl Observation for bool {
    type Value = ();
    fn observe(self) -> Result<(), String> {
        if self { Ok(()) } else { Err("false".into()) }
    }
}

impl<T> Observation for Option<T> {
    type Value = T;
    fn observe(self) -> Result<T, String> {
        self.ok_or_else(|| "None".into())
    }
}

/// `Err` is the state observed so far (a transient error, a value not yet right), not a failure.
impl<T, E: fmt::Debug> Observation for Result<T, E> {
    type Value = T;
    fn observe(self) -> Result<T, String> {
        self.map_err(|e| format!("{e:?}"))
    }
}

/// The probe never reported ready before the deadline.
pub struct TimedOut {
    /// What the test waited for.
    pub what: String,
    /// The deadline, scaled.
    pub limit: Duration,
    /// How many times the probe ran.
    pub checks: u64,
    /// The state the last check observed.
    pub last: String,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:?} ({} checks, {TIME_SCALE_VAR}={}) waiting for {}; last observed: {}",
            self.limit,
            self.checks,
            time_scale(),
            self.what,
            self.last
        )
    }
}

// Debug is the message itself, so `.unwrap()` and `?` in a test print it readably.
impl fmt::Debug for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for TimedOut {}

/// The deadline and the bound on checks of one wait.
struct Budget {
    what: String,
    limit: Duration,
    interval: Duration,
    deadline: Instant,
    max_checks: u64,
    checks: u64,
}

impl Budget {
    fn new(what: &str, limit: Duration, interval: Duration) -> Self {
        let limit = scaled(limit);
        let interval = interval.max(Duration::from_millis(1));
        // One check per interval plus the first and the last: the count bound holds even if a
        // probe returns instantly and the clock is coarse.
        let max_checks = u64::try_from(limit.as_nanos() / interval.as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(2);
        Self {
            what: what.to_owned(),
            limit,
            interval,
            deadline: Instant::now() + limit,
            max_checks,
            checks: 0,
        }
    }

    /// After a not-ready check: how long to sleep before the next, or the timeout.
    fn next(&mut self, last: String) -> Result<Duration, TimedOut> {
        self.checks += 1;
        let now = Instant::now();
        if now >= self.deadline || self.checks >= self.max_checks {
            return Err(TimedOut {
                what: std::mem::take(&mut self.what),
                limit: self.limit,
                checks: self.checks,
                last,
            });
        }
        Ok(self.interval.min(self.deadline - now))
    }
}

/// Call `probe` every `interval` until it is ready, for at most `limit` (scaled); the value it
/// was ready with, or a [`TimedOut`] naming `what`, the deadline and the last observed state.
///
/// # Errors
/// [`TimedOut`] when the probe was not ready by the deadline.
pub fn eventually<O: Observation>(
    what: &str,
    limit: Duration,
    interval: Duration,
    mut probe: impl FnMut() -> O,
) -> Result<O::Value, TimedOut> {
    let mut budget = Budget::new(what, limit, interval);
    loop {
        match probe().observe() {
            Ok(value) => return Ok(value),
            Err(last) => std::thread::sleep(budget.next(last)?),
        }
    }
}

/// [`eventually`] for an async probe, sleeping on the tokio timer between checks.
///
/// The probe is a closure returning a future (`|| async { .. }`), not an `AsyncFnMut`: the
/// futures of async closures cannot be proven `Send` today, and servers and spawned tasks need
/// that.
///
/// # Errors
/// [`TimedOut`] when the probe was not ready by the deadline.
pub async fn eventually_async<O: Observation, F: Future<Output = O>>(
    what: &str,
    limit: Duration,
    interval: Duration,
    mut probe: impl FnMut() -> F,
) -> Result<O::Value, TimedOut> {
    let mut budget = Budget::new(what, limit, interval);
    loop {
        match probe().await.observe() {
            Ok(value) => return Ok(value),
            Err(last) => tokio::time::sleep(budget.next(last)?).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn time_scale_parses_positive_numbers_and_defaults_otherwise() {
        assert!((parse_time_scale(Some("3.5")) - 3.5).abs() < f64::EPSILON);
        assert!((parse_time_scale(Some(" 1 ")) - 1.0).abs() < f64::EPSILON);
        for bad in [
            None,
            Some(""),
            Some("x"),
            Some("0"),
            Some("-2"),
            Some("inf"),
            Some("NaN"),
        ] {
            assert!(
                (parse_time_scale(bad) - DEFAULT_TIME_SCALE).abs() < f64::EPSILON,
                "{bad:?}"
            );
        }
        assert_eq!(scale(Duration::from_secs(30), 2.0), Duration::from_secs(60));
        assert_eq!(
            scale(Duration::from_secs(1), 1e30),
            Duration::from_secs(86_400)
        );
    }

    #[test]
    fn ready_at_once_checks_once() {
        let mut calls = 0;
        let value = eventually("the value", Duration::from_secs(5), MS, || {
            calls += 1;
            Some(7)
        })
        .unwrap();
        assert_eq!((value, calls), (7, 1));
    }

    #[test]
    fn polls_until_ready_and_returns_the_value() {
        let mut calls = 0;
        let value = eventually("the third call", Duration::from_secs(5), MS, || {
            calls += 1;
            if calls == 3 {
                Ok(calls * 10)
            } else {
                Err(calls)
            }
        })
        .unwrap();
        assert_eq!((value, calls), (30, 3));
        let mut flips = 0;
        eventually("a flag", Duration::from_secs(5), MS, || {
            flips += 1;
            flips > 2
        })
        .unwrap();
        assert_eq!(flips, 3);
    }

    #[test]
    fn timeout_names_what_the_deadline_and_the_last_state() {
        let started = Instant::now();
        let mut calls = 0;
        let err = eventually(
            "the answer",
            Duration::from_millis(50),
            Duration::from_millis(5),
            || {
                calls += 1;
                Err::<(), _>(format!("seen {calls}"))
            },
        )
        .unwrap_err();
        let elapsed = started.elapsed();
        let limit = scaled(Duration::from_millis(50));
        assert!(elapsed >= limit, "gave up early: {elapsed:?}");
        assert_eq!(err.limit, limit);
        assert_eq!(err.checks, calls);
        assert_eq!(err.last, format!("{:?}", format!("seen {calls}")));
        let message = err.to_string();
        assert!(message.contains("the answer"), "{message}");
        assert!(message.contains(&format!("{limit:?}")), "{message}");
        assert!(message.contains(&format!("seen {calls}")), "{message}");
        assert_eq!(format!("{err:?}"), message);
    }

    #[test]
    fn checks_are_bounded_by_the_interval() {
        let mut calls = 0u64;
        let err = eventually(
            "never",
            Duration::from_millis(40),
            Duration::from_millis(10),
            || {
                calls += 1;
                false
            },
        )
        .unwrap_err();
        let bound = u64::try_from(scaled(Duration::from_millis(40)).as_millis() / 10).unwrap() + 2;
        assert!(calls <= bound, "{calls} checks, bound {bound}");
        assert_eq!(err.last, "false");
    }

    #[tokio::test]
    async fn async_probe_polls_until_ready_and_times_out_clearly() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let value = eventually_async("three probes", Duration::from_secs(5), MS, || {
            let calls = &calls;
            async move {
                tokio::task::yield_now().await;
                let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                (n == 3).then_some(n)
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 3);
        let err = eventually_async("nothing", Duration::from_millis(20), MS, || async {
            None::<u8>
        })
        .await
        .unwrap_err();
        assert_eq!(err.last, "None");
        assert!(err.to_string().contains("nothing"));
    }

    /// A server's shutdown signal and spawned tasks need the wait to be `Send`.
    #[tokio::test]
    async fn async_wait_is_send() {
        let path = String::from("/nonexistent/eddy-test-support");
        let task = tokio::spawn(async move {
            eventually_async("a path to vanish", Duration::from_secs(1), MS, || {
                let path = path.clone();
                async move { !std::path::Path::new(&path).exists() }
            })
            .await
        });
        task.await.unwrap().unwrap();
    }
}
