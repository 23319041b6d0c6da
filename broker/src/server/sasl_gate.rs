//! The SASL gate of a connection on a SASL_PLAINTEXT/SASL_SSL listener, as Kafka's channel
//! layer (`SaslServerAuthenticator`) runs it: until the client authenticates only ApiVersions,
//! SaslHandshake and SaslAuthenticate pass (anything else closes the connection); after a v0
//! SaslHandshake the tokens come as raw length-prefixed frames (pre-KIP-43), after v1 inside
//! SaslAuthenticate. A failure answers with Kafka's error and closes the connection after
//! `connection.failed.authentication.delay.ms`. With `connections.max.reauth.ms` the session
//! expires: the client re-authenticates (KIP-368) or its next request closes the connection.
//! The SASL state machine itself is `security::sasl` (no I/O); this file frames it.

use crate::handlers::errors;
use crate::security::Principal;
use crate::security::sasl::scram::{ScramCredential, ScramMechanism};
use crate::security::sasl::{AuthStep, Authenticator, SaslError, SaslSettings};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, RequestHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Largest frame accepted before authentication (Kafka's `sasl.server.max.receive.size`).
pub const MAX_UNAUTHENTICATED_FRAME: usize = 524_288;

/// What the connection does with a frame.
#[derive(Debug)]
pub enum Verdict {
    /// Dispatch it as any request.
    Dispatch,
    /// Answer with this response body (a Kafka response header goes in front).
    Answer {
        correlation_id: i32,
        key: ApiKey,
        version: i16,
        body: BytesMut,
    },
    /// Send this raw token frame (pre-KIP-43 framing: length + token, no header).
    RawToken(BytesMut),
    /// Send `answer` (if any), then close after `delay`.
    Fail {
        answer: Option<Box<Verdict>>,
        delay: Duration,
        reason: String,
    },
    /// Close at once.
    Close(String),
}

/// One connection's gate.
pub struct SaslGate {
    auth: Authenticator,
    /// After a v0 SaslHandshake: the next frame is a raw token.
    raw_tokens: bool,
    /// Until when the client may take to (first) authenticate.
    deadline: Instant,
    /// When the authenticated session expires (KIP-368), if `connections.max.reauth.ms` > 0.
    session_expiry: Option<Instant>,
}

impl SaslGate {
    pub fn new(settings: Arc<SaslSettings>) -> Self {
        let deadline = Instant::now() + settings.authentication_timeout;
        SaslGate {
            auth: Authenticator::new(settings),
            raw_tokens: false,
            deadline,
            session_expiry: None,
        }
    }

    fn authenticated(&self) -> bool {
        self.auth.user().is_some()
    }

    /// The largest frame the connection accepts now.
    pub fn max_frame(&self) -> usize {
        if self.authenticated() {
            crate::handlers::MAX_REQUEST_BYTES
        } else {
            MAX_UNAUTHENTICATED_FRAME
        }
    }

    /// When reading must have produced a frame by: the authentication deadline until the
    /// client authenticated.
    pub fn read_deadline(&self) -> Option<Instant> {
        (!self.authenticated()).then_some(self.deadline)
    }

    /// Decides what to do with one frame (without its length prefix); a successful
    /// authentication sets the session's principal.
    pub fn on_frame(
        &mut self,
        frame: &Bytes,
        principal: &mut Arc<Principal>,
        credentials: &dyn Fn(&str, ScramMechanism) -> Option<ScramCredential>,
    ) -> Verdict {
        if self.raw_tokens {
            self.raw_tokens = false;
            return match self.auth.authenticate(frame, credentials) {
                Ok(AuthStep::Challenge(token)) => {
                    self.raw_tokens = true;
                    Verdict::RawToken(raw_frame(&token))
                }
                Ok(AuthStep::Authenticated { user, token }) => {
                    self.authenticated_as(&user, principal);
                    Verdict::RawToken(raw_frame(&token))
                }
                // Pre-KIP-43 framing has no way to say why: the connection just closes.
                Err(e) => self.fail(None, &e),
            };
        }
        let (key, version, correlation_id, body) = match peek(frame) {
            Some(h) => h,
            None if self.authenticated() => return Verdict::Dispatch,
            None => return Verdict::Close("an undecodable frame before authentication".into()),
        };
        match key {
            ApiKey::ApiVersions => Verdict::Dispatch,
            ApiKey::SaslHandshake => self.handshake(version, correlation_id, body),
            ApiKey::SaslAuthenticate => {
                self.sasl_authenticate(version, correlation_id, body, principal, credentials)
            }
            _ if !self.authenticated() => {
                Verdict::Close(format!("{key:?} request before SASL authentication"))
            }
            _ if self.auth.exchanging() => {
                Verdict::Close(format!("{key:?} request during SASL re-authentication"))
            }
            _ if self.session_expiry.is_some_and(|t| Instant::now() >= t) => {
                Verdict::Close(format!(
                    "{key:?} request after the SASL session expired (connections.max.reauth.ms)"
                ))
            }
            _ => Verdict::Dispatch,
        }
    }

    fn authenticated_as(&mut self, user: &str, principal: &mut Arc<Principal>) {
        let reauth = self.session_expiry.is_some() || !principal.is_anonymous();
        let max = self.auth.settings().max_reauth;
        self.session_expiry = (!max.is_zero()).then(|| Instant::now() + max);
        if principal.name != user || principal.principal_type != Principal::USER_TYPE {
            *principal = Arc::new(Principal::user(user));
        }
        if reauth {
            tracing::info!(principal = %principal, "SASL re-authentication succeeded");
        } else {
            tracing::info!(principal = %principal, "SASL authentication succeeded");
        }
    }

    fn fail(&self, answer: Option<Verdict>, e: &SaslError) -> Verdict {
        Verdict::Fail {
            answer: answer.map(Box::new),
            delay: self.auth.settings().failed_delay,
            reason: e.to_string(),
        }
    }

    fn handshake(&mut self, version: i16, correlation_id: i32, mut body: Bytes) -> Verdict {
        let req = match SaslHandshakeRequest::decode(&mut body, version) {
            Ok(r) => r,
            Err(e) => return Verdict::Close(format!("undecodable SaslHandshake: {e}")),
        };
        let mechanisms = self
            .auth
            .settings()
            .mechanism_names()
            .into_iter()
            .map(StrBytes::from_static_str)
            .collect();
        let result = self.auth.handshake(req.mechanism.as_str());
        let code = result.as_ref().err().map_or(0, |e| errors::sasl(e).code());
        let resp = SaslHandshakeResponse::default()
            .with_error_code(code)
            .with_mechanisms(mechanisms);
        let answer = match encode(&resp, ApiKey::SaslHandshake, version, correlation_id) {
            Ok(a) => a,
            Err(v) => return v,
        };
        match result {
            Ok(_) => {
                self.raw_tokens = version == 0;
                answer
            }
            Err(e) => self.fail(Some(answer), &e),
        }
    }

    fn sasl_authenticate(
        &mut self,
        version: i16,
        correlation_id: i32,
        mut body: Bytes,
        principal: &mut Arc<Principal>,
        credentials: &dyn Fn(&str, ScramMechanism) -> Option<ScramCredential>,
    ) -> Verdict {
        let req = match SaslAuthenticateRequest::decode(&mut body, version) {
            Ok(r) => r,
            Err(e) => return Verdict::Close(format!("undecodable SaslAuthenticate: {e}")),
        };
        let result = self.auth.authenticate(&req.auth_bytes, credentials);
        let resp = match &result {
            Ok(AuthStep::Challenge(token)) => {
                SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(token.clone()))
            }
            Ok(AuthStep::Authenticated { user, token }) => {
                self.authenticated_as(user, principal);
                let max = self.auth.settings().max_reauth;
                SaslAuthenticateResponse::default()
                    .with_auth_bytes(Bytes::from(token.clone()))
                    .with_session_lifetime_ms(if version >= 1 {
                        i64::try_from(max.as_millis()).unwrap_or(i64::MAX)
                    } else {
                        0
                    })
            }
            Err(e) => {
                let enabled = self.auth.settings().mechanism_names();
                SaslAuthenticateResponse::default()
                    .with_error_code(errors::sasl(e).code())
                    .with_error_message(Some(StrBytes::from_string(e.client_message(&enabled))))
            }
        };
        let answer = match encode(&resp, ApiKey::SaslAuthenticate, version, correlation_id) {
            Ok(a) => a,
            Err(v) => return v,
        };
        match result {
            Ok(_) => answer,
            Err(e) => self.fail(Some(answer), &e),
        }
    }
}

