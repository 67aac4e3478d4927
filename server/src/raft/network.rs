//! Raft RPC between servers, client side: openraft's `RaftNetwork` over
//! HTTP/2 to the peer's RPC port, MessagePack bodies.
//!
//! One [`RpcClient`] per server, shared by every peer: reqwest keeps one
//! HTTP/2 connection per peer address and multiplexes replication, votes
//! and snapshot chunks over it (prior knowledge: plain h2c, as Nomad's RPC
//! port is plain TCP, unless `tls { rpc = true }` makes it mutual TLS with
//! ALPN `h2`, [`crate::tls`]).
//! Every call is bounded by openraft's `RPCOption::hard_ttl()`.
//!
//! The receiving end is [`super::rpc`]. A request is the openraft request
//! encoded with `rmp_serde::to_vec_named`; the answer is the encoded
//! `Result<Response, RaftError>` openraft's handler gave, so a refusal by
//! the peer's Raft (a `RaftError`) reaches openraft as a `RemoteError`,
//! while anything the transport could not carry is a network error.

use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Timeout,
    Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Node, NodeId, TypeConfig};

/// Paths of the Raft calls on the RPC port.
pub const APPEND_PATH: &str = "/rpc/v1/raft/append-entries";
pub const VOTE_PATH: &str = "/rpc/v1/raft/vote";
pub const SNAPSHOT_PATH: &str = "/rpc/v1/raft/install-snapshot";
/// A snapshot chunk as a [`SnapshotChunk`]; [`SNAPSHOT_PATH`] takes
/// openraft's request as it serializes, for servers that predate this one.
pub const SNAPSHOT_CHUNK_PATH: &str = "/rpc/v1/raft/install-snapshot-chunk";

/// A leader handing its leadership to this server ([`TimeoutNow`]).
pub const TIMEOUT_NOW_PATH: &str = "/rpc/v1/raft/timeout-now";

/// hashicorp/raft's `TimeoutNow`: the leader that sends it has stopped
/// its heartbeats and asks the receiver to stand for election at once.
/// The receiver acts only while `leader` of `term` is the leader it
/// follows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimeoutNow {
    pub leader: NodeId,
    pub term: u64,
}

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

/// openraft's `InstallSnapshotRequest` with the chunk's bytes as one
/// MessagePack binary. openraft's own serialization writes `data` as an
/// array of integers: up to two bytes per byte, and a decoder call per
/// byte, which made a 3 MiB chunk cost a loaded follower longer than the
/// leader's heartbeats could wait behind it on the same connection.
#[derive(Debug, Serialize, Deserialize)]
pub struct SnapshotChunk {
    pub vote: openraft::Vote<NodeId>,
    pub meta: openraft::SnapshotMeta<NodeId, Node>,
    pub offset: u64,
    #[serde(with = "binary")]
    pub data: Vec<u8>,
    pub done: bool,
}

impl From<InstallSnapshotRequest<TypeConfig>> for SnapshotChunk {
    fn from(r: InstallSnapshotRequest<TypeConfig>) -> Self {
        SnapshotChunk {
            vote: r.vote,
            meta: r.meta,
            offset: r.offset,
            data: r.data,
            done: r.done,
        }
    }
}

impl From<SnapshotChunk> for InstallSnapshotRequest<TypeConfig> {
    fn from(c: SnapshotChunk) -> Self {
        InstallSnapshotRequest {
            vote: c.vote,
            meta: c.meta,
            offset: c.offset,
            data: c.data,
            done: c.done,
        }
    }
}

/// `Vec<u8>` as a MessagePack binary; an array of integers also reads.
mod binary {
    use serde::de::{Deserializer, SeqAccess, Visitor};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_byte_buf(Bytes)
    }
}

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
    scheme: &'static str,
}

