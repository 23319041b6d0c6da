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

/// Whether `ip` is an address a user-given URL must not reach: loopback, private (RFC 1918,
/// unique local), link-local (cloud metadata services), unspecified, broadcast, multicast,
/// shared (100.64/10) or documentation ranges.
pub fn is_internal(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// Refuses a URL whose host resolves to an internal address (see [`is_internal`]). The check
/// runs before each attempt; a DNS answer that changes between it and the connection is not
/// caught.
pub async fn check_public(url: &str) -> Result<(), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let host = uri.host().ok_or("URL without a host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("resolve {host}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    if let Some(a) = addrs.iter().find(|a| is_internal(a.ip())) {
        return Err(format!(
            "{host} resolves to the internal address {}: refused (see --alarm-allow-private-urls)",
            a.ip()
        ));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn urls_to_internal_hosts_are_refused() {
        assert!(check_public("http://127.0.0.1:9/x").await.is_err());
        assert!(check_public("http://localhost/x").await.is_err());
        assert!(check_public("https://[::1]/x").await.is_err());
    }
}
