//! Measures the machine's own limits in the same run: sequential write bandwidth with fdatasync
//! to a directory's disk, loopback TCP bandwidth, and the CPU count.

use crate::report::MachineLimits;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// Errors of measuring the machine.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error("measuring disk write bandwidth in {dir}: {source}")]
    Disk { dir: String, source: std::io::Error },
    #[error("measuring loopback tcp bandwidth: {0}")]
    Loopback(std::io::Error),
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, MachineError>;

const CHUNK: usize = 1 << 20;

/// Measures all limits; `dir` must be on the disk the broker writes to.
pub fn measure(dir: &Path) -> Result<MachineLimits> {
    Ok(MachineLimits {
        cpus: std::thread::available_parallelism()
            .map_or(1, |n| u32::try_from(n.get()).unwrap_or(1)),
        disk_fsync_write_mb_s: disk_fsync_write_mb_s(dir, 256, Duration::from_secs(4))?,
        loopback_tcp_mb_s: loopback_tcp_mb_s(4 << 30, Duration::from_secs(2))?,
        page_cache_write_mb_s: page_cache_write_mb_s(dir, 2048, Duration::from_secs(2))?,
    })
}

/// Writes 1 MiB chunks, each followed by fdatasync (what a group-committing broker does at
/// best), up to `max_mib` MiB or `limit` time; MB/s (10^6 bytes).
pub fn disk_fsync_write_mb_s(dir: &Path, max_mib: usize, limit: Duration) -> Result<f64> {
    let err = |source| MachineError::Disk {
        dir: dir.display().to_string(),
        source,
    };
    let mut file = tempfile::tempfile_in(dir).map_err(err)?;
    let chunk: Vec<u8> = (0..CHUNK)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let start = Instant::now();
    let mut written = 0usize;
    for _ in 0..max_mib {
        file.write_all(&chunk).map_err(err)?;
        file.sync_data().map_err(err)?;
        written += CHUNK;
        if start.elapsed() >= limit {
            break;
        }
    }
    Ok(written as f64 / start.elapsed().as_secs_f64() / 1e6)
}

/// Writes 1 MiB chunks into a new file's page cache without fsync, up to `max_mib` MiB or
/// `limit` time, then removes the file; MB/s. The copy into the page cache (and, on a virtual
/// machine, the first touch of guest memory) is what every replica pays for each byte.
pub fn page_cache_write_mb_s(dir: &Path, max_mib: usize, limit: Duration) -> Result<f64> {
    let err = |source| MachineError::Disk {
        dir: dir.display().to_string(),
        source,
    };
    let mut file = tempfile::tempfile_in(dir).map_err(err)?;
    let chunk: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
    let start = Instant::now();
    let mut written = 0usize;
    for _ in 0..max_mib {
        file.write_all(&chunk).map_err(err)?;
        written += CHUNK;
        if start.elapsed() >= limit {
            break;
        }
    }
    Ok(written as f64 / start.elapsed().as_secs_f64() / 1e6)
}

/// Streams 64 KiB writes over one loopback TCP connection to a reader thread that discards them,
/// up to `max_bytes` or `limit` time; MB/s.
pub fn loopback_tcp_mb_s(max_bytes: usize, limit: Duration) -> Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(MachineError::Loopback)?;
    let addr = listener.local_addr().map_err(MachineError::Loopback)?;
    let reader = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut conn, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    });
    let mut conn = TcpStream::connect(addr).map_err(MachineError::Loopback)?;
    let buf = vec![7u8; 1 << 16];
    let start = Instant::now();
    let mut sent = 0usize;
    while sent < max_bytes && start.elapsed() < limit {
        conn.write_all(&buf).map_err(MachineError::Loopback)?;
        sent += buf.len();
    }
    drop(conn);
    let received = reader
        .join()
        .map_err(|_| MachineError::Loopback(std::io::Error::other("reader thread panicked")))?
        .map_err(MachineError::Loopback)?;
    Ok(received as f64 / start.elapsed().as_secs_f64() / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_measurements_report_positive_bandwidth() {
        let dir = tempfile::tempdir().unwrap();
        assert!(disk_fsync_write_mb_s(dir.path(), 2, Duration::from_secs(5)).unwrap() > 0.0);
        assert!(loopback_tcp_mb_s(1 << 20, Duration::from_secs(5)).unwrap() > 0.0);
        assert!(page_cache_write_mb_s(dir.path(), 2, Duration::from_secs(5)).unwrap() > 0.0);
    }
}
