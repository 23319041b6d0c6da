//! Record batches sent from the page cache instead of read into memory (Kafka's `sendfile`
//! path). A fetch that finds whole batches to return notes where they lie in the segment file (a
//! [`FileRegion`]); the response is encoded with a placeholder of the same length in their
//! place, and the connection writes the region with `sendfile(2)` on plaintext sockets, so the
//! bytes go from the page cache to the socket without the `pread` copy into the broker and the
//! `write` copy out of it. TLS connections read the region into a pooled buffer when they write
//! it (the bytes must be encrypted in user space).
//!
//! Placeholders are slices of one zeroed, never written allocation: the `k`-th region of a
//! response stands as `ZEROS[k..k + len]`, so the encoded chunk that points there names its
//! region by address, whatever the encoder did around it. Only record sets the encoder shares
//! as a chunk of their own (at least its share threshold) may be placeholders; a placeholder
//! that does not match its region exactly fails the response rather than sending zeros.
//!
//! Like Kafka's `FileRecords.writeTo`, the region is read when it is sent: a segment truncated
//! in between (a deposed leader's divergent tail) makes `sendfile` come up short, which closes
//! the connection. Consumers read below the high watermark, which a truncation never crosses.

use super::batch::{BatchHeader, HEADER_LEN};
use super::read_pool;
use bytes::Bytes;
use std::fs::File;
use std::io;
use std::sync::{Arc, LazyLock};

/// The largest region sent from the file (larger ones, a rare oversized first batch, are read).
pub const MAX_REGION_LEN: usize = 8 << 20;
/// Regions per response at most (the rest of its partitions are read as before).
const MAX_REGIONS: usize = 4096;
/// Batch headers read to find where a region ends, at most: a region of many small batches
/// stops there (the fetch returns less than it could, and the next fetch goes on).
const MAX_HEADERS: usize = 128;
/// A first batch smaller than this is read the ordinary way: the region's batches are small,
/// and finding their ends one header at a time would cost more than copying them.
const SMALL_BATCH: usize = 4 << 10;

/// Space for every placeholder: a zeroed allocation that is never written, so its pages stay
/// the shared zero page until something reads them (nothing should).
static ZEROS: LazyLock<&'static [u8]> =
    LazyLock::new(|| vec![0u8; MAX_REGIONS + MAX_REGION_LEN].leak());

/// Whole record batches in a segment file: `len` bytes at `position`.
#[derive(Clone, Debug)]
pub struct FileRegion {
    file: Arc<File>,
    position: u64,
    len: usize,
}

impl FileRegion {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    /// A region of `file` (tests of the writers).
    #[cfg(test)]
    pub fn for_tests(file: Arc<File>, position: u64, len: usize) -> Self {
        FileRegion {
            file,
            position,
            len,
        }
    }

    /// The region's bytes, read into a pooled buffer (for transports that cannot `sendfile`).
    pub fn read(&self) -> io::Result<Bytes> {
        super::read_exact_at(&self.file, self.len, self.position).map(read_pool::freeze)
    }
}

/// A piece of an encoded response: bytes in memory, or a region of a segment file.
#[derive(Clone, Debug)]
pub enum Piece {
    Memory(Bytes),
    File(FileRegion),
}

