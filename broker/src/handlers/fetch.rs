//! Fetch: reads whole batches from each partition below the high watermark, honouring
//! partition and response byte limits (KIP-74: only the first partition with data may exceed
//! them, by one batch), and long-polls with
//! max_wait_ms/min_bytes until enough data arrives. Consumers may use incremental fetch
//! sessions (`fetch_session`, KIP-227). A follower's fetch is served by replication (up to
//! the log end, always a full request) and answered here.

use super::{HandlerError, Reply, RequestContext, code, errors};
use crate::fetch_session::SessionPlan;
use crate::log::zero_copy::Regions;
use crate::node::TopicState;
use crate::security::acl::{Operation, ResourceType};
use crate::security::quota::QuotaType;
use bytes::Bytes;
use futures::future::BoxFuture;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};
use kafka_protocol::protocol::buf::ChunkedBuf;
use kafka_protocol::protocol::{Decodable, Encodable};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Record sets at least this large are written from the buffer they were read into instead
/// of being copied into the response (smaller ones are cheaper to copy than to write apart).
const SHARE_RECORDS_FROM: usize = 16 * 1024;

/// Decodes, handles and encodes a Fetch. The response is encoded in pieces: each partition's
/// record batches go out straight from the (pooled) buffer they were read into, so a batch is
/// copied once from the page cache and once into the socket, and never re-encoded.
pub fn dispatch(
    ctx: RequestContext,
    mut body: Bytes,
) -> BoxFuture<'static, Result<Reply, HandlerError>> {
    Box::pin(async move {
        let req = FetchRequest::decode(&mut body, ctx.api_version)
            .map_err(|e| HandlerError::Decode(e.to_string()))?;
        let mut regions = Regions::new(SHARE_RECORDS_FROM);
        let resp = handle(&ctx, req, &mut regions).await;
        let chunks = encode_chunked(&resp, ctx.api_version)?;
        let pieces = regions.resolve(chunks).map_err(HandlerError::Encode)?;
        Ok(Reply::Chunks(pieces))
    })
}

/// Encodes a response as chunks whose concatenation is its ordinary encoding.
pub fn encode_chunked(resp: &FetchResponse, version: i16) -> Result<Vec<Bytes>, HandlerError> {
    let mut out = ChunkedBuf::new(SHARE_RECORDS_FROM);
    resp.encode(&mut out, version)
        .map_err(|e| HandlerError::Encode(e.to_string()))?;
    Ok(out.into_chunks())
}

/// Decodes a Fetch request without handling it (fuzzing, codec tests).
pub fn decode_only(version: i16, mut body: Bytes) -> Result<(), HandlerError> {
    FetchRequest::decode(&mut body, version)
        .map(|_| ())
        .map_err(|e| HandlerError::Decode(e.to_string()))
}

/// Serves a Fetch. Record sets worth sending from the segment files stand in the response as
/// placeholders whose file regions `regions` keeps (`log::zero_copy`).
pub async fn handle(
    ctx: &RequestContext,
    req: FetchRequest,
    regions: &mut Regions,
) -> FetchResponse {
    let replica = if ctx.api_version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    if ctx.replication.is_follower(replica) {
        if !ctx.authorize_cluster(Operation::ClusterAction) {
            return denied_follower_fetch(&req);
        }
        // Followers are held by replication throttles, not client quotas.
        ctx.throttle.exempt();
        return follower_fetch(ctx, replica, &req, regions).await;
    }
    // KIP-227: an incremental request is read as its session's whole partition list.
    let sessions = &ctx.node.fetch_sessions;
    let plan = sessions.begin(&req, ctx.api_version, Instant::now());
    if let SessionPlan::Error(e) = plan {
        // Refused at the session level: the error alone, no partitions, session id 0.
        return FetchResponse::default()
            .with_error_code(code(e.into()))
            .with_session_id(0);
    }
    let full = plan.request(&req);
    let readable = readable_topics(ctx, full);
    let (mut resp, read) = long_poll(ctx, full, &readable, regions).await;
    // consumer_byte_rate (KIP-219): over the quota, the response carries the throttle time
    // and no data (the bytes are taken back), and the connection is muted for that long.
    let (user, client) = (ctx.quota_user(), ctx.quota_client_id());
    let bytes = read.total as f64;
    let throttle = ctx.quotas.record(QuotaType::Fetch, user, client, bytes);
    if throttle > 0 {
        ctx.quotas.unrecord(QuotaType::Fetch, user, client, bytes);
        ctx.quotas.observe_throttle(QuotaType::Fetch, throttle);
        ctx.throttle.raise(throttle);
        // An incremental session survives a throttled answer (KAFKA-6946); a full fetch opens
        // none.
        let session_id = match &plan {
            SessionPlan::Incremental { id, .. } => *id,
            _ => 0,
        };
        return FetchResponse::default()
            .with_throttle_time_ms(i32::try_from(throttle).unwrap_or(i32::MAX))
            .with_session_id(session_id);
    }
    read.count(ctx);
    sessions.finish(&plan, &req, &mut resp, Instant::now());
    resp
}

