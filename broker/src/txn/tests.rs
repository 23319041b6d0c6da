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

#[tokio::test]
async fn a_transaction_left_in_prepare_is_completed_at_the_next_start() {
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
