//! Record-batch codecs for the batches the broker re-encodes itself (a topic's
//! `compression.type`, see partition/validator.rs): bounded decompression of every codec a
//! producer may use, and compression with a topic's codec at its KIP-390 level, framed as
//! Kafka's own broker writes it (LZ4 frames of 64 KiB independent blocks, snappy in xerial
//! blocks, gzip, zstd).

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Snappy};
use kafka_protocol::records::Compression;
use std::io::{Read, Write};

/// Most bytes one batch's records may inflate to (100 MiB, the request frame limit), so a small
/// hostile batch cannot make the broker allocate gigabytes.
pub const MAX_INFLATED: usize = 100 * 1024 * 1024;

/// Why a batch's records could not be decompressed or compressed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("{codec} records do not decompress: {reason}")]
    Corrupt { codec: &'static str, reason: String },
    #[error("records inflate beyond {MAX_INFLATED} bytes")]
    TooBig,
}

/// A topic's `compression.type` with the level of its codec (`compression.gzip.level`,
/// `compression.lz4.level`, `compression.zstd.level`, KIP-390).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicCompression {
    /// Batches are kept with the producer's codec (Kafka's default).
    Producer,
    Uncompressed,
    /// Deflate level 1-9, or -1 for the default (6).
    Gzip {
        level: i32,
    },
    Snappy,
    /// Kafka's 1-17 (1: the fast compressor, above: high compression, capped at liblz4's 12).
    Lz4 {
        level: i32,
    },
    /// zstd's -131072..=22.
    Zstd {
        level: i32,
    },
}

/// The names `compression.type` accepts, Kafka's.
pub const COMPRESSION_TYPES: &[&str] =
    &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

/// Kafka's KIP-390 level ranges and defaults: (key, min, max, default).
pub const GZIP_LEVEL: (&str, i32, i32, i32) = ("compression.gzip.level", 1, 9, -1);
pub const LZ4_LEVEL: (&str, i32, i32, i32) = ("compression.lz4.level", 1, 17, 9);
pub const ZSTD_LEVEL: (&str, i32, i32, i32) = ("compression.zstd.level", -131_072, 22, 3);

impl TopicCompression {
    /// From the topic's resolved configs; `None` for a name `compression.type` does not accept.
    pub fn from_config(
        name: &str,
        gzip_level: i32,
        lz4_level: i32,
        zstd_level: i32,
    ) -> Option<Self> {
        Some(match name {
            "producer" => TopicCompression::Producer,
            "uncompressed" => TopicCompression::Uncompressed,
            "gzip" => TopicCompression::Gzip { level: gzip_level },
            "snappy" => TopicCompression::Snappy,
            "lz4" => TopicCompression::Lz4 { level: lz4_level },
            "zstd" => TopicCompression::Zstd { level: zstd_level },
            _ => return None,
        })
    }

    /// The codec a batch that the producer compressed with `source` is stored with.
    pub fn target(self, source: Compression) -> Compression {
        match self {
            TopicCompression::Producer => source,
            TopicCompression::Uncompressed => Compression::None,
            TopicCompression::Gzip { .. } => Compression::Gzip,
            TopicCompression::Snappy => Compression::Snappy,
            TopicCompression::Lz4 { .. } => Compression::Lz4,
            TopicCompression::Zstd { .. } => Compression::Zstd,
        }
    }

    /// Compresses `records` (a batch's encoded records) into `out` with this codec. The
    /// `anyhow::Result` is the signature of kafka-protocol's custom-compression callback.
    pub fn compress(self, records: &[u8], out: &mut BytesMut) -> anyhow::Result<()> {
        match self {
            TopicCompression::Producer | TopicCompression::Uncompressed => {
                out.put_slice(records);
            }
            TopicCompression::Gzip { level } => {
                let level = if level < 0 { 6 } else { level.clamp(1, 9) };
                let mut enc = flate2::write::GzEncoder::new(
                    out.writer(),
                    flate2::Compression::new(u32::try_from(level).unwrap_or(6)),
                );
                enc.write_all(records)?;
                enc.finish()?;
            }
            TopicCompression::Snappy => {
                Snappy::compress(out, |b: &mut BytesMut| {
                    b.put_slice(records);
                    Ok(())
                })?;
            }
            TopicCompression::Lz4 { level } => {
                // liblz4: 0 is the fast compressor, 3..=12 high compression.
                let level = if level <= 1 { 0 } else { level.min(12) };
                let mut enc = lz4::EncoderBuilder::new()
                    .level(u32::try_from(level).unwrap_or(0))
                    .block_size(lz4::BlockSize::Max64KB)
                    .block_mode(lz4::BlockMode::Independent)
                    .checksum(lz4::ContentChecksum::NoChecksum)
                    .build(out.writer())?;
                enc.write_all(records)?;
                enc.finish().1?;
            }
            TopicCompression::Zstd { level } => {
                let mut enc = zstd::stream::write::Encoder::new(out.writer(), level)?;
                enc.write_all(records)?;
                enc.finish()?;
            }
        }
        Ok(())
    }
}

