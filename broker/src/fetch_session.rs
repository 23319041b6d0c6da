//! Incremental fetch sessions (KIP-227): a consumer of many partitions sends its partition list
//! once, then only what changed (new fetch offsets, `forgotten_topics_data`), and the broker
//! answers only the partitions that have something new. Pure bookkeeping, no I/O: the fetch
//! handler asks [`FetchSessionCache::begin`] what a request means, reads, then hands the
//! response to [`FetchSessionCache::finish`] to be trimmed and remembered.
//!
//! Kafka's rules, as its `FetchSession.scala` applies them:
//! - `session_id = 0, epoch = -1`: a full fetch without a session (what librdkafka always sends);
//! - `epoch = 0`: a full fetch that opens a new session (closing `session_id` if it is set); the
//!   response carries the new id, or 0 when the cache has no slot for it;
//! - `epoch = -1` with an id: closes that session, the fetch is sessionless;
//! - `epoch > 0`: an incremental fetch of session `session_id`, whose next expected epoch must
//!   match (else INVALID_FETCH_SESSION_EPOCH; an unknown id is FETCH_SESSION_ID_NOT_FOUND).
//!
//! The cache holds at most `max.incremental.fetch.session.cache.slots` sessions. When it is
//! full, a new session takes the slot of one unused for [`EVICTION_AFTER`], else of the
//! smallest session if the new one has more partitions (Kafka's two rules), else it is not
//! created (the client keeps fetching in full).

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a session must have been unused before a new one may take its slot (Kafka
/// hard-codes the same 120 s).
pub const EVICTION_AFTER: Duration = Duration::from_secs(120);

/// A partition in a session: by topic id (v13+) or name (older versions), and index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PartitionKey {
    topic_id: uuid::Uuid,
    topic: String,
    partition: i32,
}

/// What a session remembers of one partition: the client's last request for it, and the
/// values of the last response that carried it (a change in them must be sent again).
#[derive(Debug, Clone)]
struct CachedPartition {
    request: FetchPartition,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
}

#[derive(Debug)]
struct Session {
    /// The epoch the next incremental request must carry.
    next_epoch: i32,
    /// In fetch order: partitions that returned data move to the end (fairness under
    /// max_bytes, as Kafka does).
    partitions: indexmap::IndexMap<PartitionKey, CachedPartition>,
    last_used: Instant,
}

/// Why a request was refused at the session level (mapped to Kafka codes in
/// `handlers/errors.rs`: FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("no fetch session with this id")]
    IdNotFound,
    #[error("the fetch session's epoch is not the one expected")]
    InvalidEpoch,
}

/// What a fetch request means for sessions, decided before reading.
#[derive(Debug)]
pub enum SessionPlan {
    /// Answer this error and nothing else (session id 0).
    Error(SessionError),
    /// A full fetch without a session.
    Sessionless,
    /// A full fetch that opens a session once answered (if a slot is free then).
    Full,
    /// An incremental fetch of session `id`: `request` lists every partition of the session.
    Incremental { id: i32, request: Box<FetchRequest> },
}

impl SessionPlan {
    /// The request to read for: the session's whole partition list for an incremental fetch.
    pub fn request<'a>(&'a self, original: &'a FetchRequest) -> &'a FetchRequest {
        match self {
            SessionPlan::Incremental { request, .. } => request,
            _ => original,
        }
    }
}

/// The broker's fetch sessions.
#[derive(Debug)]
pub struct FetchSessionCache {
    slots: usize,
    sessions: Mutex<HashMap<i32, Session>>,
}

fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX { 1 } else { epoch + 1 }
}

fn key(topic: &FetchTopic, partition: i32) -> PartitionKey {
    PartitionKey {
        topic_id: topic.topic_id,
        topic: topic.topic.to_string(),
        partition,
    }
}

