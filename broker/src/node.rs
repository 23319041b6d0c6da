//! The local node: configuration, the local metadata store, the topics and partitions this
//! broker serves (with the settings they read), the group-commit flusher, metrics and the
//! metadata quorum handle. The layers above it (metadata control, group coordinator,
//! replication, handlers) share one `Arc<Node>`; it knows nothing of them.

use crate::config::{BrokerConfig, Listener, defs};
use crate::log::LogConfig;
use crate::log::flusher::Flusher;
use crate::metadata::{MetadataStore, TopicRecord};
use crate::metrics::Metrics;
use crate::partition::{Partition, PartitionSettings};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// A topic being served: its id, configs and partitions.
pub struct TopicState {
    pub name: String,
    pub id: uuid::Uuid,
    pub internal: bool,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<Arc<Partition>>,
}

pub use crate::metadata::ControlError;

/// Why the local node could not open or change its data directory.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("creating the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Metadata(#[from] crate::metadata::MetadataError),
    #[error(
        "{dir} holds single-node topics (e.g. {topic}); moving a single-node data directory into \
         cluster mode is not supported, use an empty data directory"
    )]
    SingleNodeData {
        dir: std::path::PathBuf,
        topic: String,
    },
    #[error("moving the unreplicated log {path} aside: {source}")]
    Retire {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("configuring the authorizer: {0}")]
    Authorizer(#[from] crate::security::acl::AuthorizerError),
    #[error("opening {topic}-{partition}: {source}")]
    OpenPartition {
        topic: String,
        partition: i32,
        source: crate::log::LogError,
    },
}

/// The local node (see the module comment).
pub struct Node {
    pub config: BrokerConfig,
    pub cluster_id: String,
    meta: Mutex<MetadataStore>,
    topics: RwLock<HashMap<String, Arc<TopicState>>>,
    pub flusher: Flusher,
    pub data_version: Arc<watch::Sender<u64>>,
    /// Bumped after producers' appends in cluster mode: followers' fetches long-polling on this
    /// leader wake for the new records at once (consumers wait on `data_version`, which moves
    /// with the high watermark, after the followers have fetched).
    pub replica_appends: watch::Sender<u64>,
    /// Bumped when this broker becomes a partition's leader, or leads it under a new epoch:
    /// followers' fetches long-polling here return at once, so that their next fetch lists the
    /// partitions they now follow here (a new topic's first acks=all produce would otherwise
    /// wait for `replica.fetch.wait.max.ms`).
    pub new_leaderships: watch::Sender<u64>,
    pub metrics: Metrics,
    /// Addresses clients should use, with real ports once bound.
    pub advertised: RwLock<Vec<Listener>>,
    /// The metadata quorum, in cluster mode (see `cluster/`); set once it has started.
    pub(crate) quorum: OnceLock<Arc<crate::cluster::Cluster>>,
    /// ACL decisions over the bindings of the metadata image (`security/acl`).
    pub authorizer: crate::security::acl::Authorizer,
    /// Consumers' incremental fetch sessions (KIP-227).
    pub fetch_sessions: crate::fetch_session::FetchSessionCache,
}

impl Node {
    /// Wakes the followers' fetches long-polling on this leader (see `replica_appends`).
    pub fn wake_replica_fetches(&self) {
        if self.replica_appends.receiver_count() > 0 {
            self.replica_appends.send_modify(|v| *v += 1);
        }
    }

    /// Replicated mode (`ack.durability`): queues the background fsync of `partition` after
    /// `records` were appended to it, at once or after `flush.ms` (Kafka's meaning).
    pub fn schedule_background_flush(
        &self,
        partition: &Arc<crate::partition::Partition>,
        records: i64,
    ) {
        use crate::partition::FlushDue;
        match partition.flush_due(records) {
            FlushDue::Now => {
                self.metrics.background_fsyncs.inc();
                self.flusher
                    .mark(Arc::clone(partition) as Arc<dyn crate::log::flusher::Durable>);
            }
            FlushDue::After(delay) => {
                let flusher = self.flusher.clone();
                let partition = Arc::clone(partition);
                let fsyncs = self.metrics.background_fsyncs.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    partition.flush_timer_fired();
                    fsyncs.inc();
                    flusher.mark(partition as Arc<dyn crate::log::flusher::Durable>);
                });
            }
            FlushDue::Pending => {}
        }
    }
}

