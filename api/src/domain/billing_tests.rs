//! Unit and property tests of the billing maths.

use super::*;
use proptest::prelude::*;

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal literal")
}

fn seg(cluster: &str, plan: &str, price: &str, start: i64, end: Option<i64>) -> UsageSegment {
    UsageSegment {
        cluster_id: cluster.into(),
        cluster_name: format!("{cluster}-name"),
        plan_id: plan.into(),
        dedicated: plan.starts_with("dedicated"),
        monthly_price: dec(price),
        storage_gb: 10,
        included_storage_gb: 10,
        extra_storage_price: dec("0.10"),
        started_at: start,
        ended_at: end,
    }
}

#[test]
fn calendar_months_have_their_real_lengths() {
    let day = 86_400;
    assert_eq!(Period::month(2026, 1).unwrap().seconds(), 31 * day);
    assert_eq!(Period::month(2026, 2).unwrap().seconds(), 28 * day);
    assert_eq!(Period::month(2028, 2).unwrap().seconds(), 29 * day);
    assert_eq!(Period::month(2100, 2).unwrap().seconds(), 28 * day);
    assert_eq!(Period::month(2000, 2).unwrap().seconds(), 29 * day);
    assert_eq!(Period::month(2026, 4).unwrap().seconds(), 30 * day);
    assert_eq!(
        Period::month(2026, 12).unwrap().end,
        Period::month(2027, 1).unwrap().start
    );
    assert_eq!(Period::month(1970, 1).unwrap().start, 0);
    assert!(Period::month(2026, 13).is_err());
    assert!(Period::month(2026, 0).is_err());
}

#[test]
fn containing_finds_the_month_of_an_instant() {
    let p = Period::month(2026, 3).unwrap();
    assert_eq!(Period::containing(p.start).unwrap(), p);
    assert_eq!(Period::containing(p.end - 1).unwrap(), p);
    assert_eq!(
        Period::containing(p.end).unwrap(),
        Period::month(2026, 4).unwrap()
    );
}

#[test]
fn a_full_month_costs_exactly_the_list_price() {
    let p = Period::month(2026, 2).unwrap();
    let lines = invoice_lines(&p, &[seg("c1", "shared-s", "19.99", p.start, None)], &[]);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].amount, dec("19.99"));
    assert_eq!(lines[0].quantity, Decimal::ONE);
}

#[test]
fn half_a_thirty_day_month_costs_half() {
    let p = Period::month(2026, 4).unwrap();
    let mid = p.start + p.seconds() / 2;
    let lines = invoice_lines(&p, &[seg("c1", "shared-s", "100", p.start, Some(mid))], &[]);
    assert_eq!(lines[0].amount, dec("50.00"));
}

#[test]
fn one_day_in_february_and_in_january_differ() {
    let feb = Period::month(2026, 2).unwrap();
    let jan = Period::month(2026, 1).unwrap();
    let a = invoice_lines(
        &feb,
        &[seg("c", "p", "280", feb.start, Some(feb.start + 86_400))],
        &[],
    );
    let b = invoice_lines(
        &jan,
        &[seg("c", "p", "310", jan.start, Some(jan.start + 86_400))],
        &[],
    );
    assert_eq!(a[0].amount, dec("10.00"));
    assert_eq!(b[0].amount, dec("10.00"));
}

#[test]
fn segments_outside_the_period_cost_nothing() {
    let p = Period::month(2026, 5).unwrap();
    let lines = invoice_lines(
        &p,
        &[seg("c", "p", "50", p.start - 100, Some(p.start))],
        &[],
    );
    assert!(lines.is_empty());
}

#[test]
fn a_line_is_rounded_once_half_away_from_zero() {
    assert_eq!(round_cents(dec("0.005")), dec("0.01"));
    assert_eq!(round_cents(dec("0.0049999")), dec("0.00"));
    assert_eq!(round_cents(dec("-0.005")), dec("-0.01"));
    // Three thirds of a month of 10.00, each a third: one line, 10.00, not 3 × 3.33.
    let p = Period::month(2026, 6).unwrap();
    let third = p.seconds() / 3;
    let segs = vec![
        seg("c", "p", "10", p.start, Some(p.start + third)),
        seg("c", "p", "10", p.start + third, Some(p.start + 2 * third)),
        seg("c", "p", "10", p.start + 2 * third, None),
    ];
    let lines = invoice_lines(&p, &segs, &[]);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].amount, dec("10.00"));
}