/// Reads until min_bytes are there or max_wait_ms has passed.
async fn long_poll(
    ctx: &RequestContext,
    req: &FetchRequest,
    readable: &[bool],
    regions: &mut Regions,
) -> (FetchResponse, BytesRead) {
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let mut changes = ctx.node.data_version.subscribe();
    loop {
        changes.borrow_and_update();
        let (resp, read, errors) = read_once(ctx, req, readable, regions);
        let bytes = read.total;
        let satisfied = bytes >= req.min_bytes.max(0) as usize && (bytes > 0 || req.min_bytes <= 0);
        if satisfied || errors || tokio::time::Instant::now() >= deadline {
            return (resp, read);
        }
        if tokio::time::timeout_at(deadline, changes.changed())
            .await
            .is_err()
        {
            // One last read at the deadline: data may have arrived just now.
            let (resp, read, _) = read_once(ctx, req, readable, regions);
            return (resp, read);
        }
    }
}

/// A follower's fetch (its replica id is a broker id): what replication serves, by topic name
/// (followers fetch at v12).
async fn follower_fetch(
    ctx: &RequestContext,
    replica: i32,
    req: &FetchRequest,
    regions: &mut Regions,
) -> FetchResponse {
    let served =
        crate::replication::serve_follower_fetch(&ctx.replication, replica, req, Some(regions))
            .await;
    let topics = req
        .topics
        .iter()
        .zip(served)
        .map(|(t, parts)| {
            let parts = t
                .partitions
                .iter()
                .zip(parts)
                .map(|(p, served)| {
                    let base = PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_high_watermark(-1)
                        .with_last_stable_offset(-1)
                        .with_log_start_offset(-1);
                    match served {
                        Ok(d) => base
                            .with_high_watermark(d.high_watermark)
                            .with_last_stable_offset(d.high_watermark)
                            .with_log_start_offset(d.log_start_offset)
                            .with_records(Some(d.records)),
                        Err(e) => base.with_error_code(code(e.into())),
                    }
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_partitions(parts)
        })
        .collect();
    FetchResponse::default().with_responses(topics)
}

/// Whether the principal may READ each requested topic (checked once per request, before
/// existence as Kafka does; a topic id this broker does not know answers UNKNOWN_TOPIC_ID).
fn readable_topics(ctx: &RequestContext, req: &FetchRequest) -> Vec<bool> {
    req.topics
        .iter()
        .map(|t| {
            let name = if ctx.api_version >= 13 {
                match ctx.node.topic_by_id(t.topic_id) {
                    Some(topic) => topic.name.clone(),
                    None => return true,
                }
            } else {
                t.topic.to_string()
            };
            ctx.authorize(Operation::Read, ResourceType::Topic, &name)
        })
        .collect()
}

/// A follower fetch without CLUSTER_ACTION on the cluster: every partition refused.
fn denied_follower_fetch(req: &FetchRequest) -> FetchResponse {
    let e = code(errors::denied(ResourceType::Topic));
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let parts = t
                .partitions
                .iter()
                .map(|p| {
                    PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_error_code(e)
                        .with_high_watermark(-1)
                        .with_last_stable_offset(-1)
                        .with_log_start_offset(-1)
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_topic_id(t.topic_id)
                .with_partitions(parts)
        })
        .collect();
    FetchResponse::default().with_responses(topics)
}

fn resolve(
    ctx: &RequestContext,
    name: &str,
    id: uuid::Uuid,
) -> Result<Arc<TopicState>, ResponseError> {
    if ctx.api_version >= 13 {
        ctx.node
            .topic_by_id(id)
            .ok_or(ResponseError::UnknownTopicId)
    } else {
        ctx.node
            .topic(name)
            .ok_or(ResponseError::UnknownTopicOrPartition)
    }
}

/// Record bytes one pass read: in all and per topic.
struct BytesRead {
    total: usize,
    per_topic: Vec<(Arc<TopicState>, usize)>,
}

impl BytesRead {
    /// Adds the pass's bytes to the bytes-out counters (in all and per topic).
    fn count(self, ctx: &RequestContext) {
        for (t, n) in self.per_topic {
            ctx.node.metrics.count_out(&t.name, n as u64);
        }
    }
}

/// The byte limits of one fetch response (KIP-74): only the first partition with data may
/// return one whole batch larger than its partition_max_bytes or what is left of the
/// response's max_bytes; every later one reads only whole batches that fit in both, else
/// nothing (librdkafka refuses a response larger than it asked for and fetches the same
/// offsets again, for ever).
#[derive(Debug)]
struct ResponseBudget {
    remaining: usize,
    any_data: bool,
}

impl ResponseBudget {
    /// A budget of `max_bytes` (zero or less: no limit).
    fn new(max_bytes: i32) -> Self {
        ResponseBudget {
            remaining: usize::try_from(max_bytes)
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or(usize::MAX),
            any_data: false,
        }
    }

    /// What the next partition may read: (max bytes, whether one larger batch is allowed).
    fn limit(&self, partition_max_bytes: i32) -> (usize, bool) {
        let partition = usize::try_from(partition_max_bytes).unwrap_or(0);
        (partition.min(self.remaining), !self.any_data)
    }

    /// Counts `n` bytes a partition returned.
    fn took(&mut self, n: usize) {
        self.remaining = self.remaining.saturating_sub(n);
        self.any_data |= n > 0;
    }
}

/// One pass over every requested partition: (response, record bytes read, any error). The
/// file regions of an earlier pass are forgotten.
fn read_once(
    ctx: &RequestContext,
    req: &FetchRequest,
    readable: &[bool],
    regions: &mut Regions,
) -> (FetchResponse, BytesRead, bool) {
    regions.clear();
    let mut budget = ResponseBudget::new(req.max_bytes);
    let mut total = 0usize;
    let mut per_topic = Vec::new();
    let mut any_error = false;
    let mut topics = Vec::with_capacity(req.topics.len());
    for (i, t) in req.topics.iter().enumerate() {
        let topic = if readable.get(i).copied().unwrap_or(false) {
            resolve(ctx, &t.topic, t.topic_id)
        } else {
            Err(errors::denied(ResourceType::Topic))
        };
        let before = total;
        let mut parts = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let v = ctx.api_version;
            let base = PartitionData::default()
                .with_partition_index(p.partition)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1)
                .with_aborted_transactions(if req.isolation_level == 1 {
                    Some(Vec::new())
                } else {
                    None
                });
            // log_start_offset exists from v5 on; the codec refuses fields a version lacks.
            let lso = |o: i64| if v >= 5 { o } else { -1 };
            let partition = match &topic {
                Ok(t) => usize::try_from(p.partition)
                    .ok()
                    .and_then(|i| t.partitions.get(i))
                    .ok_or(ResponseError::UnknownTopicOrPartition)
                    .and_then(|p| {
                        if p.is_leader() {
                            Ok(p)
                        } else {
                            Err(ResponseError::NotLeaderOrFollower)
                        }
                    }),
                Err(e) => Err(*e),
            };
            let partition = match partition {
                Ok(p) => p,
                Err(e) => {
                    any_error = true;
                    parts.push(base.with_error_code(code(e)));
                    continue;
                }
            };
            let epoch = partition.leader_epoch();
            if p.current_leader_epoch >= 0 && p.current_leader_epoch != epoch {
                any_error = true;
                let e = if p.current_leader_epoch > epoch {
                    ResponseError::UnknownLeaderEpoch
                } else {
                    ResponseError::FencedLeaderEpoch
                };
                parts.push(base.with_error_code(code(e)));
                continue;
            }
            let (max, min_one_batch) = budget.limit(p.partition_max_bytes);
            let read_committed = req.isolation_level == 1;
            match partition.read_for_fetch(
                p.fetch_offset,
                max,
                min_one_batch,
                read_committed,
                Some(&mut *regions),
            ) {
                Ok(out) => {
                    let aborted = read_committed.then(|| {
                        out.aborted
                            .iter()
                            .map(|(pid, first)| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(*pid))
                                    .with_first_offset(*first)
                            })
                            .collect()
                    });
                    let n = out.records.len();
                    total += n;
                    budget.took(n);
                    parts.push(
                        base.with_high_watermark(out.high_watermark)
                            .with_last_stable_offset(out.last_stable_offset)
                            .with_log_start_offset(lso(out.log_start_offset))
                            .with_aborted_transactions(aborted)
                            .with_records(Some(out.records)),
                    );
                }
                Err(e) => {
                    any_error = true;
                    parts.push(
                        base.with_error_code(code(e.into()))
                            .with_high_watermark(partition.high_watermark())
                            .with_log_start_offset(lso(partition.log_start_offset())),
                    );
                }
            }
        }
        if let Ok(t) = &topic
            && total > before
        {
            per_topic.push((Arc::clone(t), total - before));
        }
        let tr = FetchableTopicResponse::default().with_partitions(parts);
        let tr = if ctx.api_version >= 13 {
            tr.with_topic_id(t.topic_id)
        } else {
            tr.with_topic(t.topic.clone())
        };
        topics.push(tr);
    }
    (
        FetchResponse::default().with_responses(topics),
        BytesRead { total, per_topic },
        any_error,
    )
}

