//! KafkaRebalance planner (pure): the moves that improve the chosen goals, in their priority
//! order, with as few moves as it can. It is a steepest descent over single steps — one replica
//! of a partition replaced by a broker the partition does not use, or a preferred leader swapped
//! inside a partition — where every goal is a sum of squares (replicas, preferred leaders, MiB
//! and a topic's replicas per broker) or a count (replicas sharing a rack, replicas left on a
//! broker being removed), compared lexicographically: a step is taken only if it improves a goal
//! without making a higher one worse, and the step that improves the highest goal most goes
//! first. So replicas go from the fullest broker to the emptiest, one at a time, and the plan
//! stops as soon as no step helps (a balanced layout gives no moves). A step never puts two
//! replicas of a partition on one broker, never changes a replication factor and never adds a
//! second replica to a rack the partition uses (except to empty a broker being removed).
//! Deterministic: recomputed after a restart, it gives the same plan.

use std::collections::{BTreeMap, BTreeSet};

use crate::cluster::drain::{Move, Placement};
use crate::crd::{BalanceSummary, MinMax, RebalanceGoal, RebalanceMode};

/// Sizes are weighed in MiB so that byte-level noise never moves a partition.
const MIB: i64 = 1 << 20;

/// What the plan is made from.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Every partition's replicas now.
    pub placements: &'a [Placement],
    /// Registered brokers.
    pub brokers: &'a BTreeSet<i32>,
    /// Racks of the brokers that have one.
    pub racks: &'a BTreeMap<i32, String>,
    /// Bytes of each partition (its largest replica), where known.
    pub sizes: &'a BTreeMap<(String, i32), i64>,
    /// Partitions someone else is reassigning: left alone.
    pub frozen: &'a BTreeSet<(String, i32)>,
    /// The mode.
    pub mode: RebalanceMode,
    /// `spec.brokers`.
    pub listed: &'a [i32],
    /// The goals, highest priority first (empty: [`RebalanceGoal::DEFAULT`]).
    pub goals: &'a [RebalanceGoal],
}

/// The planned moves and the balance before and after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Moves, in topic/partition order.
    pub moves: Vec<Move>,
    /// Balance now.
    pub before: BalanceSummary,
    /// Balance after the moves.
    pub after: BalanceSummary,
}

/// Why a rebalance cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A broker mode without brokers.
    #[error("mode {0} needs the brokers to add or remove in spec.brokers")]
    NoBrokers(&'static str),
    /// Brokers listed in mode full.
    #[error("spec.brokers is only used by the add-brokers and remove-brokers modes")]
    BrokersInFullMode,
    /// A listed broker is not registered.
    #[error("broker(s) {unknown:?} are not in the cluster (its brokers are {known:?})")]
    UnknownBrokers {
        /// The unknown ids.
        unknown: Vec<i32>,
        /// The registered ids.
        known: Vec<i32>,
    },
    /// A goal listed twice.
    #[error("goal {0:?} is listed twice in spec.goals")]
    DuplicateGoal(RebalanceGoal),
    /// Too few brokers would remain.
    #[error(
        "removing brokers {removed:?} leaves {left} broker(s) but {topic}-{partition} has \
         {replicas} replicas: lower the topic's replication factor or remove fewer brokers"
    )]
    TooFewBrokers {
        /// The brokers to remove.
        removed: Vec<i32>,
        /// Brokers that would remain.
        left: usize,
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// Its replication factor.
        replicas: usize,
    },
    /// A partition on a broker being removed is being reassigned by someone else.
    #[error(
        "{topic}-{partition} is on a broker being removed and another reassignment of it is \
         running: refresh once it finished"
    )]
    Busy {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
    },
}

