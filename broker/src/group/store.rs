//! The record format of the internal `__consumer_offsets` log: versioned JSON keys and values,
//! a null value (tombstone) for deletes; the last record for a key wins on replay.
//!
//! Key   `{"v":1,"kind":"offset","group":"g","topic":"t","partition":0}` → `OffsetValue`
//! Key   `{"v":1,"kind":"group","group":"g"}` → `GroupValue` (membership snapshot)
//! Key   `{"v":1,"kind":"txn","group":"g","producer_id":7}` → `TxnValue` (cluster mode: the
//!       offsets of a producer's ongoing transaction, committed or dropped by its marker)

pub use super::state::TxnOffset;
use super::state::{CommittedOffset, GroupSnapshot};

pub const TOPIC: &str = crate::metadata::OFFSETS_TOPIC;
pub const VERSION: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("decoding a consumer-offsets key: {0}")]
    Key(serde_json::Error),
    #[error("decoding a consumer-offsets value: {0}")]
    Value(serde_json::Error),
    #[error("unsupported consumer-offsets record version {0}")]
    Version(u8),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Key {
    Offset {
        v: u8,
        group: String,
        topic: String,
        partition: i32,
    },
    Group {
        v: u8,
        group: String,
    },
    Txn {
        v: u8,
        group: String,
        producer_id: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct TxnValue {
    v: u8,
    offsets: Vec<TxnOffset>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct OffsetValue {
    v: u8,
    #[serde(flatten)]
    offset: CommittedOffset,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct GroupValue {
    v: u8,
    #[serde(flatten)]
    snapshot: GroupSnapshot,
}

/// One record of the log, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<CommittedOffset>,
    },
    Group {
        group: String,
        value: Option<GroupSnapshot>,
    },
    TxnOffsets {
        group: String,
        producer_id: i64,
        value: Option<Vec<TxnOffset>>,
    },
}

/// A record's key and (None = tombstone) value bytes.
pub type KeyValue = (Vec<u8>, Option<Vec<u8>>);

fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // Plain structs of strings and numbers always serialize.
    serde_json::to_vec(v).unwrap_or_default()
}

pub fn offset_record(
    group: &str,
    topic: &str,
    partition: i32,
    value: Option<&CommittedOffset>,
) -> KeyValue {
    let key = Key::Offset {
        v: VERSION,
        group: group.to_string(),
        topic: topic.to_string(),
        partition,
    };
    (
        json(&key),
        value.map(|o| {
            json(&OffsetValue {
                v: VERSION,
                offset: o.clone(),
            })
        }),
    )
}

pub fn group_record(group: &str, value: Option<&GroupSnapshot>) -> KeyValue {
    let key = Key::Group {
        v: VERSION,
        group: group.to_string(),
    };
    (
        json(&key),
        value.map(|s| {
            json(&GroupValue {
                v: VERSION,
                snapshot: s.clone(),
            })
        }),
    )
}

/// The pending offsets of `producer_id`'s transaction for `group` (None: decided, dropped).
pub fn txn_offsets_record(group: &str, producer_id: i64, value: Option<&[TxnOffset]>) -> KeyValue {
    let key = Key::Txn {
        v: VERSION,
        group: group.to_string(),
        producer_id,
    };
    (
        json(&key),
        value.map(|o| {
            json(&TxnValue {
                v: VERSION,
                offsets: o.to_vec(),
            })
        }),
    )
}

pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Entry, StoreError> {
    let key: Key = serde_json::from_slice(key).map_err(StoreError::Key)?;
    match key {
        Key::Offset {
            v,
            group,
            topic,
            partition,
        } => {
            if v != VERSION {
                return Err(StoreError::Version(v));
            }
            let value = match value {
                None => None,
                Some(b) => {
                    let ov: OffsetValue = serde_json::from_slice(b).map_err(StoreError::Value)?;
                    if ov.v != VERSION {
                        return Err(StoreError::Version(ov.v));
                    }
                    Some(ov.offset)
                }
            };
            Ok(Entry::Offset {
                group,
                topic,
                partition,
                value,
            })
        }
        Key::Group { v, group } => {
            if v != VERSION {
                return Err(StoreError::Version(v));
            }
            let value = match value {
                None => None,
                Some(b) => {
                    let gv: GroupValue = serde_json::from_slice(b).map_err(StoreError::Value)?;
                    if gv.v != VERSION {
                        return Err(StoreError::Version(gv.v));
                    }
                    Some(gv.snapshot)
                }
            };
            Ok(Entry::Group { group, value })
        }
        Key::Txn {
            v,
            group,
            producer_id,
        } => {
            if v != VERSION {
                return Err(StoreError::Version(v));
            }
            let value = match value {
                None => None,
                Some(b) => {
                    let tv: TxnValue = serde_json::from_slice(b).map_err(StoreError::Value)?;
                    if tv.v != VERSION {
                        return Err(StoreError::Version(tv.v));
                    }
                    Some(tv.offsets)
                }
            };
            Ok(Entry::TxnOffsets {
                group,
                producer_id,
                value,
            })
        }
    }
}

/// Kafka's `partitionFor` (coordinator_topic.rs): the partition of `__consumer_offsets` that
/// holds a group.
pub use crate::coordinator_topic::partition_for;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::state::Member;

    #[test]
    fn offsets_round_trip_with_metadata_and_tombstones() {
        let o = CommittedOffset {
            offset: 42,
            leader_epoch: 3,
            metadata: Some("hello".into()),
            commit_timestamp_ms: 7,
        };
        let (k, v) = offset_record("g", "t", 2, Some(&o));
        assert_eq!(
            decode(&k, v.as_deref()).unwrap(),
            Entry::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 2,
                value: Some(o)
            }
        );
        let (k, v) = offset_record("g", "t", 2, None);
        assert!(v.is_none());
        assert!(matches!(
            decode(&k, None).unwrap(),
            Entry::Offset { value: None, .. }
        ));
    }

    #[test]
    fn group_snapshot_round_trips() {
        let snap = GroupSnapshot {
            generation_id: 5,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            leader: Some("m1".into()),
            members: vec![Member {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 1000,
                session_timeout_ms: 6000,
                protocol_type: "consumer".into(),
                protocols: vec![("range".into(), vec![1, 2, 3])],
                assignment: vec![4, 5],
                awaiting_join: false,
                awaiting_sync: false,
                last_heartbeat_ms: 0,
            }],
            consumer: None,
        };
        // A snapshot written before KIP-848 groups (no `consumer`) still decodes.
        let (_, v) = group_record("g", Some(&snap));
        assert!(!String::from_utf8_lossy(v.as_deref().unwrap()).contains("\"consumer\":"));
        let (k, v) = group_record("g", Some(&snap));
        assert_eq!(
            decode(&k, v.as_deref()).unwrap(),
            Entry::Group {
                group: "g".into(),
                value: Some(snap)
            }
        );
    }

    #[test]
    fn unknown_versions_are_rejected() {
        let k = br#"{"kind":"group","v":9,"group":"g"}"#;
        assert!(matches!(decode(k, None), Err(StoreError::Version(9))));
        assert!(decode(b"not json", None).is_err());
    }

    #[test]
    fn partition_matches_java_hash_code() {
        // "test-group".hashCode() == 627841412 in Java; % 50 == 12.
        assert_eq!(partition_for("test-group", 50), 12);
        assert_eq!(partition_for("", 50), 0);
        assert_eq!(partition_for("anything", 1), 0);
    }

    proptest::proptest! {
        #[test]
        fn partition_is_in_range(g in ".*", n in 1i32..200) {
            let p = partition_for(&g, n);
            proptest::prop_assert!((0..n).contains(&p));
        }
    }
}
