//! Kubelet API subset for `kubectl logs`: `GET /containerLogs/{namespace}/{pod}/{container}`.
//!
//! The API server proxies log requests to the Node's InternalIP and kubelet port over HTTPS; this
//! serves them from the files the agent writes (one per container run: `logs/<container>/<n>.log`),
//! with `previous`, `tailLines` and `follow`. It listens on loopback only and does not check the
//! API server's client certificate (single-user local environment).

use crate::agent::Ctx;
use crate::node::NodeSpec;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::{Request, Response, StatusCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// Errors of starting the kubelet API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading kubelet tls material {path}: {detail}")]
    Pem { path: PathBuf, detail: String },
    #[error("building the kubelet tls config: {0}")]
    Tls(#[from] rustls::Error),
    #[error("binding the kubelet api on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

type Body = BoxBody<Bytes, Infallible>;

/// The TLS identity of the kubelet API.
#[derive(Debug, Clone)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn acceptor(tls: &Tls) -> Result<tokio_rustls::TlsAcceptor, Error> {
    let pem = |path: &Path, detail: String| Error::Pem {
        path: path.to_path_buf(),
        detail,
    };
    let certs = CertificateDer::pem_file_iter(&tls.cert)
        .map_err(|e| pem(&tls.cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(&tls.cert, e.to_string()))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| pem(&tls.key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Serves the kubelet API of `node` until the task is aborted.
pub async fn serve(ctx: Arc<Ctx>, node: NodeSpec, tls: Tls) -> Result<(), Error> {
    let acceptor = acceptor(&tls)?;
    let addr = format!("{}:{}", node.ip, node.kubelet_port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| Error::Bind {
            addr: addr.clone(),
            source,
        })?;
    info!(node = %node.name, %addr, "kubelet api listening");
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, ctx) = (acceptor.clone(), ctx.clone());
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| {
                let ctx = ctx.clone();
                async move { Ok::<_, Infallible>(handle(&ctx, &req)) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                warn!(error = %e, "kubelet api connection");
            }
        });
    }
}

fn text(code: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)).boxed());
    *r.status_mut() = code;
    r
}

/// Query parameters the API server forwards for `kubectl logs`.
#[derive(Debug, Default, PartialEq, Eq)]
struct LogQuery {
    follow: bool,
    previous: bool,
    tail_lines: Option<usize>,
}

fn parse_query(q: Option<&str>) -> LogQuery {
    let mut out = LogQuery::default();
    for pair in q.unwrap_or_default().split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "follow" => out.follow = v == "true" || v == "1",
            "previous" => out.previous = v == "true" || v == "1",
            "tailLines" => out.tail_lines = v.parse().ok(),
            _ => {}
        }
    }
    out
}

fn handle(ctx: &Ctx, req: &Request<hyper::body::Incoming>) -> Response<Body> {
    let parts: Vec<&str> = req
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .collect();
    let ["containerLogs", ns, pod, container] = parts.as_slice() else {
        return text(
            StatusCode::NOT_FOUND,
            format!(
                "unsupported kubelet api path {} (only /containerLogs)",
                req.uri().path()
            ),
        );
    };
    let q = parse_query(req.uri().query());
    let Some(file) = log_file(&ctx.state_dir.join("pods"), ns, pod, container, q.previous) else {
        let which = if q.previous { "previous " } else { "" };
        return text(
            StatusCode::NOT_FOUND,
            format!("no {which}log for container {container} in pod {ns}/{pod}"),
        );
    };
    let content = std::fs::read(&file).unwrap_or_default();
    let start = q.tail_lines.map_or(0, |n| tail_offset(&content, n));
    let initial = Bytes::copy_from_slice(&content[start..]);
    if !q.follow {
        return text(
            StatusCode::OK,
            String::from_utf8_lossy(&initial).into_owned(),
        );
    }
    let offset = content.len() as u64;
    let stream = futures::stream::unfold((Some(initial), file, offset), follow_step);
    Response::new(StreamBody::new(stream).boxed())
}

type FollowState = (Option<Bytes>, PathBuf, u64);

/// Yields what was read so far, then whatever is appended, until the file is gone.
async fn follow_step(
    (first, file, offset): FollowState,
) -> Option<(Result<Frame<Bytes>, Infallible>, FollowState)> {
    if let Some(b) = first {
        return Some((Ok(Frame::data(b)), (None, file, offset)));
    }
    loop {
        let len = std::fs::metadata(&file).ok()?.len();
        if len > offset {
            let data = std::fs::read(&file).ok()?;
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(data.len());
            let chunk = Bytes::copy_from_slice(&data[start..]);
            return Some((Ok(Frame::data(chunk)), (None, file, data.len() as u64)));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Byte offset where the last `n` lines of `content` start.
fn tail_offset(content: &[u8], n: usize) -> usize {
    if n == 0 {
        return content.len();
    }
    let body = content.strip_suffix(b"\n").unwrap_or(content);
    body.iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .nth(n - 1)
        .map_or(0, |(i, _)| i + 1)
}

/// The current (or previous) run's log of a container of the newest pod with that name.
fn log_file(
    pods_dir: &Path,
    ns: &str,
    pod: &str,
    container: &str,
    previous: bool,
) -> Option<PathBuf> {
    let prefix = format!("{ns}_{pod}_");
    let pod_dir = std::fs::read_dir(pods_dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())?
        .path();
    let mut runs: Vec<(u32, PathBuf)> = std::fs::read_dir(pod_dir.join("logs").join(container))
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            Some((name.strip_suffix(".log")?.parse().ok()?, e.path()))
        })
        .collect();
    runs.sort();
    let skip = usize::from(previous);
    runs.into_iter().rev().nth(skip).map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_counts_lines_from_the_end() {
        let c = b"a\nb\nc\n";
        assert_eq!(&c[tail_offset(c, 1)..], b"c\n");
        assert_eq!(&c[tail_offset(c, 2)..], b"b\nc\n");
        assert_eq!(&c[tail_offset(c, 10)..], c);
        assert_eq!(tail_offset(c, 0), c.len());
        assert_eq!(&b"x\ny"[tail_offset(b"x\ny", 1)..], b"y");
    }

    #[test]
    fn query_flags() {
        let q = parse_query(Some("follow=true&tailLines=5&previous=false"));
        assert_eq!(
            q,
            LogQuery {
                follow: true,
                previous: false,
                tail_lines: Some(5)
            }
        );
    }

    #[test]
    fn picks_current_and_previous_runs() {
        let t = tempfile::tempdir().unwrap();
        let logs = t.path().join("default_p_uid/logs/c");
        std::fs::create_dir_all(&logs).unwrap();
        for n in [0, 1, 10] {
            std::fs::write(logs.join(format!("{n}.log")), n.to_string()).unwrap();
        }
        let cur = log_file(t.path(), "default", "p", "c", false).unwrap();
        let prev = log_file(t.path(), "default", "p", "c", true).unwrap();
        assert_eq!(
            (cur.file_name().unwrap(), prev.file_name().unwrap()),
            ("10.log".as_ref(), "1.log".as_ref())
        );
        assert!(log_file(t.path(), "default", "q", "c", false).is_none());
    }
}
