//! Billing maths, pure and I/O-free: usage segments pro-rated against the real calendar month,
//! extra storage in GB-months, SLA credits, invoices and credit notes in exact decimals.
//!
//! Rules (see `api/README.md`, "Billing"):
//! - A usage segment is one interval, with second precision, during which a cluster ran one
//!   priced configuration (plan, monthly price, storage). Segments are opened when a cluster first
//!   becomes active and closed/reopened on every priced change; a failed create never opens one.
//! - A month's charge for a configuration is `monthly_price × seconds_used / seconds_in_month`,
//!   where the month is the real calendar month (28–31 days, UTC). Seconds of the same cluster and
//!   configuration are added up before multiplying, and each invoice line is rounded once, to cents,
//!   half away from zero. Splitting a segment therefore never changes an invoice.
//! - Storage above the plan's included storage costs `extra_storage_price` per GB-month.
//! - A dedicated cluster whose monthly availability falls below 99.95 % gets a credit of 50 % of
//!   that cluster's charges for the month.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// Errors of the billing maths.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BillingError {
    #[error("invalid billing period {year}-{month:02}")]
    InvalidPeriod { year: i32, month: u8 },
    #[error("credit note amount must be positive")]
    NonPositiveCredit,
    #[error("credit note of {requested} exceeds the {remaining} left to credit on the invoice")]
    CreditExceedsInvoice {
        requested: Decimal,
        remaining: Decimal,
    },
}

/// Result alias of the billing maths.
pub type Result<T, E = BillingError> = std::result::Result<T, E>;

/// A calendar month in UTC, as half-open unix-second bounds `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub year: i32,
    pub month: u8,
    pub start: i64,
    pub end: i64,
}

impl Period {
    /// The calendar month `year-month` (month 1–12).
    pub fn month(year: i32, month: u8) -> Result<Self> {
        let invalid = || BillingError::InvalidPeriod { year, month };
        let m = Month::try_from(month).map_err(|_| invalid())?;
        let first = Date::from_calendar_date(year, m, 1).map_err(|_| invalid())?;
        let next = if m == Month::December {
            Date::from_calendar_date(year + 1, Month::January, 1)
        } else {
            Date::from_calendar_date(year, m.next(), 1)
        }
        .map_err(|_| invalid())?;
        let ts = |d: Date| {
            PrimitiveDateTime::new(d, Time::MIDNIGHT)
                .assume_utc()
                .unix_timestamp()
        };
        Ok(Self {
            year,
            month,
            start: ts(first),
            end: ts(next),
        })
    }

    /// The calendar month containing the unix second `at`.
    pub fn containing(at: i64) -> Result<Self> {
        let dt = OffsetDateTime::from_unix_timestamp(at)
            .map_err(|_| BillingError::InvalidPeriod { year: 0, month: 0 })?;
        Self::month(dt.year(), u8::from(dt.month()))
    }

    /// Seconds in this month (2_419_200 for 28 days up to 2_678_400 for 31 days).
    pub fn seconds(&self) -> i64 {
        self.end - self.start
    }

    /// The overlap in seconds of `[from, to)` (open-ended when `to` is `None`) with this month.
    pub fn overlap(&self, from: i64, to: Option<i64>) -> i64 {
        let lo = from.max(self.start);
        let hi = to.unwrap_or(i64::MAX).min(self.end);
        (hi - lo).max(0)
    }
}

/// One priced interval of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageSegment {
    pub cluster_id: String,
    pub cluster_name: String,
    pub plan_id: String,
    /// Whether the plan is a dedicated tier (SLA credits apply).
    pub dedicated: bool,
    pub monthly_price: Decimal,
    pub storage_gb: i64,
    pub included_storage_gb: i64,
    /// Price of one GB-month above the included storage.
    pub extra_storage_price: Decimal,
    pub started_at: i64,
    /// `None` while the segment is still open.
    pub ended_at: Option<i64>,
}

/// Unavailability recorded for one cluster: `[started_at, ended_at)` intervals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downtime {
    pub cluster_id: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}

/// What an invoice line charges for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Plan,
    ExtraStorage,
    SlaCredit,
    CreditNote,
}

