//! Inflating v0/v1 wrappers without exceeding a bound (gzip, xerial or raw snappy, LZ4 including
//! v0's KAFKA-3160 framing) and compressing wrappers and up-converted batches.

use super::{FormatError, corrupt};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy};
use kafka_protocol::records::Compression;

/// Most bytes one compressed wrapper may inflate to (a request frame's limit), so a small
/// hostile wrapper cannot make the broker allocate gigabytes.
pub const MAX_INFLATED: usize = crate::handlers::MAX_REQUEST_BYTES;

pub(super) fn too_big() -> FormatError {
    corrupt(format!("a wrapper inflates beyond {MAX_INFLATED} bytes"))
}

pub(super) fn read_bounded(r: impl std::io::Read, what: &str) -> Result<Bytes, FormatError> {
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
pub(super) fn snappy(data: &[u8]) -> Result<Bytes, FormatError> {
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
pub(super) fn inflate(compression: Compression, data: &[u8]) -> Result<Bytes, FormatError> {
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
pub(super) fn lz4_kafka_0_8(data: &[u8]) -> Result<Bytes, FormatError> {
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

pub(super) fn compress(compression: Compression, data: &[u8]) -> Result<Bytes, FormatError> {
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

/// Compresses an up-converted batch's records with the producer's codec, LZ4 and gzip at their
/// fast levels (kafka-protocol's encoder uses LZ4HC and gzip level 6, several times slower on
/// this path, where every old-format produce is re-compressed), snappy as kafka-protocol does.
/// The `anyhow::Result` is the signature of kafka-protocol's custom-compression callback.
pub(super) fn recompress(
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
