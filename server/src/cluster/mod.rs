//! Forming a cluster: servers find each other on their RPC ports, one of
//! them bootstraps Raft, and later servers join the running cluster.
//!
//! Nomad finds servers through Serf gossip and bootstraps in
//! `maybeBootstrap` (`nomad/serf.go`): once `bootstrap_expect` servers of
//! the region are known and none of them has Raft peers yet, it
//! bootstraps. Drover has no gossip; servers exchange their [`Identity`]
//! with `POST /rpc/v1/identity` (the caller announces itself, the answer
//! is the callee's identity, whether it belongs to a cluster, its leader
//! and the servers it has heard from). [`discover`] runs that exchange
//! against `retry_join` and every server learned of, with a backoff.
//!
//! - **Bootstrap.** With `bootstrap_expect = N`, once a server has heard
//!   from N servers of its region (itself included), none of them in a
//!   cluster, the one with the lowest node ID calls `initialize` with all
//!   of them as voters; the others wait for its AppendEntries. Only one
//!   server of a set ever initializes, so servers started together never
//!   form two clusters. A server whose Raft already has a vote or a
//!   membership (a restart on its data directory) never bootstraps.
//! - **Join.** A server that learns of a server in a cluster asks it to
//!   join (`POST /rpc/v1/join`, redirected to the leader). The leader adds
//!   it as a learner and answers; a leader duty ([`promote`]) makes it a
//!   voter (`change_membership`) once it has caught up and been healthy
//!   for `server_stabilization_time`, the order Nomad's autopilot keeps
//!   with non-voters (`nomad/autopilot.go`). `-join`, `drover server
//!   join` (`PUT /v1/agent/join`) and `retry_join` towards a running
//!   cluster all end here.
//! - **Which cluster.** The first leader writes a random cluster ID
//!   through Raft (Nomad's `ClusterMetadata`, nomad/leader.go), so every
//!   server's state, and with it its data directory, holds it. Identity
//!   exchanges and join requests carry it. A server never joins, and a
//!   cluster never takes, a server of another cluster ID, or (without
//!   IDs) one initialized apart from it; a restarted server that finds a
//!   `retry_join` address in another cluster gives up and the agent exits
//!   ([`Cluster::failed`]), since only an empty data directory can fix it.
//!   Servers of different regions never join one cluster either; that is
//!   said at every try, as a region's servers may start in any order.
//! - **Who leads.** [`Cluster::leadership`] is the one answer the HTTP
//!   layer acts on: forward to the leader, serve here, or hold the request
//!   while no leader is known ([`crate::http::leader_forward`]).

mod discover;
mod promote;
pub mod transfer;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{any, post};
use axum::Router;
use openraft::error::{ClientWriteError, RaftError};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::raft::network::{RpcClient, RpcFailure};
use crate::raft::node::RaftHandle;
use crate::raft::rpc::{decode, msgpack, LeaderContact};
use crate::raft::{Node, NodeId};

pub use discover::discover;
pub use promote::{promote_learners, Autopilot, MAX_TRAILING_LOGS};

pub const IDENTITY_PATH: &str = "/rpc/v1/identity";
pub const JOIN_PATH: &str = "/rpc/v1/join";

/// Nomad's default server RPC port, for join addresses given without one.
pub const DEFAULT_RPC_PORT: u16 = 4647;

/// How long an identity exchange may take.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the leader waits for the membership entry that adds a
/// learner to commit.
const LEADER_JOIN_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a joining server waits for the leader's answer.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a leader may go without an acknowledgement from a quorum and
/// still count as the leader ([`crate::raft::node::LEADER_LEASE`]): what a
/// minority relies on to refuse writes with `No cluster leader`, as a
/// Nomad minority does once hashicorp/raft's `LeaderLeaseTimeout` passes.
pub const LEADER_LEASE: Duration = crate::raft::node::LEADER_LEASE;

