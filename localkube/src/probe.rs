//! Probes: startup, liveness and readiness checks (HTTP GET, TCP, exec) for one container run.
//!
//! A prober task per running container applies the thresholds and reports only transitions to the
//! pod worker: started, ready/unready, and "kill" when a startup or liveness probe gives up.

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Request;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::net::Ipv4Addr;
use std::time::Duration;
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
            let https = h
                .scheme
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("HTTPS"));
            http_get(&host, port, &path, &headers, https).await
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

/// One HTTP/1.1 GET as the kubelet sends it (its user agent, `Connection: close`, the probe's
/// own headers replacing the defaults), over TLS without verifying the certificate when
/// `https` (`scheme: HTTPS`, as the kubelet); a 2xx or 3xx status passes. Redirects are not
/// followed. The caller bounds the whole attempt with the probe's timeout.
async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    https: bool,
) -> Result<(), String> {
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("dial {host}:{port}: {e}"))?;
    if !https {
        return http_get_on(stream, host, port, path, headers).await;
    }
    let config = crate::probe_tls::client_config()?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("probe host {host}: {e}"))?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS handshake with {host}:{port}: {e}"))?;
    http_get_on(tls, host, port, path, headers).await
}

async fn http_get_on<S>(
    stream: S,
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> Result<(), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let target = format!("{host}:{port}{path}");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {host}:{port}: {e}"))?;
    // Drives the connection until the answer is read; dropped (closing it) when this probe ends.
    let driver = AbortOnDrop(tokio::spawn(connection));
    let mut request = Request::get(path)
        .header(header::HOST, format!("{host}:{port}"))
        .header(header::USER_AGENT, "kube-probe/1.20")
        .header(header::ACCEPT, "*/*")
        .header(header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("building the request for {target}: {e}"))?;
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| format!("probe header name {name:?}: {e}"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|e| format!("probe header {name} value {value:?}: {e}"))?;
        request.headers_mut().insert(name, value);
    }
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("GET {target}: {e}"))?;
    drop(driver);
    let code = response.status();
    if code.is_success() || code.is_redirection() {
        Ok(())
    } else {
        Err(format!(
            "HTTP probe failed with statuscode: {}",
            code.as_u16()
        ))
    }
}

/// Aborts a spawned task when dropped, so no connection outlives its probe.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
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

    /// A one-connection-at-a-time HTTP server on loopback answering `/status/<code>` with that
    /// status, and 200 only when the `x-probe` header is `yes` on `/header`; stopped when the
    /// returned guard is dropped.
    async fn status_server() -> (u16, AbortOnDrop<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let service = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| {
                    let path = req.uri().path().to_string();
                    let agent = req.headers().get(header::USER_AGENT).cloned();
                    let probe = req.headers().get("x-probe").cloned();
                    async move {
                        let code = match path.strip_prefix("/status/") {
                            Some(code) => code.parse().unwrap_or(500),
                            None if path == "/header"
                                && probe.as_ref().is_some_and(|v| v == "yes") =>
                            {
                                200
                            }
                            None if path == "/agent"
                                && agent.as_ref().is_some_and(|v| v == "kube-probe/1.20") =>
                            {
                                200
                            }
                            None => 404,
                        };
                        hyper::Response::builder()
                            .status(code)
                            .body(Empty::<Bytes>::new())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        });
        (port, AbortOnDrop(task))
    }

    /// An HTTPS server on loopback with a self-signed certificate for another name, answering
    /// 200 to everything (as a broker's admin port with `admin.ssl.enabled`).
    async fn tls_server() -> (u16, AbortOnDrop<()>) {
        let key = rcgen::generate_simple_self_signed(vec!["broker.example".to_string()])
            .expect("certificate");
        let cert = rustls::pki_types::CertificateDer::from(key.cert.der().to_vec());
        let private = rustls::pki_types::PrivateKeyDer::try_from(key.signing_key.serialize_der())
            .expect("key");
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], private)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let Ok(tls) = acceptor.accept(stream).await else {
                    continue;
                };
                let service =
                    hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
                        hyper::Response::builder()
                            .status(200)
                            .body(Empty::<Bytes>::new())
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            }
        });
        (port, AbortOnDrop(task))
    }

    #[tokio::test]
    async fn https_probes_speak_tls_without_verifying_the_certificate() {
        let (port, _server) = tls_server().await;
        let mut probe = http_probe(port, "/healthz", &[]);
        let t = target();
        assert!(check(&t, &probe).await.is_err(), "plain HTTP to a TLS port");
        if let Some(h) = probe.http_get.as_mut() {
            h.scheme = Some("HTTPS".into());
        }
        assert_eq!(check(&t, &probe).await, Ok(()));
    }

    fn http_probe(port: u16, path: &str, headers: &[(&str, &str)]) -> Probe {
        use k8s_openapi::api::core::v1::{HTTPGetAction, HTTPHeader};
        Probe {
            http_get: Some(HTTPGetAction {
                host: Some("127.0.0.1".into()),
                port: IntOrString::Int(i32::from(port)),
                path: Some(path.into()),
                http_headers: Some(
                    headers
                        .iter()
                        .map(|(name, value)| HTTPHeader {
                            name: (*name).into(),
                            value: (*value).into(),
                        })
                        .collect(),
                ),
                ..HTTPGetAction::default()
            }),
            timeout_seconds: Some(2),
            ..Probe::default()
        }
    }

    fn target() -> Target {
        Target {
            container: Container::default(),
            pod_ip: Ipv4Addr::LOCALHOST,
            pid: 0,
        }
    }

    #[tokio::test]
    async fn http_probes_pass_on_2xx_and_3xx_and_fail_otherwise() {
        let (port, _server) = status_server().await;
        let t = target();
        for code in [200, 204, 302, 399] {
            let probe = http_probe(port, &format!("/status/{code}"), &[]);
            assert_eq!(check(&t, &probe).await, Ok(()), "{code}");
        }
        for code in [400, 404, 500, 503] {
            let probe = http_probe(port, &format!("/status/{code}"), &[]);
            assert_eq!(
                check(&t, &probe).await,
                Err(format!("HTTP probe failed with statuscode: {code}"))
            );
        }
    }

    #[tokio::test]
    async fn http_probes_send_the_kubelet_agent_and_the_probes_headers() {
        let (port, _server) = status_server().await;
        let t = target();
        assert_eq!(check(&t, &http_probe(port, "/agent", &[])).await, Ok(()));
        let with = http_probe(port, "/header", &[("X-Probe", "yes")]);
        assert_eq!(check(&t, &with).await, Ok(()));
        assert!(check(&t, &http_probe(port, "/header", &[])).await.is_err());
    }

    #[tokio::test]
    async fn an_http_probe_that_gets_no_answer_times_out() {
        // Accepts connections but never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut probe = http_probe(port, "/", &[]);
        probe.timeout_seconds = Some(0); // the 100 ms floor
        let started = std::time::Instant::now();
        let verdict = check(&target(), &probe).await;
        assert!(
            matches!(&verdict, Err(msg) if msg.starts_with("timed out")),
            "{verdict:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(listener);
    }

    #[tokio::test]
    async fn an_http_probe_to_a_closed_port_fails_to_dial() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let verdict = check(&target(), &http_probe(port, "/", &[])).await;
        assert!(
            matches!(&verdict, Err(msg) if msg.starts_with("dial 127.0.0.1")),
            "{verdict:?}"
        );
    }
}
