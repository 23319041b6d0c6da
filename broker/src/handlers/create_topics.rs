//! CreateTopics (v2-v7): -1 partitions/replication factor take the broker defaults, configs are
//! validated against the defs table, validate_only creates nothing, explicit replica assignments
//! are accepted only when every partition lives on this node; v5+ answers with the resulting
//! configs and counts, v7 with the topic id.

use super::errors::TopicError;
use super::{RequestContext, code, errors, sb};
use crate::config::view::{self, Layers};
use crate::control::NewTopic;
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use std::collections::BTreeMap;

fn create_one(
    ctx: &RequestContext,
    t: &CreatableTopic,
    validate_only: bool,
) -> Result<BTreeMap<String, String>, TopicError> {
    let mut configs = BTreeMap::new();
    for c in &t.configs {
        let Some(v) = &c.value else { continue };
        configs.insert(c.name.to_string(), v.to_string());
    }
    let assignment = if t.assignments.is_empty() {
        None
    } else if t.num_partitions != -1 || t.replication_factor != -1 {
        return Err(TopicError::new(
            ResponseError::InvalidRequest,
            "both num_partitions/replication_factor and replica assignments were given",
        ));
    } else {
        Some(
            t.assignments
                .iter()
                .map(|a| {
                    (
                        a.partition_index,
                        a.broker_ids.iter().map(|b| b.0).collect(),
                    )
                })
                .collect(),
        )
    };
    ctx.metadata.create_topic(NewTopic {
        name: t.name.to_string(),
        partitions: t.num_partitions,
        replication_factor: t.replication_factor,
        configs: configs.clone(),
        assignment,
        validate_only,
    })?;
    Ok(configs)
}

#[tracing::instrument(skip_all, fields(topics = req.topics.len(), validate_only = req.validate_only))]
pub async fn handle(ctx: &RequestContext, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let v = ctx.api_version;
    let mut seen = std::collections::HashSet::new();
    // CREATE on the cluster covers every topic; else CREATE on each topic.
    let create_any = ctx.is_authorized_quietly(
        Operation::Create,
        ResourceType::Cluster,
        crate::security::acl::CLUSTER_NAME,
    );
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let result = CreatableTopicResult::default().with_name(t.name.clone());
            let outcome = if !seen.insert(t.name.to_string()) {
                Err(TopicError::new(
                    ResponseError::InvalidRequest,
                    format!("topic {} is listed more than once", t.name.as_str()),
                ))
            } else if !create_any
                && !ctx.authorize(Operation::Create, ResourceType::Topic, t.name.as_str())
            {
                Err(TopicError::new(
                    errors::denied(ResourceType::Topic),
                    format!("CREATE on topic {} is not authorized", t.name.as_str()),
                ))
            } else {
                create_one(ctx, t, req.validate_only)
            };
            match outcome {
                Ok(overrides) => {
                    let mut r = result;
                    if v >= 5 {
                        let dynamic = ctx.node.dynamic_broker_configs();
                        let layers = Layers {
                            dynamic_broker: &dynamic,
                            static_broker: &ctx.node.config.settings,
                        };
                        let configs = view::topic_entries(&overrides, layers)
                            .into_iter()
                            .map(|e| {
                                CreatableTopicConfigs::default()
                                    .with_name(sb(e.name))
                                    .with_value(Some(sb(&e.value)))
                                    .with_read_only(e.read_only)
                                    .with_config_source(e.source.code())
                                    .with_is_sensitive(e.sensitive)
                            })
                            .collect();
                        let (np, rf) = match ctx.node.topic(t.name.as_str()) {
                            Some(state) if !req.validate_only => {
                                (state.partitions.len() as i32, state.replication_factor)
                            }
                            _ => resolved_counts(ctx, t),
                        };
                        r = r
                            .with_num_partitions(np)
                            .with_replication_factor(rf);
                        // The configs are shown only with DESCRIBE_CONFIGS on the topic (Kafka).
                        r = if ctx.is_authorized_quietly(
                            Operation::DescribeConfigs,
                            ResourceType::Topic,
                            t.name.as_str(),
                        ) {
                            r.with_configs(Some(configs))
                        } else {
                            r.with_topic_config_error_code(
                                errors::denied(ResourceType::Topic).code(),
                            )
                        };
                    }
                    if v >= 7 && !req.validate_only
                        && let Some(state) = ctx.node.topic(t.name.as_str()) {
                            r = r.with_topic_id(state.id);
                        }
                    r
                }
                Err(TopicError { code: e, message: msg }) => {
                    tracing::debug!(topic = t.name.as_str(), error = ?e, %msg, "create topic refused");
                    let r = result.with_error_code(code(e)).with_error_message(Some(sb(&msg)));
                    if v >= 5 {
                        r.with_num_partitions(-1).with_replication_factor(-1)
                    } else {
                        r
                    }
                }
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

/// Partition count and replication factor a validate-only request would get.
fn resolved_counts(ctx: &RequestContext, t: &CreatableTopic) -> (i32, i16) {
    if !t.assignments.is_empty() {
        return (t.assignments.len() as i32, 1);
    }
    let np = if t.num_partitions == -1 {
        ctx.node
            .broker_setting("num.partitions")
            .parse()
            .unwrap_or(1)
    } else {
        t.num_partitions
    };
    let rf = if t.replication_factor == -1 {
        ctx.node
            .broker_setting("default.replication.factor")
            .parse()
            .unwrap_or(1)
    } else {
        t.replication_factor
    };
    (np, rf)
}
