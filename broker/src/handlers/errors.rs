//! The one place where the broker's layer errors become Kafka error codes: metadata control
//! errors and refusals (`control/`, `cluster/image`), record-batch and log errors (`log/`, as
//! the partition layer reports them), config alter errors (`config/view`), consumer-group
//! errors (`group/`), v0/v1 message-set errors (`handlers/legacy`), and authorization denials
//! and unusable ACL bindings (`security/acl`). Layers below the
//! handlers never import this file: they return their own errors, or convert through the
//! `From` impls defined here.

use crate::cluster::image::Refusal;
use crate::config::view::AlterError;
use crate::group::{FindError, GroupError};
use crate::handlers::legacy::message_set::FormatError;
use crate::log::LogError;
use crate::log::batch::BatchError;
use crate::metadata::ControlError;
use crate::metadata::MetadataError;
use crate::partition::validator::ValidationError;
use crate::partition::{PartitionError, SequenceError, TxnVerifyError};
use crate::replication::IsrWaitError;
use crate::security::acl::{AclError, ResourceType};
use kafka_protocol::error::ResponseError;

/// The error an operation the authorizer refused answers with, by the refused resource's type.
pub fn denied(rt: ResourceType) -> ResponseError {
    match rt {
        ResourceType::Topic => ResponseError::TopicAuthorizationFailed,
        ResourceType::Group => ResponseError::GroupAuthorizationFailed,
        ResourceType::Cluster => ResponseError::ClusterAuthorizationFailed,
        ResourceType::TransactionalId => ResponseError::TransactionalIdAuthorizationFailed,
    }
}

/// The error an ACL binding or filter that cannot be used answers with.
pub fn acl(_: &AclError) -> ResponseError {
    ResponseError::InvalidRequest
}

/// The error a metadata command refused by the controller answers with.
pub fn refusal(r: Refusal) -> ResponseError {
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
        Refusal::UnsupportedFeatureLevel => ResponseError::InvalidUpdateVersion,
        Refusal::BrokerInUse => ResponseError::InvalidRequest,
    }
}

impl From<IsrWaitError> for ResponseError {
    fn from(e: IsrWaitError) -> Self {
        match e {
            IsrWaitError::NotLeader => ResponseError::NotLeaderOrFollower,
            IsrWaitError::Timeout => ResponseError::RequestTimedOut,
            IsrWaitError::BelowMinIsr => ResponseError::NotEnoughReplicasAfterAppend,
        }
    }
}

impl From<crate::fetch_session::SessionError> for ResponseError {
    fn from(e: crate::fetch_session::SessionError) -> Self {
        match e {
            crate::fetch_session::SessionError::IdNotFound => ResponseError::FetchSessionIdNotFound,
            crate::fetch_session::SessionError::InvalidEpoch => {
                ResponseError::InvalidFetchSessionEpoch
            }
        }
    }
}

impl From<MetadataError> for ResponseError {
    fn from(_: MetadataError) -> Self {
        ResponseError::KafkaStorageError
    }
}

impl From<PartitionError> for ResponseError {
    fn from(e: PartitionError) -> Self {
        partition(&e)
    }
}

/// The error a refused partition read or write answers with.
pub fn partition(e: &PartitionError) -> ResponseError {
    match e {
        PartitionError::Batch(b) => batch(b),
        PartitionError::NotOneBatch => ResponseError::InvalidRecord,
        // Kafka's LogValidator refuses client control batches as invalid records.
        PartitionError::Transactional => ResponseError::InvalidRecord,
        // Kafka 3.6+ answers a failed transaction verification with INVALID_TXN_STATE.
        PartitionError::Txn(TxnVerifyError::NotInTransaction | TxnVerifyError::Unsupported) => {
            ResponseError::InvalidTxnState
        }
        PartitionError::Txn(TxnVerifyError::Fenced) => ResponseError::InvalidProducerEpoch,
        // As Kafka answers a verification its coordinator could not give: retriable for
        // every client version.
        PartitionError::Txn(TxnVerifyError::Retriable) => ResponseError::NotEnoughReplicas,
        PartitionError::NotLeader => ResponseError::NotLeaderOrFollower,
        PartitionError::NotEnoughReplicas => ResponseError::NotEnoughReplicas,
        PartitionError::TooLarge => ResponseError::MessageTooLarge,
        PartitionError::Sequence(SequenceError::OutOfOrder) => {
            ResponseError::OutOfOrderSequenceNumber
        }
        PartitionError::Sequence(SequenceError::InvalidEpoch) => {
            ResponseError::InvalidProducerEpoch
        }
        PartitionError::OffsetOutOfRange => ResponseError::OffsetOutOfRange,
        PartitionError::Log(l) => log(l),
        PartitionError::Storage => ResponseError::KafkaStorageError,
        PartitionError::Corrupt => ResponseError::CorruptMessage,
        PartitionError::StaleLeaderEpoch => ResponseError::FencedLeaderEpoch,
        PartitionError::Records(ValidationError::InvalidRecords { .. }) => {
            ResponseError::InvalidRecord
        }
        PartitionError::Records(ValidationError::InvalidTimestamps { .. }) => {
            ResponseError::InvalidTimestamp
        }
        PartitionError::Records(ValidationError::Corrupt(_)) => ResponseError::CorruptMessage,
    }
}

