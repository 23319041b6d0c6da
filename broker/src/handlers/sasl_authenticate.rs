//! SaslAuthenticate on a listener without SASL (PLAINTEXT/SSL): `ILLEGAL_SASL_STATE`, as in
//! Kafka. On SASL listeners the connection's SASL gate (server/sasl_gate.rs) handles it.

use super::{RequestContext, sb};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};

pub async fn handle(
    ctx: &RequestContext,
    _req: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .with_error_message(Some(sb(&format!(
            "listener {} ({}) does not use SASL",
            ctx.listener, ctx.security_protocol
        ))))
}