#[cfg(test)]
mod tests {
    use super::ResponseBudget;

    #[test]
    fn a_chunked_response_is_the_ordinary_encoding_in_pieces() {
        use kafka_protocol::messages::FetchResponse;
        use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
        use kafka_protocol::protocol::Encodable;
        let big = bytes::Bytes::from(vec![0xab_u8; 100_000]);
        let small = bytes::Bytes::from(vec![0xcd_u8; 100]);
        let parts = vec![
            PartitionData::default()
                .with_partition_index(0)
                .with_records(Some(big.clone())),
            PartitionData::default()
                .with_partition_index(1)
                .with_records(Some(small)),
            PartitionData::default()
                .with_partition_index(2)
                .with_records(Some(bytes::Bytes::new())),
            PartitionData::default()
                .with_partition_index(3)
                .with_records(Some(big.clone())),
        ];
        for version in 4..=16 {
            let topic = FetchableTopicResponse::default().with_partitions(parts.clone());
            let topic = if version >= 13 {
                topic.with_topic_id(uuid::Uuid::from_u128(7))
            } else {
                topic.with_topic(kafka_protocol::messages::TopicName(super::super::sb("t")))
            };
            let resp = FetchResponse::default().with_responses(vec![topic]);
            let mut flat = bytes::BytesMut::new();
            resp.encode(&mut flat, version).unwrap();
            let chunks = super::encode_chunked(&resp, version).unwrap();
            assert_eq!(chunks.concat(), flat.to_vec(), "v{version}");
            // The two large record sets are shared, not copied.
            let shared = chunks
                .iter()
                .filter(|c| c.as_ptr() == big.as_ptr() && c.len() == big.len())
                .count();
            assert_eq!(shared, 2, "v{version}");
        }
    }

