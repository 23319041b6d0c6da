//! What AlterConfigs, IncrementalAlterConfigs and DescribeConfigs share: the resource types,
//! resolving a resource to its target, its entries, and committing a new override set through
//! the metadata control.

use super::errors::TopicError;
use super::{RequestContext, errors};
use crate::config::view::{self, ConfigEntry, Layers, Target};
use crate::control::ConfigResource;
use crate::security::acl::{CLUSTER_NAME, Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use std::collections::BTreeMap;

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// An alter refused for one resource: Kafka error and message.
pub type AlterFailure = TopicError;

/// The metadata control's resource kind of an alter target.
pub fn resource(target: Target) -> ConfigResource {
    match target {
        Target::Topic => ConfigResource::Topic,
        Target::Broker => ConfigResource::Broker,
    }
}

fn not_this_broker(ctx: &RequestContext, name: &str) -> AlterFailure {
    TopicError::new(
        ResponseError::InvalidRequest,
        format!(
            "broker {name:?} is not this broker (node id {})",
            ctx.node.node_id()
        ),
    )
}

fn unsupported(other: i8) -> AlterFailure {
    TopicError::new(
        ResponseError::InvalidRequest,
        format!("resource type {other} is not supported (only TOPIC=2 and BROKER=4)"),
    )
}

/// Resolves the target of an alter and checks the resource exists.
pub fn target(ctx: &RequestContext, resource_type: i8, name: &str) -> Result<Target, AlterFailure> {
    match resource_type {
        RESOURCE_TOPIC if ctx.node.topic(name).is_some() => Ok(Target::Topic),
        RESOURCE_TOPIC => Err(TopicError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("topic {name} does not exist"),
        )),
        RESOURCE_BROKER if ctx.metadata.knows_broker(name) => Ok(Target::Broker),
        RESOURCE_BROKER => Err(not_this_broker(ctx, name)),
        other => Err(unsupported(other)),
    }
}

/// Checks `op` (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a config resource before anything else:
/// a topic's on the topic, a broker's on the cluster (Kafka's rule). Other types pass here and
/// are refused by `target`/`entries`.
pub fn authorize(
    ctx: &RequestContext,
    op: Operation,
    resource_type: i8,
    name: &str,
) -> Result<(), AlterFailure> {
    let (rt, resource) = match resource_type {
        RESOURCE_TOPIC => (ResourceType::Topic, name),
        RESOURCE_BROKER => (ResourceType::Cluster, CLUSTER_NAME),
        _ => return Ok(()),
    };
    if ctx.authorize(op, rt, resource) {
        return Ok(());
    }
    Err(TopicError::new(
        errors::denied(rt),
        format!("{op} on {rt} {resource} is not authorized"),
    ))
}

/// The override set stored for a resource.
pub fn stored(ctx: &RequestContext, target: Target, name: &str) -> BTreeMap<String, String> {
    ctx.metadata.stored_configs(resource(target), name)
}

/// Stores a new override set for the resource (applied live, persisted).
pub fn commit(
    ctx: &RequestContext,
    target: Target,
    name: &str,
    configs: BTreeMap<String, String>,
) -> Result<(), AlterFailure> {
    ctx.metadata
        .set_configs(resource(target), name, configs, None)?;
    tracing::info!(resource = name, ?target, "configs altered");
    Ok(())
}

/// The entries of a resource, or the error for it.
pub fn entries(
    ctx: &RequestContext,
    resource_type: i8,
    name: &str,
) -> Result<Vec<ConfigEntry>, AlterFailure> {
    match resource_type {
        RESOURCE_TOPIC => {
            let t = ctx.node.topic(name).ok_or_else(|| {
                TopicError::new(
                    ResponseError::UnknownTopicOrPartition,
                    format!("topic {name} does not exist"),
                )
            })?;
            let dynamic = ctx.node.dynamic_broker_configs();
            Ok(view::topic_entries(
                &t.configs,
                Layers {
                    dynamic_broker: &dynamic,
                    static_broker: &ctx.node.config.settings,
                },
            ))
        }
        RESOURCE_BROKER if ctx.metadata.knows_broker(name) => {
            let dynamic = ctx.metadata.effective_broker_configs(name);
            Ok(view::broker_entries(Layers {
                dynamic_broker: &dynamic,
                static_broker: &ctx.node.config.settings,
            }))
        }
        RESOURCE_BROKER => Err(not_this_broker(ctx, name)),
        other => Err(unsupported(other)),
    }
}
