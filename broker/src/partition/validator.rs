//! The record-level checks of Kafka's LogValidator that need the records themselves, run on a
//! produced batch before it is appended: every record of a compacted topic has a key, and a
//! batch whose codec is not the topic's `compression.type` is rebuilt with that codec.
//! Pure: bytes in, bytes out.
//!
//! A rebuilt batch is what Kafka's `buildRecordsAndAssignOffsets` writes: the same records
//! (keys, values, headers, timestamps) at offset deltas 0..n-1, the same producer id, epoch,
//! base sequence and transactional flag, so idempotent producers see no difference. Timestamps
//! stay the records' own; a `LogAppendTime` topic then stamps the rebuilt batch as it stamps
//! any other (partition/mod.rs). A batch whose codec already is the topic's is stored as sent.

use crate::log::batch::BatchHeader;
use crate::log::codec::{self, CodecError, TopicCompression};
use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};

/// The fewest bytes one encoded record takes (length, attributes, timestamp delta, offset
/// delta, key length, value length and header count, one byte each): bounds what a batch's
/// record count may claim before anything is reserved for it.
const MIN_RECORD_BYTES: usize = 7;

/// What a topic requires of the records it stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordPolicy {
    pub compression: TopicCompression,
    /// `cleanup.policy` includes `compact`: every record needs a key.
    pub compact: bool,
    /// `CreateTime` topics: how far a record's timestamp may be behind and ahead of the
    /// broker's clock (`message.timestamp.before.max.ms`, `message.timestamp.after.max.ms`);
    /// `None` for `LogAppendTime` topics, whose timestamps are the broker's.
    pub timestamps: Option<TimestampBounds>,
}

/// Kafka's record timestamp bounds, in milliseconds from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampBounds {
    pub before_ms: i64,
    pub after_ms: i64,
}

impl Default for RecordPolicy {
    fn default() -> Self {
        RecordPolicy {
            compression: TopicCompression::Producer,
            compact: false,
            timestamps: None,
        }
    }
}

/// One record Kafka refuses, by its index in the batch (ProduceResponse `record_errors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub batch_index: i32,
    pub message: String,
}

/// Why a batch was refused.
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    /// Records Kafka refuses with INVALID_RECORD; the message is Kafka's.
    #[error("{message}")]
    InvalidRecords {
        message: String,
        records: Vec<RecordError>,
    },
    /// Record timestamps out of the topic's bounds (INVALID_TIMESTAMP), with every record
    /// error of the batch, as Kafka reports them.
    #[error("{message}")]
    InvalidTimestamps {
        message: String,
        records: Vec<RecordError>,
    },
    /// The records do not decode (CORRUPT_MESSAGE).
    #[error("record batch does not decode: {0}")]
    Corrupt(String),
}

impl From<CodecError> for ValidationError {
    fn from(e: CodecError) -> Self {
        ValidationError::Corrupt(e.to_string())
    }
}

/// The codec of a batch's attributes (`None` for a value no codec has).
fn codec_of(header: &BatchHeader) -> Option<Compression> {
    Some(match header.attributes & 0x07 {
        0 => Compression::None,
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        4 => Compression::Zstd,
        _ => return None,
    })
}

/// Checks one produced batch (`batch` holds exactly it, CRC already verified) against the
/// topic's `policy`. `Ok(None)`: store it as sent; `Ok(Some(bytes))`: store this rebuilt batch
/// instead. `topic` and `index` name the partition in Kafka's messages (`topic-0`); `now_ms`
/// is the broker's clock for the timestamp bounds.
pub fn validate(
    batch: &[u8],
    header: &BatchHeader,
    policy: RecordPolicy,
    (topic, index): (&str, i32),
    now_ms: i64,
) -> Result<Option<Vec<u8>>, ValidationError> {
    let source = codec_of(header).ok_or_else(|| {
        ValidationError::Corrupt(format!(
            "unknown compression codec {}",
            header.attributes & 0x07
        ))
    })?;
    let target = policy.compression.target(source);
    // Control batches (transaction markers) are written by the broker, never rebuilt.
    let rebuild = target != source && !header.is_control();
    // The bounds as an inclusive range; the records are read only when the batch's newest
    // timestamp is past the upper bound or a lower bound is set (Kafka 4's defaults: one hour
    // ahead, no limit behind).
    let window = policy
        .timestamps
        .filter(|_| !header.is_control())
        .map(|b| {
            (
                now_ms.saturating_sub(b.before_ms),
                now_ms.saturating_add(b.after_ms),
                b.before_ms,
            )
        })
        .filter(|(_, hi, before)| *before != i64::MAX || header.max_timestamp > *hi);
    if !rebuild && !policy.compact && window.is_none() {
        return Ok(None);
    }
    let records = decode(batch, header)?;
    let mut refused = Vec::new();
    let mut bad_timestamp = false;
    for (i, r) in records.iter().enumerate() {
        let batch_index = i32::try_from(i).unwrap_or(i32::MAX);
        if policy.compact && !header.is_control() && r.key.is_none() {
            refused.push(RecordError {
                batch_index,
                message: format!(
                    "Compacted topic cannot accept message without key in topic partition {topic}-{index}."
                ),
            });
        }
        if let Some((lo, hi, _)) = window
            && r.timestamp != -1
            && (r.timestamp < lo || r.timestamp > hi)
        {
            bad_timestamp = true;
            refused.push(RecordError {
                batch_index,
                message: format!(
                    "Timestamp {} of message with offset {} is out of range. The timestamp should be within [{lo}, {hi}]",
                    r.timestamp, r.offset
                ),
            });
        }
    }
    if bad_timestamp {
        return Err(ValidationError::InvalidTimestamps {
            message: "One or more records have been rejected due to invalid timestamp".into(),
            records: refused,
        });
    }
    if !refused.is_empty() {
        return Err(invalid_records(refused));
    }
    if !rebuild {
        return Ok(None);
    }
    rebuild_batch(&records, header, policy.compression, target).map(Some)
}

