//! The request versions Kafka 2.1 accepted that the current codec (kafka-protocol 0.18, Kafka
//! 4.0's schemas) no longer carries (KIP-896). They are served by the same handlers as the newer
//! versions, through a bridge:
//!
//! 1. decode the old-version request with kafka-protocol 0.15 (Kafka 3.9's schemas, which still
//!    have every version from 0; `third_party/kafka-protocol-legacy`),
//! 2. adjust what differs between the versions (message sets up-converted to record batches,
//!    fields the bridge version refuses reset),
//! 3. re-encode it, with the same crate, at the oldest version the current codec decodes (the
//!    "bridge" version, read from the current crate so the two can never drift), and run the
//!    registry's handler for that version,
//! 4. decode the handler's response at the bridge version with the old crate, adjust it back
//!    (records down-converted to message format v0/v1, v0-only fields filled in) and encode it at
//!    the requested version.
//!
//! Each handler file stays one per API and knows nothing of this; everything that differs
//! between the versions is in this module. The message-format conversion is in `message_set`.
//!
//! Served here: Produce v0-2, Fetch v0-3, ListOffsets v0, OffsetCommit v0-1, OffsetFetch v0,
//! CreateTopics v0-1, DeleteTopics v0, DescribeConfigs v0, OffsetForLeaderEpoch v0-1,
//! DescribeLogDirs v0, CreateAcls/DescribeAcls/DeleteAcls v0.

pub mod message_set;

use super::{DecodeFn, HandlerError, HandlerFn, Piece, Reply, RequestContext};
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use kafka_protocol::messages::ApiKey;
use kafka_protocol_legacy::messages as old;
use kafka_protocol_legacy::protocol::{Decodable, Encodable};

/// One API whose oldest versions go through the bridge.
trait Bridge: 'static {
    /// The request and response in the old crate's types.
    type Req: Decodable + Encodable + Send;
    type Resp: Decodable + Encodable + Send;
    /// What the request adjustment hands to the response adjustment.
    type State: Send + 'static;
    const KEY: ApiKey;
    /// The oldest version the current codec handles.
    const BRIDGE: i16;
    /// Adjusts a request decoded at `version` so it can be encoded at `BRIDGE`.
    fn request(req: &mut Self::Req, version: i16) -> Self::State;
    /// Adjusts a response decoded at `BRIDGE` so it can be encoded at `version`.
    fn response(resp: &mut Self::Resp, version: i16, state: Self::State);
}

/// The oldest version the current codec decodes for `Req`.
const fn min_of<Req: kafka_protocol::protocol::Message>() -> i16 {
    Req::VERSIONS.min
}

fn convert<B: Bridge>(
    body: BytesMut,
    version: i16,
    state: B::State,
) -> Result<BytesMut, HandlerError> {
    let mut body = body.freeze();
    let mut resp = B::Resp::decode(&mut body, B::BRIDGE).map_err(|e| {
        HandlerError::Bridge(format!("bridging the v{} response: {e:#}", B::BRIDGE))
    })?;
    B::response(&mut resp, version, state);
    let mut out = BytesMut::new();
    resp.encode(&mut out, version)
        .map_err(|e| HandlerError::Encode(e.to_string()))?;
    Ok(out)
}

fn dispatch<B: Bridge>(
    ctx: RequestContext,
    mut body: Bytes,
) -> BoxFuture<'static, Result<Reply, HandlerError>> {
    Box::pin(async move {
        let version = ctx.api_version;
        let mut req =
            B::Req::decode(&mut body, version).map_err(|e| HandlerError::Decode(e.to_string()))?;
        let state = B::request(&mut req, version);
        let mut bridged = BytesMut::new();
        req.encode(&mut bridged, B::BRIDGE)
            .map_err(|e| HandlerError::Bridge(format!("bridging to v{}: {e:#}", B::BRIDGE)))?;
        let entry = super::lookup(B::KEY)
            .ok_or_else(|| HandlerError::Bridge(format!("{:?} is not registered", B::KEY)))?;
        let ctx = RequestContext {
            api_version: B::BRIDGE,
            ..ctx
        };
        Ok(match (entry.handler)(ctx, bridged.freeze()).await? {
            Reply::Body(b) => Reply::Body(convert::<B>(b, version, state)?),
            Reply::Chunks(chunks) => {
                let mut b = BytesMut::with_capacity(chunks.iter().map(Piece::len).sum());
                for c in &chunks {
                    let bytes = c
                        .to_bytes()
                        .map_err(|e| HandlerError::Bridge(format!("reading records: {e}")))?;
                    b.extend_from_slice(&bytes);
                }
                Reply::Body(convert::<B>(b, version, state)?)
            }
            Reply::None => Reply::None,
            Reply::Later(fut) => {
                Reply::Later(Box::pin(
                    async move { convert::<B>(fut.await?, version, state) },
                ))
            }
        })
    })
}