#[test]
fn a_plan_change_mid_month_bills_each_plan_for_its_part() {
    let p = Period::month(2026, 9).unwrap(); // 30 days
    let day = 86_400;
    let change = p.start + 10 * day;
    let segs = vec![
        seg("c", "shared-s", "30", p.start, Some(change)),
        seg("c", "shared-m", "60", change, None),
    ];
    let lines = invoice_lines(&p, &segs, &[]);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].amount, dec("10.00"));
    assert_eq!(lines[1].amount, dec("40.00"));
    assert_eq!(total(&lines), dec("50.00"));
}

#[test]
fn extra_storage_is_billed_in_gb_months() {
    let p = Period::month(2026, 9).unwrap();
    let mut s = seg("c", "shared-s", "30", p.start, None);
    s.storage_gb = 110; // 100 GB above the included 10
    let lines = invoice_lines(&p, &[s], &[]);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1].kind, LineKind::ExtraStorage);
    assert_eq!(lines[1].quantity, dec("100"));
    assert_eq!(lines[1].amount, dec("10.00"));
}

#[test]
fn sla_credit_below_target_for_dedicated_only() {
    let p = Period::month(2026, 9).unwrap(); // 2_592_000 s; 0.05 % = 1296 s
    let dedicated = seg("d", "dedicated-1", "1000", p.start, None);
    let shared = seg("s", "shared-s", "100", p.start, None);
    let down = |c: &str, secs| Downtime {
        cluster_id: c.into(),
        started_at: p.start + 1000,
        ended_at: Some(p.start + 1000 + secs),
    };
    // Exactly at the target: no credit.
    let lines = invoice_lines(&p, std::slice::from_ref(&dedicated), &[down("d", 1296)]);
    assert_eq!(lines.len(), 1);
    // One second below: 50 % credit.
    let lines = invoice_lines(
        &p,
        &[dedicated, shared],
        &[down("d", 1297), down("s", 99_999)],
    );
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1].kind, LineKind::SlaCredit);
    assert_eq!(lines[1].amount, dec("-500.00"));
    assert_eq!(total(&lines), dec("600.00"));
}

#[test]
fn downtime_outside_billed_time_does_not_count() {
    let p = Period::month(2026, 9).unwrap();
    let s = seg("d", "dedicated-1", "1000", p.start + 86_400, None);
    let before = Downtime {
        cluster_id: "d".into(),
        started_at: p.start,
        ended_at: Some(p.start + 86_400),
    };
    assert_eq!(invoice_lines(&p, &[s], &[before]).len(), 1);
}

#[test]
fn open_downtime_counts_until_the_end_of_the_period() {
    let p = Period::month(2026, 9).unwrap();
    let s = seg("d", "dedicated-1", "1000", p.start, None);
    let open = Downtime {
        cluster_id: "d".into(),
        started_at: p.end - 2000,
        ended_at: None,
    };
    let lines = invoice_lines(&p, &[s], &[open]);
    assert_eq!(lines.last().map(|l| l.kind), Some(LineKind::SlaCredit));
}

#[test]
fn availability_is_one_without_billed_time() {
    assert_eq!(availability(0, 10), Decimal::ONE);
    assert_eq!(availability(100, 1), dec("0.99"));
    assert_eq!(availability(100, 1000), Decimal::ZERO);
}

#[test]
fn payment_terms_due_dates() {
    assert_eq!(PaymentTerms::Card.due_at(100), 100);
    assert_eq!(PaymentTerms::WireNet15.due_at(0), 1_296_000);
    assert_eq!(
        PaymentTerms::parse("wire_net15"),
        Some(PaymentTerms::WireNet15)
    );
    assert_eq!(
        PaymentTerms::parse(PaymentTerms::Card.as_str()),
        Some(PaymentTerms::Card)
    );
    assert_eq!(PaymentTerms::parse("cash"), None);
}

#[test]
fn credit_notes_never_exceed_what_is_left() {
    let line = credit_note_line(dec("100"), dec("30"), dec("70"), "goodwill").unwrap();
    assert_eq!(line.amount, dec("-70.00"));
    assert!(matches!(
        credit_note_line(dec("100"), dec("30"), dec("70.01"), "x"),
        Err(BillingError::CreditExceedsInvoice { .. })
    ));
    assert_eq!(
        credit_note_line(dec("100"), dec("0"), dec("0"), "x"),
        Err(BillingError::NonPositiveCredit)
    );
    assert_eq!(
        credit_note_line(dec("100"), dec("0"), dec("-1"), "x"),
        Err(BillingError::NonPositiveCredit)
    );
}

