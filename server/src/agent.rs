//! Running a server: Raft from the data directory, then the HTTP API.
//!
//! The root binary turns flags and config files into [`ServerOptions`]; this
//! is where the server's long-lived tasks start and, on shutdown, stop:
//! streams end on the shutdown signal, the listeners drain, cluster
//! discovery stops, Raft stops.
//!
//! Two listeners: HTTP (the `/v1` API) and RPC (Raft between servers and
//! the cluster calls of [`crate::cluster`]), both HTTP on the same accept
//! loop, the RPC one taking prior-knowledge HTTP/2 from other servers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use drover_state::EventRetention;

use crate::cluster::{Cluster, Identity};
use crate::heartbeat::HeartbeatConfig;
use crate::http::{router, AgentInfo, AppState};
use crate::raft::node::{start as start_raft, RaftHandle, RaftSettings, StartError};
use crate::raft::NodeId;

#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub data_dir: PathBuf,
    /// Where to listen for HTTP (port 0 picks a free one).
    pub http_addr: SocketAddr,
    /// Where to listen for RPC from other servers (port 0 picks a free one).
    pub rpc_addr: SocketAddr,
    /// The IP other servers reach this one at (Nomad's `advertise`); when
    /// `None`, the RPC listener's own address.
    pub advertise_ip: Option<std::net::IpAddr>,
    /// Servers to exchange identities with until this one is in a cluster
    /// (`server_join { retry_join }`), as RPC addresses.
    pub retry_join: Vec<String>,
    pub name: String,
    pub region: String,
    pub datacenter: String,
    pub bootstrap_expect: u32,
    pub retention: EventRetention,
    pub snapshot_every: u64,
    /// Log entries kept behind a snapshot for followers that lag.
    pub keep_after_snapshot: u64,
    /// Scheduler workers on the leader (Nomad's `num_schedulers`; 0 turns
    /// scheduling off, which read-path tests use).
    pub num_schedulers: usize,
    /// The shortest heartbeat TTL handed to a node (Nomad
    /// `min_heartbeat_ttl`, default 10s).
    pub min_heartbeat_ttl: Duration,
    /// Heartbeats a second the servers aim for across all nodes; the TTL
    /// grows with the node count to keep under it (Nomad default 50).
    pub max_heartbeats_per_second: f64,
    /// Time past the TTL before a node is marked down (Nomad default 10s).
    pub heartbeat_grace: Duration,
    /// The TTL every live node gets when a server gains leadership (Nomad
    /// default 5m), so clients have time to find the new leader.
    pub failover_heartbeat_ttl: Duration,
    /// The HTTP listener's connection limits (Nomad's agent `limits` block).
    pub http_limits: crate::http::serve::HttpLimits,
    /// Nomad's `autopilot` block: how long a joining server must be
    /// healthy before it becomes a voter.
    pub autopilot: crate::cluster::Autopilot,
    /// When the leader collects terminal deployments (Nomad's
    /// `deployment_gc_threshold`).
    pub gc: crate::gc_timer::GcConfig,
    /// The `tls` block, loaded: HTTPS on the API, mutual TLS on RPC.
    pub tls: Option<Arc<crate::tls::Tls>>,
    /// The agent's `acl` block.
    pub acl: crate::acl::enforce::AclConfig,
}

