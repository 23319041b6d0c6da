//! Feature levels, Kafka's KIP-584 way: each broker binary supports a range of levels per
//! feature, the cluster's *finalized* level per feature lives in the metadata (the metadata log
//! in cluster mode, the metadata file on a single node), ApiVersions v3+ reports both
//! (`SupportedFeatures`, `FinalizedFeatures`, `FinalizedFeaturesEpoch`), and UpdateFeatures
//! changes the finalized level once every registered broker supports it.
//!
//! Eddy has one feature, `eddy.version`: the on-disk and on-the-wire behaviour brokers of a
//! cluster agree on. A version upgrade rolls the new binary with the finalized level pinned (the
//! old and the new binary both support it), and only then finalizes the new level; until then,
//! going back to the old binary is an ordinary roll. Downgrading a finalized level is refused:
//! brokers may already have written what the old level cannot read.
//!
//! A broker refuses to start (and the controller refuses its registration) when the cluster's
//! finalized level is outside the range it supports.
//!
//! Kafka's `transaction.version` is served too (0 to 2; new clusters are finalized at 2, Kafka
//! 4.0's default; clusters whose finalized levels were written before it existed run 0 until
//! UpdateFeatures raises it). Its finalized level is what clients read: Kafka 4's Java producer
//! uses transaction version 2 (EndTxn v5, Produce v12, TxnOffsetCommit v5, no
//! AddPartitionsToTxn/AddOffsetsToTxn) only at level 2. The broker serves both protocols by the
//! request versions, as Kafka's coordinator does (txn/).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The feature that versions what Eddy brokers write and exchange.
pub const EDDY_VERSION: &str = "eddy.version";
/// The lowest `eddy.version` level any binary of this tree supports.
pub const EDDY_VERSION_MIN: i16 = 1;
/// The level a new cluster is finalized at.
pub const EDDY_VERSION_DEFAULT: i16 = 1;
/// The `eddy.version` level from which DescribeCluster v2 (KIP-1073: fenced brokers listed
/// with `is_fenced` when asked) is advertised and served.
pub const DESCRIBE_FENCED_BROKERS_LEVEL: i16 = 2;

/// Kafka's feature that tells clients which transaction protocol to use (KIP-890 part 2).
pub const TRANSACTION_VERSION: &str = "transaction.version";
/// The highest `transaction.version` served: 2, EndTxn bumps the epoch (KIP-890 part 2).
pub const TRANSACTION_VERSION_MAX: i16 = 2;
/// The level a new cluster is finalized at (Kafka 4.0's default).
pub const TRANSACTION_VERSION_DEFAULT: i16 = 2;

/// Test hook: overrides the supported ranges of the features it names, as
/// `feature=min-max[,...]` (e.g. `eddy.version=1-2`), whatever the binary's identity.
pub const SUPPORTED_OVERRIDE_ENV: &str = "EDDY_TEST_SUPPORTED_FEATURES";

/// Which broker release a binary is: its version string and the `eddy.version` levels it
/// supports. Both binaries are built from this tree and share the library; the identity is
/// chosen by the small `main` of each bin target (`broker` is 0.1.0, `broker-0-2-0` 0.2.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// The release, as the operator's `spec.version` and the image tag name it.
    pub version: &'static str,
    /// Highest `eddy.version` level this release supports (the lowest is
    /// [`EDDY_VERSION_MIN`]).
    pub eddy_version_max: i16,
}

/// Release 0.1.0: `eddy.version` 1.
pub const V0_1_0: Identity = Identity {
    version: "0.1.0",
    eddy_version_max: 1,
};

/// Release 0.2.0: `eddy.version` 1 to 2; level 2 adds DescribeCluster v2 (fenced brokers).
pub const V0_2_0: Identity = Identity {
    version: "0.2.0",
    eddy_version_max: 2,
};

/// Every release this tree builds, oldest first.
pub const RELEASES: &[Identity] = &[V0_1_0, V0_2_0];

static IDENTITY: std::sync::OnceLock<Identity> = std::sync::OnceLock::new();

/// Sets this process's identity, once, before the broker starts (the bin targets' `main`).
/// Later calls are ignored: the first identity stays.
pub fn set_identity(identity: Identity) {
    let _ = IDENTITY.set(identity);
}

