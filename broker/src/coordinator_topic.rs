//! Cluster mode's coordinator topics: `__consumer_offsets` (consumer groups, group/replicated.rs)
//! and `__transaction_state` (transactional ids, txn/replicated.rs). The coordinator of a key
//! is the leader of partition `abs(javaHashCode(key)) % partitions`, as in Kafka; the topic is
//! created through the controller on the first FindCoordinator, with its replication factor
//! capped (with a warning) at the expected cluster size.

use crate::cluster::image::{Command, NO_LEADER, Outcome, Refusal};
use crate::node::Node;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where a coordinator is reached (FindCoordinator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorAddress {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
}

/// Why a coordinator topic names no coordinator for a key yet (all retriable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    NotInCluster,
    CatchingUp,
    /// The topic does not exist: the caller has it created (`create_once`).
    Missing,
    NoLiveLeader {
        partition: i32,
    },
}

/// Kafka's `partitionFor`: `abs(javaHashCode(key)) % partitions`, with the key hashed as a Java
/// string (UTF-16 code units).
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    let mut h: i32 = 0;
    for c in key.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(c));
    }
    // Kafka's Utils.abs: i32::MIN maps to 0.
    let h = if h == i32::MIN { 0 } else { h.abs() };
    h % partitions.max(1)
}

/// FindCoordinator in cluster mode: the live leader of `key`'s partition of `topic`, reached at
/// `listener`.
pub fn leader(
    node: &Node,
    topic: &str,
    key: &str,
    listener: &str,
) -> Result<CoordinatorAddress, Unknown> {
    let cluster = node.quorum().ok_or(Unknown::NotInCluster)?;
    if !cluster.is_registered() {
        return Err(Unknown::CatchingUp);
    }
    let img = cluster.image();
    let t = img.topics.get(topic).ok_or(Unknown::Missing)?;
    let n = i32::try_from(t.partitions.len()).unwrap_or(i32::MAX).max(1);
    let index = partition_for(key, n);
    let leader = usize::try_from(index)
        .ok()
        .and_then(|i| t.partitions.get(i))
        .map_or(NO_LEADER, |p| p.leader);
    img.brokers
        .get(&leader)
        .filter(|b| !b.fenced)
        .map(|b| {
            let (host, port) = b.endpoint(listener);
            CoordinatorAddress {
                node_id: b.id,
                host: host.to_string(),
                port,
            }
        })
        .ok_or(Unknown::NoLiveLeader { partition: index })
}

/// The replication factor of a coordinator topic: the configured one, capped at the expected
/// cluster size (the larger of the voter count and the registered brokers); and whether it was
/// capped. Creation waits until that many brokers are live.
pub fn replication_factor(configured: i64, voters: usize, registered: usize) -> (i16, bool) {
    let configured = configured.clamp(1, i64::from(i16::MAX)) as usize;
    let rf = configured.min(voters.max(registered)).max(1);
    (i16::try_from(rf).unwrap_or(i16::MAX), rf < configured)
}

/// How a coordinator topic is created: its name, the broker settings of its size, and its
/// topic configs.
pub struct Spec {
    pub topic: &'static str,
    /// e.g. `offsets.topic.replication.factor`.
    pub replication_factor_key: &'static str,
    /// e.g. `offsets.topic.num.partitions`.
    pub partitions_key: &'static str,
    pub configs: BTreeMap<String, String>,
    /// `min.insync.replicas` from this broker setting, at most the replication factor (a larger
    /// one would refuse every write).
    pub min_isr_key: Option<&'static str>,
}

/// min.insync.replicas of a coordinator topic: the configured one, at most its replication
/// factor.
pub fn min_isr(configured: i64, rf: i16) -> i64 {
    configured.clamp(1, i64::from(rf.max(1)))
}

/// Creates the topic through the controller (nothing to do if it exists).
pub async fn create(node: &Node, spec: &Spec) -> Result<(), String> {
    let cluster = node.quorum().cloned().ok_or("not in cluster mode")?;
    let configured = node.config.get_i64(spec.replication_factor_key);
    let (registered, live) = {
        let img = cluster.image();
        if img.topics.contains_key(spec.topic) {
            return Ok(());
        }
        (img.brokers.len(), img.live_brokers().len())
    };
    let (rf, capped) = replication_factor(configured, cluster.voter_count(), registered);
    if capped {
        tracing::warn!(
            configured,
            rf,
            "{} is larger than the cluster: creating {} with a smaller replication factor",
            spec.replication_factor_key,
            spec.topic
        );
    }
    if live < rf as usize {
        return Err(format!(
            "{live} live brokers, {rf} needed for the replication factor of {}",
            spec.topic
        ));
    }
    let partitions = i32::try_from(node.config.get_i64(spec.partitions_key))
        .unwrap_or(1)
        .max(1);
    let mut configs = spec.configs.clone();
    if let Some(key) = spec.min_isr_key {
        configs.insert(
            "min.insync.replicas".into(),
            min_isr(node.config.get_i64(key), rf).to_string(),
        );
    }
    let cmd = Command::CreateTopic {
        name: spec.topic.into(),
        id: uuid::Uuid::new_v4(),
        configs,
        assignment: None,
        partitions,
        replication_factor: rf,
    };
    match cluster.write(cmd).await {
        Ok(Outcome::Ok) => {
            tracing::info!(partitions, rf, "created {} through the quorum", spec.topic);
            Ok(())
        }
        Ok(Outcome::Refused(Refusal::TopicExists, _)) => Ok(()),
        Ok(Outcome::Refused(_, m)) | Err(m) => Err(m),
    }
}

/// Creates the topic in the background, one request at a time (`in_flight`); a failure is
/// logged at info, not warn: clients retry FindCoordinator often while brokers are missing.
pub fn create_once(in_flight: &Arc<AtomicBool>, node: &Arc<Node>, spec: Spec) {
    if in_flight.swap(true, Ordering::SeqCst) {
        return;
    }
    let node = Arc::clone(node);
    let in_flight = Arc::clone(in_flight);
    tokio::spawn(async move {
        if let Err(m) = create(&node, &spec).await {
            tracing::info!(error = %m, "{} not created yet; a later FindCoordinator retries", spec.topic);
        }
        in_flight.store(false, Ordering::SeqCst);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_factor_is_capped_at_the_expected_cluster_size() {
        assert_eq!(replication_factor(3, 3, 3), (3, false));
        assert_eq!(replication_factor(3, 3, 1), (3, false));
        assert_eq!(replication_factor(3, 1, 1), (1, true));
        assert_eq!(replication_factor(3, 1, 2), (2, true));
        assert_eq!(replication_factor(2, 3, 5), (2, false));
        assert_eq!(replication_factor(0, 3, 3), (1, false));
    }

    #[test]
    fn min_isr_never_exceeds_the_replication_factor() {
        assert_eq!(min_isr(2, 3), 2);
        assert_eq!(min_isr(2, 1), 1);
        assert_eq!(min_isr(0, 3), 1);
    }
}
