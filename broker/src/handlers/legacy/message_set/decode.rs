//! Reading v0/v1 message sets: entries split off with their CRC checked, compressed wrappers
//! unwrapped.

use super::compression::{inflate, lz4_kafka_0_8};
use super::{CODEC_MASK, ENTRY_HEADER, FormatError, LOG_APPEND_TIME_BIT, Message, corrupt};
use bytes::{Buf, Bytes};
use kafka_protocol::records::{Compression, NO_TIMESTAMP};

/// A message as it is on the wire, before unwrapping.
pub(super) struct RawMessage {
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

pub(super) fn read_bytes(buf: &mut Bytes) -> Result<Option<Bytes>, FormatError> {
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
pub(super) fn next_message(set: &mut Bytes) -> Result<RawMessage, FormatError> {
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

pub(super) fn codec(id: i8) -> Result<Compression, FormatError> {
    match id {
        0 => Ok(Compression::None),
        1 => Ok(Compression::Gzip),
        2 => Ok(Compression::Snappy),
        3 => Ok(Compression::Lz4),
        n => Err(FormatError::Codec(n)),
    }
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
