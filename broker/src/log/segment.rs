//! One log segment: `<base>.log` with its sparse offset index and time index.
//!
//! The active segment keeps its indexes in memory; sealing a segment (on roll or clean shutdown)
//! writes `<base>.index` and `<base>.timeindex`. A segment found without index files is scanned
//! and rebuilt, and its torn tail truncated: that is crash recovery.

use super::batch::{self, BatchHeader, HEADER_LEN};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of log between two sparse offset-index entries.
pub const INDEX_INTERVAL_BYTES: u64 = 4096;

/// One sparse index entry: the first offset of a batch and its byte position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub offset: i64,
    pub position: u64,
}

/// One time index entry: a max timestamp seen so far and the batch's base offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    pub timestamp: i64,
    pub offset: i64,
}

pub struct Segment {
    pub base_offset: i64,
    path: PathBuf,
    file: Arc<File>,
    size: u64,
    next_offset: i64,
    index: Vec<IndexEntry>,
    time_index: Vec<TimeEntry>,
    max_timestamp: i64,
    bytes_since_index: u64,
    /// Wall-clock milliseconds of the first append (for segment.ms rolls).
    pub created_ms: i64,
    pub sealed: bool,
}

pub fn file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

impl Segment {
    /// Creates a new, empty active segment.
    pub fn create(dir: &Path, base_offset: i64, now_ms: i64) -> io::Result<Self> {
        let path = dir.join(file_name(base_offset, "log"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        let file = Arc::new(file);
        Ok(Segment {
            base_offset,
            path,
            file,
            size: 0,
            next_offset: base_offset,
            index: Vec::new(),
            time_index: Vec::new(),
            max_timestamp: -1,
            bytes_since_index: 0,
            created_ms: now_ms,
            sealed: false,
        })
    }

    /// Opens an existing segment. Sealed segments with intact index files load them; otherwise
    /// the log is scanned (CRC-checked), the torn tail truncated and the indexes rebuilt.
    /// `on_batch` sees every batch header scanned, for producer-state rebuilding.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        trust_indexes: bool,
        on_batch: &mut dyn FnMut(&BatchHeader),
    ) -> io::Result<(Self, RecoveryReport)> {
        let path = dir.join(file_name(base_offset, "log"));
        let file = Arc::new(OpenOptions::new().read(true).write(true).open(&path)?);
        let len = file.metadata()?.len();
        let created_ms = file
            .metadata()?
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64);
        let mut seg = Segment {
            base_offset,
            path,
            file,
            size: len,
            next_offset: base_offset,
            index: Vec::new(),
            time_index: Vec::new(),
            max_timestamp: -1,
            bytes_since_index: 0,
            created_ms,
            sealed: false,
        };
        if trust_indexes && seg.load_indexes(len)? {
            seg.sealed = true;
            return Ok((seg, RecoveryReport::default()));
        }
        let report = seg.rebuild(on_batch)?;
        Ok((seg, report))
    }

    fn index_paths(&self) -> (PathBuf, PathBuf, PathBuf) {
        (
            self.path.with_extension("index"),
            self.path.with_extension("timeindex"),
            self.path.with_extension("sealed"),
        )
    }