/// Kafka's message for record errors (LogValidator.processRecordErrors).
fn invalid_records(records: Vec<RecordError>) -> ValidationError {
    let shown: Vec<String> = records
        .iter()
        .take(3)
        .map(|e| {
            format!(
                "RecordError(batchIndex={}, message='{}')",
                e.batch_index, e.message
            )
        })
        .collect();
    ValidationError::InvalidRecords {
        message: format!(
            "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
            records.len(),
            shown.join(", ")
        ),
        records,
    }
}

/// Decodes a batch's records, inflating them within `codec::MAX_INFLATED` and refusing a record
/// count the inflated bytes cannot hold before anything is reserved for it.
fn decode(batch: &[u8], header: &BatchHeader) -> Result<Vec<Record>, ValidationError> {
    let count = usize::try_from(header.records_count).unwrap_or(usize::MAX);
    if count > codec::MAX_INFLATED / MIN_RECORD_BYTES {
        return Err(ValidationError::Corrupt(format!(
            "a batch claims {count} records"
        )));
    }
    let inflate = |data: &mut Bytes, compression: Compression| -> anyhow::Result<Bytes> {
        let out = codec::decompress(compression, data)?;
        if out.len() / MIN_RECORD_BYTES < count {
            anyhow::bail!("{count} records cannot fit in {} inflated bytes", out.len());
        }
        Ok(out)
    };
    let mut buf = Bytes::copy_from_slice(batch);
    let set = RecordBatchDecoder::decode_with_custom_compression(&mut buf, Some(inflate))
        .map_err(|e| ValidationError::Corrupt(format!("{e:#}")))?;
    if set.records.len() != count {
        return Err(ValidationError::Corrupt(format!(
            "the batch header counts {count} records, its body holds {}",
            set.records.len()
        )));
    }
    Ok(set.records)
}

/// Writes `records` as one batch compressed with `target` at the topic's level: offsets deltas
/// 0..n-1, the producer's id, epoch and base sequence kept.
fn rebuild_batch(
    records: &[Record],
    header: &BatchHeader,
    compression: TopicCompression,
    target: Compression,
) -> Result<Vec<u8>, ValidationError> {
    let renumbered: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let delta = i32::try_from(i).unwrap_or(i32::MAX);
            Record {
                offset: i64::from(delta),
                // The encoder keeps records in one batch while offset - sequence is constant
                // and derives the base sequence from the first record: -1 stays -1.
                sequence: header.base_sequence.wrapping_add(delta),
                producer_id: header.producer_id,
                producer_epoch: header.producer_epoch,
                partition_leader_epoch: header.leader_epoch,
                transactional: header.is_transactional(),
                control: false,
                delete_horizon: false,
                ..r.clone()
            }
        })
        .collect();
    let mut out = BytesMut::new();
    let compress = |records: &mut BytesMut, out: &mut BytesMut, _: Compression| {
        compression.compress(records, out)
    };
    RecordBatchEncoder::encode_with_custom_compression(
        &mut out,
        renumbered.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: target,
        },
        Some(compress),
    )
    .map_err(|e| ValidationError::Corrupt(format!("re-encoding the batch: {e:#}")))?;
    Ok(out.to_vec())
}

#[cfg(test)]
#[path = "validator_tests.rs"]
mod tests;