impl Piece {
    pub fn len(&self) -> usize {
        match self {
            Piece::Memory(b) => b.len(),
            Piece::File(r) => r.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, read from the file for a region.
    pub fn to_bytes(&self) -> io::Result<Bytes> {
        match self {
            Piece::Memory(b) => Ok(b.clone()),
            Piece::File(r) => r.read(),
        }
    }
}

/// The regions of one response (each stands in it as its placeholder).
#[derive(Default, Debug)]
pub struct Regions {
    regions: Vec<FileRegion>,
    /// Record sets shorter than this are never placeholders (the encoder copies them).
    min_len: usize,
}

impl Regions {
    /// Regions for a response whose encoder shares record sets of `min_len` bytes or more.
    pub fn new(min_len: usize) -> Self {
        Regions {
            regions: Vec::new(),
            min_len: min_len.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.regions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    /// Forgets every region (a long poll reads again).
    pub fn clear(&mut self) {
        self.regions.clear();
    }

    /// Takes `region` and returns its placeholder, or gives the region back when it cannot be
    /// one (too short to be shared, too long, or too many regions): then it must be read.
    fn place(&mut self, region: FileRegion) -> Result<Bytes, FileRegion> {
        let k = self.regions.len();
        if region.len < self.min_len || region.len > MAX_REGION_LEN || k >= MAX_REGIONS {
            return Err(region);
        }
        let zeros: &'static [u8] = &ZEROS;
        let placeholder = Bytes::from_static(&zeros[k..k + region.len]);
        self.regions.push(region);
        Ok(placeholder)
    }

    /// Replaces each placeholder among the encoded `chunks` by its region. A chunk that points
    /// into the placeholder space but is not exactly a placeholder handed out is an error.
    pub fn resolve(self, chunks: Vec<Bytes>) -> Result<Vec<Piece>, String> {
        let zeros: &'static [u8] = &ZEROS;
        let base = zeros.as_ptr() as usize;
        let end = base + zeros.len();
        chunks
            .into_iter()
            .map(|chunk| {
                let at = chunk.as_ptr() as usize;
                if chunk.is_empty() || !(base..end).contains(&at) {
                    return Ok(Piece::Memory(chunk));
                }
                match self.regions.get(at - base) {
                    Some(r) if r.len == chunk.len() => Ok(Piece::File(r.clone())),
                    _ => Err(format!(
                        "an encoded record set of {} bytes is not the placeholder of a file region",
                        chunk.len()
                    )),
                }
            })
            .collect()
    }
}

impl super::ReadSlice {
    /// As [`Self::read_within`], but whole batches worth sending from the file are returned
    /// as a placeholder whose region `regions` keeps. Small batches and short reads are read
    /// as before.
    pub fn read_or_place(
        &self,
        max_bytes: usize,
        limit_offset: i64,
        min_one_batch: bool,
        regions: &mut Regions,
    ) -> io::Result<Bytes> {
        let max = max_bytes.min(usize::try_from(self.available).unwrap_or(usize::MAX));
        if self.available < regions.min_len as u64 || (max < regions.min_len && !min_one_batch) {
            return self.read_within(max_bytes, limit_offset, min_one_batch);
        }
        let mut len = 0usize;
        for i in 0..MAX_HEADERS {
            if self.available < (len + HEADER_LEN) as u64 {
                break;
            }
            let mut header = [0u8; HEADER_LEN];
            read_full_at(&self.file, &mut header, self.position + len as u64)?;
            let h = BatchHeader::parse(&header).map_err(io::Error::other)?;
            let total = h.total_len();
            if i == 0 && total < SMALL_BATCH {
                return self.read_within(max_bytes, limit_offset, min_one_batch);
            }
            if h.base_offset >= limit_offset || (len + total) as u64 > self.available {
                break;
            }
            if len + total > max_bytes {
                if len == 0 && min_one_batch {
                    // The first batch alone exceeds max_bytes: returned whole anyway (KIP-74).
                    len = total;
                }
                break;
            }
            len += total;
        }
        if len == 0 {
            return Ok(Bytes::new());
        }
        let region = FileRegion {
            file: Arc::clone(&self.file),
            position: self.position,
            len,
        };
        match regions.place(region) {
            Ok(placeholder) => Ok(placeholder),
            Err(region) => region.read(),
        }
    }
}

/// Fills `buf` from `position` (a batch header).
fn read_full_at(file: &File, buf: &mut [u8], position: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = rustix::io::pread(file, &mut buf[done..], position + done as u64)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "segment shorter than its index says",
            ));
        }
        done += n;
    }
    Ok(())
}

#[cfg(test)]
#[path = "zero_copy_tests.rs"]
mod tests;
