//! Metadata control on a single node: changes apply to the local metadata file
//! (`metadata.rs`) and the served topics directly; this node is the only broker, the
//! controller and the leader of every partition.

use super::{
    BrokerView, ConfigResource, MetadataControl, NewTopic, PartitionView, ReassignmentView,
};
use crate::metadata::{TopicRecord, validate_topic_name};
use crate::node::{ControlError, Node, TopicState, clone_topic};
use crate::security::acl::AclBinding;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The single-node implementation of `MetadataControl`.
pub struct SingleNode {
    node: Arc<Node>,
}

impl SingleNode {
    pub fn new(node: Arc<Node>) -> Self {
        SingleNode { node }
    }

    /// Whether a broker resource name addresses this node ("" is the cluster-wide default,
    /// which on one node is the same set of dynamic configs).
    fn is_this_broker(&self, name: &str) -> bool {
        name.is_empty() || name.parse::<i32>().ok() == Some(self.node.node_id())
    }

    /// Explicit assignments on one node: every partition on this node, indexes 0..n.
    fn assignment_count(&self, assignment: &[(i32, Vec<i32>)]) -> Result<i32, ControlError> {
        let node = self.node.node_id();
        let mut indexes: Vec<i32> = Vec::with_capacity(assignment.len());
        for (index, ids) in assignment {
            if ids.len() != 1 || ids[0] != node {
                return Err(ControlError::InvalidReplicaAssignment(format!(
                    "partition {index} is assigned to {ids:?}; this single-node cluster only has broker {node}"
                )));
            }
            indexes.push(*index);
        }
        indexes.sort_unstable();
        if indexes.iter().enumerate().any(|(i, p)| *p != i as i32) {
            return Err(ControlError::InvalidReplicaAssignment(
                "replica assignment partitions must be 0..n, each listed once".into(),
            ));
        }
        Ok(indexes.len() as i32)
    }

