//! Automatic preferred-leader balancing, Kafka's `auto.leader.rebalance.enable`: after a broker
//! restarts, its partitions stay led by the replicas that took over, so one broker serves most
//! of the traffic until someone runs ElectLeaders. The active controller checks every
//! `leader.imbalance.check.interval.seconds` and, for each broker whose share of the partitions
//! it prefers (the first replica) but does not lead is above
//! `leader.imbalance.per.broker.percentage`, hands those partitions back to it — only where it
//! is in sync, so no acknowledged record can be lost by the move.
//!
//! The choice is pure ([`preferred_elections`]); the controller loop writes one preferred
//! `ElectLeader` per partition through the metadata log, the same command ElectLeaders uses.

use super::image::ClusterImage;
use std::collections::BTreeMap;
use std::time::Duration;

/// Kafka's defaults: on, 10 %, every 300 s.
pub const DEFAULT_IMBALANCE_PCT: u32 = 10;
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// Settings of the balancer; `None` in the cluster config when `auto.leader.rebalance.enable`
/// is false.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderBalance {
    /// `leader.imbalance.per.broker.percentage`: the share of a broker's preferred partitions
    /// it may fail to lead before the controller acts.
    pub imbalance_pct: u32,
    /// `leader.imbalance.check.interval.seconds`.
    pub interval: Duration,
}

impl Default for LeaderBalance {
    fn default() -> Self {
        LeaderBalance {
            imbalance_pct: DEFAULT_IMBALANCE_PCT,
            interval: DEFAULT_INTERVAL,
        }
    }
}

/// Partitions whose preferred replica should lead again, as (topic, partition), in topic and
/// partition order. A broker is considered when it can lead (registered, not fenced, not in
/// maintenance, not shutting down) and more than `imbalance_pct` % of the partitions it prefers
/// are led by another replica; of those, the partitions where it is in the ISR and no
/// reassignment is running are chosen.
#[must_use]
pub fn preferred_elections(img: &ClusterImage, imbalance_pct: u32) -> Vec<(String, i32)> {
    // broker -> (preferred partitions, of which led by someone else and electable)
    let mut preferred: BTreeMap<i32, usize> = BTreeMap::new();
    let mut not_led: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
    let mut not_led_count: BTreeMap<i32, usize> = BTreeMap::new();
    for (name, topic) in &img.topics {
        for (i, p) in topic.partitions.iter().enumerate() {
            let Some(&pref) = p.replicas.first() else {
                continue;
            };
            let Ok(partition) = i32::try_from(i) else {
                continue;
            };
            *preferred.entry(pref).or_default() += 1;
            if p.leader == pref {
                continue;
            }
            *not_led_count.entry(pref).or_default() += 1;
            let moving = img
                .reassignments
                .get(name)
                .is_some_and(|m| m.contains_key(&partition));
            if p.isr.contains(&pref) && !moving {
                not_led
                    .entry(pref)
                    .or_default()
                    .push((name.clone(), partition));
            }
        }
    }
    let mut out = Vec::new();
    for (broker, total) in preferred {
        let can_lead = img
            .brokers
            .get(&broker)
            .is_some_and(|b| !b.fenced && !b.maintenance && !b.shutting_down);
        let missing = not_led_count.get(&broker).copied().unwrap_or(0);
        // missing / total > pct / 100, in integers.
        if !can_lead || missing * 100 <= total * imbalance_pct as usize {
            continue;
        }
        out.extend(not_led.remove(&broker).unwrap_or_default());
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::image::{BrokerRegistration, PartitionState, Reassignment, TopicImage};

    fn broker(id: i32) -> BrokerRegistration {
        BrokerRegistration {
            id,
            host: "127.0.0.1".into(),
            port: 9092,
            rack: None,
            epoch: 1,
            fenced: false,
            maintenance: false,
            shutting_down: false,
            endpoints: Vec::new(),
            supported_features: crate::features::legacy_supported(),
        }
    }

    /// Topic `t` with one partition per (replicas, isr, leader).
    fn image(parts: &[(&[i32], &[i32], i32)]) -> ClusterImage {
        let mut img = ClusterImage::default();
        for id in 0..3 {
            img.brokers.insert(id, broker(id));
        }
        img.topics.insert(
            "t".into(),
            TopicImage {
                name: "t".into(),
                id: uuid::Uuid::nil(),
                configs: BTreeMap::new(),
                partitions: parts
                    .iter()
                    .map(|(r, isr, l)| PartitionState {
                        replicas: r.to_vec(),
                        isr: isr.to_vec(),
                        leader: *l,
                        leader_epoch: 0,
                    })
                    .collect(),
            },
        );
        img
    }

    #[test]
    fn a_restarted_broker_gets_its_in_sync_partitions_back() {
        // Broker 0 prefers partitions 0 and 1 and leads neither (it restarted); it is back in
        // the ISR of partition 0 only.
        let img = image(&[
            (&[0, 1, 2], &[0, 1, 2], 1),
            (&[0, 2, 1], &[2, 1], 2),
            (&[1, 2, 0], &[1, 2, 0], 1),
        ]);
        assert_eq!(preferred_elections(&img, 10), vec![("t".to_string(), 0)]);
    }

    #[test]
    fn a_balanced_cluster_or_a_small_imbalance_moves_nothing() {
        let balanced = image(&[(&[0, 1], &[0, 1], 0), (&[1, 0], &[1, 0], 1)]);
        assert!(preferred_elections(&balanced, 10).is_empty());
        // Broker 0 leads 9 of its 10 preferred partitions: 10 % is not above 10 %.
        let mut parts: Vec<(&[i32], &[i32], i32)> = vec![(&[0, 1], &[0, 1], 0); 9];
        parts.push((&[0, 1], &[0, 1], 1));
        assert!(preferred_elections(&image(&parts), 10).is_empty());
        assert_eq!(preferred_elections(&image(&parts), 5).len(), 1);
    }

    #[test]
    fn unavailable_brokers_and_moving_partitions_are_left_alone() {
        let mut img = image(&[(&[0, 1], &[0, 1], 1)]);
        img.brokers.get_mut(&0).expect("broker").fenced = true;
        assert!(preferred_elections(&img, 10).is_empty());
        let mut img = image(&[(&[0, 1], &[0, 1], 1)]);
        img.brokers.get_mut(&0).expect("broker").maintenance = true;
        assert!(preferred_elections(&img, 10).is_empty());
        let mut img = image(&[(&[0, 1], &[0, 1], 1)]);
        img.reassignments.entry("t".into()).or_default().insert(
            0,
            Reassignment {
                target: vec![0, 2],
                original: vec![0, 1],
            },
        );
        assert!(preferred_elections(&img, 10).is_empty());
    }
}
