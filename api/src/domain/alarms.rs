//! Alarm rules and their evaluation, with no I/O: which rule kinds exist and what thresholds
//! they accept, whether a metric has breached a threshold for long enough, and which alarms
//! to open or resolve given the ones already open. The evaluator (`alerting::evaluate`) feeds
//! this from the sampled metrics and the operations store.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A consumer group's lag (messages, summed over its partitions) above the threshold.
    ConsumerLag,
    /// A broker log directory's used share above the threshold (percent).
    DiskUsedPercent,
    /// A broker whose metrics could not be read.
    BrokerDown,
    /// Under-replicated partitions above the threshold (0 by default).
    UnderReplicatedPartitions,
    /// Offline (leaderless) partitions above the threshold (0 by default).
    OfflinePartitions,
    /// An operation on the cluster failed.
    OperationFailed,
}

impl RuleKind {
    /// Every kind.
    pub const ALL: [RuleKind; 6] = [
        Self::ConsumerLag,
        Self::DiskUsedPercent,
        Self::BrokerDown,
        Self::UnderReplicatedPartitions,
        Self::OfflinePartitions,
        Self::OperationFailed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConsumerLag => "consumer_lag",
            Self::DiskUsedPercent => "disk_used_percent",
            Self::BrokerDown => "broker_down",
            Self::UnderReplicatedPartitions => "under_replicated_partitions",
            Self::OfflinePartitions => "offline_partitions",
            Self::OperationFailed => "operation_failed",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The accepted threshold range (inclusive) and its default; `None` for kinds without one.
    pub fn threshold_range(self) -> Option<(f64, f64, Option<f64>)> {
        match self {
            Self::ConsumerLag => Some((0.0, 1e15, None)),
            Self::DiskUsedPercent => Some((1.0, 99.0, Some(80.0))),
            Self::UnderReplicatedPartitions | Self::OfflinePartitions => {
                Some((0.0, 1e9, Some(0.0)))
            }
            Self::BrokerDown | Self::OperationFailed => None,
        }
    }

    /// How bad an alarm of this kind is (PagerDuty's severity names).
    pub fn severity(self) -> Severity {
        match self {
            Self::ConsumerLag | Self::DiskUsedPercent | Self::UnderReplicatedPartitions => {
                Severity::Warning
            }
            Self::OperationFailed => Severity::Error,
            Self::BrokerDown | Self::OfflinePartitions => Severity::Critical,
        }
    }
}

/// Severity of a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Error,
    Warning,
    Info,
}

/// Longest "for" duration a rule accepts: a day.
pub const MAX_FOR_SECS: i64 = 86_400;

/// A rule's validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pub kind: RuleKind,
    pub threshold: f64,
    pub for_secs: i64,
    /// Only this consumer group (consumer-lag rules); every group when `None`.
    pub group: Option<String>,
}

/// Why a rule was refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct RuleError {
    pub field: &'static str,
    pub detail: String,
}

fn refuse(field: &'static str, detail: impl Into<String>) -> RuleError {
    RuleError {
        field,
        detail: detail.into(),
    }
}

/// Validates a rule request: the threshold within the kind's range (required when it has no
/// default), `for_minutes` 0..=1440, a group only on consumer-lag rules.
pub fn validate_rule(
    kind: RuleKind,
    threshold: Option<f64>,
    for_minutes: Option<i64>,
    group: Option<&str>,
) -> Result<RuleSpec, RuleError> {
    let threshold = match (kind.threshold_range(), threshold) {
        (None, Some(_)) => {
            return Err(refuse(
                "threshold",
                format!("{} rules take no threshold", kind.as_str()),
            ));
        }
        (None, None) => 0.0,
        (Some((_, _, Some(d))), None) => d,
        (Some((_, _, None)), None) => {
            return Err(refuse(
                "threshold",
                format!("{} rules need a threshold", kind.as_str()),
            ));
        }
        (Some((lo, hi, _)), Some(t)) => {
            if !t.is_finite() || t < lo || t > hi {
                return Err(refuse(
                    "threshold",
                    format!("threshold must be between {lo} and {hi}"),
                ));
            }
            t
        }
    };
    let minutes = for_minutes.unwrap_or(0);
    if !(0..=MAX_FOR_SECS / 60).contains(&minutes) {
        return Err(refuse(
            "for_minutes",
            "for_minutes must be between 0 and 1440",
        ));
    }
    if kind == RuleKind::OperationFailed && minutes != 0 {
        return Err(refuse(
            "for_minutes",
            "operation_failed rules fire when the operation fails; for_minutes must be 0",
        ));
    }
    let group = match group {
        None => None,
        Some(_) if kind != RuleKind::ConsumerLag => {
            return Err(refuse("group", "only consumer_lag rules take a group"));
        }
        Some(g) if g.is_empty() || g.len() > 249 || g.chars().any(char::is_control) => {
            return Err(refuse(
                "group",
                "a group name is 1-249 printable characters",
            ));
        }
        Some(g) => Some(g.to_string()),
    };
    Ok(RuleSpec {
        kind,
        threshold,
        for_secs: minutes * 60,
        group,
    })
}