fn price() -> impl Strategy<Value = Decimal> {
    (1i64..10_000_000).prop_map(|cents| Decimal::new(cents, 2))
}

fn month() -> impl Strategy<Value = Period> {
    (1970i32..2200, 1u8..=12).prop_map(|(y, m)| Period::month(y, m).expect("valid month"))
}

proptest! {
    #[test]
    fn full_month_of_one_plan_is_its_list_price(p in month(), price in price(), early in 0i64..10_000_000) {
        // Started any time before the month and still running (or ended after it).
        let s = seg("c", "shared", "1", p.start - early, None);
        let s = UsageSegment { monthly_price: price, ..s };
        let lines = invoice_lines(&p, std::slice::from_ref(&s), &[]);
        prop_assert_eq!(total(&lines), price);
        let ended = UsageSegment { ended_at: Some(p.end + early), ..s };
        prop_assert_eq!(total(&invoice_lines(&p, &[ended], &[])), price);
    }

    #[test]
    fn splitting_segments_never_changes_the_invoice(
        p in month(), price in price(), gb in 0i64..2000,
        cuts in proptest::collection::vec(0f64..1.0, 0..12),
        start_frac in 0f64..0.5, end_frac in 0.5f64..1.0,
    ) {
        let secs = p.seconds() as f64;
        let start = p.start + (secs * start_frac) as i64;
        let end = p.start + (secs * end_frac) as i64;
        let mut whole = seg("c", "shared", "1", start, Some(end));
        whole.monthly_price = price;
        whole.storage_gb = whole.included_storage_gb + gb;
        let mut points: Vec<i64> = cuts.iter().map(|f| start + ((end - start) as f64 * f) as i64).collect();
        points.push(start);
        points.push(end);
        points.sort_unstable();
        points.dedup();
        let parts: Vec<UsageSegment> = points.windows(2).map(|w| UsageSegment {
            started_at: w[0], ended_at: Some(w[1]), ..whole.clone()
        }).collect();
        let a = invoice_lines(&p, &[whole], &[]);
        let b = invoice_lines(&p, &parts, &[]);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn a_month_split_into_consecutive_plans_adds_up_to_within_a_cent_per_line(
        p in month(), a in price(), b in price(), frac in 0.0f64..1.0,
    ) {
        let cut = p.start + (p.seconds() as f64 * frac) as i64;
        let segs = vec![
            UsageSegment { monthly_price: a, ..seg("c", "one", "1", p.start, Some(cut)) },
            UsageSegment { monthly_price: b, ..seg("c", "two", "1", cut, None) },
        ];
        let lines = invoice_lines(&p, &segs, &[]);
        let exact = prorate(a, cut - p.start, p.seconds()) + prorate(b, p.end - cut, p.seconds());
        let diff = (total(&lines) - exact).abs();
        prop_assert!(diff <= Decimal::new(5, 3) * Decimal::from(lines.len() as i64));
        for l in &lines {
            prop_assert_eq!(l.amount, round_cents(l.amount));
            prop_assert!(l.amount >= Decimal::ZERO);
        }
    }

    #[test]
    fn charges_are_monotonic_in_time_used(p in month(), price in price(), x in 0i64..3_000_000, y in 0i64..3_000_000) {
        let (lo, hi) = (x.min(y), x.max(y));
        let cost = |secs: i64| total(&invoice_lines(&p, &[UsageSegment { monthly_price: price, ..seg("c", "p", "1", p.start, Some(p.start + secs)) }], &[]));
        prop_assert!(cost(lo) <= cost(hi));
        prop_assert!(cost(hi) <= price);
    }

    #[test]
    fn sla_credit_is_half_of_the_clusters_charges(p in month(), price in price(), down in 0i64..100_000) {
        let s = UsageSegment { monthly_price: price, ..seg("d", "dedicated-x", "1", p.start, None) };
        let d = Downtime { cluster_id: "d".into(), started_at: p.start, ended_at: Some(p.start + down) };
        let lines = invoice_lines(&p, &[s], &[d]);
        let below = availability(p.seconds(), down) < sla_target();
        prop_assert_eq!(lines.len(), if below { 2 } else { 1 });
        if below {
            prop_assert_eq!(lines[1].amount, -round_cents(price * Decimal::new(5, 1)));
        }
    }
}
