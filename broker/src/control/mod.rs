//! Metadata control: every topic, partition, config, reassignment and ACL change, and every lookup
//! of cluster-wide metadata (brokers, controller, leaders, stored configs), behind one trait.
//! Two implementations: `single_node` (the local metadata file) and `quorum` (the Raft metadata
//! log of `cluster/`). Handlers and the group coordinator call the trait and never ask which
//! mode the broker runs in.

pub mod quorum;
pub mod single_node;

pub use crate::node::ControlError;
use crate::node::TopicState;
use crate::security::acl::AclBinding;
use crate::security::sasl::credentials::{ScramAlteration, ScramUsers};
use crate::security::sasl::scram::{ScramCredential, ScramMechanism};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Arc;

pub use quorum::Quorum;
pub use single_node::SingleNode;

/// A CreateTopics entry: -1 partitions/replication factor take the broker defaults.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
    /// Explicit replica lists as the request gave them: (partition index, broker ids).
    pub assignment: Option<Vec<(i32, Vec<i32>)>>,
    pub validate_only: bool,
}

/// The kind of resource a config change addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigResource {
    Topic,
    Broker,
}

/// A broker as Metadata and DescribeCluster show it.
#[derive(Debug, Clone)]
pub struct BrokerView {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

/// A partition as Metadata shows it.
#[derive(Debug, Clone)]
pub struct PartitionView {
    pub index: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
}

/// A reassignment in progress, as ListPartitionReassignments shows it.
#[derive(Debug, Clone)]
pub struct ReassignmentView {
    pub index: i32,
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// Metadata changes and lookups, whatever the mode (see the module comment).
pub trait MetadataControl: Send + Sync {
    /// Creates a topic (or only checks it, `validate_only`).
    fn create_topic(&self, topic: NewTopic) -> Result<(), ControlError>;

    /// Creates the internal topic `name` if it is missing (single node: at start; the quorum
    /// creates its replicated `__consumer_offsets` on demand, see group/replicated.rs).
    fn create_internal_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<(), ControlError>;

    /// The topic, created with broker defaults when auto-creation is on.
    fn topic_or_auto_create(&self, name: &str) -> Result<Arc<TopicState>, ControlError>;

    /// Deletes a topic and its data; returns its id.
    fn delete_topic(&self, name: &str) -> Result<uuid::Uuid, ControlError>;

    /// Grows a topic to `count` partitions, the new ones on `assignment` when given.
    fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignment: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<(), ControlError>;

    /// Whether a broker resource name addresses a broker whose configs this broker can show and
    /// change ("" is the cluster-wide default).
    fn knows_broker(&self, name: &str) -> bool;

    /// The override set stored for a resource (a broker's: its own dynamic entry, "" = the
    /// cluster-wide default).
    fn stored_configs(&self, resource: ConfigResource, name: &str) -> BTreeMap<String, String>;

    /// The effective dynamic configs of broker resource `name`, for DescribeConfigs.
    fn effective_broker_configs(&self, name: &str) -> BTreeMap<String, String>;

    /// Stores a new override set for a resource (applied live, persisted). With `expected`, a
    /// compare-and-set: Ok(false) when the stored set is no longer `expected` (recompute).
    fn set_configs(
        &self,
        resource: ConfigResource,
        name: &str,
        configs: BTreeMap<String, String>,
        expected: Option<BTreeMap<String, String>>,
    ) -> Result<bool, ControlError>;

    /// Elects a leader for one partition (preferred, or any replica when `unclean`).
    fn elect_leader(
        &self,
        topic: &str,
        partition: i32,
        unclean: bool,
    ) -> BoxFuture<'_, Result<(), ControlError>>;

    /// Starts (`target`) or cancels (None) a partition reassignment.
    fn alter_reassignment(
        &self,
        topic: &str,
        partition: i32,
        target: Option<Vec<i32>>,
        allow_rf_change: bool,
    ) -> BoxFuture<'_, Result<(), ControlError>>;

