//! Writing a transaction's COMMIT/ABORT markers to each of its partitions: in process where
//! this broker leads the partition, otherwise with WriteTxnMarkers to the partition's leader
//! (cluster mode), which appends the control batch, makes it durable and waits for its ISR
//! before answering. Partitions whose leader moved (NOT_LEADER_OR_FOLLOWER, unreachable) are
//! retried against the leader the metadata image names next, until a deadline; what is still
//! missing then fails the completion, which the coordinator's timer retries (the transaction
//! stays prepared, so it is never decided twice).

use super::TxnCoordinator;
use super::state::{TxnError, TxnMetadata};
use crate::cluster::image::NO_LEADER;
use crate::node::Node;
use crate::partition::{Partition, PartitionError};
use eddy_kafka_client::{Client as KafkaConn, Config as KafkaConfig};
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersRequest};
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// How long one completion keeps retrying partitions whose leader moves.
const DEADLINE: Duration = Duration::from_secs(20);
/// How long a marker waits for its partition's ISR (Kafka's request timeout for markers).
pub(crate) const ISR_TIMEOUT: Duration = Duration::from_secs(10);
const RPC_TIMEOUT: Duration = Duration::from_secs(15);
const CLIENT_ID: &str = "eddy-txn-markers";

/// Where a partition's marker goes now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Here,
    Broker(i32),
    /// No leader right now (or the topic is gone: `Gone`).
    NoLeader,
    Gone,
}

