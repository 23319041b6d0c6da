//! Unit tests of the fetch session cache (KIP-227 rules).

use super::*;
use kafka_protocol::messages::fetch_request::ForgottenTopic;
use kafka_protocol::messages::fetch_response::FetchableTopicResponse;

const V: i16 = 12;

fn part(p: i32, offset: i64) -> FetchPartition {
    FetchPartition::default()
        .with_partition(p)
        .with_fetch_offset(offset)
        .with_partition_max_bytes(1 << 20)
}

fn topic(name: &str, parts: Vec<FetchPartition>) -> FetchTopic {
    FetchTopic::default()
        .with_topic(TopicName(kafka_protocol::protocol::StrBytes::from_string(
            name.to_string(),
        )))
        .with_partitions(parts)
}

fn request(id: i32, epoch: i32, topics: Vec<FetchTopic>) -> FetchRequest {
    FetchRequest::default()
        .with_session_id(id)
        .with_session_epoch(epoch)
        .with_topics(topics)
}

/// What the read would answer for `req`: every partition, with `hw` as high watermark and
/// records for the partitions listed in `with_data`.
fn answer(req: &FetchRequest, hw: i64, with_data: &[(&str, i32)]) -> FetchResponse {
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let parts = t
                .partitions
                .iter()
                .map(|p| {
                    let data = with_data.contains(&(t.topic.as_str(), p.partition));
                    PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_high_watermark(hw)
                        .with_last_stable_offset(hw)
                        .with_log_start_offset(0)
                        .with_records(Some(if data {
                            bytes::Bytes::from_static(b"batch")
                        } else {
                            bytes::Bytes::new()
                        }))
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_partitions(parts)
        })
        .collect();
    FetchResponse::default().with_responses(responses)
}

fn listed(resp: &FetchResponse) -> Vec<(String, i32)> {
    resp.responses
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.topic.to_string(), p.partition_index))
        })
        .collect()
}

/// Opens a session over a0, a1, b0 and returns its id.
fn open(cache: &FetchSessionCache, now: Instant) -> i32 {
    let req = request(
        0,
        0,
        vec![
            topic("a", vec![part(0, 0), part(1, 0)]),
            topic("b", vec![part(0, 0)]),
        ],
    );
    let plan = cache.begin(&req, V, now);
    assert!(matches!(plan, SessionPlan::Full));
    let mut resp = answer(&req, 10, &[]);
    cache.finish(&plan, &req, &mut resp, now);
    assert_ne!(resp.session_id, 0);
    assert_eq!(
        listed(&resp).len(),
        3,
        "a full response lists every partition"
    );
    resp.session_id
}

#[test]
fn sessionless_requests_and_old_versions_never_open_sessions() {
    let cache = FetchSessionCache::new(10);
    let now = Instant::now();
    let req = request(0, -1, vec![topic("a", vec![part(0, 0)])]);
    for (r, v) in [(&req, V), (&request(0, 0, vec![]), 6)] {
        let plan = cache.begin(r, v, now);
        assert!(matches!(plan, SessionPlan::Sessionless));
        let mut resp = answer(r, 1, &[]);
        cache.finish(&plan, r, &mut resp, now);
        assert_eq!(resp.session_id, 0);
    }
    assert!(cache.is_empty());
}

#[test]
fn an_incremental_fetch_reads_the_whole_session_and_answers_only_news() {
    let cache = FetchSessionCache::new(10);
    let now = Instant::now();
    let id = open(&cache, now);
    // Epoch 1 moves a1 forward and mentions nothing else.
    let req = request(id, 1, vec![topic("a", vec![part(1, 5)])]);
    let plan = cache.begin(&req, V, now);
    let SessionPlan::Incremental {
        id: got,
        request: whole,
    } = &plan
    else {
        panic!("not incremental: {plan:?}");
    };
    assert_eq!(*got, id);
    let all: Vec<(String, i32, i64)> = whole
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.topic.to_string(), p.partition, p.fetch_offset))
        })
        .collect();
    assert_eq!(
        all,
        vec![("a".into(), 0, 0), ("a".into(), 1, 5), ("b".into(), 0, 0)],
        "the session's partitions, with a1's new offset"
    );
    // Nothing changed but b0's data: only b0 is answered.
    let mut resp = answer(plan.request(&req), 10, &[("b", 0)]);
    cache.finish(&plan, &req, &mut resp, now);
    assert_eq!(resp.session_id, id);
    assert_eq!(listed(&resp), vec![("b".to_string(), 0)]);
    // A moved high watermark is news for every partition.
    let req = request(id, 2, vec![]);
    let plan = cache.begin(&req, V, now);
    let mut resp = answer(plan.request(&req), 11, &[]);
    cache.finish(&plan, &req, &mut resp, now);
    assert_eq!(listed(&resp).len(), 3);
    // And then nothing is.
    let req = request(id, 3, vec![]);
    let plan = cache.begin(&req, V, now);
    let mut resp = answer(plan.request(&req), 11, &[]);
    cache.finish(&plan, &req, &mut resp, now);
    assert!(listed(&resp).is_empty());
    assert_eq!(resp.session_id, id);
}