fn decode_only<B: Bridge>(version: i16, mut body: Bytes) -> Result<(), HandlerError> {
    B::Req::decode(&mut body, version)
        .map(|_| ())
        .map_err(|e| HandlerError::Decode(e.to_string()))
}

/// One bridged API: (key, bridge version, handler, decoder).
type Route = (ApiKey, i16, HandlerFn, DecodeFn);

fn route<B: Bridge>() -> Route {
    (B::KEY, B::BRIDGE, dispatch::<B>, decode_only::<B>)
}

fn routes() -> [Route; 13] {
    [
        route::<Produce>(),
        route::<Fetch>(),
        route::<ListOffsets>(),
        route::<OffsetCommit>(),
        route::<OffsetFetch>(),
        route::<CreateTopics>(),
        route::<DeleteTopics>(),
        route::<DescribeConfigs>(),
        route::<OffsetForLeaderEpoch>(),
        route::<DescribeLogDirs>(),
        route::<CreateAcls>(),
        route::<DescribeAcls>(),
        route::<DeleteAcls>(),
    ]
}

/// The handler for `key` at `version` when that version is older than the current codec's.
pub fn handler(key: ApiKey, version: i16) -> Option<HandlerFn> {
    routes()
        .into_iter()
        .find(|r| r.0 == key && version < r.1)
        .map(|r| r.2)
}

/// The request decoder for `key` at `version` when that version goes through the bridge.
pub fn decoder(key: ApiKey, version: i16) -> Option<DecodeFn> {
    routes()
        .into_iter()
        .find(|r| r.0 == key && version < r.1)
        .map(|r| r.3)
}

/// The bridge version of `key` (the current codec's oldest), if `key` has bridged versions.
pub fn bridge_version(key: ApiKey) -> Option<i16> {
    routes().into_iter().find(|r| r.0 == key).map(|r| r.1)
}

// ---- Produce v0-2: message sets up-converted to one record batch per partition. ----

struct Produce;
impl Bridge for Produce {
    type Req = old::ProduceRequest;
    type Resp = old::ProduceResponse;
    /// (topic index, partition index, error) of partitions whose message set was rejected.
    type State = Vec<(usize, usize, i16)>;
    const KEY: ApiKey = ApiKey::Produce;
    const BRIDGE: i16 = min_of::<kafka_protocol::messages::ProduceRequest>();

    fn request(req: &mut Self::Req, _version: i16) -> Self::State {
        let mut rejected = Vec::new();
        for (ti, t) in req.topic_data.iter_mut().enumerate() {
            for (pi, p) in t.partition_data.iter_mut().enumerate() {
                let set = p.records.take().unwrap_or_default();
                match message_set::up_convert(set) {
                    Ok(batch) => p.records = Some(batch),
                    Err(e) => {
                        tracing::debug!(topic = %t.name.0, partition = p.index, error = %e,
                            "rejected an old-format message set");
                        // The handler answers an empty partition with an error and appends
                        // nothing; the response gets the conversion's error instead.
                        p.records = Some(Bytes::new());
                        rejected.push((ti, pi, e.response_error().code()));
                    }
                }
            }
        }
        rejected
    }

    fn response(resp: &mut Self::Resp, _version: i16, rejected: Self::State) {
        for (ti, pi, code) in rejected {
            if let Some(p) = resp
                .responses
                .get_mut(ti)
                .and_then(|t| t.partition_responses.get_mut(pi))
            {
                p.error_code = code;
                p.base_offset = -1;
            }
        }
    }
}

// ---- Fetch v0-3: record batches down-converted to message format v0 (v0-1) or v1 (v2-3). ----

