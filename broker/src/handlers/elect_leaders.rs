//! ElectLeaders (v0-v2): preferred (0) or unclean (1) leader election per partition, through the
//! controller in cluster mode. A single node always leads with its preferred (only) replica.

use super::errors::TopicError;
use super::{RequestContext, errors, sb};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &RequestContext, req: ElectLeadersRequest) -> ElectLeadersResponse {
    let unclean = ctx.api_version >= 1 && req.election_type == 1;
    if ctx.api_version >= 1 && !matches!(req.election_type, 0 | 1) {
        return ElectLeadersResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code());
    }
    if !ctx.authorize_cluster(Operation::Alter) {
        return denied(ctx, &req);
    }
    // (topic, partitions) asked for; null means every partition.
    let targets: Vec<(String, Vec<i32>)> = match &req.topic_partitions {
        Some(tps) => tps
            .iter()
            .map(|t| (t.topic.to_string(), t.partitions.clone()))
            .collect(),
        None => ctx
            .node
            .topics()
            .iter()
            .filter(|t| !t.internal)
            .map(|t| (t.name.clone(), (0..t.partitions.len() as i32).collect()))
            .collect(),
    };
    let mut results = Vec::with_capacity(targets.len());
    for (topic, partitions) in targets {
        let mut prs = Vec::with_capacity(partitions.len());
        for partition in partitions {
            let (e, msg) = match ctx
                .metadata
                .elect_leader(&topic, partition, unclean)
                .await
                .map_err(TopicError::from)
            {
                Ok(()) => (None, String::new()),
                Err(TopicError {
                    code: e,
                    message: m,
                }) => (Some(e), m),
            };
            let mut pr = PartitionResult::default().with_partition_id(partition);
            if let Some(e) = e {
                pr = pr
                    .with_error_code(e.code())
                    .with_error_message(Some(sb(&msg)));
            }
            prs.push(pr);
        }
        results.push(
            ReplicaElectionResult::default()
                .with_topic(TopicName(sb(&topic)))
                .with_partition_result(prs),
        );
    }
    ctx.metadata.apply_changes();
    ElectLeadersResponse::default().with_replica_election_results(results)
}

/// ElectLeaders without ALTER on the cluster: the top-level error and every partition asked
/// for refused (Kafka's answer).
fn denied(ctx: &RequestContext, req: &ElectLeadersRequest) -> ElectLeadersResponse {
    let e = errors::denied(ResourceType::Cluster);
    let results = req
        .topic_partitions
        .iter()
        .flatten()
        .map(|t| {
            let prs = t
                .partitions
                .iter()
                .map(|p| {
                    PartitionResult::default()
                        .with_partition_id(*p)
                        .with_error_code(e.code())
                        .with_error_message(Some(sb("ALTER on the cluster is not authorized")))
                })
                .collect();
            ReplicaElectionResult::default()
                .with_topic(t.topic.clone())
                .with_partition_result(prs)
        })
        .collect();
    let resp = ElectLeadersResponse::default().with_replica_election_results(results);
    if ctx.api_version >= 1 {
        resp.with_error_code(e.code())
    } else {
        resp
    }
}
