//! Drain planner for a safe scale-down (pure): before the StatefulSet shrinks, every replica on
//! the brokers that will go must move to the brokers that stay. This decides where, with the
//! fewest moves: each partition keeps the replicas it has on staying brokers, in their order (so
//! its preferred leader is a staying broker and leadership moves off first), and gets one
//! replacement per departing replica — the staying broker that holds fewest replicas so far,
//! preferring racks the partition does not use yet, then the lowest id (deterministic, so a
//! plan recomputed after an operator restart is the same plan).
//!
//! A drain that cannot finish is refused up front, never started: a partition whose replication
//! factor is larger than the number of staying brokers cannot be drained (the scale-down must
//! wait, or the topic's replication factor shrink first).

use std::collections::{BTreeMap, BTreeSet};

/// Where one partition's replicas are now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Replica broker ids, preferred leader first.
    pub replicas: Vec<i32>,
}

/// One reassignment of the drain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Replicas before.
    pub from: Vec<i32>,
    /// Replicas after (the reassignment target).
    pub to: Vec<i32>,
}

/// Why the brokers cannot be drained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrainError {
    /// More replicas than staying brokers.
    #[error(
        "{topic}-{partition} has {replicas} replicas but only {staying} brokers would remain: \
         lower the topic's replication factor or keep more brokers"
    )]
    NotEnoughBrokers {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// Its replication factor.
        replicas: usize,
        /// Brokers that stay.
        staying: usize,
    },
}

/// The reassignments that empty the brokers not in `staying`, in topic/partition order.
/// `racks` maps broker ids to their rack, when known.
///
/// # Errors
/// [`DrainError::NotEnoughBrokers`] when a partition has more replicas than staying brokers.
pub fn plan(
    placements: &[Placement],
    staying: &[i32],
    racks: &BTreeMap<i32, String>,
) -> Result<Vec<Move>, DrainError> {
    let staying_set: BTreeSet<i32> = staying.iter().copied().collect();
    let mut load: BTreeMap<i32, usize> = staying_set.iter().map(|b| (*b, 0)).collect();
    for p in placements {
        for r in &p.replicas {
            if let Some(n) = load.get_mut(r) {
                *n += 1;
            }
        }
    }
    let mut sorted: Vec<&Placement> = placements.iter().collect();
    sorted.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let mut moves = Vec::new();
    for p in sorted {
        if p.replicas.iter().all(|r| staying_set.contains(r)) {
            continue;
        }
        if p.replicas.len() > staying_set.len() {
            return Err(DrainError::NotEnoughBrokers {
                topic: p.topic.clone(),
                partition: p.partition,
                replicas: p.replicas.len(),
                staying: staying_set.len(),
            });
        }
        let mut to: Vec<i32> = p
            .replicas
            .iter()
            .copied()
            .filter(|r| staying_set.contains(r))
            .collect();
        while to.len() < p.replicas.len() {
            let used_racks: BTreeSet<&String> = to.iter().filter_map(|b| racks.get(b)).collect();
            let pick = load
                .iter()
                .filter(|(b, _)| !to.contains(b))
                .min_by_key(|(b, n)| {
                    let rack_used = racks.get(b).is_some_and(|r| used_racks.contains(r));
                    (rack_used, **n, **b)
                })
                .map(|(b, _)| *b);
            let Some(b) = pick else {
                break; // unreachable: len checked above
            };
            to.push(b);
            if let Some(n) = load.get_mut(&b) {
                *n += 1;
            }
        }
        moves.push(Move {
            topic: p.topic.clone(),
            partition: p.partition,
            from: p.replicas.clone(),
            to,
        });
    }
    Ok(moves)
}

/// Partitions that still have a replica on a departing broker (what blocks the shrink), as
/// `topic-partition` strings, in order.
#[must_use]
pub fn still_on(placements: &[Placement], staying: &[i32]) -> Vec<String> {
    let mut out: Vec<String> = placements
        .iter()
        .filter(|p| p.replicas.iter().any(|r| !staying.contains(r)))
        .map(|p| format!("{}-{}", p.topic, p.partition))
        .collect();
    out.sort();
    out
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

    #[test]
    fn departing_replicas_move_to_the_least_loaded_staying_brokers_leaders_first() {
        // 5 brokers → 3: partitions on 3 and 4 move; 0-2 keep theirs.
        let placements = vec![
            at("t", 0, &[3, 0, 1]),
            at("t", 1, &[4, 3, 2]),
            at("t", 2, &[0, 1, 2]),
            at("u", 0, &[4]),
        ];
        let moves = plan(&placements, &[0, 1, 2], &BTreeMap::new()).expect("plan");
        assert_eq!(moves.len(), 3, "{moves:?}");
        // t-0 keeps 0 and 1 (now preferred leader 0) and gains 2, the least loaded.
        assert_eq!(moves[0].to, vec![0, 1, 2]);
        // t-1 keeps 2 and gains the two least loaded others.
        assert_eq!(moves[1].to[0], 2);
        let mut rest = moves[1].to.clone();
        rest.sort_unstable();
        assert_eq!(rest, vec![0, 1, 2]);
        assert_eq!(moves[2].to.len(), 1);
        assert!(still_on(&placements, &[0, 1, 2]).contains(&"u-0".to_string()));
        // Recomputing gives the same plan (an operator restart resumes it).
        assert_eq!(
            plan(&placements, &[0, 1, 2], &BTreeMap::new()).expect("again"),
            moves
        );
    }

    #[test]
    fn replacements_prefer_a_rack_the_partition_does_not_use() {
        let racks: BTreeMap<i32, String> = [(0, "a"), (1, "a"), (2, "b"), (3, "c")]
            .into_iter()
            .map(|(b, r)| (b, r.to_string()))
            .collect();
        // Broker 3 (rack c) goes; the partition is on rack a already: broker 2 (rack b) is
        // chosen although broker 1 has fewer replicas.
        let placements = vec![at("t", 0, &[0, 3]), at("x", 0, &[2]), at("x", 1, &[2])];
        let moves = plan(&placements, &[0, 1, 2], &racks).expect("plan");
        assert_eq!(moves[0].to, vec![0, 2]);
    }

    #[test]
    fn a_drain_that_cannot_finish_is_refused_and_a_drained_cluster_needs_no_moves() {
        let err = plan(&[at("t", 0, &[0, 1, 2])], &[0, 1], &BTreeMap::new())
            .expect_err("RF 3 on 2 brokers");
        assert!(
            err.to_string()
                .contains("t-0 has 3 replicas but only 2 brokers")
        );
        assert!(
            plan(&[at("t", 0, &[0, 1])], &[0, 1], &BTreeMap::new())
                .expect("nothing to move")
                .is_empty()
        );
        assert!(still_on(&[at("t", 0, &[0, 1])], &[0, 1]).is_empty());
    }
}