/// One line of an invoice or credit note; `amount` is rounded to cents, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceLine {
    pub kind: LineKind,
    pub description: String,
    pub cluster_id: Option<String>,
    /// Plan lines: months used (seconds / seconds in month); storage lines: GB-months.
    #[schema(value_type = String)]
    pub quantity: Decimal,
    #[schema(value_type = String)]
    pub unit_price: Decimal,
    #[schema(value_type = String)]
    pub amount: Decimal,
}

/// The SLA target for dedicated clusters, as a fraction.
pub fn sla_target() -> Decimal {
    Decimal::new(9995, 4)
}

/// Rounds to cents, half away from zero: the single rounding step of every line.
pub fn round_cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// `numerator / denominator` as an exact-as-possible decimal ratio (28 significant digits).
fn ratio(numerator: i64, denominator: i64) -> Decimal {
    Decimal::from(numerator) / Decimal::from(denominator)
}

/// Pro-rates a monthly price over `seconds` of a month of `month_seconds`, unrounded.
/// Multiplies before dividing so that a full month is exactly the list price.
pub fn prorate(monthly_price: Decimal, seconds: i64, month_seconds: i64) -> Decimal {
    monthly_price * Decimal::from(seconds) / Decimal::from(month_seconds)
}

/// Computes the invoice lines of `period` from usage segments and recorded downtime.
///
/// Lines are grouped per cluster and priced configuration, in the order clusters first appear.
pub fn invoice_lines(
    period: &Period,
    segments: &[UsageSegment],
    downtime: &[Downtime],
) -> Vec<InvoiceLine> {
    let month = period.seconds();
    // (cluster, plan, price) -> seconds; (cluster, extra price) -> GB-seconds, kept in order.
    let mut plan_use: Vec<(&UsageSegment, i64)> = Vec::new();
    let mut storage_use: Vec<(&UsageSegment, i64)> = Vec::new();
    let mut cluster_order: Vec<&str> = Vec::new();
    for seg in segments {
        let secs = period.overlap(seg.started_at, seg.ended_at);
        if secs == 0 {
            continue;
        }
        if !cluster_order.contains(&seg.cluster_id.as_str()) {
            cluster_order.push(&seg.cluster_id);
        }
        match plan_use.iter_mut().find(|(s, _)| {
            s.cluster_id == seg.cluster_id
                && s.plan_id == seg.plan_id
                && s.monthly_price == seg.monthly_price
        }) {
            Some((_, total)) => *total += secs,
            None => plan_use.push((seg, secs)),
        }
        let extra_gb = (seg.storage_gb - seg.included_storage_gb).max(0);
        if extra_gb > 0 {
            let gb_secs = extra_gb * secs;
            match storage_use.iter_mut().find(|(s, _)| {
                s.cluster_id == seg.cluster_id && s.extra_storage_price == seg.extra_storage_price
            }) {
                Some((_, total)) => *total += gb_secs,
                None => storage_use.push((seg, gb_secs)),
            }
        }
    }

    let mut lines = Vec::new();
    for cluster in cluster_order {
        let start = lines.len();
        for (seg, secs) in plan_use.iter().filter(|(s, _)| s.cluster_id == cluster) {
            lines.push(InvoiceLine {
                kind: LineKind::Plan,
                description: format!("{} on plan {}", seg.cluster_name, seg.plan_id),
                cluster_id: Some(seg.cluster_id.clone()),
                quantity: ratio(*secs, month),
                unit_price: seg.monthly_price,
                amount: round_cents(prorate(seg.monthly_price, *secs, month)),
            });
        }
        for (seg, gb_secs) in storage_use.iter().filter(|(s, _)| s.cluster_id == cluster) {
            lines.push(InvoiceLine {
                kind: LineKind::ExtraStorage,
                description: format!("{} extra storage (GB-months)", seg.cluster_name),
                cluster_id: Some(seg.cluster_id.clone()),
                quantity: ratio(*gb_secs, month),
                unit_price: seg.extra_storage_price,
                amount: round_cents(prorate(seg.extra_storage_price, *gb_secs, month)),
            });
        }
        let dedicated = segments
            .iter()
            .any(|s| s.cluster_id == cluster && s.dedicated);
        if !dedicated {
            continue;
        }
        let billed = billed_seconds(period, segments, cluster);
        let down = downtime_seconds(period, segments, downtime, cluster);
        let avail = availability(billed, down);
        if avail < sla_target() {
            let charged: Decimal = lines[start..].iter().map(|l| l.amount).sum();
            let credit = round_cents(charged * Decimal::new(5, 1));
            if credit > Decimal::ZERO {
                lines.push(InvoiceLine {
                    kind: LineKind::SlaCredit,
                    description: format!(
                        "SLA credit: availability {}% below {}%",
                        (avail * Decimal::ONE_HUNDRED).round_dp(3).normalize(),
                        (sla_target() * Decimal::ONE_HUNDRED).normalize()
                    ),
                    cluster_id: Some(cluster.to_string()),
                    quantity: Decimal::ONE,
                    unit_price: -credit,
                    amount: -credit,
                });
            }
        }
    }
    lines
}

