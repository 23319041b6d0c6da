//! Unit tests of alarm rule validation and evaluation.

use super::*;

fn spec(kind: RuleKind, threshold: f64, for_secs: i64) -> RuleSpec {
    RuleSpec {
        kind,
        threshold,
        for_secs,
        group: None,
    }
}

fn subject(points: &[(i64, f64)]) -> Subject {
    Subject {
        name: "group=g".into(),
        points: points.to_vec(),
    }
}

#[test]
fn thresholds_are_checked_per_kind() {
    let ok = validate_rule(RuleKind::ConsumerLag, Some(1000.0), Some(5), Some("g")).unwrap();
    assert_eq!(ok.for_secs, 300);
    assert_eq!(ok.group.as_deref(), Some("g"));
    assert_eq!(
        validate_rule(RuleKind::ConsumerLag, None, None, None)
            .unwrap_err()
            .field,
        "threshold"
    );
    assert_eq!(
        validate_rule(RuleKind::DiskUsedPercent, Some(120.0), None, None)
            .unwrap_err()
            .field,
        "threshold"
    );
    assert_eq!(
        validate_rule(RuleKind::DiskUsedPercent, Some(f64::NAN), None, None)
            .unwrap_err()
            .field,
        "threshold"
    );
    assert_eq!(
        validate_rule(RuleKind::DiskUsedPercent, None, None, None)
            .unwrap()
            .threshold,
        80.0
    );
    assert_eq!(
        validate_rule(RuleKind::OfflinePartitions, None, None, None)
            .unwrap()
            .threshold,
        0.0
    );
    assert_eq!(
        validate_rule(RuleKind::BrokerDown, Some(1.0), None, None)
            .unwrap_err()
            .field,
        "threshold"
    );
    assert_eq!(
        validate_rule(RuleKind::ConsumerLag, Some(1.0), Some(1441), None)
            .unwrap_err()
            .field,
        "for_minutes"
    );
    assert_eq!(
        validate_rule(RuleKind::ConsumerLag, Some(1.0), Some(-1), None)
            .unwrap_err()
            .field,
        "for_minutes"
    );
    assert_eq!(
        validate_rule(RuleKind::OperationFailed, None, Some(5), None)
            .unwrap_err()
            .field,
        "for_minutes"
    );
    assert_eq!(
        validate_rule(RuleKind::BrokerDown, None, None, Some("g"))
            .unwrap_err()
            .field,
        "group"
    );
    assert_eq!(
        validate_rule(RuleKind::ConsumerLag, Some(1.0), None, Some(""))
            .unwrap_err()
            .field,
        "group"
    );
    for k in RuleKind::ALL {
        assert_eq!(RuleKind::parse(k.as_str()), Some(k));
    }
}

#[test]
fn a_breach_counts_from_the_first_point_of_the_newest_run() {
    let above = |v: f64| v > 10.0;
    assert_eq!(breaching_since(&[], above), None);
    assert_eq!(breaching_since(&[(1, 11.0), (2, 5.0)], above), None);
    assert_eq!(
        breaching_since(&[(1, 11.0), (2, 5.0), (3, 12.0), (4, 20.0)], above),
        Some(3)
    );
    assert_eq!(breaching_since(&[(1, 11.0), (2, 12.0)], above), Some(1));
}

#[test]
fn a_metric_fires_only_after_its_duration_and_clears_when_below() {
    let s = spec(RuleKind::ConsumerLag, 100.0, 300);
    // Above for 240 s only: not yet.
    let short = subject(&[(0, 5.0), (60, 150.0), (300, 200.0)]);
    assert_eq!(judge_metric(&s, &short, 300, 120), Verdict::Clear);
    // Above for 300 s: fires with the newest value.
    let long = subject(&[(0, 150.0), (150, 160.0), (300, 170.0)]);
    assert_eq!(
        judge_metric(&s, &long, 300, 120),
        Verdict::Firing { value: 170.0 }
    );
    // Exactly at the threshold is not above it.
    let at = subject(&[(0, 100.0), (300, 100.0)]);
    assert_eq!(judge_metric(&s, &at, 300, 120), Verdict::Clear);
    // Stale data is no evidence either way.
    assert_eq!(judge_metric(&s, &long, 1000, 120), Verdict::Unknown);
    assert_eq!(judge_metric(&s, &subject(&[]), 0, 120), Verdict::Unknown);
    // A zero duration fires on the newest point alone.
    let now = spec(RuleKind::OfflinePartitions, 0.0, 0);
    assert_eq!(
        judge_metric(&now, &subject(&[(0, 0.0), (30, 1.0)]), 30, 120),
        Verdict::Firing { value: 1.0 }
    );
}

#[test]
fn a_broker_is_down_once_unread_past_the_grace_and_duration() {
    let s = spec(RuleKind::BrokerDown, 0.0, 60);
    assert_eq!(judge_broker(&s, None, 100, 30), Verdict::Unknown);
    assert_eq!(judge_broker(&s, Some(100), 150, 30), Verdict::Clear);
    assert_eq!(judge_broker(&s, Some(100), 190, 30), Verdict::Clear);
    assert_eq!(
        judge_broker(&s, Some(100), 191, 30),
        Verdict::Firing { value: 91.0 }
    );
}

#[test]
fn disk_share_is_used_over_used_plus_free() {
    assert_eq!(disk_used_percent(25.0, 75.0), Some(25.0));
    assert_eq!(disk_used_percent(0.0, 0.0), None);
}

#[test]
fn failed_operations_fire_until_a_later_success() {
    let op = |id: &str, failed: bool, at: i64| FinishedOp {
        id: id.into(),
        kind: "resize".into(),
        failed,
        finished_at: at,
        error: None,
    };
    let ops = [op("a", true, 10), op("b", false, 20), op("c", true, 30)];
    let firing: Vec<_> = failed_ops_firing(&ops, 0)
        .iter()
        .map(|o| o.id.clone())
        .collect();
    assert_eq!(firing, vec!["c"]);
    // Failures before the rule existed do not page.
    assert!(failed_ops_firing(&ops, 31).is_empty());
    assert!(failed_ops_firing(&[op("a", true, 10), op("b", false, 20)], 0).is_empty());
}

fn firing(key: &str) -> Firing {
    Firing {
        dedup_key: key.into(),
        subject: key.into(),
        value: 1.0,
        summary: key.into(),
    }
}

#[test]
fn alarms_open_once_and_resolve_once() {
    let none = HashSet::new();
    let c = alarm_changes(&none, vec![firing("a"), firing("a"), firing("b")], &none);
    assert_eq!(c.open.len(), 2);
    assert!(c.resolve.is_empty());
    let open: HashSet<String> = ["a".to_string(), "b".to_string()].into();
    // Still firing: nothing to do.
    let c = alarm_changes(&open, vec![firing("a"), firing("b")], &none);
    assert_eq!(c, AlarmChanges::default());
    // b stops: b resolves; a unknown stays open.
    let unknown: HashSet<String> = ["a".to_string()].into();
    let c = alarm_changes(&open, vec![], &unknown);
    assert!(c.open.is_empty());
    assert_eq!(c.resolve, vec!["b".to_string()]);
}

#[test]
fn dedup_keys_are_stable_short_and_distinct() {
    let a = dedup_key("r", "c", "group=x");
    assert_eq!(a, dedup_key("r", "c", "group=x"));
    assert_ne!(a, dedup_key("r", "c", "group=y"));
    assert_ne!(dedup_key("r", "cg", "x"), dedup_key("r", "c", "gx"));
    assert_eq!(a.len(), 37);
}