struct Fetch;
impl Bridge for Fetch {
    type Req = old::FetchRequest;
    type Resp = old::FetchResponse;
    /// The fetch offset of every requested partition, in request order.
    type State = Vec<Vec<i64>>;
    const KEY: ApiKey = ApiKey::Fetch;
    const BRIDGE: i16 = min_of::<kafka_protocol::messages::FetchRequest>();

    fn request(req: &mut Self::Req, _version: i16) -> Self::State {
        req.topics
            .iter()
            .map(|t| t.partitions.iter().map(|p| p.fetch_offset).collect())
            .collect()
    }

    fn response(resp: &mut Self::Resp, version: i16, offsets: Self::State) {
        let magic = if version <= 1 { 0 } else { 1 };
        for (ti, t) in resp.responses.iter_mut().enumerate() {
            for (pi, p) in t.partitions.iter_mut().enumerate() {
                let from = offsets
                    .get(ti)
                    .and_then(|o| o.get(pi))
                    .copied()
                    .unwrap_or(0);
                if let Some(records) = p.records.take() {
                    p.records = Some(message_set::down_convert(records, magic, from));
                }
                p.last_stable_offset = -1;
                p.aborted_transactions = None;
            }
        }
    }
}

// ---- ListOffsets v0: the single offset v1 finds, as v0's offset list. ----

struct ListOffsets;
impl Bridge for ListOffsets {
    type Req = old::ListOffsetsRequest;
    type Resp = old::ListOffsetsResponse;
    /// max_num_offsets of every requested partition, in request order.
    type State = Vec<Vec<i32>>;
    const KEY: ApiKey = ApiKey::ListOffsets;
    const BRIDGE: i16 = min_of::<kafka_protocol::messages::ListOffsetsRequest>();

    fn request(req: &mut Self::Req, _version: i16) -> Self::State {
        req.topics
            .iter_mut()
            .map(|t| {
                t.partitions
                    .iter_mut()
                    // v1 has no such field; the codec wants its default (1) there.
                    .map(|p| std::mem::replace(&mut p.max_num_offsets, 1))
                    .collect()
            })
            .collect()
    }

    fn response(resp: &mut Self::Resp, _version: i16, max: Self::State) {
        for (ti, t) in resp.topics.iter_mut().enumerate() {
            for (pi, p) in t.partitions.iter_mut().enumerate() {
                let wanted = max.get(ti).and_then(|m| m.get(pi)).copied().unwrap_or(1);
                p.old_style_offsets = if p.error_code == 0 && p.offset >= 0 && wanted > 0 {
                    vec![p.offset]
                } else {
                    Vec::new()
                };
                p.timestamp = -1;
                p.offset = -1;
                p.leader_epoch = -1;
            }
        }
    }
}

// ---- OffsetCommit v0-1: v1's per-partition commit timestamp is not kept (Kafka 2.1 used it
// only to compute the expiry, which retention replaces). v0 commits (ZooKeeper-stored in Kafka)
// go to the same group offsets store as every other commit. ----

struct OffsetCommit;
impl Bridge for OffsetCommit {
    type Req = old::OffsetCommitRequest;
    type Resp = old::OffsetCommitResponse;
    type State = ();
    const KEY: ApiKey = ApiKey::OffsetCommit;
    const BRIDGE: i16 = min_of::<kafka_protocol::messages::OffsetCommitRequest>();

    fn request(req: &mut Self::Req, _version: i16) {
        for t in &mut req.topics {
            for p in &mut t.partitions {
                p.commit_timestamp = -1;
            }
        }
    }

    fn response(_resp: &mut Self::Resp, _version: i16, (): ()) {}
}

/// An API whose old versions differ from the bridge version only in fields the old crate
/// fills with defaults (or drops) by itself.
macro_rules! same_shape {
    ($name:ident, $req:ty, $resp:ty, $current:ty) => {
        struct $name;
        impl Bridge for $name {
            type Req = $req;
            type Resp = $resp;
            type State = ();
            const KEY: ApiKey = ApiKey::$name;
            const BRIDGE: i16 = min_of::<$current>();
            fn request(_req: &mut Self::Req, _version: i16) {}
            fn response(_resp: &mut Self::Resp, _version: i16, (): ()) {}
        }
    };
}