/// Seconds of `period` during which `cluster` was billed (union of its segments).
fn billed_seconds(period: &Period, segments: &[UsageSegment], cluster: &str) -> i64 {
    let spans: Vec<(i64, Option<i64>)> = segments
        .iter()
        .filter(|s| s.cluster_id == cluster)
        .map(|s| (s.started_at, s.ended_at))
        .collect();
    union_overlap(period, &spans)
}

/// Seconds of `period` during which `cluster` was billed *and* recorded as unavailable.
fn downtime_seconds(
    period: &Period,
    segments: &[UsageSegment],
    downtime: &[Downtime],
    cluster: &str,
) -> i64 {
    let mut spans = Vec::new();
    for d in downtime.iter().filter(|d| d.cluster_id == cluster) {
        for s in segments.iter().filter(|s| s.cluster_id == cluster) {
            let lo = d.started_at.max(s.started_at);
            let hi = match (d.ended_at, s.ended_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if hi.is_none_or(|h| h > lo) {
                spans.push((lo, hi));
            }
        }
    }
    union_overlap(period, &spans)
}

/// Length of the union of intervals, clipped to the period.
fn union_overlap(period: &Period, spans: &[(i64, Option<i64>)]) -> i64 {
    let mut clipped: Vec<(i64, i64)> = spans
        .iter()
        .map(|&(a, b)| (a.max(period.start), b.unwrap_or(i64::MAX).min(period.end)))
        .filter(|(a, b)| b > a)
        .collect();
    clipped.sort_unstable();
    let mut total = 0;
    let mut cur: Option<(i64, i64)> = None;
    for (a, b) in clipped {
        cur = match cur {
            Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((ca, cb)) = cur {
        total += cb - ca;
    }
    total
}

/// Availability as a fraction: 1 when nothing was billed.
pub fn availability(billed_seconds: i64, down_seconds: i64) -> Decimal {
    if billed_seconds <= 0 {
        return Decimal::ONE;
    }
    Decimal::ONE - ratio(down_seconds.min(billed_seconds), billed_seconds)
}

/// How an invoice is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentTerms {
    /// Charged to the card on file when issued: due at once.
    Card,
    /// Bank transfer, due 15 days after issue.
    WireNet15,
}

impl PaymentTerms {
    /// The due date of a document issued at `issued_at`.
    pub fn due_at(self, issued_at: i64) -> i64 {
        match self {
            Self::Card => issued_at,
            Self::WireNet15 => issued_at + 15 * 86_400,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Card => "card",
            Self::WireNet15 => "wire_net15",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "card" => Some(Self::Card),
            "wire_net15" => Some(Self::WireNet15),
            _ => None,
        }
    }
}

/// Total of an invoice or credit note: the sum of its already rounded lines.
pub fn total(lines: &[InvoiceLine]) -> Decimal {
    lines.iter().map(|l| l.amount).sum()
}

/// Builds the single line of a credit note against an invoice of `invoice_total` that has
/// already been credited `already_credited` (a positive sum).
pub fn credit_note_line(
    invoice_total: Decimal,
    already_credited: Decimal,
    amount: Decimal,
    reason: &str,
) -> Result<InvoiceLine> {
    let amount = round_cents(amount);
    if amount <= Decimal::ZERO {
        return Err(BillingError::NonPositiveCredit);
    }
    let remaining = invoice_total - already_credited;
    if amount > remaining {
        return Err(BillingError::CreditExceedsInvoice {
            requested: amount,
            remaining,
        });
    }
    Ok(InvoiceLine {
        kind: LineKind::CreditNote,
        description: reason.to_string(),
        cluster_id: None,
        quantity: Decimal::ONE,
        unit_price: -amount,
        amount: -amount,
    })
}

#[cfg(test)]
#[path = "billing_tests.rs"]
mod tests;
