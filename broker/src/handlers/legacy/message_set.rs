//! Message format v0 and v1 ("magic" 0 and 1): the message sets of Produce v0-2 and Fetch v0-3,
//! and their conversion to and from record batches (magic 2), as Kafka 2.1 did it. The log only
//! ever holds record batches: old produce requests are up-converted before they are appended,
//! and old fetch responses are down-converted from what the log holds.
//!
//! The format (all integers big-endian), hand-written because no maintained crate carries it:
//!
//! ```text
//! message set := (offset: i64, message_size: i32, message)*
//! message     := crc: u32          CRC-32 (IEEE) of every byte after it
//!                magic: i8         0 or 1
//!                attributes: i8    bits 0-2: codec (0 none, 1 gzip, 2 snappy, 3 lz4);
//!                                  bit 3 (magic 1): timestamp type (1 = log append time)
//!                timestamp: i64    magic 1 only (milliseconds; -1 none)
//!                key: i32 length (-1 null), bytes
//!                value: i32 length (-1 null), bytes
//! ```
//!
//! A compressed message (a "wrapper") carries, as its value, a compressed message set of
//! uncompressed messages. Inner offsets are absolute for magic 0; for magic 1 they are relative
//! (0..n-1) and the wrapper's offset is the last inner message's absolute offset. A magic 1
//! wrapper with the log-append-time bit gives every inner message its timestamp.
//!
//! Compressed wrappers are inflated with flate2, snap and lz4 (bounded, accepting xerial-framed
//! snappy, which Java and kafka-python write, and raw snappy), the CRC is crc32fast's. LZ4 under magic 0 carries the frame-header checksum Kafka before 0.10 computed over
//! the wrong bytes (KAFKA-3160), which the LZ4 frame decoder refuses; as Kafka 2.1 did, that
//! frame is read without checking that byte (`lz4_kafka_0_8`). Nested compression is
//! CORRUPT_MESSAGE; the zstd codec id under magic 0/1 is UNSUPPORTED_COMPRESSION_TYPE, as in
//! Kafka.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
    NO_TIMESTAMP, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType,
};

const CODEC_MASK: i8 = 0x07;
const LOG_APPEND_TIME_BIT: i8 = 0x08;
/// offset + message_size.
const ENTRY_HEADER: usize = 12;

/// One message of a v0/v1 message set, after unwrapping compression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub offset: i64,
    /// Milliseconds; -1 (none) under magic 0.
    pub timestamp: i64,
    pub log_append_time: bool,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// Why a message set was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("corrupt message set: {0}")]
    Corrupt(String),
    #[error("message CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc { stored: u32, computed: u32 },
    #[error("unsupported compression codec {0} for message format v0/v1")]
    Codec(i8),
}

fn corrupt(what: impl Into<String>) -> FormatError {
    FormatError::Corrupt(what.into())
}

