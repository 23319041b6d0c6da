//! Metadata: brokers, controller, topics with their partitions, leaders and ISR. Unknown topics
//! are auto-created when the broker and the request allow it (and the principal may CREATE).
//! Listing all topics leaves out those the principal may not DESCRIBE; naming one answers
//! TOPIC_AUTHORIZATION_FAILED.

use super::errors::TopicError;
use super::{RequestContext, code, errors, sb};
use crate::node::TopicState;
use crate::security::acl::{CLUSTER_NAME, Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

pub async fn handle(ctx: &RequestContext, req: MetadataRequest) -> MetadataResponse {
    // v0 asks for all topics with an empty list; v1+ uses null for "all".
    let all = req.topics.is_none()
        || (ctx.api_version == 0 && req.topics.as_ref().is_some_and(Vec::is_empty));
    let allow_create = ctx.api_version < 4 || req.allow_auto_topic_creation;
    let topics: Vec<MetadataResponseTopic> = if all {
        // Topics the principal may not DESCRIBE are left out, silently (Kafka's rule).
        ctx.node
            .topics()
            .iter()
            .filter(|t| {
                ctx.is_authorized_quietly(Operation::Describe, ResourceType::Topic, &t.name)
            })
            .map(|t| describe(ctx, t, ctx.api_version))
            .collect()
    } else {
        req.topics
            .unwrap_or_default()
            .into_iter()
            .map(|t| match t.name {
                Some(name) if !ctx.authorize(Operation::Describe, ResourceType::Topic, &name) => {
                    denied(Some(name), uuid::Uuid::nil())
                }
                Some(name) if allow_create && !may_auto_create(ctx, &name) => {
                    denied(Some(name), uuid::Uuid::nil())
                }
                Some(name) => {
                    let lookup = if allow_create {
                        ctx.metadata
                            .topic_or_auto_create(&name)
                            .map_err(TopicError::from)
                    } else {
                        ctx.node.topic(&name).ok_or(TopicError::new(
                            ResponseError::UnknownTopicOrPartition,
                            String::new(),
                        ))
                    };
                    match lookup {
                        Ok(state) => describe(ctx, &state, ctx.api_version),
                        Err(TopicError { code: e, .. }) => MetadataResponseTopic::default()
                            .with_name(Some(name))
                            .with_error_code(code(e)),
                    }
                }
                None => match ctx.node.topic_by_id(t.topic_id) {
                    Some(state)
                        if !ctx.authorize(
                            Operation::Describe,
                            ResourceType::Topic,
                            &state.name,
                        ) =>
                    {
                        denied(None, t.topic_id)
                    }
                    Some(state) => describe(ctx, &state, ctx.api_version),
                    None => MetadataResponseTopic::default()
                        .with_topic_id(t.topic_id)
                        .with_error_code(code(ResponseError::UnknownTopicId)),
                },
            })
            .collect()
    };
    let v = ctx.api_version;
    let control = &ctx.metadata;
    let brokers = control
        .live_brokers(&ctx.listener)
        .into_iter()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.id))
                .with_host(sb(&b.host))
                .with_port(i32::from(b.port))
                .with_rack(b.rack.as_deref().filter(|_| v >= 1).map(sb))
        })
        .collect();
    let topics = if v >= 8 && req.include_topic_authorized_operations {
        topics
            .into_iter()
            .map(|t| match t.name.as_ref().filter(|_| t.error_code == 0) {
                Some(name) => {
                    let ops = ctx.authorized_operations(ResourceType::Topic, name);
                    t.with_topic_authorized_operations(ops)
                }
                None => t,
            })
            .collect()
    } else {
        topics
    };
    let cluster_ops = if (8..=10).contains(&v) && req.include_cluster_authorized_operations {
        ctx.authorized_operations(ResourceType::Cluster, CLUSTER_NAME)
    } else {
        i32::MIN
    };
    MetadataResponse::default()
        .with_cluster_authorized_operations(cluster_ops)
        .with_brokers(brokers)
        .with_cluster_id((v >= 2).then(|| sb(&control.cluster_id())))
        .with_controller_id(BrokerId(if v >= 1 { control.controller_id() } else { -1 }))
        .with_topics(topics)
}

/// The answer for a topic the principal may not describe (or not auto-create).
fn denied(name: Option<TopicName>, id: uuid::Uuid) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(name)
        .with_topic_id(id)
        .with_error_code(code(errors::denied(ResourceType::Topic)))
}

/// Whether a missing topic that auto-creation would create may be created by the principal:
/// CREATE on the cluster or on the topic (an existing topic, or auto-creation off, needs
/// nothing).
fn may_auto_create(ctx: &RequestContext, name: &str) -> bool {
    ctx.node.topic(name).is_some()
        || !ctx.node.auto_create_enabled()
        || ctx.is_authorized_quietly(Operation::Create, ResourceType::Cluster, CLUSTER_NAME)
        || ctx.authorize(Operation::Create, ResourceType::Topic, name)
}

/// A topic with its partitions' leaders, replicas and ISR as the metadata control knows them.
fn describe(ctx: &RequestContext, t: &TopicState, v: i16) -> MetadataResponseTopic {
    let ids = |v: &[i32]| v.iter().map(|r| BrokerId(*r)).collect();
    let partitions = ctx
        .metadata
        .partitions(t)
        .into_iter()
        .map(|p| {
            let err = if p.leader < 0 {
                code(ResponseError::LeaderNotAvailable)
            } else {
                0
            };
            MetadataResponsePartition::default()
                .with_error_code(err)
                .with_partition_index(p.index)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(if v >= 7 { p.leader_epoch } else { -1 })
                .with_replica_nodes(ids(&p.replicas))
                .with_isr_nodes(ids(&p.isr))
                .with_offline_replicas(if v >= 5 { ids(&p.offline) } else { Vec::new() })
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(sb(&t.name))))
        .with_topic_id(if v >= 10 { t.id } else { uuid::Uuid::nil() })
        .with_is_internal(v >= 1 && t.internal)
        .with_partitions(partitions)
}
