//! What a group request can fail with, named for what happened; `handlers/errors.rs` turns
//! each into the Kafka error code the group APIs answer with.

use crate::partition::PartitionError;
use crate::replication::IsrWaitError;

/// Why a consumer-group request (or one partition of it) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("the group id is empty")]
    InvalidGroupId,
    #[error("the group coordinator is not available")]
    CoordinatorNotAvailable,
    #[error("this broker does not coordinate the group")]
    NotCoordinator,
    #[error("the group's offsets partition is still being loaded")]
    CoordinatorLoadInProgress,
    #[error("the offsets write did not reach the in-sync replicas in time")]
    Timeout,
    #[error("the offsets write could not be made durable")]
    Storage,
    #[error("the member is not in the group")]
    UnknownMember,
    #[error("a new member must rejoin with the member id it was given")]
    MemberIdRequired,
    #[error("the member's generation is not the group's")]
    IllegalGeneration,
    #[error("the group is rebalancing")]
    RebalanceInProgress,
    #[error("another member joined with the same group instance id")]
    FencedInstanceId,
    #[error("the member's protocols do not match the group's")]
    InconsistentProtocol,
    #[error("the session timeout is outside the broker's bounds")]
    InvalidSessionTimeout,
    #[error("the group does not exist")]
    GroupNotFound,
    #[error("the group has members")]
    NonEmptyGroup,
    #[error("the topic or partition does not exist")]
    UnknownTopicOrPartition,
    #[error("the commit metadata is too large")]
    OffsetMetadataTooLarge,
    #[error("the group is subscribed to the topic")]
    SubscribedToTopic,
    // KIP-848 consumer groups (group/consumer/).
    #[error("the member epoch is fenced: the member must rejoin")]
    FencedMemberEpoch,
    #[error("the instance id is still used by an active member")]
    UnreleasedInstanceId,
    #[error("the server assignor is not supported")]
    UnsupportedAssignor,
    #[error("the member epoch is stale")]
    StaleMemberEpoch,
    #[error("the request is invalid")]
    InvalidRequest,
    #[error("the group has reached its maximum size")]
    GroupMaxSizeReached,
    #[error("the subscription's regular expression is not valid")]
    InvalidRegularExpression,
}

impl GroupError {
    /// An append to the group's `__consumer_offsets` partition failed with `e` (cluster mode:
    /// the partition's leadership and ISR decide; on one node every failure is the log's).
    pub(crate) fn append(group_id: &str, cluster: bool, e: &PartitionError) -> Self {
        match e {
            PartitionError::NotLeader if cluster => GroupError::NotCoordinator,
            PartitionError::NotEnoughReplicas if cluster => {
                tracing::debug!(
                    group = group_id,
                    "__consumer_offsets is below min.insync.replicas"
                );
                GroupError::CoordinatorNotAvailable
            }
            other if cluster => {
                tracing::error!(group = group_id, error = %other, "appending to the consumer-offsets log failed");
                GroupError::CoordinatorNotAvailable
            }
            other => {
                tracing::error!(group = group_id, error = ?other, "appending to the consumer-offsets log failed");
                GroupError::CoordinatorNotAvailable
            }
        }
    }
}

/// A write to `__consumer_offsets` did not reach the ISR.
impl From<IsrWaitError> for GroupError {
    fn from(e: IsrWaitError) -> Self {
        match e {
            IsrWaitError::NotLeader => GroupError::NotCoordinator,
            IsrWaitError::Timeout => GroupError::Timeout,
            IsrWaitError::BelowMinIsr => GroupError::CoordinatorNotAvailable,
        }
    }
}

/// Why FindCoordinator cannot name a coordinator for a group (all retriable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FindError {
    #[error("not in cluster mode")]
    NotInCluster,
    #[error("this broker is still catching up on the cluster metadata")]
    CatchingUp,
    #[error("the {} topic is being created", super::store::TOPIC)]
    CreatingTopic,
    #[error("{}-{partition} has no live leader", super::store::TOPIC)]
    NoLiveLeader { partition: i32 },
    #[error("no advertised listener for this connection")]
    NoListener,
}

#[cfg(test)]
mod tests {
    use super::FindError;

    /// FindCoordinator sends these messages to clients: they stay as they were.
    #[test]
    fn find_errors_keep_their_client_messages() {
        assert_eq!(
            FindError::CreatingTopic.to_string(),
            "the __consumer_offsets topic is being created"
        );
        assert_eq!(
            FindError::NoLiveLeader { partition: 7 }.to_string(),
            "__consumer_offsets-7 has no live leader"
        );
        assert_eq!(
            FindError::CatchingUp.to_string(),
            "this broker is still catching up on the cluster metadata"
        );
    }
}