    /// Creates a topic. `partitions`/`replication_factor` of -1 take the broker defaults.
    fn create_local_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        internal: bool,
        validate_only: bool,
    ) -> Result<(), ControlError> {
        validate_topic_name(name).map_err(ControlError::InvalidTopic)?;
        let (partitions, rf) =
            self.node
                .new_topic_shape(name, internal, partitions, replication_factor, &configs)?;
        if rf != 1 {
            return Err(ControlError::InvalidReplicationFactor(format!(
                "replication factor {rf} is larger than the 1 available broker"
            )));
        }
        if self.node.topic(name).is_some() {
            return Err(ControlError::TopicExists(format!(
                "topic {name} already exists"
            )));
        }
        if validate_only {
            return Ok(());
        }
        let rec = TopicRecord {
            name: name.to_string(),
            id: uuid::Uuid::new_v4(),
            partitions,
            replication_factor: rf,
            configs,
            internal,
        };
        let mut topics = self.node.write_topics();
        if topics.contains_key(name) {
            return Err(ControlError::TopicExists(format!(
                "topic {name} already exists"
            )));
        }
        let state = self
            .node
            .open_topic(&rec, 0)
            .map_err(|e| ControlError::Storage(format!("creating {name}: {e}")))?;
        {
            let mut meta = self.node.meta();
            meta.image.topics.insert(name.to_string(), rec);
            meta.save()
                .map_err(|e| ControlError::Storage(e.to_string()))?;
        }
        topics.insert(name.to_string(), Arc::new(state));
        self.node.count_partitions(&topics);
        tracing::info!(topic = name, partitions, "created topic");
        Ok(())
    }

    /// Deletes a topic and its data.
    fn delete_local_topic(&self, name: &str) -> Result<uuid::Uuid, ControlError> {
        let mut topics = self.node.write_topics();
        let Some(t) = topics.get(name).cloned() else {
            return Err(ControlError::UnknownTopic(format!(
                "topic {name} does not exist"
            )));
        };
        if t.internal {
            return Err(ControlError::InvalidTopic(format!(
                "{name} is an internal topic"
            )));
        }
        {
            let mut meta = self.node.meta();
            meta.image.topics.remove(name);
            meta.save()
                .map_err(|e| ControlError::Storage(e.to_string()))?;
        }
        topics.remove(name);
        for p in &t.partitions {
            p.destroy();
        }
        self.node.metrics.forget_topic(name);
        self.node.count_partitions(&topics);
        tracing::info!(topic = name, "deleted topic");
        Ok(t.id)
    }

    /// Grows a topic to `count` partitions.
    fn grow_topic(&self, name: &str, count: i32, validate_only: bool) -> Result<(), ControlError> {
        let mut topics = self.node.write_topics();
        let Some(t) = topics.get(name).cloned() else {
            return Err(ControlError::UnknownTopic(format!(
                "topic {name} does not exist"
            )));
        };
        let current = t.partitions.len() as i32;
        if count <= current {
            return Err(ControlError::InvalidPartitions(format!(
                "topic {name} has {current} partitions; the count can only grow, asked for {count}"
            )));
        }
        if count > 100_000 {
            return Err(ControlError::InvalidPartitions(format!(
                "partition count must be at most 100000, got {count}"
            )));
        }
        if validate_only {
            return Ok(());
        }
        let mut rec = self
            .node
            .meta()
            .image
            .topics
            .get(name)
            .cloned()
            .ok_or(ControlError::UnknownTopic(name.to_string()))?;
        rec.partitions = count;
        let added = self
            .node
            .open_topic(&rec, current)
            .map_err(|e| ControlError::Storage(e.to_string()))?;
        {
            let mut meta = self.node.meta();
            meta.image.topics.insert(name.to_string(), rec);
            meta.save()
                .map_err(|e| ControlError::Storage(e.to_string()))?;
        }
        let mut partitions = t.partitions.clone();
        partitions.extend(added.partitions);
        topics.insert(
            name.to_string(),
            Arc::new(TopicState {
                partitions,
                ..clone_topic(&t)
            }),
        );
        self.node.count_partitions(&topics);
        Ok(())
    }

    /// Replaces a topic's config overrides (validated by the caller) and applies them live.
    fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<(), ControlError> {
        let mut topics = self.node.write_topics();
        let Some(t) = topics.get(name).cloned() else {
            return Err(ControlError::UnknownTopic(format!(
                "topic {name} does not exist"
            )));
        };
        {
            let mut meta = self.node.meta();
            if let Some(rec) = meta.image.topics.get_mut(name) {
                rec.configs = configs.clone();
            }
            meta.save()
                .map_err(|e| ControlError::Storage(e.to_string()))?;
        }
        let settings = self.node.partition_settings(&configs);
        for p in &t.partitions {
            p.set_settings(settings);
        }
        topics.insert(
            name.to_string(),
            Arc::new(TopicState {
                configs,
                partitions: t.partitions.clone(),
                ..clone_topic(&t)
            }),
        );
        Ok(())
    }
}

impl MetadataControl for SingleNode {
    fn scram_credential(
        &self,
        user: &str,
        mechanism: crate::security::sasl::scram::ScramMechanism,
    ) -> Option<crate::security::sasl::scram::ScramCredential> {
        self.node
            .meta()
            .image
            .scram_credentials
            .get(user)?
            .get(&mechanism)
            .cloned()
    }

    fn scram_users(&self) -> crate::security::sasl::credentials::ScramUsers {
        self.node.meta().image.scram_credentials.clone()
    }

    fn alter_scram_credentials(
        &self,
        alterations: Vec<crate::security::sasl::credentials::ScramAlteration>,
    ) -> Result<(), ControlError> {
        let mut meta = self.node.meta();
        let before = meta.image.scram_credentials.clone();
        crate::security::sasl::credentials::apply(&mut meta.image.scram_credentials, &alterations);
        if let Err(e) = meta.save() {
            meta.image.scram_credentials = before;
            return Err(ControlError::Storage(e.to_string()));
        }
        Ok(())
    }

