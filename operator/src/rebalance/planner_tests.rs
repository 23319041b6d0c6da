//! Tests of the rebalance planner: worked examples and properties over generated layouts.
use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

fn at(topic: &str, partition: i32, replicas: &[i32]) -> Placement {
    Placement {
        topic: topic.into(),
        partition,
        replicas: replicas.to_vec(),
    }
}

fn apply(placements: &[Placement], moves: &[Move]) -> Vec<Placement> {
    placements
        .iter()
        .map(|p| {
            moves
                .iter()
                .find(|m| m.topic == p.topic && m.partition == p.partition)
                .map_or_else(|| p.clone(), |m| at(&m.topic, m.partition, &m.to))
        })
        .collect()
}

fn counts(placements: &[Placement], brokers: &BTreeSet<i32>, leaders: bool) -> Vec<i64> {
    let mut out: BTreeMap<i32, i64> = brokers.iter().map(|b| (*b, 0)).collect();
    for p in placements {
        let take = if leaders { 1 } else { p.replicas.len() };
        for r in p.replicas.iter().take(take) {
            if let Some(n) = out.get_mut(r) {
                *n += 1;
            }
        }
    }
    out.into_values().collect()
}

fn spread(v: &[i64]) -> i64 {
    v.iter().max().unwrap_or(&0) - v.iter().min().unwrap_or(&0)
}

#[derive(Debug, Clone)]
struct Fixture {
    placements: Vec<Placement>,
    brokers: BTreeSet<i32>,
    racks: BTreeMap<i32, String>,
    sizes: BTreeMap<(String, i32), i64>,
}

impl Fixture {
    fn run(
        &self,
        mode: RebalanceMode,
        listed: &[i32],
        goals: &[RebalanceGoal],
    ) -> Result<Plan, PlanError> {
        plan(&Request {
            placements: &self.placements,
            brokers: &self.brokers,
            racks: &self.racks,
            sizes: &self.sizes,
            frozen: &BTreeSet::new(),
            mode,
            listed,
            goals,
        })
    }
}

fn skewed() -> Fixture {
    // Every partition on broker 0 (RF 1) or 0 and 1 (RF 2): the e2e's starting point.
    let mut placements: Vec<Placement> = (0..6).map(|p| at("one", p, &[0])).collect();
    placements.extend((0..4).map(|p| at("two", p, &[0, 1])));
    Fixture {
        placements,
        brokers: [0, 1, 2].into_iter().collect(),
        racks: BTreeMap::new(),
        sizes: BTreeMap::new(),
    }
}

#[test]
fn a_full_rebalance_spreads_replicas_and_leaders_and_then_has_nothing_left_to_do() {
    let fx = skewed();
    let plan = fx.run(RebalanceMode::Full, &[], &[]).expect("plan");
    assert_eq!(plan.before.replicas_per_broker, MinMax { min: 0, max: 10 });
    assert_eq!(plan.after.replicas_per_broker, MinMax { min: 4, max: 5 });
    assert!(plan.after.leaders_per_broker.max - plan.after.leaders_per_broker.min <= 1);
    let after = apply(&fx.placements, &plan.moves);
    assert_eq!(spread(&counts(&after, &fx.brokers, false)), 1);
    // 14 replicas over 3 brokers: broker 0 gives away 5 or 6, no more.
    let replica_moves = plan
        .moves
        .iter()
        .filter(|m| {
            let mut a = m.from.clone();
            let mut b = m.to.clone();
            a.sort_unstable();
            b.sort_unstable();
            a != b
        })
        .count();
    assert!(replica_moves <= 6, "{:?}", plan.moves);
    let again = Fixture {
        placements: after,
        ..fx
    };
    assert!(
        again
            .run(RebalanceMode::Full, &[], &[])
            .expect("again")
            .moves
            .is_empty()
    );
}

