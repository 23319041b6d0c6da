//! Plan step of the KafkaTopic reconcile (pure): the admin operations that take a topic from
//! what a broker has to what the spec asks, or why it cannot.
use std::collections::BTreeMap;

use crate::crd::{KafkaTopicSpec, reason};

/// A topic as observed on one broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedTopic {
    /// Partition count.
    pub partitions: i32,
    /// Configs set on the topic itself.
    pub config: BTreeMap<String, String>,
}

/// One admin operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// CreateTopics.
    Create {
        /// Partitions.
        partitions: i32,
        /// Replication factor.
        replicas: i16,
        /// Topic configs.
        config: BTreeMap<String, String>,
    },
    /// CreatePartitions up to this count.
    AddPartitions(i32),
    /// IncrementalAlterConfigs.
    AlterConfig {
        /// Keys to set.
        set: BTreeMap<String, String>,
        /// Keys to remove.
        delete: Vec<String>,
    },
}

/// Why the spec cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Machine-readable reason.
    pub reason: &'static str,
    /// Explanation.
    pub message: String,
}

/// Cluster facts the plan needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterFacts {
    /// Brokers in the cluster.
    pub brokers: i32,
    /// Brokers one topic can span (every broker of the cluster: they form one Kafka cluster).
    pub replicas_per_topic: i32,
    /// Plan's partition limit and the partitions other topics of the cluster already use.
    pub partition_budget: Option<(i32, i32)>,
}

/// Plans the operations for `spec` against `observed` (None: the topic does not exist).
///
/// # Errors
/// A [`Refusal`] for a partition decrease, a replication factor above what the cluster can
/// hold, or a plan's partition limit.
/// The replication factor of a topic: `spec.replicas`, else min(3, brokers) (at least 1).
#[must_use]
pub fn effective_replicas(spec: &KafkaTopicSpec, facts: ClusterFacts) -> i16 {
    spec.replicas
        .unwrap_or_else(|| i16::try_from(facts.replicas_per_topic.clamp(1, 3)).unwrap_or(1))
}

pub fn plan(
    spec: &KafkaTopicSpec,
    observed: Option<&ObservedTopic>,
    facts: ClusterFacts,
) -> Result<Vec<Step>, Refusal> {
    let replicas = effective_replicas(spec, facts);
    if i32::from(replicas) > facts.replicas_per_topic {
        return Err(Refusal {
            reason: reason::REPLICATION_FACTOR_TOO_HIGH,
            message: format!(
                "replicas {replicas} exceed what the cluster can place ({} broker(s))",
                facts.brokers
            ),
        });
    }
    if let Some((max, used_by_others)) = facts.partition_budget
        && used_by_others + spec.partitions > max
    {
        return Err(Refusal {
            reason: reason::PLAN_LIMIT_EXCEEDED,
            message: format!(
                "{} partitions would bring the cluster to {} of its plan's {max}",
                spec.partitions,
                used_by_others + spec.partitions
            ),
        });
    }
    let Some(observed) = observed else {
        return Ok(vec![Step::Create {
            partitions: spec.partitions,
            replicas,
            config: spec.config.clone(),
        }]);
    };
    if spec.partitions < observed.partitions {
        return Err(Refusal {
            reason: reason::PARTITION_DECREASE,
            message: format!(
                "partitions cannot decrease from {} to {}: Kafka cannot remove partitions",
                observed.partitions, spec.partitions
            ),
        });
    }
    let mut steps = Vec::new();
    if spec.partitions > observed.partitions {
        steps.push(Step::AddPartitions(spec.partitions));
    }
    let set: BTreeMap<String, String> = spec
        .config
        .iter()
        .filter(|(k, v)| observed.config.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let delete: Vec<String> = observed
        .config
        .keys()
        .filter(|k| !spec.config.contains_key(*k))
        .cloned()
        .collect();
    if !set.is_empty() || !delete.is_empty() {
        steps.push(Step::AlterConfig { set, delete });
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(partitions: i32, config: &[(&str, &str)]) -> KafkaTopicSpec {
        KafkaTopicSpec {
            cluster: "c".into(),
            topic_name: None,
            partitions,
            replicas: Some(1),
            config: config
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        }
    }

    const FACTS: ClusterFacts = ClusterFacts {
        brokers: 1,
        replicas_per_topic: 1,
        partition_budget: None,
    };

    #[test]
    fn missing_topic_is_created_with_its_config() {
        let steps = plan(&spec(3, &[("retention.ms", "1000")]), None, FACTS).expect("plan");
        assert!(
            matches!(&steps[..], [Step::Create { partitions: 3, replicas: 1, config }] if config.len() == 1)
        );
    }

    #[test]
    fn partitions_grow_and_config_converges() {
        let observed = ObservedTopic {
            partitions: 2,
            config: [
                ("cleanup.policy".into(), "compact".into()),
                ("retention.ms".into(), "5".into()),
            ]
            .into(),
        };
        let steps = plan(
            &spec(4, &[("retention.ms", "1000")]),
            Some(&observed),
            FACTS,
        )
        .expect("plan");
        assert_eq!(steps[0], Step::AddPartitions(4));
        assert_eq!(
            steps[1],
            Step::AlterConfig {
                set: [("retention.ms".into(), "1000".into())].into(),
                delete: vec!["cleanup.policy".into()],
            }
        );
    }

    #[test]
    fn decrease_is_refused() {
        let observed = ObservedTopic {
            partitions: 4,
            config: BTreeMap::new(),
        };
        let err = plan(&spec(2, &[]), Some(&observed), FACTS).expect_err("refused");
        assert_eq!(err.reason, reason::PARTITION_DECREASE);
    }

    #[test]
    fn replication_above_brokers_and_plan_limits_are_refused() {
        let mut s = spec(1, &[]);
        s.replicas = Some(3);
        assert_eq!(
            plan(&s, None, FACTS).expect_err("rf").reason,
            reason::REPLICATION_FACTOR_TOO_HIGH
        );
        let facts = ClusterFacts {
            partition_budget: Some((10, 8)),
            ..FACTS
        };
        assert_eq!(
            plan(&spec(3, &[]), None, facts).expect_err("limit").reason,
            reason::PLAN_LIMIT_EXCEEDED
        );
    }

    #[test]
    fn replication_defaults_to_three_or_the_broker_count() {
        let mut s = spec(1, &[]);
        s.replicas = None;
        for (brokers, rf) in [(1, 1), (2, 2), (3, 3), (5, 3)] {
            let facts = ClusterFacts {
                brokers,
                replicas_per_topic: brokers,
                partition_budget: None,
            };
            assert_eq!(effective_replicas(&s, facts), rf);
            let steps = plan(&s, None, facts).expect("plan");
            assert!(matches!(&steps[..], [Step::Create { replicas, .. }] if *replicas == rf));
        }
    }

    proptest! {
        #[test]
        fn converged_topic_needs_no_steps(p in 1i32..100, keys in proptest::collection::btree_map("[a-z.]{1,12}", "[0-9]{1,6}", 0..5)) {
            let mut s = spec(p, &[]);
            s.config = keys.clone();
            let observed = ObservedTopic { partitions: p, config: keys };
            prop_assert!(plan(&s, Some(&observed), FACTS).expect("plan").is_empty());
        }
    }
}
