//! Measurement bookkeeping: HDR latency histograms (whole run and per second), message and byte
//! counts per second, and their summaries. Pure: callers pass times explicitly.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency recorded, in microseconds (larger values are clamped): 10 minutes.
const MAX_LATENCY_US: u64 = 600_000_000;

/// Latency percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    /// Summarises a histogram of microsecond values.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

fn new_histogram(sigfig: u8) -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts; failure would be a programming error.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, MAX_LATENCY_US, sigfig).expect("valid histogram bounds")
}

/// What happened during one second of the run.
#[derive(Debug, Clone)]
pub struct Window {
    pub messages: u64,
    pub bytes: u64,
    /// Two significant digits: enough for a per-second plot, small enough to keep thousands.
    pub latency: Histogram<u64>,
}

impl Window {
    fn new() -> Self {
        Window {
            messages: 0,
            bytes: 0,
            latency: new_histogram(2),
        }
    }
}

/// One stream of events (publish acknowledgements or consumed messages) seen by one thread:
/// a precise histogram over the measured period plus per-second windows over the whole run.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Seconds (from the run start) before which events are warm-up.
    warmup_s: u64,
    /// Seconds (from the run start) at which measurement ends.
    end_s: u64,
    pub measured: Histogram<u64>,
    pub measured_messages: u64,
    pub measured_bytes: u64,
    pub total_messages: u64,
    pub windows: Vec<Window>,
}

impl Recorder {
    /// A recorder measuring `[warmup_s, end_s)` of the run.
    pub fn new(warmup_s: u64, end_s: u64) -> Self {
        Recorder {
            warmup_s,
            end_s,
            measured: new_histogram(3),
            measured_messages: 0,
            measured_bytes: 0,
            total_messages: 0,
            windows: Vec::new(),
        }
    }

    /// Records one event at `at_us` (since the run start) of `bytes` with `latency_us`.
    pub fn record(&mut self, at_us: u64, bytes: u64, latency_us: u64) {
        let latency_us = latency_us.clamp(1, MAX_LATENCY_US);
        let second = at_us / 1_000_000;
        let idx = usize::try_from(second).unwrap_or(usize::MAX);
        // Cap the series at a day so a wild clock cannot allocate without bound.
        if idx < 86_400 {
            if self.windows.len() <= idx {
                self.windows.resize_with(idx + 1, Window::new);
            }
            let w = &mut self.windows[idx];
            w.messages += 1;
            w.bytes += bytes;
            let _ = w.latency.record(latency_us);
        }
        self.total_messages += 1;
        if second >= self.warmup_s && second < self.end_s {
            let _ = self.measured.record(latency_us);
            self.measured_messages += 1;
            self.measured_bytes += bytes;
        }
    }

    /// Adds another thread's recorder into this one.
    pub fn merge(&mut self, other: &Recorder) {
        let _ = self.measured.add(&other.measured);
        self.measured_messages += other.measured_messages;
        self.measured_bytes += other.measured_bytes;
        self.total_messages += other.total_messages;
        if self.windows.len() < other.windows.len() {
            self.windows.resize_with(other.windows.len(), Window::new);
        }
        for (mine, theirs) in self.windows.iter_mut().zip(&other.windows) {
            mine.messages += theirs.messages;
            mine.bytes += theirs.bytes;
            let _ = mine.latency.add(&theirs.latency);
        }
    }

    /// Messages/s and MB/s (10^6 bytes) over the measured period of `seconds`.
    pub fn throughput(&self, seconds: f64) -> Throughput {
        let seconds = seconds.max(1e-9);
        Throughput {
            messages: self.measured_messages,
            msgs_per_s: self.measured_messages as f64 / seconds,
            mb_per_s: self.measured_bytes as f64 / seconds / 1e6,
        }
    }
}

/// A rate over the measured period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub messages: u64,
    pub msgs_per_s: f64,
    pub mb_per_s: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reports_percentiles_in_milliseconds() {
        let mut h = new_histogram(3);
        for us in 1..=1000u64 {
            h.record(us * 1000).unwrap(); // 1..1000 ms
        }
        let s = LatencySummary::of(&h);
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 500.0).abs() < 1.0, "{s:?}");
        assert!((s.p99_ms - 990.0).abs() < 1.5, "{s:?}");
        assert!((s.p999_ms - 999.0).abs() < 1.5, "{s:?}");
        assert!((s.max_ms - 1000.0).abs() < 1.0, "{s:?}");
        assert!((s.mean_ms - 500.5).abs() < 1.0, "{s:?}");
    }

    #[test]
    fn empty_histogram_summarises_to_zero() {
        assert_eq!(
            LatencySummary::of(&new_histogram(3)),
            LatencySummary::default()
        );
    }

    #[test]
    fn warmup_is_excluded_from_the_measured_figures_but_kept_in_windows() {
        let mut r = Recorder::new(1, 3);
        r.record(500_000, 100, 50_000); // warm-up: 50 ms
        r.record(1_500_000, 100, 2_000); // measured
        r.record(2_999_999, 100, 4_000); // measured
        r.record(3_000_000, 100, 9_000_000); // drain after the end
        assert_eq!(r.total_messages, 4);
        assert_eq!(r.measured_messages, 2);
        assert_eq!(r.measured_bytes, 200);
        assert_eq!(r.windows.len(), 4);
        assert_eq!(r.windows[0].messages, 1);
        let s = LatencySummary::of(&r.measured);
        assert!(s.max_ms < 5.0, "{s:?}");
        let t = r.throughput(2.0);
        assert!((t.msgs_per_s - 1.0).abs() < 1e-9);
        assert!((t.mb_per_s - 0.0001).abs() < 1e-12);
    }

    #[test]
    fn merging_adds_counts_and_windows() {
        let mut a = Recorder::new(0, 10);
        let mut b = Recorder::new(0, 10);
        a.record(100, 10, 1000);
        b.record(2_100_000, 10, 3000);
        a.merge(&b);
        assert_eq!(a.measured_messages, 2);
        assert_eq!(a.windows.len(), 3);
        assert_eq!(a.windows[2].messages, 1);
        assert_eq!(a.measured.len(), 2);
    }
}
