//! Produce: validates and appends each partition's record batch, then (acks=1/all) waits for the
//! group-commit fsync before answering. acks=0 gets no response, as the protocol requires.
//!
//! The appends happen while the connection handles the request, so requests on one connection
//! append in the order they were sent; the fsync wait is a deferred reply, so the connection
//! reads and appends the next requests meanwhile (pipelining, in-order responses).

use super::{HandlerError, Reply, RequestContext, code, errors};
use crate::partition::Partition;
use crate::partition::validator::{RecordError, ValidationError};
use crate::security::acl::{Operation, ResourceType};
use crate::security::quota::QuotaType;
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::collections::HashMap;
use std::sync::Arc;

/// Registry entry point: Produce needs its own dispatch because acks=0 has no response.
pub fn dispatch(
    ctx: RequestContext,
    mut body: Bytes,
) -> BoxFuture<'static, Result<Reply, HandlerError>> {
    Box::pin(async move {
        if ctx.api_version < 3 {
            // v0-2 (message format v0/v1) are up-converted by `handlers::legacy` first.
            return Err(HandlerError::Unsupported(format!(
                "produce v{} (message format v0/v1) is not supported; use v3+",
                ctx.api_version
            )));
        }
        let version = ctx.api_version;
        let request_bytes = body.len() as f64;
        let req = ProduceRequest::decode(&mut body, version)
            .map_err(|e| HandlerError::Decode(e.to_string()))?;
        let acks = req.acks;
        let verified = verify_transactional(&ctx, &req).await;
        let appended = append_all(&ctx, version, req, &verified);
        // producer_byte_rate (KIP-219): the request's bytes count against the quota; over it,
        // the answer carries the throttle time and the connection is muted for that long
        // (acks=0: muted only).
        let throttle = ctx.quotas.record(
            QuotaType::Produce,
            ctx.quota_user(),
            ctx.quota_client_id(),
            request_bytes,
        );
        ctx.quotas.observe_throttle(QuotaType::Produce, throttle);
        ctx.throttle.raise(throttle);
        if acks == 0 {
            return Ok(Reply::None);
        }
        let throttle_ms = i32::try_from(throttle).unwrap_or(i32::MAX);
        let encode = move |resp: ProduceResponse| {
            let resp = resp.with_throttle_time_ms(throttle_ms);
            let mut out = BytesMut::new();
            resp.encode(&mut out, version)
                .map_err(|e| HandlerError::Encode(e.to_string()))?;
            Ok(out)
        };
        match appended {
            Appended::Done(resp) => encode(resp).map(Reply::Body),
            Appended::AwaitFlush(pending) => Ok(Reply::Later(Box::pin(async move {
                encode(pending.finish(&ctx.node, version).await)
            }))),
        }
    })
}

