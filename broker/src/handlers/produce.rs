//! Produce: validates and appends each partition's record batch, then (acks=1/all) waits for the
//! group-commit fsync before answering. acks=0 gets no response, as the protocol requires.

use super::{Reply, RequestContext, code};
use crate::broker::Broker;
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::sync::Arc;

/// Registry entry point: Produce needs its own dispatch because acks=0 has no response.
pub fn dispatch(
    broker: Arc<Broker>,
    ctx: RequestContext,
    mut body: Bytes,
) -> BoxFuture<'static, Result<Reply, String>> {
    Box::pin(async move {
        if ctx.api_version < 3 {
            // Kafka 4 advertises v0 but rejects v0-2 (message format v0/v1): so do we.
            return Err(format!(
                "produce v{} (message format v0/v1) is not supported; use v3+",
                ctx.api_version
            ));
        }
        let req = ProduceRequest::decode(&mut body, ctx.api_version).map_err(|e| e.to_string())?;
        let acks = req.acks;
        let resp = handle(&broker, ctx.api_version, req).await;
        if acks == 0 {
            return Ok(Reply::None);
        }
        let mut out = BytesMut::new();
        resp.encode(&mut out, ctx.api_version)
            .map_err(|e| e.to_string())?;
        Ok(Reply::Body(out))
    })
}

/// Decodes a Produce body without handling it.
pub fn decode_only(version: i16, mut body: Bytes) -> Result<(), String> {
    if version < 3 {
        return Err(format!("produce v{version} is not supported"));
    }
    ProduceRequest::decode(&mut body, version)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn partition_error(
    index: i32,
    e: ResponseError,
    message: Option<&str>,
    _version: i16,
) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code(e))
        .with_base_offset(-1)
        .with_error_message(message.map(|m| StrBytes::from_string(m.to_string())))
}

pub async fn handle(broker: &Arc<Broker>, version: i16, req: ProduceRequest) -> ProduceResponse {
    let acks = req.acks;
    let partition_error = |index, e, message: Option<&str>| {
        partition_error(index, e, if version >= 8 { message } else { None }, version)
    };
    if req.transactional_id.is_some() {
        let responses = req
            .topic_data
            .into_iter()
            .map(|t| {
                let parts = t
                    .partition_data
                    .iter()
                    .map(|p| {
                        partition_error(
                            p.index,
                            ResponseError::TransactionalIdAuthorizationFailed,
                            Some("transactions are not supported by this broker yet"),
                        )
                    })
                    .collect();
                TopicProduceResponse::default()
                    .with_name(t.name)
                    .with_partition_responses(parts)
            })
            .collect();
        return ProduceResponse::default().with_responses(responses);
    }
    let mut ticket = 0;
    // acks=all in cluster mode: (response position, (partition, last offset)) to wait for.
    let mut isr_waits = Vec::new();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for t in req.topic_data {
        let topic = broker.topic(&t.name);
        let mut parts = Vec::with_capacity(t.partition_data.len());
        for p in t.partition_data {
            if !matches!(acks, -1..=1) {
                parts.push(partition_error(
                    p.index,
                    ResponseError::InvalidRequiredAcks,
                    None,
                ));
                continue;
            }
            let Some(partition) = topic.as_ref().and_then(|t| {
                usize::try_from(p.index)
                    .ok()
                    .and_then(|i| t.partitions.get(i))
            }) else {
                parts.push(partition_error(
                    p.index,
                    ResponseError::UnknownTopicOrPartition,
                    None,
                ));
                continue;
            };
            let records = p.records.unwrap_or_default();
            match partition.append(&records, acks == -1) {
                Ok(out) => {
                    if acks == -1 && broker.cluster().is_some() {
                        let n = crate::log::batch::BatchHeader::parse(&records)
                            .map_or(1, |h| i64::from(h.last_offset_delta) + 1);
                        isr_waits.push((
                            (responses.len(), parts.len()),
                            (Arc::clone(partition), out.base_offset + n - 1),
                        ));
                    }
                    if !out.duplicate {
                        broker.metrics.bytes_in.inc_by(records.len() as u64);
                        broker.metrics.messages_in.inc_by(
                            crate::log::batch::BatchHeader::parse(&records)
                                .map_or(0, |h| h.records_count.max(0) as u64),
                        );
                    }
                    ticket = broker
                        .flusher
                        .mark(Arc::clone(partition) as Arc<dyn crate::log::flusher::Durable>);
                    parts.push(
                        PartitionProduceResponse::default()
                            .with_index(p.index)
                            .with_base_offset(out.base_offset)
                            .with_log_append_time_ms(out.log_append_time)
                            .with_log_start_offset(if version >= 5 {
                                out.log_start_offset
                            } else {
                                -1
                            }),
                    );
                }
                Err(e) => parts.push(partition_error(p.index, e, None)),
            }
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(t.name)
                .with_partition_responses(parts),
        );
    }
    if acks != 0 && ticket > 0 {
        let timer = broker.metrics.produce_fsync_wait.start_timer();
        if let Err(e) = broker.flusher.wait(ticket).await {
            tracing::error!(error = %e, "produce could not be made durable");
            for t in &mut responses {
                for p in &mut t.partition_responses {
                    if p.error_code == 0 {
                        *p = partition_error(
                            p.index,
                            ResponseError::KafkaStorageError,
                            Some("the write could not be made durable"),
                        );
                    }
                }
            }
        }
        timer.observe_duration();
    }
    if !isr_waits.is_empty() {
        let waits: Vec<_> = isr_waits.iter().map(|(_, w)| w.clone()).collect();
        let timeout = std::time::Duration::from_millis(req.timeout_ms.clamp(0, 300_000) as u64);
        let results = crate::replication::await_isr(broker, &waits, timeout).await;
        for (((t, p), _), err) in isr_waits.iter().zip(results) {
            if let Some(e) = err
                && let Some(part) = responses
                    .get_mut(*t)
                    .and_then(|r: &mut TopicProduceResponse| r.partition_responses.get_mut(*p))
                && part.error_code == 0
            {
                *part = partition_error(part.index, e, Some("not replicated to the ISR in time"));
            }
        }
    }
    ProduceResponse::default().with_responses(responses)
}