#[test]
fn bad_specs_are_refused_with_a_reason() {
    let fx = skewed();
    let err = fx
        .run(RebalanceMode::RemoveBrokers, &[7], &[])
        .expect_err("unknown broker");
    assert_eq!(
        err.to_string(),
        "broker(s) [7] are not in the cluster (its brokers are [0, 1, 2])"
    );
    let err = fx
        .run(RebalanceMode::RemoveBrokers, &[1, 2], &[])
        .expect_err("RF 2 on one broker");
    assert!(
        err.to_string()
            .contains("leaves 1 broker(s) but two-0 has 2 replicas"),
        "{err}"
    );
    assert_eq!(
        fx.run(RebalanceMode::AddBrokers, &[], &[]),
        Err(PlanError::NoBrokers("add-brokers"))
    );
    assert_eq!(
        fx.run(RebalanceMode::Full, &[1], &[]),
        Err(PlanError::BrokersInFullMode)
    );
    assert_eq!(
        fx.run(
            RebalanceMode::Full,
            &[],
            &[RebalanceGoal::LeaderCount, RebalanceGoal::LeaderCount]
        ),
        Err(PlanError::DuplicateGoal(RebalanceGoal::LeaderCount))
    );
}

#[test]
fn the_disk_goal_moves_the_big_partitions_apart() {
    let mut fx = Fixture {
        placements: vec![at("big", 0, &[0]), at("big", 1, &[0]), at("small", 0, &[1])],
        brokers: [0, 1].into_iter().collect(),
        racks: BTreeMap::new(),
        sizes: BTreeMap::new(),
    };
    fx.sizes.insert(("big".into(), 0), 100 * MIB);
    fx.sizes.insert(("big".into(), 1), 100 * MIB);
    fx.sizes.insert(("small".into(), 0), MIB);
    // Replica counts are 2 and 1 already: only the disk goal asks for a move.
    let plan = fx
        .run(RebalanceMode::Full, &[], &[RebalanceGoal::DiskBytes])
        .expect("plan");
    assert_eq!(plan.moves.len(), 1, "{:?}", plan.moves);
    assert_eq!(plan.moves[0].topic, "big");
    assert_eq!(plan.after.disk_bytes_per_broker.max, 101 * MIB);
    assert!(
        fx.run(RebalanceMode::Full, &[], &[RebalanceGoal::ReplicaCount])
            .expect("plan")
            .moves
            .is_empty()
    );
}

#[test]
fn a_rack_shared_by_two_replicas_is_split_when_a_third_rack_exists() {
    let fx = Fixture {
        placements: vec![at("t", 0, &[0, 1]), at("t", 1, &[2, 0])],
        brokers: [0, 1, 2].into_iter().collect(),
        racks: [(0, "a"), (1, "a"), (2, "b")]
            .into_iter()
            .map(|(b, r)| (b, r.to_string()))
            .collect(),
        sizes: BTreeMap::new(),
    };
    let plan = fx.run(RebalanceMode::Full, &[], &[]).expect("plan");
    assert_eq!(plan.before.partitions_sharing_a_rack, 1);
    assert_eq!(plan.after.partitions_sharing_a_rack, 0);
}

/// A generated layout: brokers `0..n`, racks `b % racks` (none when 0), topics with random
/// partitions and replicas, skewed towards the low broker ids.
fn layouts() -> impl Strategy<Value = Fixture> {
    (2_i32..=6, 0_i32..=3).prop_flat_map(|(n, racks)| {
        let partition =
            (1_usize..=3, proptest::collection::vec(0_i32..100, 3)).prop_map(move |(rf, picks)| {
                let rf = rf.min(usize::try_from(n).unwrap_or(1));
                let mut replicas: Vec<i32> = Vec::new();
                for p in picks.into_iter().take(rf) {
                    // Squaring skews towards broker 0.
                    let mut b = (p * p / 100) % n;
                    while replicas.contains(&b) {
                        b = (b + 1) % n;
                    }
                    replicas.push(b);
                }
                replicas
            });
        let topics = proptest::collection::vec(proptest::collection::vec(partition, 1..8), 1..4);
        let sizes = proptest::collection::vec(0_i64..(50 * MIB), 32);
        (topics, sizes).prop_map(move |(topics, sizes)| {
            let mut placements = Vec::new();
            let mut size_of = BTreeMap::new();
            for (t, parts) in topics.into_iter().enumerate() {
                for (p, replicas) in parts.into_iter().enumerate() {
                    let topic = format!("t{t}");
                    let p = i32::try_from(p).unwrap_or(0);
                    size_of.insert((topic.clone(), p), sizes[placements.len() % sizes.len()]);
                    placements.push(at(&topic, p, &replicas));
                }
            }
            Fixture {
                placements,
                brokers: (0..n).collect(),
                racks: if racks == 0 {
                    BTreeMap::new()
                } else {
                    (0..n).map(|b| (b, format!("r{}", b % racks))).collect()
                },
                sizes: size_of,
            }
        })
    })
}

