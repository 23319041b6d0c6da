//! Sans-I/O framing: a request becomes a header plus body, a frame becomes a response header
//! plus body; the 4-byte big-endian length prefix is tokio-util's `LengthDelimitedCodec`.

use bytes::{Buf as _, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
pub use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

use crate::{Error, Result};

/// Largest response frame accepted by default (metadata of very large clusters stays far below).
pub const MAX_FRAME: usize = 64 << 20;

/// The Kafka frame codec: a 4-byte big-endian length, then that many bytes, at most `max_frame`.
#[must_use]
pub fn frame_codec(max_frame: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(max_frame)
        .new_codec()
}

/// Encodes `req` at `version` with its request header (the frame's payload, without length).
///
/// # Errors
/// [`Error::Codec`] when the message cannot be encoded at `version`.
pub fn encode_request<R: Request>(
    req: &R,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<Bytes> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, R::header_version(version))
        .map_err(|e| Error::Codec(format!("encode request header: {e}")))?;
    req.encode(&mut body, version)
        .map_err(|e| Error::Codec(format!("encode api key {} v{version}: {e}", R::KEY)))?;
    Ok(body.freeze())
}

/// A decoded response frame.
#[derive(Debug)]
pub struct Response<T> {
    /// The correlation id the broker answered.
    pub correlation_id: i32,
    /// The response body.
    pub body: T,
    /// Bytes left after the body (a newer broker's fields, or a bug on one side).
    pub trailing: usize,
}

/// Decodes a response frame (without length) as the answer to an `R` at `version`.
///
/// # Errors
/// [`Error::Codec`] when the header or body does not decode.
pub fn decode_response<R: Request>(
    mut frame: Bytes,
    version: i16,
) -> Result<Response<R::Response>> {
    let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version))
        .map_err(|e| Error::Codec(format!("decode response header: {e}")))?;
    let body = R::Response::decode(&mut frame, version).map_err(|e| {
        Error::Codec(format!(
            "decode api key {} v{version} response: {e}",
            R::KEY
        ))
    })?;
    Ok(Response {
        correlation_id: header.correlation_id,
        body,
        trailing: frame.remaining(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse, ResponseHeader};

    #[test]
    fn request_round_trips_through_the_frame_codec() {
        let req = MetadataRequest::default().with_allow_auto_topic_creation(false);
        let body = encode_request(&req, 9, 7, "t").expect("encode");
        let mut codec = frame_codec(MAX_FRAME);
        let mut wire = BytesMut::new();
        codec.encode(body.clone(), &mut wire).expect("frame");
        assert_eq!(
            &wire[..4],
            &u32::try_from(body.len()).expect("len").to_be_bytes()
        );
        let mut frame = codec
            .decode(&mut wire)
            .expect("decode")
            .expect("whole frame")
            .freeze();
        let header =
            RequestHeader::decode(&mut frame, MetadataRequest::header_version(9)).expect("header");
        assert_eq!(header.correlation_id, 7);
        assert_eq!(header.request_api_version, 9);
        assert_eq!(MetadataRequest::decode(&mut frame, 9).expect("body"), req);
    }

    #[test]
    fn response_decode_reports_correlation_and_trailing_bytes() {
        let mut buf = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(42)
            .encode(&mut buf, MetadataResponse::header_version(1))
            .expect("header");
        MetadataResponse::default()
            .encode(&mut buf, 1)
            .expect("body");
        buf.extend_from_slice(&[0, 0]);
        let resp = decode_response::<MetadataRequest>(buf.freeze(), 1).expect("decode");
        assert_eq!(resp.correlation_id, 42);
        assert_eq!(resp.trailing, 2);
    }

    #[test]
    fn oversized_frames_are_refused() {
        let mut codec = frame_codec(16);
        let mut wire = BytesMut::from(&[0u8, 0, 0, 17][..]);
        assert!(codec.decode(&mut wire).is_err());
    }
}