fn read_bounded(r: impl Read, codec: &'static str) -> Result<Bytes, CodecError> {
    let mut out = Vec::new();
    r.take(MAX_INFLATED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| CodecError::Corrupt {
            codec,
            reason: e.to_string(),
        })?;
    if out.len() > MAX_INFLATED {
        return Err(CodecError::TooBig);
    }
    Ok(Bytes::from(out))
}

/// Snappy as Kafka's Java clients and broker write it (xerial framing: a 16-byte header, then
/// blocks with a 4-byte big-endian length) or raw as librdkafka does, each block's declared
/// length checked before allocating.
fn snappy(data: &[u8]) -> Result<Bytes, CodecError> {
    const XERIAL: &[u8] = b"\x82SNAPPY\x00";
    let corrupt = |reason: String| CodecError::Corrupt {
        codec: "snappy",
        reason,
    };
    let mut out = Vec::new();
    let mut push = |block: &[u8]| {
        let n = snap::raw::decompress_len(block).map_err(|e| corrupt(e.to_string()))?;
        let start = out.len();
        if start + n > MAX_INFLATED {
            return Err(CodecError::TooBig);
        }
        out.resize(start + n, 0);
        snap::raw::Decoder::new()
            .decompress(block, &mut out[start..])
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(())
    };
    if data.len() >= 16 && data.starts_with(XERIAL) {
        let mut pos = 16;
        while pos < data.len() {
            let Some(len) = data.get(pos..pos + 4) else {
                return Err(corrupt("truncated block length".into()));
            };
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let Some(block) = data.get(pos + 4..pos + 4 + len) else {
                return Err(corrupt("truncated block".into()));
            };
            push(block)?;
            pos += 4 + len;
        }
    } else {
        push(data)?;
    }
    Ok(Bytes::from(out))
}

/// Inflates a batch's records, never past `MAX_INFLATED`.
pub fn decompress(compression: Compression, data: &[u8]) -> Result<Bytes, CodecError> {
    match compression {
        Compression::None => Ok(Bytes::copy_from_slice(data)),
        Compression::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(data), "gzip"),
        Compression::Snappy => snappy(data),
        Compression::Lz4 => read_bounded(
            lz4::Decoder::new(data).map_err(|e| CodecError::Corrupt {
                codec: "lz4",
                reason: e.to_string(),
            })?,
            "lz4",
        ),
        Compression::Zstd => read_bounded(
            zstd::stream::read::Decoder::new(data).map_err(|e| CodecError::Corrupt {
                codec: "zstd",
                reason: e.to_string(),
            })?,
            "zstd",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [TopicCompression; 5] = [
        TopicCompression::Uncompressed,
        TopicCompression::Gzip { level: -1 },
        TopicCompression::Snappy,
        TopicCompression::Lz4 { level: 9 },
        TopicCompression::Zstd { level: 3 },
    ];

    #[test]
    fn every_codec_round_trips_at_its_levels() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let levels = [
            TopicCompression::Gzip { level: 1 },
            TopicCompression::Gzip { level: 9 },
            TopicCompression::Lz4 { level: 1 },
            TopicCompression::Lz4 { level: 17 },
            TopicCompression::Zstd { level: -5 },
            TopicCompression::Zstd { level: 19 },
        ];
        for c in ALL.into_iter().chain(levels) {
            let mut out = BytesMut::new();
            c.compress(&data, &mut out).unwrap();
            let codec = c.target(Compression::None);
            assert_eq!(decompress(codec, &out).unwrap(), data, "{c:?}");
        }
    }

    #[test]
    fn producer_keeps_the_codec_and_the_others_impose_theirs() {
        assert_eq!(
            TopicCompression::Producer.target(Compression::Lz4),
            Compression::Lz4
        );
        assert_eq!(
            TopicCompression::Uncompressed.target(Compression::Zstd),
            Compression::None
        );
        assert_eq!(
            TopicCompression::from_config("gzip", 4, 9, 3),
            Some(TopicCompression::Gzip { level: 4 })
        );
        assert_eq!(TopicCompression::from_config("none", -1, 9, 3), None);
    }

    #[test]
    fn the_inflation_bound_is_the_request_frame_limit() {
        assert_eq!(MAX_INFLATED, crate::handlers::MAX_REQUEST_BYTES);
    }

    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert!(decompress(codec, b"definitely not compressed").is_err());
        }
    }

    #[test]
    fn a_bomb_stops_at_the_bound() {
        let zeros = vec![0u8; MAX_INFLATED + 1];
        let mut out = BytesMut::new();
        TopicCompression::Zstd { level: 1 }
            .compress(&zeros, &mut out)
            .unwrap();
        assert!(matches!(
            decompress(Compression::Zstd, &out),
            Err(CodecError::TooBig)
        ));
    }
}
