//! The background cleaner: `log.cleaner.threads` tasks that repeatedly pick the filthiest due
//! compacted partition (Kafka's `grabFilthiestCompactedLog`), clean it on a blocking thread
//! with I/O throttled to `log.cleaner.io.max.bytes.per.second` (shared by all threads, as
//! Kafka's `Throttler`), and back off `log.cleaner.backoff.ms` when nothing is due. Also the
//! cleaner's Prometheus metrics. It lives above `node` and `partition` (it walks the node's partitions);
//! the cleaning itself, which knows only a log, is `log::cleaner`.

use crate::log::batch::{BatchHeader, HEADER_LEN};
use crate::log::cleaner::checkpoint::Checkpoint;
use crate::log::cleaner::plan::{self, Reason};
use crate::log::cleaner::{CleanableLog, CompactionConfig, LogView, PassSettings, SegmentView};
use crate::node::Node;
use crate::partition::Partition;
use prometheus::{GaugeVec, IntCounter, IntGaugeVec, Opts, Registry};
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Broker-wide cleaner settings (read when the broker starts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanerSettings {
    pub enabled: bool,
    pub threads: usize,
    pub io_max_bytes_per_second: f64,
    pub dedupe_buffer_bytes: u64,
    pub load_factor: f64,
    pub io_buffer_bytes: usize,
    pub backoff_ms: u64,
}

impl CleanerSettings {
    /// From the broker's effective settings.
    pub fn from_lookup(get: &dyn Fn(&str) -> String) -> Self {
        let num = |k: &str, d: f64| get(k).trim().parse::<f64>().unwrap_or(d);
        let threads = num("log.cleaner.threads", 1.0).clamp(1.0, 16.0) as usize;
        CleanerSettings {
            enabled: get("log.cleaner.enable").trim() != "false",
            threads,
            io_max_bytes_per_second: num("log.cleaner.io.max.bytes.per.second", f64::MAX),
            // Kafka splits the dedupe buffer between the cleaner threads.
            dedupe_buffer_bytes: (num("log.cleaner.dedupe.buffer.size", 134_217_728.0) as u64
                / threads as u64)
                .max(1024),
            load_factor: num("log.cleaner.io.buffer.load.factor", 0.9),
            io_buffer_bytes: (num("log.cleaner.io.buffer.size", 524_288.0) as usize)
                .clamp(4096, 64 << 20),
            backoff_ms: num("log.cleaner.backoff.ms", 15_000.0).max(10.0) as u64,
        }
    }
}

/// How long to sleep after `bytes` moved in `elapsed` so the rate stays at `max_per_second`.
pub fn throttle_delay(max_per_second: f64, bytes: u64, elapsed: Duration) -> Duration {
    if !max_per_second.is_finite() || max_per_second <= 0.0 || max_per_second >= f64::MAX {
        return Duration::ZERO;
    }
    let needed = bytes as f64 / max_per_second;
    let spent = elapsed.as_secs_f64();
    if needed > spent {
        Duration::from_secs_f64((needed - spent).min(60.0))
    } else {
        Duration::ZERO
    }
}

/// The I/O throttle shared by all cleaner threads: bytes are counted in windows of at least
/// 100 ms; a window that ran ahead of the rate sleeps off the difference.
pub struct Throttler {
    max_per_second: f64,
    window: Mutex<(Instant, u64)>,
}

impl Throttler {
    pub fn new(max_per_second: f64) -> Self {
        Throttler {
            max_per_second,
            window: Mutex::new((Instant::now(), 0)),
        }
    }

    /// Accounts `bytes` and sleeps if the cleaners are ahead of the rate (blocking threads).
    pub fn maybe_throttle(&self, bytes: u64) {
        let delay = {
            let mut w = self
                .window
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            w.1 += bytes;
            let elapsed = w.0.elapsed();
            if elapsed < Duration::from_millis(100) {
                return;
            }
            let d = throttle_delay(self.max_per_second, w.1, elapsed);
            *w = (Instant::now() + d, 0);
            d
        };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
    }
}

/// The cleaner's metrics, registered in the broker's registry.
pub struct CleanerMetrics {
    pub bytes_read: IntCounter,
    pub bytes_written: IntCounter,
    pub passes: IntCounter,
    pub records_removed: IntCounter,
    /// Unix seconds of the last finished pass, per partition.
    pub last_clean_time: IntGaugeVec,
    /// Dirty bytes over cleanable bytes, per compacted partition.
    pub dirty_ratio: GaugeVec,
}

impl CleanerMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let m = CleanerMetrics {
            bytes_read: IntCounter::new(
                "log_cleaner_bytes_read_total",
                "Log bytes the compaction cleaner read",
            )?,
            bytes_written: IntCounter::new(
                "log_cleaner_bytes_written_total",
                "Cleaned log bytes the compaction cleaner wrote",
            )?,
            passes: IntCounter::new(
                "log_cleaner_passes_total",
                "Finished compaction passes over a partition",
            )?,
            records_removed: IntCounter::new(
                "log_cleaner_records_removed_total",
                "Records removed by compaction (superseded keys and expired tombstones)",
            )?,
            last_clean_time: IntGaugeVec::new(
                Opts::new(
                    "log_cleaner_last_clean_time_seconds",
                    "Unix time of the last finished compaction pass, per partition",
                ),
                &["topic", "partition"],
            )?,
            dirty_ratio: GaugeVec::new(
                Opts::new(
                    "log_cleaner_dirty_ratio",
                    "Dirty bytes over cleanable bytes of a compacted partition",
                ),
                &["topic", "partition"],
            )?,
        };
        registry.register(Box::new(m.bytes_read.clone()))?;
        registry.register(Box::new(m.bytes_written.clone()))?;
        registry.register(Box::new(m.passes.clone()))?;
        registry.register(Box::new(m.records_removed.clone()))?;
        registry.register(Box::new(m.last_clean_time.clone()))?;
        registry.register(Box::new(m.dirty_ratio.clone()))?;
        Ok(m)
    }
}

