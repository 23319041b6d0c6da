//! The alarm evaluator: every round, for every rule and every cluster it covers, read the
//! metrics (the API's samples or Prometheus, `source`) or the cluster's finished operations, judge each subject with the pure
//! functions of `domain::alarms`, and open or resolve alarms — each change committed together
//! with the notices it queues for the account's channels.

use super::delivery;
use super::providers::{Action, Notice};
use super::source::{self, SourceError};
use crate::domain::alarms::{
    self, FinishedOp, Firing, RuleKind, RuleSpec, Severity, Subject, Verdict,
};
use crate::samples::series::Series;
use crate::state::AppState;
use crate::store::alarms::{AlarmRow, RuleRow};
use crate::store::clusters::Cluster;
use crate::store::{self, StoreError, clusters};
use serde_json::json;
use sqlx::AnyConnection;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// What one round changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvalReport {
    pub rules: usize,
    pub opened: usize,
    pub resolved: usize,
}

/// A rule as the evaluator uses it.
fn spec_of(r: &RuleRow) -> Option<RuleSpec> {
    Some(RuleSpec {
        kind: RuleKind::parse(&r.kind)?,
        threshold: r.threshold.parse().ok()?,
        for_secs: r.for_secs,
        group: r.group_name.clone(),
    })
}

fn label_map(labels: &str) -> BTreeMap<String, String> {
    serde_json::from_str(labels).unwrap_or_default()
}

/// The verdicts of a metric rule on one cluster: (subject, verdict).
async fn judge_cluster(
    state: &AppState,
    c: &mut AnyConnection,
    rule: &RuleRow,
    spec: &RuleSpec,
    cluster: &Cluster,
    interval: i64,
    now: i64,
) -> Result<Vec<(String, Verdict)>, SourceError> {
    let stale = 3 * interval;
    let since = now - spec.for_secs - stale - 60;
    let range = (since, now, interval);
    let metric = |name: String, points: Vec<(i64, f64)>| {
        let s = Subject { name, points };
        let v = alarms::judge_metric(spec, &s, now, stale);
        (s.name, v)
    };
    Ok(match spec.kind {
        RuleKind::ConsumerLag => source::read(state, c, cluster, Series::ConsumerLag, range)
            .await?
            .into_iter()
            .filter_map(|(labels, pts)| {
                let group = label_map(&labels).remove("group")?;
                spec.group
                    .as_ref()
                    .is_none_or(|g| *g == group)
                    .then(|| metric(format!("group={group}"), pts))
            })
            .collect(),
        RuleKind::DiskUsedPercent => {
            let used = source::read(state, c, cluster, Series::DiskUsed, range).await?;
            let free = source::read(state, c, cluster, Series::DiskFree, range).await?;
            used.into_iter()
                .map(|(labels, used_pts)| {
                    let free_at: HashMap<i64, f64> = free
                        .get(&labels)
                        .map(|f| f.iter().copied().collect())
                        .unwrap_or_default();
                    let pts = used_pts
                        .iter()
                        .filter_map(|(ts, u)| {
                            Some((*ts, alarms::disk_used_percent(*u, *free_at.get(ts)?)?))
                        })
                        .collect();
                    let l = label_map(&labels);
                    let name = format!(
                        "broker={} dir={}",
                        l.get("broker").map_or("?", String::as_str),
                        l.get("dir").map_or("?", String::as_str)
                    );
                    metric(name, pts)
                })
                .collect()
        }
        RuleKind::UnderReplicatedPartitions | RuleKind::OfflinePartitions => {
            let series = if spec.kind == RuleKind::OfflinePartitions {
                Series::OfflinePartitions
            } else {
                Series::UnderReplicatedPartitions
            };
            let pts = source::read(state, c, cluster, series, range)
                .await?
                .into_values()
                .next()
                .unwrap_or_default();
            vec![metric("cluster".into(), pts)]
        }
        RuleKind::BrokerDown if state.prometheus.is_some() => {
            // From Prometheus: each current broker pod's last `partitions` point (a broker that
            // stops being scraped gets a staleness marker, and its series ends there).
            let brokers = state
                .catalog
                .plan(&cluster.plan_id)
                .map_or(0, |p| p.brokers);
            source::read(state, c, cluster, Series::Partitions, range)
                .await?
                .into_iter()
                .filter_map(|(labels, pts)| {
                    let broker = label_map(&labels).remove("broker")?;
                    if !source::current_pod(&cluster.resource_name, &broker, brokers) {
                        return None;
                    }
                    let last = pts.last().map(|(ts, _)| *ts);
                    let v = alarms::judge_broker(spec, last, now, 2 * interval);
                    Some((format!("broker={broker}"), v))
                })
                .collect()
        }
        RuleKind::BrokerDown => {
            // Every broker that was read reports its partition count each round; only the
            // brokers of the current bootstrap list count (one removed by a scale-down is not
            // down).
            let hosts = cluster
                .bootstrap
                .as_deref()
                .map(crate::samples::bootstrap_hosts)
                .unwrap_or_default();
            store::alarms::latest_sample_times(c, &cluster.id, "partitions")
                .await?
                .into_iter()
                .filter_map(|(labels, last)| {
                    let broker = label_map(&labels).remove("broker")?;
                    if !hosts.contains(&broker) {
                        return None;
                    }
                    let v = alarms::judge_broker(spec, Some(last), now, 2 * interval);
                    Some((format!("broker={broker}"), v))
                })
                .collect()
        }
        RuleKind::OperationFailed => {
            let ops: Vec<FinishedOp> =
                store::alarms::finished_operations(c, &cluster.id, rule.created_at)
                    .await?
                    .into_iter()
                    .map(|(id, kind, state, finished_at, error)| FinishedOp {
                        id,
                        kind,
                        failed: state == "failed",
                        finished_at,
                        error,
                    })
                    .collect();
            alarms::failed_ops_firing(&ops, rule.created_at)
                .into_iter()
                .map(|o| {
                    let what = format!(
                        "operation={} kind={} error={}",
                        o.id,
                        o.kind,
                        o.error.as_deref().unwrap_or("-")
                    );
                    (what, Verdict::Firing { value: 1.0 })
                })
                .collect()
        }
    })
}

