//! ListOffsets by timestamp at record precision: given stored batches starting at the batch the
//! time index points to, finds the first record whose timestamp is at least the target and
//! returns its offset and timestamp. Only the one matching batch is decoded (decompressed);
//! LogAppendTime batches need no decoding since all their records carry the batch timestamp.

use super::batch::{BatchHeader, HEADER_LEN};
use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

/// A record located by timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampHit {
    pub offset: i64,
    pub timestamp: i64,
}

/// Scans whole batches in `buf` and returns the first record at or after `min_offset` with a
/// timestamp >= `target`; `None` if no batch in `buf` has one.
pub fn first_record_at_or_after(buf: &[u8], target: i64, min_offset: i64) -> Option<TimestampHit> {
    let mut pos = 0;
    while pos + HEADER_LEN <= buf.len() {
        let h = BatchHeader::parse(&buf[pos..]).ok()?;
        let end = pos + h.total_len();
        if end > buf.len() {
            return None;
        }
        if h.max_timestamp >= target && h.last_offset() >= min_offset {
            if h.is_log_append_time() {
                return Some(TimestampHit {
                    offset: h.base_offset.max(min_offset),
                    timestamp: h.max_timestamp,
                });
            }
            if let Some(hit) = decode_and_find(&buf[pos..end], target, min_offset) {
                return Some(hit);
            }
            // Undecodable or no qualifying record (inconsistent max timestamp): fall back to
            // the batch, as a batch-granular index would.
            return Some(TimestampHit {
                offset: h.base_offset.max(min_offset),
                timestamp: h.max_timestamp,
            });
        }
        pos = end;
    }
    None
}

fn decode_and_find(batch: &[u8], target: i64, min_offset: i64) -> Option<TimestampHit> {
    let mut bytes = Bytes::copy_from_slice(batch);
    let set = match RecordBatchDecoder::decode(&mut bytes) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "decoding a batch for a timestamp lookup failed");
            return None;
        }
    };
    set.records
        .iter()
        .find(|r| r.offset >= min_offset && r.timestamp >= target)
        .map(|r| TimestampHit {
            offset: r.offset,
            timestamp: r.timestamp,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    fn batch(base: i64, timestamps: &[i64], compression: Compression) -> BytesMut {
        let records: Vec<Record> = timestamps
            .iter()
            .enumerate()
            .map(|(i, ts)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: base + i as i64,
                // Constant offset - sequence keeps all records in one batch.
                sequence: i as i32 - 1,
                timestamp: *ts,
                key: None,
                value: Some(Bytes::from(vec![b'x'; 100])),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .unwrap();
        buf
    }

    #[test]
    fn finds_the_exact_record_inside_a_multi_record_batch() {
        for compression in [Compression::None, Compression::Gzip, Compression::Lz4] {
            let mut buf = batch(10, &[100, 200, 300, 400], compression);
            assert_eq!(
                BatchHeader::parse(&buf).unwrap().records_count,
                4,
                "one multi-record batch"
            );
            buf.extend_from_slice(&batch(14, &[500, 600], compression));
            let find = |t, min| first_record_at_or_after(&buf, t, min);
            assert_eq!(
                find(250, 0),
                Some(TimestampHit {
                    offset: 12,
                    timestamp: 300
                })
            );
            assert_eq!(
                find(100, 0),
                Some(TimestampHit {
                    offset: 10,
                    timestamp: 100
                })
            );
            assert_eq!(
                find(401, 0),
                Some(TimestampHit {
                    offset: 14,
                    timestamp: 500
                })
            );
            assert_eq!(find(601, 0), None);
            // Records below the log start offset are skipped.
            assert_eq!(
                find(100, 11),
                Some(TimestampHit {
                    offset: 11,
                    timestamp: 200
                })
            );
        }
    }

    #[test]
    fn out_of_order_timestamps_pick_the_first_qualifying_record() {
        let buf = batch(0, &[500, 100, 700], Compression::None);
        assert_eq!(
            first_record_at_or_after(&buf, 600, 0),
            Some(TimestampHit {
                offset: 2,
                timestamp: 700
            })
        );
        assert_eq!(
            first_record_at_or_after(&buf, 200, 0),
            Some(TimestampHit {
                offset: 0,
                timestamp: 500
            })
        );
    }
}