impl CleanableLog for Partition {
    fn with_log(&self, f: &mut dyn FnMut(&mut crate::log::PartitionLog)) {
        self.with_log_locked(f);
    }
}

/// The first batch timestamp of a segment (one header read).
fn first_timestamp(v: &SegmentView) -> Option<i64> {
    let mut hdr = [0u8; HEADER_LEN];
    v.file.read_exact_at(&mut hdr, 0).ok()?;
    BatchHeader::parse(&hdr).ok().map(|h| h.first_timestamp)
}

/// A partition by topic name and index.
type PartitionKey = (String, i32);

/// Partitions being cleaned, and failed ones with the time to retry them.
type Busy = (HashSet<PartitionKey>, HashMap<PartitionKey, i64>);

struct Shared {
    settings: CleanerSettings,
    throttler: Throttler,
    metrics: Option<CleanerMetrics>,
    /// Partitions being cleaned, and failed ones with when to retry.
    busy: Mutex<Busy>,
}

/// Starts the cleaner threads (nothing when `log.cleaner.enable=false`).
pub fn spawn(node: &Arc<Node>) {
    let settings = CleanerSettings::from_lookup(&|k| node.broker_setting(k));
    if !settings.enabled {
        tracing::info!("log cleaner disabled (log.cleaner.enable=false)");
        return;
    }
    let metrics = CleanerMetrics::register(&node.metrics.registry)
        .map_err(|e| tracing::warn!(error = %e, "registering the cleaner metrics failed"))
        .ok();
    let shared = Arc::new(Shared {
        settings,
        throttler: Throttler::new(settings.io_max_bytes_per_second),
        metrics,
        busy: Mutex::new((HashSet::new(), HashMap::new())),
    });
    for _ in 0..settings.threads {
        let weak = Arc::downgrade(node);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let backoff = Duration::from_millis(shared.settings.backoff_ms);
            loop {
                tokio::time::sleep(backoff).await;
                let (weak2, shared2) = (Weak::clone(&weak), Arc::clone(&shared));
                let worked = tokio::task::spawn_blocking(move || {
                    let node = weak2.upgrade()?;
                    Some(clean_filthiest(&node, &shared2))
                })
                .await;
                match worked {
                    Ok(None) | Err(_) => return,
                    // More may be due: look again soon rather than after a full back-off.
                    Ok(Some(true)) => tokio::task::yield_now().await,
                    Ok(Some(false)) => {}
                }
            }
        });
    }
}