/// One line saying what is wrong.
fn summary(
    spec: &RuleSpec,
    rule: &RuleRow,
    cluster: &Cluster,
    subject: &str,
    value: f64,
) -> String {
    let name = &cluster.name;
    let lasting = if spec.for_secs > 0 {
        format!(" for {} min", spec.for_secs / 60)
    } else {
        String::new()
    };
    let t = spec.threshold;
    match spec.kind {
        RuleKind::ConsumerLag => format!(
            "{name}: consumer lag of {subject} is {value} messages, above {t}{lasting} ({})",
            rule.name
        ),
        RuleKind::DiskUsedPercent => format!(
            "{name}: disk of {subject} is {value:.1}% used, above {t}%{lasting} ({})",
            rule.name
        ),
        RuleKind::BrokerDown => {
            format!("{name}: {subject} unreachable for {value}s ({})", rule.name)
        }
        RuleKind::UnderReplicatedPartitions => format!(
            "{name}: {value} under-replicated partitions, above {t}{lasting} ({})",
            rule.name
        ),
        RuleKind::OfflinePartitions => format!(
            "{name}: {value} offline partitions, above {t}{lasting} ({})",
            rule.name
        ),
        RuleKind::OperationFailed => format!("{name}: {subject} failed ({})", rule.name),
    }
}

/// The notice of an alarm opening or resolving.
pub fn notice_of(a: &AlarmRow, cluster_name: &str, action: Action) -> Notice {
    let kind = RuleKind::parse(&a.kind);
    let summary = match action {
        Action::Resolve => format!("resolved: {}", a.summary),
        _ => a.summary.clone(),
    };
    Notice {
        action,
        dedup_key: a.dedup_key.clone(),
        summary,
        severity: kind.map_or(Severity::Warning, RuleKind::severity),
        source: cluster_name.to_string(),
        details: json!({
            "alarm_id": a.id,
            "kind": a.kind,
            "rule_id": a.rule_id,
            "cluster_id": a.cluster_id,
            "cluster": cluster_name,
            "subject": a.subject,
            "value": a.value,
            "opened_at": store::rfc3339(a.opened_at),
        }),
    }
}

/// Resolves `dedup_key`'s open alarm and queues its resolve notices (to `channels`, or every
/// channel of the account); whether it was open.
pub async fn resolve_alarm(
    c: &mut AnyConnection,
    dedup_key: &str,
    cluster_name: &str,
    channels: Option<&[String]>,
    now: i64,
) -> Result<bool, StoreError> {
    let Some(a) = store::alarms::resolve(&mut *c, dedup_key, now).await? else {
        return Ok(false);
    };
    let n = notice_of(&a, cluster_name, Action::Resolve);
    delivery::enqueue(c, &a.account_id, channels, Some(&a.id), &n, now).await?;
    Ok(true)
}

