//! The upgrade planner (pure): from `spec.version`, `spec.metadataVersion`, the last upgrade
//! status and what each broker reports, the upgrade's phase and whether to finalize a level now;
//! and the refusals the validate step adds (a version or metadata version below the finalized
//! level).
use crate::cluster::validate::{Finding, Severity};
use crate::crd::{
    BrokerVersionStatus, KafkaClusterSpec, UpgradePhase, UpgradeStatus, max_level, reason,
};

/// One broker's answer: its release and `eddy.version` levels (`None` when it did not answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerReport {
    /// Broker id (pod ordinal).
    pub broker_id: i32,
    /// The release it reports.
    pub version: Option<String>,
    /// Highest level its binary supports.
    pub max_level: Option<i16>,
    /// The cluster's finalized level as it knows it.
    pub finalized_level: Option<i16>,
}

impl BrokerReport {
    /// A broker that did not answer.
    #[must_use]
    pub fn silent(broker_id: i32) -> Self {
        Self {
            broker_id,
            version: None,
            max_level: None,
            finalized_level: None,
        }
    }
}

/// What the planner decides from.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The cluster's spec (`version`, `metadataVersion`, `brokers`).
    pub spec: &'a KafkaClusterSpec,
    /// The last upgrade status.
    pub previous: Option<&'a UpgradeStatus>,
    /// The version every broker pod ran at the last status (`status.currentVersion`).
    pub current_version: Option<&'a str>,
    /// Each broker pod's report.
    pub reports: &'a [BrokerReport],
    /// The refusals the validate step reported (the spec was not applied).
    pub refused: &'a [Finding],
    /// Every broker is ready, no restart runs, the objects were applied and the brokers report
    /// the cluster healthy: the only moment a level may be finalized.
    pub settled: bool,
}

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Finalize `eddy.version` at this level (UpdateFeatures).
    Finalize(i16),
}

/// The planner's answer: the status to write and the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `status.upgrade`.
    pub status: UpgradeStatus,
    /// What to do.
    pub action: Action,
}

/// The finalized level: the highest any broker reports (a level only goes up), else the last
/// status's.
#[must_use]
pub fn finalized_level(reports: &[BrokerReport], previous: Option<&UpgradeStatus>) -> Option<i16> {
    reports
        .iter()
        .filter_map(|r| r.finalized_level)
        .max()
        .or_else(|| previous.and_then(|p| p.finalized_level))
}

/// Refusals of the validate step: a `spec.version` whose releases cannot run the finalized
/// level (a downgrade past it), or a `spec.metadataVersion` below it or above what the version
/// supports. Invalid findings: nothing is applied, so nothing rolls.
#[must_use]
pub fn refusals(spec: &KafkaClusterSpec, finalized: Option<i16>) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(max) = max_level(&spec.version) else {
        return out; // an unknown version is the validate step's UnknownVersion warning
    };
    let mut refuse = |reason, message| {
        out.push(Finding {
            severity: Severity::Invalid,
            reason,
            message,
        });
    };
    if let Some(f) = finalized
        && max < f
    {
        refuse(
            reason::DOWNGRADE_REFUSED,
            format!(
                "spec.version {} supports eddy.version up to {max}, but the cluster finalized \
                 level {f}: a downgrade past the finalized level is refused (the brokers may \
                 already have written what {} cannot read); the brokers keep their version",
                spec.version, spec.version
            ),
        );
    }
    if let Some(mv) = spec.metadata_version {
        if mv > max {
            refuse(
                reason::METADATA_VERSION_REFUSED,
                format!(
                    "spec.metadataVersion {mv} is above what spec.version {} supports ({max})",
                    spec.version
                ),
            );
        } else if let Some(f) = finalized
            && mv < f
        {
            refuse(
                reason::METADATA_VERSION_REFUSED,
                format!(
                    "spec.metadataVersion {mv} is below the finalized eddy.version level {f}: \
                     finalized levels are never lowered"
                ),
            );
        }
    }
    out
}

/// The version the brokers came from: the same upgrade's, else the one the last upgrade went to
/// (a change of mind mid-roll is a rollback from there), else what the pods ran.
fn from_version(input: &Input<'_>) -> String {
    let to = input.spec.version.as_str();
    match input.previous {
        Some(p) if p.to_version == to || p.phase == UpgradePhase::Refused => {
            p.from_version.clone().unwrap_or_else(|| to.to_string())
        }
        Some(p) => p.to_version.clone(),
        None => input
            .current_version
            .map(str::to_string)
            .or_else(|| uniform_version(input.reports))
            .unwrap_or_else(|| to.to_string()),
    }
}

/// The release every report names, when they agree.
fn uniform_version(reports: &[BrokerReport]) -> Option<String> {
    let first = reports.first()?.version.clone()?;
    reports
        .iter()
        .all(|r| r.version.as_deref() == Some(first.as_str()))
        .then_some(first)
}