/// The compaction settings a partition is cleaned with: its topic's, and always compacted for
/// `__consumer_offsets` (so clusters created before the cleaner existed get it too).
fn compaction_of(topic: &str, p: &Partition) -> CompactionConfig {
    let mut c = p.settings().compaction;
    if topic == crate::metadata::OFFSETS_TOPIC {
        c.compact = true;
    }
    c
}

/// One round: refreshes the dirty-ratio gauges, cleans the filthiest due partition. True when
/// a pass ran.
fn clean_filthiest(node: &Node, shared: &Shared) -> bool {
    let now = crate::now_ms();
    let mut best: Option<(f64, Arc<Partition>, LogView, plan::Plan)> = None;
    for t in node.topics() {
        for p in &t.partitions {
            let cfg = compaction_of(&t.name, p);
            if !cfg.compact {
                continue;
            }
            let mut view = None;
            p.with_log_locked(&mut |l| view = Some(l.cleaner_view()));
            let Some(view) = view else { continue };
            let cp = Checkpoint::load(&view.dir);
            // Not past the last stable offset: an open transaction's records may still abort,
            // and must not shadow the committed values of their keys before they do.
            let pl = plan::plan(
                &view,
                &cp,
                &cfg,
                p.last_stable_offset(),
                now,
                &first_timestamp,
            );
            if let Some(m) = &shared.metrics {
                m.dirty_ratio
                    .with_label_values(&[t.name.as_str(), &p.index.to_string()])
                    .set(pl.dirty_ratio());
            }
            let key = (t.name.clone(), p.index);
            let skip = {
                let busy = lock(&shared.busy);
                busy.0.contains(&key) || busy.1.get(&key).is_some_and(|until| *until > now)
            };
            let Some(reason) = pl.reason else { continue };
            if skip {
                continue;
            }
            // Overdue logs first (Kafka cleans logs past max.compaction.lag.ms first).
            let score = match reason {
                Reason::MaxLag => 2.0 + pl.dirty_ratio(),
                Reason::DirtyRatio => pl.dirty_ratio(),
                Reason::Tombstones => 0.0,
            };
            if best.as_ref().is_none_or(|(s, ..)| score > *s) {
                best = Some((score, Arc::clone(p), view, pl));
            }
        }
    }
    let Some((_, p, view, pl)) = best else {
        return false;
    };
    let key = (p.topic.clone(), p.index);
    // Claimed atomically: another cleaner thread may have picked the same log meanwhile (two
    // passes on one log would write the same `.cleaned` file).
    if !lock(&shared.busy).0.insert(key.clone()) {
        return false;
    }
    let cfg = compaction_of(&p.topic, &p);
    let started = Instant::now();
    let aborted = p.aborted_transactions();
    let in_aborted = |pid: i64, offset: i64| {
        aborted
            .iter()
            .any(|a| a.producer_id == pid && a.first_offset <= offset && offset <= a.last_offset)
    };
    let settings = PassSettings {
        aborted: &in_aborted,
        compaction: cfg,
        segment_bytes: p.settings().log.segment_bytes,
        dedupe_buffer_bytes: shared.settings.dedupe_buffer_bytes,
        load_factor: shared.settings.load_factor,
        io_buffer_bytes: shared.settings.io_buffer_bytes,
        now_ms: now,
        throttle: &|n| shared.throttler.maybe_throttle(n),
    };
    let result = crate::log::cleaner::clean(&*p, &view, &pl, &settings);
    let mut busy = lock(&shared.busy);
    busy.0.remove(&key);
    match result {
        Ok(stats) => {
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(
                topic = %p.topic,
                partition = p.index,
                reason = ?pl.reason,
                read = stats.bytes_read,
                written = stats.bytes_written,
                removed = stats.records_removed,
                kept = stats.records_kept,
                segments_in = stats.segments_in,
                segments_out = stats.segments_out,
                cleaned_to = stats.cleaned_to,
                elapsed_ms = (secs * 1000.0) as u64,
                // MB of log cleaned per second (the segments replaced, Kafka's measure).
                mb_per_s = stats.log_bytes_cleaned as f64 / 1e6 / secs.max(1e-6),
                "log cleaned"
            );
            if let Some(m) = &shared.metrics {
                m.bytes_read.inc_by(stats.bytes_read);
                m.bytes_written.inc_by(stats.bytes_written);
                m.records_removed.inc_by(stats.records_removed);
                m.passes.inc();
                m.last_clean_time
                    .with_label_values(&[p.topic.as_str(), &p.index.to_string()])
                    .set(crate::now_ms() / 1000);
            }
        }
        Err(e) => {
            tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "log cleaning failed; retrying later");
            let retry = now + 10 * shared.settings.backoff_ms as i64;
            busy.1.insert(key, retry);
        }
    }
    true
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_sleeps_off_what_ran_ahead_of_the_rate() {
        let d = throttle_delay(1_000_000.0, 2_000_000, Duration::from_millis(500));
        assert_eq!(d, Duration::from_millis(1_500));
        assert_eq!(
            throttle_delay(1_000_000.0, 100_000, Duration::from_secs(1)),
            Duration::ZERO
        );
        assert_eq!(
            throttle_delay(f64::MAX, u64::MAX, Duration::ZERO),
            Duration::ZERO,
            "Kafka's default (Double.MAX_VALUE) is unthrottled"
        );
    }

    #[test]
    fn consumer_offsets_is_compacted_whatever_its_stored_policy() {
        // A cluster created before the cleaner existed stored no cleanup.policy for it.
        let dir = tempfile::tempdir().unwrap();
        let version = Arc::new(tokio::sync::watch::channel(0u64).0);
        let open = |topic: &str, sub: &str| {
            let settings = crate::partition::PartitionSettings::default();
            Partition::open(
                topic,
                0,
                &dir.path().join(sub),
                settings,
                0,
                Arc::clone(&version),
            )
            .unwrap()
        };
        let offsets = open(crate::metadata::OFFSETS_TOPIC, "a");
        assert!(!offsets.settings().compaction.compact);
        assert!(compaction_of(crate::metadata::OFFSETS_TOPIC, &offsets).compact);
        let other = open("orders", "b");
        assert!(!compaction_of("orders", &other).compact);
    }

    #[test]
    fn settings_follow_kafka_keys() {
        let get = |k: &str| {
            match k {
                "log.cleaner.threads" => "2",
                "log.cleaner.dedupe.buffer.size" => "1048576",
                "log.cleaner.enable" => "true",
                "log.cleaner.backoff.ms" => "50",
                _ => "",
            }
            .to_string()
        };
        let s = CleanerSettings::from_lookup(&get);
        assert!(s.enabled);
        assert_eq!(s.threads, 2);
        assert_eq!(s.dedupe_buffer_bytes, 524_288, "split between the threads");
        assert_eq!(s.backoff_ms, 50);
        assert!(s.io_max_bytes_per_second >= f64::MAX);
    }
}
