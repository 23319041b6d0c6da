//! The operator's one HTTP client helper: bounded requests to the brokers' admin HTTP API
//! (restart probes, cluster health, the quorum and its voters).
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Bound of one request (connect + answer).
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// Bound of an answer body.
pub const MAX_BODY: usize = 1 << 20;

/// Errors of one request; the message names the URI.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request could not be built (a malformed URI).
    #[error("building request {uri}: {reason}")]
    Build {
        /// Target.
        uri: String,
        /// Cause.
        reason: String,
    },
    /// Connecting, sending or reading the answer failed.
    #[error("{uri}: {reason}")]
    Transport {
        /// Target.
        uri: String,
        /// Cause.
        reason: String,
    },
    /// No complete answer within [`TIMEOUT`].
    #[error("{uri}: no answer within {TIMEOUT:?}")]
    Timeout {
        /// Target.
        uri: String,
    },
}

/// An answer: status code and body (at most [`MAX_BODY`] bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

/// `GET uri`.
///
/// # Errors
/// See [`Error`].
pub async fn get(uri: &str) -> Result<Answer, Error> {
    send(hyper::Method::GET, uri, None).await
}

/// `PUT uri` with a JSON body.
///
/// # Errors
/// See [`Error`].
pub async fn put_json(uri: &str, body: &serde_json::Value) -> Result<Answer, Error> {
    send(hyper::Method::PUT, uri, Some(body.to_string())).await
}

/// Sends one request over a new connection and reads the whole answer, within [`TIMEOUT`].
///
/// # Errors
/// See [`Error`].
pub async fn send(method: hyper::Method, uri: &str, body: Option<String>) -> Result<Answer, Error> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut builder = hyper::Request::builder().method(method).uri(uri);
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let request = builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| Error::Build {
            uri: uri.to_string(),
            reason: e.to_string(),
        })?;
    let call = async {
        let resp = client.request(request).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>(Answer { status, body })
    };
    match tokio::time::timeout(TIMEOUT, call).await {
        Ok(r) => r.map_err(|reason| Error::Transport {
            uri: uri.to_string(),
            reason,
        }),
        Err(_) => Err(Error::Timeout {
            uri: uri.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A one-request server on loopback: answers `status`/`body` and returns what it was sent.
    async fn serve_once(
        status: u16,
        body: &'static str,
    ) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; 8192];
            let mut len = 0;
            while len < buf.len() {
                let n = s.read(&mut buf[len..]).await.unwrap_or(0);
                len += n;
                let text = String::from_utf8_lossy(&buf[..len]).to_string();
                let complete =
                    text.contains("\r\n\r\n") && (!text.starts_with("PUT") || text.ends_with('}'));
                if n == 0 || complete {
                    break;
                }
            }
            let resp = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
            String::from_utf8_lossy(&buf[..len]).to_string()
        });
        (format!("http://{addr}"), task)
    }

    #[tokio::test]
    async fn get_reads_status_and_body() {
        let (base, server) = serve_once(200, r#"{"ok":true}"#).await;
        let answer = get(&format!("{base}/v1/x")).await.expect("answer");
        assert_eq!(answer.status, 200);
        assert_eq!(&answer.body[..], br#"{"ok":true}"#);
        let seen = server.await.expect("server");
        assert!(seen.starts_with("GET /v1/x HTTP/1.1"), "{seen}");
    }

    #[tokio::test]
    async fn put_json_sends_the_body_and_keeps_error_statuses() {
        let (base, server) = serve_once(409, "busy").await;
        let answer = put_json(&format!("{base}/v1/y"), &serde_json::json!({"voters": [0]}))
            .await
            .expect("answer");
        assert_eq!(answer.status, 409);
        assert_eq!(&answer.body[..], b"busy");
        let seen = server.await.expect("server");
        assert!(seen.starts_with("PUT /v1/y HTTP/1.1"), "{seen}");
        assert!(
            seen.to_ascii_lowercase()
                .contains("content-type: application/json")
        );
        assert!(seen.ends_with(r#"{"voters":[0]}"#), "{seen}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        // Accepts and never answers; dropped with the test.
        let server = tokio::spawn(async move {
            let conn = listener.accept().await;
            tokio::time::sleep(TIMEOUT * 2).await;
            drop(conn);
        });
        let err = get(&format!("http://{addr}/")).await.expect_err("timeout");
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        server.abort();
    }

    #[tokio::test]
    async fn refused_and_malformed_targets_are_errors() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let err = get(&format!("http://{addr}/")).await.expect_err("refused");
        assert!(matches!(err, Error::Transport { .. }), "{err}");
        assert!(err.to_string().contains(&addr.to_string()));
        let err = get("http://bad host/").await.expect_err("malformed");
        assert!(matches!(err, Error::Build { .. }), "{err}");
    }
}
