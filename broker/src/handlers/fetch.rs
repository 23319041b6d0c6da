//! Fetch: reads whole batches from each partition below the high watermark, honouring
//! partition and response byte limits (always at least one batch), and long-polls with
//! max_wait_ms/min_bytes until enough data arrives. A follower's fetch is served by
//! replication (up to the log end) and answered here.

use super::{RequestContext, code, errors};
use crate::node::TopicState;
use crate::security::acl::{Operation, ResourceType};
use crate::security::quota::QuotaType;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use std::sync::Arc;
use std::time::Duration;

pub async fn handle(ctx: &RequestContext, req: FetchRequest) -> FetchResponse {
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
        return follower_fetch(ctx, replica, &req).await;
    }
    let readable = readable_topics(ctx, &req);
    let (resp, read) = long_poll(ctx, &req, &readable).await;
    // consumer_byte_rate (KIP-219): over the quota, the response carries the throttle time
    // and no data (the bytes are taken back), and the connection is muted for that long.
    let (user, client) = (ctx.quota_user(), ctx.quota_client_id());
    let bytes = read.total as f64;
    let throttle = ctx.quotas.record(QuotaType::Fetch, user, client, bytes);
    if throttle > 0 {
        ctx.quotas.unrecord(QuotaType::Fetch, user, client, bytes);
        ctx.quotas.observe_throttle(QuotaType::Fetch, throttle);
        ctx.throttle.raise(throttle);
        return FetchResponse::default()
            .with_throttle_time_ms(i32::try_from(throttle).unwrap_or(i32::MAX));
    }
    read.count(ctx);
    resp
}

/// Reads until min_bytes are there or max_wait_ms has passed.
async fn long_poll(
    ctx: &RequestContext,
    req: &FetchRequest,
    readable: &[bool],
) -> (FetchResponse, BytesRead) {
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let mut changes = ctx.node.data_version.subscribe();
    loop {
        changes.borrow_and_update();
        let (resp, read, errors) = read_once(ctx, req, readable);
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
            let (resp, read, _) = read_once(ctx, req, readable);
            return (resp, read);
        }
    }
}

/// A follower's fetch (its replica id is a broker id): what replication serves, by topic name
/// (followers fetch at v12).
async fn follower_fetch(ctx: &RequestContext, replica: i32, req: &FetchRequest) -> FetchResponse {
    let served = crate::replication::serve_follower_fetch(&ctx.replication, replica, req).await;
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
                            .with_records(Some(d.records.into())),
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

/// One pass over every requested partition: (response, record bytes read, any error).
fn read_once(
    ctx: &RequestContext,
    req: &FetchRequest,
    readable: &[bool],
) -> (FetchResponse, BytesRead, bool) {
    let mut budget = if req.max_bytes <= 0 {
        usize::MAX
    } else {
        req.max_bytes as usize
    };
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
            // The first partition with data may exceed the response budget (KIP-74); later ones
            // only read while budget remains.
            let max = (p.partition_max_bytes.max(0) as usize).min(budget);
            if max == 0 && total > 0 {
                parts.push(
                    base.with_high_watermark(partition.high_watermark())
                        .with_last_stable_offset(partition.last_stable_offset())
                        .with_log_start_offset(lso(partition.log_start_offset())),
                );
                continue;
            }
            match partition.read(p.fetch_offset, max.max(1)) {
                Ok(out) => {
                    let n = out.records.len();
                    total += n;
                    budget = budget.saturating_sub(n);
                    parts.push(
                        base.with_high_watermark(out.high_watermark)
                            .with_last_stable_offset(out.last_stable_offset)
                            .with_log_start_offset(lso(out.log_start_offset))
                            .with_records(Some(out.records.into())),
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
