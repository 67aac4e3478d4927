//! The client agent (Nomad client/client.go): fingerprint the node,
//! register it, heartbeat within the TTL the servers hand out, watch this
//! node's allocations with a blocking query, run each through an
//! [`AllocRunner`], and send their status back in batches.
//!
//! Every call goes to the server in use ([`Servers`], Nomad's server
//! manager); one that does not answer, or answers that there is no leader,
//! sends the call and every later one to the next. Register and heartbeat
//! answers carry the servers' own list, which replaces the configured one.
//! While no server has a leader, the calls fail and are retried; tasks run
//! on regardless, and heartbeats resume once a leader answers (a new
//! leader gives every node the failover TTL first).
//!
//! Four tasks, each a loop that ends on shutdown:
//! * **heartbeat**: `PUT /v1/internal/node/{id}/status` at half the TTL; a
//!   404 means the servers lost the node (a wiped cluster): register again.
//! * **watch**: `GET /v1/node/{id}/allocations?index=N`, woken only by this
//!   node's allocations, from the node's first registration on (with ACLs
//!   on, the node secret sent with every call lets only a registered node
//!   read them); starts, updates and destroys runners.
//! * **updates**: sends runner reports as one `PUT
//!   /v1/internal/node/{id}/allocs` (one Raft write for a burst): what is
//!   queued goes at once, and what arrives during a send goes in the next;
//!   latest report per allocation wins; a failed send is retried with the
//!   next batch. Task handles are persisted here too.
//! * restore, once at start: allocations in the local store with task
//!   handles are re-attached, not restarted.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drover_api::{
    AllocClientUpdateEntry, AllocUpdateRequest, Allocation, DriverInfo, Node, NodeRegisterRequest,
    NodeStatus, NodeUpdateResponse, NodeUpdateStatusRequest,
};
use tokio::sync::{mpsc, watch};

use crate::driver::raw_exec::{LogmonCommand, RawExecConfig, RawExecDriver};
use crate::driver::Driver;
use crate::fingerprint::{drivers_changed, fingerprint, set_drivers, FingerprintConfig};
use crate::runner::{AllocRunner, RunnerConfig};
use crate::servers::{Servers, CALL_TIMEOUT};
use crate::store::{Store, StoreError, StoredAlloc};

pub use crate::registry::Registry;

/// Allocation reports per request: a thousand task updates at once would
/// exceed the servers' request size limit.
const UPDATE_CHUNK: usize = 100;

/// The allocation watch's `wait`, and how long past it the answer may take
/// (the servers add up to wait/16 of jitter).
const WATCH_WAIT: Duration = Duration::from_secs(30);
const WATCH_TIMEOUT: Duration = Duration::from_secs(45);
/// The body of a servers' 500 when none of them knows a leader.
const NO_LEADER: &str = "No cluster leader";

/// How a client agent runs.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The servers' HTTP addresses (`host:port` or URLs), tried in order,
    /// and what the client learns of them; shared with the agent's
    /// `/v1/agent/servers`.
    pub servers: Arc<Servers>,
    /// Client state (sled) and allocation directories live here.
    pub data_dir: PathBuf,
    pub name: String,
    pub datacenter: String,
    pub node_class: String,
    pub node_pool: String,
    pub meta: BTreeMap<String, String>,
    /// This agent's HTTP address, advertised as the node's `HTTPAddr`.
    pub http_addr: String,
    /// How raw_exec starts its log collector.
    pub logmon: LogmonCommand,
    pub raw_exec_enabled: bool,
    /// The docker driver's plugin configuration.
    pub docker: crate::driver::docker::DockerConfig,
    /// How many allocations the client keeps before it removes terminal
    /// ones, oldest first, with their directories (Nomad `gc_max_allocs`).
    pub gc_max_allocs: usize,
    /// How often the drivers are fingerprinted again; a change (the Docker
    /// daemon came up or went away) updates the node (Nomad's drivers
    /// report every 30s).
    pub fingerprint_period: Duration,
    /// How often the disk is checked for collection (Nomad `gc_interval`).
    pub gc_interval: Duration,
    /// Percent of disk space / inodes in use on the data dir's filesystem
    /// above which terminal allocations are collected, oldest first
    /// (Nomad `gc_disk_usage_threshold` 80, `gc_inode_usage_threshold` 70).
    pub gc_disk_usage_threshold: u32,
    pub gc_inode_usage_threshold: u32,
    /// How long allocation updates gather before they are sent; zero sends
    /// what is queued at once (updates that arrive during a send still
    /// share the next write).
    pub batch: Duration,
    /// `agent -dev`: shutting down destroys every allocation, as Nomad's
    /// `Client.Shutdown` does in `DevMode` (client/client.go).
    pub dev_mode: bool,
    /// TLS to the servers' HTTPS API (`tls { http = true }`); the server
    /// list's scheme is `https` then.
    pub tls: Option<rustls::ClientConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot create {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("no server answered: {0}")]
    Servers(String),
}

