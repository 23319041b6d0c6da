//! Metadata: brokers, controller, topics with their partitions, leaders and ISR. Unknown topics
//! are auto-created when the broker and the request allow it.

use super::{RequestContext, code, sb};
use crate::broker::{Broker, TopicState};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use std::sync::Arc;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: MetadataRequest,
) -> MetadataResponse {
    // v0 asks for all topics with an empty list; v1+ uses null for "all".
    let all = req.topics.is_none()
        || (ctx.api_version == 0 && req.topics.as_ref().is_some_and(Vec::is_empty));
    let allow_create = ctx.api_version < 4 || req.allow_auto_topic_creation;
    let topics: Vec<MetadataResponseTopic> = if all {
        broker
            .topics()
            .iter()
            .map(|t| describe(broker, t, ctx.api_version))
            .collect()
    } else {
        req.topics
            .unwrap_or_default()
            .into_iter()
            .map(|t| match t.name {
                Some(name) => {
                    let lookup = if allow_create {
                        broker.topic_or_auto_create(&name)
                    } else {
                        broker
                            .topic(&name)
                            .ok_or((ResponseError::UnknownTopicOrPartition, String::new()))
                    };
                    match lookup {
                        Ok(state) => describe(broker, &state, ctx.api_version),
                        Err((e, _)) => MetadataResponseTopic::default()
                            .with_name(Some(name))
                            .with_error_code(code(e)),
                    }
                }
                None => match broker.topic_by_id(t.topic_id) {
                    Some(state) => describe(broker, &state, ctx.api_version),
                    None => MetadataResponseTopic::default()
                        .with_topic_id(t.topic_id)
                        .with_error_code(code(ResponseError::UnknownTopicId)),
                },
            })
            .collect()
    };
    let listener = broker
        .advertised
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .find(|l| l.name == ctx.listener)
        .cloned();
    let brokers = listener
        .map(|l| {
            vec![
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(broker.node_id()))
                    .with_host(sb(&l.host))
                    .with_port(i32::from(l.port))
                    .with_rack(
                        Some(broker.broker_setting("broker.rack"))
                            .filter(|r| !r.is_empty() && ctx.api_version >= 1)
                            .map(|r| sb(&r)),
                    ),
            ]
        })
        .unwrap_or_default();
    let v = ctx.api_version;
    if let Some(c) = broker.cluster() {
        // Cluster mode: brokers, leaders, replicas and ISR come from the replicated image.
        let img = c.image();
        let brokers = img
            .live_brokers()
            .into_iter()
            .map(|b| {
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(b.id))
                    .with_host(sb(&b.host))
                    .with_port(i32::from(b.port))
                    .with_rack(b.rack.as_deref().filter(|_| v >= 1).map(sb))
            })
            .collect();
        let topics = topics
            .into_iter()
            .map(|t: MetadataResponseTopic| {
                let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
                match img.topics.get(&name) {
                    Some(ti) if t.error_code == 0 => {
                        let partitions = ti
                            .partitions
                            .iter()
                            .enumerate()
                            .map(|(i, p)| {
                                let ids = |v: &[i32]| v.iter().map(|r| BrokerId(*r)).collect();
                                let offline: Vec<i32> = p
                                    .replicas
                                    .iter()
                                    .copied()
                                    .filter(|r| !img.is_live(*r))
                                    .collect();
                                let err = if p.leader < 0 {
                                    code(ResponseError::LeaderNotAvailable)
                                } else {
                                    0
                                };
                                MetadataResponsePartition::default()
                                    .with_error_code(err)
                                    .with_partition_index(i as i32)
                                    .with_leader_id(BrokerId(p.leader))
                                    .with_leader_epoch(if v >= 7 { p.leader_epoch } else { -1 })
                                    .with_replica_nodes(ids(&p.replicas))
                                    .with_isr_nodes(ids(&p.isr))
                                    .with_offline_replicas(if v >= 5 {
                                        ids(&offline)
                                    } else {
                                        Vec::new()
                                    })
                            })
                            .collect();
                        t.with_partitions(partitions)
                    }
                    _ => t,
                }
            })
            .collect();
        let cluster_id = img.cluster_id.clone();
        return MetadataResponse::default()
            .with_brokers(brokers)
            .with_cluster_id((v >= 2).then(|| sb(&cluster_id)))
            .with_controller_id(BrokerId(if v >= 1 {
                c.controller_id().unwrap_or(-1)
            } else {
                -1
            }))
            .with_topics(topics);
    }
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id((v >= 2).then(|| sb(&broker.cluster_id)))
        .with_controller_id(BrokerId(if v >= 1 { broker.node_id() } else { -1 }))
        .with_topics(topics)
}

fn describe(broker: &Broker, t: &TopicState, v: i16) -> MetadataResponseTopic {
    let me = BrokerId(broker.node_id());
    let partitions = t
        .partitions
        .iter()
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p.index)
                .with_leader_id(me)
                .with_leader_epoch(if v >= 7 { p.leader_epoch() } else { -1 })
                .with_replica_nodes(vec![me])
                .with_isr_nodes(vec![me])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(sb(&t.name))))
        .with_topic_id(if v >= 10 { t.id } else { uuid::Uuid::nil() })
        .with_is_internal(v >= 1 && t.internal)
        .with_partitions(partitions)
}