impl FetchSessionCache {
    /// A cache of at most `slots` sessions (0: fetch sessions are never created).
    pub fn new(slots: usize) -> Self {
        FetchSessionCache {
            slots,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Number of sessions held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decides what `req` (a consumer's Fetch at `version`) means, and applies an incremental
    /// request's changes (new offsets, forgotten partitions) to its session.
    pub fn begin(&self, req: &FetchRequest, version: i16, now: Instant) -> SessionPlan {
        if version < 7 {
            return SessionPlan::Sessionless;
        }
        let (id, epoch) = (req.session_id, req.session_epoch);
        if epoch == 0 || epoch == -1 {
            if id != 0 {
                self.lock().remove(&id);
            }
            return if epoch == 0 && self.slots > 0 {
                SessionPlan::Full
            } else {
                SessionPlan::Sessionless
            };
        }
        let mut sessions = self.lock();
        let Some(session) = sessions.get_mut(&id) else {
            return SessionPlan::Error(SessionError::IdNotFound);
        };
        if session.next_epoch != epoch {
            return SessionPlan::Error(SessionError::InvalidEpoch);
        }
        session.next_epoch = next_epoch(epoch);
        session.last_used = now;
        for t in &req.topics {
            for p in &t.partitions {
                let k = key(t, p.partition);
                match session.partitions.get_mut(&k) {
                    Some(c) => c.request = p.clone(),
                    None => {
                        session.partitions.insert(
                            k,
                            CachedPartition {
                                request: p.clone(),
                                high_watermark: -1,
                                last_stable_offset: -1,
                                log_start_offset: -1,
                            },
                        );
                    }
                }
            }
        }
        for f in &req.forgotten_topics_data {
            for p in &f.partitions {
                session.partitions.shift_remove(&PartitionKey {
                    topic_id: f.topic_id,
                    topic: f.topic.to_string(),
                    partition: *p,
                });
            }
        }
        // The session's whole list, grouped by topic in session order.
        let mut topics: Vec<FetchTopic> = Vec::new();
        for (k, c) in &session.partitions {
            match topics.last_mut() {
                Some(t) if t.topic_id == k.topic_id && t.topic.as_str() == k.topic => {
                    t.partitions.push(c.request.clone());
                }
                _ => topics.push(
                    FetchTopic::default()
                        .with_topic(TopicName(kafka_protocol::protocol::StrBytes::from_string(
                            k.topic.clone(),
                        )))
                        .with_topic_id(k.topic_id)
                        .with_partitions(vec![c.request.clone()]),
                ),
            }
        }
        let mut request = req.clone();
        request.topics = topics;
        request.forgotten_topics_data = Vec::new();
        SessionPlan::Incremental {
            id,
            request: Box::new(request),
        }
    }

    /// Finishes a fetch planned by [`Self::begin`]: a full fetch opens its session (when a
    /// slot can be had) and the response carries its id; an incremental response keeps only
    /// the partitions with news (data, an error, or a changed watermark or log start).
    pub fn finish(
        &self,
        plan: &SessionPlan,
        original: &FetchRequest,
        resp: &mut FetchResponse,
        now: Instant,
    ) {
        match plan {
            SessionPlan::Error(_) | SessionPlan::Sessionless => {}
            SessionPlan::Full => {
                let mut partitions = indexmap::IndexMap::new();
                for (t, tr) in original.topics.iter().zip(&resp.responses) {
                    for (p, pr) in t.partitions.iter().zip(&tr.partitions) {
                        partitions.insert(
                            key(t, p.partition),
                            CachedPartition {
                                request: p.clone(),
                                high_watermark: pr.high_watermark,
                                last_stable_offset: pr.last_stable_offset,
                                log_start_offset: pr.log_start_offset,
                            },
                        );
                    }
                }
                let session = Session {
                    next_epoch: 1,
                    partitions,
                    last_used: now,
                };
                resp.session_id = self.insert(session, now).unwrap_or(0);
            }
            SessionPlan::Incremental { id, request } => {
                resp.session_id = *id;
                let mut sessions = self.lock();
                // Evicted meanwhile: answer in full; the next request learns the session is gone.
                let Some(session) = sessions.get_mut(id) else {
                    return;
                };
                let mut with_data = Vec::new();
                let responses = std::mem::take(&mut resp.responses);
                for (t, mut tr) in request.topics.iter().zip(responses) {
                    let parts = std::mem::take(&mut tr.partitions);
                    let mut kept: Vec<PartitionData> = Vec::new();
                    for (p, pr) in t.partitions.iter().zip(parts) {
                        let k = key(t, p.partition);
                        let has_data = pr.records.as_ref().is_some_and(|r| !r.is_empty());
                        let news = match session.partitions.get_mut(&k) {
                            Some(c) => {
                                let changed = c.high_watermark != pr.high_watermark
                                    || c.last_stable_offset != pr.last_stable_offset
                                    || c.log_start_offset != pr.log_start_offset;
                                c.high_watermark = pr.high_watermark;
                                c.last_stable_offset = pr.last_stable_offset;
                                c.log_start_offset = pr.log_start_offset;
                                changed
                            }
                            None => true,
                        };
                        if has_data {
                            with_data.push(k);
                        }
                        if has_data || news || pr.error_code != 0 {
                            kept.push(pr);
                        }
                    }
                    if !kept.is_empty() {
                        tr.partitions = kept;
                        resp.responses.push(tr);
                    }
                }
                for k in with_data {
                    if let Some(c) = session.partitions.shift_remove(&k) {
                        session.partitions.insert(k, c);
                    }
                }
            }
        }
    }

    /// Stores a new session under a fresh id, evicting per Kafka's rules when full; None when
    /// no slot can be had.
    fn insert(&self, session: Session, now: Instant) -> Option<i32> {
        let mut sessions = self.lock();
        if sessions.len() >= self.slots {
            let stale = sessions
                .iter()
                .filter(|(_, s)| now.saturating_duration_since(s.last_used) >= EVICTION_AFTER)
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| *id);
            let smaller = || {
                sessions
                    .iter()
                    .filter(|(_, s)| s.partitions.len() < session.partitions.len())
                    .min_by_key(|(_, s)| (s.partitions.len(), s.last_used))
                    .map(|(id, _)| *id)
            };
            let victim = stale.or_else(smaller)?;
            sessions.remove(&victim);
        }
        // Random positive ids (as Kafka), so a stale id from an earlier broker run rarely matches.
        let id = (0..64)
            .map(|_| (uuid::Uuid::new_v4().as_u128() as u32 & 0x7fff_ffff) as i32)
            .find(|c| *c != 0 && !sessions.contains_key(c))?;
        sessions.insert(id, session);
        Some(id)
    }
}

#[cfg(test)]
#[path = "fetch_session_tests.rs"]
mod tests;
