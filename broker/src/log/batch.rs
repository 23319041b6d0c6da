//! Record-batch headers (magic v2): parsing, CRC-32C verification and in-place stamping.
//!
//! Batches are stored exactly as the producer sent them; only the base offset and the partition
//! leader epoch are rewritten, and neither is covered by the CRC, so no re-encoding happens.

use bytes::{Buf, BufMut, BytesMut};

/// Size of the fixed record-batch header (magic v2).
pub const HEADER_LEN: usize = 61;
/// Offset of the fields that the CRC covers (from `attributes` to the end).
const CRC_START: usize = 21;
/// The length prefix (base offset + batch length) that precedes every batch's payload.
pub const LOG_OVERHEAD: usize = 12;

/// Why a batch was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("record batch is truncated: {0} bytes")]
    Truncated(usize),
    #[error("record batch magic {0} is not supported (only v2)")]
    UnsupportedMagic(i8),
    #[error("record batch crc mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("record batch is invalid: {0}")]
    Invalid(&'static str),
}

/// The header fields of one stored batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Bytes after the length field (so the whole batch is `batch_length + 12`).
    pub batch_length: i32,
    pub leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub first_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// Parses the header at the start of `buf` without checking the CRC.
    pub fn parse(mut buf: &[u8]) -> Result<Self, BatchError> {
        if buf.len() < HEADER_LEN {
            return Err(BatchError::Truncated(buf.len()));
        }
        let h = BatchHeader {
            base_offset: buf.get_i64(),
            batch_length: buf.get_i32(),
            leader_epoch: buf.get_i32(),
            magic: buf.get_i8(),
            crc: buf.get_u32(),
            attributes: buf.get_i16(),
            last_offset_delta: buf.get_i32(),
            first_timestamp: buf.get_i64(),
            max_timestamp: buf.get_i64(),
            producer_id: buf.get_i64(),
            producer_epoch: buf.get_i16(),
            base_sequence: buf.get_i32(),
            records_count: buf.get_i32(),
        };
        if h.magic != 2 {
            return Err(BatchError::UnsupportedMagic(h.magic));
        }
        if (h.batch_length as usize) < HEADER_LEN - LOG_OVERHEAD || h.batch_length < 0 {
            return Err(BatchError::Invalid("batch length shorter than its header"));
        }
        if h.last_offset_delta < 0 || h.records_count < 0 {
            return Err(BatchError::Invalid("negative record count or offset delta"));
        }
        Ok(h)
    }

    /// Total bytes of the batch including the 12-byte length prefix.
    pub fn total_len(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }

    /// Offset of the last record in the batch.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Number of offsets the batch occupies.
    pub fn offset_count(&self) -> i64 {
        i64::from(self.last_offset_delta) + 1
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }

    /// True when the producer asked for broker-side (log append) timestamps.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & 0x08 != 0
    }

    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }

    /// Sequence number of the last record (wrapping like Kafka's).
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        (last % (i64::from(i32::MAX) + 1)) as i32
    }
}

/// Verifies the CRC-32C of a complete batch (`buf` holds exactly one batch).
pub fn verify_crc(buf: &[u8], header: &BatchHeader) -> Result<(), BatchError> {
    let computed = crc32c::crc32c(&buf[CRC_START..header.total_len()]);
    if computed == header.crc {
        Ok(())
    } else {
        Err(BatchError::CrcMismatch {
            stored: header.crc,
            computed,
        })
    }
}

/// Splits a produce payload into its batches, checking each header and CRC.
/// Returns the header and byte range of every batch.
pub fn split_batches(buf: &[u8]) -> Result<Vec<(BatchHeader, std::ops::Range<usize>)>, BatchError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let header = BatchHeader::parse(&buf[pos..])?;
        let end = pos + header.total_len();
        if end > buf.len() {
            return Err(BatchError::Truncated(buf.len() - pos));
        }
        verify_crc(&buf[pos..end], &header)?;
        out.push((header, pos..end));
        pos = end;
    }
    if out.is_empty() {
        return Err(BatchError::Invalid("no record batch in the payload"));
    }
    Ok(out)
}

/// Rewrites the base offset and partition leader epoch of the batch at the start of `buf`.
pub fn stamp(buf: &mut [u8], base_offset: i64, leader_epoch: i32) {
    (&mut buf[0..8]).put_i64(base_offset);
    (&mut buf[12..16]).put_i32(leader_epoch);
}

/// Rewrites the max timestamp for `LogAppendTime` batches; this field is CRC-covered, so the CRC
/// is recomputed (the only case where the broker touches covered bytes, as Kafka does).
pub fn stamp_log_append_time(buf: &mut [u8], now_ms: i64) {
    (&mut buf[35..43]).put_i64(now_ms);
    let crc = crc32c::crc32c(&buf[CRC_START..]);
    (&mut buf[17..21]).put_u32(crc);
}

/// A record's optional key and value.
pub type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// Builds an uncompressed magic-v2 batch of `(key, value)` records; used for the broker's own
/// internal logs (consumer offsets, group metadata) and by tests.
pub fn build_batch(records: &[KeyValue<'_>], timestamp_ms: i64) -> BytesMut {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder groups records whose offset-sequence gap is constant; base sequence stays -1.
            sequence: i as i32 - 1,
            timestamp: timestamp_ms,
            key: k.map(bytes::Bytes::copy_from_slice),
            value: v.map(bytes::Bytes::copy_from_slice),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    // Encoding our own in-memory records cannot fail for magic v2 without compression.
    if let Err(e) = RecordBatchEncoder::encode(&mut buf, &recs, &opts) {
        tracing::error!(error = %e, "encoding an internal record batch failed");
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_batch_parses_and_verifies() {
        let b = build_batch(&[(Some(b"k"), Some(b"v")), (None, Some(b"w"))], 42);
        let batches = split_batches(&b).unwrap();
        assert_eq!(batches.len(), 1);
        let h = batches[0].0;
        assert_eq!(h.records_count, 2);
        assert_eq!(h.last_offset_delta, 1);
        assert_eq!(h.max_timestamp, 42);
        assert_eq!(h.total_len(), b.len());
    }

    #[test]
    fn stamping_keeps_crc_valid() {
        let mut b = build_batch(&[(None, Some(b"x"))], 1);
        stamp(&mut b, 1234, 7);
        let (h, _) = split_batches(&b).unwrap()[0].clone();
        assert_eq!(h.base_offset, 1234);
        assert_eq!(h.leader_epoch, 7);
    }

    #[test]
    fn corruption_is_detected() {
        let mut b = build_batch(&[(None, Some(b"payload"))], 1);
        let n = b.len();
        b[n - 2] ^= 0xff;
        assert!(matches!(
            split_batches(&b),
            Err(BatchError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn truncated_batch_is_detected() {
        let b = build_batch(&[(None, Some(b"payload"))], 1);
        assert!(matches!(
            split_batches(&b[..b.len() - 1]),
            Err(BatchError::Truncated(_))
        ));
        assert!(matches!(
            split_batches(&b[..10]),
            Err(BatchError::Truncated(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = split_batches(&data);
        }
    }
}
