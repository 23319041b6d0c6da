//! The SLA from evidence, with no I/O: per-minute probe results, which minutes are down (only
//! those whose every probe write failed), availability over a month, and the credit the
//! invoice gives for it (the plans' terms, `billing::sla_target`: 50 % below 99.95 %).

use super::billing::{Downtime, Period, availability, sla_target};
use rust_decimal::Decimal;

/// The probe's writes in one minute of one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeMinute {
    /// Unix second at the start of the minute.
    pub minute: i64,
    pub attempts: i64,
    pub successes: i64,
}

impl ProbeMinute {
    /// Down: written to, and no write succeeded.
    pub fn is_down(&self) -> bool {
        self.attempts > 0 && self.successes == 0
    }
}

/// The start of the minute holding `ts`.
pub fn minute_of(ts: i64) -> i64 {
    ts - ts.rem_euclid(60)
}

/// Down minutes as downtime intervals, consecutive minutes merged, for the invoice.
pub fn down_intervals(cluster_id: &str, minutes: &[ProbeMinute]) -> Vec<Downtime> {
    let mut down: Vec<i64> = minutes
        .iter()
        .filter(|m| m.is_down())
        .map(|m| m.minute)
        .collect();
    down.sort_unstable();
    down.dedup();
    let mut out: Vec<Downtime> = Vec::new();
    for m in down {
        match out.last_mut() {
            Some(d) if d.ended_at == Some(m) => d.ended_at = Some(m + 60),
            _ => out.push(Downtime {
                cluster_id: cluster_id.to_string(),
                started_at: m,
                ended_at: Some(m + 60),
            }),
        }
    }
    out
}

/// A month's availability of one cluster as the probe measured it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthAvailability {
    /// Minutes of the month counted: from its start (or the cluster's creation) to its end (or
    /// now, or the cluster's deletion).
    pub minutes: i64,
    /// Minutes with at least one probe write.
    pub probed_minutes: i64,
    pub down_minutes: i64,
    /// 1 − down / minutes.
    pub availability: Decimal,
    /// The share of the month's charges credited (0 or 0.5).
    pub credit_fraction: Decimal,
}

/// The SLA credit for an availability: 50 % of the cluster's charges below the target.
pub fn credit_fraction(avail: Decimal) -> Decimal {
    if avail < sla_target() {
        Decimal::new(5, 1)
    } else {
        Decimal::ZERO
    }
}

/// Availability of `period` clipped to `[from, until)` from the probe's minutes.
pub fn month_availability(
    period: &Period,
    from: i64,
    until: i64,
    minutes: &[ProbeMinute],
) -> MonthAvailability {
    let start = period.start.max(from);
    let end = period.end.min(until);
    let counted = |m: &&ProbeMinute| m.minute >= minute_of(start) && m.minute < end;
    let probed = minutes
        .iter()
        .filter(counted)
        .filter(|m| m.attempts > 0)
        .count();
    let down = minutes
        .iter()
        .filter(counted)
        .filter(|m| m.is_down())
        .count();
    let seconds = (end - start).max(0);
    let down_secs = i64::try_from(down).unwrap_or(i64::MAX).saturating_mul(60);
    let avail = availability(seconds, down_secs);
    MonthAvailability {
        minutes: seconds / 60,
        probed_minutes: i64::try_from(probed).unwrap_or(i64::MAX),
        down_minutes: i64::try_from(down).unwrap_or(i64::MAX),
        availability: avail,
        credit_fraction: credit_fraction(avail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(minute: i64, attempts: i64, successes: i64) -> ProbeMinute {
        ProbeMinute {
            minute,
            attempts,
            successes,
        }
    }

    #[test]
    fn a_minute_is_down_only_if_every_write_failed() {
        assert!(m(0, 12, 0).is_down());
        assert!(!m(0, 12, 1).is_down());
        assert!(!m(0, 0, 0).is_down(), "no writes is no evidence");
        assert_eq!(minute_of(125), 120);
        assert_eq!(minute_of(-1), -60);
    }

    #[test]
    fn consecutive_down_minutes_become_one_interval() {
        let d = down_intervals(
            "c",
            &[
                m(0, 1, 0),
                m(60, 1, 0),
                m(120, 1, 1),
                m(180, 1, 0),
                m(240, 0, 0),
            ],
        );
        let spans: Vec<(i64, Option<i64>)> = d.iter().map(|d| (d.started_at, d.ended_at)).collect();
        assert_eq!(spans, vec![(0, Some(120)), (180, Some(240))]);
    }

    #[test]
    fn three_down_minutes_in_a_day_cost_the_credit() {
        // A 30-day month, a cluster present for one day: 1440 minutes, 3 down.
        let period = Period::month(2026, 11).unwrap();
        let from = period.start;
        let until = from + 86_400;
        let minutes: Vec<ProbeMinute> = (0..1440)
            .map(|i| {
                let ok = !(100..103).contains(&i);
                m(from + i * 60, 12, if ok { 12 } else { 0 })
            })
            .collect();
        let a = month_availability(&period, from, until, &minutes);
        assert_eq!(a.minutes, 1440);
        assert_eq!(a.probed_minutes, 1440);
        assert_eq!(a.down_minutes, 3);
        // 1 - 3/1440 = 99.79 % < 99.95 %.
        assert!(a.availability < sla_target());
        assert_eq!(a.credit_fraction, Decimal::new(5, 1));
        // Over the whole month the same 3 minutes are 99.993 %: no credit.
        let a = month_availability(&period, from, period.end, &minutes);
        assert_eq!(a.minutes, 43_200);
        assert_eq!(a.credit_fraction, Decimal::ZERO);
    }
}
