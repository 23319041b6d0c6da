//! The plans catalog as data: parsing the versioned catalog file and the pure rules for which
//! plan changes, storage sizes and version upgrades are allowed.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Errors of the catalog and of plan-change rules.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("parse plans catalog: {0}")]
    Parse(String),
    #[error("invalid plans catalog: {0}")]
    Invalid(String),
    #[error("unknown plan {0}")]
    UnknownPlan(String),
    #[error("plan {from} cannot change to {to} in place: {why}")]
    Transition {
        from: String,
        to: String,
        why: &'static str,
    },
    #[error("storage never shrinks: {current} GB requested {requested} GB")]
    StorageShrink { current: i64, requested: i64 },
    #[error("storage {requested} GB outside the plan's range {min}-{max} GB")]
    StorageRange { requested: i64, min: i64, max: i64 },
    #[error("unknown version {0}")]
    UnknownVersion(String),
    #[error(
        "version {to} is not newer than {from}: downgrades are refused (once the upgrade is \
         finalized, the brokers may have written what an older version cannot read)"
    )]
    Downgrade { from: String, to: String },
    #[error("plan limit: {0}")]
    Limit(String),
    #[error("unknown region {0}")]
    UnknownRegion(String),
}

/// Shared (multi-tenant limits on a small footprint) or dedicated (own brokers, SLA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Shared,
    Dedicated,
}

impl Tier {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shared => "shared",
            Self::Dedicated => "dedicated",
        }
    }
}

/// Limits enforced by the brokers (quotas) and by the API (topics, partitions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    pub max_partitions: i64,
    pub max_topics: i64,
    pub max_connections: i64,
    pub ingress_bytes_per_sec: i64,
    pub egress_bytes_per_sec: i64,
    pub max_retention_hours: i64,
}

/// One entry of a plan's price history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanPrice {
    /// RFC 3339 instant from which this price applies.
    pub effective_from: String,
    #[schema(value_type = String)]
    pub monthly: Decimal,
}

/// A plan as written in the catalog file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub id: String,
    pub name: String,
    pub tier: Tier,
    pub brokers: i64,
    pub included_storage_gb: i64,
    pub max_storage_gb: i64,
    #[schema(value_type = String)]
    pub extra_storage_price_gb_month: Decimal,
    pub limits: PlanLimits,
    #[serde(default)]
    pub features: Vec<String>,
    /// Price history, oldest first.
    pub prices: Vec<PlanPrice>,
    /// Plans this one may be resized to in place.
    #[serde(default)]
    pub transitions: Vec<String>,
}

/// A region: where clusters run (a Kubernetes namespace, optionally a kube context).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub id: String,
    pub namespace: String,
    #[serde(default)]
    pub context: Option<String>,
}

/// The whole catalog file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Catalog format and content version; bumped on every change.
    pub version: i64,
    /// Broker versions clusters may run, oldest first.
    pub versions: Vec<String>,
    pub regions: Vec<Region>,
    pub plans: Vec<Plan>,
    /// The highest `eddy.version` feature level each version supports (non-decreasing).
    #[serde(default)]
    pub version_levels: BTreeMap<String, i16>,
}

