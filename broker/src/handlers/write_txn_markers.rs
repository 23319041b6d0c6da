//! WriteTxnMarkers (v1, inter-broker): a transaction coordinator asks this broker, as the
//! leader of some of a transaction's partitions, to append the COMMIT/ABORT control batch to
//! each (txn/markers.rs sends it). Each marker is durable and in its partition's ISR (acks=all)
//! before its partition is answered without error; a partition this broker does not lead gets
//! NOT_LEADER_OR_FOLLOWER and the coordinator retries at the new leader. For a group's
//! `__consumer_offsets` partition the group coordinator commits or drops the transaction's
//! offsets instead. Needs CLUSTER_ACTION on the cluster, as in Kafka.

use super::{RequestContext, code, errors};
use crate::security::acl::Operation;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use std::sync::Arc;

#[tracing::instrument(skip_all, fields(markers = req.markers.len()))]
pub async fn handle(ctx: &RequestContext, req: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse {
    let allowed = ctx.authorize_cluster(Operation::ClusterAction);
    // (marker, topic, partition) -> error, in request order.
    let mut results: Vec<(usize, String, i32, Option<ResponseError>)> = Vec::new();
    let mut waits = Vec::new();
    let mut ticket = 0;
    for (i, m) in req.markers.iter().enumerate() {
        for t in &m.topics {
            for &p in &t.partition_indexes {
                let topic = t.name.to_string();
                let e = if !allowed {
                    Some(ResponseError::ClusterAuthorizationFailed)
                } else if topic == crate::group::store::TOPIC {
                    // A group's offsets partition: the group coordinator commits or drops the
                    // transaction's offsets (group/txn_offsets.rs).
                    ctx.groups
                        .complete_txn_offsets(&ctx.node, p, m.producer_id.0, m.transaction_result)
                        .await
                        .err()
                        .map(ResponseError::from)
                } else {
                    match ctx.node.partition(&topic, p) {
                        None => Some(ResponseError::UnknownTopicOrPartition),
                        Some(part) => match crate::txn::write_marker(
                            &ctx.node,
                            &part,
                            m.producer_id.0,
                            m.producer_epoch,
                            m.transaction_result,
                            m.coordinator_epoch,
                        ) {
                            Ok((offset, t)) => {
                                ticket = ticket.max(t);
                                waits.push((results.len(), Arc::clone(&part), offset));
                                None
                            }
                            Err(e) => Some(errors::partition(&e)),
                        },
                    }
                };
                results.push((i, topic, p, e));
            }
        }
    }
    if ticket > 0 && ctx.node.flusher.wait(ticket).await.is_err() {
        for (at, _, _) in &waits {
            results[*at].3 = Some(ResponseError::KafkaStorageError);
        }
    } else {
        let isr: Vec<_> = waits.iter().map(|(_, p, o)| (Arc::clone(p), *o)).collect();
        let outcome =
            crate::replication::await_isr(&ctx.node, &isr, crate::txn::MARKER_ISR_TIMEOUT).await;
        for ((at, _, _), r) in waits.iter().zip(outcome) {
            if let Some(e) = r {
                results[*at].3 = Some(ResponseError::from(e));
            }
        }
    }
    let markers = req
        .markers
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut topics: Vec<WritableTxnMarkerTopicResult> = Vec::new();
            for (_, topic, p, e) in results.iter().filter(|r| r.0 == i) {
                let r = WritableTxnMarkerPartitionResult::default()
                    .with_partition_index(*p)
                    .with_error_code(e.map_or(0, code));
                match topics.iter_mut().find(|t| t.name.as_str() == topic) {
                    Some(t) => t.partitions.push(r),
                    None => topics.push(
                        WritableTxnMarkerTopicResult::default()
                            .with_name(super::sb(topic).into())
                            .with_partitions(vec![r]),
                    ),
                }
            }
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics)
        })
        .collect();
    WriteTxnMarkersResponse::default().with_markers(markers)
}
