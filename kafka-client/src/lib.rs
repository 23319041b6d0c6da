//! One Kafka wire client for the workspace: length-delimited framing (tokio-util's codec),
//! request headers and correlation ids, ApiVersions negotiation and per-request timeouts, with
//! the `kafka-protocol` crate encoding the messages.
//!
//! [`codec`] is the sans-I/O half (encode a request, decode a response, the frame codec), shared
//! by the async [`Client`] and by blocking test clients; [`Client`] is one connection to one
//! broker, one request in flight at a time.

mod client;
pub mod codec;
mod error;

pub use client::{Client, Config, Transport};
pub use error::{Error, Result};