impl Catalog {
    /// Parses and validates a catalog file.
    pub fn parse(yaml: &str) -> Result<Self, PlanError> {
        let c: Self = serde_yaml::from_str(yaml).map_err(|e| PlanError::Parse(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), PlanError> {
        let invalid = |s: String| Err(PlanError::Invalid(s));
        let ids: BTreeMap<&str, &Plan> = self.plans.iter().map(|p| (p.id.as_str(), p)).collect();
        if ids.len() != self.plans.len() {
            return invalid("duplicate plan id".into());
        }
        if self.versions.is_empty() || self.regions.is_empty() {
            return invalid("at least one version and one region are required".into());
        }
        if !self.version_levels.is_empty() {
            let mut last = 0;
            for v in &self.versions {
                match self.version_levels.get(v) {
                    Some(&level) if level >= last => last = level,
                    Some(_) => {
                        return invalid(format!(
                            "version {v} supports a lower level than an older one"
                        ));
                    }
                    None => return invalid(format!("version {v} has no entry in version_levels")),
                }
            }
        }
        for p in &self.plans {
            if p.prices.is_empty() {
                return invalid(format!("plan {} has no price", p.id));
            }
            if p.brokers < 1
                || p.included_storage_gb < 1
                || p.max_storage_gb < p.included_storage_gb
            {
                return invalid(format!("plan {} has inconsistent sizes", p.id));
            }
            let mut last = i64::MIN;
            for price in &p.prices {
                let at = parse_rfc3339(&price.effective_from)
                    .ok_or_else(|| PlanError::Invalid(format!("plan {} bad date", p.id)))?;
                if at <= last || price.monthly < Decimal::ZERO {
                    return invalid(format!("plan {} price history out of order", p.id));
                }
                last = at;
            }
            // Every plan must give its clusters a listener, secure unless it opts out.
            crate::domain::security::cluster_security(&p.id, &p.features)
                .map_err(|e| PlanError::Invalid(e.to_string()))?;
            for t in &p.transitions {
                let target = ids
                    .get(t.as_str())
                    .ok_or_else(|| PlanError::UnknownPlan(t.clone()))?;
                if target.tier != p.tier {
                    return invalid(format!(
                        "plan {} lists a cross-tier transition to {t}",
                        p.id
                    ));
                }
            }
        }
        Ok(())
    }

    /// Looks a plan up by id.
    pub fn plan(&self, id: &str) -> Result<&Plan, PlanError> {
        self.plans
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| PlanError::UnknownPlan(id.into()))
    }

    /// Looks a region up by id.
    pub fn region(&self, id: &str) -> Result<&Region, PlanError> {
        self.regions
            .iter()
            .find(|r| r.id == id)
            .ok_or_else(|| PlanError::UnknownRegion(id.into()))
    }

    /// The newest broker version: the default for new clusters.
    pub fn latest_version(&self) -> &str {
        self.versions.last().map_or("", String::as_str)
    }

    /// Checks an in-place upgrade from `from` to `to`: known and strictly newer.
    pub fn check_upgrade(&self, from: &str, to: &str) -> Result<(), PlanError> {
        let pos = |v: &str| self.versions.iter().position(|x| x == v);
        let to_pos = pos(to).ok_or_else(|| PlanError::UnknownVersion(to.into()))?;
        match pos(from) {
            Some(f) if to_pos <= f => Err(PlanError::Downgrade {
                from: from.into(),
                to: to.into(),
            }),
            _ => Ok(()),
        }
    }
}

impl Plan {
    /// The monthly price in force at unix second `at` (the first price if `at` precedes all).
    pub fn price_at(&self, at: i64) -> Decimal {
        self.prices
            .iter()
            .rev()
            .find(|p| parse_rfc3339(&p.effective_from).is_some_and(|from| from <= at))
            .or(self.prices.first())
            .map_or(Decimal::ZERO, |p| p.monthly)
    }

    /// Checks a requested storage size for a new cluster on this plan.
    pub fn check_storage(&self, gb: i64) -> Result<(), PlanError> {
        if gb < self.included_storage_gb || gb > self.max_storage_gb {
            return Err(PlanError::StorageRange {
                requested: gb,
                min: self.included_storage_gb,
                max: self.max_storage_gb,
            });
        }
        Ok(())
    }
}

/// Checks a new topic against the plan: topic count, total partitions, retention, replicas.
/// `existing_partitions` lists the partitions of the cluster's current topics.
pub fn check_topic(
    plan: &Plan,
    existing_partitions: &[i64],
    partitions: i64,
    replicas: i64,
    retention_hours: i64,
) -> Result<(), PlanError> {
    let limit = |s: String| Err(PlanError::Limit(s));
    if partitions < 1 || replicas < 1 || retention_hours < 1 {
        return limit("partitions, replicas and retention_hours must be at least 1".into());
    }
    if i64::try_from(existing_partitions.len()).unwrap_or(i64::MAX) >= plan.limits.max_topics {
        return limit(format!("the plan allows {} topics", plan.limits.max_topics));
    }
    let total: i64 = existing_partitions.iter().sum::<i64>() + partitions;
    if total > plan.limits.max_partitions {
        return limit(format!(
            "{total} partitions exceed the plan's {}",
            plan.limits.max_partitions
        ));
    }
    if replicas > plan.brokers {
        return limit(format!(
            "replicas {replicas} exceed the plan's {} brokers",
            plan.brokers
        ));
    }
    if retention_hours > plan.limits.max_retention_hours {
        return limit(format!(
            "retention exceeds the plan's {} hours",
            plan.limits.max_retention_hours
        ));
    }
    Ok(())
}

/// Checks an in-place resize from `(from, current_gb)` to `(to, requested_gb)`.
pub fn check_resize(
    from: &Plan,
    to: &Plan,
    current_gb: i64,
    requested_gb: i64,
) -> Result<(), PlanError> {
    if from.tier != to.tier {
        return Err(PlanError::Transition {
            from: from.id.clone(),
            to: to.id.clone(),
            why: "moving between shared and dedicated tiers needs a new cluster",
        });
    }
    if from.id != to.id && !from.transitions.contains(&to.id) {
        return Err(PlanError::Transition {
            from: from.id.clone(),
            to: to.id.clone(),
            why: "not an allowed transition of this plan",
        });
    }
    if requested_gb < current_gb {
        return Err(PlanError::StorageShrink {
            current: current_gb,
            requested: requested_gb,
        });
    }
    if requested_gb > to.max_storage_gb {
        return Err(PlanError::StorageRange {
            requested: requested_gb,
            min: current_gb,
            max: to.max_storage_gb,
        });
    }
    Ok(())
}

/// Parses an RFC 3339 instant to unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = include_str!("../../plans/catalog.yaml");

    fn catalog() -> Catalog {
        Catalog::parse(CATALOG).expect("shipped catalog parses")
    }