/// Plans the rebalance.
///
/// # Errors
/// [`PlanError`] when the spec cannot be planned on this layout.
pub fn plan(req: &Request<'_>) -> Result<Plan, PlanError> {
    let goals = check_goals(req.goals)?;
    let listed: BTreeSet<i32> = req.listed.iter().copied().collect();
    match req.mode {
        RebalanceMode::Full if !listed.is_empty() => return Err(PlanError::BrokersInFullMode),
        RebalanceMode::AddBrokers if listed.is_empty() => {
            return Err(PlanError::NoBrokers("add-brokers"));
        }
        RebalanceMode::RemoveBrokers if listed.is_empty() => {
            return Err(PlanError::NoBrokers("remove-brokers"));
        }
        _ => {}
    }
    let unknown: Vec<i32> = listed.difference(req.brokers).copied().collect();
    if !unknown.is_empty() {
        return Err(PlanError::UnknownBrokers {
            unknown,
            known: req.brokers.iter().copied().collect(),
        });
    }
    let removed: BTreeSet<i32> = if req.mode == RebalanceMode::RemoveBrokers {
        listed.clone()
    } else {
        BTreeSet::new()
    };
    let pool: BTreeSet<i32> = req.brokers.difference(&removed).copied().collect();
    let targets: BTreeSet<i32> = if req.mode == RebalanceMode::AddBrokers {
        listed
    } else {
        pool.clone()
    };
    let mut sorted: Vec<&Placement> = req.placements.iter().collect();
    sorted.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    for p in &sorted {
        if !p.replicas.iter().any(|r| removed.contains(r)) {
            continue;
        }
        if p.replicas.len() > pool.len() {
            return Err(PlanError::TooFewBrokers {
                removed: removed.iter().copied().collect(),
                left: pool.len(),
                topic: p.topic.clone(),
                partition: p.partition,
                replicas: p.replicas.len(),
            });
        }
        if req.frozen.contains(&(p.topic.clone(), p.partition)) {
            return Err(PlanError::Busy {
                topic: p.topic.clone(),
                partition: p.partition,
            });
        }
    }
    let layout = Layout::new(&sorted, req, &pool, &removed);
    let before = layout.summary();
    let mut state = layout.clone();
    state.descend(&goals, &targets);
    let after = state.summary();
    let moves = sorted
        .iter()
        .zip(state.now)
        .filter(|(p, to)| p.replicas != *to)
        .map(|(p, to)| Move {
            topic: p.topic.clone(),
            partition: p.partition,
            from: p.replicas.clone(),
            to,
        })
        .collect();
    Ok(Plan {
        moves,
        before,
        after,
    })
}

fn check_goals(goals: &[RebalanceGoal]) -> Result<Vec<RebalanceGoal>, PlanError> {
    if goals.is_empty() {
        return Ok(RebalanceGoal::DEFAULT.to_vec());
    }
    let mut seen = BTreeSet::new();
    for g in goals {
        if !seen.insert(*g) {
            return Err(PlanError::DuplicateGoal(*g));
        }
    }
    Ok(goals.to_vec())
}

/// One step of the descent.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Replace the replica at `pos` of partition `i` by broker `to`.
    Replace { i: usize, pos: usize, to: i32 },
    /// Swap the preferred leader of partition `i` with its replica at `pos`.
    Lead { i: usize, pos: usize },
}

/// The layout being improved, with the per-broker counters the goals read.
#[derive(Debug, Clone)]
struct Layout<'a> {
    now: Vec<Vec<i32>>,
    topic: Vec<usize>,
    mib: Vec<i64>,
    movable: Vec<bool>,
    racks: &'a BTreeMap<i32, String>,
    /// Brokers balanced over.
    pool: BTreeSet<i32>,
    removed: BTreeSet<i32>,
    topics: usize,
    replicas: BTreeMap<i32, i64>,
    leaders: BTreeMap<i32, i64>,
    disk: BTreeMap<i32, i64>,
    per_topic: BTreeMap<(usize, i32), i64>,
    bytes: Vec<i64>,
}

impl<'a> Layout<'a> {
    fn new(
        sorted: &[&Placement],
        req: &Request<'a>,
        pool: &BTreeSet<i32>,
        removed: &BTreeSet<i32>,
    ) -> Self {
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for p in sorted {
            let n = names.len();
            names.entry(p.topic.as_str()).or_insert(n);
        }
        let bytes: Vec<i64> = sorted
            .iter()
            .map(|p| {
                req.sizes
                    .get(&(p.topic.clone(), p.partition))
                    .copied()
                    .unwrap_or(0)
                    .max(0)
            })
            .collect();
        let mut l = Layout {
            now: sorted.iter().map(|p| p.replicas.clone()).collect(),
            topic: sorted.iter().map(|p| names[p.topic.as_str()]).collect(),
            mib: bytes.iter().map(|b| (b + MIB - 1) / MIB).collect(),
            movable: sorted
                .iter()
                .map(|p| {
                    !req.frozen.contains(&(p.topic.clone(), p.partition))
                        && p.replicas.iter().all(|r| req.brokers.contains(r))
                })
                .collect(),
            racks: req.racks,
            pool: pool.clone(),
            removed: removed.clone(),
            topics: names.len(),
            replicas: pool.iter().map(|b| (*b, 0)).collect(),
            leaders: pool.iter().map(|b| (*b, 0)).collect(),
            disk: pool.iter().map(|b| (*b, 0)).collect(),
            per_topic: BTreeMap::new(),
            bytes,
        };
        for i in 0..l.now.len() {
            for pos in 0..l.now[i].len() {
                let b = l.now[i][pos];
                l.count(i, pos, b, 1);
            }
        }
        l
    }

