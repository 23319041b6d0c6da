//! A partition's transaction state across a crash: the open transactions and the aborted
//! index are rebuilt from the log (markers read) when no snapshot covers them.

#![allow(clippy::unwrap_used)]

use super::*;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

fn txn_batch(pid: i64, seq: i32) -> bytes::BytesMut {
    let rec = Record {
        transactional: true,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: pid,
        producer_epoch: 0,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: seq,
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

fn open(dir: &std::path::Path) -> Partition {
    let version = Arc::new(watch::channel(0).0);
    Partition::open("t", 0, dir, PartitionSettings::default(), 0, version).unwrap()
}

#[test]
fn transactions_are_rebuilt_from_the_log_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let ok = |_, _, _: &_| Ok(());
    {
        let p = open(dir.path());
        p.append_verified(&txn_batch(1, 0), false, &ok).unwrap(); // 0: pid 1
        p.append_verified(&txn_batch(2, 0), false, &ok).unwrap(); // 1: pid 2
        p.write_marker(1, 0, false, 0).unwrap(); // 2: abort pid 1
        p.append_verified(&txn_batch(3, 0), false, &ok).unwrap(); // 3: pid 3
        p.write_marker(3, 0, true, 0).unwrap(); // 4: commit pid 3
        // Dropped without close: no producer-state snapshot covers any of it.
    }
    let p = open(dir.path());
    assert_eq!(
        p.aborted_transactions(),
        vec![txn_index::AbortedTxn {
            producer_id: 1,
            first_offset: 0,
            last_offset: 2
        }]
    );
    let open_txns: Vec<i64> = p.open_transactions().iter().map(|(pid, _)| *pid).collect();
    assert_eq!(open_txns, vec![2]);
    // Pid 2's transaction holds the last stable offset at its first offset.
    assert_eq!(p.last_stable_offset(), 1);
    let out = p.read_isolated(0, 1 << 20, true, true).unwrap();
    assert_eq!(out.aborted, vec![(1, 0)]);
    assert_eq!(out.last_stable_offset, 1);
}