impl TxnCoordinator {
    /// Writes `m`'s markers (commit or abort) to every partition of the transaction, durable
    /// and (cluster mode) in the ISR of each.
    pub(super) async fn write_markers(
        &self,
        node: &Node,
        m: &TxnMetadata,
        coordinator_epoch: i32,
    ) -> Result<(), TxnError> {
        let commit = m.committing();
        let mut missing: BTreeSet<(String, i32)> = m.partitions.iter().cloned().collect();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let mut backoff = Duration::from_millis(50);
        loop {
            let mut by_target: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
            let mut here = Vec::new();
            for (topic, index) in &missing {
                match target(node, topic, *index) {
                    Target::Here => here.push((topic.clone(), *index)),
                    Target::Broker(b) => by_target
                        .entry(b)
                        .or_default()
                        .push((topic.clone(), *index)),
                    Target::Gone => {
                        tracing::warn!(
                            topic,
                            partition = index,
                            "no marker for a partition that no longer exists"
                        );
                        here.push((topic.clone(), *index));
                    }
                    Target::NoLeader => {}
                }
            }
            for (t, p) in self
                .write_here(
                    node,
                    &here,
                    m.producer_id,
                    m.epoch,
                    commit,
                    coordinator_epoch,
                )
                .await
            {
                missing.remove(&(t, p));
            }
            for (broker, parts) in by_target {
                for done in self
                    .write_remote(node, broker, &parts, m, commit, coordinator_epoch)
                    .await
                {
                    missing.remove(&done);
                }
            }
            if missing.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() + backoff >= deadline {
                tracing::warn!(transactional_id = %m.transactional_id, missing = ?missing, "transaction markers not written before the deadline");
                return Err(TxnError::CoordinatorNotAvailable);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    /// Appends the markers of partitions this broker leads; returns those now durable (and
    /// in their ISR). Gone partitions count as done.
    async fn write_here(
        &self,
        node: &Node,
        parts: &[(String, i32)],
        pid: i64,
        epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> Vec<(String, i32)> {
        let mut done = Vec::new();
        let mut waits: Vec<((String, i32), Arc<Partition>, i64)> = Vec::new();
        let mut ticket = 0;
        for (topic, index) in parts {
            if topic == crate::group::store::TOPIC {
                // A group's offsets partition: its coordinator (here) decides the offsets.
                match self
                    .groups
                    .complete_txn_offsets(node, *index, pid, commit)
                    .await
                {
                    Ok(()) => done.push((topic.clone(), *index)),
                    Err(e) => {
                        tracing::debug!(partition = index, error = %e, "transactional offsets not decided here; retrying");
                    }
                }
                continue;
            }
            let Some(part) = node.partition(topic, *index) else {
                done.push((topic.clone(), *index));
                continue;
            };
            match write_one(node, &part, pid, epoch, commit, coordinator_epoch) {
                Ok((offset, t)) => {
                    ticket = ticket.max(t);
                    waits.push(((topic.clone(), *index), part, offset));
                }
                Err(e) => {
                    tracing::debug!(topic, partition = index, error = %e, "marker not written here; retrying");
                }
            }
        }
        if ticket > 0 && node.flusher.wait(ticket).await.is_err() {
            return done;
        }
        let isr: Vec<(Arc<Partition>, i64)> =
            waits.iter().map(|(_, p, o)| (Arc::clone(p), *o)).collect();
        let results = crate::replication::await_isr(node, &isr, ISR_TIMEOUT).await;
        for ((key, _, _), r) in waits.into_iter().zip(results) {
            if r.is_none() {
                done.push(key);
            }
        }
        done
    }

    /// WriteTxnMarkers to `broker` for `parts`; returns those it acknowledged.
    async fn write_remote(
        &self,
        node: &Node,
        broker: i32,
        parts: &[(String, i32)],
        m: &TxnMetadata,
        commit: bool,
        coordinator_epoch: i32,
    ) -> Vec<(String, i32)> {
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in parts {
            topics.entry(t.as_str()).or_default().push(*p);
        }
        let marker = WritableTxnMarker::default()
            .with_producer_id(ProducerId(m.producer_id))
            .with_producer_epoch(m.epoch)
            .with_transaction_result(commit)
            .with_coordinator_epoch(coordinator_epoch)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        WritableTxnMarkerTopic::default()
                            .with_name(TopicName(StrBytes::from_string(t.to_string())))
                            .with_partition_indexes(ps)
                    })
                    .collect(),
            );
        let req = WriteTxnMarkersRequest::default().with_markers(vec![marker]);
        let Some(mut conn) = self.connection(node, broker).await else {
            return Vec::new();
        };
        match conn.call_at(&req, 1).await {
            Ok(resp) => {
                self.return_connection(broker, conn).await;
                let mut done = Vec::new();
                for r in resp.markers {
                    for t in r.topics {
                        for p in t.partitions {
                            if p.error_code == 0 {
                                done.push((t.name.to_string(), p.partition_index));
                            } else {
                                tracing::debug!(broker, topic = %t.name.as_str(), partition = p.partition_index, error_code = p.error_code, "a leader refused a marker; retrying");
                            }
                        }
                    }
                }
                done
            }
            Err(e) => {
                tracing::debug!(broker, error = %e, "WriteTxnMarkers failed; reconnecting");
                Vec::new()
            }
        }
    }

    /// A connection to `broker` (cached, for markers and verifications; a failed one is
    /// dropped, not returned).
    pub(super) async fn connection(&self, node: &Node, broker: i32) -> Option<KafkaConn> {
        if let Some(c) = self.conns.lock().await.remove(&broker) {
            return Some(c);
        }
        let addr = broker_address(node, broker, self.inter_broker().listener.as_deref())?;
        match self
            .inter_broker()
            .connect(&addr, KafkaConfig::new(CLIENT_ID, RPC_TIMEOUT))
            .await
        {
            Ok(c) => Some(c.conn),
            Err(e) => {
                tracing::debug!(broker, %addr, error = %e, "cannot reach a partition leader for markers");
                None
            }
        }
    }

    pub(super) async fn return_connection(&self, broker: i32, conn: KafkaConn) {
        self.conns.lock().await.insert(broker, conn);
    }
}

/// Appends one marker as leader; (its offset, the flusher ticket that makes it durable).
pub(crate) fn write_one(
    node: &Node,
    part: &Arc<Partition>,
    pid: i64,
    epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
) -> Result<(i64, u64), PartitionError> {
    let offset = part.write_marker(pid, epoch, commit, coordinator_epoch)?;
    let ticket = node
        .flusher
        .mark(Arc::clone(part) as Arc<dyn crate::log::flusher::Durable>);
    Ok((offset, ticket))
}

/// Where the marker of `topic`-`index` goes now: this broker when it leads the partition (or
/// on one node), else the leader the metadata image names.
fn target(node: &Node, topic: &str, index: i32) -> Target {
    let local = node.partition(topic, index);
    if local.as_ref().is_some_and(|p| p.is_leader()) {
        return Target::Here;
    }
    let Some(cluster) = node.quorum() else {
        return if local.is_some() {
            Target::NoLeader
        } else {
            Target::Gone
        };
    };
    let img = cluster.image();
    let Some(t) = img.topics.get(topic) else {
        return Target::Gone;
    };
    let Some(p) = usize::try_from(index)
        .ok()
        .and_then(|i| t.partitions.get(i))
    else {
        return Target::Gone;
    };
    if p.leader == NO_LEADER {
        Target::NoLeader
    } else if p.leader == node.node_id() {
        // The image names us, but the partition has not taken over yet.
        Target::NoLeader
    } else {
        Target::Broker(p.leader)
    }
}

/// The address another broker is reached at (the inter-broker listener's endpoint).
pub(crate) fn broker_address(node: &Node, broker: i32, listener: Option<&str>) -> Option<String> {
    let cluster = node.quorum()?;
    let img = cluster.image();
    let b = img.brokers.get(&broker).filter(|b| !b.fenced)?;
    let (host, port) = match listener {
        Some(l) => b.endpoint(l),
        None => (b.host.as_str(), b.port),
    };
    Some(format!("{host}:{port}"))
}
