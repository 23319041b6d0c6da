//! Client of the broker's restart probes on its admin HTTP port (contract in the broker's
//! `admin_http.rs`): `GET /v1/broker/pre-restart-probe` and `/v1/broker/post-restart-probe`
//! always answer 200 with the verdict in the JSON body.
use serde::Deserialize;

use super::plan::{ProbeKind, Verdict};
use crate::cluster::validate::ADMIN_PORT;

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
    match crate::http::get(&format!("http://{host}:{ADMIN_PORT}{}", path(kind))).await {
        Ok(answer) => verdict(kind, answer.status, &answer.body),
        Err(e) => Verdict::Unreachable(e.to_string()),
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
    let answer = crate::http::get(&format!("http://{host}:{ADMIN_PORT}{HEALTH_PATH}"))
        .await
        .ok()?;
    controller_of(answer.status, &answer.body)
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