impl RpcClient {
    /// `tls`: the client side of mutual TLS on the RPC port (`tls { rpc =
    /// true }`, [`crate::tls::Tls::client`] with ALPN `h2`); `None` for h2c.
    pub fn new(tls: Option<rustls::ClientConfig>) -> Result<RpcClient, reqwest::Error> {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let tls = tls.unwrap_or_else(crate::tls::no_tls);
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .http2_prior_knowledge()
            .no_proxy()
            .tcp_nodelay(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .http2_keep_alive_interval(KEEPALIVE)
            .http2_keep_alive_timeout(KEEPALIVE)
            .http2_keep_alive_while_idle(true)
            .build()?;
        Ok(RpcClient { http, scheme })
    }

    /// The URL of `path` on the server whose RPC address is `addr`.
    pub fn url(&self, addr: &str, path: &str) -> String {
        format!("{}://{addr}{path}", self.scheme)
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
        let body = encode(addr, req)?;
        self.call_encoded(addr, path, body, timeout).await
    }

    /// [`RpcClient::call`] with the request already encoded.
    pub async fn call_encoded<Resp: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Resp, RpcFailure> {
        let transport = |message: String| RpcFailure::Transport {
            addr: addr.to_string(),
            message,
        };
        let call = async {
            let resp = self
                .http
                .post(self.url(addr, path))
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

/// `req` as a request body (MessagePack with field names).
fn encode<Req: Serialize>(addr: &str, req: &Req) -> Result<Vec<u8>, RpcFailure> {
    rmp_serde::to_vec_named(req).map_err(|e| RpcFailure::Transport {
        addr: addr.to_string(),
        message: format!("encoding the request: {e}"),
    })
}

/// The most bytes of entries one AppendEntries carries, unless a single
/// entry is larger. openraft 0.9 gives an AppendEntries, entries included,
/// only its heartbeat interval (150 ms) to be sent, decoded, written and
/// synced by the follower, and a follower that is far behind is sent up
/// to 300 entries at once, each possibly a batch of many writes: megabytes
/// that a loaded follower could not take in time, so every try timed out
/// and the next sent the same again (a follower back from a restart never
/// caught up). A larger request is refused here with openraft's
/// `PayloadTooLarge` and an entry count that fits, which openraft uses for
/// its next requests.
const APPEND_BUDGET: usize = 256 << 10;

/// How many of `entries` entries fit in [`APPEND_BUDGET`] when they encode
/// to `bytes`; `None` when the request may go as it is.
fn entries_that_fit(entries: usize, bytes: usize) -> Option<u64> {
    if entries <= 1 || bytes <= APPEND_BUDGET {
        return None;
    }
    let fit = (entries.saturating_mul(APPEND_BUDGET) / bytes).max(1);
    u64::try_from(fit).ok()
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
        let body = encode(&self.node.addr, req).map_err(|f| NetworkError::new(&f))?;
        self.send_encoded(path, action, body, option).await
    }

    async fn send_encoded<Resp, E>(
        &self,
        path: &str,
        action: RPCTypes,
        body: Vec<u8>,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, Node, RaftError<NodeId, E>>>
    where
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let ttl = option.hard_ttl();
        let answer = self
            .client
            .call_encoded(&self.node.addr, path, body, ttl)
            .await;
        self.outcome(answer, action, ttl)
    }

    /// An RPC's outcome in openraft's terms.
    fn outcome<Resp, E>(
        &self,
        answer: Result<Result<Resp, RaftError<NodeId, E>>, RpcFailure>,
        action: RPCTypes,
        ttl: Duration,
    ) -> Result<Resp, RPCError<NodeId, Node, RaftError<NodeId, E>>>
    where
        E: std::error::Error,
    {
        let answer = answer.map_err(|f| match f {
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
        let body = encode(&self.node.addr, &rpc).map_err(|f| NetworkError::new(&f))?;
        if let Some(fit) = entries_that_fit(rpc.entries.len(), body.len()) {
            return Err(RPCError::PayloadTooLarge(
                PayloadTooLarge::new_entries_hint(fit),
            ));
        }
        self.send_encoded(APPEND_PATH, RPCTypes::AppendEntries, body, &option)
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
        let addr = &self.node.addr;
        let ttl = option.hard_ttl();
        let chunk = SnapshotChunk::from(rpc);
        let body = encode(addr, &chunk).map_err(|f| NetworkError::new(&f))?;
        let answer = match self
            .client
            .call_encoded(addr, SNAPSHOT_CHUNK_PATH, body, ttl)
            .await
        {
            // A server without the binary chunk route takes openraft's.
            Err(RpcFailure::Status { status: 404, .. }) => {
                let rpc = InstallSnapshotRequest::<TypeConfig>::from(chunk);
                let body = encode(addr, &rpc).map_err(|f| NetworkError::new(&f))?;
                self.client
                    .call_encoded(addr, SNAPSHOT_PATH, body, ttl)
                    .await
            }
            answer => answer,
        };
        self.outcome(answer, RPCTypes::InstallSnapshot, ttl)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.send(VOTE_PATH, RPCTypes::Vote, &rpc, &option).await
    }
}

#[cfg(test)]
mod tests {
    use super::{entries_that_fit, SnapshotChunk, APPEND_BUDGET};

    #[track_caller]
    fn check(entries: usize, bytes: usize, want: Option<u64>) {
        assert_eq!(
            entries_that_fit(entries, bytes),
            want,
            "{entries} in {bytes}"
        );
    }

    #[test]
    fn large_appends_are_cut_to_the_budget() {
        check(0, 0, None);
        check(300, APPEND_BUDGET, None);
        check(1, 50 * APPEND_BUDGET, None);
        check(300, 2 * APPEND_BUDGET, Some(150));
        check(300, 10 * APPEND_BUDGET + 1, Some(29));
        check(2, 50 * APPEND_BUDGET, Some(1));
    }

    #[test]
    fn a_snapshot_chunk_is_one_binary_and_reads_either_way() {
        let request = openraft::raft::InstallSnapshotRequest::<crate::raft::TypeConfig> {
            vote: Default::default(),
            meta: Default::default(),
            offset: 7,
            data: (0..=255u8).collect(),
            done: true,
        };
        let chunk = SnapshotChunk::from(request.clone());
        let bin = rmp_serde::to_vec_named(&chunk).unwrap();
        let ints = rmp_serde::to_vec_named(&request).unwrap();
        assert!(
            bin.len() < ints.len(),
            "{} against {}",
            bin.len(),
            ints.len()
        );
        for bytes in [bin, ints] {
            let back: SnapshotChunk = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!(openraft::raft::InstallSnapshotRequest::from(back), request);
        }
    }
}
