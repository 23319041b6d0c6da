//! Transaction markers (KIP-98 control batches): the COMMIT/ABORT record a transaction
//! coordinator writes to every partition of a finished transaction, in Kafka's control record
//! format (key: version i16 = 0, type i16 — 0 abort, 1 commit; value: the `EndTxnMarker`
//! message, version i16 = 0 then the coordinator epoch i32). Pure: bytes in, bytes out.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// Control record type of an abort marker.
pub const ABORT: i16 = 0;
/// Control record type of a commit marker.
pub const COMMIT: i16 = 1;

/// A one-record control batch ending producer `producer_id`'s transaction at `epoch`.
pub fn marker_batch(
    producer_id: i64,
    epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    timestamp_ms: i64,
) -> BytesMut {
    let mut key = BytesMut::with_capacity(4);
    key.put_i16(0);
    key.put_i16(if commit { COMMIT } else { ABORT });
    let mut value = BytesMut::with_capacity(6);
    value.put_i16(0);
    value.put_i32(coordinator_epoch);
    let rec = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id,
        producer_epoch: epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        // Markers carry no sequence (Kafka writes -1).
        sequence: -1,
        timestamp: timestamp_ms,
        key: Some(key.freeze()),
        value: Some(value.freeze()),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    // One uncompressed magic-v2 record always encodes.
    if let Err(e) = RecordBatchEncoder::encode(&mut buf, &[rec], &opts) {
        tracing::error!(error = %e, "encoding a transaction marker failed");
    }
    buf
}

/// Whether the control batch `batch` (exactly one batch) is a commit (`Some(true)`) or an abort
/// (`Some(false)`) marker; `None` for any other control record or bytes that do not decode.
pub fn marker_kind(batch: &[u8]) -> Option<bool> {
    let mut buf = Bytes::copy_from_slice(batch);
    let set = RecordBatchDecoder::decode(&mut buf).ok()?;
    let rec = set.records.into_iter().next()?;
    if !rec.control {
        return None;
    }
    let mut key = rec.key?;
    if key.len() < 4 {
        return None;
    }
    let _version = key.get_i16();
    match key.get_i16() {
        COMMIT => Some(true),
        ABORT => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::BatchHeader;

    #[test]
    fn markers_round_trip_with_kafkas_header_bits() {
        for commit in [true, false] {
            let b = marker_batch(42, 7, commit, 3, 1_000);
            let h = BatchHeader::parse(&b).unwrap();
            assert!(h.is_control() && h.is_transactional());
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (42, 7, -1)
            );
            assert_eq!(h.records_count, 1);
            assert_eq!(marker_kind(&b), Some(commit));
        }
    }

    #[test]
    fn data_batches_and_garbage_are_not_markers() {
        let data = crate::log::batch::build_batch(&[(Some(b"k"), Some(b"v"))], 1);
        assert_eq!(marker_kind(&data), None);
        assert_eq!(marker_kind(b"nonsense"), None);
    }
}