/// This process's release (0.1.0 unless a bin target chose another).
#[must_use]
pub fn identity() -> Identity {
    IDENTITY.get().copied().unwrap_or(V0_1_0)
}

/// The `eddy.version` level this broker acts on: the finalized one, capped at what this binary
/// supports (a binary never behaves as a level it does not know; the start-up check keeps it
/// from running a higher finalized level at all).
#[must_use]
pub fn effective_level(finalized: &Finalized) -> i16 {
    let level = finalized
        .levels
        .get(EDDY_VERSION)
        .copied()
        .unwrap_or(EDDY_VERSION_DEFAULT);
    let max = supported()
        .get(EDDY_VERSION)
        .map_or(EDDY_VERSION_DEFAULT, |(_, hi)| *hi);
    level.min(max)
}

/// Kafka's error codes UpdateFeatures answers with.
pub const INVALID_UPDATE_VERSION: i16 = 95;
pub const FEATURE_UPDATE_FAILED: i16 = 96;

/// Supported level range (inclusive) per feature.
pub type Supported = BTreeMap<String, (i16, i16)>;

/// The levels this binary supports (its identity's, or the test override's).
#[must_use]
pub fn supported() -> Supported {
    let mut out = supported_by(identity().eddy_version_max);
    if let Ok(spec) = std::env::var(SUPPORTED_OVERRIDE_ENV)
        && let Some(s) = parse_supported(&spec)
    {
        out.extend(s);
    }
    out
}

/// What a binary of this tree supports with `eddy.version` up to `eddy_version_max`.
#[must_use]
pub fn supported_by(eddy_version_max: i16) -> Supported {
    BTreeMap::from([
        (
            EDDY_VERSION.to_string(),
            (EDDY_VERSION_MIN, eddy_version_max),
        ),
        (
            TRANSACTION_VERSION.to_string(),
            (0, TRANSACTION_VERSION_MAX),
        ),
    ])
}

fn parse_supported(spec: &str) -> Option<Supported> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, range) = item.split_once('=')?;
            let (lo, hi) = range.split_once('-')?;
            Some((name.to_string(), (lo.parse().ok()?, hi.parse().ok()?)))
        })
        .collect()
}

/// What a registration written before feature levels existed supported: `eddy.version` 1.
#[must_use]
pub fn legacy_supported() -> Supported {
    BTreeMap::from([(EDDY_VERSION.to_string(), (1, 1))])
}

/// The cluster's finalized feature levels and the epoch of their last change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finalized {
    pub epoch: i64,
    pub levels: BTreeMap<String, i16>,
}

/// The finalized levels of a cluster whose metadata was written before feature levels
/// existed: `eddy.version` 1 (and `transaction.version` 0, by its absence).
#[must_use]
pub fn legacy_finalized() -> Finalized {
    Finalized {
        epoch: 0,
        levels: BTreeMap::from([(EDDY_VERSION.to_string(), EDDY_VERSION_DEFAULT)]),
    }
}

impl Default for Finalized {
    /// A new cluster runs `eddy.version` 1 and `transaction.version` 2.
    fn default() -> Self {
        Finalized {
            epoch: 0,
            levels: BTreeMap::from([
                (EDDY_VERSION.to_string(), EDDY_VERSION_DEFAULT),
                (TRANSACTION_VERSION.to_string(), TRANSACTION_VERSION_DEFAULT),
            ]),
        }
    }
}

/// Why a broker cannot run with the finalized levels: the message names both.
pub fn check_supported(finalized: &Finalized, supported: &Supported) -> Result<(), String> {
    for (name, level) in &finalized.levels {
        match supported.get(name) {
            Some((lo, hi)) if (lo..=hi).contains(&level) => {}
            Some((lo, hi)) => {
                return Err(format!(
                    "the cluster's finalized {name} level is {level}; this broker supports {lo} to {hi}"
                ));
            }
            // Kafka's rule: a feature a broker does not know is supported at level 0 only.
            None if *level == 0 => {}
            None => {
                return Err(format!(
                    "the cluster's finalized feature {name} (level {level}) is unknown to this broker"
                ));
            }
        }
    }
    Ok(())
}