/// Points of one series with one label set, oldest first: `(unix seconds, value)`.
pub type Points = [(i64, f64)];

/// The instant since which every point up to the newest breaches, or `None` when the newest
/// does not (or there is none). The run is taken back to its first breaching point.
pub fn breaching_since(points: &Points, breach: impl Fn(f64) -> bool) -> Option<i64> {
    let mut since = None;
    for &(ts, v) in points.iter().rev() {
        if breach(v) {
            since = Some(ts);
        } else {
            break;
        }
    }
    since
}

/// What a metric rule sees of one subject (a group, a broker's log directory, the cluster).
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// The subject's name in the alarm (`group=orders`, `broker=b0 dir=/data`, `cluster`).
    pub name: String,
    /// Its points, oldest first.
    pub points: Vec<(i64, f64)>,
}

/// The verdict of one rule for one subject.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Breached for at least the rule's duration: the alarm should be open.
    Firing { value: f64 },
    /// Fresh data that does not breach (or has not for long enough): resolve any open alarm.
    Clear,
    /// No fresh data: leave the alarm as it is (a sampler outage resolves nothing).
    Unknown,
}

/// Judges one metric subject at `now`: points older than `stale_secs` are no evidence.
pub fn judge_metric(spec: &RuleSpec, subject: &Subject, now: i64, stale_secs: i64) -> Verdict {
    let Some(&(newest_ts, newest)) = subject.points.last() else {
        return Verdict::Unknown;
    };
    if now - newest_ts > stale_secs {
        return Verdict::Unknown;
    }
    let threshold = spec.threshold;
    match breaching_since(&subject.points, |v| v > threshold) {
        Some(since) if newest_ts - since >= spec.for_secs => Verdict::Firing { value: newest },
        _ => Verdict::Clear,
    }
}

/// Judges a broker from the time of its last successful reading: down once it has not been
/// read for `down_after_secs` plus the rule's duration.
pub fn judge_broker(
    spec: &RuleSpec,
    last_read: Option<i64>,
    now: i64,
    down_after_secs: i64,
) -> Verdict {
    match last_read {
        None => Verdict::Unknown,
        Some(t) if now - t > down_after_secs + spec.for_secs => Verdict::Firing {
            value: (now - t) as f64,
        },
        Some(_) => Verdict::Clear,
    }
}

/// The used share of a log directory's space, in percent: log bytes over log bytes plus the
/// file system's free bytes (what the broker can still grow into).
pub fn disk_used_percent(used: f64, free: f64) -> Option<f64> {
    let total = used + free;
    (total > 0.0).then(|| used * 100.0 / total)
}

/// One failed or succeeded operation, for operation-failed rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedOp {
    pub id: String,
    pub kind: String,
    pub failed: bool,
    pub finished_at: i64,
    pub error: Option<String>,
}

/// The failed operations an operation-failed rule fires for: failed at or after the rule was
/// created and not followed by a succeeded operation (which resolves them).
pub fn failed_ops_firing(ops: &[FinishedOp], rule_created_at: i64) -> Vec<&FinishedOp> {
    let last_success = ops
        .iter()
        .filter(|o| !o.failed)
        .map(|o| o.finished_at)
        .max();
    ops.iter()
        .filter(|o| o.failed && o.finished_at >= rule_created_at)
        .filter(|o| last_success.is_none_or(|s| s < o.finished_at))
        .collect()
}

/// An alarm that should be open now.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    pub dedup_key: String,
    pub subject: String,
    pub value: f64,
    pub summary: String,
}

/// What to change: alarms to open (not open yet) and dedup keys of open alarms to resolve.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlarmChanges {
    pub open: Vec<Firing>,
    pub resolve: Vec<String>,
}

/// Compares what fires with what is open: new keys open (once: a key already open is left
/// alone), open keys that neither fire nor are unknown resolve.
pub fn alarm_changes(
    open_keys: &HashSet<String>,
    firing: Vec<Firing>,
    unknown_keys: &HashSet<String>,
) -> AlarmChanges {
    let firing_keys: HashSet<&str> = firing.iter().map(|f| f.dedup_key.as_str()).collect();
    let mut resolve: Vec<String> = open_keys
        .iter()
        .filter(|k| !firing_keys.contains(k.as_str()) && !unknown_keys.contains(*k))
        .cloned()
        .collect();
    resolve.sort();
    let mut seen = HashSet::new();
    let open = firing
        .into_iter()
        .filter(|f| !open_keys.contains(&f.dedup_key) && seen.insert(f.dedup_key.clone()))
        .collect();
    AlarmChanges { open, resolve }
}

/// The dedup key of a rule's alarm for one subject of one cluster: short enough for every
/// provider (PagerDuty allows 255 characters) and stable across evaluations.
pub fn dedup_key(rule_id: &str, cluster_id: &str, subject: &str) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for part in [rule_id, cluster_id, subject] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("eddy-{hex}")
}

#[cfg(test)]
#[path = "alarms_tests.rs"]
mod tests;
