//! The upgrade planner through every phase: rolling, finalizing only when settled, done, a
//! rollback before finalizing, refusals after it, and a restarted operator resuming from the
//! brokers alone.
use super::*;
use crate::crd::reason;

fn spec(version: &str, metadata_version: Option<i16>) -> KafkaClusterSpec {
    let mut v = serde_json::json!({ "brokers": 3, "version": version });
    if let Some(mv) = metadata_version {
        v["metadataVersion"] = mv.into();
    }
    serde_json::from_value(v).expect("spec")
}

/// Three brokers running `versions`, every one knowing the finalized `level`.
fn reports(versions: &[&str], level: i16) -> Vec<BrokerReport> {
    versions
        .iter()
        .enumerate()
        .map(|(i, v)| BrokerReport {
            broker_id: i32::try_from(i).expect("id"),
            version: Some((*v).to_string()),
            max_level: max_level(v),
            finalized_level: Some(level),
        })
        .collect()
}

fn decide_with(
    spec: &KafkaClusterSpec,
    previous: Option<&UpgradeStatus>,
    reports: &[BrokerReport],
    settled: bool,
) -> Decision {
    let refused = refusals(spec, finalized_level(reports, previous));
    decide(&Input {
        spec,
        previous,
        current_version: Some("0.1.0"),
        reports,
        refused: &refused,
        settled,
    })
}

#[test]
fn an_unchanged_cluster_is_done_at_its_level() {
    let s = spec("0.1.0", None);
    let d = decide_with(&s, None, &reports(&["0.1.0"; 3], 1), true);
    assert_eq!(d.status.phase, UpgradePhase::Done);
    assert_eq!(d.action, Action::None);
    assert_eq!(d.status.finalized_level, Some(1));
    assert_eq!(d.status.from_version.as_deref(), Some("0.1.0"));
    assert_eq!(event(None, &d.status), None, "no event without an upgrade");
}

#[test]
fn an_upgrade_rolls_then_finalizes_only_when_every_broker_runs_it_and_the_cluster_is_settled() {
    let s = spec("0.2.0", None);
    // Rolling: one broker restarted so far; the level stays.
    let d = decide_with(&s, None, &reports(&["0.2.0", "0.1.0", "0.1.0"], 1), true);
    assert_eq!(d.status.phase, UpgradePhase::Rolling);
    assert_eq!(d.action, Action::None);
    assert_eq!(d.status.from_version.as_deref(), Some("0.1.0"));
    assert_eq!(
        d.status.message.as_deref(),
        Some("1 of 3 brokers run 0.2.0")
    );
    let (normal, why, _) = event(None, &d.status).expect("event");
    assert!(normal && why == "UpgradeRolling");
    // A broker that does not answer is not counted as upgraded.
    let mut r = reports(&["0.2.0"; 3], 1);
    r[2] = BrokerReport::silent(2);
    let d2 = decide_with(&s, Some(&d.status), &r, true);
    assert_eq!(d2.status.phase, UpgradePhase::Rolling);
    assert_eq!(d2.action, Action::None);
    // Every broker runs 0.2.0 but the cluster is not settled: wait, do not finalize.
    let all = reports(&["0.2.0"; 3], 1);
    let d3 = decide_with(&s, Some(&d2.status), &all, false);
    assert_eq!(d3.status.phase, UpgradePhase::Finalizing);
    assert_eq!(d3.action, Action::None);
    // Settled: finalize level 2.
    let d4 = decide_with(&s, Some(&d3.status), &all, true);
    assert_eq!(d4.action, Action::Finalize(2));
    assert_eq!(d4.status.target_level, Some(2));
    // The brokers report level 2: done, once.
    let d5 = decide_with(&s, Some(&d4.status), &reports(&["0.2.0"; 3], 2), true);
    assert_eq!(d5.status.phase, UpgradePhase::Done);
    assert_eq!(d5.action, Action::None);
    assert_eq!(d5.status.finalized_level, Some(2));
    assert_eq!(d5.status.from_version.as_deref(), Some("0.1.0"));
    assert_eq!(
        event(Some(&d4.status), &d5.status).map(|e| e.1),
        Some("UpgradeDone")
    );
    assert_eq!(event(Some(&d5.status), &d5.status), None);
}

#[test]
fn metadata_version_pins_the_level_finalized() {
    let s = spec("0.2.0", Some(1));
    let d = decide_with(&s, None, &reports(&["0.2.0"; 3], 1), true);
    assert_eq!(d.status.phase, UpgradePhase::Done);
    assert_eq!(d.action, Action::None);
    // Raising it later finalizes without a roll.
    let s2 = spec("0.2.0", Some(2));
    let d2 = decide_with(&s2, Some(&d.status), &reports(&["0.2.0"; 3], 1), true);
    assert_eq!(d2.action, Action::Finalize(2));
}