#[test]
fn partitions_that_returned_data_move_to_the_end_of_the_session() {
    let cache = FetchSessionCache::new(10);
    let now = Instant::now();
    let id = open(&cache, now);
    let req = request(id, 1, vec![]);
    let plan = cache.begin(&req, V, now);
    let mut resp = answer(plan.request(&req), 10, &[("a", 0)]);
    cache.finish(&plan, &req, &mut resp, now);
    let plan = cache.begin(&request(id, 2, vec![]), V, now);
    let SessionPlan::Incremental { request, .. } = plan else {
        panic!("not incremental");
    };
    let order: Vec<(String, i32)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.topic.to_string(), p.partition))
        })
        .collect();
    assert_eq!(
        order,
        vec![("a".into(), 1), ("b".into(), 0), ("a".into(), 0)]
    );
}

#[test]
fn forgotten_partitions_leave_the_session() {
    let cache = FetchSessionCache::new(10);
    let now = Instant::now();
    let id = open(&cache, now);
    let req = request(id, 1, vec![]).with_forgotten_topics_data(vec![
        ForgottenTopic::default()
            .with_topic(TopicName(
                kafka_protocol::protocol::StrBytes::from_static_str("a"),
            ))
            .with_partitions(vec![0, 1]),
    ]);
    let plan = cache.begin(&req, V, now);
    let SessionPlan::Incremental { request, .. } = plan else {
        panic!("not incremental");
    };
    assert_eq!(request.topics.len(), 1);
    assert_eq!(request.topics[0].topic.as_str(), "b");
    assert!(request.forgotten_topics_data.is_empty());
}

#[test]
fn wrong_epochs_and_unknown_ids_are_refused() {
    let cache = FetchSessionCache::new(10);
    let now = Instant::now();
    let id = open(&cache, now);
    assert!(matches!(
        cache.begin(&request(id, 2, vec![]), V, now),
        SessionPlan::Error(SessionError::InvalidEpoch)
    ));
    assert!(matches!(
        cache.begin(&request(id.wrapping_add(1).max(1), 1, vec![]), V, now),
        SessionPlan::Error(SessionError::IdNotFound)
    ));
    // The refused epoch did not use up the expected one.
    assert!(matches!(
        cache.begin(&request(id, 1, vec![]), V, now),
        SessionPlan::Incremental { .. }
    ));
    // A replayed epoch is refused.
    assert!(matches!(
        cache.begin(&request(id, 1, vec![]), V, now),
        SessionPlan::Error(SessionError::InvalidEpoch)
    ));
}

#[test]
fn closing_a_session_with_epoch_minus_one_or_reopening_with_zero_removes_it() {
    let cache = FetchSessionCache::new(10);
    let now = Instant::now();
    let id = open(&cache, now);
    assert!(matches!(
        cache.begin(&request(id, -1, vec![]), V, now),
        SessionPlan::Sessionless
    ));
    assert!(cache.is_empty());
    let id = open(&cache, now);
    assert!(matches!(
        cache.begin(&request(id, 0, vec![]), V, now),
        SessionPlan::Full
    ));
    assert!(
        cache.is_empty(),
        "the old session is closed before a new one opens"
    );
}

#[test]
fn a_full_cache_evicts_stale_sessions_then_smaller_ones_else_opens_none() {
    let cache = FetchSessionCache::new(1);
    let t0 = Instant::now();
    let first = open(&cache, t0);
    // Not stale, and the newcomer (one partition) is not larger: no session.
    let small = request(0, 0, vec![topic("c", vec![part(0, 0)])]);
    let plan = cache.begin(&small, V, t0);
    let mut resp = answer(&small, 1, &[]);
    cache.finish(&plan, &small, &mut resp, t0);
    assert_eq!(resp.session_id, 0);
    assert!(matches!(
        cache.begin(&request(first, 1, vec![]), V, t0),
        SessionPlan::Incremental { .. }
    ));
    // Stale after EVICTION_AFTER: the newcomer takes the slot.
    let later = t0 + EVICTION_AFTER + Duration::from_secs(1);
    let plan = cache.begin(&small, V, later);
    let mut resp = answer(&small, 1, &[]);
    cache.finish(&plan, &small, &mut resp, later);
    let second = resp.session_id;
    assert_ne!(second, 0);
    assert!(matches!(
        cache.begin(&request(first, 2, vec![]), V, later),
        SessionPlan::Error(SessionError::IdNotFound)
    ));
    // A larger newcomer evicts the smaller, fresh session.
    let big = request(0, 0, vec![topic("d", vec![part(0, 0), part(1, 0)])]);
    let plan = cache.begin(&big, V, later);
    let mut resp = answer(&big, 1, &[]);
    cache.finish(&plan, &big, &mut resp, later);
    assert_ne!(resp.session_id, 0);
    assert_eq!(cache.len(), 1);
    assert!(matches!(
        cache.begin(&request(second, 1, vec![]), V, later),
        SessionPlan::Error(SessionError::IdNotFound)
    ));
}

#[test]
fn zero_slots_never_open_sessions() {
    let cache = FetchSessionCache::new(0);
    let req = request(0, 0, vec![topic("a", vec![part(0, 0)])]);
    assert!(matches!(
        cache.begin(&req, V, Instant::now()),
        SessionPlan::Sessionless
    ));
}