    #[test]
    fn only_the_first_partition_with_data_may_exceed_the_limits() {
        let mut b = ResponseBudget::new(1000);
        // Nothing read yet: the first partition may return one oversized batch.
        assert_eq!(b.limit(600), (600, true));
        // An empty partition does not use up that allowance.
        b.took(0);
        assert_eq!(b.limit(2000), (1000, true));
        // The first data was larger than the budget: later partitions get nothing more.
        b.took(1500);
        assert_eq!(b.limit(600), (0, false));
    }

    #[test]
    fn later_partitions_read_what_is_left_of_both_limits() {
        let mut b = ResponseBudget::new(1000);
        b.took(300);
        assert_eq!(b.limit(600), (600, false));
        b.took(600);
        assert_eq!(b.limit(600), (100, false));
        b.took(100);
        assert_eq!(b.limit(600), (0, false));
    }

    #[test]
    fn no_response_limit_leaves_only_the_partition_limit() {
        for max in [0, -1] {
            let mut b = ResponseBudget::new(max);
            assert_eq!(b.limit(1 << 20), (1 << 20, true));
            b.took(5 << 20);
            assert_eq!(b.limit(1 << 20), (1 << 20, false));
        }
        // A negative partition limit reads nothing beyond the first-batch allowance.
        assert_eq!(ResponseBudget::new(100).limit(-1), (0, true));
    }
}