    fn create_topic(&self, t: NewTopic) -> Result<(), ControlError> {
        let (partitions, rf) = match &t.assignment {
            Some(a) => (self.assignment_count(a)?, 1),
            None => (t.partitions, t.replication_factor),
        };
        self.create_local_topic(&t.name, partitions, rf, t.configs, false, t.validate_only)
    }

    fn create_internal_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<(), ControlError> {
        if self.node.topic(name).is_some() {
            return Ok(());
        }
        self.create_local_topic(name, partitions, 1, configs, true, false)
    }

    fn topic_or_auto_create(&self, name: &str) -> Result<Arc<TopicState>, ControlError> {
        super::topic_or_auto_create(&self.node, name, |t| self.create_topic(t))
    }

    fn delete_topic(&self, name: &str) -> Result<uuid::Uuid, ControlError> {
        self.delete_local_topic(name)
    }

    fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignment: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<(), ControlError> {
        let node = self.node.node_id();
        if assignment
            .as_ref()
            .is_some_and(|a| a.iter().any(|p| p.len() != 1 || p[0] != node))
        {
            return Err(ControlError::InvalidReplicaAssignment(format!(
                "new partitions can only be assigned to broker {node}"
            )));
        }
        self.grow_topic(name, count, validate_only)
    }

    fn knows_broker(&self, name: &str) -> bool {
        self.is_this_broker(name)
    }

    fn stored_configs(&self, resource: ConfigResource, name: &str) -> BTreeMap<String, String> {
        match resource {
            ConfigResource::Topic => self
                .node
                .topic(name)
                .map(|t| t.configs.clone())
                .unwrap_or_default(),
            ConfigResource::Broker => self.node.dynamic_broker_configs(),
        }
    }

    fn effective_broker_configs(&self, _name: &str) -> BTreeMap<String, String> {
        self.node.dynamic_broker_configs()
    }

    fn set_configs(
        &self,
        resource: ConfigResource,
        name: &str,
        configs: BTreeMap<String, String>,
        _expected: Option<BTreeMap<String, String>>,
    ) -> Result<bool, ControlError> {
        // One writer: the caller computed from the current set, nothing can have changed it.
        match resource {
            ConfigResource::Topic => self.set_topic_configs(name, configs)?,
            ConfigResource::Broker => self.node.set_broker_configs(configs)?,
        }
        Ok(true)
    }

