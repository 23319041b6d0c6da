//! One client connection: length-prefixed frames in, requests handled in order, responses
//! framed out in the same order. Pipelining: a request whose answer waits for something that
//! does not change what later requests see (an acks=1/all produce waiting for its group-commit
//! fsync) hands back a deferred reply; the connection reads and handles the next requests while
//! a writer half sends the answers in request order, up to `MAX_IN_FLIGHT` outstanding.
//! A malformed frame closes this connection only, with the reason logged.

use super::sasl_gate::{SaslGate, Verdict};
use super::send_file::{Transport, write_region};
use crate::broker::Broker;
use crate::handlers::{self, Piece, Reply, RequestContext};
use crate::security::quota::Throttle;
use crate::security::{Principal, SecurityProtocol};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::future::BoxFuture;
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

pub use crate::handlers::MAX_REQUEST_BYTES;

/// Answers a connection may owe before the broker stops reading its next requests (the
/// client then waits in TCP flow control). librdkafka keeps at most 5 in flight for an
/// idempotent producer, up to 1 000 000 otherwise.
pub const MAX_IN_FLIGHT: usize = 32;

/// Why a connection was closed by the broker.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("socket i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes is outside 4..={max}", max = MAX_REQUEST_BYTES)]
    FrameSize(i64),
    #[error("unknown api key {0}")]
    UnknownApi(i16),
    #[error("api {0:?} is not supported by this broker")]
    UnsupportedApi(ApiKey),
    #[error("api {key:?} version {version} is outside the supported range {min}..={max}")]
    UnsupportedVersion {
        key: ApiKey,
        version: i16,
        min: i16,
        max: i16,
    },
    #[error("decoding {key:?} v{version} failed: {reason}")]
    Decode {
        key: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("frame of {0} bytes before SASL authentication (at most {max})", max = super::sasl_gate::MAX_UNAUTHENTICATED_FRAME)]
    UnauthenticatedFrameSize(i64),
    #[error("no SASL authentication within {0:?}")]
    AuthenticationTimeout(std::time::Duration),
    #[error("sasl: {0}")]
    Sasl(String),
    #[error("encoding the {key:?} v{version} response failed: {reason}")]
    Encode {
        key: ApiKey,
        version: i16,
        reason: String,
    },
}

/// The listener a connection came in on.
#[derive(Debug)]
pub struct ListenerInfo {
    pub name: String,
    pub protocol: SecurityProtocol,
    /// The listener's SASL settings (SASL_PLAINTEXT/SASL_SSL listeners).
    pub sasl: Option<Arc<crate::security::sasl::SaslSettings>>,
}

/// Who the connection is: where it came from, on which listener, and the principal its
/// requests run as (set by authentication; `User:ANONYMOUS` until then).
#[derive(Debug, Clone)]
pub struct Session {
    pub peer: SocketAddr,
    pub listener: Arc<ListenerInfo>,
    pub principal: Arc<Principal>,
    /// The throttle time the last request earned (client quotas): reading pauses for it.
    pub throttle: Arc<Throttle>,
}

/// Serves one connection, given its two halves (a TCP stream's, or a TLS stream's after the
/// handshake) and the principal the transport authenticated (`User:ANONYMOUS` if none).
pub async fn run<R, W>(
    broker: Arc<Broker>,
    reader: R,
    writer: W,
    peer: SocketAddr,
    listener: Arc<ListenerInfo>,
    principal: Principal,
    mut shutdown: watch::Receiver<bool>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: Transport,
{
    broker.node.metrics.connections.inc();
    broker.node.metrics.connections_total.inc();
    let span = tracing::debug_span!("connection", %peer, listener = %listener.name);
    let session = Session {
        peer,
        listener,
        principal: Arc::new(principal),
        throttle: Arc::default(),
    };
    let result = tokio::select! {
        r = serve(&broker, reader, writer, session).instrument(span.clone()) => r,
        _ = shutdown.wait_for(|s| *s) => Ok(()),
    };
    match result {
        Ok(()) => {}
        Err(ConnectionError::Io(e)) if is_disconnect(&e) => {}
        Err(e) => tracing::warn!(parent: &span, error = %e, "closing connection"),
    }
    broker.node.metrics.connections.dec();
}

fn is_disconnect(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        UnexpectedEof | ConnectionReset | BrokenPipe | ConnectionAborted
    )
}

