//! Which replica fetcher follows which partition (pure, no I/O): Kafka's fetcher manager. A
//! follower runs `num.replica.fetchers` fetchers per leader it follows (one by default), each
//! sending one Fetch for all of its partitions; a partition goes to the fetcher its topic and
//! index hash to. `plan` turns the fetchers' current partitions and what the metadata image
//! wants into the partitions to remove from a fetcher and those to (re)start in one.

use std::collections::BTreeMap;

/// A followed partition: topic and index.
pub type TopicPartition = (String, i32);

/// Where the image says a followed partition is fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub leader: i32,
    /// The leader's inter-broker address, `host:port`.
    pub addr: String,
    pub leader_epoch: i32,
}

/// One fetcher: the leader it fetches from (at that address) and its index among that
/// leader's `num.replica.fetchers`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FetcherKey {
    pub leader: i32,
    pub addr: String,
    pub id: usize,
}

/// What reconcile changes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Partitions a fetcher stops fetching: no longer followed, or led elsewhere now.
    pub remove: Vec<(FetcherKey, TopicPartition)>,
    /// Partitions a fetcher starts under a leader epoch (new to it, or under a new epoch):
    /// truncate to the leader's log first, then fetch.
    pub start: Vec<(FetcherKey, TopicPartition, i32)>,
}

/// The fetcher a partition led from `source` belongs to (Kafka:
/// `abs(31 * topic.hashCode + partition) % num.replica.fetchers`).
pub fn fetcher_for(tp: &TopicPartition, source: &Source, fetchers: usize) -> FetcherKey {
    let hash =
        tp.0.encode_utf16()
            .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let id = (hash.wrapping_mul(31).wrapping_add(tp.1)).unsigned_abs() as usize % fetchers.max(1);
    FetcherKey {
        leader: source.leader,
        addr: source.addr.clone(),
        id,
    }
}

