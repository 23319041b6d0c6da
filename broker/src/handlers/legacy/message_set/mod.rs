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
//!
//! Here: the shared types and the error; `decode` reads message sets, `encode` writes them,
//! `compression` inflates and deflates wrappers (bounded), `convert` turns message sets into
//! record batches and back.

mod compression;
mod convert;
mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use compression::MAX_INFLATED;
pub use convert::{down_convert, up_convert};
pub use decode::parse;
pub use encode::encode;

use bytes::Bytes;

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