/// Who leads, as far as this server can tell now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leadership {
    /// This server leads, a quorum acknowledged it within
    /// [`LEADER_LEASE`], and it has applied an entry of its own term, so
    /// its state holds every committed write (Nomad's
    /// `isReadyForConsistentReads`, set after the leadership barrier).
    Leader,
    /// This server leads but has not applied an entry of its term yet.
    LeaderNotReady,
    /// Another server leads; its RPC address.
    Other { rpc_addr: String },
    /// No leader is known (an election, or a leader without a quorum).
    Unknown,
}

impl Leadership {
    /// Whether this server leads, as far as it can vouch for it.
    pub fn is_this_server(&self) -> bool {
        matches!(self, Leadership::Leader | Leadership::LeaderNotReady)
    }
}

/// Who a server is, as the others need to know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub node_id: NodeId,
    pub name: String,
    pub region: String,
    /// Where its RPC port (Raft, cluster calls) is reached.
    pub rpc_addr: String,
    /// Where its HTTP API is reached.
    pub http_addr: String,
    /// Its `bootstrap_expect`; servers that disagree do not bootstrap.
    pub bootstrap_expect: u32,
    /// Its datacenter, for `/v1/agent/members` (empty from older servers).
    #[serde(default)]
    pub datacenter: String,
    /// Its build version, for `/v1/agent/members` and autopilot health.
    #[serde(default)]
    pub version: String,
}

/// The body of `POST /rpc/v1/identity`: the caller announces itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Announce {
    pub from: Identity,
    /// The caller's cluster ID, once its state has one.
    #[serde(default)]
    pub cluster_id: Option<String>,
}

/// The answer to an [`Announce`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerStatus {
    pub identity: Identity,
    /// Whether this server's Raft has a vote or a membership, i.e. it
    /// belongs to a cluster (it was bootstrapped, joined, or voted).
    pub initialized: bool,
    /// The leader's RPC address, when one is known.
    #[serde(default)]
    pub leader_rpc: Option<String>,
    /// The voters of its membership.
    #[serde(default)]
    pub voters: Vec<NodeId>,
    /// Every member of its membership, learners included.
    #[serde(default)]
    pub members: Vec<NodeId>,
    /// The servers it has heard from.
    #[serde(default)]
    pub known: Vec<Identity>,
    /// Its cluster's ID, once its state has one.
    #[serde(default)]
    pub cluster_id: Option<String>,
}

/// The body of `POST /rpc/v1/join`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    pub identity: Identity,
    /// The joining server's cluster ID, when its data directory has one.
    #[serde(default)]
    pub cluster_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum JoinReply {
    /// The server is a voter of the cluster.
    Voter,
    /// The server is a member, a non-voter until the leader promotes it
    /// ([`promote`]).
    Learner,
    /// Ask the leader instead (`None`: no leader is known now).
    NotLeader { leader_rpc: Option<String> },
    /// The leader will not add it, and says why.
    Refused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("{0}")]
    Rpc(#[from] RpcFailure),
    #[error("invalid join address {0:?}: expected host or host:port")]
    BadAddress(String),
    #[error("{0} is this server's own address")]
    Itself(String),
    #[error("the cluster at {0} has no leader now")]
    NoLeader(String),
    #[error("this server's data directory belongs to cluster {ours}, but the server at {addr} belongs to cluster {theirs}; a server joins another cluster only with an empty data directory")]
    OtherCluster {
        addr: String,
        ours: String,
        theirs: String,
    },
    #[error("the server at {addr} is in region {theirs:?}, this server in region {ours:?}; servers of different regions never join one cluster")]
    OtherRegion {
        addr: String,
        ours: String,
        theirs: String,
    },
    #[error("{0}")]
    Refused(String),
}

/// A cluster ID as messages name it.
fn cluster_name(id: Option<&str>) -> String {
    id.map_or_else(|| "(no ID yet)".to_string(), str::to_string)
}

