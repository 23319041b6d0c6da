//! AlterPartitionReassignments (v0-v1, KIP-455): per partition, a target replica list (or null
//! to cancel) written to the metadata log; the controller runs the move on the union of old and
//! new replicas and completes it once every target replica is in the ISR. On one node there is
//! nothing to move: only the node itself is a valid target.

use super::{RequestContext, code, sb};
use crate::broker::Broker;
use crate::cluster::image::{Command, Outcome};
use crate::cluster::topics::refusal_error;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};
use std::sync::Arc;

type Failure = (ResponseError, String);

async fn reassign_one(
    broker: &Arc<Broker>,
    topic: &str,
    partition: i32,
    target: Option<Vec<i32>>,
    allow_rf_change: bool,
) -> Result<(), Failure> {
    let Some(cluster) = broker.cluster() else {
        let exists = broker.partition(topic, partition).is_some();
        return match target {
            _ if !exists => Err((
                ResponseError::UnknownTopicOrPartition,
                format!("{topic}-{partition} does not exist"),
            )),
            None => Err((
                ResponseError::NoReassignmentInProgress,
                format!("no reassignment of {topic}-{partition} is in progress"),
            )),
            Some(t) if t == [broker.node_id()] => Ok(()),
            Some(_) => Err((
                ResponseError::InvalidReplicaAssignment,
                format!(
                    "a single node can only hold replicas on broker {}",
                    broker.node_id()
                ),
            )),
        };
    };
    if let Some(t) = &target
        && !allow_rf_change
    {
        let img = cluster.image();
        let current = img
            .reassignments
            .get(topic)
            .and_then(|m| m.get(&partition))
            .map(|r| r.original.len())
            .or_else(|| {
                img.topics
                    .get(topic)
                    .and_then(|ti| ti.partitions.get(usize::try_from(partition).ok()?))
                    .map(|p| p.replicas.len())
            });
        if let Some(n) = current
            && n != t.len()
        {
            return Err((
                ResponseError::InvalidReplicationFactor,
                format!(
                    "{topic}-{partition} has {n} replicas, the target {}; the request does not allow changing the replication factor",
                    t.len()
                ),
            ));
        }
    }
    let cmd = Command::AlterReassignment {
        topic: topic.to_string(),
        partition,
        target,
    };
    match cluster.write(cmd).await {
        Ok(Outcome::Ok) => Ok(()),
        Ok(Outcome::Refused(r, m)) => Err((refusal_error(r), m)),
        Err(m) => Err((ResponseError::RequestTimedOut, m)),
    }
}

#[tracing::instrument(skip_all)]
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let allow_rf_change = ctx.api_version < 1 || req.allow_replication_factor_change;
    let mut responses = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let mut parts = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let target = p
                .replicas
                .as_ref()
                .map(|r| r.iter().map(|b| b.0).collect::<Vec<i32>>());
            let outcome = reassign_one(
                broker,
                t.name.as_str(),
                p.partition_index,
                target,
                allow_rf_change,
            )
            .await;
            let r =
                ReassignablePartitionResponse::default().with_partition_index(p.partition_index);
            parts.push(match outcome {
                Ok(()) => r,
                Err((e, m)) => r.with_error_code(code(e)).with_error_message(Some(sb(&m))),
            });
        }
        responses.push(
            ReassignableTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(parts),
        );
    }
    if let Some(c) = broker.cluster() {
        let img = c.image().clone();
        broker.reconcile(&img);
    }
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(allow_rf_change)
        .with_responses(responses)
}