/// The changes that make `current` (fetcher -> partition -> leader epoch it fetches under)
/// follow `want` with `fetchers` fetchers per leader.
pub fn plan(
    current: &BTreeMap<FetcherKey, BTreeMap<TopicPartition, i32>>,
    want: &BTreeMap<TopicPartition, Source>,
    fetchers: usize,
) -> Plan {
    let mut out = Plan::default();
    for (key, parts) in current {
        for (tp, epoch) in parts {
            match want.get(tp) {
                Some(s) if fetcher_for(tp, s, fetchers) == *key => {
                    if s.leader_epoch != *epoch {
                        out.start.push((key.clone(), tp.clone(), s.leader_epoch));
                    }
                }
                _ => out.remove.push((key.clone(), tp.clone())),
            }
        }
    }
    for (tp, s) in want {
        let key = fetcher_for(tp, s, fetchers);
        if !current.get(&key).is_some_and(|p| p.contains_key(tp)) {
            out.start.push((key, tp.clone(), s.leader_epoch));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(t: &str, i: i32) -> TopicPartition {
        (t.to_string(), i)
    }

    fn src(leader: i32, epoch: i32) -> Source {
        Source {
            leader,
            addr: format!("127.0.0.1:{}", 9000 + leader),
            leader_epoch: epoch,
        }
    }

    /// Applies a plan to `current` as the fetchers do.
    fn apply(current: &mut BTreeMap<FetcherKey, BTreeMap<TopicPartition, i32>>, p: &Plan) {
        for (k, tp) in &p.remove {
            current.get_mut(k).map(|m| m.remove(tp));
        }
        for (k, tp, e) in &p.start {
            current.entry(k.clone()).or_default().insert(tp.clone(), *e);
        }
        current.retain(|_, m| !m.is_empty());
    }

    /// Plans against `current` and applies the plan.
    fn step(
        current: &mut BTreeMap<FetcherKey, BTreeMap<TopicPartition, i32>>,
        want: &BTreeMap<TopicPartition, Source>,
        fetchers: usize,
    ) {
        let p = plan(current, want, fetchers);
        apply(current, &p);
    }

    #[test]
    fn one_fetcher_per_leader_serves_all_its_partitions() {
        let want: BTreeMap<_, _> = (0..12).map(|i| (tp("t", i), src(1 + i % 2, 0))).collect();
        let mut current = BTreeMap::new();
        let p = plan(&current, &want, 1);
        assert!(p.remove.is_empty());
        assert_eq!(p.start.len(), 12);
        apply(&mut current, &p);
        assert_eq!(current.len(), 2, "one fetcher per leader: {current:?}");
        assert!(current.values().all(|m| m.len() == 6));
        // Nothing changed: nothing to do.
        assert_eq!(plan(&current, &want, 1), Plan::default());
    }

    #[test]
    fn partitions_added_and_removed_while_fetching() {
        let mut want: BTreeMap<_, _> = (0..4).map(|i| (tp("a", i), src(1, 0))).collect();
        let mut current = BTreeMap::new();
        step(&mut current, &want, 1);
        want.insert(tp("b", 0), src(1, 3));
        want.remove(&tp("a", 2));
        let p = plan(&current, &want, 1);
        let key = fetcher_for(&tp("a", 0), &src(1, 0), 1);
        assert_eq!(p.remove, vec![(key.clone(), tp("a", 2))]);
        assert_eq!(p.start, vec![(key.clone(), tp("b", 0), 3)]);
        apply(&mut current, &p);
        assert_eq!(current[&key].len(), 4);
        // Nothing followed any more: the fetcher is empty (and is stopped).
        let p = plan(&current, &BTreeMap::new(), 1);
        assert_eq!(p.remove.len(), 4);
        apply(&mut current, &p);
        assert!(current.is_empty());
    }

    #[test]
    fn a_leader_change_moves_the_partition_to_the_new_leaders_fetcher() {
        let mut want: BTreeMap<_, _> = [(tp("t", 0), src(1, 0)), (tp("t", 1), src(1, 0))].into();
        let mut current = BTreeMap::new();
        step(&mut current, &want, 1);
        want.insert(tp("t", 0), src(2, 1));
        let p = plan(&current, &want, 1);
        let old = fetcher_for(&tp("t", 0), &src(1, 0), 1);
        let new = fetcher_for(&tp("t", 0), &src(2, 1), 1);
        assert_ne!(old, new);
        assert_eq!(p.remove, vec![(old.clone(), tp("t", 0))]);
        assert_eq!(p.start, vec![(new.clone(), tp("t", 0), 1)]);
        apply(&mut current, &p);
        assert_eq!(current[&old].len(), 1);
        assert_eq!(current[&new][&tp("t", 0)], 1);
    }

    #[test]
    fn a_new_epoch_under_the_same_leader_restarts_the_partition_in_place() {
        let mut want: BTreeMap<_, _> = [(tp("t", 0), src(1, 4))].into();
        let mut current = BTreeMap::new();
        step(&mut current, &want, 1);
        want.insert(tp("t", 0), src(1, 5));
        let p = plan(&current, &want, 1);
        let key = fetcher_for(&tp("t", 0), &src(1, 5), 1);
        assert!(p.remove.is_empty());
        assert_eq!(p.start, vec![(key, tp("t", 0), 5)]);
    }

    #[test]
    fn a_leader_at_a_new_address_gets_a_new_fetcher() {
        let mut want: BTreeMap<_, _> = [(tp("t", 0), src(1, 0))].into();
        let mut current = BTreeMap::new();
        step(&mut current, &want, 1);
        let mut moved = src(1, 0);
        moved.addr = "127.0.0.2:9001".into();
        want.insert(tp("t", 0), moved.clone());
        let p = plan(&current, &want, 1);
        assert_eq!(p.remove.len(), 1);
        assert_eq!(p.start[0].0.addr, moved.addr);
    }

    #[test]
    fn partitions_spread_over_num_replica_fetchers() {
        let want: BTreeMap<_, _> = (0..64).map(|i| (tp("t", i), src(1, 0))).collect();
        let mut current = BTreeMap::new();
        step(&mut current, &want, 4);
        assert_eq!(current.len(), 4, "{:?}", current.keys());
        assert_eq!(current.values().map(BTreeMap::len).sum::<usize>(), 64);
        // Kafka's hash of consecutive partitions of one topic is round-robin.
        assert!(current.values().all(|m| m.len() == 16));
        // Fewer fetchers: every partition lands in one of the remaining ones, none lost.
        let p = plan(&current, &want, 2);
        apply(&mut current, &p);
        assert_eq!(current.len(), 2);
        assert_eq!(current.values().map(BTreeMap::len).sum::<usize>(), 64);
        assert!(current.keys().all(|k| k.id < 2));
    }

    #[test]
    fn the_fetcher_id_is_kafkas() {
        // Java: "topic".hashCode() == 110546223; abs(31 * h + 3) % 5.
        let h: i32 = 110_546_223;
        let expect = (h.wrapping_mul(31).wrapping_add(3)).unsigned_abs() as usize % 5;
        assert_eq!(fetcher_for(&tp("topic", 3), &src(1, 0), 5).id, expect);
        assert_eq!(fetcher_for(&tp("topic", 3), &src(1, 0), 0).id, 0);
    }
}
