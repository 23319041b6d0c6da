//! Probes: startup, liveness and readiness checks (HTTP GET, TCP, exec) for one container run.
//!
//! A prober task per running container applies the thresholds and reports only transitions to the
//! pod worker: started, ready/unready, and "kill" when a startup or liveness probe gives up.

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::net::Ipv4Addr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// What a prober tells the pod worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Started,
    Ready(bool),
    Kill(String),
}

/// Everything a prober needs about its container run.
#[derive(Debug, Clone)]
pub struct Target {
    pub container: Container,
    pub pod_ip: Ipv4Addr,
    /// PID of the container process, for exec probes (run in its mount namespace).
    pub pid: u32,
}

/// Runs the container's probes until the task is aborted, sending verdicts on `tx`.
pub async fn run(target: Target, tx: mpsc::UnboundedSender<Verdict>) {
    let c = &target.container;
    if let Some(p) = &c.startup_probe {
        match until_threshold(&target, p, false).await {
            Ok(()) => {}
            Err(msg) => {
                let _ = tx.send(Verdict::Kill(format!("Startup probe failed: {msg}")));
                return;
            }
        }
    }
    let _ = tx.send(Verdict::Started);
    let readiness = async {
        let Some(p) = &c.readiness_probe else {
            let _ = tx.send(Verdict::Ready(true));
            return;
        };
        let mut ready = false;
        let (mut ok, mut bad) = (0, 0);
        tokio::time::sleep(secs(p.initial_delay_seconds, 0)).await;
        loop {
            if check(&target, p).await.is_ok() {
                (ok, bad) = (ok + 1, 0);
            } else {
                (ok, bad) = (0, bad + 1);
            }
            if !ready && ok >= p.success_threshold.unwrap_or(1) {
                ready = true;
                let _ = tx.send(Verdict::Ready(true));
            } else if ready && bad >= p.failure_threshold.unwrap_or(3) {
                ready = false;
                let _ = tx.send(Verdict::Ready(false));
            }
            tokio::time::sleep(secs(p.period_seconds, 10)).await;
        }
    };
    let liveness = async {
        let Some(p) = &c.liveness_probe else {
            return std::future::pending::<()>().await;
        };
        loop {
            if let Err(msg) = until_threshold(&target, p, true).await {
                let _ = tx.send(Verdict::Kill(format!("Liveness probe failed: {msg}")));
                return;
            }
        }
    };
    tokio::join!(readiness, liveness);
}

fn secs(v: Option<i32>, default: u64) -> Duration {
    Duration::from_secs(v.map_or(default, |s| u64::try_from(s).unwrap_or(0)))
}

/// Probes until the outcome is settled: for startup, the first success (Ok) or `failureThreshold`
/// consecutive failures (Err); for liveness (`watch`), returns Err only on the threshold.
async fn until_threshold(t: &Target, p: &Probe, watch: bool) -> Result<(), String> {
    tokio::time::sleep(secs(p.initial_delay_seconds, 0)).await;
    let threshold = p.failure_threshold.unwrap_or(3).max(1);
    let mut failures = 0;
    loop {
        match check(t, p).await {
            Ok(()) if !watch => return Ok(()),
            Ok(()) => failures = 0,
            Err(msg) => {
                failures += 1;
                if failures >= threshold {
                    return Err(msg);
                }
            }
        }
        tokio::time::sleep(secs(p.period_seconds, 10)).await;
    }
}

/// One probe attempt.
pub async fn check(t: &Target, p: &Probe) -> Result<(), String> {
    let timeout = secs(p.timeout_seconds, 1).max(Duration::from_millis(100));
    let attempt = async {
        if let Some(h) = &p.http_get {
            let port = resolve_port(&t.container, &h.port)?;
            let host = h.host.clone().unwrap_or_else(|| t.pod_ip.to_string());
            let path = h.path.clone().unwrap_or_else(|| "/".into());
            let headers: Vec<(String, String)> = h
                .http_headers
                .iter()
                .flatten()
                .map(|x| (x.name.clone(), x.value.clone()))
                .collect();
            http_get(&host, port, &path, &headers).await
        } else if let Some(s) = &p.tcp_socket {
            let port = resolve_port(&t.container, &s.port)?;
            let host = s.host.clone().unwrap_or_else(|| t.pod_ip.to_string());
            TcpStream::connect((host.as_str(), port))
                .await
                .map(drop)
                .map_err(|e| format!("dial tcp {host}:{port}: {e}"))
        } else if let Some(e) = &p.exec {
            exec(t.pid, e.command.as_deref().unwrap_or_default()).await
        } else {
            Err("unsupported probe handler (only httpGet, tcpSocket and exec)".into())
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("timed out after {timeout:?}")))
}

/// A numeric port, or a named port looked up in the container's ports.
pub fn resolve_port(c: &Container, port: &IntOrString) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("invalid port {n}")),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or_else(|| format!("no container port named {name}")),
    }
}

async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> Result<(), String> {
    let mut s = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("dial {host}:{port}: {e}"))?;
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.20\r\nAccept: */*\r\nConnection: close\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write request: {e}"))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = s
            .read(&mut buf)
            .await
            .map_err(|e| format!("read response: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("malformed HTTP response from {host}:{port}{path}"))?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!("HTTP probe failed with statuscode: {code}"))
    }
}

async fn exec(pid: u32, command: &[String]) -> Result<(), String> {
    if command.is_empty() {
        return Err("exec probe without a command".into());
    }
    let out = tokio::process::Command::new("nsenter")
        .arg("--mount")
        .arg(format!("--target={pid}"))
        .arg("--")
        .args(command)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("running {command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "command {command:?} exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ContainerPort;

    #[test]
    fn named_ports_resolve_from_the_container() {
        let c = Container {
            ports: Some(vec![ContainerPort {
                name: Some("admin".into()),
                container_port: 9600,
                ..ContainerPort::default()
            }]),
            ..Container::default()
        };
        assert_eq!(
            resolve_port(&c, &IntOrString::String("admin".into())),
            Ok(9600)
        );
        assert_eq!(resolve_port(&c, &IntOrString::Int(9092)), Ok(9092));
        assert!(resolve_port(&c, &IntOrString::String("kafka".into())).is_err());
    }
}
