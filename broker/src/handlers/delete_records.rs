//! DeleteRecords (v0-v2): moves each partition's log start offset (-1 = high watermark) and
//! answers with the new low watermark.

use super::{RequestContext, code, errors};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &RequestContext, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let deletable = ctx.authorize(Operation::Delete, ResourceType::Topic, t.name.as_str());
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    if !deletable {
                        return r.with_error_code(code(errors::denied(ResourceType::Topic)));
                    }
                    let outcome = ctx
                        .node
                        .partition(t.name.as_str(), p.partition_index)
                        .ok_or(ResponseError::UnknownTopicOrPartition)
                        .and_then(|part| {
                            part.delete_records(p.offset).map_err(ResponseError::from)
                        });
                    match outcome {
                        Ok(low) => {
                            tracing::info!(
                                topic = t.name.as_str(),
                                partition = p.partition_index,
                                low_watermark = low,
                                "deleted records"
                            );
                            r.with_low_watermark(low)
                        }
                        Err(e) => r.with_error_code(code(e)),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
