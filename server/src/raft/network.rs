//! Raft RPC between servers, client side: openraft's `RaftNetwork` over
//! HTTP/2 to the peer's RPC port, MessagePack bodies.
//!
//! One [`RpcClient`] per server, shared by every peer: reqwest keeps one
//! HTTP/2 connection per peer address and multiplexes replication, votes
//! and snapshot chunks over it (prior knowledge, no TLS: the RPC port is
//! plain h2c, as Nomad's RPC port is plain TCP without `tls { rpc = true }`).
//! Every call is bounded by openraft's `RPCOption::hard_ttl()`.
//!
//! The receiving end is [`super::rpc`]. A request is the openraft request
//! encoded with `rmp_serde::to_vec_named`; the answer is the encoded
//! `Result<Response, RaftError>` openraft's handler gave, so a refusal by
//! the peer's Raft (a `RaftError`) reaches openraft as a `RemoteError`,
//! while anything the transport could not carry is a network error.

use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Node, NodeId, TypeConfig};

/// Paths of the Raft calls on the RPC port.
pub const APPEND_PATH: &str = "/rpc/v1/raft/append-entries";
pub const VOTE_PATH: &str = "/rpc/v1/raft/vote";
pub const SNAPSHOT_PATH: &str = "/rpc/v1/raft/install-snapshot";

/// The content type of every RPC body.
pub const MSGPACK: &str = "application/msgpack";

/// How long a new connection to a peer may take. Shorter than any Raft
/// timeout that matters is pointless (the call's own TTL cuts it first);
/// this bounds the cluster calls, which have longer TTLs.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// HTTP/2 pings on an idle peer connection, so a peer that vanished
/// without a FIN (a partition, a host that lost power) is noticed and the
/// next call dials afresh instead of waiting on a dead connection.
const KEEPALIVE: Duration = Duration::from_secs(2);

/// Why an RPC to a peer failed, before openraft's error types.
#[derive(Debug, thiserror::Error)]
pub enum RpcFailure {
    /// No connection could be made (refused, no route, connect timeout).
    #[error("{addr} is unreachable: {message}")]
    Unreachable { addr: String, message: String },
    /// The call did not finish within its deadline.
    #[error("{addr} did not answer within {after:?}")]
    Timeout { addr: String, after: Duration },
    /// The peer answered with an error status (a body it could not decode
    /// is a 400 with the reason).
    #[error("{addr} answered {status}: {message}")]
    Status {
        addr: String,
        status: u16,
        message: String,
    },
    /// The connection broke mid-call, or the answer did not decode.
    #[error("RPC to {addr}: {message}")]
    Transport { addr: String, message: String },
}

/// A MessagePack-over-HTTP/2 client for the RPC ports of other servers.
/// Cheap to clone (reqwest's client is an `Arc`).
#[derive(Clone, Debug)]
pub struct RpcClient {
    http: reqwest::Client,
}

impl RpcClient {
    pub fn new() -> Result<RpcClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            .http2_prior_knowledge()
            .no_proxy()
            .tcp_nodelay(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .http2_keep_alive_interval(KEEPALIVE)
            .http2_keep_alive_timeout(KEEPALIVE)
            .http2_keep_alive_while_idle(true)
            .build()?;
        Ok(RpcClient { http })
    }

    /// The HTTP/2 client itself, for calls that are not MessagePack RPCs
    /// (an HTTP request forwarded to the leader): same connection per peer.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// POST `req` to `path` on the server at `addr` (its RPC `host:port`)
    /// and decode the answer, all within `timeout`.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RpcFailure> {
        let transport = |message: String| RpcFailure::Transport {
            addr: addr.to_string(),
            message,
        };
        let body = rmp_serde::to_vec_named(req)
            .map_err(|e| transport(format!("encoding the request: {e}")))?;
        let call = async {
            let resp = self
                .http
                .post(format!("http://{addr}{path}"))
                .header(reqwest::header::CONTENT_TYPE, MSGPACK)
                .body(body)
                .send()
                .await
                .map_err(|e| send_failure(addr, &e))?;
            let status = resp.status();
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| transport(format!("reading the answer: {e}")))?;
            if !status.is_success() {
                return Err(RpcFailure::Status {
                    addr: addr.to_string(),
                    status: status.as_u16(),
                    message: String::from_utf8_lossy(&bytes).trim().to_string(),
                });
            }
            rmp_serde::from_slice(&bytes)
                .map_err(|e| transport(format!("decoding the answer: {e}")))
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(RpcFailure::Timeout {
                addr: addr.to_string(),
                after: timeout,
            }),
        }
    }
}

/// A connect error is `Unreachable` (openraft then backs off instead of
/// retrying in a loop); anything else broke an established exchange.
fn send_failure(addr: &str, e: &reqwest::Error) -> RpcFailure {
    let message = error_chain(e);
    if e.is_connect() {
        RpcFailure::Unreachable {
            addr: addr.to_string(),
            message,
        }
    } else {
        RpcFailure::Transport {
            addr: addr.to_string(),
            message,
        }
    }
}

/// reqwest's `Display` stops at "error sending request"; the cause (for
/// example "Connection refused") is further down the chain.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The factory openraft asks for a client per peer. Every client shares
/// one [`RpcClient`], so a peer has one connection however many
/// replication streams and elections come and go.
#[derive(Clone, Debug)]
pub struct RpcNetwork {
    /// This server's node ID, which openraft's `Timeout` error names.
    pub node_id: NodeId,
    pub client: RpcClient,
}

impl RaftNetworkFactory<TypeConfig> for RpcNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Self::Network {
        PeerClient {
            from: self.node_id,
            target,
            node: node.clone(),
            client: self.client.clone(),
        }
    }
}

/// Raft calls to one peer.
pub struct PeerClient {
    from: NodeId,
    target: NodeId,
    node: Node,
    client: RpcClient,
}

impl PeerClient {
    async fn send<Req, Resp, E>(
        &self,
        path: &str,
        action: RPCTypes,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, Node, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let ttl = option.hard_ttl();
        let answer: Result<Resp, RaftError<NodeId, E>> = self
            .client
            .call(&self.node.addr, path, req, ttl)
            .await
            .map_err(|f| match f {
                RpcFailure::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&f)),
                RpcFailure::Timeout { .. } => RPCError::Timeout(Timeout {
                    action,
                    id: self.from,
                    target: self.target,
                    timeout: ttl,
                }),
                RpcFailure::Status { .. } | RpcFailure::Transport { .. } => {
                    RPCError::Network(NetworkError::new(&f))
                }
            })?;
        answer.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.send(APPEND_PATH, RPCTypes::AppendEntries, &rpc, &option)
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.send(SNAPSHOT_PATH, RPCTypes::InstallSnapshot, &rpc, &option)
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.send(VOTE_PATH, RPCTypes::Vote, &rpc, &option).await
    }
}
