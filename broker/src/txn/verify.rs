//! Cluster mode's KIP-890 defence: before a partition leader appends the first transactional
//! batch of a producer's transaction, it asks the transaction's coordinator (in process when it
//! is this broker, else with DescribeTransactions to the leader of the id's
//! `__transaction_state` partition) whether the partition is in the producer's ongoing
//! transaction at this epoch. The answer counts only if no marker of that producer reached the
//! partition while it was asked (the partition's verification token, partition/txn_index.rs),
//! so a late write of a finished transaction is refused, never appended after its marker.
//!
//! Transaction version 2 (Produce v12+, TxnOffsetCommit v5+): the client no longer sends
//! AddPartitionsToTxn, so the leader adds the partition to the producer's transaction on its
//! behalf instead of only verifying (Kafka: AddPartitionsToTxn v5 with `verify_only=false` to the
//! coordinator). The coordinator refuses a stale epoch, so a delayed write of a finished
//! transaction can never join the next one.

use super::state::{TxnError, TxnMetadata, TxnState};
use super::{TxnCoordinator, store};
use crate::node::Node;
use crate::partition::TxnVerifyError;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, DescribeTransactionsRequest, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::time::Duration;

/// A coordinator busy completing the transaction answers "retry": a few quick tries, then the
/// producer retries the batch.
const BUSY_TRIES: u32 = 5;

/// What the coordinator's view of `id` says about a batch of (`pid`, `epoch`) for the
/// partition (`in_txn`: the partition is among the transaction's). Pure.
pub fn verdict(
    state: TxnState,
    coordinator_pid: i64,
    coordinator_epoch: i16,
    in_txn: bool,
    pid: i64,
    epoch: i16,
) -> Result<(), TxnVerifyError> {
    if pid != coordinator_pid {
        return Err(TxnVerifyError::NotInTransaction);
    }
    if epoch < coordinator_epoch {
        return Err(TxnVerifyError::Fenced);
    }
    if epoch != coordinator_epoch || state != TxnState::Ongoing || !in_txn {
        return Err(TxnVerifyError::NotInTransaction);
    }
    Ok(())
}

/// A partition's verification of a batch with its remote coordinator: the partition's token
/// when it began, and the coordinator's answer.
pub struct PendingVerification {
    token: u64,
    answer: Result<(), TxnVerifyError>,
}

impl TxnCoordinator {
    /// Before appending `records` to `part` (Produce): in cluster mode, the first
    /// transactional batch of a producer's transaction on the partition is verified with the
    /// coordinator of `transactional_id` (later ones find the transaction open). With
    /// `add_partition` (Produce v12+, transaction version 2) the partition is added to the
    /// transaction first, on one node as in cluster mode. `None`: nothing more is needed than
    /// the check under the partition lock.
    pub async fn prepare_verification(
        &self,
        node: &Node,
        transactional_id: Option<&str>,
        part: &crate::partition::Partition,
        records: &[u8],
        add_partition: bool,
    ) -> Option<PendingVerification> {
        if !self.cluster && !add_partition {
            return None;
        }
        let h = crate::log::batch::BatchHeader::parse(records).ok()?;
        if !h.is_transactional() || h.is_control() || !h.has_producer_id() {
            return None;
        }
        if part.txn_open_at(h.producer_id, h.producer_epoch) {
            return None;
        }
        let part_id = [(part.topic.clone(), part.index)];
        if add_partition && !self.cluster {
            // One node: the check under the partition lock asks the coordinator's verified
            // set, which this add changes (a refusal leaves the partition out of it).
            let id = transactional_id?;
            if let Err(e) = self
                .add_for_producer(node, id, h.producer_id, h.producer_epoch, &part_id)
                .await
            {
                tracing::debug!(topic = %part.topic, partition = part.index, producer_id = h.producer_id, epoch = h.producer_epoch, error = %e, "the coordinator refused to add the partition");
                // Busy (the previous transaction's markers in flight): the producer retries,
                // as Kafka answers a Produce whose add met CONCURRENT_TRANSACTIONS.
                if to_verify_error(e) == TxnVerifyError::Retriable {
                    return Some(PendingVerification {
                        token: 0,
                        answer: Err(TxnVerifyError::Retriable),
                    });
                }
            }
            return None;
        }
        let token = part.begin_txn_verification(h.producer_id);
        let answer: Result<(), TxnVerifyError> = if add_partition {
            let id = transactional_id?;
            self.add_for_producer(node, id, h.producer_id, h.producer_epoch, &part_id)
                .await
                .map_err(to_verify_error)
        } else {
            self.verify_cluster(
                node,
                transactional_id,
                &part.topic,
                part.index,
                h.producer_id,
                h.producer_epoch,
            )
            .await
        };
        tracing::debug!(topic = %part.topic, partition = part.index, producer_id = h.producer_id, epoch = h.producer_epoch, ?answer, "verified a transactional batch with its coordinator");
        Some(PendingVerification { token, answer })
    }

