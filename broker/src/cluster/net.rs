//! The controller transport: one persistent TCP connection per peer address, multiplexed. Each
//! frame is a 4-byte big-endian length (tokio-util's length-delimited codec) followed by JSON of
//! `{id, body}`; a reply carries its request's id, so many requests are in flight at once and
//! replies come back in any order. Carries the Raft RPCs and the brokers' requests to the active
//! controller (writes, heartbeats, image fetches, quorum views and voter changes).
//!
//! The client side is one process-wide pool (`call`, and the openraft `Network`): a peer's
//! connection is opened on first use, kept, and reopened after it fails, no sooner than a
//! bounded backoff (50 ms doubling to 500 ms); every call has its own deadline. The server side
//! (`serve_connection`) answers each request in its own task, a bounded number at a time.
//!
//! Rolling upgrades: a peer still on the previous transport (a bare JSON request per frame, one
//! at a time, no ids) is answered in kind by `serve_connection`, and a client whose new
//! connection is closed unanswered asks that peer the old way for a while.

use super::TypeConfig;
use super::image::{ClusterImage, Command, Outcome};
use super::membership::{QuorumView, VoterError};
use bytes::Bytes;
use eddy_kafka_client::Transport;
use futures::{SinkExt as _, StreamExt as _};
use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

type NodeId = u64;

/// Frames larger than this are refused (a metadata snapshot is far smaller).
const MAX_FRAME: usize = 64 << 20;
/// Requests one server connection handles at once; more wait (TCP pushes back on the peer).
const MAX_IN_FLIGHT: usize = 64;
/// Frames queued for a connection's writer.
const WRITE_QUEUE: usize = 256;
/// Backoff before reconnecting to a peer after a failure: doubling from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// How long a peer found on the previous transport is asked the old way before probing again.
const LEGACY_RECHECK: Duration = Duration::from_secs(60);

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// Apply a command through the active controller.
    Write(Command),
    /// A broker is alive.
    Heartbeat {
        id: i32,
    },
    /// The current image and the log index it reflects (for non-voter brokers).
    Image,
    /// This node's view of the quorum's voters, learners and leader.
    Quorum,
    /// Change the voter set to exactly these nodes (the active controller only).
    ChangeVoters(Vec<NodeId>),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    /// The outcome and the log index it was applied at.
    Written(Outcome, u64),
    Ack,
    Image(ClusterImage, u64),
    /// This node is not the active controller; the leader it knows of, if any.
    NotLeader(Option<NodeId>),
    Error(String),
    Quorum(QuorumView),
    /// The outcome of a voter-set change.
    VoterChange(Result<QuorumView, VoterError>),
}

/// Why a controller call failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No connection to the peer (refused, unresolvable, or still backing off after a failure).
    #[error("controller at {addr} unreachable: {source}")]
    Unreachable {
        /// Peer address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The connection failed while the request was in flight.
    #[error("controller connection to {addr} lost: {reason}")]
    Lost {
        /// Peer address.
        addr: String,
        /// Cause.
        reason: String,
    },
    /// No reply before the call's deadline.
    #[error("controller rpc to {addr} timed out")]
    Timeout {
        /// Peer address.
        addr: String,
    },
    /// The request could not be encoded.
    #[error("controller rpc to {addr}: encoding the request: {source}")]
    Encode {
        /// Peer address.
        addr: String,
        /// Cause.
        source: serde_json::Error,
    },
}

/// One frame's payload: a request or reply and the id that pairs them.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope<T> {
    id: u64,
    body: T,
}

fn frame_codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

/// One request/reply exchange with `addr` over the pooled connection, bounded by `timeout`.
pub async fn call(addr: &str, req: &Request, timeout: Duration) -> Result<Reply, TransportError> {
    PEERS.peer(addr).call(req, timeout).await
}

