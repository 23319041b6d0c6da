//! Reusable read buffers for fetches: a fetch reads up to a megabyte per partition from a
//! segment file, and the response holds that buffer until it is written to the socket.
//! Allocating it fresh each time cost more than the read itself: the broker runs with a fixed
//! 256 KiB mmap threshold (main.rs), so every such buffer was a new mapping whose pages were
//! faulted in, zeroed and charged one by one, then unmapped (about half of the broker's CPU
//! serving a backlog, see bench/README.md). Buffers now come from a small pool and go back to
//! it when the last `Bytes` pointing into them is dropped.

use bytes::Bytes;
use std::sync::Mutex;

/// Bytes the pool keeps at most when idle (the rest is freed): enough for a 16-partition fetch
/// of a megabyte each plus one more in flight, small next to the broker's idle footprint goal.
const POOL_MAX_BYTES: usize = 32 << 20;
/// Buffers larger than this are never pooled (a rare oversized first batch).
const POOLED_MAX_CAPACITY: usize = 8 << 20;
/// Smallest capacity handed out: small reads share the same buffers as large ones.
const MIN_CAPACITY: usize = 64 << 10;

struct Pool {
    free: Vec<Vec<u8>>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: Vec::new(),
    bytes: 0,
});

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    POOL.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An empty buffer with at least `len` bytes of capacity: a pooled one when one is big enough.
pub fn take(len: usize) -> Vec<u8> {
    {
        let mut p = pool();
        if let Some(i) = p.free.iter().position(|b| b.capacity() >= len) {
            let buf = p.free.swap_remove(i);
            p.bytes -= buf.capacity();
            return buf;
        }
    }
    Vec::with_capacity(len.max(MIN_CAPACITY))
}

/// Gives a buffer back (dropped instead when the pool is full or the buffer is oversized).
pub fn give_back(mut buf: Vec<u8>) {
    let cap = buf.capacity();
    if !(MIN_CAPACITY..=POOLED_MAX_CAPACITY).contains(&cap) {
        return;
    }
    buf.clear();
    let mut p = pool();
    if p.bytes + cap <= POOL_MAX_BYTES {
        p.bytes += cap;
        p.free.push(buf);
    }
}

/// A filled buffer that returns to the pool when the last `Bytes` sharing it is dropped.
struct Pooled(Vec<u8>);

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.0));
    }
}

/// Freezes a buffer from [`take`] into `Bytes` (no copy); it goes back to the pool once every
/// clone and slice of the result is dropped.
pub fn freeze(buf: Vec<u8>) -> Bytes {
    if buf.is_empty() {
        give_back(buf);
        return Bytes::new();
    }
    Bytes::from_owner(Pooled(buf))
}

/// Bytes the pool holds now (for tests).
#[cfg(test)]
pub fn pooled_bytes() -> usize {
    pool().bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool is process-wide: these tests take turns (nextest runs each in its own process).
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[test]
    fn a_frozen_buffer_returns_to_the_pool_when_its_last_slice_is_dropped() {
        let _serial = serial();
        let mut buf = take(100_000);
        let cap = buf.capacity();
        buf.extend_from_slice(&[7u8; 100_000]);
        let ptr = buf.as_ptr();
        let bytes = freeze(buf);
        let head = bytes.slice(0..10);
        let before = pooled_bytes();
        drop(bytes);
        assert_eq!(
            pooled_bytes(),
            before,
            "a slice still points into the buffer"
        );
        assert_eq!(&head[..], &[7u8; 10]);
        drop(head);
        assert_eq!(pooled_bytes(), before + cap, "the buffer went back");
        let again = take(cap);
        assert!(again.is_empty());
        assert_eq!(
            again.as_ptr(),
            ptr,
            "the same allocation is handed out again"
        );
        give_back(again);
    }

    #[test]
    fn oversized_and_tiny_buffers_are_not_pooled() {
        let _serial = serial();
        let before = pooled_bytes();
        give_back(Vec::with_capacity(POOLED_MAX_CAPACITY + 1));
        give_back(Vec::with_capacity(16));
        assert_eq!(pooled_bytes(), before);
        assert!(freeze(take(10)).is_empty());
    }

    #[test]
    fn the_pool_never_holds_more_than_its_cap() {
        let _serial = serial();
        let bufs: Vec<Vec<u8>> = (0..40).map(|_| Vec::with_capacity(1 << 20)).collect();
        for b in bufs {
            give_back(b);
        }
        assert!(pooled_bytes() <= POOL_MAX_BYTES);
    }
}
