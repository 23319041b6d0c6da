//! Voter changes after a resize, through the brokers' admin HTTP API (contract in the broker's
//! `admin_http.rs`):
//!
//! - `GET /v1/cluster/quorum` → `{"leader":0,"voters":[0],"learners":[1,2],"nodes":{...}}`
//! - `PUT /v1/cluster/voters` `{"voters":[0,1,2]}` → 200 done; 409 not possible yet (retry);
//!   404 this broker does not support voter changes (retry later, never fail the cluster).
//!
//! The pod template keeps the voters the cluster was created with (changing it would restart
//! every broker); after a scale-up the operator asks for the first min(N, 3) brokers as voters,
//! and before a scale-down it moves the voters off the brokers about to go.
use serde::Deserialize;

use super::status::BrokerPod;
use crate::cluster::validate::ADMIN_PORT;

/// Path of the quorum view.
pub const QUORUM_PATH: &str = "/v1/cluster/quorum";
/// Path of the voter change.
pub const VOTERS_PATH: &str = "/v1/cluster/voters";

/// The quorum as a broker reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct QuorumView {
    /// Current controller (Raft leader), if any.
    #[serde(default)]
    pub leader: Option<i32>,
    /// Voting members.
    #[serde(default)]
    pub voters: Vec<i32>,
    /// Non-voting members replaying the metadata log.
    #[serde(default)]
    pub learners: Vec<i32>,
}

/// Where the voters stand after this reconcile's attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// The voters are the desired ones.
    InSync,
    /// The voter change was accepted (200) in this reconcile.
    Changed,
    /// The broker refused for now (409) or could not be asked: retry with backoff.
    Pending(String),
    /// The broker has no voter-change API (404): keep the voters, retry much later.
    Unsupported,
}

/// Outcome of one sync attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sync {
    /// The view read before acting, when a broker answered.
    pub view: Option<QuorumView>,
    /// Result.
    pub state: State,
}

impl Sync {
    /// Human explanation for `status.quorum.message`.
    #[must_use]
    pub fn message(&self, desired: &[i32]) -> Option<String> {
        match &self.state {
            State::InSync => None,
            State::Changed => Some(format!("voters changed to {desired:?}")),
            State::Pending(why) => Some(format!("changing voters to {desired:?}: {why}")),
            State::Unsupported => Some(match &self.view {
                Some(v) => format!(
                    "the brokers do not support voter changes (404 on {VOTERS_PATH}); voters \
                     stay {:?}, wanted {desired:?}",
                    v.voters
                ),
                None => format!(
                    "the brokers do not report their quorum (404 on {QUORUM_PATH}); voters stay \
                     as the cluster was created, wanted {desired:?}"
                ),
            }),
        }
    }
}

/// Whether the observed voters are the desired set (order ignored). Pure.
#[must_use]
pub fn in_sync(view: &QuorumView, desired: &[i32]) -> bool {
    let mut have = view.voters.clone();
    have.sort_unstable();
    have.dedup();
    let mut want = desired.to_vec();
    want.sort_unstable();
    want.dedup();
    have == want
}

/// Whether shrinking from `current` to `target` brokers removes one of `voters` (ids
/// `target..current` go). Only such a shrink waits for a voter change. Pure.
#[must_use]
pub fn shrink_removes_voter(current: i32, target: i32, voters: &[i32]) -> bool {
    current > target && voters.iter().any(|v| (target..current).contains(v))
}

/// Reads a `GET /v1/cluster/quorum` answer. Pure.
///
/// # Errors
/// A message when the answer is not a quorum view; `Ok(None)` for 404 (unsupported).
pub fn parse_quorum(status: u16, body: &[u8]) -> Result<Option<QuorumView>, String> {
    match status {
        200 => serde_json::from_slice(body)
            .map(Some)
            .map_err(|e| format!("unreadable quorum answer: {e}")),
        404 => Ok(None),
        s => Err(format!("GET {QUORUM_PATH}: HTTP {s}")),
    }
}