same_shape!(
    OffsetFetch,
    old::OffsetFetchRequest,
    old::OffsetFetchResponse,
    kafka_protocol::messages::OffsetFetchRequest
);
same_shape!(
    CreateTopics,
    old::CreateTopicsRequest,
    old::CreateTopicsResponse,
    kafka_protocol::messages::CreateTopicsRequest
);
same_shape!(
    DeleteTopics,
    old::DeleteTopicsRequest,
    old::DeleteTopicsResponse,
    kafka_protocol::messages::DeleteTopicsRequest
);
same_shape!(
    OffsetForLeaderEpoch,
    old::OffsetForLeaderEpochRequest,
    old::OffsetForLeaderEpochResponse,
    kafka_protocol::messages::OffsetForLeaderEpochRequest
);
// ACL APIs v0: no pattern type; the schemas' default (LITERAL) is what v0 means.
same_shape!(
    CreateAcls,
    old::CreateAclsRequest,
    old::CreateAclsResponse,
    kafka_protocol::messages::CreateAclsRequest
);
same_shape!(
    DescribeAcls,
    old::DescribeAclsRequest,
    old::DescribeAclsResponse,
    kafka_protocol::messages::DescribeAclsRequest
);
same_shape!(
    DeleteAcls,
    old::DeleteAclsRequest,
    old::DeleteAclsResponse,
    kafka_protocol::messages::DeleteAclsRequest
);
same_shape!(
    DescribeLogDirs,
    old::DescribeLogDirsRequest,
    old::DescribeLogDirsResponse,
    kafka_protocol::messages::DescribeLogDirsRequest
);

// ---- DescribeConfigs v0: `is_default` instead of v1's config source. ----

struct DescribeConfigs;
impl Bridge for DescribeConfigs {
    type Req = old::DescribeConfigsRequest;
    type Resp = old::DescribeConfigsResponse;
    type State = ();
    const KEY: ApiKey = ApiKey::DescribeConfigs;
    const BRIDGE: i16 = min_of::<kafka_protocol::messages::DescribeConfigsRequest>();

    fn request(_req: &mut Self::Req, _version: i16) {}

    fn response(resp: &mut Self::Resp, _version: i16, (): ()) {
        /// ConfigSource.DEFAULT_CONFIG.
        const DEFAULT_CONFIG: i8 = 5;
        for r in &mut resp.results {
            for c in &mut r.configs {
                c.is_default = c.config_source == DEFAULT_CONFIG;
                c.config_source = -1;
                c.synonyms.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bridge_versions_follow_the_current_codec() {
        assert_eq!(bridge_version(ApiKey::Produce), Some(3));
        assert_eq!(bridge_version(ApiKey::Fetch), Some(4));
        assert_eq!(bridge_version(ApiKey::ListOffsets), Some(1));
        assert_eq!(bridge_version(ApiKey::OffsetCommit), Some(2));
        assert_eq!(bridge_version(ApiKey::OffsetFetch), Some(1));
        assert_eq!(bridge_version(ApiKey::CreateTopics), Some(2));
        assert_eq!(bridge_version(ApiKey::DeleteTopics), Some(1));
        assert_eq!(bridge_version(ApiKey::DescribeConfigs), Some(1));
        assert_eq!(bridge_version(ApiKey::OffsetForLeaderEpoch), Some(2));
        assert_eq!(bridge_version(ApiKey::DescribeLogDirs), Some(1));
        assert_eq!(bridge_version(ApiKey::CreateAcls), Some(1));
        assert_eq!(bridge_version(ApiKey::DescribeAcls), Some(1));
        assert_eq!(bridge_version(ApiKey::DeleteAcls), Some(1));
        assert_eq!(bridge_version(ApiKey::Metadata), None);
        assert!(handler(ApiKey::Fetch, 3).is_some());
        assert!(handler(ApiKey::Fetch, 4).is_none());
    }

    /// Every bridged API lists version 0 in the registry, and the registry's minimum for it is
    /// exactly what the bridge covers below the current codec.
    #[test]
    fn the_registry_advertises_the_bridged_versions() {
        for (key, bridge, _, _) in routes() {
            let e = super::super::lookup(key).unwrap();
            assert_eq!(e.min, 0, "{key:?}");
            assert!(e.max >= bridge, "{key:?}");
        }
    }
}