    fn elect_leader(
        &self,
        topic: &str,
        partition: i32,
        _unclean: bool,
    ) -> BoxFuture<'_, Result<(), ControlError>> {
        let out = match self.node.partition(topic, partition) {
            Some(_) => Err(ControlError::ElectionNotNeeded(
                "a single node always leads with its only replica".into(),
            )),
            None => Err(ControlError::UnknownTopic(format!(
                "{topic}-{partition} does not exist"
            ))),
        };
        Box::pin(std::future::ready(out))
    }

    fn alter_reassignment(
        &self,
        topic: &str,
        partition: i32,
        target: Option<Vec<i32>>,
        _allow_rf_change: bool,
    ) -> BoxFuture<'_, Result<(), ControlError>> {
        let exists = self.node.partition(topic, partition).is_some();
        let me = self.node.node_id();
        let out = match target {
            _ if !exists => Err(ControlError::UnknownTopic(format!(
                "{topic}-{partition} does not exist"
            ))),
            None => Err(ControlError::NoReassignmentInProgress(format!(
                "no reassignment of {topic}-{partition} is in progress"
            ))),
            Some(t) if t == [me] => Ok(()),
            Some(_) => Err(ControlError::InvalidReplicaAssignment(format!(
                "a single node can only hold replicas on broker {me}"
            ))),
        };
        Box::pin(std::future::ready(out))
    }

    fn reassignments(
        &self,
        _wanted: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<(String, Vec<ReassignmentView>)> {
        Vec::new()
    }

    fn apply_changes(&self) {}

    fn cluster_id(&self) -> String {
        self.node.cluster_id.clone()
    }

    fn controller_id(&self) -> i32 {
        self.node.node_id()
    }

    fn live_brokers(&self, listener: &str) -> Vec<BrokerView> {
        let l = self
            .node
            .advertised
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|l| l.name == listener)
            .cloned();
        let rack = Some(self.node.broker_setting("broker.rack")).filter(|r| !r.is_empty());
        l.map(|l| {
            vec![BrokerView {
                id: self.node.node_id(),
                host: l.host,
                port: l.port,
                rack,
            }]
        })
        .unwrap_or_default()
    }

    fn partitions(&self, topic: &TopicState) -> Vec<PartitionView> {
        local_partitions(self.node.node_id(), topic)
    }

    fn replicated(&self) -> bool {
        false
    }

    fn create_acls(&self, bindings: Vec<AclBinding>) -> Result<(), ControlError> {
        self.change_acls(|acls| acls.extend(bindings))
    }

    fn delete_acls(&self, bindings: Vec<AclBinding>) -> Result<(), ControlError> {
        self.change_acls(|acls| {
            for b in &bindings {
                acls.remove(b);
            }
        })
    }

    fn client_quotas(&self) -> crate::security::quota::ClientQuotaMap {
        self.node.meta().image.client_quotas.clone()
    }

    fn alter_client_quotas(
        &self,
        changes: Vec<crate::security::quota::QuotaAlteration>,
    ) -> Result<(), ControlError> {
        let mut meta = self.node.meta();
        let before = meta.image.client_quotas.clone();
        meta.image.client_quotas.apply(&changes);
        if let Err(e) = meta.save() {
            meta.image.client_quotas = before;
            return Err(ControlError::Storage(e.to_string()));
        }
        Ok(())
    }

    fn unregister_broker(&self, id: i32) -> BoxFuture<'_, Result<(), ControlError>> {
        let out = if id == self.node.node_id() {
            Err(ControlError::InvalidRequest(
                "a single node cannot unregister itself".into(),
            ))
        } else {
            Err(ControlError::Refused(
                crate::cluster::image::Refusal::UnknownBroker,
                format!("broker {id} is not registered"),
            ))
        };
        Box::pin(async move { out })
    }

    fn finalized_features(&self) -> crate::features::Finalized {
        self.node.meta().image.features.clone()
    }

    fn update_features(
        &self,
        updates: &[crate::features::FeatureUpdate],
        validate_only: bool,
    ) -> Result<(), super::FeatureUpdateFailure> {
        let mut meta = self.node.meta();
        let before = meta.image.features.clone();
        let me = [(self.node.node_id(), crate::features::supported())];
        let levels = crate::features::plan_update(&before, updates, &me)
            .map_err(super::FeatureUpdateFailure::Refused)?;
        if validate_only || levels == before.levels {
            return Ok(());
        }
        meta.image.features = crate::features::Finalized {
            epoch: before.epoch + 1,
            levels,
        };
        if let Err(e) = meta.save() {
            meta.image.features = before;
            return Err(super::FeatureUpdateFailure::Control(ControlError::Storage(
                e.to_string(),
            )));
        }
        Ok(())
    }
}

impl SingleNode {
    /// Changes the stored ACL bindings, persists them (undone if that fails) and reloads the
    /// authorizer, all under the metadata lock so that concurrent changes apply in order.
    fn change_acls(
        &self,
        change: impl FnOnce(&mut std::collections::BTreeSet<AclBinding>),
    ) -> Result<(), ControlError> {
        let mut meta = self.node.meta();
        let before = meta.image.acls.clone();
        change(&mut meta.image.acls);
        if let Err(e) = meta.save() {
            meta.image.acls = before;
            return Err(ControlError::Storage(e.to_string()));
        }
        self.node.authorizer.load(&meta.image.acls);
        Ok(())
    }
}

/// A served topic's partitions as one node leads them: itself the only replica.
pub(crate) fn local_partitions(me: i32, topic: &TopicState) -> Vec<PartitionView> {
    topic
        .partitions
        .iter()
        .map(|p| PartitionView {
            index: p.index,
            leader: me,
            leader_epoch: p.leader_epoch(),
            replicas: vec![me],
            isr: vec![me],
            offline: Vec::new(),
        })
        .collect()
}