    /// Reassignments in progress by topic; `wanted` None means all of them.
    fn reassignments(
        &self,
        wanted: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<(String, Vec<ReassignmentView>)>;

    /// Brings the partitions this broker serves in line with the metadata after changes.
    fn apply_changes(&self);

    /// The cluster id.
    fn cluster_id(&self) -> String;

    /// The active controller (-1 when none is known).
    fn controller_id(&self) -> i32;

    /// The live brokers; `listener` picks this node's advertised address on one node.
    fn live_brokers(&self, listener: &str) -> Vec<BrokerView>;

    /// Every registered broker with whether it is fenced (DescribeCluster v2). A single node is
    /// never fenced to itself.
    fn registered_brokers(&self, listener: &str) -> Vec<(BrokerView, bool)> {
        self.live_brokers(listener)
            .into_iter()
            .map(|b| (b, false))
            .collect()
    }

    /// The partitions of a served topic with their leaders, replicas and ISR.
    fn partitions(&self, topic: &TopicState) -> Vec<PartitionView>;

    /// Whether partitions are replicated to other brokers. Read once, when the broker composes
    /// its layers: replication (followers fetch, acks=all waits for the ISR, epochs come from the
    /// replicated leader-epoch cache) and the group coordinator (coordinators are partition
    /// leaders of `__consumer_offsets`) decide from it; handlers never ask.
    fn replicated(&self) -> bool;

    /// The SCRAM credential of `user` for `mechanism`: the in-memory metadata image the SASL
    /// authenticator reads.
    fn scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential>;

    /// Every user's SCRAM credentials (DescribeUserScramCredentials).
    fn scram_users(&self) -> ScramUsers;

    /// Applies SCRAM credential changes in order and persists them (single node: the local
    /// metadata file; cluster mode: the metadata log, so every broker sees them).
    fn alter_scram_credentials(
        &self,
        alterations: Vec<ScramAlteration>,
    ) -> Result<(), ControlError>;

    /// Adds ACL bindings (CreateAcls), persisted; this broker's authorizer applies them before
    /// it returns (the others when they apply the image).
    fn create_acls(&self, bindings: Vec<AclBinding>) -> Result<(), ControlError>;

    /// Removes exactly these ACL bindings (the ones DeleteAcls' filters matched).
    fn delete_acls(&self, bindings: Vec<AclBinding>) -> Result<(), ControlError>;

    /// The stored client quotas (DescribeClientQuotas; the quota manager's source).
    fn client_quotas(&self) -> crate::security::quota::ClientQuotaMap;

    /// Applies validated client-quota changes (persisted; in cluster mode through the metadata
    /// log, so every broker enforces them).
    fn alter_client_quotas(
        &self,
        changes: Vec<crate::security::quota::QuotaAlteration>,
    ) -> Result<(), ControlError>;

    /// UnregisterBroker: forgets a drained broker (registration, controller address, Raft
    /// learner). Refused while it holds replicas or is a controller voter.
    fn unregister_broker(&self, id: i32) -> BoxFuture<'_, Result<(), ControlError>>;

    /// The cluster's finalized feature levels (ApiVersions v3+).
    fn finalized_features(&self) -> crate::features::Finalized;

    /// UpdateFeatures: all of `updates` or none, checked against every registered broker's
    /// supported levels; nothing changes when `validate_only`.
    fn update_features(
        &self,
        updates: &[crate::features::FeatureUpdate],
        validate_only: bool,
    ) -> Result<(), FeatureUpdateFailure>;
}

/// Why UpdateFeatures changed nothing.
#[derive(Debug)]
pub enum FeatureUpdateFailure {
    /// The updates themselves were refused, per feature.
    Refused(Vec<crate::features::UpdateError>),
    /// Storing them failed (storage, quorum timeout, a refusal at apply time).
    Control(ControlError),
}

/// The topic, created with broker defaults by `create` when auto-creation is on (both modes).
pub(crate) fn topic_or_auto_create(
    node: &crate::node::Node,
    name: &str,
    create: impl FnOnce(NewTopic) -> Result<(), ControlError>,
) -> Result<Arc<TopicState>, ControlError> {
    if let Some(t) = node.topic(name) {
        return Ok(t);
    }
    if !node.auto_create_enabled() {
        return Err(ControlError::UnknownTopic(format!(
            "topic {name} does not exist"
        )));
    }
    let topic = NewTopic {
        name: name.to_string(),
        partitions: -1,
        replication_factor: -1,
        configs: BTreeMap::new(),
        assignment: None,
        validate_only: false,
    };
    match create(topic) {
        Ok(()) | Err(ControlError::TopicExists(_)) => {}
        Err(e) => return Err(e),
    }
    node.topic(name)
        .ok_or(ControlError::UnknownTopic(format!("topic {name} vanished")))
}

/// Explicit replica lists by partition index (0..n, each listed once).
pub(crate) fn assignment_by_index(
    assignment: Vec<(i32, Vec<i32>)>,
) -> Result<Vec<Vec<i32>>, ControlError> {
    let mut by_index: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for (index, ids) in assignment {
        if by_index.insert(index, ids).is_some() {
            return Err(ControlError::InvalidReplicaAssignment(format!(
                "partition {index} is listed twice"
            )));
        }
    }
    if by_index.keys().enumerate().any(|(i, p)| *p != i as i32) {
        return Err(ControlError::InvalidReplicaAssignment(
            "replica assignment partitions must be 0..n, each listed once".into(),
        ));
    }
    Ok(by_index.into_values().collect())
}

/// Creates the `--add-scram` users that have no credential for their mechanism yet (a restart
/// keeps what AlterUserScramCredentials changed since). Failures are logged: the broker still
/// serves, and the users can be created through the API.
pub fn bootstrap_scram(
    control: &dyn MetadataControl,
    users: &[crate::security::sasl::credentials::BootstrapScram],
) {
    for u in users {
        if control.scram_credential(&u.user, u.mechanism).is_some() {
            continue;
        }
        let result = ScramCredential::from_password(u.mechanism, &u.password, u.iterations)
            .map_err(|e| ControlError::Storage(e.to_string()))
            .and_then(|credential| {
                control.alter_scram_credentials(vec![ScramAlteration::Upsert {
                    user: u.user.clone(),
                    mechanism: u.mechanism,
                    credential,
                }])
            });
        match result {
            Ok(()) => {
                tracing::info!(user = %u.user, mechanism = %u.mechanism, "created the bootstrap SCRAM user");
            }
            Err(e) => {
                tracing::error!(user = %u.user, mechanism = %u.mechanism, error = %e, "creating the bootstrap SCRAM user failed");
            }
        }
    }
}
