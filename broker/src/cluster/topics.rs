//! The broker side of cluster mode: topic changes go through the metadata quorum, and every
//! applied image is reconciled into the partitions this broker serves (open new topics, drop
//! deleted ones, set leadership, leader epoch and ISR size).

use super::Cluster;
use super::image::{ClusterImage, Command, Outcome, Refusal};
use crate::broker::{Broker, TopicError};
use crate::metadata::TopicRecord;
use kafka_protocol::error::ResponseError;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) fn refusal_error(r: Refusal) -> ResponseError {
    match r {
        Refusal::TopicExists => ResponseError::TopicAlreadyExists,
        Refusal::UnknownTopic => ResponseError::UnknownTopicOrPartition,
        Refusal::UnknownBroker => ResponseError::BrokerNotAvailable,
        Refusal::InvalidReplicationFactor => ResponseError::InvalidReplicationFactor,
        Refusal::InvalidReplicaAssignment => ResponseError::InvalidReplicaAssignment,
        Refusal::FencedLeaderEpoch => ResponseError::FencedLeaderEpoch,
        Refusal::ElectionNotNeeded => ResponseError::ElectionNotNeeded,
        Refusal::PreferredLeaderNotAvailable => ResponseError::PreferredLeaderNotAvailable,
        Refusal::EligibleLeadersNotAvailable => ResponseError::EligibleLeadersNotAvailable,
        Refusal::InvalidPartitions => ResponseError::InvalidPartitions,
        Refusal::NoReassignmentInProgress => ResponseError::NoReassignmentInProgress,
        // Retried by the incremental alter; seen by a client only if the configs keep changing.
        Refusal::ConfigChanged => ResponseError::RequestTimedOut,
    }
}

/// Runs an async cluster call from the synchronous topic API (the broker binary runs on the
/// multi-threaded runtime, which `block_in_place` needs).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

impl Broker {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create_topic_in_cluster(
        &self,
        cluster: &Arc<Cluster>,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        assignment: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let (partitions, rf) =
            self.new_topic_shape(name, false, partitions, replication_factor, &configs)?;
        {
            // A first check on the local image; the controller decides when it applies.
            let img = cluster.image();
            if img.topics.contains_key(name) {
                return Err((
                    ResponseError::TopicAlreadyExists,
                    format!("topic {name} already exists"),
                ));
            }
            if validate_only {
                return match &assignment {
                    Some(a) => img
                        .check_assignment(a)
                        .map_err(|m| (ResponseError::InvalidReplicaAssignment, m)),
                    None => img
                        .place(partitions, rf)
                        .map(|_| ())
                        .map_err(|m| (ResponseError::InvalidReplicationFactor, m)),
                };
            }
        }
        let cmd = Command::CreateTopic {
            name: name.to_string(),
            id: uuid::Uuid::new_v4(),
            configs,
            assignment,
            partitions,
            replication_factor: rf,
        };
        match block_on(cluster.write(cmd)) {
            Ok(Outcome::Ok) => {}
            Ok(Outcome::Refused(r, m)) => return Err((refusal_error(r), m)),
            Err(m) => return Err((ResponseError::RequestTimedOut, m)),
        }
        self.reconcile(&cluster.image().clone());
        tracing::info!(
            topic = name,
            partitions,
            rf,
            "created topic through the quorum"
        );
        Ok(())
    }

    pub(crate) fn delete_topic_in_cluster(
        &self,
        cluster: &Arc<Cluster>,
        name: &str,
    ) -> Result<uuid::Uuid, TopicError> {
        let Some(id) = cluster.image().topics.get(name).map(|t| t.id) else {
            return Err((
                ResponseError::UnknownTopicOrPartition,
                format!("topic {name} does not exist"),
            ));
        };
        match block_on(cluster.write(Command::DeleteTopic {
            name: name.to_string(),
        })) {
            Ok(Outcome::Ok) => {}
            Ok(Outcome::Refused(r, m)) => return Err((refusal_error(r), m)),
            Err(m) => return Err((ResponseError::RequestTimedOut, m)),
        }
        self.reconcile(&cluster.image().clone());
        Ok(id)
    }