/// What a successful [`Cluster::join`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// This server is a voter of the cluster `addr` belongs to.
    Voter,
    /// This server is a non-voting member of the cluster `addr` belongs
    /// to; its leader promotes it once it has been healthy for the
    /// stabilization time.
    Learner,
    /// `addr` belongs to no cluster yet: the two servers know each other
    /// now, which counts towards `bootstrap_expect`.
    Announced,
}

/// A server heard from directly.
#[derive(Debug, Clone)]
struct Peer {
    identity: Identity,
    initialized: bool,
}

/// When a server last answered this one on its RPC port, and since when it
/// has answered every probe ([`Cluster::probe`]) without a failure.
#[derive(Debug, Clone, Copy)]
pub struct Contact {
    pub last_ok: std::time::Instant,
    /// `None` while its latest probe went unanswered.
    pub stable_since: Option<std::time::SystemTime>,
}

/// This server's side of cluster membership: what it has heard from other
/// servers, the RPC handlers for identity and join, and joining.
pub struct Cluster {
    me: Identity,
    raft: RaftHandle,
    rpc: RpcClient,
    /// Servers heard from directly, by node ID (never this one).
    peers: Mutex<BTreeMap<NodeId, Peer>>,
    /// RPC addresses learned second-hand (from another server's `known`).
    heard_of: Mutex<BTreeSet<String>>,
    /// Woken when a server announces itself, so discovery looks again.
    changed: Notify,
    /// One join at a time from this server.
    joining: tokio::sync::Mutex<()>,
    /// When a leader last reached this server over Raft.
    contact: Arc<LeaderContact>,
    /// The HTTP API's routes, which requests forwarded to this server run
    /// through; set once the API is built, taken away on shutdown (the
    /// routes hold the API's state, which holds this: a cycle that would
    /// keep Raft and its log, lock included, alive after shutdown).
    http: Mutex<Option<Router>>,
    /// Servers that answered a [`Cluster::probe`], by node ID.
    contacts: Mutex<BTreeMap<NodeId, Contact>>,
    /// Servers of another cluster that announced themselves, refused
    /// (each logged once).
    foreign: Mutex<BTreeSet<NodeId>>,
    /// Why this server cannot go on (its data directory belongs to
    /// another cluster than the one it was told to join); the agent exits.
    failed: tokio::sync::watch::Sender<Option<String>>,
    autopilot: Autopilot,
}

impl Cluster {
    pub fn new(me: Identity, raft: RaftHandle, autopilot: Autopilot) -> Arc<Cluster> {
        Arc::new(Cluster {
            me,
            rpc: raft.rpc.clone(),
            raft,
            peers: Mutex::new(BTreeMap::new()),
            heard_of: Mutex::new(BTreeSet::new()),
            changed: Notify::new(),
            joining: tokio::sync::Mutex::new(()),
            contact: LeaderContact::new(),
            http: Mutex::new(None),
            contacts: Mutex::new(BTreeMap::new()),
            foreign: Mutex::new(BTreeSet::new()),
            failed: tokio::sync::watch::channel(None).0,
            autopilot,
        })
    }

    /// This cluster's ID, once this server has applied it.
    pub fn cluster_id(&self) -> Option<String> {
        let applied = self.raft.shared.read();
        applied.state.cluster().map(|c| c.cluster_id.clone())
    }

    /// Resolves with the reason once this server cannot go on.
    pub async fn failed(&self) -> String {
        let mut rx = self.failed.subscribe();
        let why = match rx.wait_for(Option::is_some).await {
            Ok(why) => why.clone(),
            Err(_) => None,
        };
        match why {
            Some(why) => why,
            // The sender lives as long as `self`.
            None => std::future::pending().await,
        }
    }

    /// Give up: log `why` once and tell the agent, which exits with it.
    fn fail(&self, why: String) {
        self.failed.send_if_modified(|failed| {
            if failed.is_some() {
                return false;
            }
            tracing::error!("{why}");
            *failed = Some(why);
            true
        });
    }

