//! Balance planner for a scale-up (pure): after brokers join, the replicas and preferred leaders
//! spread evenly over every broker with the fewest moves. Replicas go from the most loaded
//! broker to the least loaded one that the partition does not use yet (preferring a rack the
//! partition does not use), until no two brokers differ by more than one replica; then preferred
//! leaders (the first replica) are swapped inside partitions until no two brokers differ by more
//! than one leader. A move that would put two replicas of a partition in one rack is not made. Deterministic: recomputed after an operator restart, it gives the same plan.

use std::collections::{BTreeMap, BTreeSet};

use super::drain::{Move, Placement};

/// The moves that balance `placements` over `brokers`. Partitions listed in `frozen` (a
/// reassignment is in flight) are counted where they are going and not moved.
#[must_use]
pub fn plan(
    placements: &[Placement],
    brokers: &[i32],
    racks: &BTreeMap<i32, String>,
    frozen: &BTreeSet<(String, i32)>,
) -> Vec<Move> {
    let brokers: BTreeSet<i32> = brokers.iter().copied().collect();
    if brokers.len() < 2 {
        return Vec::new();
    }
    let mut sorted: Vec<&Placement> = placements.iter().collect();
    sorted.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let mut now: Vec<Vec<i32>> = sorted.iter().map(|p| p.replicas.clone()).collect();
    let movable: Vec<bool> = sorted
        .iter()
        .map(|p| {
            !frozen.contains(&(p.topic.clone(), p.partition))
                && p.replicas.iter().all(|r| brokers.contains(r))
        })
        .collect();
    let load = |now: &[Vec<i32>], pos: Option<usize>| {
        let mut load: BTreeMap<i32, usize> = brokers.iter().map(|b| (*b, 0)).collect();
        for replicas in now {
            let counted: Vec<&i32> = match pos {
                Some(i) => replicas.get(i).into_iter().collect(),
                None => replicas.iter().collect(),
            };
            for r in counted {
                if let Some(n) = load.get_mut(r) {
                    *n += 1;
                }
            }
        }
        load
    };
    // Replicas: bounded by the number of replicas (each step lowers the spread).
    let total: usize = now.iter().map(Vec::len).sum();
    for _ in 0..=total {
        let l = load(&now, None);
        let Some((&hi, &hi_n)) = l.iter().max_by_key(|(b, n)| (**n, std::cmp::Reverse(**b))) else {
            break;
        };
        let Some((&lo, &lo_n)) = l.iter().min_by_key(|(b, n)| (**n, **b)) else {
            break;
        };
        if hi_n <= lo_n + 1 {
            break;
        }
        let rack_ok = |replicas: &[i32]| {
            racks.get(&lo).is_none_or(|rack| {
                !replicas
                    .iter()
                    .filter(|r| **r != hi)
                    .any(|r| racks.get(r) == Some(rack))
            })
        };
        let candidates: Vec<usize> = (0..now.len())
            .filter(|i| movable[*i] && now[*i].contains(&hi) && !now[*i].contains(&lo))
            .collect();
        // Never at the price of two replicas in one rack: balance as far as racks allow.
        let Some(i) = candidates.iter().copied().find(|i| rack_ok(&now[*i])) else {
            break;
        };
        for r in &mut now[i] {
            if *r == hi {
                *r = lo;
            }
        }
    }
    // Preferred leaders: swap the first replica with a less-led one in the same partition.
    for _ in 0..=now.len() {
        let l = load(&now, Some(0));
        let Some((&hi, &hi_n)) = l.iter().max_by_key(|(b, n)| (**n, std::cmp::Reverse(**b))) else {
            break;
        };
        let Some(i) = (0..now.len()).find(|i| {
            movable[*i]
                && now[*i].first() == Some(&hi)
                && now[*i]
                    .iter()
                    .skip(1)
                    .any(|r| l.get(r).is_some_and(|n| n + 1 < hi_n))
        }) else {
            break;
        };
        let Some(j) = (1..now[i].len())
            .filter(|j| l.get(&now[i][*j]).is_some_and(|n| n + 1 < hi_n))
            .min_by_key(|j| l.get(&now[i][*j]).copied().unwrap_or(usize::MAX))
        else {
            break;
        };
        now[i].swap(0, j);
    }
    sorted
        .iter()
        .zip(now)
        .filter(|(p, to)| p.replicas != *to)
        .map(|(p, to)| Move {
            topic: p.topic.clone(),
            partition: p.partition,
            from: p.replicas.clone(),
            to,
        })
        .collect()
}

#[cfg(test)]
mod tests {
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

    fn counts(placements: &[Placement], leaders: bool) -> BTreeMap<i32, usize> {
        let mut out = BTreeMap::new();
        for p in placements {
            let rs: Vec<i32> = if leaders {
                p.replicas.iter().take(1).copied().collect()
            } else {
                p.replicas.clone()
            };
            for r in rs {
                *out.entry(r).or_default() += 1;
            }
        }
        out
    }

    #[test]
    fn new_brokers_get_a_fair_share_of_replicas_and_leaders() {
        // 2 brokers grown to 4: 6 partitions RF 2 all on 0 and 1.
        let placements: Vec<Placement> = (0..6)
            .map(|p| at("t", p, if p % 2 == 0 { &[0, 1] } else { &[1, 0] }))
            .collect();
        let moves = plan(
            &placements,
            &[0, 1, 2, 3],
            &BTreeMap::new(),
            &BTreeSet::new(),
        );
        let after = apply(&placements, &moves);
        let replicas = counts(&after, false);
        assert_eq!(
            replicas.values().copied().collect::<Vec<_>>(),
            vec![3, 3, 3, 3]
        );
        let leaders = counts(&after, true);
        assert!(
            leaders.values().max().unwrap() - leaders.values().min().unwrap() <= 1,
            "{leaders:?}"
        );
        assert_eq!(leaders.len(), 4, "{leaders:?}");
        // Every partition keeps its replication factor and distinct replicas.
        for p in &after {
            assert_eq!(p.replicas.len(), 2);
            assert_ne!(p.replicas[0], p.replicas[1]);
        }
        // Balanced: nothing more to do, and the plan is deterministic.
        assert!(plan(&after, &[0, 1, 2, 3], &BTreeMap::new(), &BTreeSet::new()).is_empty());
        assert_eq!(
            plan(
                &placements,
                &[0, 1, 2, 3],
                &BTreeMap::new(),
                &BTreeSet::new()
            ),
            moves
        );
    }

    #[test]
    fn partitions_in_flight_are_left_alone_and_racks_are_respected() {
        let racks: BTreeMap<i32, String> = [(0, "a"), (1, "b"), (2, "a")]
            .into_iter()
            .map(|(b, r)| (b, r.to_string()))
            .collect();
        let placements = vec![
            at("t", 0, &[0, 1]),
            at("t", 1, &[1, 0]),
            at("u", 0, &[0, 1]),
        ];
        let frozen: BTreeSet<(String, i32)> = [("t".to_string(), 0)].into_iter().collect();
        let moves = plan(&placements, &[0, 1, 2], &racks, &frozen);
        assert!(moves.iter().all(|m| !(m.topic == "t" && m.partition == 0)));
        // Broker 2 (rack a) replaces broker 0 (rack a), never broker 1 (rack b): the partition
        // keeps both racks.
        for m in &moves {
            if m.to.contains(&2) {
                assert!(m.to.contains(&1), "{m:?}");
            }
        }
        assert!(!moves.is_empty());
    }
}