    /// Adds `sign` × partition `i`'s replica at `pos` (broker `b`) to the counters.
    fn count(&mut self, i: usize, pos: usize, b: i32, sign: i64) {
        if !self.pool.contains(&b) {
            return;
        }
        *self.replicas.entry(b).or_default() += sign;
        *self.disk.entry(b).or_default() += sign * self.mib[i];
        *self.per_topic.entry((self.topic[i], b)).or_default() += sign;
        if pos == 0 {
            *self.leaders.entry(b).or_default() += sign;
        }
    }

    /// Replicas sharing a rack with an earlier replica of the same partition, for the
    /// replicas `at(0..len)`.
    fn rack_dups(&self, len: usize, at: impl Fn(usize) -> i32) -> i64 {
        let mut dups = 0;
        for j in 0..len {
            let Some(rack) = self.racks.get(&at(j)) else {
                continue;
            };
            if (0..j).any(|k| self.racks.get(&at(k)) == Some(rack)) {
                dups += 1;
            }
        }
        dups
    }

    fn on_removed(&self, len: usize, at: impl Fn(usize) -> i32) -> i64 {
        (0..len)
            .map(|j| i64::from(self.removed.contains(&at(j))))
            .sum()
    }

    /// Sum-of-squares change of `map` when `v` moves from broker `x` to broker `y` (brokers
    /// outside the pool are not counted).
    fn square_change(&self, map: &BTreeMap<i32, i64>, x: i32, y: i32, v: i64) -> i128 {
        let one = |b: i32, d: i64| {
            if !self.pool.contains(&b) {
                return 0;
            }
            let c = i128::from(map.get(&b).copied().unwrap_or(0));
            let d = i128::from(d);
            (c + d) * (c + d) - c * c
        };
        one(x, -v) + one(y, v)
    }

    /// How a step changes each goal (negative: better): slot 0 the replicas left on brokers
    /// being removed, slot 1 the rack constraint (a step may not add a replica to a rack the
    /// partition uses, unless it empties a removed broker), then `goals` in order.
    fn delta(&self, step: Step, goals: &[RebalanceGoal]) -> [i128; 7] {
        let (i, pos) = match step {
            Step::Replace { i, pos, .. } | Step::Lead { i, pos } => (i, pos),
        };
        let old = &self.now[i];
        let len = old.len();
        let at = |j: usize| match step {
            Step::Replace { to, .. } if j == pos => to,
            Step::Lead { .. } if j == 0 => old[pos],
            Step::Lead { .. } if j == pos => old[0],
            _ => old[j],
        };
        let mut out = [0_i128; 7];
        out[0] = i128::from(self.on_removed(len, at) - self.on_removed(len, |j| old[j]));
        let rack = i128::from(self.rack_dups(len, at) - self.rack_dups(len, |j| old[j]));
        out[1] = if out[0] == 0 && rack > 0 { rack } else { 0 };
        let (x, y) = (old[pos], at(pos));
        let replaced = matches!(step, Step::Replace { .. });
        for (slot, g) in out.iter_mut().skip(2).zip(goals) {
            *slot = match g {
                RebalanceGoal::RackSpread => rack,
                RebalanceGoal::ReplicaCount if replaced => {
                    self.square_change(&self.replicas, x, y, 1)
                }
                RebalanceGoal::LeaderCount if at(0) != old[0] => {
                    self.square_change(&self.leaders, old[0], at(0), 1)
                }
                RebalanceGoal::DiskBytes if replaced => {
                    self.square_change(&self.disk, x, y, self.mib[i])
                }
                RebalanceGoal::TopicReplicaSpread if replaced => {
                    let t = self.topic[i];
                    let one = |b: i32, d: i128| {
                        if !self.pool.contains(&b) {
                            return 0;
                        }
                        let c = i128::from(self.per_topic.get(&(t, b)).copied().unwrap_or(0));
                        (c + d) * (c + d) - c * c
                    };
                    one(x, -1) + one(y, 1)
                }
                _ => 0,
            };
        }
        out
    }

