//! The Kafka APIs this broker implements: one file per API, and one registry (`APIS`) that
//! drives both dispatch and the ApiVersions answer, so advertised and implemented versions can
//! never drift.

pub mod api_versions;
pub mod fetch;
pub mod list_offsets;
pub mod metadata;
pub mod produce;

use crate::broker::Broker;
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use kafka_protocol::messages::ApiKey;
use std::net::SocketAddr;
use std::sync::Arc;

/// Who sent a request and how.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
    pub peer: SocketAddr,
    pub listener: String,
}

/// A handler's result: an encoded response body, or nothing (acks=0 produce).
pub enum Reply {
    Body(BytesMut),
    None,
}

/// Decodes the body, runs the handler, encodes the response. `Err` carries a decode/encode
/// failure reason; the connection is then closed.
pub type HandlerFn =
    fn(Arc<Broker>, RequestContext, Bytes) -> BoxFuture<'static, Result<Reply, String>>;

/// Decodes a request body without handling it (the fuzz target and codec tests use it).
pub type DecodeFn = fn(i16, Bytes) -> Result<(), String>;

/// One registry entry.
pub struct ApiEntry {
    pub key: ApiKey,
    pub name: &'static str,
    pub min: i16,
    pub max: i16,
    pub handler: HandlerFn,
    pub decode: DecodeFn,
}

/// Registers a handler module whose `handle(&Arc<Broker>, &RequestContext, Req) -> Resp`.
macro_rules! api {
    ($key:ident, $min:expr, $max:expr, $req:ty, $module:ident) => {
        ApiEntry {
            key: ApiKey::$key,
            name: stringify!($key),
            min: $min,
            max: $max,
            handler: |broker, ctx, mut body| {
                Box::pin(async move {
                    use kafka_protocol::protocol::{Decodable, Encodable};
                    let req =
                        <$req>::decode(&mut body, ctx.api_version).map_err(|e| e.to_string())?;
                    let resp = $module::handle(&broker, &ctx, req).await;
                    let mut out = BytesMut::new();
                    resp.encode(&mut out, ctx.api_version)
                        .map_err(|e| e.to_string())?;
                    Ok(Reply::Body(out))
                })
            },
            decode: |version, mut body| {
                use kafka_protocol::protocol::Decodable;
                <$req>::decode(&mut body, version)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            },
        }
    };
}

use kafka_protocol::messages as m;

/// Every implemented API with the version range it supports. Minimums follow Kafka 4.0's
/// baseline (KIP-896), except Produce, which advertises 0 like Kafka does so that old
/// librdkafka builds negotiate, and rejects v0-2.
pub static APIS: &[ApiEntry] = &[
    ApiEntry {
        key: ApiKey::Produce,
        name: "Produce",
        min: 0,
        max: 12,
        handler: produce::dispatch,
        decode: produce::decode_only,
    },
    api!(Fetch, 4, 16, m::FetchRequest, fetch),
    api!(ListOffsets, 1, 9, m::ListOffsetsRequest, list_offsets),
    api!(Metadata, 0, 12, m::MetadataRequest, metadata),
    api!(ApiVersions, 0, 4, m::ApiVersionsRequest, api_versions),
];

pub fn lookup(key: ApiKey) -> Option<&'static ApiEntry> {
    APIS.iter().find(|e| e.key == key)
}

/// The error code of a `ResponseError` (helper to keep handlers short).
pub fn code(e: kafka_protocol::error::ResponseError) -> i16 {
    e.code()
}

/// A `StrBytes` from a `&str`.
pub fn sb(s: &str) -> kafka_protocol::protocol::StrBytes {
    kafka_protocol::protocol::StrBytes::from_string(s.to_string())
}