/// A message as it is on the wire, before unwrapping.
struct RawMessage {
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

fn read_bytes(buf: &mut Bytes) -> Result<Option<Bytes>, FormatError> {
    if buf.remaining() < 4 {
        return Err(corrupt("truncated length"));
    }
    let len = buf.get_i32();
    match len {
        -1 => Ok(None),
        n if n < -1 => Err(corrupt(format!("negative length {n}"))),
        n if n as usize > buf.remaining() => Err(corrupt(format!(
            "length {n} beyond the message's {} bytes",
            buf.remaining()
        ))),
        n => Ok(Some(buf.split_to(n as usize))),
    }
}

/// Splits the next (offset, message) entry off a message set and checks its CRC.
fn next_message(set: &mut Bytes) -> Result<RawMessage, FormatError> {
    if set.remaining() < ENTRY_HEADER {
        return Err(corrupt(format!("{} trailing bytes", set.remaining())));
    }
    let offset = set.get_i64();
    let size = set.get_i32();
    // crc + magic + attributes + key length + value length.
    if size < 14 || size as usize > set.remaining() {
        return Err(corrupt(format!(
            "message size {size} with {} bytes left",
            set.remaining()
        )));
    }
    let mut m = set.split_to(size as usize);
    let stored = m.get_u32();
    let computed = crc32fast::hash(&m);
    if stored != computed {
        return Err(FormatError::Crc { stored, computed });
    }
    let magic = m.get_i8();
    if !(0..=1).contains(&magic) {
        return Err(corrupt(format!("magic {magic} inside a v0/v1 message set")));
    }
    let attributes = m.get_i8();
    let timestamp = if magic == 1 {
        if m.remaining() < 8 {
            return Err(corrupt("truncated timestamp"));
        }
        m.get_i64()
    } else {
        NO_TIMESTAMP
    };
    let key = read_bytes(&mut m)?;
    let value = read_bytes(&mut m)?;
    if m.has_remaining() {
        return Err(corrupt(format!(
            "{} bytes after the message value",
            m.remaining()
        )));
    }
    Ok(RawMessage {
        offset,
        magic,
        attributes,
        timestamp,
        key,
        value,
    })
}

fn codec(id: i8) -> Result<Compression, FormatError> {
    match id {
        0 => Ok(Compression::None),
        1 => Ok(Compression::Gzip),
        2 => Ok(Compression::Snappy),
        3 => Ok(Compression::Lz4),
        n => Err(FormatError::Codec(n)),
    }
}

/// Most bytes one compressed wrapper may inflate to (a request frame's limit), so a small
/// hostile wrapper cannot make the broker allocate gigabytes.
pub const MAX_INFLATED: usize = crate::server::connection::MAX_REQUEST_BYTES;

fn too_big() -> FormatError {
    corrupt(format!("a wrapper inflates beyond {MAX_INFLATED} bytes"))
}

fn read_bounded(r: impl std::io::Read, what: &str) -> Result<Bytes, FormatError> {
    use std::io::Read;
    let mut out = Vec::new();
    r.take(MAX_INFLATED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(format!("{what} wrapper: {e}")))?;
    if out.len() > MAX_INFLATED {
        return Err(too_big());
    }
    Ok(Bytes::from(out))
}

/// Snappy as Kafka's Java clients write it (xerial framing: a 16-byte header, then blocks with
/// a 4-byte big-endian length) or raw, each block's declared length checked before allocating.
fn snappy(data: &[u8]) -> Result<Bytes, FormatError> {
    const XERIAL: &[u8] = b"\x82SNAPPY\x00";
    let mut out = Vec::new();
    let mut push = |block: &[u8]| {
        let n = snap::raw::decompress_len(block)
            .map_err(|e| corrupt(format!("snappy wrapper: {e}")))?;
        let start = out.len();
        if start + n > MAX_INFLATED {
            return Err(too_big());
        }
        out.resize(start + n, 0);
        snap::raw::Decoder::new()
            .decompress(block, &mut out[start..])
            .map_err(|e| corrupt(format!("snappy wrapper: {e}")))?;
        Ok(())
    };
    if data.len() >= 16 && data.starts_with(XERIAL) {
        let mut pos = 16;
        while pos < data.len() {
            let Some(len) = data.get(pos..pos + 4) else {
                return Err(corrupt("snappy wrapper: truncated block length"));
            };
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let Some(block) = data.get(pos + 4..pos + 4 + len) else {
                return Err(corrupt("snappy wrapper: truncated block"));
            };
            push(block)?;
            pos += 4 + len;
        }
    } else {
        push(data)?;
    }
    Ok(Bytes::from(out))
}

/// Inflates a wrapper's value, never past `MAX_INFLATED`.
fn inflate(compression: Compression, data: &[u8]) -> Result<Bytes, FormatError> {
    match compression {
        Compression::None => Ok(Bytes::copy_from_slice(data)),
        Compression::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(data), "gzip"),
        Compression::Snappy => snappy(data),
        Compression::Lz4 => read_bounded(
            lz4::Decoder::new(data).map_err(|e| corrupt(format!("lz4 wrapper: {e}")))?,
            "lz4",
        ),
        Compression::Zstd => Err(FormatError::Codec(4)),
    }
}