    #[test]
    fn shipped_catalog_is_valid_and_has_both_tiers() {
        let c = catalog();
        assert!(c.plans.iter().any(|p| p.tier == Tier::Shared));
        assert!(c.plans.iter().any(|p| p.tier == Tier::Dedicated));
    }

    #[test]
    fn cross_tier_resize_is_refused() {
        let c = catalog();
        let shared = c.plans.iter().find(|p| p.tier == Tier::Shared).unwrap();
        let dedicated = c.plans.iter().find(|p| p.tier == Tier::Dedicated).unwrap();
        let e = check_resize(
            shared,
            dedicated,
            shared.included_storage_gb,
            dedicated.included_storage_gb,
        );
        assert!(matches!(e, Err(PlanError::Transition { .. })));
    }

    #[test]
    fn storage_never_shrinks() {
        let c = catalog();
        let p = &c.plans[0];
        assert!(check_resize(p, p, 50, 50).is_ok());
        assert_eq!(
            check_resize(p, p, 50, 49),
            Err(PlanError::StorageShrink {
                current: 50,
                requested: 49
            })
        );
    }

    #[test]
    fn listed_transitions_are_allowed_others_not() {
        let c = catalog();
        for from in &c.plans {
            for to in c
                .plans
                .iter()
                .filter(|t| t.tier == from.tier && t.id != from.id)
            {
                let r = check_resize(
                    from,
                    to,
                    from.included_storage_gb,
                    to.included_storage_gb.max(from.included_storage_gb),
                );
                assert_eq!(
                    r.is_ok(),
                    from.transitions.contains(&to.id),
                    "{} -> {}",
                    from.id,
                    to.id
                );
            }
        }
    }

    #[test]
    fn the_catalog_lists_each_version_with_its_feature_level() {
        let c = catalog();
        assert_eq!(c.versions, ["0.1.0", "0.2.0"]);
        assert_eq!(c.version_levels["0.1.0"], 1);
        assert_eq!(c.version_levels["0.2.0"], 2);
        let lower = Catalog {
            version_levels: BTreeMap::from([("0.1.0".into(), 2), ("0.2.0".into(), 1)]),
            ..catalog()
        };
        assert!(matches!(lower.validate(), Err(PlanError::Invalid(_))));
        let missing = Catalog {
            version_levels: BTreeMap::from([("0.1.0".into(), 1)]),
            ..catalog()
        };
        assert!(matches!(missing.validate(), Err(PlanError::Invalid(_))));
    }

    #[test]
    fn upgrades_only_go_forward() {
        let c = Catalog {
            versions: vec!["0.1.0".into(), "0.2.0".into()],
            ..catalog()
        };
        assert!(c.check_upgrade("0.1.0", "0.2.0").is_ok());
        assert!(matches!(
            c.check_upgrade("0.2.0", "0.1.0"),
            Err(PlanError::Downgrade { .. })
        ));
        assert!(matches!(
            c.check_upgrade("0.2.0", "0.2.0"),
            Err(PlanError::Downgrade { .. })
        ));
        assert!(matches!(
            c.check_upgrade("0.1.0", "9.9.9"),
            Err(PlanError::UnknownVersion(_))
        ));
    }

    #[test]
    fn price_history_picks_the_price_in_force() {
        let mut p = catalog().plans[0].clone();
        p.prices = vec![
            PlanPrice {
                effective_from: "2025-01-01T00:00:00Z".into(),
                monthly: Decimal::new(10, 0),
            },
            PlanPrice {
                effective_from: "2026-01-01T00:00:00Z".into(),
                monthly: Decimal::new(12, 0),
            },
        ];
        let at = |s| parse_rfc3339(s).unwrap();
        assert_eq!(p.price_at(at("2025-06-01T00:00:00Z")), Decimal::new(10, 0));
        assert_eq!(p.price_at(at("2026-01-01T00:00:00Z")), Decimal::new(12, 0));
        assert_eq!(p.price_at(at("2020-01-01T00:00:00Z")), Decimal::new(10, 0));
    }

    #[test]
    fn topic_limits() {
        let c = catalog();
        let p = c.plan("shared-small").unwrap();
        assert!(check_topic(p, &[], 3, 1, 24).is_ok());
        assert!(
            check_topic(p, &[48], 3, 1, 24).is_err(),
            "partitions over 50"
        );
        assert!(check_topic(p, &[1; 20], 1, 1, 24).is_err(), "21st topic");
        assert!(
            check_topic(p, &[], 1, 2, 24).is_err(),
            "replicas above brokers"
        );
        assert!(
            check_topic(p, &[], 1, 1, 73).is_err(),
            "retention above 72 h"
        );
        assert!(check_topic(p, &[], 0, 1, 24).is_err());
    }

    #[test]
    fn bad_catalogs_are_rejected() {
        assert!(matches!(
            Catalog::parse("version: 1\n"),
            Err(PlanError::Parse(_))
        ));
        let mut c = catalog();
        c.plans.push(c.plans[0].clone());
        assert!(matches!(c.validate(), Err(PlanError::Invalid(_))));
    }
}
