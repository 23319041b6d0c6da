//! Pure: which records of one stored batch survive cleaning, and the bytes that replace it.
//!
//! As Kafka's `MemoryRecords.filterTo`: a record survives when it has a key, no later record of
//! the log has the same key, and it is not a tombstone whose delete horizon has passed. Control
//! batches (transaction markers) are kept whole, until [`marker_removable`] says the marker is
//! obsolete. A batch that loses records is re-encoded with
//! its own codec, producer id, epoch, leader epoch and the surviving records' offsets and
//! sequences; a batch that keeps everything is copied byte for byte. The last batch of each
//! producer always leaves a trace that ends at its original last offset and last sequence (an
//! empty batch covering the dropped tail, Kafka's `writeEmptyHeader`), so an idempotent producer
//! whose old batches were cleaned keeps its sequence state after a restart or on a follower.

use super::offset_map::OffsetMap;
use crate::log::batch::{BatchHeader, HEADER_LEN};
use crate::log::codec::{self, TopicCompression};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};
use std::collections::HashMap;

/// Why a stored batch could not be filtered (the pass stops; nothing is replaced).
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("decoding a stored batch at offset {offset}: {reason}")]
    Decode { offset: i64, reason: String },
    #[error("re-encoding the surviving records of the batch at offset {offset}: {reason}")]
    Encode { offset: i64, reason: String },
}

/// What decides a record's fate.
pub struct RetainRules<'a> {
    /// Latest offset per key in the dirty part of the log.
    pub map: &'a OffsetMap,
    /// Per producer id: the last offset of its last batch anywhere in the log.
    pub last_batch_of: &'a HashMap<i64, i64>,
    /// Whether the tombstone at this offset has outlived `delete.retention.ms`.
    pub tombstone_expired: &'a dyn Fn(i64) -> bool,
    /// The batch ending at this offset (the last one before the uncleaned part) leaves a trace
    /// too: otherwise a log whose tail was all removed would end in a hole below an empty
    /// active segment, and a consumer positioned in it would find no batch to move past.
    pub keep_trace_at: i64,
    /// Whether a record of (producer id, offset) belongs to an aborted transaction (removed).
    pub aborted: &'a dyn Fn(i64, i64) -> bool,
}

/// What filtering one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchOutcome {
    pub records_kept: u64,
    pub records_removed: u64,
    /// Offset of the first tombstone kept (its horizon decides when the log is due again).
    pub first_tombstone_kept: Option<i64>,
}

/// The codec in a batch's attributes.
fn codec_of(h: &BatchHeader) -> Compression {
    match h.attributes & 0x07 {
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        4 => Compression::Zstd,
        _ => Compression::None,
    }
}

/// The same codec at Kafka's default level.
fn recompression(c: Compression) -> TopicCompression {
    match c {
        Compression::Gzip => TopicCompression::Gzip { level: -1 },
        Compression::Snappy => TopicCompression::Snappy,
        Compression::Lz4 => TopicCompression::Lz4 {
            level: codec::LZ4_LEVEL.3,
        },
        Compression::Zstd => TopicCompression::Zstd {
            level: codec::ZSTD_LEVEL.3,
        },
        Compression::None => TopicCompression::Uncompressed,
    }
}

/// Whether a transaction marker may go (as Kafka's cleaner): no batch of the transaction it
/// ends is left in the cleaned log (`txn_batches_kept`), it was first cleaned at least
/// `delete.retention.ms` ago (`horizon_passed`, so a consumer that read its records sees it),
/// and it is not its producer's last batch (which keeps the producer's state). `tracked`: the
/// pass saw the log from its start, so `txn_batches_kept` is complete.
pub fn marker_removable(
    tracked: bool,
    txn_batches_kept: bool,
    horizon_passed: bool,
    last_of_producer: bool,
) -> bool {
    tracked && !txn_batches_kept && horizon_passed && !last_of_producer
}

/// Decodes the records of a stored batch (bounded inflation, as on the produce path).
pub fn decode(batch: &[u8], h: &BatchHeader) -> Result<Vec<Record>, FilterError> {
    let inflate = |data: &mut Bytes, c: Compression| -> anyhow::Result<Bytes> {
        Ok(codec::decompress(c, data)?)
    };
    let mut buf = Bytes::copy_from_slice(batch);
    RecordBatchDecoder::decode_with_custom_compression(&mut buf, Some(inflate))
        .map(|s| s.records)
        .map_err(|e| FilterError::Decode {
            offset: h.base_offset,
            reason: format!("{e:#}"),
        })
}

