//! ApiVersions: answers from the registry, so what is advertised is exactly what is dispatched.
//! Its response header is always v0, and default-valued tagged fields are never written (old
//! librdkafka mis-skips them).

use super::{APIS, RequestContext};
use bytes::BytesMut;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::Encodable;

fn advertised() -> Vec<ApiVersion> {
    APIS.iter()
        .map(|e| {
            ApiVersion::default()
                .with_api_key(e.key as i16)
                .with_min_version(e.min)
                .with_max_version(e.max)
        })
        .collect()
}

pub async fn handle(_ctx: &RequestContext, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(advertised())
}

/// The v0 body sent when a client asks for an ApiVersions version we do not support.
pub fn unsupported_version_response() -> BytesMut {
    let resp = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(advertised());
    let mut out = BytesMut::new();
    if let Err(e) = resp.encode(&mut out, 0) {
        tracing::error!(error = %e, "encoding the ApiVersions v0 fallback failed");
    }
    out
}
