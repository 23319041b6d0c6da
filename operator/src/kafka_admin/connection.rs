//! One Kafka connection: length-prefixed framing, request headers, version negotiation with
//! ApiVersions, every call bounded by a timeout.
use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf as _, BufMut as _, BytesMut};
use kafka_protocol::messages::{ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Message, Request, StrBytes};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::Error;

/// Largest response accepted (metadata of very large clusters stays far below).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// A connected, version-negotiated Kafka connection.
pub struct Connection {
    stream: TcpStream,
    address: String,
    correlation_id: i32,
    timeout: Duration,
    /// API key → (min, max) the broker supports.
    versions: HashMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects to `address` (`host:port`) and negotiates API versions.
    ///
    /// # Errors
    /// Connect, I/O, timeout or protocol errors.
    pub async fn connect(address: &str, timeout: Duration) -> Result<Self, Error> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| Error::Timeout {
                address: address.to_string(),
                op: "connect",
            })?
            .map_err(|source| Error::Io {
                address: address.to_string(),
                source,
            })?;
        let mut conn = Self {
            stream,
            address: address.to_string(),
            correlation_id: 0,
            timeout,
            versions: HashMap::new(),
        };
        // ApiVersions v0 is understood by every broker; its response header is always v0.
        let resp = conn.send_version(ApiVersionsRequest::default(), 0).await?;
        if resp.error_code != 0 {
            return Err(Error::Kafka {
                op: "api versions",
                code: resp.error_code,
                message: String::new(),
            });
        }
        conn.versions = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(conn)
    }

    /// The highest version of `R` both sides support, capped at `cap`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the broker lacks the API or shares no version.
    pub fn version<R: Request>(&self, cap: i16) -> Result<i16, Error> {
        let (bmin, bmax) = self
            .versions
            .get(&R::KEY)
            .copied()
            .ok_or(Error::Unsupported { api_key: R::KEY })?;
        let ours = <R as Message>::VERSIONS;
        let v = bmax.min(ours.max).min(cap);
        if v < bmin.max(ours.min) {
            return Err(Error::Unsupported { api_key: R::KEY });
        }
        Ok(v)
    }

    /// Sends `req` at the negotiated version (capped at `cap`) and decodes the response.
    ///
    /// # Errors
    /// I/O, timeout, version or decoding errors.
    pub async fn send<R: Request>(&mut self, req: R, cap: i16) -> Result<R::Response, Error> {
        let version = self.version::<R>(cap)?;
        self.send_version(req, version).await
    }

    async fn send_version<R: Request>(
        &mut self,
        req: R,
        version: i16,
    ) -> Result<R::Response, Error> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let mut header = RequestHeader::default();
        header.request_api_key = R::KEY;
        header.request_api_version = version;
        header.correlation_id = self.correlation_id;
        header.client_id = Some(StrBytes::from_static_str("eddy-operator"));
        let codec = |e: anyhow::Error| Error::Codec(e.to_string());
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .map_err(codec)?;
        req.encode(&mut body, version).map_err(codec)?;
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(
            i32::try_from(body.len()).map_err(|_| Error::Codec("request too large".into()))?,
        );
        frame.extend_from_slice(&body);

        let address = self.address.clone();
        let io = |source| Error::Io {
            address: address.clone(),
            source,
        };
        let exchange = async {
            self.stream.write_all(&frame).await.map_err(io)?;
            let len = self.stream.read_i32().await.map_err(io)?;
            let len = usize::try_from(len)
                .ok()
                .filter(|l| *l <= MAX_RESPONSE)
                .ok_or_else(|| Error::Codec(format!("response length {len} out of range")))?;
            let mut buf = vec![0u8; len];
            self.stream.read_exact(&mut buf).await.map_err(io)?;
            Ok::<_, Error>(buf)
        };
        let buf = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Error::Timeout {
                address: self.address.clone(),
                op: "request",
            })??;
        let mut bytes = bytes::Bytes::from(buf);
        let resp_header = ResponseHeader::decode(&mut bytes, R::Response::header_version(version))
            .map_err(codec)?;
        if resp_header.correlation_id != self.correlation_id {
            return Err(Error::Codec(format!(
                "correlation id {} does not match request {}",
                resp_header.correlation_id, self.correlation_id
            )));
        }
        let resp = R::Response::decode(&mut bytes, version).map_err(codec)?;
        if bytes.has_remaining() {
            tracing::debug!(
                api_key = R::KEY,
                version,
                left = bytes.remaining(),
                "response had trailing bytes"
            );
        }
        Ok(resp)
    }
}