fn check_valid(before: &[Placement], after: &[Placement], brokers: &BTreeSet<i32>) {
    for (b, a) in before.iter().zip(after) {
        assert_eq!(a.replicas.len(), b.replicas.len(), "RF kept: {a:?}");
        let distinct: BTreeSet<i32> = a.replicas.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            a.replicas.len(),
            "two replicas on a broker: {a:?}"
        );
        assert!(a.replicas.iter().all(|r| brokers.contains(r)), "{a:?}");
    }
}

fn dups(fx: &Fixture, replicas: &[i32]) -> usize {
    let racks: Vec<&String> = replicas.iter().filter_map(|r| fx.racks.get(r)).collect();
    let distinct: BTreeSet<&&String> = racks.iter().collect();
    racks.len() - distinct.len()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn full_rebalances_are_valid_balanced_minimal_and_stable(fx in layouts()) {
        let plan = fx.run(RebalanceMode::Full, &[], &[]).expect("plan");
        let after = apply(&fx.placements, &plan.moves);
        check_valid(&fx.placements, &after, &fx.brokers);
        for (b, a) in fx.placements.iter().zip(&after) {
            prop_assert!(dups(&fx, &a.replicas) <= dups(&fx, &b.replicas), "rack spread worse: {b:?} -> {a:?}");
        }
        if fx.racks.is_empty() {
            prop_assert!(spread(&counts(&after, &fx.brokers, false)) <= 1);
        }
        // Stable: a balanced layout needs no moves.
        let again = Fixture { placements: after, brokers: fx.brokers.clone(), racks: fx.racks.clone(), sizes: fx.sizes.clone() };
        prop_assert!(again.run(RebalanceMode::Full, &[], &[]).expect("again").moves.is_empty());
    }

    #[test]
    fn the_replica_goal_alone_makes_no_more_moves_than_needed(mut fx in layouts()) {
        fx.racks.clear();
        let plan = fx.run(RebalanceMode::Full, &[], &[RebalanceGoal::ReplicaCount]).expect("plan");
        let c = counts(&fx.placements, &fx.brokers, false);
        let total: i64 = c.iter().sum();
        let n = i64::try_from(c.len()).unwrap_or(1);
        let (floor, ceil) = (total / n, (total + n - 1) / n);
        let excess: i64 = c.iter().map(|v| (v - ceil).max(0)).sum();
        let deficit: i64 = c.iter().map(|v| (floor - v).max(0)).sum();
        let needed = usize::try_from(excess.max(deficit)).unwrap_or(0);
        prop_assert!(plan.moves.len() <= needed, "{} moves, {needed} needed", plan.moves.len());
        let after = apply(&fx.placements, &plan.moves);
        prop_assert!(spread(&counts(&after, &fx.brokers, false)) <= 1);
    }

    #[test]
    fn remove_brokers_empties_them_and_add_brokers_only_fills_the_new(fx in layouts()) {
        let last = *fx.brokers.iter().max().expect("brokers");
        let max_rf = fx.placements.iter().map(|p| p.replicas.len()).max().unwrap_or(0);
        match fx.run(RebalanceMode::RemoveBrokers, &[last], &[]) {
            Ok(plan) => {
                let after = apply(&fx.placements, &plan.moves);
                check_valid(&fx.placements, &after, &fx.brokers);
                prop_assert!(after.iter().all(|p| !p.replicas.contains(&last)), "{after:?}");
                prop_assert_eq!(plan.after.replicas_on_removed_brokers, 0);
            }
            Err(e) => prop_assert!(max_rf == fx.brokers.len(), "{e}"),
        }
        let plan = fx.run(RebalanceMode::AddBrokers, &[last], &[]).expect("plan");
        for m in &plan.moves {
            prop_assert!(m.to.iter().all(|b| m.from.contains(b) || *b == last), "{m:?}");
        }
        check_valid(&fx.placements, &apply(&fx.placements, &plan.moves), &fx.brokers);
    }
}
