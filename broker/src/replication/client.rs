//! A minimal async Kafka wire client for follower fetchers (kafka-protocol encodes, we frame).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Responses larger than this are refused.
const MAX_RESPONSE: usize = 64 << 20;

pub struct KafkaConn {
    stream: TcpStream,
    correlation: i32,
}

impl KafkaConn {
    pub async fn connect(addr: &str, timeout: Duration) -> anyhow::Result<Self> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr)).await??;
        stream.set_nodelay(true)?;
        Ok(KafkaConn {
            stream,
            correlation: 0,
        })
    }

    /// Sends `req` at `version` and decodes the response, bounded by `timeout`.
    pub async fn call<R: Request>(
        &mut self,
        req: &R,
        version: i16,
        timeout: Duration,
    ) -> anyhow::Result<R::Response> {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("eddy-replica-fetcher")));
        let mut body = BytesMut::new();
        header.encode(&mut body, R::header_version(version))?;
        req.encode(&mut body, version)?;
        let mut frame = u32::try_from(body.len())?.to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        let correlation = self.correlation;
        let stream = &mut self.stream;
        tokio::time::timeout(timeout, async move {
            stream.write_all(&frame).await?;
            let mut len = [0u8; 4];
            stream.read_exact(&mut len).await?;
            let len = u32::from_be_bytes(len) as usize;
            anyhow::ensure!(len <= MAX_RESPONSE, "response of {len} bytes is too large");
            let mut buf = vec![0u8; len];
            stream.read_exact(&mut buf).await?;
            let mut buf = Bytes::from(buf);
            let rh = ResponseHeader::decode(&mut buf, R::Response::header_version(version))?;
            anyhow::ensure!(rh.correlation_id == correlation, "correlation id mismatch");
            R::Response::decode(&mut buf, version)
        })
        .await?
    }
}