    /// Whether the server that answered `status` belongs to another
    /// cluster than this one: both have cluster IDs and they differ, or
    /// both are initialized and neither's membership holds the other (a
    /// data directory from before cluster IDs). A server that has voted
    /// in the first election but not yet received the membership counts
    /// as initialized with an empty one, which proves nothing: while
    /// either membership is empty the servers are not told apart.
    async fn other_cluster(&self, addr: &str, status: &PeerStatus) -> Option<JoinError> {
        let ours = self.cluster_id();
        let differ = match (&ours, &status.cluster_id) {
            (Some(a), Some(b)) => a != b,
            _ => {
                let our_members = self.raft.members();
                status.initialized
                    && !status.members.is_empty()
                    && !our_members.is_empty()
                    && self.raft.raft.is_initialized().await.unwrap_or(false)
                    && !status.voters.contains(&self.me.node_id)
                    && !status.members.contains(&self.me.node_id)
                    && !our_members.contains(&status.identity.node_id)
            }
        };
        differ.then(|| JoinError::OtherCluster {
            addr: addr.to_string(),
            ours: cluster_name(ours.as_deref()),
            theirs: cluster_name(status.cluster_id.as_deref()),
        })
    }

    /// Serve requests forwarded from other servers with `routes` (the
    /// `/v1` API). Until this is called they are answered 503.
    pub fn serve_forwarded(&self, routes: Router) {
        *self.http.lock().unwrap_or_else(|e| e.into_inner()) = Some(routes);
    }

