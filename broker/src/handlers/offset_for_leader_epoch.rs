//! OffsetForLeaderEpoch (v2-v4): the end offset of a leader epoch. One node never changes leader,
//! so every partition has the single epoch it was opened with: asking for it yields the log end
//! offset; an unknown one (negative, or later than the current epoch) gets UNDEFINED -1/-1, as
//! Kafka's leader-epoch cache answers. current_leader_epoch fences stale or future callers.

use super::{RequestContext, code};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

/// (leader_epoch, end_offset) for a requested epoch, given the partition's only epoch (which
/// started at offset 0) and its end offset. Kafka: the latest epoch ends at the log end; an
/// epoch later than any known, or undefined, is (-1, -1); an earlier one than the first maps to
/// (requested, start offset of the first epoch).
pub fn epoch_end(requested: i32, current: i32, log_end: i64) -> (i32, i64) {
    match requested {
        r if r < 0 || r > current => (-1, -1),
        r if r == current => (current, log_end),
        r => (r, 0),
    }
}

#[tracing::instrument(skip_all)]
pub async fn handle(
    ctx: &RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    let Some(part) = ctx.node.partition(t.topic.as_str(), p.partition) else {
                        return r.with_error_code(code(ResponseError::UnknownTopicOrPartition));
                    };
                    let epoch = part.leader_epoch();
                    if p.current_leader_epoch >= 0 && p.current_leader_epoch != epoch {
                        let e = if p.current_leader_epoch > epoch {
                            ResponseError::UnknownLeaderEpoch
                        } else {
                            ResponseError::FencedLeaderEpoch
                        };
                        return r.with_error_code(code(e));
                    }
                    // Consumers validate against what they could read: the high watermark.
                    let (e, off) = if ctx.metadata.replicated() {
                        match crate::replication::epoch_end_offset(
                            &part,
                            p.leader_epoch,
                            req.replica_id.0 >= 0,
                        ) {
                            Ok(v) => v,
                            Err(e) => return r.with_error_code(code(e.into())),
                        }
                    } else {
                        epoch_end(p.leader_epoch, epoch, part.high_watermark())
                    };
                    r.with_leader_epoch(e).with_end_offset(off)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::epoch_end;

    #[test]
    fn epochs() {
        assert_eq!(epoch_end(0, 0, 42), (0, 42));
        assert_eq!(epoch_end(3, 0, 42), (-1, -1));
        assert_eq!(epoch_end(-1, 0, 42), (-1, -1));
        assert_eq!(epoch_end(1, 2, 42), (1, 0));
    }
}