/// A started client. Dropping it does not stop it; call [`Self::shutdown`].
pub struct RunningClient {
    pub node_id: String,
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

struct Shared {
    opts: ClientOptions,
    http: reqwest::Client,
    node: Mutex<Node>,
    store: Store,
    registry: Arc<Registry>,
    runner_cfg: Arc<RunnerConfig>,
    /// Allocations the servers last listed as finished: the only ones that
    /// may be collected (otherwise the next look would start them again).
    settled: Mutex<std::collections::BTreeSet<String>>,
    /// Kept apart from `runner_cfg.drivers` to remove the containers of
    /// allocations the servers no longer list, once, after the first look.
    docker: Arc<crate::driver::docker::DockerDriver>,
    dangling_checked: std::sync::atomic::AtomicBool,
    /// Set once the node is registered: the allocation watch waits for it,
    /// since with ACLs on the servers let only a registered node read its
    /// allocations.
    registered: watch::Sender<bool>,
}

impl RunningClient {
    /// How this node's exec and attach sessions reach its servers.
    pub fn recorder_link(&self) -> crate::session_record::RecorderLink {
        crate::session_record::RecorderLink {
            servers: self.shared.opts.servers.clone(),
            http: self.shared.http.clone(),
            node_id: self.node_id.clone(),
            node_secret: self.shared.node().secret_id,
        }
    }

    /// The runner of an allocation this client runs.
    pub fn runner(&self, alloc_id: &str) -> Option<AllocRunner> {
        self.shared.registry.get(alloc_id)
    }