    /// Takes the best improving step until none is left (bounded: every step lowers the
    /// lexicographic score, and the loop is capped anyway).
    fn descend(&mut self, goals: &[RebalanceGoal], targets: &BTreeSet<i32>) {
        let total: usize = self.now.iter().map(Vec::len).sum();
        let cap = 4 * total + 4 * self.now.len() + 16;
        for _ in 0..cap {
            let mut best: Option<([i128; 7], Step)> = None;
            for i in 0..self.now.len() {
                if !self.movable[i] {
                    continue;
                }
                for pos in 0..self.now[i].len() {
                    for &to in targets {
                        if self.now[i].contains(&to) {
                            continue;
                        }
                        self.consider(Step::Replace { i, pos, to }, goals, &mut best);
                    }
                    if pos > 0 && targets.contains(&self.now[i][pos]) {
                        self.consider(Step::Lead { i, pos }, goals, &mut best);
                    }
                }
            }
            let Some((_, step)) = best else {
                return;
            };
            self.apply(step);
        }
    }

    fn consider(&self, step: Step, goals: &[RebalanceGoal], best: &mut Option<([i128; 7], Step)>) {
        let d = self.delta(step, goals);
        // Improving: the first non-zero change is negative (the constraint slot included).
        let improving = d.iter().find(|v| **v != 0).is_some_and(|v| *v < 0);
        if !improving {
            return;
        }
        if best.as_ref().is_none_or(|(b, _)| d < *b) {
            *best = Some((d, step));
        }
    }

    fn apply(&mut self, step: Step) {
        match step {
            Step::Replace { i, pos, to } => {
                let from = self.now[i][pos];
                self.count(i, pos, from, -1);
                self.now[i][pos] = to;
                self.count(i, pos, to, 1);
            }
            Step::Lead { i, pos } => {
                let (a, b) = (self.now[i][0], self.now[i][pos]);
                self.count(i, 0, a, -1);
                self.count(i, pos, b, -1);
                self.now[i].swap(0, pos);
                self.count(i, 0, b, 1);
                self.count(i, pos, a, 1);
            }
        }
    }

    fn summary(&self) -> BalanceSummary {
        let mut replicas: BTreeMap<i32, i64> = self.pool.iter().map(|b| (*b, 0)).collect();
        let mut leaders = replicas.clone();
        let mut disk = replicas.clone();
        let mut per_topic: Vec<BTreeMap<i32, i64>> = vec![replicas.clone(); self.topics];
        let pool_racks: BTreeSet<&String> =
            self.pool.iter().filter_map(|b| self.racks.get(b)).collect();
        let mut sharing = 0;
        let mut removed = 0;
        for (i, rs) in self.now.iter().enumerate() {
            for (pos, b) in rs.iter().enumerate() {
                if let Some(n) = replicas.get_mut(b) {
                    *n += 1;
                    *disk.entry(*b).or_default() += self.bytes[i];
                    *per_topic[self.topic[i]].entry(*b).or_default() += 1;
                    if pos == 0 {
                        *leaders.entry(*b).or_default() += 1;
                    }
                }
            }
            let unavoidable = i64::try_from(rs.len().saturating_sub(pool_racks.len())).unwrap_or(0);
            if !pool_racks.is_empty() && self.rack_dups(rs.len(), |j| rs[j]) > unavoidable {
                sharing += 1;
            }
            removed += self.on_removed(rs.len(), |j| rs[j]);
        }
        let mm = |m: &BTreeMap<i32, i64>| MinMax {
            min: m.values().copied().min().unwrap_or(0),
            max: m.values().copied().max().unwrap_or(0),
        };
        let spread: i64 = per_topic
            .iter()
            .map(|m| {
                let x = mm(m);
                x.max - x.min
            })
            .sum();
        BalanceSummary {
            replicas_per_broker: mm(&replicas),
            leaders_per_broker: mm(&leaders),
            disk_bytes_per_broker: mm(&disk),
            partitions_sharing_a_rack: sharing,
            topic_replica_spread: i32::try_from(spread).unwrap_or(i32::MAX),
            replicas_on_removed_brokers: i32::try_from(removed).unwrap_or(i32::MAX),
        }
    }
}

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;
