//! One Kafka wire client for the workspace: length-delimited framing (tokio-util's codec),
//! request headers and correlation ids, ApiVersions negotiation and per-request timeouts, with
//! the `kafka-protocol` crate encoding the messages; TLS (rustls) and SASL (PLAIN,
//! SCRAM-SHA-256/512) for secured listeners.
//!
//! [`codec`] is the sans-I/O half (encode a request, decode a response, the frame codec), shared
//! by the async [`Client`] and by blocking test clients; [`Client`] is one connection to one
//! broker, one request in flight at a time. [`scram`] and [`sasl`] are the one SASL client
//! implementation brokers and the operator share; [`tls`] sets up TLS connections.

mod client;
pub mod codec;
mod error;
pub mod sasl;
pub mod scram;
pub mod tls;

pub use client::{Client, Config, Transport};
pub use error::{Error, Result};
pub use tls::{Security, Tls};