    /// Loads index files written by `seal`; false when they are missing or inconsistent.
    fn load_indexes(&mut self, len: u64) -> io::Result<bool> {
        let (idx, tidx, sealed) = self.index_paths();
        let Ok(meta) = std::fs::read(&sealed) else {
            return Ok(false);
        };
        if meta.len() != 24 {
            return Ok(false);
        }
        let sealed_size = u64::from_be_bytes(meta[0..8].try_into().unwrap_or_default());
        let next_offset = i64::from_be_bytes(meta[8..16].try_into().unwrap_or_default());
        let max_ts = i64::from_be_bytes(meta[16..24].try_into().unwrap_or_default());
        if sealed_size != len {
            return Ok(false);
        }
        let (Ok(idx), Ok(tidx)) = (std::fs::read(idx), std::fs::read(tidx)) else {
            return Ok(false);
        };
        if idx.len() % 12 != 0 || tidx.len() % 16 != 0 {
            return Ok(false);
        }
        self.index = idx
            .chunks_exact(12)
            .map(|c| IndexEntry {
                offset: self.base_offset
                    + i64::from(u32::from_be_bytes(c[0..4].try_into().unwrap_or_default())),
                position: u64::from(u32::from_be_bytes(c[4..8].try_into().unwrap_or_default())),
            })
            .collect();
        self.time_index = tidx
            .chunks_exact(16)
            .map(|c| TimeEntry {
                timestamp: i64::from_be_bytes(c[0..8].try_into().unwrap_or_default()),
                offset: self.base_offset
                    + i64::from(u32::from_be_bytes(c[8..12].try_into().unwrap_or_default())),
            })
            .collect();
        self.next_offset = next_offset;
        self.max_timestamp = max_ts;
        Ok(true)
    }

    /// Scans the whole file, rebuilding indexes and truncating at the first invalid batch.
    fn rebuild(&mut self, on_batch: &mut dyn FnMut(&BatchHeader)) -> io::Result<RecoveryReport> {
        let len = self.file.metadata()?.len();
        let mut reader = io::BufReader::with_capacity(1 << 20, &*self.file);
        reader.seek(SeekFrom::Start(0))?;
        let mut pos: u64 = 0;
        let mut buf = vec![0u8; HEADER_LEN];
        let mut report = RecoveryReport::default();
        self.index.clear();
        self.time_index.clear();
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.bytes_since_index = 0;
        let mut headers = Vec::new();
        while pos < len {
            if len - pos < HEADER_LEN as u64 {
                break;
            }
            buf.resize(HEADER_LEN, 0);
            reader.read_exact(&mut buf)?;
            let Ok(h) = BatchHeader::parse(&buf) else {
                break;
            };
            let total = h.total_len() as u64;
            if pos + total > len || h.base_offset < self.next_offset {
                break;
            }
            buf.resize(h.total_len(), 0);
            reader.read_exact(&mut buf[HEADER_LEN..])?;
            if batch::verify_crc(&buf, &h).is_err() {
                break;
            }
            headers.push((h, pos));
            pos += total;
        }
        drop(reader);
        for (h, p) in headers {
            on_batch(&h);
            self.track(&h, p);
            self.next_offset = h.last_offset() + 1;
            report.batches += 1;
        }
        if pos < len {
            report.truncated_bytes = len - pos;
            self.file.set_len(pos)?;
            self.file.sync_all()?;
        }
        self.size = pos;
        report.scanned_bytes = pos;
        Ok(report)
    }

    /// Records index entries for a batch at `position`.
    fn track(&mut self, h: &BatchHeader, position: u64) {
        if self.index.is_empty() || self.bytes_since_index >= INDEX_INTERVAL_BYTES {
            self.index.push(IndexEntry {
                offset: h.base_offset,
                position,
            });
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += h.total_len() as u64;
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.time_index.push(TimeEntry {
                timestamp: h.max_timestamp,
                offset: h.base_offset,
            });
        }
    }

    /// Appends one stamped batch. On a write error the file is cut back to its previous length
    /// so a partial batch never stays behind (e.g. disk full).
    pub fn append(&mut self, bytes: &[u8], h: &BatchHeader) -> io::Result<()> {
        let position = self.size;
        if let Err(e) = self.file.write_all_at(bytes, position) {
            let _ = self.file.set_len(position);
            return Err(e);
        }
        self.size += bytes.len() as u64;
        if self.size == bytes.len() as u64 {
            self.created_ms = crate::now_ms();
        }
        self.track(h, position);
        self.next_offset = h.last_offset() + 1;
        Ok(())
    }