/// Reads an LZ4 frame written for message format v0 (KAFKA-3160: its header checksum was
/// computed over the frame magic too), block by block with the LZ4 block decoder. The header,
/// block and content checksums are not checked: the message's CRC-32 already covers every byte.
/// Independent blocks only, which is what Kafka's and the clients' v0 writers produce.
fn lz4_kafka_0_8(data: &[u8]) -> Result<Bytes, FormatError> {
    let bad = |what: &str| corrupt(format!("LZ4 frame (magic 0): {what}"));
    if data.len() < 7 || data[0..4] != [0x04, 0x22, 0x4D, 0x18] {
        return Err(bad("no frame magic"));
    }
    let (flg, bd) = (data[4], data[5]);
    if flg >> 6 != 1 {
        return Err(bad("unknown frame version"));
    }
    let independent = flg & 0x20 != 0;
    let block_checksums = flg & 0x10 != 0;
    let max_block: usize = match (bd >> 4) & 0x07 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        _ => return Err(bad("unknown block size")),
    };
    // FLG, BD, [content size], [dictionary id], header checksum.
    let mut pos = 6 + if flg & 0x08 != 0 { 8 } else { 0 } + if flg & 0x01 != 0 { 4 } else { 0 } + 1;
    let mut out = BytesMut::new();
    let mut blocks = 0usize;
    let mut scratch: Option<Vec<u8>> = None;
    loop {
        let Some(head) = data.get(pos..pos + 4) else {
            return Err(bad("truncated"));
        };
        pos += 4;
        let size = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if size == 0 {
            break;
        }
        let len = (size & 0x7fff_ffff) as usize;
        let Some(block) = data.get(pos..pos + len).filter(|_| len <= max_block) else {
            return Err(bad("block size beyond the frame"));
        };
        pos += len + if block_checksums { 4 } else { 0 };
        if size & 0x8000_0000 != 0 {
            out.put_slice(block);
        } else if independent || blocks == 0 {
            // One scratch block per frame (not one allocation per block).
            let scratch = scratch.get_or_insert_with(|| vec![0u8; max_block]);
            let n = lz4::block::decompress_to_buffer(block, Some(max_block as i32), scratch)
                .map_err(|e| bad(&e.to_string()))?;
            out.put_slice(&scratch[..n]);
        } else {
            return Err(bad("linked blocks"));
        }
        if out.len() > MAX_INFLATED {
            return Err(too_big());
        }
        blocks += 1;
    }
    Ok(out.freeze())
}

fn compress(compression: Compression, data: &[u8]) -> Result<Bytes, FormatError> {
    let mut out = BytesMut::new();
    let put = |b: &mut BytesMut| {
        b.put_slice(data);
        Ok(())
    };
    let r = match compression {
        Compression::Gzip => Gzip::compress(&mut out, put),
        Compression::Snappy => Snappy::compress(&mut out, put),
        Compression::Lz4 => Lz4::compress(&mut out, put),
        Compression::None => return Ok(Bytes::copy_from_slice(data)),
        Compression::Zstd => return Err(FormatError::Codec(4)),
    };
    r.map_err(|e| corrupt(format!("{compression:?}: {e:#}")))?;
    Ok(out.freeze())
}

/// Parses a whole v0/v1 message set (a Produce v0-2 partition's records): every CRC checked,
/// compressed wrappers unwrapped. Returns the messages and the codec the producer used
/// (the last wrapper's; `None` when nothing was compressed).
pub fn parse(mut set: Bytes) -> Result<(Vec<Message>, Compression), FormatError> {
    let mut out = Vec::new();
    let mut used = Compression::None;
    while set.has_remaining() {
        let m = next_message(&mut set)?;
        let compression = codec(m.attributes & CODEC_MASK)?;
        let log_append_time = m.magic == 1 && m.attributes & LOG_APPEND_TIME_BIT != 0;
        if compression == Compression::None {
            out.push(Message {
                offset: m.offset,
                timestamp: m.timestamp,
                log_append_time,
                key: m.key,
                value: m.value,
            });
            continue;
        }
        used = compression;
        let value = m
            .value
            .ok_or_else(|| corrupt("compressed wrapper without a value"))?;
        let mut inner_set = if compression == Compression::Lz4 && m.magic == 0 {
            lz4_kafka_0_8(&value)?
        } else {
            inflate(compression, &value)?
        };
        let mut inner = Vec::new();
        while inner_set.has_remaining() {
            let i = next_message(&mut inner_set)?;
            if i.attributes & CODEC_MASK != 0 {
                return Err(corrupt("nested compression"));
            }
            inner.push(i);
        }
        let Some(last) = inner.last().map(|i| i.offset) else {
            return Err(corrupt("compressed wrapper with no inner messages"));
        };
        for i in inner {
            let offset = if m.magic == 1 {
                m.offset - last + i.offset
            } else {
                i.offset
            };
            let timestamp = match (i.magic, log_append_time) {
                (0, _) => NO_TIMESTAMP,
                (_, true) => m.timestamp,
                _ => i.timestamp,
            };
            out.push(Message {
                offset,
                timestamp,
                log_append_time,
                key: i.key,
                value: i.value,
            });
        }
    }
    Ok((out, used))
}

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

