//! One client connection: length-prefixed frames in, requests handled one at a time in order
//! (as Kafka does), responses framed out. A malformed frame closes this connection only, with
//! the reason logged.

use crate::broker::Broker;
use crate::handlers::{self, Reply, RequestContext};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::Instrument;

/// Largest request frame accepted (Kafka's socket.request.max.bytes).
pub const MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;

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
    #[error("encoding the {key:?} v{version} response failed: {reason}")]
    Encode {
        key: ApiKey,
        version: i16,
        reason: String,
    },
}

pub async fn run(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    listener: String,
    mut shutdown: watch::Receiver<bool>,
) {
    broker.metrics.connections.inc();
    broker.metrics.connections_total.inc();
    let span = tracing::debug_span!("connection", %peer, listener = %listener);
    let result = tokio::select! {
        r = serve(&broker, stream, peer, &listener).instrument(span.clone()) => r,
        _ = shutdown.wait_for(|s| *s) => Ok(()),
    };
    match result {
        Ok(()) => {}
        Err(ConnectionError::Io(e)) if is_disconnect(&e) => {}
        Err(e) => tracing::warn!(parent: &span, error = %e, "closing connection"),
    }
    broker.metrics.connections.dec();
}

fn is_disconnect(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        UnexpectedEof | ConnectionReset | BrokenPipe | ConnectionAborted
    )
}

async fn serve(
    broker: &Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    listener: &str,
) -> Result<(), ConnectionError> {
    let (r, w) = stream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut writer = BufWriter::with_capacity(64 * 1024, w);
    loop {
        let len = match reader.read_i32().await {
            Ok(n) => i64::from(n),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if !(4..=MAX_REQUEST_BYTES as i64).contains(&len) {
            return Err(ConnectionError::FrameSize(len));
        }
        let mut frame = BytesMut::zeroed(len as usize);
        reader.read_exact(&mut frame).await?;
        let frame = frame.freeze();
        let Some(out) = handle_frame(broker, frame, peer, listener).await? else {
            continue;
        };
        writer.write_all(&out).await?;
        writer.flush().await?;
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
        Ok(p) => (p.entry.decode)(p.version, p.body),
        Err(Rejection::Answer { .. }) => Ok(()),
        Err(Rejection::Close(e)) => Err(e.to_string()),
    }
}

/// Decodes one request frame, dispatches it and returns the framed response (None: no reply).
async fn handle_frame(
    broker: &Arc<Broker>,
    frame: Bytes,
    peer: SocketAddr,
    listener: &str,
) -> Result<Option<BytesMut>, ConnectionError> {
    let parsed = match parse_request(frame) {
        Ok(p) => p,
        Err(Rejection::Answer {
            correlation_id,
            key,
            body,
        }) => {
            broker
                .metrics
                .request_errors
                .with_label_values(&[api_name(key)])
                .inc();
            return Ok(Some(frame_response(correlation_id, 0, &body, key, 0)?));
        }
        Err(Rejection::Close(e)) => {
            if let ConnectionError::UnsupportedApi(key)
            | ConnectionError::UnsupportedVersion { key, .. } = &e
            {
                broker
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
        peer,
        listener: listener.to_string(),
    };
    let span = tracing::debug_span!("request", api = ?key, version, correlation_id);
    let timer = broker
        .metrics
        .request_latency
        .with_label_values(&[api_name(key)])
        .start_timer();
    let reply = (entry.handler)(Arc::clone(broker), ctx, body)
        .instrument(span)
        .await;
    timer.observe_duration();
    broker
        .metrics
        .requests
        .with_label_values(&[api_name(key)])
        .inc();
    match reply {
        Ok(Reply::Body(body)) => Ok(Some(frame_response(
            correlation_id,
            key.response_header_version(version),
            &body,
            key,
            version,
        )?)),
        Ok(Reply::None) => Ok(None),
        Err(reason) => {
            broker
                .metrics
                .request_errors
                .with_label_values(&[api_name(key)])
                .inc();
            Err(ConnectionError::Decode {
                key,
                version,
                reason,
            })
        }
    }
}

fn frame_response(
    correlation_id: i32,
    header_version: i16,
    body: &[u8],
    key: ApiKey,
    version: i16,
) -> Result<BytesMut, ConnectionError> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let mut out = BytesMut::with_capacity(body.len() + 16);
    out.put_i32(0);
    header
        .encode(&mut out, header_version)
        .map_err(|e| ConnectionError::Encode {
            key,
            version,
            reason: e.to_string(),
        })?;
    out.extend_from_slice(body);
    let len = (out.len() - 4) as i32;
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
