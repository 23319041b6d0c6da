//! One connection to one broker: connect, ApiVersions negotiation, and calls that send a request
//! with a fresh correlation id and read the matching response, each bounded by a timeout.

use std::collections::HashMap;
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use kafka_protocol::messages::ApiVersionsRequest;
use kafka_protocol::protocol::{Message, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use crate::codec::{self, MAX_FRAME};
use crate::{Error, Result};

/// Kafka's UNSUPPORTED_VERSION error code.
const UNSUPPORTED_VERSION: i16 = 35;
/// The ApiVersions version tried first (the newest with client software name and version).
const API_VERSIONS_FIRST: i16 = 3;

/// How a [`Client`] connects and calls.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bound on connecting and on each request's round trip.
    pub timeout: Duration,
    /// The request header's client id.
    pub client_id: String,
    /// Largest response frame accepted.
    pub max_frame: usize,
}

impl Config {
    /// `client_id` with `timeout` per connect and per request, and the default frame limit.
    #[must_use]
    pub fn new(client_id: impl Into<String>, timeout: Duration) -> Self {
        Self {
            timeout,
            client_id: client_id.into(),
            max_frame: MAX_FRAME,
        }
    }
}

/// The byte stream a [`Client`] runs over: TCP, or TLS over TCP set up by the caller.
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Transport for T {}

/// A connection to one broker, one request in flight at a time.
///
/// After an error (a timeout in particular, whose answer may still arrive) drop the client and
/// connect again: the next response on this connection could answer the abandoned request.
pub struct Client {
    framed: Framed<Box<dyn Transport>, LengthDelimitedCodec>,
    address: String,
    config: Config,
    correlation_id: i32,
    /// API key → (min, max) the broker supports, once negotiated.
    versions: HashMap<i16, (i16, i16)>,
}

impl Client {
    /// Connects to `address` (`host:port`) without negotiating versions (see
    /// [`Client::connect_negotiated`]).
    ///
    /// # Errors
    /// [`Error::Timeout`] or [`Error::Io`] when the connection cannot be made.
    pub async fn connect(address: &str, config: Config) -> Result<Self> {
        let stream = tokio::time::timeout(config.timeout, TcpStream::connect(address))
            .await
            .map_err(|_| Error::Timeout {
                address: address.to_string(),
                op: "connect",
            })?
            .map_err(|source| Error::Io {
                address: address.to_string(),
                source,
            })?;
        stream.set_nodelay(true).map_err(|source| Error::Io {
            address: address.to_string(),
            source,
        })?;
        Ok(Self::over(stream, address, config))
    }

    /// A client over a stream the caller connected (a TLS stream after its handshake);
    /// `address` names the broker in errors.
    pub fn over(stream: impl Transport + 'static, address: &str, config: Config) -> Self {
        Self {
            framed: Framed::new(Box::new(stream), codec::frame_codec(config.max_frame)),
            address: address.to_string(),
            config,
            correlation_id: 0,
            versions: HashMap::new(),
        }
    }

    /// Connects to `address` and negotiates API versions with ApiVersions.
    ///
    /// # Errors
    /// Connection, timeout or negotiation failures.
    pub async fn connect_negotiated(address: &str, config: Config) -> Result<Self> {
        let mut client = Self::connect(address, config).await?;
        client.negotiate().await?;
        Ok(client)
    }

    /// The broker's address.
    #[must_use]
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Asks the broker which API versions it supports: ApiVersions v3 first, v0 when the broker
    /// answers UNSUPPORTED_VERSION (or in a format v3 cannot read), as Kafka's clients do.
    ///
    /// # Errors
    /// I/O, timeout or decoding failures; [`Error::ApiVersions`] when the broker refuses.
    pub async fn negotiate(&mut self) -> Result<()> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("eddy-kafka-client"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let response = match self.call_at(&request, API_VERSIONS_FIRST).await {
            Ok(r) if r.error_code != UNSUPPORTED_VERSION => r,
            Ok(_) | Err(Error::Codec(_)) => {
                tracing::debug!(address = %self.address, "api versions v3 refused; retrying at v0");
                self.call_at(&ApiVersionsRequest::default(), 0).await?
            }
            Err(e) => return Err(e),
        };
        if response.error_code != 0 {
            return Err(Error::ApiVersions {
                code: response.error_code,
            });
        }
        self.versions = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(())
    }

    /// The highest version of `R` both sides support, capped at `cap`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the broker lacks the API (or versions were not negotiated) or
    /// the two sides share no version.
    pub fn version<R: Request>(&self, cap: i16) -> Result<i16> {
        let (broker_min, broker_max) = self
            .versions
            .get(&R::KEY)
            .copied()
            .ok_or(Error::Unsupported { api_key: R::KEY })?;
        let ours = <R as Message>::VERSIONS;
        let version = broker_max.min(ours.max).min(cap);
        if version < broker_min.max(ours.min) {
            return Err(Error::Unsupported { api_key: R::KEY });
        }
        Ok(version)
    }

    /// Sends `req` at the highest negotiated version (capped at `cap`) and reads its response.
    ///
    /// # Errors
    /// Version, I/O, timeout or decoding failures.
    pub async fn call<R: Request>(&mut self, req: &R, cap: i16) -> Result<R::Response> {
        let version = self.version::<R>(cap)?;
        self.call_at(req, version).await
    }

    /// Sends `req` at exactly `version` and reads its response, bounded by the timeout.
    ///
    /// # Errors
    /// I/O, timeout, decoding or correlation failures.
    pub async fn call_at<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let expected = self.correlation_id;
        let frame = codec::encode_request(req, version, expected, &self.config.client_id)?;
        let address = self.address.clone();
        let io = |source| Error::Io {
            address: address.clone(),
            source,
        };
        let framed = &mut self.framed;
        let exchange = async {
            framed.send(frame).await.map_err(io)?;
            match framed.next().await {
                Some(frame) => frame.map_err(io),
                None => Err(Error::Closed {
                    address: address.clone(),
                }),
            }
        };
        let frame = tokio::time::timeout(self.config.timeout, exchange)
            .await
            .map_err(|_| Error::Timeout {
                address: self.address.clone(),
                op: "request",
            })??;
        let response = codec::decode_response::<R>(frame.freeze(), version)?;
        if response.correlation_id != expected {
            return Err(Error::Correlation {
                expected,
                got: response.correlation_id,
            });
        }
        if response.trailing > 0 {
            tracing::debug!(
                api_key = R::KEY,
                version,
                left = response.trailing,
                "response had trailing bytes"
            );
        }
        Ok(response.body)
    }
}

#[cfg(test)]
mod tests;
