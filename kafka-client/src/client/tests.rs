//! The client against a scripted broker on a loopback listener.
#![allow(clippy::unwrap_used)]

use super::*;
use bytes::{Buf as _, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiVersionsResponse, MetadataRequest, MetadataResponse, ResponseHeader,
};
use kafka_protocol::protocol::{Encodable, HeaderVersion};
use tokio::net::TcpListener;

/// What the scripted broker does with one request.
enum Answer {
    /// Sends this frame payload.
    Frame(Bytes),
    /// Never answers.
    Silence,
    /// Closes the connection.
    Close,
}

/// Serves one connection on 127.0.0.1, answering each request (api key, version, correlation id)
/// with `script`; the task ends with the connection.
async fn broker(
    script: impl Fn(i16, i16, i32) -> Answer + Send + 'static,
) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut framed = Framed::new(stream, codec::frame_codec(MAX_FRAME));
        while let Some(Ok(mut frame)) = framed.next().await {
            // Every request header starts api key, api version, correlation id.
            let (key, version, correlation) = (frame.get_i16(), frame.get_i16(), frame.get_i32());
            match script(key, version, correlation) {
                Answer::Frame(f) => framed.send(f).await.unwrap(),
                Answer::Silence => {}
                Answer::Close => return,
            }
        }
    });
    (address, task)
}

fn encode<M: Encodable + HeaderVersion>(correlation: i32, version: i16, body: &M) -> Bytes {
    let mut buf = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation)
        .encode(&mut buf, M::header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    buf.freeze()
}

fn versions(error_code: i16) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(vec![
            ApiVersion::default()
                .with_api_key(MetadataRequest::KEY)
                .with_min_version(1)
                .with_max_version(9),
            ApiVersion::default()
                .with_api_key(ApiVersionsRequest::KEY)
                .with_min_version(0)
                .with_max_version(3),
        ])
}

fn config() -> Config {
    Config::new("test", Duration::from_secs(5))
}

#[tokio::test]
async fn negotiates_at_v3_and_picks_the_highest_common_version() {
    let (address, _task) = broker(|key, version, correlation| match key {
        18 => {
            assert_eq!(version, 3);
            Answer::Frame(encode(correlation, version, &versions(0)))
        }
        3 => Answer::Frame(encode(correlation, version, &MetadataResponse::default())),
        _ => Answer::Close,
    })
    .await;
    let mut client = Client::connect_negotiated(&address, config())
        .await
        .unwrap();
    assert_eq!(client.version::<MetadataRequest>(12).unwrap(), 9);
    assert_eq!(client.version::<MetadataRequest>(4).unwrap(), 4);
    assert!(matches!(
        client.version::<MetadataRequest>(0),
        Err(Error::Unsupported { api_key: 3 })
    ));
    assert!(matches!(
        client.version::<kafka_protocol::messages::FetchRequest>(12),
        Err(Error::Unsupported { api_key: 1 })
    ));
    client.call(&MetadataRequest::default(), 12).await.unwrap();
}

#[tokio::test]
async fn falls_back_to_v0_when_the_broker_refuses_v3() {
    let (address, _task) = broker(|key, version, correlation| {
        assert_eq!(key, 18);
        // A broker that does not know the version answers UNSUPPORTED_VERSION in v0's format.
        let code = if version == 0 { 0 } else { UNSUPPORTED_VERSION };
        Answer::Frame(encode(correlation, 0, &versions(code)))
    })
    .await;
    let client = Client::connect_negotiated(&address, config())
        .await
        .unwrap();
    assert_eq!(client.version::<MetadataRequest>(12).unwrap(), 9);
}

#[tokio::test]
async fn an_api_versions_error_is_reported() {
    let (address, _task) = broker(|_, version, correlation| {
        Answer::Frame(encode(correlation, version, &versions(33)))
    })
    .await;
    let err = Client::connect_negotiated(&address, config())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::ApiVersions { code: 33 }), "{err}");
}

#[tokio::test]
async fn a_silent_broker_times_out() {
    let (address, _task) = broker(|_, _, _| Answer::Silence).await;
    let mut client = Client::connect(&address, Config::new("t", Duration::from_millis(200)))
        .await
        .unwrap();
    let err = client
        .call_at(&MetadataRequest::default(), 4)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { op: "request", .. }), "{err}");
}

#[tokio::test]
async fn a_closed_connection_is_reported() {
    let (address, _task) = broker(|_, _, _| Answer::Close).await;
    let mut client = Client::connect(&address, config()).await.unwrap();
    let err = client
        .call_at(&MetadataRequest::default(), 4)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Closed { .. }), "{err}");
}

#[tokio::test]
async fn a_response_to_another_request_is_refused() {
    let (address, _task) = broker(|_, version, correlation| {
        Answer::Frame(encode(
            correlation + 1,
            version,
            &MetadataResponse::default(),
        ))
    })
    .await;
    let mut client = Client::connect(&address, config()).await.unwrap();
    let err = client
        .call_at(&MetadataRequest::default(), 4)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Correlation {
                expected: 1,
                got: 2
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn correlation_ids_count_up_per_call() {
    let (address, _task) = broker(|_, version, correlation| {
        Answer::Frame(encode(correlation, version, &MetadataResponse::default()))
    })
    .await;
    let mut client = Client::connect(&address, config()).await.unwrap();
    for _ in 0..3 {
        client
            .call_at(&MetadataRequest::default(), 4)
            .await
            .unwrap();
    }
    assert_eq!(client.correlation_id, 3);
}

#[tokio::test]
async fn an_oversized_response_is_refused() {
    let (address, _task) = broker(|_, _, _| Answer::Frame(Bytes::from(vec![0u8; 64]))).await;
    let mut config = config();
    config.max_frame = 32;
    let mut client = Client::connect(&address, config).await.unwrap();
    let err = client
        .call_at(&MetadataRequest::default(), 4)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[tokio::test]
async fn connecting_to_a_closed_port_fails() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = Client::connect(&address, config()).await.err().unwrap();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}
