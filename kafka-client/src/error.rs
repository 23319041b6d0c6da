//! The client's errors, each naming the step that failed.

/// Result of the client's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the Kafka wire client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Connecting or socket I/O failed.
    #[error("kafka connection to {address}: {source}")]
    Io {
        /// Broker address.
        address: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The broker did not answer in time.
    #[error("kafka {op} to {address} timed out")]
    Timeout {
        /// Broker address.
        address: String,
        /// What timed out (`connect` or `request`).
        op: &'static str,
    },
    /// The broker closed the connection before answering.
    #[error("kafka connection to {address} closed by the broker")]
    Closed {
        /// Broker address.
        address: String,
    },
    /// Encoding a request or decoding a response failed.
    #[error("kafka protocol: {0}")]
    Codec(String),
    /// A response answered another request.
    #[error("kafka protocol: correlation id {got} does not match request {expected}")]
    Correlation {
        /// The request's correlation id.
        expected: i32,
        /// The response's.
        got: i32,
    },
    /// The broker does not support an API (or no version of it this client speaks).
    #[error("kafka api key {api_key} is not supported by the broker")]
    Unsupported {
        /// API key.
        api_key: i16,
    },
    /// ApiVersions answered with an error code.
    #[error("kafka api versions failed: error code {code}")]
    ApiVersions {
        /// Kafka error code.
        code: i16,
    },
    /// Setting up TLS (a bad PEM) or the TLS handshake failed.
    #[error("kafka tls: {0}")]
    Tls(String),
    /// The broker refused the SASL mechanism or the credentials.
    #[error("kafka sasl {mechanism} authentication of {user:?} to {address} failed: {reason}")]
    Authentication {
        /// Broker address.
        address: String,
        /// Mechanism.
        mechanism: &'static str,
        /// User name.
        user: String,
        /// What the broker answered or why the exchange broke.
        reason: String,
    },
}