impl Node {
    /// Opens the data directory and recovers every partition in it.
    pub fn open(config: BrokerConfig) -> Result<Arc<Self>, NodeError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| NodeError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let meta = MetadataStore::load(&config.data_dir)?;
        let authorizer = crate::security::acl::Authorizer::new(
            &config.get("authorizer.class.name"),
            &config.get("super.users"),
            config.get_bool("allow.everyone.if.no.acl.found"),
        )?;
        // Single node: the local image's bindings; cluster mode: loaded with the Raft image.
        authorizer.load(&meta.image.acls);
        let data_version = Arc::new(watch::channel(0u64).0);
        let window = Duration::from_millis(config.get_i64("log.flush.interval.ms").max(0) as u64);
        let config_slots = config.get_i64("max.incremental.fetch.session.cache.slots");
        let node = Arc::new(Node {
            cluster_id: meta.image.cluster_id.clone(),
            advertised: RwLock::new(config.advertised.clone()),
            config,
            meta: Mutex::new(meta),
            topics: RwLock::new(HashMap::new()),
            flusher: Flusher::start(window),
            data_version,
            replica_appends: watch::channel(0u64).0,
            new_leaderships: watch::channel(0u64).0,
            metrics: Metrics::new(),
            quorum: OnceLock::new(),
            authorizer,
            fetch_sessions: crate::fetch_session::FetchSessionCache::new(
                usize::try_from(config_slots).unwrap_or(0),
            ),
        });
        let records: Vec<TopicRecord> = node.meta().image.topics.values().cloned().collect();
        if node.config.cluster.is_some()
            && let Some(r) = records.iter().find(|r| !r.internal)
        {
            return Err(NodeError::SingleNodeData {
                dir: node.config.data_dir.clone(),
                topic: r.name.clone(),
            });
        }
        for rec in records {
            if node.config.cluster.is_some() && rec.internal {
                // An unreplicated consumer-offsets log of an earlier cluster-mode version: the
                // replicated topic of the metadata image replaces it (group/replicated.rs).
                node.retire_local_internal_topic(&rec)?;
                continue;
            }
            let topic = node.open_topic(&rec, 0)?;
            node.write_topics()
                .insert(rec.name.clone(), Arc::new(topic));
        }
        Ok(node)
    }

    /// Cluster mode: moves a local internal topic's directories aside (`<dir>.unreplicated`)
    /// and forgets it, so that the replicated topic of the same name starts from its leader.
    fn retire_local_internal_topic(&self, rec: &TopicRecord) -> Result<(), NodeError> {
        for i in 0..rec.partitions {
            let dir = self.config.data_dir.join(format!("{}-{}", rec.name, i));
            if dir.exists() {
                let aside = dir.with_extension("unreplicated");
                std::fs::rename(&dir, &aside).map_err(|source| NodeError::Retire {
                    path: dir.clone(),
                    source,
                })?;
                tracing::warn!(from = %dir.display(), to = %aside.display(), "moved an unreplicated internal log aside");
            }
        }
        let mut meta = self.meta();
        meta.image.topics.remove(&rec.name);
        meta.save()?;
        Ok(())
    }

    pub(crate) fn meta(&self) -> std::sync::MutexGuard<'_, MetadataStore> {
        self.meta
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn write_topics(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<TopicState>>> {
        self.topics
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn read_topics(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<TopicState>>> {
        self.topics
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    /// The metadata quorum when running in cluster mode.
    pub fn quorum(&self) -> Option<&Arc<crate::cluster::Cluster>> {
        self.quorum.get()
    }

    /// The effective value of a broker-level key: dynamic override, static setting, default.
    pub fn broker_setting(&self, key: &str) -> String {
        if let Some(v) = self.meta().image.broker_configs.get(key) {
            return v.clone();
        }
        self.config.get(key)
    }

    pub fn dynamic_broker_configs(&self) -> BTreeMap<String, String> {
        self.meta().image.broker_configs.clone()
    }

    /// The effective value of a topic key for `configs`: topic override, broker synonym, default.
    pub fn topic_setting(&self, configs: &BTreeMap<String, String>, key: &str) -> String {
        if let Some(v) = configs.get(key) {
            return v.clone();
        }
        defs::topic_key(key)
            .map(|k| self.broker_setting(k.broker_synonym))
            .unwrap_or_default()
    }

    pub(crate) fn partition_settings(
        &self,
        configs: &BTreeMap<String, String>,
    ) -> PartitionSettings {
        use crate::log::codec::{self, TopicCompression};
        use crate::partition::validator::{RecordPolicy, TimestampBounds};
        let num = |k: &str| self.topic_setting(configs, k).parse::<i64>().unwrap_or(-1);
        let level = |k: &str| i32::try_from(num(k)).unwrap_or(-1);
        let log_append_time =
            self.topic_setting(configs, "message.timestamp.type") == "LogAppendTime";
        let policy = self.topic_setting(configs, "cleanup.policy");
        let has = |p: &str| policy.split(',').any(|x| x.trim() == p);
        let compaction = crate::log::cleaner::CompactionConfig {
            compact: has("compact"),
            delete: has("delete"),
            min_cleanable_dirty_ratio: self
                .topic_setting(configs, "min.cleanable.dirty.ratio")
                .parse()
                .unwrap_or(0.5),
            min_compaction_lag_ms: num("min.compaction.lag.ms").max(0),
            max_compaction_lag_ms: num("max.compaction.lag.ms").max(1),
            delete_retention_ms: num("delete.retention.ms").max(0),
        };
        // As Kafka: a compacted topic's active segment rolls by max.compaction.lag.ms too, so
        // no record stays uncleanable longer than that.
        let segment_ms = if compaction.compact {
            num("segment.ms").min(compaction.max_compaction_lag_ms)
        } else {
            num("segment.ms")
        };
        PartitionSettings {
            durability: crate::partition::AckDurability::from_config(
                &self.topic_setting(configs, "ack.durability"),
            ),
            flush: crate::partition::FlushPolicy {
                messages: num("flush.messages").max(1),
                ms: num("flush.ms").max(0),
                scheduler_ms: self
                    .broker_setting("log.flush.scheduler.interval.ms")
                    .parse::<i64>()
                    .map_or(crate::partition::DEFAULT_FLUSH_SCHEDULER_MS, |v| v.max(0)),
            },
            compaction,
            log: LogConfig {
                segment_bytes: num("segment.bytes").max(14) as u64,
                segment_ms: segment_ms.max(1),
                retention_ms: num("retention.ms"),
                retention_bytes: num("retention.bytes"),
            },
            max_message_bytes: num("max.message.bytes").max(1) as usize,
            log_append_time,
            min_insync_replicas: num("min.insync.replicas").max(1) as usize,
            records: RecordPolicy {
                // Validated on every write of the config; an unknown name cannot be stored.
                compression: TopicCompression::from_config(
                    &self.topic_setting(configs, "compression.type"),
                    level(codec::GZIP_LEVEL.0),
                    level(codec::LZ4_LEVEL.0),
                    level(codec::ZSTD_LEVEL.0),
                )
                .unwrap_or(TopicCompression::Producer),
                compact: compaction.compact,
                timestamps: (!log_append_time).then(|| TimestampBounds {
                    before_ms: num("message.timestamp.before.max.ms"),
                    after_ms: num("message.timestamp.after.max.ms"),
                }),
            },
        }
    }

    /// Where a partition's files live: `<topic>-<partition>` on a single node; in cluster mode
    /// `<topic>-<partition>-<topic id>`, so that a topic deleted and recreated under the same
    /// name (possibly while this broker was down, or replayed from the metadata log at start)
    /// never opens or deletes another incarnation's data.
    pub fn partition_dir(&self, rec: &TopicRecord, partition: i32) -> std::path::PathBuf {
        let name = if self.config.cluster.is_some() && !rec.internal {
            format!("{}-{}-{}", rec.name, partition, rec.id.simple())
        } else {
            format!("{}-{}", rec.name, partition)
        };
        self.config.data_dir.join(name)
    }

    pub(crate) fn open_topic(&self, rec: &TopicRecord, from: i32) -> Result<TopicState, NodeError> {
        let settings = self.partition_settings(&rec.configs);
        let mut partitions = Vec::with_capacity(rec.partitions as usize);
        for i in from..rec.partitions {
            let dir = self.partition_dir(rec, i);
            let p = Partition::open(
                &rec.name,
                i,
                &dir,
                settings,
                0,
                Arc::clone(&self.data_version),
            )
            .map_err(|source| NodeError::OpenPartition {
                topic: rec.name.clone(),
                partition: i,
                source,
            })?;
            partitions.push(Arc::new(p));
        }
        Ok(TopicState {
            name: rec.name.clone(),
            id: rec.id,
            internal: rec.internal,
            replication_factor: rec.replication_factor,
            configs: rec.configs.clone(),
            partitions,
        })
    }

    pub fn topic(&self, name: &str) -> Option<Arc<TopicState>> {
        self.read_topics().get(name).cloned()
    }

    pub fn topic_by_id(&self, id: uuid::Uuid) -> Option<Arc<TopicState>> {
        self.read_topics().values().find(|t| t.id == id).cloned()
    }

    pub fn topics(&self) -> Vec<Arc<TopicState>> {
        let mut v: Vec<_> = self.read_topics().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        let t = self.topic(topic)?;
        usize::try_from(index)
            .ok()
            .and_then(|i| t.partitions.get(i))
            .cloned()
    }

    pub fn auto_create_enabled(&self) -> bool {
        self.broker_setting("auto.create.topics.enable") == "true"
    }

    /// Checks a new topic's name, partition count and configs (single node and cluster alike)
    /// and resolves a partition count or replication factor of -1 to the broker defaults.
    pub fn new_topic_shape(
        &self,
        name: &str,
        internal: bool,
        partitions: i32,
        replication_factor: i16,
        configs: &BTreeMap<String, String>,
    ) -> Result<(i32, i16), ControlError> {
        if name.starts_with("__") && !internal {
            return Err(ControlError::InvalidTopic(format!(
                "{name}: names starting with '__' are reserved for internal topics"
            )));
        }
        let partitions = if partitions == -1 {
            self.broker_setting("num.partitions").parse().unwrap_or(1)
        } else {
            partitions
        };
        if !(1..=100_000).contains(&partitions) {
            return Err(ControlError::InvalidPartitions(format!(
                "partition count must be between 1 and 100000, got {partitions}"
            )));
        }
        let rf = if replication_factor == -1 {
            self.broker_setting("default.replication.factor")
                .parse()
                .unwrap_or(1)
        } else {
            replication_factor
        };
        for (k, v) in configs {
            defs::validate_topic_key(k, v).map_err(|e| {
                ControlError::InvalidConfig(match e {
                    crate::config::ConfigError::UnknownKey(_) => {
                        format!("Unknown topic config name: {k}")
                    }
                    e => e.to_string(),
                })
            })?;
        }
        Ok((partitions, rf))
    }

    /// Sets the partitions gauge from the topics table.
    pub(crate) fn count_partitions(&self, topics: &HashMap<String, Arc<TopicState>>) {
        self.metrics
            .partitions
            .set(topics.values().map(|t| t.partitions.len() as i64).sum());
    }

    /// Replaces the dynamic broker configs and re-applies topic settings that inherit them.
    pub fn set_broker_configs(
        &self,
        configs: BTreeMap<String, String>,
    ) -> Result<(), ControlError> {
        {
            let mut meta = self.meta();
            meta.image.broker_configs = configs;
            meta.save()
                .map_err(|e| ControlError::Storage(e.to_string()))?;
        }
        for t in self.topics() {
            let settings = self.partition_settings(&t.configs);
            for p in &t.partitions {
                p.set_settings(settings);
            }
        }
        Ok(())
    }

    pub fn allocate_producer_id(&self) -> Result<i64, crate::metadata::MetadataError> {
        let local = self.meta().allocate_producer_id().inspect_err(|e| {
            tracing::error!(error = %e, "allocating a producer id failed");
        })?;
        // In a cluster every broker hands out ids: interleave them by node id so they never
        // collide (node ids are below 1024).
        Ok(match self.quorum() {
            Some(_) => local * 1024 + i64::from(self.node_id().rem_euclid(1024)),
            None => local,
        })
    }

    /// Graceful shutdown: flush, seal every active segment, snapshot producer state.
    pub async fn close(&self) {
        if let Err(e) = self.flusher.flush_all().await {
            tracing::warn!(error = %e, "final flush failed");
        }
        for t in self.topics() {
            for p in &t.partitions {
                p.close();
            }
        }
    }

    /// Background housekeeping: rolls, retention and producer snapshots, every interval.
    pub fn spawn_housekeeping(self: &Arc<Self>) {
        let broker = Arc::downgrade(self);
        let interval = self
            .config
            .get_i64("log.retention.check.interval.ms")
            .max(100) as u64;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(interval));
            loop {
                tick.tick().await;
                let Some(b) = broker.upgrade() else { return };
                let now = crate::now_ms();
                let topics = b.topics();
                let _ = tokio::task::spawn_blocking(move || {
                    for t in topics {
                        for p in &t.partitions {
                            p.housekeeping(now);
                        }
                    }
                })
                .await;
            }
        });
    }
}

/// (total, usable) bytes of the filesystem holding `dir` (statvfs).
pub fn disk_space(dir: &std::path::Path) -> Option<(i64, i64)> {
    let s = rustix::fs::statvfs(dir).ok()?;
    let frag = s.f_frsize;
    let total = s.f_blocks.saturating_mul(frag);
    let usable = s.f_bavail.saturating_mul(frag);
    Some((
        i64::try_from(total).unwrap_or(i64::MAX),
        i64::try_from(usable).unwrap_or(i64::MAX),
    ))
}

pub(crate) fn clone_topic(t: &TopicState) -> TopicState {
    TopicState {
        name: t.name.clone(),
        id: t.id,
        internal: t.internal,
        replication_factor: t.replication_factor,
        configs: t.configs.clone(),
        partitions: t.partitions.clone(),
    }
}