/// The Produce error for a record batch that does not parse.
pub fn batch(e: &BatchError) -> ResponseError {
    match e {
        BatchError::UnsupportedMagic(_) => ResponseError::UnsupportedForMessageFormat,
        BatchError::CrcMismatch { .. } | BatchError::Truncated(_) => ResponseError::CorruptMessage,
        BatchError::Invalid(_) => ResponseError::InvalidRecord,
    }
}

/// The Fetch/replication error for a failed log lookup.
pub fn log(e: &LogError) -> ResponseError {
    match e {
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        LogError::Io { .. } => ResponseError::KafkaStorageError,
    }
}

/// The error an alter of configs answers with, and its message.
pub fn alter(e: AlterError) -> (ResponseError, String) {
    match e {
        AlterError::InvalidConfig(m) => (ResponseError::InvalidConfig, m),
        AlterError::InvalidRequest(m) => (ResponseError::InvalidRequest, m),
    }
}

/// What a handler answers for one topic or config resource: the Kafka error code and a
/// message for the client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct TopicError {
    pub code: ResponseError,
    pub message: String,
}

impl TopicError {
    pub fn new(code: ResponseError, message: impl Into<String>) -> Self {
        TopicError {
            code,
            message: message.into(),
        }
    }
}

/// The error a failed metadata change or lookup answers with.
pub fn control(e: &ControlError) -> ResponseError {
    match e {
        ControlError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
        ControlError::TopicExists(_) => ResponseError::TopicAlreadyExists,
        ControlError::InvalidTopic(_) => ResponseError::InvalidTopicException,
        ControlError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        ControlError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
        ControlError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
        ControlError::InvalidConfig(_) => ResponseError::InvalidConfig,
        ControlError::InvalidRequest(_) => ResponseError::InvalidRequest,
        ControlError::ElectionNotNeeded(_) => ResponseError::ElectionNotNeeded,
        ControlError::NoReassignmentInProgress(_) => ResponseError::NoReassignmentInProgress,
        ControlError::Storage(_) => ResponseError::KafkaStorageError,
        ControlError::Timeout(_) => ResponseError::RequestTimedOut,
        ControlError::Refused(r, _) => refusal(*r),
    }
}

impl From<ControlError> for TopicError {
    fn from(e: ControlError) -> Self {
        TopicError::new(control(&e), e.to_string())
    }
}

impl From<crate::security::quota::QuotaError> for TopicError {
    /// A bad quota entity, key or value (AlterClientQuotas): INVALID_REQUEST, as in Kafka.
    fn from(e: crate::security::quota::QuotaError) -> Self {
        TopicError::new(ResponseError::InvalidRequest, e.to_string())
    }
}

impl From<AlterError> for TopicError {
    fn from(e: AlterError) -> Self {
        let (code, message) = alter(e);
        TopicError::new(code, message)
    }
}

impl FormatError {
    /// The Produce error code Kafka answers with for a v0/v1 message set.
    pub fn response_error(&self) -> ResponseError {
        match self {
            Self::Codec(4) => ResponseError::UnsupportedCompressionType,
            _ => ResponseError::CorruptMessage,
        }
    }
}

// Consumer groups (`group/`).