/// Kafka's UpdateFeatures upgrade types (v1+; v0's `allow_downgrade` maps to safe downgrade).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeType {
    Upgrade,
    SafeDowngrade,
    UnsafeDowngrade,
}

impl UpgradeType {
    #[must_use]
    pub fn from_wire(upgrade_type: i8) -> Option<Self> {
        match upgrade_type {
            1 => Some(UpgradeType::Upgrade),
            2 => Some(UpgradeType::SafeDowngrade),
            3 => Some(UpgradeType::UnsafeDowngrade),
            _ => None,
        }
    }
}

/// One requested change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureUpdate {
    pub feature: String,
    pub level: i16,
    pub upgrade_type: UpgradeType,
}

/// Why an update was refused: Kafka's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateError {
    pub feature: String,
    pub code: i16,
    pub message: String,
}

/// The finalized levels after `updates`, or every refusal. All or nothing, as Kafka applies
/// them. `brokers` are the registered brokers' supported ranges: each must support each new
/// level.
pub fn plan_update(
    current: &Finalized,
    updates: &[FeatureUpdate],
    brokers: &[(i32, Supported)],
) -> Result<BTreeMap<String, i16>, Vec<UpdateError>> {
    let mut levels = current.levels.clone();
    let mut errors = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for u in updates {
        let refuse = |code: i16, message: String| UpdateError {
            feature: u.feature.clone(),
            code,
            message,
        };
        if !seen.insert(u.feature.clone()) {
            errors.push(refuse(
                INVALID_UPDATE_VERSION,
                format!("the feature {} is listed more than once", u.feature),
            ));
            continue;
        }
        let now = current.levels.get(&u.feature).copied().unwrap_or(0);
        if u.level < now || u.level == 0 {
            // Whatever the type asked for: what a newer level wrote may not be readable by an
            // older one, and removing eddy.version would leave brokers without a contract.
            let why = if u.upgrade_type == UpgradeType::Upgrade {
                "an upgrade cannot lower it".to_string()
            } else {
                "downgrading a finalized feature level is not supported (the brokers may already \
                 have written what the lower level cannot read); roll back before finalizing"
                    .to_string()
            };
            errors.push(refuse(
                INVALID_UPDATE_VERSION,
                format!(
                    "{} is finalized at {now}, the request asks for {}: {why}",
                    u.feature, u.level
                ),
            ));
            continue;
        }
        if u.level > now && u.upgrade_type != UpgradeType::Upgrade {
            errors.push(refuse(
                INVALID_UPDATE_VERSION,
                format!(
                    "{} {} -> {} is an upgrade, but the request's upgrade type is a downgrade",
                    u.feature, now, u.level
                ),
            ));
            continue;
        }
        if let Some((id, range)) = brokers.iter().find_map(|(id, s)| match s.get(&u.feature) {
            Some((lo, hi)) if (*lo..=*hi).contains(&u.level) => None,
            other => Some((*id, other.copied())),
        }) {
            let supports = range.map_or_else(
                || "does not know the feature".to_string(),
                |(lo, hi)| format!("supports {lo} to {hi}"),
            );
            errors.push(refuse(
                INVALID_UPDATE_VERSION,
                format!(
                    "broker {id} {supports}, not {} level {}: upgrade every broker first",
                    u.feature, u.level
                ),
            ));
            continue;
        }
        levels.insert(u.feature.clone(), u.level);
    }
    if errors.is_empty() {
        Ok(levels)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(level: i16, t: UpgradeType) -> FeatureUpdate {
        FeatureUpdate {
            feature: EDDY_VERSION.into(),
            level,
            upgrade_type: t,
        }
    }

    fn brokers(ranges: &[(i16, i16)]) -> Vec<(i32, Supported)> {
        ranges
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    i32::try_from(i).expect("id"),
                    BTreeMap::from([(EDDY_VERSION.to_string(), *r)]),
                )
            })
            .collect()
    }

    #[test]
    fn an_upgrade_needs_every_broker_to_support_the_level() {
        let now = Finalized::default();
        let err = plan_update(
            &now,
            &[update(2, UpgradeType::Upgrade)],
            &brokers(&[(1, 2), (1, 1), (1, 2)]),
        )
        .expect_err("broker 1 is old");
        assert_eq!(err[0].code, INVALID_UPDATE_VERSION);
        assert!(
            err[0].message.contains("broker 1 supports 1 to 1"),
            "{err:?}"
        );
        let levels = plan_update(
            &now,
            &[update(2, UpgradeType::Upgrade)],
            &brokers(&[(1, 2), (1, 2)]),
        )
        .expect("all upgraded");
        assert_eq!(levels[EDDY_VERSION], 2);
    }

    #[test]
    fn downgrades_unknown_features_and_duplicates_are_refused() {
        let now = Finalized {
            epoch: 3,
            levels: BTreeMap::from([(EDDY_VERSION.to_string(), 2)]),
        };
        let all = brokers(&[(1, 2), (1, 2)]);
        for t in [UpgradeType::SafeDowngrade, UpgradeType::UnsafeDowngrade] {
            let err = plan_update(&now, &[update(1, t)], &all).expect_err("downgrade");
            assert!(err[0].message.contains("not supported"), "{err:?}");
        }
        let err = plan_update(&now, &[update(0, UpgradeType::UnsafeDowngrade)], &all)
            .expect_err("removal");
        assert_eq!(err.len(), 1);
        let unknown = FeatureUpdate {
            feature: "group.version".into(),
            level: 1,
            upgrade_type: UpgradeType::Upgrade,
        };
        let err = plan_update(&now, &[unknown], &all).expect_err("unknown");
        assert!(err[0].message.contains("does not know"), "{err:?}");
        let twice = [
            update(2, UpgradeType::Upgrade),
            update(2, UpgradeType::Upgrade),
        ];
        assert!(plan_update(&now, &twice, &all).is_err());
        // The same level again is no change, and allowed.
        assert_eq!(
            plan_update(&now, &[update(2, UpgradeType::Upgrade)], &all).expect("same")
                [EDDY_VERSION],
            2
        );
    }

    #[test]
    fn a_broker_outside_the_finalized_range_cannot_run() {
        let two = Finalized {
            epoch: 1,
            levels: BTreeMap::from([(EDDY_VERSION.to_string(), 2)]),
        };
        let old = BTreeMap::from([(EDDY_VERSION.to_string(), (1, 1))]);
        let err = check_supported(&two, &old).expect_err("too old");
        assert!(
            err.contains("level is 2; this broker supports 1 to 1"),
            "{err}"
        );
        assert!(check_supported(&legacy_finalized(), &old).is_ok());
        // A new cluster finalizes transaction.version 2, which a binary that does not know it
        // cannot run; a level-0 feature needs no support (Kafka's rule).
        let err = check_supported(&Finalized::default(), &old).expect_err("unknown feature");
        assert!(err.contains("transaction.version"), "{err}");
        assert!(check_supported(&Finalized::default(), &supported_by(1)).is_ok());
        let zero = Finalized {
            epoch: 1,
            levels: BTreeMap::from([
                (EDDY_VERSION.to_string(), 1),
                (TRANSACTION_VERSION.to_string(), 0),
            ]),
        };
        assert!(check_supported(&zero, &old).is_ok());
        assert_eq!(
            parse_supported("eddy.version=1-2"),
            Some(BTreeMap::from([(EDDY_VERSION.to_string(), (1, 2))]))
        );
    }

    #[test]
    fn releases_are_ordered_and_the_default_identity_is_the_oldest() {
        assert_eq!(identity(), V0_1_0);
        assert!(
            RELEASES
                .windows(2)
                .all(|w| w[0].eddy_version_max < w[1].eddy_version_max)
        );
        let two = Finalized {
            epoch: 1,
            levels: BTreeMap::from([(EDDY_VERSION.to_string(), 2)]),
        };
        // This test process is 0.1.0 (no override): it acts on level 1 at most.
        if std::env::var_os(SUPPORTED_OVERRIDE_ENV).is_none() {
            assert_eq!(effective_level(&two), 1);
        }
        assert_eq!(effective_level(&Finalized::default()), 1);
    }
}
