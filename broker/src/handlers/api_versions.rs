//! ApiVersions: answers from the registry, so what is advertised is exactly what is dispatched.
//! Its response header is always v0, and default-valued tagged fields are never written (old
//! librdkafka mis-skips them).

use super::{APIS, RequestContext, sb};
use bytes::BytesMut;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::api_versions_response::{FinalizedFeatureKey, SupportedFeatureKey};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::Encodable;

/// The registry's ranges at `eddy.version` level `level`: versions a feature level introduces
/// are advertised only once the cluster finalized it (`handlers::max_version`).
fn advertised(level: i16) -> Vec<ApiVersion> {
    APIS.iter()
        .map(|e| {
            ApiVersion::default()
                .with_api_key(e.key as i16)
                .with_min_version(e.min)
                .with_max_version(super::max_version(e, level))
        })
        .collect()
}

/// v3+ also carries the feature levels (KIP-584): what this broker supports and what the
/// cluster finalized, with the finalized levels' epoch.
pub async fn handle(ctx: &RequestContext, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    let finalized = ctx.metadata.finalized_features();
    let level = crate::features::effective_level(&finalized);
    let resp = ApiVersionsResponse::default().with_api_keys(advertised(level));
    if ctx.api_version < 3 {
        return resp;
    }
    resp.with_supported_features(
        crate::features::supported()
            .into_iter()
            .map(|(name, (lo, hi))| {
                SupportedFeatureKey::default()
                    .with_name(sb(&name))
                    .with_min_version(lo)
                    .with_max_version(hi)
            })
            .collect(),
    )
    .with_finalized_features_epoch(finalized.epoch)
    .with_finalized_features(
        finalized
            .levels
            .into_iter()
            .map(|(name, level)| {
                FinalizedFeatureKey::default()
                    .with_name(sb(&name))
                    .with_min_version_level(level)
                    .with_max_version_level(level)
            })
            .collect(),
    )
}

/// The v0 body sent when a client asks for an ApiVersions version we do not support (with the
/// ranges of the lowest feature level: the client asks again with a version we know).
pub fn unsupported_version_response() -> BytesMut {
    let resp = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(advertised(crate::features::EDDY_VERSION_MIN));
    let mut out = BytesMut::new();
    if let Err(e) = resp.encode(&mut out, 0) {
        tracing::error!(error = %e, "encoding the ApiVersions v0 fallback failed");
    }
    out
}