/// API key, version, correlation id and the body after the request header, if the frame
/// decodes that far and the API and version are registered (ApiVersions always passes: an
/// unsupported version is answered as usual, KIP-511).
fn peek(frame: &Bytes) -> Option<(ApiKey, i16, i32, Bytes)> {
    if frame.len() < 8 {
        return None;
    }
    let key = ApiKey::try_from(i16::from_be_bytes([frame[0], frame[1]])).ok()?;
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    if key == ApiKey::ApiVersions {
        return Some((key, version, 0, Bytes::new()));
    }
    let entry = crate::handlers::lookup(key)?;
    if version < entry.min || version > entry.max {
        return None;
    }
    let mut body = frame.clone();
    let header = RequestHeader::decode(&mut body, key.request_header_version(version)).ok()?;
    Some((key, version, header.correlation_id, body))
}

fn encode<T: Encodable>(
    resp: &T,
    key: ApiKey,
    version: i16,
    correlation_id: i32,
) -> Result<Verdict, Verdict> {
    let mut body = BytesMut::new();
    resp.encode(&mut body, version)
        .map_err(|e| Verdict::Close(format!("encoding the {key:?} v{version} response: {e}")))?;
    Ok(Verdict::Answer {
        correlation_id,
        key,
        version,
        body,
    })
}

fn raw_frame(token: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(4 + token.len());
    out.put_i32(i32::try_from(token.len()).unwrap_or(i32::MAX));
    out.extend_from_slice(token);
    out
}
