//! Up-conversion of old produce message sets to record batches and down-conversion of fetched
//! batches to old message sets, as Kafka 2.1 did.

use super::compression::recompress;
use super::decode::parse;
use super::encode::put_message;
use super::{FormatError, LOG_APPEND_TIME_BIT, corrupt};
use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record,
    RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// Up-converts a Produce v0-2 message set into one record batch (magic 2), compressed with the
/// producer's codec, as Kafka 2.1 did on append. Offsets become deltas 0..n-1 (the log assigns
/// the real ones); magic 0 messages carry no timestamp (-1).
pub fn up_convert(set: Bytes) -> Result<Bytes, FormatError> {
    let (messages, compression) = parse(set)?;
    if messages.is_empty() {
        return Ok(Bytes::new());
    }
    let records: Vec<Record> = messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps records in one batch while offset - sequence is constant;
            // the batch's base sequence is the first record's, NO_SEQUENCE (-1).
            sequence: NO_SEQUENCE + i as i32,
            timestamp: m.timestamp,
            key: m.key,
            value: m.value,
            headers: IndexMap::new(),
        })
        .collect();
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode_with_custom_compression(
        &mut out,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
        Some(recompress),
    )
    .map_err(|e| corrupt(format!("encoding the up-converted batch: {e:#}")))?;
    Ok(out.freeze())
}

/// Down-converts the record batches a fetch read into an uncompressed v0/v1 message set
/// (magic 0 for Fetch v0-1, magic 1 for v2-3), as Kafka 2.1 did for old consumers: records
/// before `fetch_offset` and control records are left out, headers are dropped (the old formats
/// have none). Messages go out uncompressed, so an old client can read batches of any codec
/// (Kafka kept the codec and refused zstd to old fetchers). A batch that cannot be decoded ends
/// the set there; the client fetches again from the next offset.
pub fn down_convert(mut batches: Bytes, magic: i8, fetch_offset: i64) -> Bytes {
    let mut out = BytesMut::with_capacity(batches.len() + batches.len() / 4);
    while batches.has_remaining() {
        let set = match RecordBatchDecoder::decode(&mut batches) {
            Ok(set) => set,
            Err(e) => {
                tracing::debug!(error = %e, "down-conversion stopped at an undecodable batch");
                break;
            }
        };
        for r in set.records {
            if r.control || r.offset < fetch_offset {
                continue;
            }
            let log_append = r.timestamp_type == TimestampType::LogAppend;
            put_message(
                &mut out,
                r.offset,
                magic,
                if magic == 1 && log_append {
                    LOG_APPEND_TIME_BIT
                } else {
                    0
                },
                r.timestamp,
                r.key.as_deref(),
                r.value.as_deref(),
            );
        }
    }
    out.freeze()
}