/// Filters the stored batch `batch` (header `h`) and appends what survives to `out`.
pub fn filter_batch(
    batch: &[u8],
    h: &BatchHeader,
    rules: &RetainRules<'_>,
    out: &mut Vec<u8>,
) -> Result<BatchOutcome, FilterError> {
    if h.is_control() {
        out.extend_from_slice(batch);
        return Ok(BatchOutcome {
            records_kept: u64::try_from(h.records_count).unwrap_or(0),
            ..BatchOutcome::default()
        });
    }
    let records = decode(batch, h)?;
    // An aborted transaction's batch loses every record (its trace may stay, below).
    let aborted = h.is_transactional() && (rules.aborted)(h.producer_id, h.base_offset);
    let mut outcome = BatchOutcome::default();
    let mut kept: Vec<&Record> = Vec::with_capacity(records.len());
    for r in &records {
        let retain = !aborted
            && r.key.as_ref().is_some_and(|k| {
                let latest = rules.map.get(k).is_none_or(|o| r.offset >= o);
                latest && !(r.value.is_none() && (rules.tombstone_expired)(r.offset))
            });
        if retain {
            if r.value.is_none() && outcome.first_tombstone_kept.is_none() {
                outcome.first_tombstone_kept = Some(r.offset);
            }
            kept.push(r);
        }
    }
    outcome.records_kept = kept.len() as u64;
    outcome.records_removed = (records.len() - kept.len()) as u64;
    if kept.len() == records.len() && !records.is_empty() {
        out.extend_from_slice(batch);
        return Ok(outcome);
    }
    if !kept.is_empty() {
        encode_kept(&kept, h, out)?;
    }
    let covered_to = kept.last().map(|r| r.offset);
    let last_of_producer =
        h.has_producer_id() && rules.last_batch_of.get(&h.producer_id) == Some(&h.last_offset());
    let trace = last_of_producer || h.last_offset() == rules.keep_trace_at;
    if trace && covered_to != Some(h.last_offset()) {
        let from = covered_to.map_or(h.base_offset, |o| o + 1);
        out.extend_from_slice(&empty_batch(h, from));
    }
    Ok(outcome)
}

/// Re-encodes the surviving records at their own offsets with the batch's codec and producer
/// fields; a LogAppendTime batch keeps its type and broker timestamp.
fn encode_kept(kept: &[&Record], h: &BatchHeader, out: &mut Vec<u8>) -> Result<(), FilterError> {
    let first = kept.first().map_or(h.base_offset, |r| r.offset);
    let idempotent = h.has_producer_id() && h.base_sequence >= 0;
    let renumbered: Vec<Record> = kept
        .iter()
        .map(|r| Record {
            // The encoder derives the base sequence from the first record and keeps records
            // together while offset - sequence is constant: a batch without sequences stays -1.
            sequence: if idempotent {
                r.sequence
            } else {
                i32::try_from(r.offset - first).unwrap_or(0) - 1
            },
            producer_id: h.producer_id,
            producer_epoch: h.producer_epoch,
            partition_leader_epoch: h.leader_epoch,
            transactional: h.is_transactional(),
            control: false,
            delete_horizon: false,
            ..(*r).clone()
        })
        .collect();
    let compression = codec_of(h);
    let level = recompression(compression);
    let compress =
        |records: &mut BytesMut, out: &mut BytesMut, _: Compression| level.compress(records, out);
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode_with_custom_compression(
        &mut buf,
        renumbered.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
        Some(compress),
    )
    .map_err(|e| FilterError::Encode {
        offset: h.base_offset,
        reason: format!("{e:#}"),
    })?;
    let mut bytes = buf.to_vec();
    if h.is_log_append_time() && bytes.len() >= HEADER_LEN {
        let attrs = (i16::from_be_bytes([bytes[21], bytes[22]]) | 0x08).to_be_bytes();
        bytes[21..23].copy_from_slice(&attrs);
        crate::log::batch::stamp_log_append_time(&mut bytes, h.max_timestamp);
    }
    out.extend_from_slice(&bytes);
    Ok(())
}

/// A batch without records covering offsets `from..=h.last_offset()` of the batch `h`, with the
/// producer id, epoch and the sequence the dropped records had (Kafka's empty batch header).
pub fn empty_batch(h: &BatchHeader, from: i64) -> Vec<u8> {
    let delta = i32::try_from(h.last_offset() - from).unwrap_or(0);
    let base_sequence = if h.base_sequence < 0 {
        -1
    } else {
        let skipped = i32::try_from(from - h.base_offset).unwrap_or(0);
        let s = i64::from(h.base_sequence) + i64::from(skipped);
        (s % (i64::from(i32::MAX) + 1)) as i32
    };
    let mut b = BytesMut::with_capacity(HEADER_LEN);
    b.put_i64(from);
    b.put_i32((HEADER_LEN - crate::log::batch::LOG_OVERHEAD) as i32);
    b.put_i32(h.leader_epoch);
    b.put_i8(2);
    b.put_u32(0);
    // No codec: there is nothing to compress.
    b.put_i16(h.attributes & !0x07);
    b.put_i32(delta);
    b.put_i64(h.max_timestamp);
    b.put_i64(h.max_timestamp);
    b.put_i64(h.producer_id);
    b.put_i16(h.producer_epoch);
    b.put_i32(base_sequence);
    b.put_i32(0);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b.to_vec()
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