    /// Produce's check of a transactional batch under the partition lock: on one node the
    /// coordinator's verified set; in cluster mode an open transaction of the producer at this
    /// epoch, or the coordinator's answer if no marker came since it was asked.
    pub fn check_append(
        &self,
        pending: Option<&PendingVerification>,
        topic: &str,
        partition: i32,
        pid: i64,
        epoch: i16,
        index: &crate::partition::txn_index::TxnIndex,
    ) -> Result<(), TxnVerifyError> {
        if !self.cluster {
            // One node: only a busy coordinator's refusal is carried over (the verified set
            // decides everything else).
            if let Some(PendingVerification { answer: Err(e), .. }) = pending {
                return Err(*e);
            }
            return self.verify(topic, partition, pid, epoch);
        }
        if index.open_at(pid, epoch) {
            return Ok(());
        }
        match pending {
            Some(v) if index.verification(pid) == Some(v.token) => v.answer,
            _ => Err(TxnVerifyError::NotInTransaction),
        }
    }

    /// Whether the batch of (`pid`, `epoch`) of transactional id `id` may join the
    /// transaction on `topic`-`partition` (cluster mode).
    pub async fn verify_cluster(
        &self,
        node: &Node,
        id: Option<&str>,
        topic: &str,
        partition: i32,
        pid: i64,
        epoch: i16,
    ) -> Result<(), TxnVerifyError> {
        let Some(id) = id else {
            return Err(TxnVerifyError::NotInTransaction);
        };
        for attempt in 0..BUSY_TRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
            let view = match self.coordinator_of(node, id) {
                None => return Err(TxnVerifyError::Retriable),
                Some(b) if b == node.node_id() => self.local_view(node, id),
                Some(b) => self.remote_view(node, b, id).await,
            };
            match view {
                Ok(Some((state, cpid, cepoch, parts))) => {
                    let in_txn = parts.contains(&(topic.to_string(), partition));
                    return verdict(state, cpid, cepoch, in_txn, pid, epoch);
                }
                Ok(None) => return Err(TxnVerifyError::NotInTransaction),
                Err(Busy::Retry) => {}
                Err(Busy::Unavailable) => return Err(TxnVerifyError::Retriable),
            }
        }
        Err(TxnVerifyError::Retriable)
    }

    /// Transaction version 2: adds `partitions` to the ongoing transaction of (`pid`, `epoch`)
    /// of `id` (beginning one if none is), at the id's coordinator: in process, or
    /// AddPartitionsToTxn v5 (`verify_only=false`, the brokers' batch form) to the broker that
    /// coordinates it. Used by Produce v12+ and TxnOffsetCommit v5+.
    pub async fn add_for_producer(
        &self,
        node: &Node,
        id: &str,
        pid: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), TxnError> {
        let mut last = TxnError::CoordinatorNotAvailable;
        for attempt in 0..BUSY_TRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
            // The previous transaction's markers may still be in flight (EndTxn answers at
            // PREPARE): a few quick tries, then the producer retries the batch.
            let r = match self.coordinator_of(node, id) {
                _ if !self.cluster => self.add(node, id, pid, epoch, partitions, &[]).await,
                None => Err(TxnError::CoordinatorNotAvailable),
                Some(b) if b == node.node_id() => {
                    self.add(node, id, pid, epoch, partitions, &[]).await
                }
                Some(b) => self.remote_add(node, b, id, pid, epoch, partitions).await,
            };
            match r {
                Err(
                    e @ (TxnError::ConcurrentTransactions
                    | TxnError::CoordinatorLoadInProgress
                    | TxnError::NotCoordinator),
                ) => last = e,
                other => return other,
            }
        }
        Err(last)
    }

    /// Transaction version 2 (TxnOffsetCommit v5+): `group` joins the ongoing transaction of
    /// (`pid`, `epoch`) of `id`, as AddOffsetsToTxn did for older clients: on one node the
    /// group itself, in cluster mode its `__consumer_offsets` partition (whose marker decides
    /// the offsets the group's coordinator holds).
    pub async fn add_group_for_producer(
        &self,
        node: &Node,
        id: &str,
        pid: i64,
        epoch: i16,
        group: &str,
    ) -> Result<(), TxnError> {
        if !self.cluster {
            return self
                .add(node, id, pid, epoch, &[], &[group.to_string()])
                .await;
        }
        let n = node
            .topic(crate::group::store::TOPIC)
            .map(|t| i32::try_from(t.partitions.len()).unwrap_or(i32::MAX).max(1))
            .ok_or(TxnError::CoordinatorNotAvailable)?;
        let part = (
            crate::group::store::TOPIC.to_string(),
            crate::group::store::partition_for(group, n),
        );
        self.add_for_producer(node, id, pid, epoch, &[part]).await
    }

    async fn remote_add(
        &self,
        node: &Node,
        broker: i32,
        id: &str,
        pid: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), TxnError> {
        let mut conn = self
            .connection(node, broker)
            .await
            .ok_or(TxnError::CoordinatorNotAvailable)?;
        let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
        for (t, p) in partitions {
            match topics.iter_mut().find(|x| x.name.as_str() == t) {
                Some(x) => x.partitions.push(*p),
                None => topics.push(
                    AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(StrBytes::from_string(t.clone())))
                        .with_partitions(vec![*p]),
                ),
            }
        }
        let req = AddPartitionsToTxnRequest::default().with_transactions(vec![
            AddPartitionsToTxnTransaction::default()
                .with_transactional_id(StrBytes::from_string(id.to_string()).into())
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_verify_only(false)
                .with_topics(topics),
        ]);
        let resp = conn.call_at(&req, 5).await.map_err(|e| {
            tracing::debug!(broker, error = %e, "AddPartitionsToTxn to the coordinator failed");
            TxnError::CoordinatorNotAvailable
        })?;
        self.return_connection(broker, conn).await;
        let code = if resp.error_code != 0 {
            resp.error_code
        } else {
            resp.results_by_transaction
                .iter()
                .flat_map(|t| &t.topic_results)
                .flat_map(|t| &t.results_by_partition)
                .map(|p| p.partition_error_code)
                .find(|c| *c != 0)
                .unwrap_or(0)
        };
        from_code(code)
    }

    /// The broker the metadata image names as `id`'s coordinator.
    fn coordinator_of(&self, node: &Node, id: &str) -> Option<i32> {
        let cluster = node.quorum()?;
        let img = cluster.image();
        let t = img.topics.get(store::TOPIC)?;
        let n = i32::try_from(t.partitions.len()).ok()?.max(1);
        let p = t
            .partitions
            .get(usize::try_from(store::partition_for(id, n)).ok()?)?;
        (p.leader >= 0).then_some(p.leader)
    }

    fn local_view(&self, node: &Node, id: &str) -> Result<Option<View>, Busy> {
        match self.check_owner(node, id).and_then(|()| self.describe(id)) {
            Ok(m) => Ok(m.map(|m: TxnMetadata| {
                (
                    m.state,
                    m.producer_id,
                    m.epoch,
                    m.partitions.into_iter().collect(),
                )
            })),
            Err(TxnError::ConcurrentTransactions | TxnError::CoordinatorLoadInProgress) => {
                Err(Busy::Retry)
            }
            Err(_) => Err(Busy::Unavailable),
        }
    }

    async fn remote_view(&self, node: &Node, broker: i32, id: &str) -> Result<Option<View>, Busy> {
        let mut conn = self
            .connection(node, broker)
            .await
            .ok_or(Busy::Unavailable)?;
        let req = DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![StrBytes::from_string(id.to_string()).into()]);
        let resp = conn.call_at(&req, 0).await.map_err(|e| {
            tracing::debug!(broker, error = %e, "DescribeTransactions to the coordinator failed");
            Busy::Unavailable
        })?;
        self.return_connection(broker, conn).await;
        let Some(s) = resp.transaction_states.into_iter().next() else {
            return Err(Busy::Unavailable);
        };
        match s.error_code {
            0 => {}
            // TRANSACTIONAL_ID_NOT_FOUND
            105 => return Ok(None),
            // CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS
            51 | 14 => return Err(Busy::Retry),
            _ => return Err(Busy::Unavailable),
        }
        let Some(state) = TxnState::from_name(s.transaction_state.as_str()) else {
            return Err(Busy::Unavailable);
        };
        let parts = s
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic.to_string(), *p)))
            .collect();
        Ok(Some((state, s.producer_id.0, s.producer_epoch, parts)))
    }
}

