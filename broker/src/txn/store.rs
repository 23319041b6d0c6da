//! The record format of the internal `__transaction_state` log: one versioned JSON record per
//! transactional id (key `{"v":1,"txn":"id"}`, value the `TxnMetadata`); the last record for a
//! key wins on replay, and the topic is compacted.

use super::state::TxnMetadata;

pub const TOPIC: &str = "__transaction_state";
pub const VERSION: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("decoding a transaction-state record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported transaction-state record version {0}")]
    Version(u8),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Key {
    v: u8,
    txn: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Value {
    v: u8,
    #[serde(flatten)]
    meta: TxnMetadata,
}

/// A record's key and value bytes.
pub fn record(meta: &TxnMetadata) -> (Vec<u8>, Vec<u8>) {
    let key = Key {
        v: VERSION,
        txn: meta.transactional_id.clone(),
    };
    let value = Value {
        v: VERSION,
        meta: meta.clone(),
    };
    // Plain structs of strings and numbers always serialize.
    (
        serde_json::to_vec(&key).unwrap_or_default(),
        serde_json::to_vec(&value).unwrap_or_default(),
    )
}

/// The key of `transactional_id`'s records (with a null value: its tombstone, written when the
/// id expires, so that compaction drops it).
pub fn key(transactional_id: &str) -> Vec<u8> {
    serde_json::to_vec(&Key {
        v: VERSION,
        txn: transactional_id.to_string(),
    })
    .unwrap_or_default()
}

/// Decodes a record: the transactional id and its metadata (`None`: a tombstone).
pub fn decode(
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<(String, Option<TxnMetadata>), StoreError> {
    let k: Key = serde_json::from_slice(key)?;
    if k.v != VERSION {
        return Err(StoreError::Version(k.v));
    }
    let meta = match value {
        None => None,
        Some(b) => {
            let v: Value = serde_json::from_slice(b)?;
            if v.v != VERSION {
                return Err(StoreError::Version(v.v));
            }
            Some(v.meta)
        }
    };
    Ok((k.txn, meta))
}

/// The `__transaction_state` partition of a transactional id: Java's `String.hashCode` modulo
/// the partition count, as Kafka does (the same function as the groups').
pub use crate::coordinator_topic::partition_for;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_versions_are_checked() {
        let mut m = TxnMetadata::new("tx-1", 42, 60_000, 5);
        m.partitions.insert(("a".into(), 3));
        let (k, v) = record(&m);
        assert_eq!(decode(&k, Some(&v)).unwrap(), ("tx-1".into(), Some(m)));
        assert_eq!(decode(&k, None).unwrap(), ("tx-1".into(), None));
        assert!(matches!(
            decode(br#"{"v":9,"txn":"x"}"#, None),
            Err(StoreError::Version(9))
        ));
        assert!(decode(b"junk", None).is_err());
    }
}