/// One evaluation round at instant `now`.
pub async fn evaluate_once(state: &AppState, now: i64) -> Result<EvalReport, StoreError> {
    let interval = state.alerting.sample_interval_secs.max(1);
    let mut c = state.db.pool.acquire().await?;
    let rules = store::alarms::all_rules(&mut c).await?;
    let clusters = clusters::watched(&mut c).await?;
    let names: HashMap<&str, &str> = clusters
        .iter()
        .map(|k| (k.id.as_str(), k.name.as_str()))
        .collect();
    let mut report = EvalReport {
        rules: rules.len(),
        ..EvalReport::default()
    };
    for rule in &rules {
        let Some(spec) = spec_of(rule) else {
            tracing::warn!(rule = %rule.id, "unreadable alarm rule skipped");
            continue;
        };
        let mut firing: Vec<(Firing, &Cluster)> = Vec::new();
        let mut unknown = HashSet::new();
        let covered = clusters.iter().filter(|k| {
            k.account_id == rule.account_id && rule.cluster_id.as_ref().is_none_or(|id| *id == k.id)
        });
        let mut unreadable = HashSet::new();
        for cluster in covered {
            let verdicts =
                match judge_cluster(state, &mut c, rule, &spec, cluster, interval, now).await {
                    Ok(v) => v,
                    Err(SourceError::Store(e)) => return Err(e),
                    Err(SourceError::Prometheus(e)) => {
                        tracing::warn!(rule = %rule.id, cluster = %cluster.id, error = %e,
                            "alarm rule not evaluated: metrics unreadable");
                        unreadable.insert(cluster.id.clone());
                        continue;
                    }
                };
            for (subject, verdict) in verdicts {
                let key = alarms::dedup_key(&rule.id, &cluster.id, &subject);
                match verdict {
                    Verdict::Firing { value } => firing.push((
                        Firing {
                            summary: summary(&spec, rule, cluster, &subject, value),
                            dedup_key: key,
                            subject,
                            value,
                        },
                        cluster,
                    )),
                    Verdict::Unknown => {
                        unknown.insert(key);
                    }
                    Verdict::Clear => {}
                }
            }
        }
        let open = store::alarms::open_for_rule(&mut c, &rule.id).await?;
        let open_keys: HashSet<String> = open.iter().map(|a| a.dedup_key.clone()).collect();
        // What could not be read is unknown: its open alarms neither resolve nor reopen.
        unknown.extend(
            open.iter()
                .filter(|a| unreadable.contains(&a.cluster_id))
                .map(|a| a.dedup_key.clone()),
        );
        let cluster_of: HashMap<String, &Cluster> = firing
            .iter()
            .map(|(f, k)| (f.dedup_key.clone(), *k))
            .collect();
        let changes = alarms::alarm_changes(
            &open_keys,
            firing.into_iter().map(|(f, _)| f).collect(),
            &unknown,
        );
        if changes == alarms::AlarmChanges::default() {
            continue;
        }
        let channels = rule.channels();
        let mut tx = state.db.pool.begin().await?;
        for f in changes.open {
            let Some(cluster) = cluster_of.get(&f.dedup_key) else {
                continue;
            };
            let a = AlarmRow {
                id: store::new_id(),
                account_id: rule.account_id.clone(),
                rule_id: rule.id.clone(),
                cluster_id: cluster.id.clone(),
                kind: rule.kind.clone(),
                subject: f.subject,
                dedup_key: f.dedup_key,
                summary: f.summary,
                value: f.value.to_string(),
                opened_at: now,
                resolved_at: None,
            };
            match store::alarms::open(&mut tx, &a).await {
                // Another evaluator opened it first: open once.
                Err(StoreError::Conflict(_)) => continue,
                other => other?,
            }
            let n = notice_of(&a, &cluster.name, Action::Trigger);
            delivery::enqueue(
                &mut tx,
                &a.account_id,
                channels.as_deref(),
                Some(&a.id),
                &n,
                now,
            )
            .await?;
            report.opened += 1;
        }
        for key in changes.resolve {
            let name = open
                .iter()
                .find(|a| a.dedup_key == key)
                .and_then(|a| names.get(a.cluster_id.as_str()).copied())
                .unwrap_or("deleted cluster");
            if resolve_alarm(&mut tx, &key, name, channels.as_deref(), now).await? {
                report.resolved += 1;
            }
        }
        tx.commit().await?;
    }
    if report.opened + report.resolved > 0 {
        state.alerting.wake.notify_one();
    }
    Ok(report)
}

/// Evaluates every `interval` until the process ends; a failed round is logged and retried.
pub async fn run(state: AppState, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !state.metrics.lead_round(&state.leader, "alarm_evaluation") {
            continue;
        }
        match evaluate_once(&state, store::now()).await {
            Ok(r) if r.opened + r.resolved > 0 => {
                tracing::info!(opened = r.opened, resolved = r.resolved, "alarms changed");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "alarm evaluation failed"),
        }
    }
}