    /// Stop the loops. Tasks keep running for a restart to re-attach to,
    /// except in dev mode.
    pub async fn shutdown(self) {
        self.shutdown_tx.send_replace(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        if self.shared.opts.dev_mode {
            self.shared.registry.destroy_all(&self.shared.store).await;
        }
    }
}

impl Shared {
    fn runners(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, AllocRunner>> {
        self.registry.lock()
    }

    fn node(&self) -> Node {
        self.node.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// One call, to the server in use or, when it does not answer or has
    /// no leader, to the next ones in turn (each failure moves the list on,
    /// Nomad's `NotifyFailedServer`); the status, headers and body of the
    /// first real answer.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Result<
        (
            reqwest::StatusCode,
            reqwest::header::HeaderMap,
            crate::servers::Body,
        ),
        String,
    > {
        let mut failures = Vec::new();
        for server in self.opts.servers.candidates() {
            let mut req = self
                .http
                .request(method.clone(), self.opts.servers.url(&server, path))
                .timeout(timeout);
            // With ACLs on, the node's secret is what lets it read its own
            // allocations.
            let secret = self
                .node
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .secret_id
                .clone();
            if !secret.is_empty() {
                req = req.header("X-Nomad-Token", secret);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let answer = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    resp.bytes()
                        .await
                        .map(|b| (status, headers, crate::servers::Body(b.to_vec())))
                        .map_err(|e| e.to_string())
                }
                // With its causes: "error sending request" alone hides a
                // refused connection or a certificate the CA did not sign.
                Err(e) => Err(crate::servers::error_chain(&e)),
            };
            match answer {
                Ok((status, _, ref b))
                    if status == reqwest::StatusCode::INTERNAL_SERVER_ERROR
                        && b.text().contains(NO_LEADER) =>
                {
                    // Maybe cut off from the others: another may have one.
                    failures.push(format!("{server}: {NO_LEADER}"));
                    self.opts.servers.failed(&server);
                }
                Ok(answer) => {
                    self.opts.servers.answered(&server);
                    return Ok(answer);
                }
                Err(e) => {
                    failures.push(format!("{server}: {e}"));
                    self.opts.servers.failed(&server);
                }
            }
        }
        if failures.is_empty() {
            return Err("no servers configured".into());
        }
        Err(failures.join("; "))
    }

    /// What a register or heartbeat answer says: the servers' list (by
    /// HTTP address) and the TTL.
    fn heard(&self, resp: &NodeUpdateResponse) -> Duration {
        let ttl = ttl(resp.heartbeat_ttl);
        let complete = resp.servers.iter().all(|s| !s.http_addr.is_empty());
        self.opts.servers.learned(
            resp.servers
                .iter()
                .map(|s| s.http_addr.clone())
                .filter(|a| !a.is_empty())
                .collect(),
            complete,
        );
        self.opts.servers.heartbeat_ok(ttl);
        ttl
    }

    /// Register the node; the heartbeat TTL the servers hand back.
    async fn register(&self) -> Result<Duration, String> {
        let body = serde_json::to_value(NodeRegisterRequest {
            node: Some(self.node()),
        })
        .map_err(|e| e.to_string())?;
        let (status, _, resp) = self
            .call(
                reqwest::Method::PUT,
                "/v1/internal/node/register",
                Some(&body),
                CALL_TIMEOUT,
            )
            .await?;
        if !status.is_success() {
            return Err(format!("register: {status}: {}", resp.text()));
        }
        let resp: NodeUpdateResponse =
            serde_json::from_slice(&resp.0).map_err(|e| format!("register response: {e}"))?;
        Ok(self.heard(&resp))
    }

    /// One heartbeat; `Ok(None)` when the servers no longer know the node.
    async fn heartbeat(&self, node_id: &str) -> Result<Option<Duration>, String> {
        let body = serde_json::to_value(NodeUpdateStatusRequest {
            node_id: node_id.to_string(),
            status: "ready".into(),
            node_event: None,
        })
        .map_err(|e| e.to_string())?;
        let path = format!("/v1/internal/node/{node_id}/status");
        let (status, _, resp) = self
            .call(reqwest::Method::PUT, &path, Some(&body), CALL_TIMEOUT)
            .await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!("heartbeat: {status}: {}", resp.text()));
        }
        let resp: NodeUpdateResponse =
            serde_json::from_slice(&resp.0).map_err(|e| format!("heartbeat response: {e}"))?;
        Ok(Some(self.heard(&resp)))
    }

    /// Start, update and destroy runners to match the server's view.
    fn reconcile(&self, allocs: Vec<Allocation>) {
        let mut runners = self.runners();
        let listed: std::collections::BTreeSet<String> =
            allocs.iter().map(|a| a.id.clone()).collect();
        if !self
            .dangling_checked
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let docker = self.docker.clone();
            let node_id = self.runner_cfg.node.id.clone();
            let keep = listed.clone();
            tokio::spawn(async move {
                match docker.remove_dangling(&node_id, &keep).await {
                    Ok(gone) if !gone.is_empty() => {
                        tracing::info!(containers = ?gone, "removed containers of allocations the servers no longer have")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "no dangling container check"),
                }
            });
        }
        // Only what the servers already know is finished may be collected:
        // otherwise the next look would start it again.
        let settled: std::collections::BTreeSet<String> = allocs
            .iter()
            .filter(|a| a.client_status.is_terminal())
            .map(|a| a.id.clone())
            .collect();
        for alloc in allocs {
            match runners.get(&alloc.id) {
                Some(r) => r.update(alloc),
                None => {
                    let runnable = alloc.desired_status == drover_api::AllocDesiredStatus::Run
                        && !alloc.client_status.is_terminal()
                        && alloc.job.is_some();
                    if !runnable {
                        continue;
                    }
                    let stored = StoredAlloc {
                        alloc: alloc.clone(),
                        handles: BTreeMap::new(),
                    };
                    if let Err(e) = self.store.put(&stored) {
                        tracing::warn!(alloc = %alloc.id, error = %e, "could not persist allocation");
                    }
                    let id = alloc.id.clone();
                    runners.insert(id, AllocRunner::start(self.runner_cfg.clone(), alloc));
                }
            }
        }
        self.collect(&mut runners, &settled);
        *self.settled.lock().unwrap_or_else(|e| e.into_inner()) = settled;
        // Allocations the servers collected are gone for good here too.
        let gone: Vec<String> = runners
            .keys()
            .filter(|id| !listed.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(r) = runners.remove(&id) {
                if let Err(e) = self.store.remove(&id) {
                    tracing::warn!(alloc = %id, error = %e, "could not forget allocation");
                }
                tokio::spawn(async move { r.destroy().await });
            }
        }
    }

