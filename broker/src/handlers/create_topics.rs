//! CreateTopics (v2-v7): -1 partitions/replication factor take the broker defaults, configs are
//! validated against the defs table, validate_only creates nothing, explicit replica assignments
//! are accepted only when every partition lives on this node; v5+ answers with the resulting
//! configs and counts, v7 with the topic id.

use super::{RequestContext, code, sb};
use crate::broker::{Broker, TopicError};
use crate::config::view::{self, Layers};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Turns explicit assignments into a partition count, or refuses them.
fn assignment_count(broker: &Broker, t: &CreatableTopic) -> Result<Option<i32>, TopicError> {
    if t.assignments.is_empty() {
        return Ok(None);
    }
    if t.num_partitions != -1 || t.replication_factor != -1 {
        return Err((
            ResponseError::InvalidRequest,
            "both num_partitions/replication_factor and replica assignments were given".into(),
        ));
    }
    let node = broker.node_id();
    let mut indexes: Vec<i32> = Vec::with_capacity(t.assignments.len());
    for a in &t.assignments {
        if a.broker_ids.len() != 1 || a.broker_ids[0].0 != node {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                format!(
                    "partition {} is assigned to {:?}; this single-node cluster only has broker {node}",
                    a.partition_index,
                    a.broker_ids.iter().map(|b| b.0).collect::<Vec<_>>()
                ),
            ));
        }
        indexes.push(a.partition_index);
    }
    indexes.sort_unstable();
    if indexes.iter().enumerate().any(|(i, p)| *p != i as i32) {
        return Err((
            ResponseError::InvalidReplicaAssignment,
            "replica assignment partitions must be 0..n, each listed once".into(),
        ));
    }
    Ok(Some(indexes.len() as i32))
}

/// Cluster mode: explicit replica lists by partition index (0..n, each once).
fn cluster_assignment(t: &CreatableTopic) -> Result<Vec<Vec<i32>>, TopicError> {
    if t.num_partitions != -1 || t.replication_factor != -1 {
        return Err((
            ResponseError::InvalidRequest,
            "both num_partitions/replication_factor and replica assignments were given".into(),
        ));
    }
    let mut by_index: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for a in &t.assignments {
        let ids = a.broker_ids.iter().map(|b| b.0).collect();
        if by_index.insert(a.partition_index, ids).is_some() {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                format!("partition {} is listed twice", a.partition_index),
            ));
        }
    }
    if by_index.keys().enumerate().any(|(i, p)| *p != i as i32) {
        return Err((
            ResponseError::InvalidReplicaAssignment,
            "replica assignment partitions must be 0..n, each listed once".into(),
        ));
    }
    let a: Vec<Vec<i32>> = by_index.into_values().collect();
    if a[0].is_empty() {
        return Err((
            ResponseError::InvalidReplicaAssignment,
            "partition 0 has no replicas".into(),
        ));
    }
    Ok(a)
}

fn create_one(
    broker: &Broker,
    t: &CreatableTopic,
    validate_only: bool,
) -> Result<BTreeMap<String, String>, TopicError> {
    let mut configs = BTreeMap::new();
    for c in &t.configs {
        let Some(v) = &c.value else { continue };
        configs.insert(c.name.to_string(), v.to_string());
    }
    if let Some(c) = broker.cluster()
        && !t.assignments.is_empty()
    {
        let assignment = cluster_assignment(t)?;
        broker.create_topic_in_cluster(
            c,
            t.name.as_str(),
            assignment.len() as i32,
            assignment[0].len() as i16,
            configs.clone(),
            Some(assignment),
            validate_only,
        )?;
        return Ok(configs);
    }
    let (partitions, rf) = match assignment_count(broker, t)? {
        Some(n) => (n, 1),
        None => (t.num_partitions, t.replication_factor),
    };
    broker.create_topic(
        t.name.as_str(),
        partitions,
        rf,
        configs.clone(),
        false,
        validate_only,
    )?;
    Ok(configs)
}

#[tracing::instrument(skip_all, fields(topics = req.topics.len(), validate_only = req.validate_only))]
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let v = ctx.api_version;
    let mut seen = std::collections::HashSet::new();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let result = CreatableTopicResult::default().with_name(t.name.clone());
            let outcome = if seen.insert(t.name.to_string()) {
                create_one(broker, t, req.validate_only)
            } else {
                Err((
                    ResponseError::InvalidRequest,
                    format!("topic {} is listed more than once", t.name.as_str()),
                ))
            };
            match outcome {
                Ok(overrides) => {
                    let mut r = result;
                    if v >= 5 {
                        let dynamic = broker.dynamic_broker_configs();
                        let layers = Layers {
                            dynamic_broker: &dynamic,
                            static_broker: &broker.config.settings,
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
                        let (np, rf) = match broker.topic(t.name.as_str()) {
                            Some(state) if !req.validate_only => {
                                (state.partitions.len() as i32, state.replication_factor)
                            }
                            _ => resolved_counts(broker, t),
                        };
                        r = r
                            .with_num_partitions(np)
                            .with_replication_factor(rf)
                            .with_configs(Some(configs));
                    }
                    if v >= 7 && !req.validate_only
                        && let Some(state) = broker.topic(t.name.as_str()) {
                            r = r.with_topic_id(state.id);
                        }
                    r
                }
                Err((e, msg)) => {
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
fn resolved_counts(broker: &Broker, t: &CreatableTopic) -> (i32, i16) {
    if !t.assignments.is_empty() {
        return (t.assignments.len() as i32, 1);
    }
    let np = if t.num_partitions == -1 {
        broker.broker_setting("num.partitions").parse().unwrap_or(1)
    } else {
        t.num_partitions
    };
    let rf = if t.replication_factor == -1 {
        broker
            .broker_setting("default.replication.factor")
            .parse()
            .unwrap_or(1)
    } else {
        t.replication_factor
    };
    (np, rf)
}
