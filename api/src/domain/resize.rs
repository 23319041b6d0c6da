//! What a resize will do, before it is confirmed (pure): which brokers are added or drained,
//! about how many bytes move, and the monthly price before and after with the pro-rated change
//! for the rest of the month — the preview MSK and CloudKarafka show before a plan change.
//!
//! Brokers are StatefulSet ordinals: a larger plan adds the next ones, a smaller plan drains
//! the highest ones (the operator moves every replica they hold before it removes them). Bytes
//! are estimated from the cluster's disk use as last sampled, assuming brokers hold equal
//! shares (the operator's scale-up balance and scale-down drain both aim for that): a drain
//! moves everything the drained brokers hold; a scale-up moves the new brokers' fair share.

use rust_decimal::Decimal;
use serde::Serialize;

use super::billing::{Period, prorate, round_cents};
use super::plans::Plan;

/// The preview of a resize.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ResizePreview {
    pub from_plan: String,
    pub to_plan: String,
    pub brokers_before: i64,
    pub brokers_after: i64,
    /// Broker ids that will be added.
    pub brokers_added: Vec<i64>,
    /// Broker ids that will be drained (every replica moved off) and removed.
    pub brokers_drained: Vec<i64>,
    pub storage_gb_before: i64,
    pub storage_gb_after: i64,
    /// Bytes the operator will move between brokers (estimate); absent when the cluster's disk
    /// use has not been sampled yet.
    pub estimated_bytes_to_move: Option<u64>,
    /// Monthly price (plan plus extra storage) now and after the resize.
    #[schema(value_type = String)]
    pub monthly_price_before: Decimal,
    #[schema(value_type = String)]
    pub monthly_price_after: Decimal,
    /// Change of this month's charge if the resize completed now (negative: a lower charge).
    #[schema(value_type = String)]
    pub prorated_change_this_month: Decimal,
}

/// The monthly price of `plan` with `storage_gb` at unix second `at`.
#[must_use]
pub fn monthly_price(plan: &Plan, storage_gb: i64, at: i64) -> Decimal {
    let extra = (storage_gb - plan.included_storage_gb).max(0);
    plan.price_at(at) + plan.extra_storage_price_gb_month * Decimal::from(extra)
}

/// The preview of resizing from `(from, storage_before)` to `(to, storage_after)` at `now`, in
/// `period` (the current month), with the cluster's `disk_used_bytes` (sum over its brokers)
/// if known. The resize itself is checked by `plans::check_resize`.
#[must_use]
pub fn preview(
    from: &Plan,
    to: &Plan,
    storage_before: i64,
    storage_after: i64,
    now: i64,
    period: &Period,
    disk_used_bytes: Option<u64>,
) -> ResizePreview {
    let (before, after) = (from.brokers, to.brokers);
    let brokers_added: Vec<i64> = (before..after).collect();
    let brokers_drained: Vec<i64> = (after..before).collect();
    let moved_brokers = if after > before {
        after - before
    } else {
        before - after
    };
    let estimated_bytes_to_move = disk_used_bytes.map(|used| {
        // Equal shares: a drain moves what the drained brokers hold (their share of the old
        // count), a scale-up what the new brokers should hold (their share of the new count).
        let over = before.max(after).max(1);
        let share = u128::from(used) * u128::try_from(moved_brokers).unwrap_or(0)
            / u128::try_from(over).unwrap_or(1);
        u64::try_from(share).unwrap_or(u64::MAX)
    });
    let monthly_price_before = monthly_price(from, storage_before, now);
    let monthly_price_after = monthly_price(to, storage_after, now);
    let remaining = (period.end - now).clamp(0, period.seconds());
    let prorated_change_this_month = round_cents(prorate(
        monthly_price_after - monthly_price_before,
        remaining,
        period.seconds(),
    ));
    ResizePreview {
        from_plan: from.id.clone(),
        to_plan: to.id.clone(),
        brokers_before: before,
        brokers_after: after,
        brokers_added,
        brokers_drained,
        storage_gb_before: storage_before,
        storage_gb_after: storage_after,
        estimated_bytes_to_move,
        monthly_price_before,
        monthly_price_after,
        prorated_change_this_month,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plans::{PlanLimits, PlanPrice, Tier};

    fn plan(id: &str, brokers: i64, monthly: i64) -> Plan {
        Plan {
            id: id.into(),
            name: id.into(),
            tier: Tier::Dedicated,
            brokers,
            included_storage_gb: 100,
            max_storage_gb: 1000,
            extra_storage_price_gb_month: Decimal::new(10, 2),
            limits: PlanLimits {
                max_partitions: 100,
                max_topics: 10,
                max_connections: 100,
                ingress_bytes_per_sec: 1,
                egress_bytes_per_sec: 1,
                max_retention_hours: 1,
            },
            features: vec![],
            prices: vec![PlanPrice {
                effective_from: "2020-01-01T00:00:00Z".into(),
                monthly: Decimal::from(monthly),
            }],
            transitions: vec![],
        }
    }

    #[test]
    fn a_smaller_plan_drains_the_highest_brokers_and_moves_what_they_hold() {
        let period = Period::month(2026, 11).expect("period");
        let mid = period.start + period.seconds() / 2;
        let p = preview(
            &plan("dedicated-2", 5, 1000),
            &plan("dedicated-1", 3, 600),
            150,
            150,
            mid,
            &period,
            Some(5_000),
        );
        assert_eq!(p.brokers_drained, [3, 4]);
        assert!(p.brokers_added.is_empty());
        assert_eq!(p.estimated_bytes_to_move, Some(2_000));
        // 50 GB above the included 100 at 0.10 each.
        assert_eq!(p.monthly_price_before, Decimal::new(1005, 0));
        assert_eq!(p.monthly_price_after, Decimal::new(605, 0));
        // Half of November is left: half of the 400 less.
        assert_eq!(p.prorated_change_this_month, Decimal::new(-200, 0));
    }

    #[test]
    fn a_larger_plan_adds_the_next_brokers_and_moves_their_fair_share() {
        let period = Period::month(2026, 12).expect("period");
        let p = preview(
            &plan("dedicated-1", 3, 600),
            &plan("dedicated-2", 5, 1000),
            100,
            200,
            period.end,
            &period,
            Some(5_000),
        );
        assert_eq!(p.brokers_added, [3, 4]);
        assert!(p.brokers_drained.is_empty());
        assert_eq!(p.estimated_bytes_to_move, Some(2_000));
        assert_eq!(p.storage_gb_after, 200);
        // Nothing left of the month: no change this month.
        assert_eq!(p.prorated_change_this_month, Decimal::ZERO);
        let unknown = preview(
            &plan("a", 3, 1),
            &plan("b", 3, 1),
            100,
            100,
            period.start,
            &period,
            None,
        );
        assert_eq!(unknown.estimated_bytes_to_move, None);
    }
}