async fn serve<R, W>(
    broker: &Arc<Broker>,
    r: R,
    w: W,
    session: Session,
) -> Result<(), ConnectionError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: Transport,
{
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut writer = BufWriter::with_capacity(64 * 1024, w);
    let (tx, mut rx) = mpsc::channel::<Outgoing>(MAX_IN_FLIGHT);
    let mut session = session;
    let mut gate = session.listener.sasl.clone().map(SaslGate::new);
    let read_half = async move {
        let result: Result<(), ConnectionError> = async {
            loop {
                let max = gate.as_ref().map_or(MAX_REQUEST_BYTES, SaslGate::max_frame);
                let frame = match gate.as_ref().and_then(SaslGate::read_deadline) {
                    Some(deadline) => {
                        tokio::time::timeout_at(deadline, read_frame(&mut reader, max))
                            .await
                            .map_err(|_| {
                                ConnectionError::AuthenticationTimeout(
                                    session
                                        .listener
                                        .sasl
                                        .as_ref()
                                        .map_or(std::time::Duration::ZERO, |s| {
                                            s.authentication_timeout
                                        }),
                                )
                            })??
                    }
                    None => read_frame(&mut reader, max).await?,
                };
                let Some(frame) = frame else { return Ok(()) };
                if let Some(gate) = gate.as_mut() {
                    let metadata = Arc::clone(broker.metadata());
                    let lookup = move |user: &str, m| metadata.scram_credential(user, m);
                    match gate.on_frame(&frame, &mut session.principal, &lookup) {
                        Verdict::Dispatch => {}
                        Verdict::Fail {
                            answer,
                            delay,
                            reason,
                        } => {
                            if let Some(answer) = answer
                                && let Some(out) = gate_answer(*answer)?
                            {
                                let _ = tx.send(out).await;
                            }
                            // Kafka's connection.failed.authentication.delay.ms: slows down
                            // password guessing; the answer goes out before the close.
                            tokio::time::sleep(delay).await;
                            return Err(ConnectionError::Sasl(reason));
                        }
                        Verdict::Close(reason) => return Err(ConnectionError::Sasl(reason)),
                        other => {
                            if let Some(out) = gate_answer(other)?
                                && tx.send(out).await.is_err()
                            {
                                return Ok(());
                            }
                            continue;
                        }
                    }
                }
                let Some(out) = handle_frame(broker, frame, &session).await? else {
                    continue;
                };
                if tx.send(out).await.is_err() {
                    // The writer half failed; its error closes the connection.
                    return Ok(());
                }
                // KIP-219: a client over its quota is muted for its throttle time (the answer
                // carrying that time is already on its way).
                let throttle = session.throttle.take();
                if throttle > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(throttle)).await;
                }
            }
        }
        .await;
        // No more requests: the writer half sends what is owed, then ends.
        drop(tx);
        result
    };
    let write_half = async move {
        while let Some(out) = rx.recv().await {
            let (head, body) = match out {
                Outgoing::Ready(head, body) => (head, body),
                Outgoing::Later(fut) => fut.await?,
            };
            writer.write_all(&head).await?;
            // Small pieces gather in the write buffer; pieces larger than it (record batches)
            // go to the socket straight from the buffer they were read into, or from their
            // segment file (sendfile on plaintext connections).
            for piece in &body.0 {
                match piece {
                    Piece::Memory(chunk) => writer.write_all(chunk).await?,
                    Piece::File(region) => {
                        if write_region(&mut writer, region).await? {
                            broker
                                .node
                                .metrics
                                .sendfile_bytes
                                .inc_by(region.len() as u64);
                        }
                    }
                }
            }
            // Coalesce answers that are already queued into one write.
            if rx.is_empty() {
                writer.flush().await?;
            }
        }
        writer.flush().await?;
        Ok::<(), ConnectionError>(())
    };
    // A failed write ends the connection at once. When reading ends (end of stream, or a
    // malformed frame), the answers already owed for earlier requests are still sent (an
    // appended acks=all produce gets its acknowledgement) before the connection closes.
    tokio::pin!(read_half, write_half);
    let mut read_result = None;
    loop {
        tokio::select! {
            r = &mut read_half, if read_result.is_none() => read_result = Some(r),
            w = &mut write_half => {
                w?;
                return match read_result {
                    Some(r) => r,
                    None => read_half.await,
                };
            }
        }
    }
}