/// Decodes a Produce body without handling it.
pub fn decode_only(version: i16, mut body: Bytes) -> Result<(), HandlerError> {
    if version < 3 {
        return Err(HandlerError::Unsupported(format!(
            "produce v{version} is not supported"
        )));
    }
    ProduceRequest::decode(&mut body, version)
        .map(|_| ())
        .map_err(|e| HandlerError::Decode(e.to_string()))
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

/// INVALID_RECORD or INVALID_TIMESTAMP for a partition with the records Kafka names (v8+:
/// `record_errors` and the error message; older versions carry the code only).
fn invalid_records(
    index: i32,
    error: ResponseError,
    message: &str,
    records: &[RecordError],
    version: i16,
) -> PartitionProduceResponse {
    let resp = partition_error(index, error, (version >= 8).then_some(message), version);
    if version < 8 {
        return resp;
    }
    resp.with_record_errors(
        records
            .iter()
            .map(|r| {
                BatchIndexAndErrorMessage::default()
                    .with_batch_index(r.batch_index)
                    .with_batch_index_error_message(Some(StrBytes::from_string(r.message.clone())))
            })
            .collect(),
    )
}

/// The outcome of a request's appends.
pub enum Appended {
    /// Nothing to wait for (acks=0, or nothing was appended).
    Done(ProduceResponse),
    /// Appended; the answer is due once the group commit covering `ticket` completed.
    AwaitFlush(PendingFlush),
}

/// A partition response's position (topic, partition) and the last offset the ISR must hold.
type IsrWait = ((usize, usize), (Arc<Partition>, i64));

/// Responses waiting for the fsync that makes their appends durable.
pub struct PendingFlush {
    ticket: u64,
    responses: Vec<TopicProduceResponse>,
    /// Each appended partition with the offset its high watermark must reach for this
    /// request's records to be durable; `None` when that cannot be told (a deduplicated retry,
    /// whose original append may not be durable yet): then only the ticket answers.
    durable_at: Option<Vec<(Arc<Partition>, i64)>>,
    /// acks=all: (response position, (partition, last offset)) that the ISR must have
    /// replicated (the high watermark passes it) before the answer; a partition without an ISR
    /// (one node) has nothing more to wait for once durable.
    isr_waits: Vec<IsrWait>,
    /// The request's timeout for the ISR wait.
    timeout_ms: i32,
}

impl PendingFlush {
    /// Whether every appended partition's high watermark (moved only after an fsync that
    /// started after the append) already covers this request's records.
    fn covered(&self) -> bool {
        self.durable_at
            .as_ref()
            .is_some_and(|parts| parts.iter().all(|(p, end)| p.high_watermark() >= *end))
    }

    /// Waits until the records are durable: either each partition's fsync that started after
    /// the append completed (often the round already in progress, when the append landed before
    /// that partition's turn), or the whole group commit after the append did. A failed fsync
    /// turns every successful partition into KAFKA_STORAGE_ERROR (nothing is acknowledged that
    /// is not on disk).
    pub async fn finish(mut self, node: &crate::node::Node, version: i16) -> ProduceResponse {
        let timer = node.metrics.produce_fsync_wait.start_timer();
        let mut changes = node.data_version.subscribe();
        let flushed = node.flusher.wait(self.ticket);
        tokio::pin!(flushed);
        // No ticket: every partition acknowledges from memory (ack.durability replicated), so
        // there is no fsync to wait for, only the ISR below.
        let outcome = loop {
            if self.ticket == 0 {
                break Ok(());
            }
            changes.borrow_and_update();
            if self.covered() {
                break Ok(());
            }
            tokio::select! {
                r = &mut flushed => break r,
                r = changes.changed() => {
                    if r.is_err() {
                        break (&mut flushed).await;
                    }
                }
            }
        };
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "produce could not be made durable");
            for t in &mut self.responses {
                for p in &mut t.partition_responses {
                    if p.error_code == 0 {
                        *p = partition_error(
                            p.index,
                            ResponseError::KafkaStorageError,
                            if version >= 8 {
                                Some("the write could not be made durable")
                            } else {
                                None
                            },
                            version,
                        );
                    }
                }
            }
        }
        timer.observe_duration();
        if outcome.is_ok() && !self.isr_waits.is_empty() {
            self.await_isr(node, version).await;
        }
        ProduceResponse::default().with_responses(self.responses)
    }

    /// acks=all: waits (up to the request's timeout) for the ISR to replicate
    /// the appends; a partition that is not replicated in time, lost its leadership or whose ISR
    /// shrank below min.insync.replicas answers with that error instead of success.
    async fn await_isr(&mut self, node: &crate::node::Node, version: i16) {
        let waits: Vec<_> = self.isr_waits.iter().map(|(_, w)| w.clone()).collect();
        let timeout = std::time::Duration::from_millis(
            u64::try_from(self.timeout_ms.clamp(0, 300_000)).unwrap_or(0),
        );
        let results = crate::replication::await_isr(node, &waits, timeout).await;
        for (((t, p), _), err) in self.isr_waits.iter().zip(results) {
            if let Some(e) = err
                && let Some(part) = self
                    .responses
                    .get_mut(*t)
                    .and_then(|r| r.partition_responses.get_mut(*p))
                && part.error_code == 0
            {
                *part = partition_error(
                    part.index,
                    e.into(),
                    (version >= 8).then_some("not replicated to the ISR in time"),
                    version,
                );
            }
        }
    }
}

/// The transactional batches' verifications with their coordinator (cluster mode; KIP-890),
/// asked before anything is appended, by (topic, partition).
pub type Verified = HashMap<(String, i32), crate::txn::verify::PendingVerification>;

