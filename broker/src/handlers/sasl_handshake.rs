//! SaslHandshake: the broker has no SASL mechanism yet (PLAINTEXT listeners only), so every
//! handshake is answered as Kafka answers a mechanism it does not enable:
//! `UNSUPPORTED_SASL_MECHANISM` with the (empty) list of enabled mechanisms. A client configured
//! for SASL then reports exactly that instead of an unexplained disconnect.

use super::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};

pub async fn handle(ctx: &RequestContext, req: SaslHandshakeRequest) -> SaslHandshakeResponse {
    tracing::info!(
        peer = %ctx.peer,
        mechanism = %req.mechanism.as_str(),
        "SASL handshake refused: no SASL mechanism is enabled on this broker"
    );
    SaslHandshakeResponse::default()
        .with_error_code(ResponseError::UnsupportedSaslMechanism.code())
        .with_mechanisms(Vec::new())
}