    /// Stop serving forwarded requests and let go of the `/v1` routes.
    pub fn stop_serving_forwarded(&self) {
        self.http.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// The `/v1` routes forwarded requests run through, while set.
    pub fn http_routes(&self) -> Option<Router> {
        self.http.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The RPC client shared with Raft's transport.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// Who leads, from openraft's metrics; see [`Leadership`].
    pub fn leadership(&self) -> Leadership {
        let m = self.raft.raft.metrics();
        let m = m.borrow();
        match m.current_leader {
            Some(id) if id == self.me.node_id => {
                let lease = u64::try_from(LEADER_LEASE.as_millis()).unwrap_or(u64::MAX);
                if m.millis_since_quorum_ack.is_none_or(|ms| ms > lease) {
                    Leadership::Unknown
                } else if m
                    .last_applied
                    .is_some_and(|l| l.leader_id.term == m.current_term)
                {
                    Leadership::Leader
                } else {
                    Leadership::LeaderNotReady
                }
            }
            Some(id) => match m.membership_config.membership().get_node(&id) {
                Some(node) => Leadership::Other {
                    rpc_addr: node.addr.clone(),
                },
                None => Leadership::Unknown,
            },
            None => Leadership::Unknown,
        }
    }

    /// How long ago a leader last reached this server (see
    /// [`LeaderContact::since`]).
    pub fn last_contact(&self) -> Duration {
        self.contact.since()
    }

    pub fn identity(&self) -> &Identity {
        &self.me
    }

    /// The RPC routes for cluster calls, with the Raft routes beside them:
    /// everything the RPC port serves.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(IDENTITY_PATH, post(identity_handler))
            .route(JOIN_PATH, post(join_handler))
            .route(
                crate::http::leader_forward::FORWARD_ROUTE,
                any(crate::http::leader_forward::serve_forwarded),
            )
            .with_state(self.clone())
            .merge(crate::raft::rpc::router(
                self.raft.raft.clone(),
                self.contact.clone(),
            ))
    }

    /// This server's answer to an announcement.
    async fn status(&self) -> PeerStatus {
        let initialized = self.raft.raft.is_initialized().await.unwrap_or(false);
        let known = self
            .peers()
            .into_iter()
            .map(|p| p.identity)
            .collect::<Vec<_>>();
        PeerStatus {
            identity: self.me.clone(),
            initialized,
            leader_rpc: self.raft.leader().map(|(_, addr)| addr),
            voters: self.raft.voters().into_iter().map(|(id, _)| id).collect(),
            members: self.raft.members(),
            known,
            cluster_id: self.cluster_id(),
        }
    }

    fn peers(&self) -> Vec<Peer> {
        lock(&self.peers).values().cloned().collect()
    }

    /// Remember a server heard from directly; never this one.
    fn record(&self, identity: Identity, initialized: bool) {
        if identity.node_id == self.me.node_id {
            return;
        }
        let mut peers = lock(&self.peers);
        let new = !peers.contains_key(&identity.node_id);
        if new {
            tracing::info!(
                node_id = identity.node_id,
                name = %identity.name,
                rpc = %identity.rpc_addr,
                "found server"
            );
        }
        peers.insert(
            identity.node_id,
            Peer {
                identity,
                initialized,
            },
        );
        drop(peers);
        if new {
            self.changed.notify_one();
        }
    }

    /// Exchange identities with the server at `addr` (an RPC address).
    pub async fn announce(&self, addr: &str) -> Result<PeerStatus, RpcFailure> {
        self.exchange(addr, ANNOUNCE_TIMEOUT).await
    }

    /// Whether the member `id` at `addr` answers an identity exchange within
    /// `timeout` now, remembered for [`Cluster::contact`]. This is how
    /// `/v1/agent/members` tells alive from failed: Drover has no gossip
    /// (Nomad's Serf marks a member failed when its probes go unanswered,
    /// memberlist `probeNode`), so each request asks every member directly.
    pub async fn probe(&self, id: NodeId, addr: &str, timeout: Duration) -> Option<Identity> {
        let answer = self.exchange(addr, timeout).await.ok();
        let answered = answer.as_ref().filter(|s| s.identity.node_id == id);
        let mut contacts = lock(&self.contacts);
        match (answered, contacts.get_mut(&id)) {
            (Some(_), Some(c)) => {
                c.last_ok = std::time::Instant::now();
                c.stable_since
                    .get_or_insert_with(std::time::SystemTime::now);
            }
            (Some(_), None) => {
                let c = Contact {
                    last_ok: std::time::Instant::now(),
                    stable_since: Some(std::time::SystemTime::now()),
                };
                contacts.insert(id, c);
            }
            (None, Some(c)) => c.stable_since = None,
            (None, None) => {}
        }
        drop(contacts);
        answered.map(|s| s.identity.clone())
    }

    /// What the probes of `id` found, if it ever answered one.
    pub fn contact(&self, id: NodeId) -> Option<Contact> {
        lock(&self.contacts).get(&id).copied()
    }

    /// The identity of server `id` as last heard from it, if it ever was.
    pub fn known(&self, id: NodeId) -> Option<Identity> {
        if id == self.me.node_id {
            return Some(self.me.clone());
        }
        lock(&self.peers).get(&id).map(|p| p.identity.clone())
    }

    async fn exchange(&self, addr: &str, timeout: Duration) -> Result<PeerStatus, RpcFailure> {
        let ours = self.cluster_id();
        let req = Announce {
            from: self.me.clone(),
            cluster_id: ours.clone(),
        };
        let status: PeerStatus = self.rpc.call(addr, IDENTITY_PATH, &req, timeout).await?;
        // A server of another cluster is no peer: it counts towards no
        // bootstrap and is never joined.
        if matches!((&ours, &status.cluster_id), (Some(a), Some(b)) if a != b) {
            return Ok(status);
        }
        self.record(status.identity.clone(), status.initialized);
        let mut heard_of = lock(&self.heard_of);
        for known in &status.known {
            if known.node_id != self.me.node_id {
                heard_of.insert(known.rpc_addr.clone());
            }
        }
        Ok(status)
    }

    /// Join the cluster of the server at `addr` (`host` or `host:port`, an
    /// RPC address): as a voter when it belongs to one (via its leader),
    /// or by exchanging identities when it does not belong to one yet.
    pub async fn join(&self, addr: &str) -> Result<Joined, JoinError> {
        let _one_at_a_time = self.joining.lock().await;
        let mut target = rpc_address(addr).ok_or_else(|| JoinError::BadAddress(addr.into()))?;
        // The server asked, then at most a couple of leader redirects.
        for _ in 0..3 {
            let status = self.announce(&target).await?;
            if status.identity.node_id == self.me.node_id {
                return Err(JoinError::Itself(target));
            }
            if status.identity.region != self.me.region {
                return Err(JoinError::OtherRegion {
                    addr: target,
                    ours: self.me.region.clone(),
                    theirs: status.identity.region,
                });
            }
            if let Some(other) = self.other_cluster(&target, &status).await {
                return Err(other);
            }
            if !status.initialized {
                return Ok(Joined::Announced);
            }
            // Already a voter there: its leader replicates to this server.
            if status.voters.contains(&self.me.node_id) {
                return Ok(Joined::Voter);
            }
            let req = JoinRequest {
                identity: self.me.clone(),
                cluster_id: self.cluster_id(),
            };
            let reply: JoinReply = self
                .rpc
                .call(&target, JOIN_PATH, &req, JOIN_TIMEOUT)
                .await?;
            match reply {
                JoinReply::Voter => {
                    tracing::info!(via = %target, "joined the cluster as a voter");
                    return Ok(Joined::Voter);
                }
                JoinReply::Learner => return Ok(Joined::Learner),
                JoinReply::NotLeader {
                    leader_rpc: Some(leader),
                } if leader != target => target = leader,
                JoinReply::NotLeader { .. } => return Err(JoinError::NoLeader(target)),
                JoinReply::Refused(why) => return Err(JoinError::Refused(why)),
            }
        }
        Err(JoinError::NoLeader(target))
    }

    /// On the leader: add the server as a learner; the promotion duty
    /// makes it a voter later ([`promote`]).
    async fn add_server(&self, joiner: Identity, cluster_id: Option<String>) -> JoinReply {
        if !self.raft.is_leader() {
            return JoinReply::NotLeader {
                leader_rpc: self.raft.leader().map(|(_, addr)| addr),
            };
        }
        if joiner.region != self.me.region {
            let why = format!(
                "server {} ({}) is in region {:?}, this cluster in {:?}; servers of different regions never join one cluster",
                joiner.name, joiner.rpc_addr, joiner.region, self.me.region
            );
            tracing::warn!("refused a join: {why}");
            return JoinReply::Refused(why);
        }
        let ours = self.cluster_id();
        if let (Some(ours), Some(theirs)) = (&ours, &cluster_id) {
            if ours != theirs {
                let why = format!(
                    "server {} ({}) belongs to cluster {theirs}, this cluster is {ours}; a server joins another cluster only with an empty data directory",
                    joiner.name, joiner.rpc_addr
                );
                tracing::warn!("refused a join: {why}");
                return JoinReply::Refused(why);
            }
        }
        let id = joiner.node_id;
        let existing = {
            let m = self.raft.raft.metrics();
            let m = m.borrow();
            let membership = m.membership_config.membership();
            let voter = membership.voter_ids().any(|v| v == id);
            membership.get_node(&id).map(|n| (n.addr.clone(), voter))
        };
        match existing {
            Some((addr, _)) if addr != joiner.rpc_addr => {
                return JoinReply::Refused(format!(
                    "node ID {id} is already a member at {addr}; was a data directory copied?"
                ));
            }
            Some((_, true)) => return JoinReply::Voter,
            Some((_, false)) => return JoinReply::Learner,
            None => {}
        }
        let node = Node {
            addr: joiner.rpc_addr.clone(),
        };
        tracing::info!(node_id = id, rpc = %joiner.rpc_addr, "adding server as a learner");
        // Not blocking on its catch-up: the promotion duty waits for that,
        // and a server far behind may need a snapshot first.
        let added = tokio::time::timeout(
            LEADER_JOIN_TIMEOUT,
            self.raft.raft.add_learner(id, node, false),
        )
        .await;
        match added {
            Err(_) => JoinReply::Refused(format!(
                "adding server {id} was not committed within {LEADER_JOIN_TIMEOUT:?}"
            )),
            Ok(Err(e)) => write_refusal(&self.raft, e),
            Ok(Ok(_)) => JoinReply::Learner,
        }
    }
}

/// A failed membership write as a join answer.
fn write_refusal(
    raft: &RaftHandle,
    e: RaftError<NodeId, ClientWriteError<NodeId, Node>>,
) -> JoinReply {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => JoinReply::NotLeader {
            leader_rpc: raft.leader().map(|(_, addr)| addr),
        },
        e => JoinReply::Refused(e.to_string()),
    }
}