#[test]
fn going_back_before_finalizing_is_a_rollback() {
    let up = spec("0.2.0", None);
    let rolling = decide_with(&up, None, &reports(&["0.2.0", "0.2.0", "0.1.0"], 1), true);
    assert_eq!(rolling.status.phase, UpgradePhase::Rolling);
    let back = spec("0.1.0", None);
    assert!(
        refusals(&back, Some(1)).is_empty(),
        "level 1 is still final"
    );
    let d = decide_with(
        &back,
        Some(&rolling.status),
        &reports(&["0.1.0", "0.2.0", "0.1.0"], 1),
        true,
    );
    assert_eq!(d.status.phase, UpgradePhase::Rolling);
    assert_eq!(d.status.from_version.as_deref(), Some("0.2.0"));
    assert_eq!(d.status.to_version, "0.1.0");
    let d2 = decide_with(&back, Some(&d.status), &reports(&["0.1.0"; 3], 1), true);
    assert_eq!(d2.status.phase, UpgradePhase::RolledBack);
    assert_eq!(d2.action, Action::None, "a rollback never finalizes");
    assert_eq!(
        event(Some(&d.status), &d2.status).map(|e| e.1),
        Some("UpgradeRolledBack")
    );
    // Forward again later: a new upgrade from 0.1.0.
    let d3 = decide_with(
        &up,
        Some(&d2.status),
        &reports(&["0.1.0", "0.1.0", "0.2.0"], 1),
        true,
    );
    assert_eq!(d3.status.phase, UpgradePhase::Rolling);
    assert_eq!(d3.status.from_version.as_deref(), Some("0.1.0"));
}

#[test]
fn after_finalizing_a_downgrade_is_refused_and_the_brokers_keep_their_version() {
    let back = spec("0.1.0", None);
    let f = refusals(&back, Some(2));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].reason, reason::DOWNGRADE_REFUSED);
    assert_eq!(f[0].severity, Severity::Invalid);
    assert!(
        f[0].message.contains("finalized level 2"),
        "{}",
        f[0].message
    );
    let done = decide_with(&spec("0.2.0", None), None, &reports(&["0.2.0"; 3], 2), true);
    let d = decide_with(&back, Some(&done.status), &reports(&["0.2.0"; 3], 2), true);
    assert_eq!(d.status.phase, UpgradePhase::Refused);
    assert_eq!(d.action, Action::None);
    assert_eq!(d.status.from_version.as_deref(), Some("0.2.0"));
    assert!(
        d.status
            .message
            .as_deref()
            .unwrap_or("")
            .contains("refused")
    );
    let (normal, why, _) = event(Some(&done.status), &d.status).expect("event");
    assert!(!normal && why == "UpgradeRefused");
    // Stays refused on the next reconcile, without a new event.
    let d2 = decide_with(&back, Some(&d.status), &reports(&["0.2.0"; 3], 2), true);
    assert_eq!(d2.status.phase, UpgradePhase::Refused);
    assert_eq!(event(Some(&d.status), &d2.status), None);
    // Putting spec.version back ends the refusal: done again, nothing rolls.
    let d3 = decide_with(
        &spec("0.2.0", None),
        Some(&d2.status),
        &reports(&["0.2.0"; 3], 2),
        true,
    );
    assert_eq!(d3.status.phase, UpgradePhase::Done);
    assert_eq!(d3.action, Action::None);
}

#[test]
fn metadata_versions_outside_the_range_are_refused() {
    let low = refusals(&spec("0.2.0", Some(1)), Some(2));
    assert_eq!(low.len(), 1);
    assert_eq!(low[0].reason, reason::METADATA_VERSION_REFUSED);
    let high = refusals(&spec("0.1.0", Some(2)), Some(1));
    assert_eq!(high[0].reason, reason::METADATA_VERSION_REFUSED);
    assert!(high[0].message.contains("above"), "{}", high[0].message);
    assert!(refusals(&spec("0.2.0", Some(2)), Some(2)).is_empty());
    // An unknown version is left to the validate step's UnknownVersion warning.
    assert!(refusals(&spec("9.9.9", None), Some(2)).is_empty());
}

#[test]
fn a_restarted_operator_resumes_from_the_brokers() {
    // No status at all (lost or never written): the brokers' reports say where it stands.
    let s = spec("0.2.0", None);
    let d = decide(&Input {
        spec: &s,
        previous: None,
        current_version: None,
        reports: &reports(&["0.2.0"; 3], 1),
        refused: &[],
        settled: true,
    });
    assert_eq!(d.action, Action::Finalize(2));
    // Status says Finalizing, the brokers already report level 2 (the operator died after the
    // UpdateFeatures call): done, no second call.
    let d2 = decide_with(&s, Some(&d.status), &reports(&["0.2.0"; 3], 2), true);
    assert_eq!(d2.status.phase, UpgradePhase::Done);
    assert_eq!(d2.action, Action::None);
    // A downgrade is refused even when no broker answers: the level comes from the status.
    let silent: Vec<_> = (0..3).map(BrokerReport::silent).collect();
    assert_eq!(finalized_level(&silent, Some(&d2.status)), Some(2));
    let d3 = decide_with(&spec("0.1.0", None), Some(&d2.status), &silent, true);
    assert_eq!(d3.status.phase, UpgradePhase::Refused);
}

#[test]
fn a_broker_whose_binary_lacks_the_level_blocks_finalizing() {
    let s = spec("0.2.0", None);
    let mut r = reports(&["0.2.0"; 3], 1);
    r[1].max_level = Some(1);
    let d = decide_with(&s, None, &r, true);
    assert_eq!(d.status.phase, UpgradePhase::Finalizing);
    assert_eq!(d.action, Action::None);
    assert!(
        d.status
            .message
            .as_deref()
            .unwrap_or("")
            .contains("broker 1"),
        "{:?}",
        d.status.message
    );
}