/// Decides the upgrade's phase and action. Pure.
#[must_use]
pub fn decide(input: &Input<'_>) -> Decision {
    let spec = input.spec;
    let to = spec.version.clone();
    let finalized = finalized_level(input.reports, input.previous);
    let target_level = spec
        .metadata_version
        .or_else(|| max_level(&to))
        .unwrap_or(1);
    let brokers = input
        .reports
        .iter()
        .map(|r| BrokerVersionStatus {
            broker_id: r.broker_id,
            version: r.version.clone(),
            max_level: r.max_level,
        })
        .collect();
    let mut status = UpgradeStatus {
        phase: UpgradePhase::Rolling,
        from_version: Some(from_version(input)),
        to_version: to.clone(),
        finalized_level: finalized,
        target_level: Some(target_level),
        brokers,
        message: None,
    };
    let done = |mut status: UpgradeStatus, phase, message: String| {
        status.phase = phase;
        status.message = Some(message);
        Decision {
            status,
            action: Action::None,
        }
    };
    if !input.refused.is_empty() {
        // The spec was not applied: the brokers keep the version they came from.
        let running = input
            .previous
            .filter(|p| p.phase != UpgradePhase::Refused)
            .map(|p| p.to_version.clone())
            .or_else(|| input.previous.and_then(|p| p.from_version.clone()));
        status.from_version = running.or(status.from_version);
        let message = input
            .refused
            .iter()
            .map(|f| f.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        return done(status, UpgradePhase::Refused, message);
    }
    let wanted = usize::try_from(spec.brokers).unwrap_or(0);
    let on_target = input
        .reports
        .iter()
        .filter(|r| r.version.as_deref() == Some(to.as_str()))
        .count();
    if on_target < wanted || input.reports.len() != wanted {
        let message = format!("{on_target} of {wanted} brokers run {to}");
        return done(status, UpgradePhase::Rolling, message);
    }
    let from = status.from_version.clone().unwrap_or_default();
    let from_level = max_level(&from).unwrap_or(1);
    if from != to && from_level > max_level(&to).unwrap_or(1) {
        let message = format!(
            "every broker runs {to} again; eddy.version stays at {}",
            finalized.map_or_else(|| "?".to_string(), |f| f.to_string())
        );
        return done(status, UpgradePhase::RolledBack, message);
    }
    let Some(finalized) = finalized else {
        let message = "the brokers do not report the finalized eddy.version level".to_string();
        return done(status, UpgradePhase::Finalizing, message);
    };
    if finalized >= target_level {
        let message = format!("every broker runs {to}; eddy.version {finalized} is finalized");
        return done(status, UpgradePhase::Done, message);
    }
    if let Some(r) = input
        .reports
        .iter()
        .find(|r| r.max_level.is_none_or(|m| m < target_level))
    {
        let message = format!(
            "broker {} does not support eddy.version {target_level}",
            r.broker_id
        );
        return done(status, UpgradePhase::Finalizing, message);
    }
    if !input.settled {
        let message = format!(
            "every broker runs {to}; eddy.version {target_level} is finalized once the cluster is \
             healthy (every broker ready, no restart, no offline or under-min-ISR partition)"
        );
        return done(status, UpgradePhase::Finalizing, message);
    }
    status.phase = UpgradePhase::Finalizing;
    status.message = Some(format!(
        "finalizing eddy.version {finalized} -> {target_level}"
    ));
    Decision {
        status,
        action: Action::Finalize(target_level),
    }
}

/// The Event of a phase the upgrade enters: (normal?, reason, note). Pure.
#[must_use]
pub fn event(
    previous: Option<&UpgradeStatus>,
    next: &UpgradeStatus,
) -> Option<(bool, &'static str, String)> {
    let same = previous.is_some_and(|p| p.phase == next.phase && p.to_version == next.to_version);
    if same {
        return None;
    }
    let from = next.from_version.as_deref().unwrap_or("?");
    let to = &next.to_version;
    let message = next.message.clone().unwrap_or_default();
    Some(match next.phase {
        // A cluster that never changed version enters Done without an upgrade to report.
        UpgradePhase::Done if previous.is_none() && from == to => return None,
        UpgradePhase::Rolling => (
            true,
            "UpgradeRolling",
            format!("rolling the brokers from {from} to {to}: {message}"),
        ),
        UpgradePhase::Finalizing => (true, "UpgradeFinalizing", message),
        UpgradePhase::Done => (true, "UpgradeDone", message),
        UpgradePhase::RolledBack => (true, "UpgradeRolledBack", message),
        UpgradePhase::Refused => (false, "UpgradeRefused", message),
    })
}

#[cfg(test)]
mod tests;