    /// Nomad's client GC by count: past `gc_max_allocs` allocations, the
    /// oldest terminal ones whose end the servers have recorded are
    /// destroyed (their directories removed) and forgotten. Live ones are
    /// never collected.
    fn collect(
        &self,
        runners: &mut BTreeMap<String, AllocRunner>,
        settled: &std::collections::BTreeSet<String>,
    ) {
        let excess = runners.len().saturating_sub(self.opts.gc_max_allocs);
        if excess == 0 {
            return;
        }
        let mut terminal: Vec<(u64, String)> = runners
            .iter()
            .filter(|(id, r)| r.is_terminal() && settled.contains(*id))
            .map(|(id, _)| {
                let index = self.stored(id).map_or(0, |s| s.alloc.create_index);
                (index, id.clone())
            })
            .collect();
        terminal.sort();
        for (_, id) in terminal.into_iter().take(excess) {
            if let Some(r) = runners.remove(&id) {
                tracing::debug!(alloc = %id, "collecting a terminal allocation");
                if let Err(e) = self.store.remove(&id) {
                    tracing::warn!(alloc = %id, error = %e, "could not forget allocation");
                }
                tokio::spawn(async move { r.destroy().await });
            }
        }
    }

    /// Nomad's client GC by disk (`keepUsageBelowThreshold`): while the
    /// data dir's filesystem is fuller than a threshold, the oldest
    /// terminal allocation the servers know is finished is destroyed, one
    /// at a time, each removal awaited before looking again.
    async fn collect_for_disk(&self) {
        loop {
            let Some((disk, inodes)) = crate::fingerprint::disk_usage(&self.opts.data_dir) else {
                return;
            };
            if disk <= f64::from(self.opts.gc_disk_usage_threshold)
                && inodes <= f64::from(self.opts.gc_inode_usage_threshold)
            {
                return;
            }
            let victim = {
                let settled = self
                    .settled
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let mut runners = self.runners();
                let oldest = runners
                    .iter()
                    .filter(|(id, r)| r.is_terminal() && settled.contains(*id))
                    .map(|(id, _)| (self.stored(id).map_or(0, |s| s.alloc.create_index), id))
                    .min()
                    .map(|(_, id)| id.clone());
                oldest.and_then(|id| runners.remove(&id).map(|r| (id, r)))
            };
            let Some((id, r)) = victim else { return };
            tracing::info!(alloc = %id, disk_percent = disk, inode_percent = inodes, "collecting a terminal allocation: disk usage over threshold");
            if let Err(e) = self.store.remove(&id) {
                tracing::warn!(alloc = %id, error = %e, "could not forget allocation");
            }
            r.destroy().await;
        }
    }

    /// Persist the task handles and task states of the allocations just
    /// reported (one flush for the batch), so a restarted client re-attaches
    /// with the history it had.
    fn persist(&self, ids: &[String]) {
        let mut changed = Vec::new();
        {
            let runners = self.runners();
            for id in ids {
                let Some(r) = runners.get(id) else { continue };
                let Some(mut stored) = self.stored(id) else {
                    continue;
                };
                let handles = r.task_handles();
                let state = r.client_state();
                if stored.handles != handles || stored.alloc.task_states != state.task_states {
                    stored.handles = handles;
                    stored.alloc.task_states = state.task_states;
                    stored.alloc.client_status = state.client_status;
                    changed.push(stored);
                }
            }
        }
        if let Err(e) = self.store.put_all(&changed) {
            tracing::warn!(error = %e, "could not persist task state");
        }
    }