/// Serves one controller connection: each request is handled in its own task (at most
/// `MAX_IN_FLIGHT` at once) and its reply written back with the request's id, in completion
/// order. Ends when the peer closes the connection or sends what is not a request. Over TLS
/// (after the handshake) when the controller transport uses it.
pub async fn serve_connection<F, Fut>(stream: TcpStream, handle: F)
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let Some(stream) = transport::accept(stream).await else {
        return;
    };
    let (read, write) = tokio::io::split(stream);
    let mut requests = FramedRead::new(read, frame_codec());
    let (tx, rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    let writer = tokio::spawn(write_frames(write, rx));
    let handle = Arc::new(handle);
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(Ok(frame)) = requests.next().await {
        let request = match serde_json::from_slice::<Envelope<Request>>(&frame) {
            Ok(r) => r,
            Err(e) => match serde_json::from_slice::<Request>(&frame) {
                // A peer on the previous transport (a bare request, its bare reply, one at a
                // time): answered in order as that transport did, so a rolling upgrade keeps the
                // quorum talking.
                Ok(request) => {
                    let reply = handle(request).await;
                    match serde_json::to_vec(&reply) {
                        Ok(bytes) => {
                            if tx.send(Bytes::from(bytes)).await.is_err() {
                                break;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot encode a controller reply"),
                    }
                    continue;
                }
                Err(_) => {
                    tracing::warn!(error = %e, "closing a controller connection: undecodable request");
                    break;
                }
            },
        };
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            break;
        };
        let (handle, tx) = (Arc::clone(&handle), tx.clone());
        tokio::spawn(async move {
            let reply = handle(request.body).await;
            let envelope = Envelope {
                id: request.id,
                body: &reply,
            };
            match serde_json::to_vec(&envelope) {
                Ok(bytes) => {
                    let _ = tx.send(Bytes::from(bytes)).await;
                }
                Err(e) => tracing::warn!(error = %e, "cannot encode a controller reply"),
            }
            drop(permit);
        });
    }
    // The writer ends once every handler still running has answered (or failed to).
    drop(tx);
    let _ = writer.await;
}

/// Writes queued frames in order until the queue closes or a write fails.
async fn write_frames(write: WriteHalf<Box<dyn Transport>>, mut frames: mpsc::Receiver<Bytes>) {
    let mut out = FramedWrite::new(write, frame_codec());
    while let Some(frame) = frames.recv().await {
        if out.send(frame).await.is_err() {
            return;
        }
    }
}

/// The process's client connections, one per peer address.
static PEERS: LazyLock<Peers> = LazyLock::new(Peers::default);

#[derive(Default)]
struct Peers {
    by_addr: Mutex<HashMap<String, Arc<Peer>>>,
}

impl Peers {
    fn peer(&self, addr: &str) -> Arc<Peer> {
        let mut peers = self.by_addr.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(peers.entry(addr.to_string()).or_insert_with(|| {
            Arc::new(Peer {
                addr: addr.to_string(),
                link: tokio::sync::Mutex::new(Link::default()),
            })
        }))
    }
}

/// One peer address and its connection.
struct Peer {
    addr: String,
    link: tokio::sync::Mutex<Link>,
}

/// A peer's current connection and its reconnect backoff.
#[derive(Default)]
struct Link {
    conn: Option<Arc<Conn>>,
    /// Connect failures in a row.
    failures: u32,
    /// No connect attempt before this (after a failure).
    retry_at: Option<Instant>,
    /// Until when the peer is taken to run the previous transport (it closed a new connection
    /// without answering): one connection per call with bare frames. Cleared when it refuses a
    /// connection (restarts, perhaps upgraded); rechecked after `LEGACY_RECHECK` anyway.
    legacy: Option<Instant>,
}

/// How a call reaches its peer.
enum Route {
    Pooled(Arc<Conn>),
    Legacy,
}

impl Peer {
    /// The open connection, or a new one (unless backing off after a failure).
    async fn conn(&self) -> Result<Route, TransportError> {
        let mut link = self.link.lock().await;
        match link.legacy {
            Some(until) if Instant::now() < until => return Ok(Route::Legacy),
            Some(_) => link.legacy = None,
            None => {}
        }
        if let Some(conn) = &link.conn {
            if !conn.shared.closed.load(Ordering::Acquire) {
                return Ok(Route::Pooled(Arc::clone(conn)));
            }
            link.conn = None;
            // A connection that was up and failed is retried after the first backoff step.
            link.retry_at = Some(Instant::now() + BACKOFF_FIRST);
        }
        if let Some(at) = link.retry_at
            && Instant::now() < at
        {
            return Err(self.unreachable(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "reconnecting after a failure (backing off)",
            )));
        }
        match transport::connect(&self.addr).await {
            Ok(stream) => {
                let conn = Arc::new(Conn::start(stream));
                link.conn = Some(Arc::clone(&conn));
                link.failures = 0;
                link.retry_at = None;
                Ok(Route::Pooled(conn))
            }
            Err(e) => {
                link.failures = link.failures.saturating_add(1);
                link.legacy = None;
                let backoff = BACKOFF_FIRST
                    .saturating_mul(1 << link.failures.min(8).saturating_sub(1))
                    .min(BACKOFF_MAX);
                link.retry_at = Some(Instant::now() + backoff);
                Err(self.unreachable(e))
            }
        }
    }

    fn unreachable(&self, source: std::io::Error) -> TransportError {
        TransportError::Unreachable {
            addr: self.addr.clone(),
            source,
        }
    }

    /// Sends `req` and waits for its reply, all before `timeout`.
    async fn call(&self, req: &Request, timeout: Duration) -> Result<Reply, TransportError> {
        let deadline = Instant::now() + timeout;
        let timed_out = || TransportError::Timeout {
            addr: self.addr.clone(),
        };
        let lost = |reason: &str| TransportError::Lost {
            addr: self.addr.clone(),
            reason: reason.to_string(),
        };
        let route = tokio::time::timeout_at(deadline, self.conn())
            .await
            .map_err(|_| {
                self.unreachable(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timed out",
                ))
            })??;
        let conn = match route {
            Route::Pooled(conn) => conn,
            Route::Legacy => return self.legacy_call(req, deadline).await,
        };
        let id = conn.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = serde_json::to_vec(&Envelope { id, body: req }).map_err(|source| {
            TransportError::Encode {
                addr: self.addr.clone(),
                source,
            }
        })?;
        let (reply_tx, reply_rx) = oneshot::channel();
        conn.shared.lock_pending().insert(id, reply_tx);
        let replies_before = conn.shared.replies.load(Ordering::Acquire);
        match tokio::time::timeout_at(deadline, conn.frames.send(Bytes::from(frame))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                conn.shared.lock_pending().remove(&id);
                return Err(lost("the connection's writer stopped"));
            }
            Err(_) => {
                conn.shared.lock_pending().remove(&id);
                return Err(timed_out());
            }
        }
        match tokio::time::timeout_at(deadline, reply_rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) if conn.shared.replies.load(Ordering::Acquire) == 0 => {
                // Closed without ever answering: a peer on the previous transport refuses
                // envelopes. Ask it the old way (a peer that merely crashed refuses that too).
                self.link.lock().await.legacy = Some(Instant::now() + LEGACY_RECHECK);
                tracing::info!(addr = %self.addr, "controller peer uses the previous transport");
                self.legacy_call(req, deadline).await
            }
            Ok(Err(_)) => Err(lost("closed before the reply")),
            Err(_) => {
                conn.shared.lock_pending().remove(&id);
                // Nothing at all came back while this call waited: the peer (or the path to it)
                // is gone without a reset; reconnect on the next call. A connection that answered
                // others meanwhile is alive and stays (this request was just slow).
                if conn.shared.replies.load(Ordering::Acquire) == replies_before {
                    conn.shared.close();
                }
                Err(timed_out())
            }
        }
    }
}