impl From<GroupError> for ResponseError {
    fn from(e: GroupError) -> Self {
        match e {
            GroupError::InvalidGroupId => ResponseError::InvalidGroupId,
            GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
            GroupError::NotCoordinator => ResponseError::NotCoordinator,
            GroupError::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
            GroupError::Timeout => ResponseError::RequestTimedOut,
            GroupError::Storage => ResponseError::KafkaStorageError,
            GroupError::UnknownMember => ResponseError::UnknownMemberId,
            GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
            GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
            GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
            GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
            GroupError::InconsistentProtocol => ResponseError::InconsistentGroupProtocol,
            GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
            GroupError::GroupNotFound => ResponseError::GroupIdNotFound,
            GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
            GroupError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
            GroupError::OffsetMetadataTooLarge => ResponseError::OffsetMetadataTooLarge,
            GroupError::SubscribedToTopic => ResponseError::GroupSubscribedToTopic,
            GroupError::FencedMemberEpoch => ResponseError::FencedMemberEpoch,
            GroupError::UnreleasedInstanceId => ResponseError::UnreleasedInstanceId,
            GroupError::UnsupportedAssignor => ResponseError::UnsupportedAssignor,
            GroupError::StaleMemberEpoch => ResponseError::StaleMemberEpoch,
            GroupError::InvalidRequest => ResponseError::InvalidRequest,
            GroupError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
            GroupError::InvalidRegularExpression => ResponseError::InvalidRegularExpression,
            // Kafka: a classic request to a consumer group (and the other way round).
        }
    }
}

impl GroupError {
    /// The Kafka error code a group API answers with.
    pub fn code(self) -> i16 {
        ResponseError::from(self).code()
    }
}

/// FindCoordinator cannot name a coordinator yet: retriable.
impl From<&FindError> for ResponseError {
    fn from(_: &FindError) -> Self {
        ResponseError::CoordinatorNotAvailable
    }
}

/// The error a follower's fetch of one partition answers with (`replication/`).
impl From<crate::replication::FollowerFetchError> for ResponseError {
    fn from(e: crate::replication::FollowerFetchError) -> Self {
        use crate::replication::FollowerFetchError as E;
        match e {
            E::UnknownPartition => ResponseError::UnknownTopicOrPartition,
            E::NotLeader => ResponseError::NotLeaderOrFollower,
            E::UnknownLeaderEpoch => ResponseError::UnknownLeaderEpoch,
            E::FencedLeaderEpoch => ResponseError::FencedLeaderEpoch,
            E::Read(e) => partition(&e),
        }
    }
}

/// The error a failed SASL handshake or authentication step answers with.
pub fn sasl(e: &crate::security::sasl::SaslError) -> ResponseError {
    use crate::security::sasl::SaslError;
    match e {
        SaslError::UnsupportedMechanism(_) => ResponseError::UnsupportedSaslMechanism,
        SaslError::IllegalState(_) => ResponseError::IllegalSaslState,
        SaslError::Failed { .. } | SaslError::PrincipalChanged { .. } => {
            ResponseError::SaslAuthenticationFailed
        }
    }
}

/// The error a refused transaction-coordinator request answers with. `fenced_code`: the
/// request version knows PRODUCER_FENCED (older versions get INVALID_PRODUCER_EPOCH, as
/// Kafka answers them).
pub fn txn(e: crate::txn::state::TxnError, fenced_code: bool) -> ResponseError {
    use crate::txn::state::TxnError;
    match e {
        TxnError::InvalidProducerIdMapping => ResponseError::InvalidProducerIdMapping,
        TxnError::ProducerFenced if fenced_code => ResponseError::ProducerFenced,
        TxnError::ProducerFenced | TxnError::InvalidProducerEpoch => {
            ResponseError::InvalidProducerEpoch
        }
        TxnError::ConcurrentTransactions => ResponseError::ConcurrentTransactions,
        TxnError::InvalidTxnState => ResponseError::InvalidTxnState,
        TxnError::InvalidTransactionTimeout => ResponseError::InvalidTransactionTimeout,
        // Retriable: the client tries again (a failed write leaves the state unchanged).
        TxnError::CoordinatorNotAvailable | TxnError::Storage => {
            ResponseError::CoordinatorNotAvailable
        }
        // Fatal and clearly named in every client, where a retriable code would loop.
        TxnError::Unsupported => ResponseError::TransactionalIdAuthorizationFailed,
        TxnError::NotCoordinator => ResponseError::NotCoordinator,
        TxnError::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
    }
}
