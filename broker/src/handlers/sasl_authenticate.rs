//! SaslAuthenticate: only valid after a successful SaslHandshake, which this broker never grants
//! (it has no SASL mechanism yet), so it is always `ILLEGAL_SASL_STATE`, as in Kafka.

use super::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use kafka_protocol::protocol::StrBytes;

pub async fn handle(
    _ctx: &RequestContext,
    _req: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .with_error_message(Some(StrBytes::from_static_str(
            "no SASL mechanism is enabled on this broker (PLAINTEXT listeners only)",
        )))
}