/// Reads one frame (without its length prefix) of at most `max` bytes; None at end of stream.
async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    max: usize,
) -> Result<Option<Bytes>, ConnectionError> {
    let len = match reader.read_i32().await {
        Ok(n) => i64::from(n),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if !(4..=MAX_REQUEST_BYTES as i64).contains(&len) {
        return Err(ConnectionError::FrameSize(len));
    }
    if len > max as i64 {
        return Err(ConnectionError::UnauthenticatedFrameSize(len));
    }
    // Read straight into the frame's spare capacity (no zero-fill of up to 100 MB).
    let len = len as usize;
    let mut frame = BytesMut::with_capacity(len);
    while frame.len() < len {
        let rest = (len - frame.len()) as u64;
        if reader.take(rest).read_buf(&mut frame).await? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
    Ok(Some(frame.freeze()))
}

/// The frame the SASL gate asked to send, if any.
fn gate_answer(v: Verdict) -> Result<Option<Outgoing>, ConnectionError> {
    match v {
        Verdict::Answer {
            correlation_id,
            key,
            version,
            body,
        } => {
            let head = frame_response(
                correlation_id,
                key.response_header_version(version),
                body.len(),
                key,
                version,
            )?;
            Ok(Some(Outgoing::Ready(head, body.into())))
        }
        Verdict::RawToken(frame) => Ok(Some(Outgoing::Ready(frame, Body(Vec::new())))),
        _ => Ok(None),
    }
}

/// A framed answer (length prefix + response header, then the body), now or later.
enum Outgoing {
    Ready(BytesMut, Body),
    Later(BoxFuture<'static, Result<(BytesMut, Body), ConnectionError>>),
}

/// A response body: pieces written one after another.
struct Body(Vec<Piece>);

impl Body {
    fn len(&self) -> usize {
        self.0.iter().map(Piece::len).sum()
    }
}

impl From<BytesMut> for Body {
    fn from(b: BytesMut) -> Self {
        Body(vec![Piece::Memory(b.freeze())])
    }
}

/// A request frame whose header has been decoded and whose API and version are supported.
pub struct ParsedRequest {
    pub key: ApiKey,
    pub version: i16,
    pub header: RequestHeader,
    pub entry: &'static handlers::ApiEntry,
    /// The body after the header.
    pub body: Bytes,
}

/// What to do with a frame that could not be dispatched.
pub enum Rejection {
    /// Answer with this body (ApiVersions with an unsupported version, KIP-511), header v0.
    Answer {
        correlation_id: i32,
        key: ApiKey,
        body: BytesMut,
    },
    /// Close the connection for this reason.
    Close(ConnectionError),
}

/// Parses a request frame (without its length prefix): API key and version, checks them
/// against the registry, and decodes the request header. Pure: the fuzz target drives it.
pub fn parse_request(mut frame: Bytes) -> Result<ParsedRequest, Rejection> {
    if frame.len() < 8 {
        return Err(Rejection::Close(ConnectionError::FrameSize(
            frame.len() as i64
        )));
    }
    let raw_key = (&frame[0..2]).get_i16();
    let version = (&frame[2..4]).get_i16();
    let correlation_id = (&frame[4..8]).get_i32();
    let key = ApiKey::try_from(raw_key)
        .map_err(|()| Rejection::Close(ConnectionError::UnknownApi(raw_key)))?;
    let Some(entry) = handlers::lookup(key) else {
        return Err(Rejection::Close(ConnectionError::UnsupportedApi(key)));
    };
    if version < entry.min || version > entry.max {
        if key == ApiKey::ApiVersions {
            // KIP-511: answer with v0 carrying UNSUPPORTED_VERSION and our ranges.
            let body = handlers::api_versions::unsupported_version_response();
            return Err(Rejection::Answer {
                correlation_id,
                key,
                body,
            });
        }
        return Err(Rejection::Close(ConnectionError::UnsupportedVersion {
            key,
            version,
            min: entry.min,
            max: entry.max,
        }));
    }
    let header =
        RequestHeader::decode(&mut frame, key.request_header_version(version)).map_err(|e| {
            Rejection::Close(ConnectionError::Decode {
                key,
                version,
                reason: e.to_string(),
            })
        })?;
    Ok(ParsedRequest {
        key,
        version,
        header,
        entry,
        body: frame,
    })
}

/// Parses and fully decodes a frame without handling it: the request decoder under fuzzing.
pub fn decode_request(frame: Bytes) -> Result<(), String> {
    match parse_request(frame) {
        Ok(p) => {
            handlers::legacy::decoder(p.key, p.version).unwrap_or(p.entry.decode)(p.version, p.body)
                .map_err(|e| e.to_string())
        }
        Err(Rejection::Answer { .. }) => Ok(()),
        Err(Rejection::Close(e)) => Err(e.to_string()),
    }
}

/// Decodes one request frame, dispatches it and returns the framed response (None: no reply).
async fn handle_frame(
    broker: &Arc<Broker>,
    frame: Bytes,
    session: &Session,
) -> Result<Option<Outgoing>, ConnectionError> {
    let parsed = match parse_request(frame) {
        Ok(p) => p,
        Err(Rejection::Answer {
            correlation_id,
            key,
            body,
        }) => {
            broker
                .node
                .metrics
                .request_errors
                .with_label_values(&[api_name(key)])
                .inc();
            let head = frame_response(correlation_id, 0, body.len(), key, 0)?;
            return Ok(Some(Outgoing::Ready(head, body.into())));
        }
        Err(Rejection::Close(e)) => {
            if let ConnectionError::UnsupportedApi(key)
            | ConnectionError::UnsupportedVersion { key, .. } = &e
            {
                broker
                    .node
                    .metrics
                    .request_errors
                    .with_label_values(&[api_name(*key)])
                    .inc();
            }
            return Err(e);
        }
    };
    let ParsedRequest {
        key,
        version,
        header,
        entry,
        body,
    } = parsed;
    let correlation_id = header.correlation_id;
    let ctx = RequestContext {
        api_key: key,
        api_version: version,
        correlation_id,
        client_id: header.client_id.as_ref().map(|s| s.as_str().to_string()),
        peer: session.peer,
        listener: session.listener.name.clone(),
        security_protocol: session.listener.protocol,
        principal: Arc::clone(&session.principal),
        node: Arc::clone(&broker.node),
        metadata: Arc::clone(broker.metadata()),
        groups: Arc::clone(&broker.groups),
        txns: Arc::clone(&broker.txns),
        replication: Arc::clone(&broker.replication),
        quotas: Arc::clone(&broker.quotas),
        throttle: Arc::clone(&session.throttle),
    };
    let span = tracing::debug_span!("request", api = ?key, version, correlation_id);
    let timer = broker
        .node
        .metrics
        .request_latency
        .with_label_values(&[api_name(key)])
        .start_timer();
    // Versions older than the current codec's go through the legacy bridge.
    let handler = handlers::legacy::handler(key, version).unwrap_or(entry.handler);
    let started = std::time::Instant::now();
    let reply = handler(ctx, body).instrument(span).await;
    // request_percentage: the handler's time counts against the client's share (Kafka exempts
    // the handshake APIs, and followers are exempt as replicas).
    if !session.throttle.take_exempt()
        && !matches!(
            key,
            ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
        )
    {
        let t = broker.quotas.record_request_time(
            &session.principal.name,
            header.client_id.as_deref().unwrap_or(""),
            started.elapsed().as_nanos() as u64,
        );
        broker
            .quotas
            .observe_throttle(crate::security::quota::QuotaType::Request, t);
        session.throttle.raise(t);
    }
    let header_version = key.response_header_version(version);
    let failed = move |broker: &Broker, reason: handlers::HandlerError| {
        broker
            .node
            .metrics
            .request_errors
            .with_label_values(&[api_name(key)])
            .inc();
        ConnectionError::Decode {
            key,
            version,
            reason: reason.to_string(),
        }
    };
    let done = move |broker: &Broker| {
        broker
            .node
            .metrics
            .requests
            .with_label_values(&[api_name(key)])
            .inc();
    };
    match reply {
        Ok(Reply::Body(body)) => {
            timer.observe_duration();
            done(broker);
            let head = frame_response(correlation_id, header_version, body.len(), key, version)?;
            Ok(Some(Outgoing::Ready(head, body.into())))
        }
        Ok(Reply::Chunks(chunks)) => {
            timer.observe_duration();
            done(broker);
            let body = Body(chunks);
            let head = frame_response(correlation_id, header_version, body.len(), key, version)?;
            Ok(Some(Outgoing::Ready(head, body)))
        }
        Ok(Reply::None) => {
            timer.observe_duration();
            done(broker);
            Ok(None)
        }
        Ok(Reply::Later(fut)) => {
            let broker = Arc::clone(broker);
            Ok(Some(Outgoing::Later(Box::pin(async move {
                let body = fut.await;
                timer.observe_duration();
                done(&broker);
                let body = body.map_err(|reason| failed(&broker, reason))?;
                let head =
                    frame_response(correlation_id, header_version, body.len(), key, version)?;
                Ok((head, body.into()))
            }))))
        }
        Err(reason) => {
            timer.observe_duration();
            done(broker);
            Err(failed(broker, reason))
        }
    }
}

/// The length prefix and response header of a response whose body has `body_len` bytes (the
/// body is written after it as is, not copied behind the header).
fn frame_response(
    correlation_id: i32,
    header_version: i16,
    body_len: usize,
    key: ApiKey,
    version: i16,
) -> Result<BytesMut, ConnectionError> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let mut out = BytesMut::with_capacity(16);
    out.put_i32(0);
    header
        .encode(&mut out, header_version)
        .map_err(|e| ConnectionError::Encode {
            key,
            version,
            reason: e.to_string(),
        })?;
    let len = (out.len() - 4 + body_len) as i32;
    out[0..4].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

/// A stable label for metrics.
pub fn api_name(key: ApiKey) -> &'static str {
    handlers::lookup(key).map_or("unknown", |e| e.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(key: i16, version: i16, body: &[u8]) -> Bytes {
        let mut f = BytesMut::new();
        f.put_i16(key);
        f.put_i16(version);
        f.put_i32(1);
        f.put_i16(-1); // null client id
        if let Ok(k) = ApiKey::try_from(key)
            && k.request_header_version(version) >= 2
        {
            f.put_u8(0); // no tagged fields
        }
        f.extend_from_slice(body);
        f.freeze()
    }

    #[test]
    fn every_registered_api_rejects_truncated_bodies_without_panicking() {
        for e in handlers::APIS {
            for v in e.min..=e.max {
                let _ = decode_request(frame(e.key as i16, v, &[]));
                let _ = decode_request(frame(e.key as i16, v, &[0xff; 3]));
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_request(Bytes::from(data));
        }

        #[test]
        fn arbitrary_bodies_for_every_api_never_panic(idx in 0usize..64, v in 0i16..20, body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let e = &handlers::APIS[idx % handlers::APIS.len()];
            let _ = decode_request(frame(e.key as i16, v, &body));
        }
    }
}