async fn verify_transactional(ctx: &RequestContext, req: &ProduceRequest) -> Verified {
    let Some(tid) = req.transactional_id.as_ref().map(|t| t.as_str()) else {
        return Verified::new();
    };
    if !ctx.authorize(Operation::Write, ResourceType::TransactionalId, tid) {
        return Verified::new();
    }
    // Produce v12+ is transaction version 2: the client sent no AddPartitionsToTxn, the
    // partition leader adds the partition to the transaction on its behalf (KIP-890 part 2).
    let add_partition = ctx.api_version >= 12;
    // The partitions' checks run concurrently: each may be a round trip to the coordinator.
    let mut checks = Vec::new();
    for t in &req.topic_data {
        if !ctx.authorize(Operation::Write, ResourceType::Topic, t.name.as_str()) {
            continue;
        }
        for p in &t.partition_data {
            let (Some(part), Some(records)) =
                (ctx.node.partition(&t.name, p.index), p.records.as_ref())
            else {
                continue;
            };
            let key = (t.name.to_string(), p.index);
            checks.push(async move {
                let v = ctx
                    .txns
                    .prepare_verification(&ctx.node, Some(tid), &part, records, add_partition)
                    .await;
                v.map(|v| (key, v))
            });
        }
    }
    futures::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Validates and appends every partition's batch, in request order, without waiting.
pub fn append_all(
    ctx: &RequestContext,
    version: i16,
    req: ProduceRequest,
    verified: &Verified,
) -> Appended {
    let acks = req.acks;
    let partition_error = |index, e, message: Option<&str>| {
        partition_error(index, e, if version >= 8 { message } else { None }, version)
    };
    let denied_txn = req.transactional_id.as_ref().is_some_and(|id| {
        !ctx.authorize(Operation::Write, ResourceType::TransactionalId, id.as_str())
    });
    if denied_txn {
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
                            Some("WRITE on the transactional id is not authorized"),
                        )
                    })
                    .collect();
                TopicProduceResponse::default()
                    .with_name(t.name)
                    .with_partition_responses(parts)
            })
            .collect();
        return Appended::Done(ProduceResponse::default().with_responses(responses));
    }
    let mut ticket = 0;
    let mut appended = false;
    let mut durable_at = Some(Vec::new());
    // acks=all: (response position, (partition, last offset)) to wait for.
    let mut isr_waits = Vec::new();
    let timeout_ms = req.timeout_ms;
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for t in req.topic_data {
        // Kafka checks WRITE before existence: an unauthorized client learns nothing of it.
        let writable = ctx.authorize(Operation::Write, ResourceType::Topic, t.name.as_str());
        let topic = ctx.node.topic(&t.name);
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
            if !writable {
                parts.push(partition_error(
                    p.index,
                    errors::denied(ResourceType::Topic),
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
            // Transactional batches: the partition must be in the producer's ongoing
            // transaction (KIP-890), checked under the partition lock.
            let pending = verified.get(&(t.name.to_string(), p.index));
            let verify = |pid, epoch, index: &_| {
                ctx.txns
                    .check_append(pending, &t.name, p.index, pid, epoch, index)
            };
            match partition.append_verified(&records, acks == -1, &verify) {
                Ok(out) => {
                    let header = crate::log::batch::BatchHeader::parse(&records).ok();
                    if acks == -1 {
                        let n = header.map_or(1, |h| i64::from(h.last_offset_delta) + 1);
                        isr_waits.push((
                            (responses.len(), parts.len()),
                            (Arc::clone(partition), out.base_offset + n - 1),
                        ));
                    }
                    if out.duplicate {
                        durable_at = None;
                    } else {
                        appended = true;
                        ctx.node.metrics.count_in(
                            &t.name,
                            records.len() as u64,
                            header.map_or(0, |h| h.records_count.max(0) as u64),
                        );
                        match (&mut durable_at, header) {
                            (Some(parts), Some(h)) => parts.push((
                                Arc::clone(partition),
                                out.base_offset + i64::from(h.last_offset_delta) + 1,
                            )),
                            _ => durable_at = None,
                        }
                    }
                    if partition.acks_from_memory() {
                        // ack.durability replicated: answered from the ISR's memory (the high
                        // watermark), fsynced in the background.
                        let n = header.map_or(1, |h| i64::from(h.records_count.max(1)));
                        ctx.node.schedule_background_flush(partition, n);
                    } else {
                        ticket = ctx
                            .node
                            .flusher
                            .mark(Arc::clone(partition) as Arc<dyn crate::log::flusher::Durable>);
                    }
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
                Err(crate::partition::PartitionError::Records(
                    ValidationError::InvalidRecords { message, records },
                )) => parts.push(invalid_records(
                    p.index,
                    ResponseError::InvalidRecord,
                    &message,
                    &records,
                    version,
                )),
                Err(crate::partition::PartitionError::Records(
                    ValidationError::InvalidTimestamps { message, records },
                )) => parts.push(invalid_records(
                    p.index,
                    ResponseError::InvalidTimestamp,
                    &message,
                    &records,
                    version,
                )),
                Err(e) => parts.push(partition_error(p.index, e.into(), None)),
            }
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(t.name)
                .with_partition_responses(parts),
        );
    }
    if appended {
        ctx.node.wake_replica_fetches();
    }
    // acks=all also waits for the ISR when no partition needed an fsync (replicated mode).
    if acks != 0 && (ticket > 0 || !isr_waits.is_empty()) {
        return Appended::AwaitFlush(PendingFlush {
            ticket,
            responses,
            durable_at,
            isr_waits,
            timeout_ms,
        });
    }
    Appended::Done(ProduceResponse::default().with_responses(responses))
}