    /// Writes one metadata command through the quorum and applies the resulting image here.
    pub(crate) fn write_through(
        &self,
        cluster: &Arc<Cluster>,
        cmd: Command,
    ) -> Result<(), TopicError> {
        match block_on(cluster.write(cmd)) {
            Ok(Outcome::Ok) => {}
            Ok(Outcome::Refused(r, m)) => return Err((refusal_error(r), m)),
            Err(m) => return Err((ResponseError::RequestTimedOut, m)),
        }
        self.reconcile(&cluster.image().clone());
        Ok(())
    }

    /// A compare-and-set config change through the quorum: Ok(false) when the stored configs
    /// are no longer `expected` (this broker's image then has the newer ones: recompute).
    pub(crate) fn write_configs_cas(
        &self,
        cluster: &Arc<Cluster>,
        cmd: Command,
    ) -> Result<bool, TopicError> {
        // What this broker's image must stop showing before a retry can compute anything new.
        let stale = match &cmd {
            Command::SetTopicConfigs {
                name,
                expected: Some(e),
                ..
            } => Some((Some(name.clone()), None, e.clone())),
            Command::SetBrokerConfigs {
                broker,
                expected: Some(e),
                ..
            } => Some((None, Some(broker.clone()), e.clone())),
            _ => None,
        };
        match block_on(cluster.write(cmd)) {
            Ok(Outcome::Ok) => {}
            Ok(Outcome::Refused(Refusal::ConfigChanged, _)) => {
                // The controller has newer configs than this broker's image: wait (bounded,
                // 2 s) until the image shows them, or the caller's retry would be computed from
                // the same stale overrides and refused again.
                if let Some((topic, broker, expected)) = stale {
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
                    while std::time::Instant::now() < deadline {
                        let current = {
                            let img = cluster.image();
                            match (&topic, &broker) {
                                (Some(t), _) => img.topics.get(t).map(|t| t.configs.clone()),
                                (None, Some(b)) => {
                                    Some(img.broker_configs.get(b).cloned().unwrap_or_default())
                                }
                                (None, None) => None,
                            }
                        };
                        if current.as_ref() != Some(&expected) {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                }
                return Ok(false);
            }
            Ok(Outcome::Refused(r, m)) => return Err((refusal_error(r), m)),
            Err(m) => return Err((ResponseError::RequestTimedOut, m)),
        }
        self.reconcile(&cluster.image().clone());
        Ok(true)
    }

    /// CreatePartitions in cluster mode: placed like CreateTopics, or on `assignment`.
    pub(crate) fn create_partitions_in_cluster(
        &self,
        cluster: &Arc<Cluster>,
        name: &str,
        count: i32,
        assignment: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        // A first check on the local image; the controller decides when it applies.
        if let Err(Outcome::Refused(r, m)) =
            cluster
                .image()
                .new_partitions(name, count, assignment.as_deref())
        {
            return Err((refusal_error(r), m));
        }
        if validate_only {
            return Ok(());
        }
        self.write_through(
            cluster,
            Command::CreatePartitions {
                name: name.to_string(),
                count,
                assignment,
            },
        )?;
        tracing::info!(topic = name, count, "grew a topic through the quorum");
        Ok(())
    }

    /// The effective dynamic configs of broker `id` in the image: the cluster-wide default
    /// ("") overlaid with the broker's own.
    pub fn dynamic_configs_in_image(img: &ClusterImage, id: i32) -> BTreeMap<String, String> {
        let mut out = img.broker_configs.get("").cloned().unwrap_or_default();
        if let Some(own) = img.broker_configs.get(&id.to_string()) {
            out.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        out
    }

    /// Brings the served partitions in line with the image.
    pub fn reconcile(&self, img: &ClusterImage) {
        let me = self.node_id();
        let dynamic = Self::dynamic_configs_in_image(img, me);
        if dynamic != self.dynamic_broker_configs()
            && let Err((_, m)) = self.set_broker_configs(dynamic)
        {
            tracing::error!(error = %m, "applying the dynamic broker configs failed");
        }
        let mut topics = self.write_topics();
        let stale: Vec<String> = topics
            .iter()
            .filter(|(n, t)| !t.internal && img.topics.get(*n).is_none_or(|i| i.id != t.id))
            .map(|(n, _)| n.clone())
            .collect();
        for n in stale {
            if let Some(t) = topics.remove(&n) {
                for p in &t.partitions {
                    p.destroy();
                }
                tracing::info!(topic = n, "dropped a deleted topic");
            }
        }
        for (name, ti) in &img.topics {
            if !topics.contains_key(name) {
                let rec = TopicRecord {
                    name: name.clone(),
                    id: ti.id,
                    partitions: ti.partitions.len() as i32,
                    replication_factor: ti.partitions.first().map_or(1, |p| p.replicas.len())
                        as i16,
                    configs: ti.configs.clone(),
                    // The replicated consumer-offsets log (group/replicated.rs).
                    internal: name == crate::group::store::TOPIC,
                };
                match self.open_topic(&rec, 0) {
                    Ok(state) => {
                        topics.insert(name.clone(), Arc::new(state));
                    }
                    Err(e) => {
                        tracing::error!(topic = name, error = %e, "opening a replicated topic failed");
                        continue;
                    }
                }
            }
            let Some(t) = topics.get(name).cloned() else {
                continue;
            };
            if t.configs != ti.configs || t.partitions.len() < ti.partitions.len() {
                // Config changes and CreatePartitions: a new topic state, partitions shared.
                let settings = self.partition_settings(&ti.configs);
                for p in &t.partitions {
                    p.set_settings(settings);
                }
                let mut partitions = t.partitions.clone();
                let current = partitions.len() as i32;
                if current < ti.partitions.len() as i32 {
                    let rec = TopicRecord {
                        name: name.clone(),
                        id: ti.id,
                        partitions: ti.partitions.len() as i32,
                        replication_factor: t.replication_factor,
                        configs: ti.configs.clone(),
                        internal: false,
                    };
                    match self.open_topic(&rec, current) {
                        Ok(added) => partitions.extend(added.partitions),
                        Err(e) => {
                            tracing::error!(topic = name, error = %e, "opening new partitions failed");
                        }
                    }
                }
                topics.insert(
                    name.clone(),
                    Arc::new(crate::broker::TopicState {
                        name: name.clone(),
                        id: t.id,
                        internal: false,
                        replication_factor: t.replication_factor,
                        configs: ti.configs.clone(),
                        partitions,
                    }),
                );
            }
            let Some(t) = topics.get(name) else { continue };
            for (i, ps) in ti.partitions.iter().enumerate() {
                if let Some(p) = t.partitions.get(i) {
                    p.set_role(me, ps.leader == me, ps.leader_epoch, &ps.isr);
                }
            }
        }
        self.metrics
            .partitions
            .set(topics.values().map(|t| t.partitions.len() as i64).sum());
        drop(topics);
        self.data_version.send_modify(|v| *v += 1);
    }
}

/// Joins the broker to the quorum: starts it, reconciles on every change, registers and
/// heartbeats.
pub async fn join(
    broker: &Arc<Broker>,
    cfg: &super::ClusterConfig,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let cluster = Cluster::start(
        broker.node_id(),
        cfg,
        &broker.config.data_dir,
        shutdown.clone(),
    )
    .await?;
    broker
        .cluster
        .set(Arc::clone(&cluster))
        .map_err(|_| anyhow::anyhow!("the cluster was started twice"))?;
    let mut changes = cluster.subscribe();
    let weak = Arc::downgrade(broker);
    let c = Arc::clone(&cluster);
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        loop {
            let Some(b) = weak.upgrade() else { return };
            let img = c.image().clone();
            let b2 = Arc::clone(&b);
            let img2 = img.clone();
            let _ = tokio::task::spawn_blocking(move || b2.reconcile(&img2)).await;
            crate::replication::reconcile(&b, &img);
            // Load/unload consumer groups now rather than at the coordinator's next tick.
            b.groups.follow_leadership(&b);
            drop(b);
            tokio::select! {
                _ = super::stopped(&mut stop) => return,
                r = changes.changed() => if r.is_err() { return },
            }
        }
    });
    let (host, port) = {
        let adv = broker
            .advertised
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let l = adv
            .first()
            .ok_or_else(|| anyhow::anyhow!("cluster mode needs an advertised listener"))?;
        (l.host.clone(), l.port)
    };
    // A controller listener bound to a wildcard address is reached at the advertised host.
    cluster.set_advertised_host(&host);
    let rack = Some(broker.broker_setting("broker.rack")).filter(|r| !r.is_empty());
    cluster.spawn_registration(host, port, rack, broker.cluster_id.clone(), shutdown);
    Ok(())
}