    fn stored(&self, id: &str) -> Option<StoredAlloc> {
        self.store.get(id).unwrap_or_else(|e| {
            tracing::warn!(alloc = %id, error = %e, "unreadable client state entry");
            None
        })
    }
}

/// A TTL from the wire (nanoseconds), never below a second.
fn ttl(nanos: i64) -> Duration {
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(0)).max(Duration::from_secs(1))
}

/// Start a client agent: open its store, fingerprint, restore what it ran
/// before, then register and start the loops. Registration is retried in
/// the background if no server answers yet.
pub async fn start(
    opts: ClientOptions,
    registry: Arc<Registry>,
) -> Result<RunningClient, ClientError> {
    let client_dir = opts.data_dir.join("client");
    let alloc_root = opts.data_dir.join("alloc");
    for dir in [&client_dir, &alloc_root] {
        std::fs::create_dir_all(dir).map_err(|source| ClientError::DataDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let store = Store::open(&client_dir.join("state"))?;
    *registry.data_dir.lock().unwrap_or_else(|e| e.into_inner()) = Some(opts.data_dir.clone());
    let node_id = store.node_id()?;
    let raw_exec: Arc<dyn Driver> = Arc::new(RawExecDriver::new(RawExecConfig {
        enabled: opts.raw_exec_enabled,
        logmon: opts.logmon.clone(),
    }));
    let mut drivers: BTreeMap<String, Arc<dyn Driver>> = BTreeMap::new();
    drivers.insert(raw_exec.name().to_string(), raw_exec);
    let docker = Arc::new(crate::driver::docker::DockerDriver::new(
        opts.docker.clone(),
    ));
    drivers.insert(docker.name().to_string(), docker.clone() as Arc<dyn Driver>);
    let mut infos: BTreeMap<String, DriverInfo> = BTreeMap::new();
    for (name, d) in &drivers {
        infos.insert(name.clone(), d.fingerprint().await);
    }
    let fp = FingerprintConfig {
        node_id: node_id.clone(),
        name: opts.name.clone(),
        datacenter: opts.datacenter.clone(),
        node_class: opts.node_class.clone(),
        node_pool: opts.node_pool.clone(),
        meta: opts.meta.clone(),
        data_dir: opts.data_dir.clone(),
        http_addr: opts.http_addr.clone(),
        ..Default::default()
    };
    let mut node = fingerprint(&fp, infos);
    node.secret_id = store.node_secret()?;
    node.status = NodeStatus::Ready;
    let (updates_tx, updates_rx) = mpsc::unbounded_channel();
    let runner_cfg = Arc::new(RunnerConfig {
        alloc_root,
        node: node.clone(),
        drivers,
        updates: updates_tx,
    });
    let http = crate::servers::http_client(opts.tls.clone());
    let shared = Arc::new(Shared {
        opts,
        http,
        node: Mutex::new(node),
        store,
        registry,
        runner_cfg,
        settled: Mutex::default(),
        docker,
        dangling_checked: Default::default(),
        registered: watch::channel(false).0,
    });
    restore(&shared);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let tasks = vec![
        tokio::spawn(gc_loop(shared.clone(), shutdown_rx.clone())),
        tokio::spawn(fingerprint_loop(shared.clone(), shutdown_rx.clone())),
        tokio::spawn(rebalance_loop(shared.clone(), shutdown_rx.clone())),
        tokio::spawn(heartbeat_loop(
            shared.clone(),
            node_id.clone(),
            shutdown_rx.clone(),
        )),
        tokio::spawn(watch_loop(
            shared.clone(),
            node_id.clone(),
            shutdown_rx.clone(),
        )),
        tokio::spawn(update_loop(
            shared.clone(),
            node_id.clone(),
            updates_rx,
            shutdown_rx,
        )),
    ];
    tracing::info!(node_id = %node_id, "client started");
    Ok(RunningClient {
        node_id,
        shared,
        shutdown_tx,
        tasks,
    })
}

/// Re-attach to the tasks of allocations this client ran before a restart.
fn restore(shared: &Arc<Shared>) {
    let (stored, errors) = shared.store.all();
    for e in errors {
        tracing::warn!(error = %e, "skipping a client state entry");
    }
    let mut runners = shared.runners();
    for s in stored {
        if s.handles.is_empty() || s.alloc.client_status.is_terminal() {
            continue;
        }
        let id = s.alloc.id.clone();
        tracing::info!(alloc = %id, tasks = s.handles.len(), "re-attaching");
        let runner = AllocRunner::restore(shared.runner_cfg.clone(), s.alloc, s.handles);
        runners.insert(id, runner);
    }
}

async fn heartbeat_loop(shared: Arc<Shared>, node_id: String, mut stop: watch::Receiver<bool>) {
    let mut registered: Option<Duration> = None;
    loop {
        let wait = match registered {
            None => match shared.register().await {
                Ok(ttl) => {
                    tracing::info!(node_id = %node_id, ?ttl, "node registered");
                    shared.registered.send_replace(true);
                    registered = Some(ttl);
                    ttl / 2
                }
                Err(e) => {
                    tracing::warn!(error = %e, "registration failed; retrying");
                    Duration::from_secs(1)
                }
            },
            Some(_) => match shared.heartbeat(&node_id).await {
                Ok(Some(ttl)) => {
                    registered = Some(ttl);
                    ttl / 2
                }
                Ok(None) => {
                    tracing::warn!("the servers do not know this node; registering again");
                    registered = None;
                    Duration::ZERO
                }
                Err(e) => {
                    tracing::warn!(error = %e, "heartbeat failed; retrying");
                    Duration::from_secs(1)
                }
            },
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Every 5 to 7.5 minutes (Nomad's `clientRPCMinReuseDuration` plus up
/// to half of it as jitter), shuffles the server list so that clients
/// spread over the servers, as Nomad's `RebalanceServers` does. The new
/// order is kept only if its first server answers with a known leader;
/// else the old order is put back.
async fn rebalance_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    const EVERY: Duration = Duration::from_secs(5 * 60);
    loop {
        let jitter = (uuid::Uuid::new_v4().as_u128() % 150_000) as u64;
        tokio::select! {
            _ = tokio::time::sleep(EVERY + Duration::from_millis(jitter)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let servers = &shared.opts.servers;
        if servers.list().len() < 2 {
            continue;
        }
        let before = servers.rebalance();
        let Some(first) = servers.list().first().cloned() else {
            continue;
        };
        let answer = shared
            .http
            .get(servers.url(&first, "/v1/status/leader"))
            .timeout(crate::servers::CONNECT_TIMEOUT)
            .send()
            .await;
        let leader = match answer {
            Ok(resp) if resp.status().is_success() => resp.text().await.unwrap_or_default(),
            _ => String::new(),
        };
        if leader.trim().trim_matches('"').is_empty() {
            tracing::debug!(server = %first, "rebalance: keeping the old order");
            servers.restore(before);
        } else {
            tracing::debug!(server = %first, "rebalanced");
        }
    }
}

/// Fingerprints the drivers every `fingerprint_period`; when what the
/// schedulers see changed, the node is registered again with it (the
/// servers then retry blocked evaluations the node could now take).
async fn fingerprint_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    // A change not yet accepted by the servers, retried every period.
    let mut unsent = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(shared.opts.fingerprint_period) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let mut infos: BTreeMap<String, DriverInfo> = BTreeMap::new();
        for (name, d) in &shared.runner_cfg.drivers {
            infos.insert(name.clone(), d.fingerprint().await);
        }
        let changed = {
            let mut node = shared.node.lock().unwrap_or_else(|e| e.into_inner());
            let changed = drivers_changed(&node.drivers, &infos);
            if changed {
                set_drivers(&mut node, infos);
            }
            changed
        };
        if changed {
            tracing::info!("driver fingerprint changed; updating the node");
            unsent = true;
        }
        if unsent {
            match shared.register().await {
                Ok(_) => unsent = false,
                Err(e) => tracing::warn!(error = %e, "updating the node failed; retrying"),
            }
        }
    }
}

async fn gc_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(shared.opts.gc_interval) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        shared.collect_for_disk().await;
    }
}

async fn watch_loop(shared: Arc<Shared>, node_id: String, mut stop: watch::Receiver<bool>) {
    let mut registered = shared.registered.subscribe();
    tokio::select! {
        _ = registered.wait_for(|r| *r) => {}
        _ = stop.wait_for(|s| *s) => return,
    }
    let mut index: u64 = 0;
    loop {
        let path = format!(
            "/v1/node/{node_id}/allocations?index={index}&wait={}s",
            WATCH_WAIT.as_secs()
        );
        let result = tokio::select! {
            r = shared.call(reqwest::Method::GET, &path, None, WATCH_TIMEOUT) => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        let pause = match result {
            Ok((status, headers, body)) if status.is_success() => {
                let next = headers
                    .get("X-Nomad-Index")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(index);
                match serde_json::from_slice::<Vec<Allocation>>(&body.0) {
                    Ok(allocs) => {
                        // An index that went backwards means a new cluster: start over.
                        index = if next < index { 0 } else { next };
                        shared.reconcile(allocs);
                        None
                    }
                    Err(e) => Some(format!("allocations response: {e}")),
                }
            }
            Ok((status, _, body)) => Some(format!("{status}: {}", body.text())),
            Err(e) => Some(e),
        };
        if let Some(e) = pause {
            tracing::warn!(error = %e, "watching allocations failed; retrying");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

async fn update_loop(
    shared: Arc<Shared>,
    node_id: String,
    mut rx: mpsc::UnboundedReceiver<AllocClientUpdateEntry>,
    mut stop: watch::Receiver<bool>,
) {
    let mut pending: BTreeMap<String, AllocClientUpdateEntry> = BTreeMap::new();
    loop {
        if pending.is_empty() {
            tokio::select! {
                u = rx.recv() => match u {
                    Some(u) => { pending.insert(u.id.clone(), u); }
                    None => return,
                },
                _ = stop.wait_for(|s| *s) => return,
            }
        }
        // Send at once what is queued: an idle client reports a change
        // without delay, and a burst that arrives while a send is in flight
        // goes out as one write next time round (natural batching). Only
        // when `batch` is set does it wait to gather more.
        if !shared.opts.batch.is_zero() {
            let deadline = tokio::time::Instant::now() + shared.opts.batch;
            loop {
                tokio::select! {
                    u = rx.recv() => match u {
                        Some(u) => { pending.insert(u.id.clone(), u); }
                        None => break,
                    },
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
        }
        while let Ok(u) = rx.try_recv() {
            pending.insert(u.id.clone(), u);
        }
        let ids: Vec<String> = pending.keys().cloned().collect();
        shared.persist(&ids);
        let path = format!("/v1/internal/node/{node_id}/allocs");
        // Large bursts go in several writes of at most UPDATE_CHUNK; what
        // was sent leaves `pending`, what failed stays for the next round.
        let mut sent = true;
        while sent && !pending.is_empty() {
            let chunk: Vec<AllocClientUpdateEntry> =
                pending.values().take(UPDATE_CHUNK).cloned().collect();
            let batch = AllocUpdateRequest { alloc: chunk };
            sent = match serde_json::to_value(&batch) {
                Ok(body) => match shared
                    .call(reqwest::Method::PUT, &path, Some(&body), CALL_TIMEOUT)
                    .await
                {
                    Ok((status, _, _)) if status.is_success() => true,
                    Ok((status, _, body)) => {
                        tracing::warn!(%status, body = %body.text(), "allocation update refused");
                        // A refusal the same batch cannot fix (a validation
                        // error) is dropped; anything else is retried.
                        status == reqwest::StatusCode::BAD_REQUEST
                            || status == reqwest::StatusCode::NOT_FOUND
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "allocation update failed; retrying");
                        false
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "allocation update not encodable");
                    true
                }
            };
            if sent {
                for entry in &batch.alloc {
                    pending.remove(&entry.id);
                }
            }
        }
        if !sent {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}