impl ServerOptions {
    /// A one-server cluster on loopback with OS-chosen ports (tests, dev).
    pub fn local(data_dir: &Path) -> Self {
        ServerOptions {
            data_dir: data_dir.to_path_buf(),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise_ip: None,
            retry_join: Vec::new(),
            name: "drover-server".into(),
            region: "global".into(),
            datacenter: "dc1".into(),
            bootstrap_expect: 1,
            retention: EventRetention::default(),
            snapshot_every: 10_000,
            keep_after_snapshot: 1_000,
            num_schedulers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            min_heartbeat_ttl: Duration::from_secs(10),
            max_heartbeats_per_second: 50.0,
            heartbeat_grace: Duration::from_secs(10),
            failover_heartbeat_ttl: Duration::from_secs(300),
            http_limits: Default::default(),
            autopilot: Default::default(),
            gc: Default::default(),
            tls: None,
            acl: Default::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Raft(#[from] StartError),
    #[error("no leader after {0:?}: {1}")]
    NoLeader(Duration, String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("TLS client: {0}")]
    TlsClient(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running server. Drop does not stop it; call [`RunningServer::shutdown`].
pub struct RunningServer {
    /// The address the HTTP API actually listens on.
    pub http_addr: SocketAddr,
    /// The RPC address other servers reach this one at.
    pub rpc_addr: SocketAddr,
    pub raft: RaftHandle,
    pub cluster: Arc<Cluster>,
    /// The leader's scheduling counters.
    pub scheduler: Arc<crate::leader::SchedulerStats>,
    /// The leader duties' supervisor and the heartbeat timers.
    duties: crate::leader::Duties,
    heartbeat_task: tokio::task::JoinHandle<()>,
    shutdown_tx: tokio::sync::watch::Sender<bool>,
    serve: tokio::task::JoinHandle<()>,
    /// The RPC listener and cluster discovery.
    cluster_tasks: tokio::task::JoinSet<()>,
}

/// This server's Raft node ID: chosen once, kept in the data directory, so
/// a restarted server is the same member of the Raft membership.
///
/// Written to a temporary file, synced, then renamed, so a crash leaves
/// either no ID (a fresh server picks one) or the whole one: a torn file
/// would give a server that is already a member a new identity.
fn node_id(dir: &Path) -> Result<NodeId, std::io::Error> {
    use std::io::Write;
    let path = dir.join("node-id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(id) = text.trim().parse::<NodeId>() {
            return Ok(id);
        }
    }
    // Random (a v4 UUID's bits), nonzero and below 2^53 so it survives
    // JSON readers that use doubles. Servers compare IDs to pick the one
    // that bootstraps, so two must not collide.
    let id = ((uuid::Uuid::new_v4().as_u128() as u64) & ((1 << 53) - 1)).max(1);
    let tmp = dir.join("node-id.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(id.to_string().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(id)
}

pub async fn start(opts: ServerOptions) -> Result<RunningServer, ServerError> {
    start_with_client(opts, None).await
}

/// [`start`], with this agent's own client answering `/v1/client/*` for its
/// allocations (others are forwarded to their nodes).
pub async fn start_with_client(
    opts: ServerOptions,
    local_client: Option<crate::http::forward::LocalClient>,
) -> Result<RunningServer, ServerError> {
    let dir_err = |source| ServerError::DataDir {
        path: opts.data_dir.clone(),
        source,
    };
    std::fs::create_dir_all(&opts.data_dir).map_err(dir_err)?;
    let id = node_id(&opts.data_dir).map_err(|source| ServerError::DataDir {
        path: opts.data_dir.clone(),
        source,
    })?;
    let bind_err = |addr: SocketAddr| move |source| ServerError::Bind { addr, source };
    let rpc_listener = crate::http::serve::bind(opts.rpc_addr).map_err(bind_err(opts.rpc_addr))?;
    let rpc_bound = rpc_listener.local_addr().map_err(bind_err(opts.rpc_addr))?;
    let rpc_addr = advertised(opts.advertise_ip, rpc_bound);
    let listener = crate::http::serve::bind(opts.http_addr).map_err(bind_err(opts.http_addr))?;
    let http_bound = listener.local_addr().map_err(bind_err(opts.http_addr))?;
    let mut settings = RaftSettings::new(opts.data_dir.join("server"), id, rpc_addr.to_string());
    settings.retention = opts.retention;
    settings.snapshot_every = opts.snapshot_every;
    settings.keep_after_snapshot = opts.keep_after_snapshot;
    settings.bootstrap = opts.bootstrap_expect <= 1;
    let tls = opts.tls.as_deref();
    let (rpc_tls, http_tls) = match tls {
        Some(t) => {
            let rpc = t.rpc.then(|| t.rpc_server()).transpose()?;
            settings.rpc_tls = t
                .rpc
                .then(|| t.client(crate::tls::Peer::Server, crate::tls::ALPN_H2))
                .transpose()?;
            (rpc, t.http.then(|| t.http_server()).transpose()?)
        }
        None => (None, None),
    };
    let node_link = match tls {
        Some(t) if t.http => crate::http::forward::NodeLink::https(
            t.client(crate::tls::Peer::Node, crate::tls::ALPN_HTTP1)?,
        )
        .map_err(|e| ServerError::TlsClient(e.to_string()))?,
        _ => crate::http::forward::NodeLink::plain(),
    };
    let raft = start_raft(&settings).await?;
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let cluster = Cluster::new(
        Identity {
            node_id: id,
            name: opts.name.clone(),
            region: opts.region.clone(),
            rpc_addr: rpc_addr.to_string(),
            http_addr: advertised(opts.advertise_ip, http_bound).to_string(),
            bootstrap_expect: opts.bootstrap_expect,
            datacenter: opts.datacenter.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        },
        raft.clone(),
        opts.autopilot,
    );
    let mut cluster_tasks = tokio::task::JoinSet::new();
    {
        let routes = cluster.router();
        let mut stop = shutdown_rx.clone();
        // Other servers only: no per-client connection cap.
        let limits = crate::http::serve::HttpLimits {
            max_conns_per_client: 0,
            ..Default::default()
        };
        cluster_tasks.spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            crate::http::serve::serve_tls(
                rpc_listener,
                routes,
                stopped,
                Duration::from_secs(5),
                limits,
                rpc_tls,
            )
            .await;
        });
    }
    if !settings.bootstrap || !opts.retry_join.is_empty() {
        cluster_tasks.spawn(crate::cluster::discover(
            cluster.clone(),
            opts.retry_join.clone(),
            shutdown_rx.clone(),
        ));
    }
    let wait = Duration::from_secs(30);
    if settings.bootstrap {
        raft.wait_for_leader(wait)
            .await
            .map_err(|e| ServerError::NoLeader(wait, e))?;
    }
    let http_addr = http_bound;
    let info = AgentInfo {
        name: opts.name.clone(),
        region: opts.region.clone(),
        datacenter: opts.datacenter.clone(),
        http_addr: http_addr.to_string(),
        rpc_addr: rpc_addr.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        known_drivers: vec!["docker".into(), "raw_exec".into()],
    };
    let (heartbeats, heartbeat_task) = crate::heartbeat::start(
        raft.clone(),
        HeartbeatConfig {
            min_heartbeat_ttl: opts.min_heartbeat_ttl,
            max_heartbeats_per_second: opts.max_heartbeats_per_second,
            heartbeat_grace: opts.heartbeat_grace,
            failover_heartbeat_ttl: opts.failover_heartbeat_ttl,
        },
        shutdown_rx.clone(),
    );
    let duties = crate::leader::start(
        raft.clone(),
        cluster.clone(),
        opts.num_schedulers,
        opts.gc,
        shutdown_rx.clone(),
    );
    let app = Arc::new(AppState {
        raft: raft.clone(),
        info,
        shutdown: shutdown_rx.clone(),
        heartbeats,
        local_client,
        cluster: cluster.clone(),
        scheduler: duties.stats.clone(),
        node_link,
        acl: opts.acl.clone(),
    });
    let mut stop = shutdown_rx;
    let limits = opts.http_limits;
    let routes = router(app);
    // Requests other servers forward to this one, when it leads.
    cluster.serve_forwarded(routes.clone());
    let serve = tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let drain = Duration::from_secs(10);
        crate::http::serve::serve_tls(listener, routes, stopped, drain, limits, http_tls).await;
    });
    tracing::info!(%http_addr, %rpc_addr, node_id = id, "server started");
    Ok(RunningServer {
        http_addr,
        rpc_addr,
        raft,
        cluster,
        cluster_tasks,
        scheduler: duties.stats.clone(),
        duties,
        heartbeat_task,
        shutdown_tx,
        serve,
    })
}

impl RunningServer {
    /// Stop serving (open streams end), then the leader duties (their
    /// commits in flight still reach the other servers), the heartbeat
    /// timers, discovery and the RPC listener, then Raft.
    pub async fn shutdown(mut self) {
        self.shutdown_tx.send_replace(true);
        if tokio::time::timeout(Duration::from_secs(10), self.serve)
            .await
            .is_err()
        {
            tracing::warn!("HTTP connections did not close within 10s");
        }
        if tokio::time::timeout(Duration::from_secs(10), self.duties.stopped())
            .await
            .is_err()
        {
            tracing::warn!("leader duties did not stop within 10s");
        }
        if let Err(e) = self.heartbeat_task.await {
            tracing::error!(error = %e, "heartbeat timers ended abnormally");
        }
        // The routes hold the API's state, which holds the cluster: let go
        // of them, or Raft and its log outlive this shutdown.
        self.cluster.stop_serving_forwarded();
        let tasks = async { while self.cluster_tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), tasks)
            .await
            .is_err()
        {
            tracing::warn!("RPC connections did not close within 10s");
            self.cluster_tasks.abort_all();
        }
        self.raft.shutdown().await;
    }
}

/// The address other servers use for a listener bound at `bound`: the
/// advertised IP if one is set, else the bound one. A listener on every
/// interface (`0.0.0.0`) with nothing advertised is recorded as loopback,
/// which only a cluster on one machine can reach; the agent picks a
/// private address before it gets here.
fn advertised(ip: Option<std::net::IpAddr>, bound: SocketAddr) -> SocketAddr {
    let ip = ip.unwrap_or(bound.ip());
    if ip.is_unspecified() {
        tracing::warn!(%bound, "no address to advertise; other servers are told 127.0.0.1");
        return SocketAddr::from(([127, 0, 0, 1], bound.port()));
    }
    SocketAddr::new(ip, bound.port())
}