impl Peer {
    /// One exchange on the previous transport: a new connection, a bare request, a bare reply.
    async fn legacy_call(&self, req: &Request, deadline: Instant) -> Result<Reply, TransportError> {
        let lost = |reason: String| TransportError::Lost {
            addr: self.addr.clone(),
            reason,
        };
        let exchange = async {
            let stream = match transport::connect(&self.addr).await {
                Ok(s) => s,
                Err(e) => {
                    // Refused: the peer is restarting, perhaps upgraded; probe anew next time.
                    self.link.lock().await.legacy = None;
                    return Err(self.unreachable(e));
                }
            };
            let mut framed = tokio_util::codec::Framed::new(stream, frame_codec());
            let bytes = serde_json::to_vec(req).map_err(|source| TransportError::Encode {
                addr: self.addr.clone(),
                source,
            })?;
            framed
                .send(Bytes::from(bytes))
                .await
                .map_err(|e| lost(e.to_string()))?;
            let frame = framed
                .next()
                .await
                .ok_or_else(|| lost("closed before the reply".into()))?
                .map_err(|e| lost(e.to_string()))?;
            serde_json::from_slice::<Reply>(&frame)
                .map_err(|e| lost(format!("undecodable reply: {e}")))
        };
        tokio::time::timeout_at(deadline, exchange)
            .await
            .map_err(|_| TransportError::Timeout {
                addr: self.addr.clone(),
            })?
    }
}

