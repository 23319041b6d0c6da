//! Sending one delivery: an HTTP(S) POST with a deadline (rustls with the system's roots for
//! the providers' https endpoints, plain http for receivers on a private network).

use super::providers::Outbound;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// The client deliveries share.
pub type DeliveryClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client for http and https URLs, trusting the system's root certificates (none when
/// they cannot be read: then https deliveries fail and say so in the delivery log).
pub fn delivery_client() -> DeliveryClient {
    let connector = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
        Ok(b) => b.https_or_http().enable_http1().build(),
        Err(e) => {
            tracing::warn!(error = %e, "no system root certificates: https deliveries will fail");
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_or_http()
                .enable_http1()
                .build()
        }
    };
    Client::builder(TokioExecutor::new()).build(connector)
}

/// What one attempt gave: the status code when the provider answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub status: Option<u16>,
    /// Why it failed (`None` on a 2xx).
    pub error: Option<String>,
}

/// POSTs `out` within `timeout`. Any 2xx is delivered; everything else is an error to retry.
pub async fn post(client: &DeliveryClient, out: &Outbound, timeout: Duration) -> AttemptResult {
    let send = async {
        let mut req = hyper::Request::post(&out.url);
        for (k, v) in &out.headers {
            req = req.header(k, v);
        }
        let req = req
            .header("user-agent", "eddy-alarms/1")
            .body(Full::new(Bytes::from(out.body.clone())))
            .map_err(|e| (None, format!("bad request: {e}")))?;
        let resp = client
            .request(req)
            .await
            .map_err(|e| (None, format!("send: {e}")))?;
        let status = resp.status();
        // Read a little of the answer for the log; providers explain rejections in it.
        let text = Limited::new(resp.into_body(), 2048)
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            let text: String = text.chars().take(200).collect();
            Err((Some(status.as_u16()), format!("status {status}: {text}")))
        }
    };
    match tokio::time::timeout(timeout, send).await {
        Ok(Ok(code)) => AttemptResult {
            status: Some(code),
            error: None,
        },
        Ok(Err((status, error))) => AttemptResult {
            status,
            error: Some(error),
        },
        Err(_) => AttemptResult {
            status: None,
            error: Some(format!("no answer within {timeout:?}")),
        },
    }
}
