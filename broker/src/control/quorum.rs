//! Metadata control in cluster mode: changes are commands written through the Raft metadata
//! quorum (`cluster/`); every broker applies the committed image to the partitions it serves
//! (`reconcile`: open new topics, drop deleted ones, set leadership, leader epoch and ISR).

use super::{
    BrokerView, ConfigResource, MetadataControl, NewTopic, PartitionView, ReassignmentView,
};
use crate::cluster::Cluster;
use crate::cluster::image::{ClusterImage, Command, Outcome, Refusal};
use crate::metadata::{TopicRecord, validate_topic_name};
use crate::node::{ControlError, Node, TopicState};
use crate::security::acl::AclBinding;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Runs an async cluster call from the synchronous topic API (the broker binary runs on the
/// multi-threaded runtime, which `block_in_place` needs).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// The outcome of one write through the quorum as a topic result.
fn outcome(r: Result<Outcome, String>) -> Result<(), ControlError> {
    match r {
        Ok(Outcome::Ok) => Ok(()),
        Ok(Outcome::Refused(r, m)) => Err(ControlError::Refused(r, m)),
        Err(m) => Err(ControlError::Timeout(m)),
    }
}

/// The cluster-mode implementation of `MetadataControl`.
pub struct Quorum {
    node: Arc<Node>,
    cluster: Arc<Cluster>,
}

impl Quorum {
    pub fn new(node: Arc<Node>, cluster: Arc<Cluster>) -> Self {
        Quorum { node, cluster }
    }

    /// The quorum handle.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    #[allow(clippy::too_many_arguments)]
    fn propose_create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        assignment: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<(), ControlError> {
        let (partitions, rf) =
            self.node
                .new_topic_shape(name, false, partitions, replication_factor, &configs)?;
        {
            // A first check on the local image; the controller decides when it applies.
            let img = self.cluster.image();
            if img.topics.contains_key(name) {
                return Err(ControlError::TopicExists(format!(
                    "topic {name} already exists"
                )));
            }
            if validate_only {
                return match &assignment {
                    Some(a) => img
                        .check_assignment(a)
                        .map_err(ControlError::InvalidReplicaAssignment),
                    None => img
                        .place(partitions, rf)
                        .map(|_| ())
                        .map_err(ControlError::InvalidReplicationFactor),
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
        match block_on(self.cluster.write(cmd)) {
            Ok(Outcome::Ok) => {}
            Ok(Outcome::Refused(r, m)) => {
                return Err(ControlError::Refused(r, m));
            }
            Err(m) => return Err(ControlError::Timeout(m)),
        }
        self.apply_changes();
        tracing::info!(
            topic = name,
            partitions,
            rf,
            "created topic through the quorum"
        );
        Ok(())
    }

    fn propose_delete_topic(&self, name: &str) -> Result<uuid::Uuid, ControlError> {
        let Some(id) = self.cluster.image().topics.get(name).map(|t| t.id) else {
            return Err(ControlError::UnknownTopic(format!(
                "topic {name} does not exist"
            )));
        };
        match block_on(self.cluster.write(Command::DeleteTopic {
            name: name.to_string(),
        })) {
            Ok(Outcome::Ok) => {}
            Ok(Outcome::Refused(r, m)) => {
                return Err(ControlError::Refused(r, m));
            }
            Err(m) => return Err(ControlError::Timeout(m)),
        }
        self.apply_changes();
        Ok(id)
    }

    /// Writes one metadata command through the quorum and applies the resulting image here.
    fn write_through(&self, cmd: Command) -> Result<(), ControlError> {
        match block_on(self.cluster.write(cmd)) {
            Ok(Outcome::Ok) => {}
            Ok(Outcome::Refused(r, m)) => {
                return Err(ControlError::Refused(r, m));
            }
            Err(m) => return Err(ControlError::Timeout(m)),
        }
        self.apply_changes();
        Ok(())
    }

    /// A compare-and-set config change through the quorum: Ok(false) when the stored configs
    /// are no longer `expected` (this broker's image then has the newer ones: recompute).
    fn write_configs_cas(&self, cmd: Command) -> Result<bool, ControlError> {
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
        match block_on(self.cluster.write(cmd)) {
            Ok(Outcome::Ok) => {}
            Ok(Outcome::Refused(Refusal::ConfigChanged, _)) => {
                // The controller has newer configs than this broker's image: wait (bounded,
                // 2 s) until the image shows them, or the caller's retry would be computed from
                // the same stale overrides and refused again.
                if let Some((topic, broker, expected)) = stale {
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
                    while std::time::Instant::now() < deadline {
                        let current = {
                            let img = self.cluster.image();
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
            Ok(Outcome::Refused(r, m)) => {
                return Err(ControlError::Refused(r, m));
            }
            Err(m) => return Err(ControlError::Timeout(m)),
        }
        self.apply_changes();
        Ok(true)
    }

    /// CreatePartitions in cluster mode: placed like CreateTopics, or on `assignment`.
    fn propose_create_partitions(
        &self,
        name: &str,
        count: i32,
        assignment: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<(), ControlError> {
        // A first check on the local image; the controller decides when it applies.
        if let Err(Outcome::Refused(r, m)) =
            self.cluster
                .image()
                .new_partitions(name, count, assignment.as_deref())
        {
            return Err(ControlError::Refused(r, m));
        }
        if validate_only {
            return Ok(());
        }
        self.write_through(Command::CreatePartitions {
            name: name.to_string(),
            count,
            assignment,
        })?;
        tracing::info!(topic = name, count, "grew a topic through the quorum");
        Ok(())
    }
}

/// The effective dynamic configs of broker `id` in the image: the cluster-wide default ("")
/// overlaid with the broker's own.
pub fn dynamic_configs_in_image(img: &ClusterImage, id: i32) -> BTreeMap<String, String> {
    let mut out = img.broker_configs.get("").cloned().unwrap_or_default();
    if let Some(own) = img.broker_configs.get(&id.to_string()) {
        out.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out
}

/// Brings the partitions `node` serves in line with the image.
pub fn reconcile(node: &Node, img: &ClusterImage) {
    let me = node.node_id();
    let mut led_anew = false;
    let dynamic = dynamic_configs_in_image(img, me);
    if dynamic != node.dynamic_broker_configs()
        && let Err(e) = node.set_broker_configs(dynamic)
    {
        tracing::error!(error = %e, "applying the dynamic broker configs failed");
    }
    node.authorizer.load(&img.acls);
    let mut topics = node.write_topics();
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
            node.metrics.forget_topic(&n);
            tracing::info!(topic = n, "dropped a deleted topic");
        }
    }
    for (name, ti) in &img.topics {
        if !topics.contains_key(name) {
            let rec = TopicRecord {
                name: name.clone(),
                id: ti.id,
                partitions: ti.partitions.len() as i32,
                replication_factor: ti.partitions.first().map_or(1, |p| p.replicas.len()) as i16,
                configs: ti.configs.clone(),
                // The replicated consumer-offsets log (group/replicated.rs).
                internal: name == crate::metadata::OFFSETS_TOPIC,
            };
            match node.open_topic(&rec, 0) {
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
            let settings = node.partition_settings(&ti.configs);
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
                match node.open_topic(&rec, current) {
                    Ok(added) => partitions.extend(added.partitions),
                    Err(e) => {
                        tracing::error!(topic = name, error = %e, "opening new partitions failed");
                    }
                }
            }
            topics.insert(
                name.clone(),
                Arc::new(TopicState {
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
                led_anew |= p.set_role(me, ps.leader == me, ps.leader_epoch, &ps.isr);
            }
        }
    }
    node.count_partitions(&topics);
    drop(topics);
    node.data_version.send_modify(|v| *v += 1);
    if led_anew {
        node.new_leaderships.send_modify(|v| *v += 1);
    }
}

impl Quorum {
    fn is_this_broker(&self, name: &str) -> bool {
        name.is_empty() || name.parse::<i32>().ok() == Some(self.node.node_id())
    }

    /// Whether `name` is a registered broker's id (its configs live in the metadata log, so
    /// any broker can change them).
    fn is_registered_broker(&self, name: &str) -> bool {
        name.parse::<i32>()
            .is_ok_and(|id| self.cluster.image().brokers.contains_key(&id))
    }
}

impl MetadataControl for Quorum {
    fn scram_credential(
        &self,
        user: &str,
        mechanism: crate::security::sasl::scram::ScramMechanism,
    ) -> Option<crate::security::sasl::scram::ScramCredential> {
        self.cluster
            .image()
            .scram_credentials
            .get(user)?
            .get(&mechanism)
            .cloned()
    }

    fn scram_users(&self) -> crate::security::sasl::credentials::ScramUsers {
        self.cluster.image().scram_credentials.clone()
    }

    fn alter_scram_credentials(
        &self,
        alterations: Vec<crate::security::sasl::credentials::ScramAlteration>,
    ) -> Result<(), ControlError> {
        // Through the metadata log: every broker's image (and authenticator) sees it.
        self.write_through(Command::AlterScramCredentials { alterations })
    }

    fn create_topic(&self, t: NewTopic) -> Result<(), ControlError> {
        validate_topic_name(&t.name).map_err(ControlError::InvalidTopic)?;
        match t.assignment {
            Some(a) => {
                let a = super::assignment_by_index(a)?;
                if a.first().is_none_or(Vec::is_empty) {
                    return Err(ControlError::InvalidReplicaAssignment(
                        "partition 0 has no replicas".into(),
                    ));
                }
                self.propose_create_topic(
                    &t.name,
                    a.len() as i32,
                    a[0].len() as i16,
                    t.configs,
                    Some(a),
                    t.validate_only,
                )
            }
            None => self.propose_create_topic(
                &t.name,
                t.partitions,
                t.replication_factor,
                t.configs,
                None,
                t.validate_only,
            ),
        }
    }

    fn create_internal_topic(
        &self,
        _name: &str,
        _partitions: i32,
        _configs: BTreeMap<String, String>,
    ) -> Result<(), ControlError> {
        // Created through the controller on the first FindCoordinator (group/replicated.rs).
        Ok(())
    }

    fn topic_or_auto_create(&self, name: &str) -> Result<Arc<TopicState>, ControlError> {
        super::topic_or_auto_create(&self.node, name, |t| self.create_topic(t))
    }

    fn delete_topic(&self, name: &str) -> Result<uuid::Uuid, ControlError> {
        if self.node.topic(name).is_some_and(|t| t.internal) {
            return Err(ControlError::InvalidTopic(format!(
                "{name} is an internal topic"
            )));
        }
        self.propose_delete_topic(name)
    }

    fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignment: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<(), ControlError> {
        self.propose_create_partitions(name, count, assignment, validate_only)
    }

    fn knows_broker(&self, name: &str) -> bool {
        self.is_this_broker(name) || self.is_registered_broker(name)
    }

    fn stored_configs(&self, resource: ConfigResource, name: &str) -> BTreeMap<String, String> {
        let img = self.cluster.image();
        match resource {
            ConfigResource::Topic => img.topics.get(name).map(|t| t.configs.clone()),
            ConfigResource::Broker => img.broker_configs.get(name).cloned(),
        }
        .unwrap_or_default()
    }

    fn effective_broker_configs(&self, name: &str) -> BTreeMap<String, String> {
        if self.is_this_broker(name) {
            return self.node.dynamic_broker_configs();
        }
        // Another broker of the cluster: its dynamic configs from the metadata log.
        dynamic_configs_in_image(&self.cluster.image(), name.parse().unwrap_or(-1))
    }

    fn set_configs(
        &self,
        resource: ConfigResource,
        name: &str,
        configs: BTreeMap<String, String>,
        expected: Option<BTreeMap<String, String>>,
    ) -> Result<bool, ControlError> {
        let cas = expected.is_some();
        let cmd = match resource {
            ConfigResource::Topic => {
                if self.node.topic(name).is_none() {
                    return Err(ControlError::UnknownTopic(format!(
                        "topic {name} does not exist"
                    )));
                }
                Command::SetTopicConfigs {
                    name: name.to_string(),
                    configs,
                    expected,
                }
            }
            // Through the metadata log: every broker applies it (see `reconcile`).
            ConfigResource::Broker => Command::SetBrokerConfigs {
                broker: name.to_string(),
                configs,
                expected,
            },
        };
        if cas {
            return self.write_configs_cas(cmd);
        }
        self.write_through(cmd)?;
        Ok(true)
    }

    fn elect_leader(
        &self,
        topic: &str,
        partition: i32,
        unclean: bool,
    ) -> BoxFuture<'_, Result<(), ControlError>> {
        let cmd = Command::ElectLeader {
            topic: topic.to_string(),
            partition,
            unclean,
        };
        Box::pin(async move { outcome(self.cluster.write(cmd).await) })
    }

    fn alter_reassignment(
        &self,
        topic: &str,
        partition: i32,
        target: Option<Vec<i32>>,
        allow_rf_change: bool,
    ) -> BoxFuture<'_, Result<(), ControlError>> {
        let topic = topic.to_string();
        Box::pin(async move {
            if let Some(t) = &target
                && !allow_rf_change
            {
                let current = {
                    let img = self.cluster.image();
                    img.reassignments
                        .get(&topic)
                        .and_then(|m| m.get(&partition))
                        .map(|r| r.original.len())
                        .or_else(|| {
                            img.topics
                                .get(&topic)
                                .and_then(|ti| ti.partitions.get(usize::try_from(partition).ok()?))
                                .map(|p| p.replicas.len())
                        })
                };
                if let Some(n) = current
                    && n != t.len()
                {
                    return Err(ControlError::InvalidReplicationFactor(format!(
                        "{topic}-{partition} has {n} replicas, the target {}; the request does not allow changing the replication factor",
                        t.len()
                    )));
                }
            }
            let cmd = Command::AlterReassignment {
                topic,
                partition,
                target,
            };
            outcome(self.cluster.write(cmd).await)
        })
    }

    fn reassignments(
        &self,
        wanted: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<(String, Vec<ReassignmentView>)> {
        let img = self.cluster.image().clone();
        // (topic, partitions asked for; None = all).
        let wanted: Vec<(String, Option<Vec<i32>>)> = match wanted {
            Some(ts) => ts.into_iter().map(|(n, p)| (n, Some(p))).collect(),
            None => img
                .reassignments
                .keys()
                .map(|n| (n.clone(), None))
                .collect(),
        };
        let mut topics = Vec::new();
        for (name, parts) in wanted {
            let (Some(moving), Some(ti)) = (img.reassignments.get(&name), img.topics.get(&name))
            else {
                continue;
            };
            let mut out = Vec::new();
            for (index, r) in moving {
                if parts.as_ref().is_some_and(|p| !p.contains(index)) {
                    continue;
                }
                let Some(p) = usize::try_from(*index)
                    .ok()
                    .and_then(|i| ti.partitions.get(i))
                else {
                    continue;
                };
                out.push(ReassignmentView {
                    index: *index,
                    replicas: p.replicas.clone(),
                    adding: r.adding(),
                    removing: r.removing(&p.replicas),
                });
            }
            if !out.is_empty() {
                topics.push((name, out));
            }
        }
        topics
    }

    fn apply_changes(&self) {
        let img = self.cluster.image().clone();
        reconcile(&self.node, &img);
    }

    fn cluster_id(&self) -> String {
        self.cluster.image().cluster_id.clone()
    }

    fn controller_id(&self) -> i32 {
        self.cluster.controller_id().unwrap_or(-1)
    }

    fn live_brokers(&self, listener: &str) -> Vec<BrokerView> {
        self.cluster
            .image()
            .live_brokers()
            .into_iter()
            .map(|b| {
                let (host, port) = b.endpoint(listener);
                BrokerView {
                    id: b.id,
                    host: host.to_string(),
                    port,
                    rack: b.rack.clone(),
                }
            })
            .collect()
    }

    fn registered_brokers(&self, listener: &str) -> Vec<(BrokerView, bool)> {
        self.cluster
            .image()
            .brokers
            .values()
            .map(|b| {
                let (host, port) = b.endpoint(listener);
                let view = BrokerView {
                    id: b.id,
                    host: host.to_string(),
                    port,
                    rack: b.rack.clone(),
                };
                (view, b.fenced)
            })
            .collect()
    }

    fn partitions(&self, topic: &TopicState) -> Vec<PartitionView> {
        let img = self.cluster.image();
        let Some(ti) = img.topics.get(&topic.name) else {
            return super::single_node::local_partitions(self.node.node_id(), topic);
        };
        ti.partitions
            .iter()
            .enumerate()
            .map(|(i, p)| PartitionView {
                index: i as i32,
                leader: p.leader,
                leader_epoch: p.leader_epoch,
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                offline: p
                    .replicas
                    .iter()
                    .copied()
                    .filter(|r| !img.is_live(*r))
                    .collect(),
            })
            .collect()
    }

    fn replicated(&self) -> bool {
        true
    }

    fn create_acls(&self, bindings: Vec<AclBinding>) -> Result<(), ControlError> {
        self.write_through(Command::CreateAcls { bindings })
    }

    fn delete_acls(&self, bindings: Vec<AclBinding>) -> Result<(), ControlError> {
        self.write_through(Command::DeleteAcls { bindings })
    }

    fn client_quotas(&self) -> crate::security::quota::ClientQuotaMap {
        self.cluster.image().client_quotas.clone()
    }

    fn alter_client_quotas(
        &self,
        changes: Vec<crate::security::quota::QuotaAlteration>,
    ) -> Result<(), ControlError> {
        self.write_through(Command::AlterClientQuotas { changes })
    }

    fn unregister_broker(&self, id: i32) -> BoxFuture<'_, Result<(), ControlError>> {
        Box::pin(async move {
            let view = self
                .cluster
                .quorum_view()
                .await
                .map_err(|e| ControlError::Timeout(e.reason))?;
            if u64::try_from(id).is_ok_and(|i| view.voters.contains(&i)) {
                return Err(ControlError::InvalidRequest(format!(
                    "broker {id} is a controller quorum voter (voters {:?}): change the voters \
                     first (PUT /v1/cluster/voters)",
                    view.voters
                )));
            }
            outcome(self.cluster.write(Command::UnregisterBroker { id }).await)?;
            self.apply_changes();
            Ok(())
        })
    }

    fn finalized_features(&self) -> crate::features::Finalized {
        self.cluster.image().features.clone()
    }

    fn update_features(
        &self,
        updates: &[crate::features::FeatureUpdate],
        validate_only: bool,
    ) -> Result<(), super::FeatureUpdateFailure> {
        let (current, brokers) = {
            let img = self.cluster.image();
            let brokers: Vec<(i32, crate::features::Supported)> = img
                .brokers
                .values()
                .map(|b| (b.id, b.supported_features.clone()))
                .collect();
            (img.features.clone(), brokers)
        };
        let levels = crate::features::plan_update(&current, updates, &brokers)
            .map_err(super::FeatureUpdateFailure::Refused)?;
        if validate_only || levels == current.levels {
            return Ok(());
        }
        self.write_through(Command::UpdateFeatures {
            levels,
            expected_epoch: current.epoch,
        })
        .map_err(super::FeatureUpdateFailure::Control)
    }
}
