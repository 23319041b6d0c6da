//! SaslHandshake on a listener without SASL (PLAINTEXT/SSL). On SASL listeners the connection's
//! SASL gate (server/sasl_gate.rs) answers SaslHandshake itself, before any dispatch, as Kafka's
//! channel layer does; the registry entry keeps the API advertised in ApiVersions. Here Kafka
//! answers `ILLEGAL_SASL_STATE`: the client is configured for SASL but the listener has none.

use super::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};

pub async fn handle(ctx: &RequestContext, req: SaslHandshakeRequest) -> SaslHandshakeResponse {
    tracing::info!(
        peer = %ctx.peer,
        listener = %ctx.listener,
        mechanism = %req.mechanism.as_str(),
        "SASL handshake on a listener without SASL"
    );
    SaslHandshakeResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .with_mechanisms(Vec::new())
}