/// Compresses an up-converted batch's records with the producer's codec, LZ4 and gzip at their
/// fast levels (kafka-protocol's encoder uses LZ4HC and gzip level 6, several times slower on
/// this path, where every old-format produce is re-compressed), snappy as kafka-protocol does.
fn recompress(
    records: &mut BytesMut,
    out: &mut BytesMut,
    compression: Compression,
) -> anyhow::Result<()> {
    use std::io::Write;
    let put = |b: &mut BytesMut| {
        b.put_slice(records);
        Ok(())
    };
    match compression {
        Compression::Lz4 => {
            let mut enc = lz4::EncoderBuilder::new()
                .level(0)
                .block_mode(lz4::BlockMode::Independent)
                .build(out.writer())?;
            enc.write_all(records)?;
            enc.finish().1?;
            Ok(())
        }
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(out.writer(), flate2::Compression::fast());
            enc.write_all(records)?;
            enc.finish()?;
            Ok(())
        }
        Compression::Snappy => Snappy::compress(out, put),
        Compression::None => {
            out.put_slice(records);
            Ok(())
        }
        Compression::Zstd => anyhow::bail!("zstd cannot come from message format v0/v1"),
    }
}

fn put_bytes(out: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            out.put_i32(b.len() as i32);
            out.put_slice(b);
        }
        None => out.put_i32(-1),
    }
}

