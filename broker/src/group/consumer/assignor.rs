//! The server-side assignors of KIP-848 groups, pure: given each member's subscribed topics
//! (already resolved from names and regexes) and the topics' partition counts, the target
//! assignment per member. `uniform` spreads every partition evenly and keeps partitions where
//! they were when that stays balanced (Kafka's default); `range` gives each member a contiguous
//! range of every topic it subscribes to (Kafka's `range`, for co-partitioned joins).

use super::{Assignment, TopicMeta};
use std::collections::{BTreeMap, BTreeSet};

pub const UNIFORM: &str = "uniform";
pub const RANGE: &str = "range";

/// The assignors this broker offers, default first.
pub const ASSIGNORS: [&str; 2] = [UNIFORM, RANGE];

/// One member as an assignor sees it.
pub struct MemberSpec<'a> {
    pub member_id: &'a str,
    pub topics: BTreeSet<&'a str>,
    /// Its current target (for stickiness).
    pub current: Option<&'a Assignment>,
}

/// The target assignment of every member under `assignor` (`range` or anything else: uniform).
pub fn assign(
    assignor: &str,
    members: &[MemberSpec<'_>],
    topics: &BTreeMap<String, TopicMeta>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.member_id.to_string(), Assignment::new()))
        .collect();
    if assignor == RANGE {
        range(members, topics, &mut out);
    } else {
        uniform(members, topics, &mut out);
    }
    out
}

fn range(
    members: &[MemberSpec<'_>],
    topics: &BTreeMap<String, TopicMeta>,
    out: &mut BTreeMap<String, Assignment>,
) {
    for (name, meta) in topics {
        // Members in id order (the slice is sorted by the caller).
        let subs: Vec<&str> = members
            .iter()
            .filter(|m| m.topics.contains(name.as_str()))
            .map(|m| m.member_id)
            .collect();
        if subs.is_empty() {
            continue;
        }
        let n = meta.partitions.max(0) as usize;
        let (per, extra) = (n / subs.len(), n % subs.len());
        let mut next = 0usize;
        for (i, m) in subs.iter().enumerate() {
            let count = per + usize::from(i < extra);
            let parts: BTreeSet<i32> = (next..next + count).map(|p| p as i32).collect();
            next += count;
            if !parts.is_empty()
                && let Some(a) = out.get_mut(*m)
            {
                a.insert(meta.id, parts);
            }
        }
    }
}

fn uniform(
    members: &[MemberSpec<'_>],
    topics: &BTreeMap<String, TopicMeta>,
    out: &mut BTreeMap<String, Assignment>,
) {
    // Every subscribed partition, with the members that may take it.
    let mut partitions: Vec<((uuid::Uuid, i32), Vec<&str>)> = Vec::new();
    for (name, meta) in topics {
        let eligible: Vec<&str> = members
            .iter()
            .filter(|m| m.topics.contains(name.as_str()))
            .map(|m| m.member_id)
            .collect();
        if eligible.is_empty() {
            continue;
        }
        for p in 0..meta.partitions.max(0) {
            partitions.push(((meta.id, p), eligible.clone()));
        }
    }
    let subscribers = members.iter().filter(|m| !m.topics.is_empty()).count();
    if subscribers == 0 {
        return;
    }
    // At most this many per member keeps it balanced (exact when subscriptions are the same).
    let quota = partitions.len().div_ceil(subscribers);
    let mut counts: BTreeMap<&str, usize> = members.iter().map(|m| (m.member_id, 0)).collect();
    let owner_of = |tp: &(uuid::Uuid, i32)| -> Option<&str> {
        members
            .iter()
            .find(|m| {
                m.current
                    .and_then(|a| a.get(&tp.0))
                    .is_some_and(|ps| ps.contains(&tp.1))
            })
            .map(|m| m.member_id)
    };
    let mut unassigned = Vec::new();
    // Sticky pass: a partition stays with its current owner while that owner is eligible and
    // under the quota.
    for (tp, eligible) in &partitions {
        match owner_of(tp) {
            Some(o) if eligible.contains(&o) && counts[o] < quota => {
                give(out, &mut counts, o, *tp);
            }
            _ => unassigned.push((*tp, eligible)),
        }
    }
    // The rest to the eligible member with the fewest partitions (ties: the smallest id).
    for (tp, eligible) in unassigned {
        let Some(m) = eligible.iter().min_by_key(|m| (counts[**m], **m)).copied() else {
            continue;
        };
        give(out, &mut counts, m, tp);
    }
}

fn give<'a>(
    out: &mut BTreeMap<String, Assignment>,
    counts: &mut BTreeMap<&'a str, usize>,
    member: &'a str,
    (topic, partition): (uuid::Uuid, i32),
) {
    if let Some(a) = out.get_mut(member) {
        a.entry(topic).or_default().insert(partition);
        *counts.entry(member).or_default() += 1;
    }
}
