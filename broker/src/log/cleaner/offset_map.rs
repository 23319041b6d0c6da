//! The cleaner's dedupe map: for every key seen in the dirty part of a log, the offset of its
//! latest record. Sized by `log.cleaner.dedupe.buffer.size` as Kafka's `SkimpyOffsetMap` is: a
//! 16-byte digest of the key and an 8-byte offset per slot, filled up to the load factor.

use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Bytes one entry costs in Kafka's accounting (digest + offset).
const ENTRY_BYTES: u64 = 16 + 8;

pub struct OffsetMap {
    slots: usize,
    map: HashMap<[u8; 16], i64>,
}

fn digest(key: &[u8]) -> [u8; 16] {
    let full = Sha256::digest(key);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

impl OffsetMap {
    /// A map holding at most `buffer_bytes * load_factor / 24` keys (at least one).
    pub fn with_buffer(buffer_bytes: u64, load_factor: f64) -> Self {
        let raw = (buffer_bytes / ENTRY_BYTES) as f64 * load_factor.clamp(0.01, 1.0);
        let slots = (raw as usize).max(1);
        OffsetMap {
            slots,
            map: HashMap::with_capacity(slots.min(1 << 20)),
        }
    }

    /// Records `offset` as the latest for `key`. False when the key is new and the map is full
    /// (nothing is recorded then).
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        let d = digest(key);
        if let Some(o) = self.map.get_mut(&d) {
            *o = (*o).max(offset);
            return true;
        }
        if self.map.len() >= self.slots {
            return false;
        }
        self.map.insert(d, offset);
        true
    }

    /// The latest offset recorded for `key`.
    pub fn get(&self, key: &[u8]) -> Option<i64> {
        self.map.get(&digest(key)).copied()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// How many keys fit.
    pub fn slots(&self) -> usize {
        self.slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_offset_per_key_and_refuses_new_keys_when_full() {
        let mut m = OffsetMap::with_buffer(2 * ENTRY_BYTES, 1.0);
        assert_eq!(m.slots(), 2);
        assert!(m.put(b"a", 1));
        assert!(m.put(b"b", 2));
        assert!(m.put(b"a", 5), "an existing key always updates");
        assert!(!m.put(b"c", 6), "a third key does not fit");
        assert_eq!(m.get(b"a"), Some(5));
        assert_eq!(m.get(b"b"), Some(2));
        assert_eq!(m.get(b"c"), None);
        assert_eq!(m.len(), 2);
    }
}
