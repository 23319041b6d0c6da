//! The controller transport: one request and one reply per exchange over TCP, each a 4-byte
//! big-endian length followed by JSON. Carries the Raft RPCs and the brokers' requests to the
//! active controller (writes, heartbeats, image fetches).

use super::TypeConfig;
use super::image::{ClusterImage, Command, Outcome};
use super::quorum::{QuorumView, VoterError};
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
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type NodeId = u64;

/// Frames larger than this are refused (a metadata snapshot is far smaller).
const MAX_FRAME: usize = 64 << 20;

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

pub async fn write_frame<T: Serialize>(s: &mut TcpStream, v: &T) -> std::io::Result<()> {
    let data = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    let len = u32::try_from(data.len()).map_err(std::io::Error::other)?;
    s.write_all(&len.to_be_bytes()).await?;
    s.write_all(&data).await?;
    s.flush().await
}

pub async fn read_frame<T: for<'de> Deserialize<'de>>(s: &mut TcpStream) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {len} bytes is too large"
        )));
    }
    let mut data = vec![0u8; len];
    s.read_exact(&mut data).await?;
    serde_json::from_slice(&data).map_err(std::io::Error::other)
}

/// One request/reply exchange with `addr`, bounded by `timeout`.
pub async fn call(addr: &str, req: &Request, timeout: Duration) -> std::io::Result<Reply> {
    tokio::time::timeout(timeout, async {
        let mut s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        write_frame(&mut s, req).await?;
        read_frame(&mut s).await
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "controller rpc timed out"))?
}

/// Creates one client per target voter.
pub struct Network;

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Client;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Client {
        Client {
            target,
            addr: node.addr.clone(),
            conn: None,
        }
    }
}

pub struct Client {
    target: NodeId,
    addr: String,
    /// Kept open between RPCs; dropped on any error.
    conn: Option<TcpStream>,
}

impl Client {
    async fn exchange<E: std::error::Error>(
        &mut self,
        req: Request,
        option: &RPCOption,
    ) -> Result<Reply, RPCError<NodeId, BasicNode, E>> {
        let ttl = option.hard_ttl();
        let conn = match self.conn.take() {
            Some(c) => c,
            None => match tokio::time::timeout(ttl, TcpStream::connect(&self.addr)).await {
                Ok(Ok(c)) => {
                    let _ = c.set_nodelay(true);
                    c
                }
                Ok(Err(e)) => return Err(RPCError::Unreachable(Unreachable::new(&e))),
                Err(_) => {
                    let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
                    return Err(RPCError::Unreachable(Unreachable::new(&e)));
                }
            },
        };
        let mut conn = conn;
        let r = tokio::time::timeout(ttl, async {
            write_frame(&mut conn, &req).await?;
            read_frame::<Reply>(&mut conn).await
        })
        .await;
        match r {
            Ok(Ok(reply)) => {
                self.conn = Some(conn);
                Ok(reply)
            }
            Ok(Err(e)) => Err(RPCError::Network(NetworkError::new(&e))),
            Err(_) => {
                let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "rpc timed out");
                Err(RPCError::Network(NetworkError::new(&e)))
            }
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