async fn identity_handler(State(cluster): State<Arc<Cluster>>, body: Bytes) -> Response {
    let announce: Announce = match decode(&body, "identity") {
        Ok(a) => a,
        Err(bad) => return bad,
    };
    let status = cluster.status().await;
    if let (Some(ours), Some(theirs)) = (&status.cluster_id, &announce.cluster_id) {
        if ours != theirs {
            let from = &announce.from;
            if lock(&cluster.foreign).insert(from.node_id) {
                tracing::warn!(
                    "refusing server {} ({}): it belongs to cluster {theirs}, this server to cluster {ours}",
                    from.name,
                    from.rpc_addr
                );
            }
            return msgpack(&status);
        }
    }
    // Whether the caller is in a cluster is learned when this server
    // announces itself to it; until then it counts as not.
    let initialized = lock(&cluster.peers)
        .get(&announce.from.node_id)
        .is_some_and(|p| p.initialized);
    cluster.record(announce.from, initialized);
    msgpack(&status)
}

async fn join_handler(State(cluster): State<Arc<Cluster>>, body: Bytes) -> Response {
    let req: JoinRequest = match decode(&body, "join") {
        Ok(r) => r,
        Err(bad) => return bad,
    };
    msgpack(&cluster.add_server(req.identity, req.cluster_id).await)
}

