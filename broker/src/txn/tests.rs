//! The coordinator on a real node: a transaction a crash left between PREPARE and its markers
//! is completed by the next start, and Produce's verification follows the state machine.

#![allow(clippy::unwrap_used)]

use super::state::TxnState;
use super::*;
use crate::control::{MetadataControl, NewTopic, SingleNode};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

fn txn_batch(pid: i64, epoch: i16) -> bytes::BytesMut {
    let rec = Record {
        transactional: true,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: pid,
        producer_epoch: epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: 0,
        timestamp: 1,
        key: None,
        value: Some(bytes::Bytes::from_static(b"v")),
        headers: Default::default(),
    };
    let mut buf = bytes::BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &[rec], &opts).unwrap();
    buf
}

async fn coordinator(node: &Arc<Node>, control: &dyn MetadataControl) -> Arc<TxnCoordinator> {
    let groups = Arc::new(Groups::new(&node.config, false));
    groups.start(node, control).await.unwrap();
    let txns = Arc::new(TxnCoordinator::new(&node.config, false, groups));
    txns.start(node, control).await.unwrap();
    txns
}

/// Waits (polling, bounded) until the background completion of `id`'s transaction has written
/// its markers and COMPLETE.
async fn completed(txns: &TxnCoordinator, id: &str) -> TxnMetadata {
    for _ in 0..2_000 {
        if let Ok(Some(m)) = txns.describe(id)
            && !m.preparing()
        {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the transaction of {id} was not completed within 20 s");
}

/// A single node with topic `t` (one partition), in a temporary directory.
fn node_with_topic() -> (tempfile::TempDir, Arc<Node>, Arc<dyn MetadataControl>) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::for_test(dir.path().join("data"));
    config
        .settings
        .insert("transaction.state.log.num.partitions".into(), "2".into());
    config
        .settings
        .insert("offsets.topic.num.partitions".into(), "2".into());
    let node = Node::open(config).unwrap();
    let control: Arc<dyn MetadataControl> = Arc::new(SingleNode::new(Arc::clone(&node)));
    control
        .create_topic(NewTopic {
            name: "t".into(),
            partitions: 1,
            replication_factor: 1,
            configs: BTreeMap::new(),
            assignment: None,
            validate_only: false,
        })
        .unwrap();
    (dir, node, control)
}

#[tokio::test]
async fn a_transaction_left_in_prepare_is_completed_at_the_next_start() {
    let (_dir, node, control) = node_with_topic();
    let txns = coordinator(&node, control.as_ref()).await;
    let (pid, epoch) = txns
        .init_producer_id(&node, "x", 60_000, -1, -1)
        .await
        .unwrap();
    let part = node.partition("t", 0).unwrap();
    let verify = |p, e, _: &_| txns.verify("t", 0, p, e);
    // Not added yet: refused, nothing appended.
    assert!(matches!(
        part.append_verified(&txn_batch(pid, epoch), false, &verify),
        Err(crate::partition::PartitionError::Txn(
            TxnVerifyError::NotInTransaction
        ))
    ));
    assert_eq!(part.log_end_offset(), 0);
    txns.add(&node, "x", pid, epoch, &[("t".into(), 0)], &[])
        .await
        .unwrap();
    part.append_verified(&txn_batch(pid, epoch), false, &verify)
        .unwrap();
    assert_eq!(part.open_transactions().len(), 1);
    // The crash: PREPARE_COMMIT is durable, no marker was written.
    let m = txns.describe("x").unwrap().unwrap();
    let prep = m.end(pid, epoch, true, crate::now_ms()).unwrap().unwrap();
    txns.persist(&node, &prep).await.unwrap();
    drop(txns);
    // The restarted coordinator replays PREPARE_COMMIT and completes it: the marker closes the
    // partition's transaction, the state is COMPLETE_COMMIT.
    let txns = coordinator(&node, control.as_ref()).await;
    let m = txns.describe("x").unwrap().unwrap();
    assert_eq!(m.state, TxnState::CompleteCommit);
    assert!(part.open_transactions().is_empty());
    assert_eq!(part.log_end_offset(), 2);
    assert!(part.aborted_transactions().is_empty());
    // A late write of the finished transaction is refused.
    let verify = |p, e, _: &_| txns.verify("t", 0, p, e);
    assert!(matches!(
        part.append_verified(&txn_batch(pid, epoch), false, &verify),
        Err(crate::partition::PartitionError::Txn(
            TxnVerifyError::NotInTransaction
        ))
    ));
}

#[tokio::test]
async fn a_tv2_prepare_left_by_a_crash_completes_with_the_bumped_epoch_which_fences_late_writes() {
    let (_dir, node, control) = node_with_topic();
    let txns = coordinator(&node, control.as_ref()).await;
    let (pid, epoch) = txns
        .init_producer_id(&node, "x", 60_000, -1, -1)
        .await
        .unwrap();
    let part = node.partition("t", 0).unwrap();
    txns.add(&node, "x", pid, epoch, &[("t".into(), 0)], &[])
        .await
        .unwrap();
    let verify = |p, e, _: &_| txns.verify("t", 0, p, e);
    part.append_verified(&txn_batch(pid, epoch), false, &verify)
        .unwrap();
    // The crash: EndTxn v5's PREPARE_COMMIT (epoch bumped) is durable, no marker was written.
    let m = txns.describe("x").unwrap().unwrap();
    let state::EndV2::Prepare(prep) = m.end_v2(pid, epoch, true, -1, crate::now_ms()).unwrap()
    else {
        panic!("expected a prepare");
    };
    assert_eq!(prep.epoch, epoch + 1);
    txns.persist(&node, &prep).await.unwrap();
    drop(txns);
    let txns = coordinator(&node, control.as_ref()).await;
    let m = txns.describe("x").unwrap().unwrap();
    assert_eq!((m.state, m.epoch), (TxnState::CompleteCommit, epoch + 1));
    assert!(part.open_transactions().is_empty());
    let producer = part.active_producers()[0];
    assert_eq!((producer.producer_id, producer.epoch), (pid, epoch + 1));
    // A late write of the finished transaction is fenced by the coordinator...
    let verify = |p, e, _: &_| txns.verify("t", 0, p, e);
    assert!(matches!(
        part.append_verified(&txn_batch(pid, epoch), false, &verify),
        Err(crate::partition::PartitionError::Txn(
            TxnVerifyError::Fenced
        ))
    ));
    // ...and by the partition itself, whose producer state took the marker's epoch.
    let anything = |_, _, _: &_| Ok(());
    assert!(matches!(
        part.append_verified(&txn_batch(pid, epoch), false, &anything),
        Err(crate::partition::PartitionError::Sequence(
            crate::partition::SequenceError::InvalidEpoch
        ))
    ));
    assert_eq!(part.log_end_offset(), 2);
    // The retried EndTxn answers the bumped epoch; the next transaction uses it.
    assert_eq!(
        txns.end(&node, "x", pid, epoch, true, true).await.unwrap(),
        (pid, epoch + 1)
    );
    txns.add(&node, "x", pid, epoch + 1, &[("t".into(), 0)], &[])
        .await
        .unwrap();
    part.append_verified(&txn_batch(pid, epoch + 1), false, &verify)
        .unwrap();
    assert_eq!(part.open_transactions().len(), 1);
}

#[tokio::test]
async fn a_tv2_end_at_the_last_epoch_moves_the_id_to_a_new_producer_id() {
    let (_dir, node, control) = node_with_topic();
    let txns = coordinator(&node, control.as_ref()).await;
    let (pid, _) = txns
        .init_producer_id(&node, "x", 60_000, -1, -1)
        .await
        .unwrap();
    // Fast-forward the id to its last epoch (as 32 766 transactions would).
    let last = state::LAST_EPOCH;
    {
        let slot = txns.slot("x");
        let mut g = slot.lock().await;
        let m = g.clone().unwrap().bumped(last, 60_000, crate::now_ms());
        txns.transition(&node, &mut g, m).await.unwrap();
    }
    let part = node.partition("t", 0).unwrap();
    txns.add(&node, "x", pid, last, &[("t".into(), 0)], &[])
        .await
        .unwrap();
    let verify = |p, e, _: &_| txns.verify("t", 0, p, e);
    part.append_verified(&txn_batch(pid, last), false, &verify)
        .unwrap();
    let (new_pid, epoch) = txns.end(&node, "x", pid, last, true, true).await.unwrap();
    assert_ne!(new_pid, pid);
    assert_eq!(epoch, 0);
    completed(&txns, "x").await;
    // The marker went out under the old id at the epoch past the last one.
    let old = part
        .active_producers()
        .into_iter()
        .find(|p| p.producer_id == pid)
        .unwrap();
    assert_eq!(old.epoch, i16::MAX);
    assert!(part.open_transactions().is_empty());
    // The old id's late write is fenced; the retried EndTxn answers the new id.
    assert!(matches!(
        part.append_verified(&txn_batch(pid, last), false, &verify),
        Err(crate::partition::PartitionError::Txn(
            TxnVerifyError::Fenced
        ))
    ));
    assert_eq!(
        txns.end(&node, "x", pid, last, true, true).await.unwrap(),
        (new_pid, 0)
    );
    // The new id's next transaction.
    txns.add(&node, "x", new_pid, 0, &[("t".into(), 0)], &[])
        .await
        .unwrap();
    part.append_verified(&txn_batch(new_pid, 0), false, &verify)
        .unwrap();
    let m = txns.describe("x").unwrap().unwrap();
    assert_eq!(
        (m.producer_id, m.epoch, m.previous_producer_id),
        (new_pid, 0, pid)
    );
}

#[tokio::test]
async fn end_txn_answers_at_prepare_and_the_next_requests_wait_for_the_markers() {
    let (_dir, node, control) = node_with_topic();
    let txns = coordinator(&node, control.as_ref()).await;
    let (pid, epoch) = txns
        .init_producer_id(&node, "x", 60_000, -1, -1)
        .await
        .unwrap();
    let part = node.partition("t", 0).unwrap();
    txns.add(&node, "x", pid, epoch, &[("t".into(), 0)], &[])
        .await
        .unwrap();
    let verify = |p, e, _: &_| txns.verify("t", 0, p, e);
    part.append_verified(&txn_batch(pid, epoch), false, &verify)
        .unwrap();
    // Transaction version 1: the answer keeps the epoch. The test runtime has one thread, so
    // the background completion has not run yet: the answer came at PREPARE.
    assert_eq!(
        txns.end(&node, "x", pid, epoch, true, false).await.unwrap(),
        (pid, epoch)
    );
    let m = txns.describe("x").unwrap().unwrap();
    assert_eq!(m.state, TxnState::PrepareCommit);
    assert_eq!(part.open_transactions().len(), 1, "no marker yet");
    // Meanwhile the id's requests that need the transaction complete are told to retry (a
    // retried EndTxn, InitProducerId), and Produce's check refuses the finished transaction.
    let busy = Err(TxnError::ConcurrentTransactions);
    assert_eq!(
        txns.end(&node, "x", pid, epoch, true, false)
            .await
            .map(|_| ()),
        busy
    );
    assert_eq!(
        txns.init_producer_id(&node, "x", 60_000, pid, epoch)
            .await
            .map(|_| ()),
        busy
    );
    assert!(matches!(
        part.append_verified(&txn_batch(pid, epoch), false, &verify),
        Err(crate::partition::PartitionError::Txn(
            TxnVerifyError::NotInTransaction
        ))
    ));
    // AddPartitionsToTxn waits (briefly) for the markers instead: the next transaction begins
    // once the previous one is complete, its marker in the partition.
    txns.add(&node, "x", pid, epoch, &[("t".into(), 0)], &[])
        .await
        .unwrap();
    assert_eq!(
        txns.describe("x").unwrap().unwrap().state,
        TxnState::Ongoing
    );
    assert!(part.open_transactions().is_empty());
    // Transaction version 2: the answer carries the bumped epoch at once; InitProducerId
    // waits for the abort's marker, then bumps past it.
    assert_eq!(
        txns.end(&node, "x", pid, epoch, false, true).await.unwrap(),
        (pid, epoch + 1)
    );
    assert_eq!(
        txns.describe("x").unwrap().unwrap().state,
        TxnState::PrepareAbort
    );
    assert_eq!(
        txns.init_producer_id(&node, "x", 60_000, -1, -1)
            .await
            .map(|_| ()),
        busy
    );
    assert_eq!(completed(&txns, "x").await.state, TxnState::CompleteAbort);
    assert_eq!(
        txns.init_producer_id(&node, "x", 60_000, -1, -1)
            .await
            .unwrap(),
        (pid, epoch + 2)
    );
}
