//! Restart probes: what restarting this broker now would break (pre-restart), and whether it is
//! back in every ISR after a restart (post-restart). The operator gates each step of a rolling
//! restart on these answers. The evaluation is pure over a [`ReplicaView`] of every partition, so
//! a clustered broker only has to feed real replicas, ISR and leaders into it.

use crate::broker::BrokerState;
use crate::node::Node;
use serde::Serialize;

pub use crate::cluster::health::ReplicaView;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    WouldDropBelowMinIsr,
    WouldBeLeaderless,
}

/// A partition that restarting the broker would hurt: its view and how (serialized flat).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionProblem {
    #[serde(flatten)]
    pub view: ReplicaView,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreRestart {
    pub node_id: i32,
    pub state: BrokerState,
    pub safe: bool,
    pub reasons: Vec<String>,
    pub partitions: Vec<PartitionProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostRestart {
    pub node_id: i32,
    pub state: BrokerState,
    pub caught_up: bool,
    pub reasons: Vec<String>,
    pub out_of_isr: Vec<TopicPartition>,
}

/// Would restarting `node` now take a partition below min.insync.replicas or leave it without a
/// leader? Partitions whose replication factor is at most min.insync.replicas never block: they
/// cannot stay writable through any restart, and blocking on them would block forever.
pub fn pre_restart(node: i32, state: BrokerState, views: &[ReplicaView]) -> PreRestart {
    let mut reasons = Vec::new();
    if state == BrokerState::Recovering {
        reasons.push(
            "the broker is recovering its log; restarting it would start recovery over".into(),
        );
    }
    let mut partitions = Vec::new();
    for v in views.iter().filter(|v| v.isr.contains(&node)) {
        let rf = v.replicas.len();
        let isr_after = v.isr.iter().filter(|&&r| r != node).count();
        let problem = if v.leader == node && rf > 1 && isr_after == 0 {
            Some(Problem::WouldBeLeaderless)
        } else if rf > v.min_insync_replicas && isr_after < v.min_insync_replicas {
            Some(Problem::WouldDropBelowMinIsr)
        } else {
            None
        };
        if let Some(problem) = problem {
            reasons.push(match problem {
                Problem::WouldBeLeaderless => format!(
                    "{}-{} would have no leader: no other replica is in sync (ISR {:?})",
                    v.topic, v.partition, v.isr
                ),
                Problem::WouldDropBelowMinIsr => format!(
                    "{}-{} would drop to {isr_after} in-sync replica(s), below min.insync.replicas={} (ISR {:?})",
                    v.topic, v.partition, v.min_insync_replicas, v.isr
                ),
            });
            partitions.push(PartitionProblem {
                view: v.clone(),
                problem,
            });
        }
    }
    PreRestart {
        node_id: node,
        state,
        safe: reasons.is_empty(),
        reasons,
        partitions,
    }
}

/// Is `node` running and back in the ISR of every partition it replicates?
pub fn post_restart(node: i32, state: BrokerState, views: &[ReplicaView]) -> PostRestart {
    let mut reasons = Vec::new();
    if state != BrokerState::Running {
        reasons.push(format!("the broker is {state:?}, not running").to_lowercase());
    }
    let out_of_isr: Vec<TopicPartition> = views
        .iter()
        .filter(|v| v.replicas.contains(&node) && !v.isr.contains(&node))
        .map(|v| TopicPartition {
            topic: v.topic.clone(),
            partition: v.partition,
        })
        .collect();
    if !out_of_isr.is_empty() {
        reasons.push(format!(
            "not yet back in the ISR of {} partition(s)",
            out_of_isr.len()
        ));
    }
    PostRestart {
        node_id: node,
        state,
        caught_up: reasons.is_empty(),
        reasons,
        out_of_isr,
    }
}

/// Every partition this broker serves, as the probes see it. On a single node each partition has
/// this broker as its only replica, its leader and its whole ISR.
pub fn replica_views(broker: &Node) -> Vec<ReplicaView> {
    if let Some(c) = broker.quorum() {
        return crate::cluster::health::replica_views(&c.image(), |configs| {
            min_insync_replicas(broker, configs)
        });
    }
    let node = broker.node_id();
    broker
        .topics()
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| ReplicaView {
                topic: t.name.clone(),
                partition: p.index,
                replicas: vec![node],
                isr: vec![node],
                leader: node,
                min_insync_replicas: p.settings().min_insync_replicas,
            })
        })
        .collect()
}

