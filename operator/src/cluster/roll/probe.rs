//! Client of the broker's restart probes on its admin HTTP port (contract in the broker's
//! `admin_http.rs`): `GET /v1/broker/pre-restart-probe` and `/v1/broker/post-restart-probe`
//! always answer 200 with the verdict in the JSON body.
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use super::plan::{ProbeKind, Verdict};
use crate::cluster::validate::ADMIN_PORT;

/// Bound of one probe request (connect + answer).
const TIMEOUT: Duration = Duration::from_secs(3);
/// Bound of a probe body.
const MAX_BODY: usize = 1 << 20;

#[derive(Debug, Deserialize)]
struct Body {
    #[serde(default)]
    safe: Option<bool>,
    #[serde(default)]
    caught_up: Option<bool>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    reasons: Vec<String>,
}

/// Path of a probe.
#[must_use]
pub fn path(kind: ProbeKind) -> &'static str {
    match kind {
        ProbeKind::Pre => "/v1/broker/pre-restart-probe",
        ProbeKind::Post => "/v1/broker/post-restart-probe",
    }
}

/// Reads a probe answer (pure).
#[must_use]
pub fn verdict(kind: ProbeKind, status: u16, body: &[u8]) -> Verdict {
    if status == 404 {
        return Verdict::Unsupported;
    }
    if status != 200 {
        return Verdict::Unreachable(format!("HTTP {status}"));
    }
    let body: Body = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => return Verdict::Unreachable(format!("unreadable probe answer: {e}")),
    };
    let pass = match kind {
        ProbeKind::Pre => body.safe,
        ProbeKind::Post => body.caught_up,
    };
    match pass {
        Some(true) => Verdict::Pass,
        Some(false) => {
            let mut reasons = body.reasons;
            if reasons.is_empty() {
                reasons.push(format!(
                    "broker state {}",
                    body.state.as_deref().unwrap_or("unknown")
                ));
            }
            Verdict::Hold(reasons)
        }
        None => Verdict::Unreachable("probe answer without a verdict".to_string()),
    }
}

/// Asks the broker at `host`'s admin port.
pub async fn ask(host: &str, kind: ProbeKind) -> Verdict {
    let uri = format!("http://{host}:{ADMIN_PORT}{}", path(kind));
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let request = async {
        let uri: hyper::Uri = uri.parse().map_err(|e| format!("bad uri {uri}: {e}"))?;
        let resp = client.get(uri).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((status, body))
    };
    match tokio::time::timeout(TIMEOUT, request).await {
        Ok(Ok((status, body))) => verdict(kind, status, &body),
        Ok(Err(e)) => Verdict::Unreachable(e),
        Err(_) => Verdict::Unreachable(format!("no answer within {TIMEOUT:?}")),
    }
}

/// Path of the cluster health view (`controller_id`, live brokers, partition health).
pub const HEALTH_PATH: &str = "/v1/cluster/health";

#[derive(Debug, Deserialize)]
struct Health {
    #[serde(default)]
    controller_id: Option<i32>,
}

/// Reads the active controller from a `GET /v1/cluster/health` answer (pure).
#[must_use]
pub fn controller_of(status: u16, body: &[u8]) -> Option<i32> {
    if status != 200 {
        return None;
    }
    serde_json::from_slice::<Health>(body).ok()?.controller_id
}

/// Asks the broker at `host` which broker is the active controller (restarted last in a roll).
pub async fn controller_id(host: &str) -> Option<i32> {
    let uri = format!("http://{host}:{ADMIN_PORT}{HEALTH_PATH}");
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let request = async {
        let uri: hyper::Uri = uri.parse().ok()?;
        let resp = client.get(uri).await.ok()?;
        let status = resp.status().as_u16();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .ok()?
            .to_bytes();
        controller_of(status, &body)
    };
    tokio::time::timeout(TIMEOUT, request).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_contract() {
        let pre = br#"{"node_id":1,"state":"running","safe":true,"reasons":[],"partitions":[]}"#;
        assert_eq!(verdict(ProbeKind::Pre, 200, pre), Verdict::Pass);
        let held = br#"{"node_id":1,"state":"recovering","safe":false,"reasons":["log recovery"]}"#;
        assert_eq!(
            verdict(ProbeKind::Pre, 200, held),
            Verdict::Hold(vec!["log recovery".into()])
        );
        let post =
            br#"{"node_id":1,"state":"running","caught_up":false,"reasons":[],"out_of_isr":[]}"#;
        assert_eq!(
            verdict(ProbeKind::Post, 200, post),
            Verdict::Hold(vec!["broker state running".into()])
        );
        // The pre verdict field is not read as the post one.
        assert!(matches!(
            verdict(ProbeKind::Post, 200, pre),
            Verdict::Unreachable(_)
        ));
        assert_eq!(verdict(ProbeKind::Pre, 404, b""), Verdict::Unsupported);
        assert!(matches!(
            verdict(ProbeKind::Pre, 503, b""),
            Verdict::Unreachable(_)
        ));
        assert!(matches!(
            verdict(ProbeKind::Pre, 200, b"nope"),
            Verdict::Unreachable(_)
        ));
    }

    #[test]
    fn the_controller_comes_from_cluster_health() {
        let body = br#"{"cluster_id":"x","controller_id":2,"live_brokers":[0,1,2],"healthy":true}"#;
        assert_eq!(controller_of(200, body), Some(2));
        assert_eq!(controller_of(200, br#"{"controller_id":null}"#), None);
        assert_eq!(controller_of(503, body), None);
        assert_eq!(controller_of(200, b"nope"), None);
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        // 127.0.0.1:9600 may be taken by a broker on this machine; 127.255.255.254 is not.
        let v = ask("127.255.255.254", ProbeKind::Pre).await;
        assert!(matches!(v, Verdict::Unreachable(_)), "{v:?}");
    }
}