/// One open client connection: a writer task fed by a queue, a reader task that hands each
/// reply to the call waiting for its id.
struct Conn {
    frames: mpsc::Sender<Bytes>,
    shared: Arc<Shared>,
    next_id: AtomicU64,
    tasks: [tokio::task::JoinHandle<()>; 2],
}

/// What a connection's reader and its callers share.
#[derive(Default)]
struct Shared {
    /// Calls waiting for a reply, by request id.
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    /// Replies received so far.
    replies: AtomicU64,
    /// Set when the connection failed; the next call reconnects.
    closed: AtomicBool,
}

impl Shared {
    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Reply>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the connection failed and fails every waiting call.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.lock_pending().clear();
    }
}

impl Conn {
    fn start(stream: Box<dyn Transport>) -> Conn {
        let (read, write) = tokio::io::split(stream);
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let writer = {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                write_frames(write, rx).await;
                shared.close();
            })
        };
        let reader = tokio::spawn(read_replies(read, Arc::clone(&shared)));
        Conn {
            frames: tx,
            shared,
            next_id: AtomicU64::new(0),
            tasks: [writer, reader],
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Hands each reply to its waiting call until the connection ends or sends garbage.
async fn read_replies(read: ReadHalf<Box<dyn Transport>>, shared: Arc<Shared>) {
    let mut replies = FramedRead::new(read, frame_codec());
    while let Some(Ok(frame)) = replies.next().await {
        let Ok(reply) = serde_json::from_slice::<Envelope<Reply>>(&frame) else {
            tracing::warn!("closing a controller connection: undecodable reply");
            break;
        };
        shared.replies.fetch_add(1, Ordering::AcqRel);
        // A call that timed out is no longer waiting; its late reply is dropped.
        if let Some(waiting) = shared.lock_pending().remove(&reply.id) {
            let _ = waiting.send(reply.body);
        }
    }
    shared.close();
}

/// Creates one openraft client per target voter, each on the shared pooled connection.
pub struct Network;

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Client;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Client {
        Client {
            target,
            peer: PEERS.peer(&node.addr),
        }
    }
}

/// openraft's client for one target: RPCs over the target's pooled connection.
pub struct Client {
    target: NodeId,
    peer: Arc<Peer>,
}

impl Client {
    async fn exchange<E: std::error::Error>(
        &mut self,
        req: Request,
        option: &RPCOption,
    ) -> Result<Reply, RPCError<NodeId, BasicNode, E>> {
        match self.peer.call(&req, option.hard_ttl()).await {
            Ok(reply) => Ok(reply),
            Err(e @ TransportError::Unreachable { .. }) => {
                Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }
}

fn unexpected<E: std::error::Error>(r: &Reply) -> RPCError<NodeId, BasicNode, E> {
    let e = std::io::Error::other(format!("unexpected reply {r:?}"));
    RPCError::Network(NetworkError::new(&e))
}

impl RaftNetwork<TypeConfig> for Client {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.exchange(Request::Append(rpc), &option).await? {
            Reply::Append(Ok(r)) => Ok(r),
            Reply::Append(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(unexpected(&other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self.exchange(Request::Snapshot(rpc), &option).await? {
            Reply::Snapshot(Ok(r)) => Ok(r),
            Reply::Snapshot(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(unexpected(&other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.exchange(Request::Vote(rpc), &option).await? {
            Reply::Vote(Ok(r)) => Ok(r),
            Reply::Vote(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(unexpected(&other)),
        }
    }
}

#[cfg(test)]
mod tests;
pub mod transport;
