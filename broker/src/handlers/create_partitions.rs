//! CreatePartitions (v0-v3): grows a topic; shrinking or keeping the count is refused with
//! INVALID_PARTITIONS, assignments must name this node only (in cluster mode: registered brokers,
//! one list per new partition, the topic's replication factor), validate_only changes nothing.

use super::errors::TopicError;
use super::{RequestContext, code, errors, sb};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

#[tracing::instrument(skip_all, fields(validate_only = req.validate_only))]
pub async fn handle(
    ctx: &RequestContext,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let results = req
        .topics
        .iter()
        .map(|t| {
            // Explicit assignments are checked (and honoured by the controller in a cluster).
            let assignment = t.assignments.as_ref().map(|a| {
                a.iter()
                    .map(|p| p.broker_ids.iter().map(|b| b.0).collect())
                    .collect()
            });
            let outcome = if ctx.authorize(Operation::Alter, ResourceType::Topic, t.name.as_str()) {
                ctx.metadata
                    .create_partitions(t.name.as_str(), t.count, assignment, req.validate_only)
                    .map_err(TopicError::from)
            } else {
                Err(TopicError::new(
                    errors::denied(ResourceType::Topic),
                    format!("ALTER on topic {} is not authorized", t.name.as_str()),
                ))
            };
            let r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            match outcome {
                Ok(()) => r,
                Err(TopicError {
                    code: e,
                    message: msg,
                }) => r
                    .with_error_code(code(e))
                    .with_error_message(Some(sb(&msg))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