/// Appends one message (offset, size, CRC and body) to `out`.
fn put_message(
    out: &mut BytesMut,
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let body = 1 + 1 + if magic == 1 { 8 } else { 0 } + 8 + key.map_or(0, <[u8]>::len);
    let size = 4 + body + value.map_or(0, <[u8]>::len);
    out.put_i64(offset);
    out.put_i32(size as i32);
    let crc_at = out.len();
    out.put_u32(0);
    out.put_i8(magic);
    out.put_i8(attributes);
    if magic == 1 {
        out.put_i64(timestamp);
    }
    put_bytes(out, key);
    put_bytes(out, value);
    let crc = crc32fast::hash(&out[crc_at + 4..]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Encodes messages as a v0/v1 message set; with a codec, as one compressed wrapper holding
/// them (relative inner offsets under magic 1, as Kafka writes them).
pub fn encode(
    messages: &[Message],
    magic: i8,
    compression: Compression,
) -> Result<Bytes, FormatError> {
    let ts_bit = |m: &Message| {
        if magic == 1 && m.log_append_time {
            LOG_APPEND_TIME_BIT
        } else {
            0
        }
    };
    let mut out = BytesMut::new();
    if compression == Compression::None {
        for m in messages {
            put_message(
                &mut out,
                m.offset,
                magic,
                ts_bit(m),
                m.timestamp,
                m.key.as_deref(),
                m.value.as_deref(),
            );
        }
        return Ok(out.freeze());
    }
    let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
        return Ok(Bytes::new());
    };
    let mut inner = BytesMut::new();
    for (i, m) in messages.iter().enumerate() {
        let offset = if magic == 1 { i as i64 } else { m.offset };
        put_message(
            &mut inner,
            offset,
            magic,
            0,
            m.timestamp,
            m.key.as_deref(),
            m.value.as_deref(),
        );
    }
    let compressed = compress(compression, &inner)?;
    let codec_id = compression as i8;
    let max_ts = messages.iter().map(|m| m.timestamp).max().unwrap_or(-1);
    put_message(
        &mut out,
        last.offset,
        magic,
        codec_id | ts_bit(first),
        max_ts,
        None,
        Some(&compressed),
    );
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kafka_protocol::error::ResponseError;
    use proptest::prelude::*;

    fn msg(offset: i64, ts: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> Message {
        Message {
            offset,
            timestamp: ts,
            log_append_time: false,
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
        }
    }

    const CODECS: [Compression; 4] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
    ];

    #[test]
    fn a_known_magic_0_message_has_kafkas_crc() {
        // Offset 0, key null, value "a": the CRC Kafka's own encoder writes for this message.
        let set = encode(&[msg(0, -1, None, Some(b"a"))], 0, Compression::None).unwrap();
        let body = &set[16..];
        assert_eq!(
            &set[12..16],
            &crc32_ieee_reference(body).to_be_bytes(),
            "CRC-32 (IEEE) over magic..value"
        );
        assert_eq!(set.len(), 12 + 4 + 1 + 1 + 4 + 4 + 1);
    }

    /// Bitwise CRC-32 (IEEE, reflected 0xEDB88320), independent of the table-driven one.
    fn crc32_ieee_reference(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_corrupted_crc_is_rejected_with_corrupt_message() {
        let set = encode(&[msg(0, 5, Some(b"k"), Some(b"v"))], 1, Compression::None).unwrap();
        let mut bad = set.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        let err = parse(Bytes::from(bad)).unwrap_err();
        assert!(matches!(err, FormatError::Crc { .. }), "{err}");
        assert_eq!(err.response_error(), ResponseError::CorruptMessage);
        let err = up_convert(Bytes::from(set[..set.len() - 1].to_vec())).unwrap_err();
        assert_eq!(err.response_error(), ResponseError::CorruptMessage, "{err}");
    }

    #[test]
    fn a_corrupted_inner_crc_inside_a_wrapper_is_rejected() {
        // Build the wrapper by hand from a damaged inner set.
        let inner = encode(&[msg(0, 7, None, Some(b"x"))], 1, Compression::None).unwrap();
        let mut inner = inner.to_vec();
        let last = inner.len() - 1;
        inner[last] ^= 0xff;
        let gz = compress(Compression::Gzip, &inner).unwrap();
        let mut set = BytesMut::new();
        put_message(&mut set, 0, 1, 1, 7, None, Some(&gz));
        let err = parse(set.freeze()).unwrap_err();
        assert!(matches!(err, FormatError::Crc { .. }), "{err}");
    }

    /// A wrapper that inflates beyond the limit is refused without allocating it: a snappy
    /// block whose header claims 2^32-1 bytes, and a gzip stream of zeros.
    #[test]
    fn wrappers_inflating_beyond_the_limit_are_refused() {
        let mut set = BytesMut::new();
        put_message(
            &mut set,
            0,
            1,
            2,
            0,
            None,
            Some(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0]),
        );
        let err = parse(set.freeze()).unwrap_err();
        assert_eq!(err.response_error(), ResponseError::CorruptMessage, "{err}");
        assert!(err.to_string().contains("beyond"), "{err}");
        let zeros = vec![0u8; MAX_INFLATED + 1];
        let gz = compress(Compression::Gzip, &zeros).unwrap();
        assert!(gz.len() < MAX_INFLATED / 100);
        let mut set = BytesMut::new();
        put_message(&mut set, 0, 1, 1, 0, None, Some(&gz));
        let err = parse(set.freeze()).unwrap_err();
        assert!(err.to_string().contains("beyond"), "{err}");
    }

    #[test]
    fn zstd_and_unknown_codecs_are_refused_like_kafka() {
        let mut set = BytesMut::new();
        put_message(&mut set, 0, 1, 4, 0, None, Some(b"zz"));
        assert_eq!(
            parse(set.freeze()).unwrap_err().response_error(),
            ResponseError::UnsupportedCompressionType
        );
        let mut set = BytesMut::new();
        put_message(&mut set, 0, 1, 6, 0, None, Some(b"zz"));
        assert_eq!(
            parse(set.freeze()).unwrap_err().response_error(),
            ResponseError::CorruptMessage
        );
    }

    #[test]
    fn magic_1_wrappers_use_relative_inner_offsets() {
        let msgs = [
            msg(10, 100, Some(b"a"), Some(b"1")),
            msg(11, 101, None, Some(b"2")),
            msg(12, 102, Some(b"c"), None),
        ];
        for c in CODECS {
            let set = encode(&msgs, 1, c).unwrap();
            let (back, used) = parse(set).unwrap();
            assert_eq!(used, c);
            assert_eq!(back, msgs, "{c:?}");
        }
    }

    /// KAFKA-3160: LZ4 under magic 0 was written with a header checksum over the wrong bytes,
    /// which the frame decoder refuses; it is read anyway, only under magic 0.
    #[test]
    fn lz4_under_magic_0_ignores_the_pre_0_10_header_checksum() {
        let msgs = [
            msg(0, -1, Some(b"a"), Some(b"1")),
            msg(1, -1, None, Some(b"2")),
        ];
        let mut inner = BytesMut::new();
        for m in &msgs {
            put_message(
                &mut inner,
                m.offset,
                0,
                0,
                -1,
                m.key.as_deref(),
                m.value.as_deref(),
            );
        }
        let mut frame = compress(Compression::Lz4, &inner).unwrap().to_vec();
        let hc_at = 6 + if frame[4] & 0x08 != 0 { 8 } else { 0 };
        frame[hc_at] = frame[hc_at].wrapping_add(1);
        assert!(inflate(Compression::Lz4, &frame).is_err());
        for magic in [0, 1] {
            let mut set = BytesMut::new();
            put_message(&mut set, 1, magic, 3, -1, None, Some(&frame));
            let parsed = parse(set.freeze());
            if magic == 0 {
                assert_eq!(parsed.unwrap().0, msgs);
            } else {
                assert_eq!(
                    parsed.unwrap_err().response_error(),
                    ResponseError::CorruptMessage
                );
            }
        }
    }

    #[test]
    fn log_append_time_wrappers_stamp_their_inner_messages() {
        let mut msgs = vec![msg(0, 100, None, Some(b"1")), msg(1, 900, None, Some(b"2"))];
        for m in &mut msgs {
            m.log_append_time = true;
        }
        let (back, _) = parse(encode(&msgs, 1, Compression::Gzip).unwrap()).unwrap();
        assert!(back.iter().all(|m| m.timestamp == 900 && m.log_append_time));
    }

    fn arb_message() -> impl Strategy<Value = (Option<Vec<u8>>, Option<Vec<u8>>, i64)> {
        (
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
            0i64..4_000_000_000_000,
        )
    }

    proptest! {
        /// Old set → parse → record batch → down-convert → parse gives the same keys, values
        /// and (magic 1) timestamps, for every codec and both magics.
        #[test]
        fn up_then_down_conversion_round_trips(
            raw in proptest::collection::vec(arb_message(), 1..20),
            magic in 0i8..=1,
            codec_idx in 0usize..4,
            base in 0i64..1_000_000,
        ) {
            let c = CODECS[codec_idx];
            let msgs: Vec<Message> = raw.iter().enumerate().map(|(i, (k, v, ts))| Message {
                offset: base + i as i64,
                timestamp: if magic == 1 { *ts } else { -1 },
                log_append_time: false,
                key: k.clone().map(Bytes::from),
                value: v.clone().map(Bytes::from),
            }).collect();
            let set = encode(&msgs, magic, c).unwrap();
            let batch = up_convert(set).unwrap();
            let decoded = RecordBatchDecoder::decode_all(&mut batch.clone()).unwrap();
            prop_assert_eq!(decoded.len(), 1);
            prop_assert_eq!(decoded[0].compression, c);
            // The log stamps the base offset in place; emulate it.
            let mut stamped = batch.to_vec();
            stamped[0..8].copy_from_slice(&base.to_be_bytes());
            let down = down_convert(Bytes::from(stamped), magic, base);
            let (back, used) = parse(down).unwrap();
            prop_assert_eq!(used, Compression::None);
            prop_assert_eq!(back, msgs);
        }

        /// Arbitrary bytes never panic the parser.
        #[test]
        fn arbitrary_message_sets_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(Bytes::from(data));
        }
    }

    #[test]
    fn down_conversion_skips_records_before_the_fetch_offset_and_drops_headers() {
        let mut headers = IndexMap::new();
        headers.insert(
            kafka_protocol::protocol::StrBytes::from_static_str("h"),
            Some(Bytes::from_static(b"hv")),
        );
        let records: Vec<Record> = (0..4)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: 50 + i,
                sequence: -1 + i as i32,
                timestamp: 1_000 + i,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(format!("v{i}"))),
                headers: headers.clone(),
            })
            .collect();
        let mut batch = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut batch,
            records.iter(),
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::Zstd,
            },
        )
        .unwrap();
        let (v1, _) = parse(down_convert(batch.clone().freeze(), 1, 52)).unwrap();
        assert_eq!(
            v1,
            vec![
                msg(52, 1_002, Some(b"k2"), Some(b"v2")),
                msg(53, 1_003, Some(b"k3"), Some(b"v3"))
            ]
        );
        let (v0, _) = parse(down_convert(batch.freeze(), 0, 0)).unwrap();
        assert_eq!(v0.len(), 4);
        assert!(v0.iter().all(|m| m.timestamp == -1));
    }
}