/// Reads a `PUT /v1/cluster/voters` answer. Pure.
#[must_use]
pub fn put_state(status: u16, body: &[u8]) -> State {
    let text = String::from_utf8_lossy(body)
        .trim()
        .chars()
        .take(300)
        .collect::<String>();
    match status {
        200 | 204 => State::Changed,
        404 => State::Unsupported,
        409 => State::Pending(if text.is_empty() {
            "not possible yet (409)".to_string()
        } else {
            format!("not possible yet (409): {text}")
        }),
        s => State::Pending(format!("PUT {VOTERS_PATH}: HTTP {s} {text}")),
    }
}

/// Asks the brokers (ready ones first, lowest id first) and changes the voters to `desired`
/// when they differ.
pub async fn sync(pods: &[BrokerPod], desired: &[i32]) -> Sync {
    let mut hosts: Vec<&BrokerPod> = pods.iter().filter(|p| p.ip.is_some()).collect();
    hosts.sort_by_key(|p| (!p.ready, p.ordinal));
    let mut last_error = "no broker pod has an address yet".to_string();
    for pod in hosts {
        let Some(ip) = pod.ip.as_deref() else {
            continue;
        };
        let base = format!("http://{ip}:{ADMIN_PORT}");
        let view = match crate::http::get(&format!("{base}{QUORUM_PATH}"))
            .await
            .map_err(|e| e.to_string())
            .and_then(|a| parse_quorum(a.status, &a.body))
        {
            Ok(Some(v)) => v,
            Ok(None) => {
                return Sync {
                    view: None,
                    state: State::Unsupported,
                };
            }
            Err(e) => {
                last_error = e;
                continue;
            }
        };
        if in_sync(&view, desired) {
            return Sync {
                view: Some(view),
                state: State::InSync,
            };
        }
        let body = serde_json::json!({ "voters": desired });
        let state = match crate::http::put_json(&format!("{base}{VOTERS_PATH}"), &body).await {
            Ok(a) => put_state(a.status, &a.body),
            Err(e) => State::Pending(e.to_string()),
        };
        return Sync {
            view: Some(view),
            state,
        };
    }
    Sync {
        view: None,
        state: State::Pending(last_error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn quorum_answers_follow_the_contract() {
        let body = br#"{"leader":0,"voters":[0],"learners":[1,2],"nodes":{"0":{}}}"#;
        let v = parse_quorum(200, body).expect("ok").expect("supported");
        assert_eq!(
            v,
            QuorumView {
                leader: Some(0),
                voters: vec![0],
                learners: vec![1, 2]
            }
        );
        assert!(!in_sync(&v, &[0, 1, 2]));
        assert!(in_sync(
            &QuorumView {
                voters: vec![2, 0, 1],
                ..QuorumView::default()
            },
            &[0, 1, 2]
        ));
        assert_eq!(parse_quorum(404, b""), Ok(None));
        assert!(parse_quorum(500, b"").is_err());
        assert!(parse_quorum(200, b"nope").is_err());
    }

    #[test]
    fn only_a_shrink_that_removes_a_voter_waits() {
        assert!(shrink_removes_voter(3, 1, &[0, 1, 2]));
        assert!(!shrink_removes_voter(5, 4, &[0, 1, 2]));
        assert!(!shrink_removes_voter(3, 3, &[0, 1, 2]));
        assert!(!shrink_removes_voter(1, 3, &[0]));
        assert!(shrink_removes_voter(4, 3, &[0, 1, 3]));
    }

    #[test]
    fn voter_change_answers_follow_the_contract() {
        assert_eq!(put_state(200, b"{}"), State::Changed);
        assert_eq!(put_state(404, b""), State::Unsupported);
        assert!(
            matches!(put_state(409, b"learner 2 lags"), State::Pending(m) if m.contains("learner 2 lags"))
        );
        assert!(matches!(put_state(503, b""), State::Pending(_)));
    }

    /// A stand-in for the broker's admin API on `ip:9600` (the broker side is built in
    /// parallel): answers the quorum view, then `put_answers` in turn to each voter change, and
    /// records the bodies it was sent.
    async fn fake_broker(ip: &str, put_answers: Vec<u16>) -> Arc<Mutex<Vec<String>>> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind((ip, 9600u16))
            .await
            .expect("bind fake broker");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut answers = put_answers.into_iter();
            for _ in 0..20 {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = vec![0u8; 8192];
                let mut len = 0;
                // The head, and for a PUT its small JSON body (ends with `}`).
                while len < buf.len() {
                    let n = s.read(&mut buf[len..]).await.unwrap_or(0);
                    len += n;
                    let text = String::from_utf8_lossy(&buf[..len]).to_string();
                    let complete = text.contains("\r\n\r\n")
                        && (!text.starts_with("PUT") || text.ends_with('}'));
                    if n == 0 || complete {
                        break;
                    }
                }
                let req = String::from_utf8_lossy(&buf[..len]).to_string();
                let (status, body) = if req.starts_with("GET /v1/cluster/quorum ") {
                    (
                        200,
                        r#"{"leader":0,"voters":[0],"learners":[1,2],"nodes":{}}"#.to_string(),
                    )
                } else if req.starts_with("PUT /v1/cluster/voters ") {
                    let body = req.split("\r\n\r\n").nth(1).unwrap_or_default();
                    log.lock().expect("log").push(body.to_string());
                    let status = answers.next().unwrap_or(500);
                    (status, "learner 2 is catching up".to_string())
                } else {
                    (404, String::new())
                };
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            }
        });
        seen
    }

    fn pod(ordinal: i32, ip: &str) -> BrokerPod {
        BrokerPod {
            ordinal,
            ip: Some(ip.into()),
            host_ip: None,
            ready: true,
            image: None,
            uid: format!("u{ordinal}"),
            revision: None,
        }
    }

    #[tokio::test]
    async fn a_grown_cluster_asks_for_three_voters_and_retries_a_409() {
        let ip = "127.77.0.9";
        let seen = fake_broker(ip, vec![409, 200]).await;
        let pods = [pod(0, ip)];
        let first = sync(&pods, &[0, 1, 2]).await;
        assert!(
            matches!(&first.state, State::Pending(m) if m.contains("409") && m.contains("catching up")),
            "{first:?}"
        );
        assert_eq!(first.view.map(|v| v.voters), Some(vec![0]));
        let second = sync(&pods, &[0, 1, 2]).await;
        assert_eq!(second.state, State::Changed);
        let bodies = seen.lock().expect("log").clone();
        assert_eq!(bodies.len(), 2);
        let body: serde_json::Value = serde_json::from_str(&bodies[1]).expect("json body");
        assert_eq!(body, serde_json::json!({"voters": [0, 1, 2]}));
        // Already the wanted voters: nothing is sent.
        assert_eq!(sync(&pods, &[0]).await.state, State::InSync);
        assert_eq!(seen.lock().expect("log").len(), 2);
    }

    #[tokio::test]
    async fn a_broker_without_the_api_is_unsupported_not_an_error() {
        let ip = "127.77.0.10";
        let _seen = fake_broker(ip, vec![404]).await;
        let s = sync(&[pod(0, ip)], &[0, 1, 2]).await;
        assert_eq!(s.state, State::Unsupported);
        assert!(s.message(&[0, 1, 2]).is_some_and(|m| m.contains("404")));
    }

    #[tokio::test]
    async fn unreachable_brokers_leave_the_change_pending() {
        let pods = [BrokerPod {
            ordinal: 0,
            ip: Some("127.255.255.254".into()),
            host_ip: None,
            ready: true,
            image: None,
            uid: "u".into(),
            revision: None,
        }];
        let s = sync(&pods, &[0]).await;
        assert!(matches!(s.state, State::Pending(_)), "{s:?}");
        assert!(s.message(&[0]).is_some());
    }
}