/// A coordinator's refusal to add a partition, as the partition's check answers it.
fn to_verify_error(e: TxnError) -> TxnVerifyError {
    match e {
        TxnError::ProducerFenced | TxnError::InvalidProducerEpoch => TxnVerifyError::Fenced,
        TxnError::ConcurrentTransactions
        | TxnError::CoordinatorNotAvailable
        | TxnError::CoordinatorLoadInProgress
        | TxnError::NotCoordinator
        | TxnError::Storage => TxnVerifyError::Retriable,
        TxnError::InvalidProducerIdMapping
        | TxnError::InvalidTxnState
        | TxnError::InvalidTransactionTimeout
        | TxnError::Unsupported => TxnVerifyError::NotInTransaction,
    }
}

/// A remote coordinator's AddPartitionsToTxn answer code as the coordinator's refusal (the
/// codes its handler chose from these refusals, handlers/errors.rs).
fn from_code(code: i16) -> Result<(), TxnError> {
    Err(match code {
        0 => return Ok(()),
        // PRODUCER_FENCED, INVALID_PRODUCER_EPOCH
        90 => TxnError::ProducerFenced,
        47 => TxnError::InvalidProducerEpoch,
        // INVALID_PRODUCER_ID_MAPPING, INVALID_TXN_STATE
        49 => TxnError::InvalidProducerIdMapping,
        48 => TxnError::InvalidTxnState,
        // CONCURRENT_TRANSACTIONS, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS
        51 => TxnError::ConcurrentTransactions,
        16 => TxnError::NotCoordinator,
        14 => TxnError::CoordinatorLoadInProgress,
        _ => TxnError::CoordinatorNotAvailable,
    })
}

/// The coordinator's view of an id: state, producer id, epoch, partitions.
type View = (TxnState, i64, i16, Vec<(String, i32)>);

enum Busy {
    /// Busy completing or loading: ask again shortly.
    Retry,
    Unavailable,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_current_epochs_ongoing_transaction_with_the_partition_verifies() {
        use TxnState::{Ongoing, PrepareCommit};
        assert_eq!(verdict(Ongoing, 7, 2, true, 7, 2), Ok(()));
        assert_eq!(
            verdict(Ongoing, 7, 2, false, 7, 2),
            Err(TxnVerifyError::NotInTransaction)
        );
        assert_eq!(
            verdict(PrepareCommit, 7, 2, true, 7, 2),
            Err(TxnVerifyError::NotInTransaction)
        );
        assert_eq!(
            verdict(Ongoing, 7, 3, true, 7, 2),
            Err(TxnVerifyError::Fenced)
        );
        assert_eq!(
            verdict(Ongoing, 8, 2, true, 7, 2),
            Err(TxnVerifyError::NotInTransaction)
        );
    }
}