    pub fn flush(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Writes the index files and marks the segment sealed (no more appends).
    pub fn seal(&mut self) -> io::Result<()> {
        self.file.sync_all()?;
        let (idx, tidx, sealed) = self.index_paths();
        let mut ib = Vec::with_capacity(self.index.len() * 12);
        for e in &self.index {
            ib.extend_from_slice(&((e.offset - self.base_offset) as u32).to_be_bytes());
            ib.extend_from_slice(&(e.position as u32).to_be_bytes());
            ib.extend_from_slice(&[0; 4]);
        }
        let mut tb = Vec::with_capacity(self.time_index.len() * 16);
        for e in &self.time_index {
            tb.extend_from_slice(&e.timestamp.to_be_bytes());
            tb.extend_from_slice(&((e.offset - self.base_offset) as u32).to_be_bytes());
            tb.extend_from_slice(&[0; 4]);
        }
        write_synced(&idx, &ib)?;
        write_synced(&tidx, &tb)?;
        let mut meta = Vec::with_capacity(24);
        meta.extend_from_slice(&self.size.to_be_bytes());
        meta.extend_from_slice(&self.next_offset.to_be_bytes());
        meta.extend_from_slice(&self.max_timestamp.to_be_bytes());
        write_synced(&sealed, &meta)?;
        self.sealed = true;
        Ok(())
    }

    /// Reopens a sealed segment for appends (used when the active segment was sealed by a
    /// clean shutdown): the seal marker is removed so a crash from now on rescans it.
    pub fn unseal(&mut self) -> io::Result<()> {
        let (_, _, sealed) = self.index_paths();
        match std::fs::remove_file(sealed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.sealed = false;
        Ok(())
    }

    pub fn delete(self) -> io::Result<()> {
        let (idx, tidx, sealed) = self.index_paths();
        for p in [sealed, idx, tidx, self.path.clone()] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// One past the last offset stored in this segment.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Byte position of the batch that contains `offset`, if it is in this segment.
    pub fn position_of(&self, offset: i64) -> io::Result<Option<u64>> {
        if offset >= self.next_offset || self.size == 0 {
            return Ok(None);
        }
        let start = match self.index.partition_point(|e| e.offset <= offset) {
            0 => 0,
            i => self.index[i - 1].position,
        };
        let mut pos = start;
        let mut hdr = [0u8; HEADER_LEN];
        while pos < self.size {
            self.file.read_exact_at(&mut hdr, pos)?;
            let h = BatchHeader::parse(&hdr).map_err(io::Error::other)?;
            if h.last_offset() >= offset {
                return Ok(Some(pos));
            }
            pos += h.total_len() as u64;
        }
        Ok(None)
    }

    /// Cuts the segment before the batch containing `offset` (replica truncation) and rebuilds
    /// its indexes.
    pub fn truncate_to(&mut self, offset: i64) -> io::Result<()> {
        let Some(pos) = self.position_of(offset)? else {
            return Ok(());
        };
        self.file.set_len(pos)?;
        self.file.sync_all()?;
        self.rebuild(&mut |_| {})?;
        Ok(())
    }

    /// Calls `f` with every batch header in the segment (headers only: cheap).
    pub fn for_each_header(&self, f: &mut dyn FnMut(&BatchHeader)) -> io::Result<()> {
        let mut pos = 0;
        let mut hdr = [0u8; HEADER_LEN];
        while pos + HEADER_LEN as u64 <= self.size {
            self.file.read_exact_at(&mut hdr, pos)?;
            let h = BatchHeader::parse(&hdr).map_err(io::Error::other)?;
            f(&h);
            pos += h.total_len() as u64;
        }
        Ok(())
    }

    /// Base offset of the first batch whose max timestamp is at least `ts`.
    pub fn position_for_timestamp(&self, ts: i64) -> Option<i64> {
        let i = self.time_index.partition_point(|e| e.timestamp < ts);
        self.time_index.get(i).map(|e| e.offset)
    }

    /// A handle for reading without holding the partition lock (an unlinked file stays
    /// readable through it, so retention never breaks an in-flight fetch).
    pub fn reader(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }
}

fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(tmp, path)
}

/// What recovering a segment found.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecoveryReport {
    pub batches: u64,
    pub scanned_bytes: u64,
    pub truncated_bytes: u64,
}
