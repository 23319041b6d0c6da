//! The broker's metadata image: topics (id, partition count, config overrides), dynamic broker
//! configs, the producer-id allocator and the ACL bindings, persisted atomically as one JSON file.
//!
//! On one node this file is the metadata log's stand-in; the clustering work replaces it with a
//! Raft-replicated log holding the same records.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The internal topic that holds consumer-group offsets and membership (group/store.rs).
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Why a metadata change or lookup failed (`control/`, and the local checks here). The message
/// goes to the client as is; `handlers/errors.rs` picks the Kafka error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("{0}")]
    UnknownTopic(String),
    #[error("{0}")]
    TopicExists(String),
    #[error("{0}")]
    InvalidTopic(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    ElectionNotNeeded(String),
    #[error("{0}")]
    NoReassignmentInProgress(String),
    /// Persisting the change locally failed.
    #[error("{0}")]
    Storage(String),
    /// The quorum did not commit the change in time.
    #[error("{0}")]
    Timeout(String),
    /// The controller refused the command.
    #[error("{1}")]
    Refused(crate::cluster::image::Refusal, String),
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("reading the metadata image {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the metadata image {path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("writing the metadata image: {0}")]
    Write(std::io::Error),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicRecord {
    pub name: String,
    pub id: uuid::Uuid,
    pub partitions: i32,
    pub replication_factor: i16,
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
    #[serde(default)]
    pub internal: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetadataImage {
    pub cluster_id: String,
    #[serde(default)]
    pub topics: BTreeMap<String, TopicRecord>,
    #[serde(default)]
    pub broker_configs: BTreeMap<String, String>,
    #[serde(default)]
    pub next_producer_id: i64,
    /// SASL/SCRAM credentials by user and mechanism (never passwords).
    #[serde(default)]
    pub scram_credentials: crate::security::sasl::credentials::ScramUsers,
    /// ACL bindings (CreateAcls/DeleteAcls); the authorizer indexes them.
    #[serde(default)]
    pub acls: std::collections::BTreeSet<crate::security::acl::AclBinding>,
    /// Client quotas (AlterClientQuotas), by entity.
    #[serde(default)]
    pub client_quotas: crate::security::quota::ClientQuotaMap,
    /// Finalized feature levels (UpdateFeatures).
    #[serde(default = "crate::features::legacy_finalized")]
    pub features: crate::features::Finalized,
}

/// Producer ids are reserved in blocks so the image is not rewritten for every InitProducerId.
const PRODUCER_ID_BLOCK: i64 = 1000;

pub struct MetadataStore {
    path: PathBuf,
    pub image: MetadataImage,
    producer_ids: std::ops::Range<i64>,
}

impl MetadataStore {
    pub fn load(data_dir: &Path) -> Result<Self, MetadataError> {
        let path = data_dir.join("metadata.json");
        let image = match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|source| MetadataError::Corrupt {
                path: path.clone(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => MetadataImage {
                cluster_id: new_cluster_id(),
                topics: BTreeMap::new(),
                broker_configs: BTreeMap::new(),
                next_producer_id: 0,
                scram_credentials: Default::default(),
                acls: std::collections::BTreeSet::new(),
                client_quotas: Default::default(),
                features: Default::default(),
            },
            Err(source) => return Err(MetadataError::Read { path, source }),
        };
        let store = MetadataStore {
            path,
            image,
            producer_ids: 0..0,
        };
        store.save()?;
        Ok(store)
    }

    pub fn save(&self) -> Result<(), MetadataError> {
        let data = serde_json::to_vec_pretty(&self.image)
            .map_err(|e| MetadataError::Write(std::io::Error::other(e)))?;
        crate::log::write_atomic(&self.path, &data).map_err(MetadataError::Write)
    }

    /// Hands out a fresh producer id, persisting a new block reservation when needed.
    pub fn allocate_producer_id(&mut self) -> Result<i64, MetadataError> {
        if self.producer_ids.is_empty() {
            let start = self.image.next_producer_id;
            self.image.next_producer_id = start + PRODUCER_ID_BLOCK;
            self.save()?;
            self.producer_ids = start..start + PRODUCER_ID_BLOCK;
        }
        let id = self.producer_ids.start;
        self.producer_ids.start += 1;
        Ok(id)
    }
}

/// A Kafka-style cluster id: 16 random bytes, base64url without padding (22 characters).
fn new_cluster_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut bits: u32 = 0;
    let mut n = 0;
    let mut out = String::with_capacity(22);
    for b in bytes {
        bits = (bits << 8) | u32::from(b);
        n += 8;
        while n >= 6 {
            n -= 6;
            out.push(ALPHABET[((bits >> n) & 63) as usize] as char);
        }
    }
    if n > 0 {
        out.push(ALPHABET[((bits << (6 - n)) & 63) as usize] as char);
    }
    out
}

/// Kafka's topic-name rule: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 249 {
        return Err(format!(
            "topic name must be 1 to 249 characters, got {}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err("topic name cannot be '.' or '..'".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!("topic name contains an illegal character {c:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_look_like_kafkas() {
        let id = new_cluster_id();
        assert_eq!(id.len(), 22);
    }

    #[test]
    fn producer_ids_survive_reload_without_reuse() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = MetadataStore::load(dir.path()).unwrap();
        let a = s.allocate_producer_id().unwrap();
        let b = s.allocate_producer_id().unwrap();
        assert_ne!(a, b);
        let mut s2 = MetadataStore::load(dir.path()).unwrap();
        let c = s2.allocate_producer_id().unwrap();
        assert!(c > b, "ids after a restart never repeat: {c} vs {b}");
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_x-y").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("a/b").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
    }
}
