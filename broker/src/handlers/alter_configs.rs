//! AlterConfigs (v0-v2): replaces the whole override set of a topic or of the broker's dynamic
//! configs; validate_only checks without applying. Changes apply live and are persisted.

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC, is_this_broker};
use super::{RequestContext, code, sb};
use crate::broker::Broker;
use crate::config::view::{self, AlterError, Target};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An alter refused for one resource: Kafka error and message.
pub type AlterFailure = (ResponseError, String);

impl From<AlterError> for (ResponseError, String) {
    fn from(e: AlterError) -> Self {
        match e {
            AlterError::InvalidConfig(m) => (ResponseError::InvalidConfig, m),
            AlterError::InvalidRequest(m) => (ResponseError::InvalidRequest, m),
        }
    }
}

/// Resolves the target of an alter and checks the resource exists.
pub fn target(broker: &Broker, resource_type: i8, name: &str) -> Result<Target, AlterFailure> {
    match resource_type {
        RESOURCE_TOPIC if broker.topic(name).is_some() => Ok(Target::Topic),
        RESOURCE_TOPIC => Err((
            ResponseError::UnknownTopicOrPartition,
            format!("topic {name} does not exist"),
        )),
        RESOURCE_BROKER if is_this_broker(broker, name) || is_cluster_broker(broker, name) => {
            Ok(Target::Broker)
        }
        RESOURCE_BROKER => Err((
            ResponseError::InvalidRequest,
            format!(
                "broker {name:?} is not this broker (node id {})",
                broker.node_id()
            ),
        )),
        other => Err((
            ResponseError::InvalidRequest,
            format!("resource type {other} is not supported (only TOPIC=2 and BROKER=4)"),
        )),
    }
}

/// In cluster mode, whether `name` is a registered broker's id (its configs live in the
/// metadata log, so any broker can change them).
pub fn is_cluster_broker(broker: &Broker, name: &str) -> bool {
    broker.cluster().is_some_and(|c| {
        name.parse::<i32>()
            .is_ok_and(|id| c.image().brokers.contains_key(&id))
    })
}

/// The dynamic override set stored for a broker resource: in cluster mode the image's entry for
/// `name` ("" = cluster-wide default), on one node the broker's own.
pub fn stored_broker_configs(broker: &Broker, name: &str) -> BTreeMap<String, String> {
    match broker.cluster() {
        Some(c) => c
            .image()
            .broker_configs
            .get(name)
            .cloned()
            .unwrap_or_default(),
        None => broker.dynamic_broker_configs(),
    }
}

/// A topic's stored overrides: from the metadata image in cluster mode (current as of the last
/// write this broker made or saw), else the served topic's.
pub fn stored_topic_configs(broker: &Broker, name: &str) -> BTreeMap<String, String> {
    match broker.cluster() {
        Some(c) => c
            .image()
            .topics
            .get(name)
            .map(|t| t.configs.clone())
            .unwrap_or_default(),
        None => broker
            .topic(name)
            .map(|t| t.configs.clone())
            .unwrap_or_default(),
    }
}

/// Stores a new override set for the resource (applied live, persisted).
pub fn commit(
    broker: &Broker,
    target: Target,
    name: &str,
    configs: BTreeMap<String, String>,
) -> Result<(), AlterFailure> {
    match target {
        Target::Topic => broker.set_topic_configs(name, configs),
        Target::Broker => match broker.cluster() {
            // Through the metadata log: every broker applies it (see cluster::topics).
            Some(c) => broker.write_through(
                c,
                crate::cluster::image::Command::SetBrokerConfigs {
                    broker: name.to_string(),
                    configs,
                    expected: None,
                },
            ),
            None => broker.set_broker_configs(configs),
        },
    }?;
    tracing::info!(resource = name, ?target, "configs altered");
    Ok(())
}

#[tracing::instrument(skip_all, fields(validate_only = req.validate_only))]
pub async fn handle(
    broker: &Arc<Broker>,
    _ctx: &RequestContext,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let responses = req
        .resources
        .iter()
        .map(|res| {
            let name = res.resource_name.as_str();
            let outcome = target(broker, res.resource_type, name).and_then(|t| {
                let pairs: Vec<(String, Option<String>)> = res
                    .configs
                    .iter()
                    .map(|c| {
                        (
                            c.name.to_string(),
                            c.value.as_ref().map(ToString::to_string),
                        )
                    })
                    .collect();
                let configs = view::replace_all(t, &pairs)?;
                if req.validate_only {
                    return Ok(());
                }
                commit(broker, t, name, configs)
            });
            let r = AlterConfigsResourceResponse::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            match outcome {
                Ok(()) => r,
                Err((e, msg)) => r
                    .with_error_code(code(e))
                    .with_error_message(Some(sb(&msg))),
            }
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}