/// `host`, `host:port`, `ip:port` or `[ipv6]:port` as an RPC address; the
/// port defaults to 4647. `None` for what is none of those (for example a
/// cloud auto-join string, which Drover does not evaluate).
pub fn rpc_address(addr: &str) -> Option<String> {
    let addr = addr.trim();
    if addr.is_empty() || addr.contains(char::is_whitespace) || addr.contains('=') {
        return None;
    }
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return Some(addr.to_string());
    }
    if let Ok(ip) = addr.parse::<std::net::IpAddr>() {
        return Some(std::net::SocketAddr::new(ip, DEFAULT_RPC_PORT).to_string());
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Some(addr.to_string())
        }
        Some(_) => None,
        None => Some(format!("{addr}:{DEFAULT_RPC_PORT}")),
    }
}

/// A poisoned lock still holds consistent data here (every critical
/// section is a plain insert or read), so take it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::rpc_address;

    #[track_caller]
    fn check(input: &str, want: Option<&str>) {
        assert_eq!(rpc_address(input).as_deref(), want, "{input:?}");
    }

    #[test]
    fn join_addresses() {
        check("127.0.0.2", Some("127.0.0.2:4647"));
        check("127.0.0.2:5000", Some("127.0.0.2:5000"));
        check(" server-1 ", Some("server-1:4647"));
        check("server-1:4000", Some("server-1:4000"));
        check("::1", Some("[::1]:4647"));
        check("[::1]:4000", Some("[::1]:4000"));
        check("", None);
        check("server-1:http", None);
        check("provider=aws tag_key=x", None);
    }
}