/// A topic's effective min.insync.replicas (at least 1).
pub fn min_insync_replicas(
    broker: &Node,
    configs: &std::collections::BTreeMap<String, String>,
) -> usize {
    broker
        .topic_setting(configs, "min.insync.replicas")
        .parse::<usize>()
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(replicas: &[i32], isr: &[i32], leader: i32, min_isr: usize) -> ReplicaView {
        ReplicaView {
            topic: "t".into(),
            partition: 0,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader,
            min_insync_replicas: min_isr,
        }
    }

    #[test]
    fn single_node_is_safe_when_running_and_unsafe_in_recovery() {
        let views = [view(&[0], &[0], 0, 1)];
        assert!(pre_restart(0, BrokerState::Running, &views).safe);
        let recovering = pre_restart(0, BrokerState::Recovering, &views);
        assert!(!recovering.safe);
        assert!(recovering.reasons[0].contains("recovering"));
        assert!(recovering.partitions.is_empty());
    }

    #[test]
    fn full_isr_rf3_min2_is_safe_but_a_shrunk_isr_is_not() {
        assert!(
            pre_restart(
                1,
                BrokerState::Running,
                &[view(&[0, 1, 2], &[0, 1, 2], 0, 2)]
            )
            .safe
        );
        let p = pre_restart(1, BrokerState::Running, &[view(&[0, 1, 2], &[0, 1], 0, 2)]);
        assert!(!p.safe);
        assert_eq!(p.partitions[0].problem, Problem::WouldDropBelowMinIsr);
        assert!(p.reasons[0].contains("t-0"), "{:?}", p.reasons);
        // The operator reads the partition's fields and its problem side by side.
        let json = serde_json::to_value(&p.partitions[0]).unwrap();
        assert_eq!(json["topic"], "t");
        assert_eq!(json["isr"], serde_json::json!([0, 1]));
        assert_eq!(json["problem"], "would_drop_below_min_isr");
    }

    #[test]
    fn sole_in_sync_leader_of_a_replicated_partition_would_leave_it_leaderless() {
        let p = pre_restart(0, BrokerState::Running, &[view(&[0, 1], &[0], 0, 1)]);
        assert!(!p.safe);
        assert_eq!(p.partitions[0].problem, Problem::WouldBeLeaderless);
    }

    #[test]
    fn partitions_with_rf_at_most_min_isr_never_block() {
        assert!(pre_restart(0, BrokerState::Running, &[view(&[0, 1], &[0, 1], 1, 2)]).safe);
        // A broker outside the ISR changes nothing by restarting.
        assert!(pre_restart(2, BrokerState::Running, &[view(&[0, 1, 2], &[0, 1], 0, 2)]).safe);
    }

    #[test]
    fn post_restart_needs_running_and_every_isr() {
        let views = [
            view(&[0, 1, 2], &[0, 1], 0, 2),
            view(&[0, 1], &[0, 1], 0, 1),
        ];
        let p = post_restart(2, BrokerState::Running, &views);
        assert!(!p.caught_up);
        assert_eq!(
            p.out_of_isr,
            vec![TopicPartition {
                topic: "t".into(),
                partition: 0
            }]
        );
        assert!(post_restart(1, BrokerState::Running, &views).caught_up);
        let starting = post_restart(1, BrokerState::Starting, &views);
        assert!(!starting.caught_up);
        assert_eq!(
            starting.reasons,
            vec!["the broker is starting, not running".to_string()]
        );
    }
}
