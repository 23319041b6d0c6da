//! A plan as the status shows it (pure): how many partitions copy data and how many only change
//! their preferred leader, the bytes copied (a partition's size for each broker that receives
//! it), and how long the copy takes at the throttle — the busiest receiving broker's bytes over
//! the per-broker rate, since brokers copy in parallel.

use std::collections::{BTreeMap, BTreeSet};

use super::planner::Plan;
use crate::crd::{PartitionMove, RebalanceProposal};

/// The proposal of `plan` for the spec at `generation`.
#[must_use]
pub fn proposal(
    plan: &Plan,
    sizes: &BTreeMap<(String, i32), i64>,
    throttle: Option<i64>,
    generation: Option<i64>,
) -> RebalanceProposal {
    let mut incoming: BTreeMap<i32, i64> = BTreeMap::new();
    let mut replica_moves = 0;
    let mut leader_moves = 0;
    let mut bytes = 0_i64;
    for m in &plan.moves {
        let from: BTreeSet<i32> = m.from.iter().copied().collect();
        let new: Vec<i32> = m.to.iter().copied().filter(|b| !from.contains(b)).collect();
        if new.is_empty() {
            leader_moves += 1;
            continue;
        }
        replica_moves += 1;
        let size = sizes
            .get(&(m.topic.clone(), m.partition))
            .copied()
            .unwrap_or(0)
            .max(0);
        for b in new {
            bytes = bytes.saturating_add(size);
            *incoming.entry(b).or_default() += size;
        }
    }
    let busiest = incoming.values().copied().max().unwrap_or(0);
    RebalanceProposal {
        generation,
        replica_moves,
        leader_moves,
        bytes_to_move: bytes,
        estimated_seconds: throttle.filter(|t| *t > 0).map(|t| (busiest + t - 1) / t),
        throttle_bytes_per_second: throttle.filter(|t| *t > 0),
        before: plan.before.clone(),
        after: plan.after.clone(),
        moves: plan
            .moves
            .iter()
            .map(|m| PartitionMove {
                topic: m.topic.clone(),
                partition: m.partition,
                from: m.from.clone(),
                to: m.to.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::drain::Move;

    #[test]
    fn bytes_and_duration_count_only_new_copies_at_the_busiest_broker() {
        let mv = |topic: &str, from: &[i32], to: &[i32]| Move {
            topic: topic.into(),
            partition: 0,
            from: from.to_vec(),
            to: to.to_vec(),
        };
        let plan = Plan {
            moves: vec![
                mv("a", &[0], &[1]),
                mv("b", &[0, 1], &[2, 1]),
                mv("c", &[0, 1], &[1, 0]),
            ],
            before: Default::default(),
            after: Default::default(),
        };
        let sizes: BTreeMap<(String, i32), i64> = [
            (("a".to_string(), 0), 300),
            (("b".to_string(), 0), 100),
            (("c".to_string(), 0), 999),
        ]
        .into_iter()
        .collect();
        let p = proposal(&plan, &sizes, Some(100), Some(4));
        assert_eq!((p.replica_moves, p.leader_moves), (2, 1));
        assert_eq!(p.bytes_to_move, 400);
        // Broker 1 receives 300 bytes at 100 B/s; broker 2 receives 100 at the same time.
        assert_eq!(p.estimated_seconds, Some(3));
        assert_eq!(p.moves.len(), 3);
        assert_eq!(proposal(&plan, &sizes, None, None).estimated_seconds, None);
    }
}
