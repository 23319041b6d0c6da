//! DescribeLogDirs (v1-v4): the one data directory with every (requested) partition's size and
//! offset lag 0 (there are no future replicas), and its total/usable bytes on v4 (statvfs).

use super::{RequestContext, code, errors, sb};
use crate::node::TopicState;
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};

fn describe_topic(t: &TopicState, only: Option<&[i32]>) -> DescribeLogDirsTopic {
    let partitions = t
        .partitions
        .iter()
        .filter(|p| only.is_none_or(|o| o.contains(&p.index)))
        .map(|p| {
            DescribeLogDirsPartition::default()
                .with_partition_index(p.index)
                .with_partition_size(i64::try_from(p.size_bytes()).unwrap_or(i64::MAX))
                .with_offset_lag(0)
        })
        .collect();
    DescribeLogDirsTopic::default()
        .with_name(TopicName(sb(&t.name)))
        .with_partitions(partitions)
}

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &RequestContext, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    if !ctx.authorize_cluster(Operation::Describe) {
        // Kafka answers no log dir (and, from v3, the error).
        let resp = DescribeLogDirsResponse::default();
        return if ctx.api_version >= 3 {
            resp.with_error_code(code(errors::denied(ResourceType::Cluster)))
        } else {
            resp
        };
    }
    let topics: Vec<DescribeLogDirsTopic> = match &req.topics {
        None => ctx
            .node
            .topics()
            .iter()
            .map(|t| describe_topic(t, None))
            .collect(),
        Some(wanted) => wanted
            .iter()
            .filter_map(|w| {
                ctx.node
                    .topic(w.topic.as_str())
                    .map(|t| describe_topic(&t, Some(&w.partitions)))
            })
            .filter(|t| !t.partitions.is_empty())
            .collect(),
    };
    let dir = &ctx.node.config.data_dir;
    let shown = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
    let mut result = DescribeLogDirsResult::default()
        .with_log_dir(sb(&shown.to_string_lossy()))
        .with_topics(topics);
    if ctx.api_version >= 4 {
        match crate::node::disk_space(dir) {
            Some((total, usable)) => {
                result = result.with_total_bytes(total).with_usable_bytes(usable);
            }
            None => {
                tracing::warn!(dir = %dir.display(), "statvfs on the data dir failed");
                result = result.with_error_code(code(ResponseError::KafkaStorageError));
            }
        }
    }
    DescribeLogDirsResponse::default().with_results(vec![result])
}
