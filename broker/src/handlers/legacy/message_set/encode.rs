//! Writing v0/v1 message sets: messages with their CRC, optionally inside one compressed wrapper.

use super::compression::compress;
use super::{FormatError, LOG_APPEND_TIME_BIT, Message};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::records::Compression;

pub(super) fn put_bytes(out: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            out.put_i32(b.len() as i32);
            out.put_slice(b);
        }
        None => out.put_i32(-1),
    }
}

/// Appends one message (offset, size, CRC and body) to `out`.
pub(super) fn put_message(
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
