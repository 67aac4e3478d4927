//! Starting a server's Raft from its data directory, and writing through it.
//!
//! Layout under the data directory: `wal/` (the Raft log, vote and commit
//! pointer, see [`super::wal`]) and `state/` (the snapshot file). A restart
//! opens both: the state machine restores the snapshot and openraft replays
//! the log after it. A `raft/` directory left by an older Drover (the log in
//! sled) is imported into `wal/` once and renamed `raft.imported/`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use drover_state::{Command, EventRetention};
use openraft::{Config, SnapshotPolicy};

use super::log_store::LogStore;
use super::network::{RpcClient, RpcNetwork};
use super::propose::Proposer;
use super::snapshot_policy::SnapshotTrigger;
use super::state_machine::{Shared, StateMachineStore};
use super::{Node, NodeId, Raft, StorageError, WriteOutcome};

/// How to start Raft on this server.
#[derive(Debug, Clone)]
pub struct RaftSettings {
    pub data_dir: PathBuf,
    pub node_id: NodeId,
    /// This server's RPC address, recorded in the membership.
    pub addr: String,
    pub retention: EventRetention,
    /// Build a snapshot (and compact the log) every this many commands
    /// (an entry holds one or a batch of them: [`super::snapshot_policy`]).
    pub snapshot_every: u64,
    /// With a state of `rows` objects, at least `rows / this` commands
    /// between snapshots, so their cost per write stays flat as the state
    /// grows (0: `snapshot_every` alone; [`super::snapshot_policy`]).
    pub snapshot_rows_divisor: u64,
    /// Entries kept in the log behind a snapshot, for slow followers.
    pub keep_after_snapshot: u64,
    /// Form a one-server cluster on first start (`-bootstrap-expect 1`).
    pub bootstrap: bool,
    /// Bytes preallocated per log segment.
    pub segment_size: u64,
    /// Mutual TLS to other servers' RPC ports (`tls { rpc = true }`).
    pub rpc_tls: Option<rustls::ClientConfig>,
}

impl RaftSettings {
    pub fn new(data_dir: PathBuf, node_id: NodeId, addr: String) -> Self {
        RaftSettings {
            data_dir,
            node_id,
            addr,
            retention: EventRetention::default(),
            snapshot_every: 10_000,
            snapshot_rows_divisor: 4,
            keep_after_snapshot: 1_000,
            bootstrap: true,
            segment_size: super::wal::segment_size_from_env(),
            rpc_tls: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("opening Raft storage: {0}")]
    Storage(#[from] StorageError),
    #[error("invalid Raft configuration: {0}")]
    Config(#[from] openraft::ConfigError),
    #[error("starting Raft: {0}")]
    Fatal(#[from] openraft::error::Fatal<NodeId>),
    #[error("bootstrapping the cluster: {0}")]
    Init(String),
    #[error("building the RPC client: {0}")]
    Rpc(String),
    #[error("opening the state machine: {0}")]
    Join(String),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// Not the leader: the caller forwards to `leader` or fails.
    /// `leader_addr` is the leader's RPC address when one is known.
    #[error("not the leader (leader: {leader:?})")]
    NotLeader {
        leader: Option<NodeId>,
        leader_addr: Option<String>,
    },
    /// The log cannot make writes durable now (a full disk, an I/O error);
    /// nothing was written, and writes are taken again once it can.
    #[error("the Raft log cannot be written: {0}")]
    Unavailable(String),
    /// This server led when the write was proposed, then went a lease
    /// without a quorum's acknowledgement: the write may yet commit (if the
    /// quorum returns) or be lost (if another leader was elected). Nomad's
    /// `raft.ErrLeadershipLost`.
    #[error("leadership lost while committing the write; it may or may not have been applied")]
    LeadershipLost,
    #[error("raft: {0}")]
    Raft(String),
}

/// How long a leader may go without a quorum's acknowledgement and still
/// count as the leader: less than [`ELECTION_TIMEOUT_MAX`], the lease a
/// follower gives the leader it last heard before it votes for another, so
/// a cut-off leader stops counting itself before a new one can exist.
/// openraft keeps leading without a quorum until it hears of a higher term;
/// hashicorp/raft steps down after its `LeaderLeaseTimeout` (raft.go
/// `checkLeaderLease`, 500 ms by default).
pub const LEADER_LEASE: Duration = Duration::from_millis(500);

/// Raft's election timeout, randomized between these (ms). openraft 0.9
/// also makes the upper bound the lease a follower gives its leader
/// (`EngineConfig::leader_lease`): it refuses every vote until that long
/// after the leader's last heartbeat, so the first candidate, whose timer
/// fired earlier, is refused and elections take several rounds. With 500 to
/// 1000 ms, killing the leader of three took 3.9 s at the median and 6.6 s
/// at worst (`tests/cluster_failover.rs`); with 300 to 600 ms, 2.6 s and
/// 3.9 s; with a refused candidate's voter standing at once as well
/// (`rpc.rs`), 1.2 to 1.4 s and 1.5 to 2.6 s. Heartbeats go every 150 ms.
const ELECTION_TIMEOUT_MIN: u64 = 300;
const ELECTION_TIMEOUT_MAX: u64 = 600;

/// How long a leader waits for a follower to take one snapshot chunk and,
/// for the last, to install the whole snapshot (decode the state, write
/// and sync its file). openraft's 200 ms default is far too short once a
/// state holds thousands of jobs: every try timed out on the last chunk
/// and the next began again from the first, so a follower that missed
/// 10,000 writes never caught up. hashicorp/raft gives an InstallSnapshot
/// the transport's 10 s timeout and more for a large snapshot; a follower
/// that died mid-transfer is noticed sooner, by the connection's
/// keepalive ([`super::network`]).
const INSTALL_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(30);

/// The lease a follower gives the leader it last heard from: until it
/// runs out, openraft refuses every vote request.
pub const FOLLOWER_LEASE: Duration = Duration::from_millis(ELECTION_TIMEOUT_MAX);

/// The most entries one AppendEntries carries (openraft's default is
/// 300). openraft 0.9 bounds every AppendEntries by the heartbeat interval
/// (`ReplicationCore::send_log_entries`), and an answer that comes later
/// is lost: the leader sends the same entries again from the same place.
/// An entry is a batch of writes, several KiB for job registers, so a
/// follower catching up after a restart was sent 240 entries (1.8 MB)
/// at a time, which took 350 to 650 ms to decode in a debug build on a
/// loaded machine: every attempt timed out, the follower never caught up,
/// and a leader that needed its acknowledgements went without a quorum.
/// 16 entries decode within a few tens of milliseconds there.
const MAX_PAYLOAD_ENTRIES: u64 = 16;

/// How often a pending write checks that its leader still has a quorum.
const LEASE_CHECK: Duration = Duration::from_millis(250);

/// The latest membership (committed or not) as one read of the metrics.
#[derive(Debug, Clone)]
pub struct MembershipView {
    /// Every member, voter or learner, with its RPC address.
    pub nodes: Vec<(NodeId, String)>,
    pub voters: std::collections::BTreeSet<NodeId>,
    pub leader: Option<NodeId>,
    /// The log index of the membership entry (0: none).
    pub log_index: u64,
}

/// A running Raft and what it shares with readers.
#[derive(Clone)]
pub struct RaftHandle {
    pub raft: Raft,
    pub shared: Arc<Shared>,
    pub log: LogStore,
    pub node_id: NodeId,
    /// The client for other servers' RPC ports; Raft's transport uses the
    /// same one, so each peer has one connection.
    pub rpc: RpcClient,
    proposer: Proposer,
    snapshot_trigger: SnapshotTrigger,
    /// Set while this server hands its leadership to another
    /// ([`crate::cluster::transfer`]): writes wait, so that the log the
    /// target must hold stops growing.
    pub handing_over: Arc<tokio::sync::watch::Sender<bool>>,
}

impl RaftHandle {
    /// Write a command and wait until it is applied here. The outcome says
    /// whether the state machine accepted it and at which index. Writes
    /// made at the same time may share an entry ([`super::propose`]).
    pub async fn write(&self, cmd: Command) -> Result<WriteOutcome, WriteError> {
        self.propose(cmd, false).await
    }

    /// [`Self::write`] for the leader's own writes (plans, eval updates),
    /// which may wait a moment to share an entry with a user's write
    /// ([`super::propose::LINGER`]).
    pub async fn write_background(&self, cmd: Command) -> Result<WriteOutcome, WriteError> {
        self.propose(cmd, true).await
    }

    /// Refuse at once while the log cannot make writes durable; otherwise
    /// hand `cmd` to the proposer.
    async fn propose(&self, cmd: Command, background: bool) -> Result<WriteOutcome, WriteError> {
        if let Some(e) = self.log.wal().health().error() {
            return Err(WriteError::Unavailable(e));
        }
        // During a leadership transfer, writes wait for its end (at most
        // a few seconds) and then go to whichever server leads.
        let mut handing_over = self.handing_over.subscribe();
        if *handing_over.borrow() {
            let _ = tokio::time::timeout(
                crate::cluster::transfer::TIMEOUT,
                handing_over.wait_for(|h| !*h),
            )
            .await;
        }
        // A leader cut off from its quorum would wait for it forever: give
        // up once the lease has run out, as hashicorp/raft fails the
        // futures of a leader that steps down.
        let write = self.proposer.write(cmd, background);
        tokio::pin!(write);
        loop {
            tokio::select! {
                out = &mut write => return out,
                _ = tokio::time::sleep(LEASE_CHECK) => {
                    if self.lease_expired() {
                        return Err(WriteError::LeadershipLost);
                    }
                }
            }
        }
    }

    /// Whether this server leads several voters and none of a quorum has
    /// acknowledged it for [`LEADER_LEASE`].
    fn lease_expired(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        let voters = m.membership_config.membership().voter_ids().count();
        let lease = u64::try_from(LEADER_LEASE.as_millis()).unwrap_or(u64::MAX);
        m.current_leader == Some(self.node_id)
            && voters > 1
            && m.millis_since_quorum_ack.is_none_or(|ms| ms > lease)
    }

    /// Wait until this server leads (a one-server cluster elects itself).
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<(), String> {
        self.raft
            .wait(Some(timeout))
            .current_leader(self.node_id, "this server leads")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.node_id)
    }

    /// The leader this server knows of: its node ID and RPC address.
    pub fn leader(&self) -> Option<(NodeId, String)> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let id = m.current_leader?;
        let node = m.membership_config.membership().get_node(&id)?;
        Some((id, node.addr.clone()))
    }

    /// The latest membership this server has seen, with who leads, at once.
    pub fn membership(&self) -> MembershipView {
        let m = self.raft.metrics();
        let m = m.borrow();
        let membership = m.membership_config.membership();
        MembershipView {
            nodes: membership
                .nodes()
                .map(|(id, n)| (*id, n.addr.clone()))
                .collect(),
            voters: membership.voter_ids().collect(),
            leader: m.current_leader,
            log_index: m.membership_config.log_id().map_or(0, |l| l.index),
        }
    }

    /// The voters of the latest membership this server has seen (committed
    /// or not), by node ID, with their RPC addresses.
    pub fn voters(&self) -> Vec<(NodeId, String)> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let membership = m.membership_config.membership();
        membership
            .voter_ids()
            .filter_map(|id| Some((id, membership.get_node(&id)?.addr.clone())))
            .collect()
    }

    /// Every member (voters and learners) of the latest membership.
    pub fn members(&self) -> Vec<NodeId> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let ids = m
            .membership_config
            .membership()
            .nodes()
            .map(|(id, _)| *id)
            .collect();
        ids
    }

    /// Whether this server is a voter of its membership. A restarted
    /// member is one at once (the membership is in its log); a joining
    /// server becomes one when the leader promotes it.
    pub fn is_voter(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        let voter = m
            .membership_config
            .membership()
            .voter_ids()
            .any(|id| id == self.node_id);
        voter
    }

    /// Stop Raft, the proposer, then the log's flusher (appends not yet
    /// durable stay unacknowledged).
    ///
    /// openraft's core takes the stop signal only between commands, and an
    /// append it waits on can take forever when the disk is full. So after
    /// a grace period (none while the log already reports that it cannot
    /// write) the log lets go of its pending appends, which ends the core.
    pub async fn shutdown(&self) {
        let grace = if self.log.wal().health().error().is_some() {
            Duration::ZERO
        } else {
            self.snapshot_before_stop().await;
            Duration::from_secs(5)
        };
        if tokio::time::timeout(grace, self.raft.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("Raft waits on an append that is not durable; dropping it to stop");
            self.log.wal().close();
            if let Err(e) = self.raft.shutdown().await {
                tracing::warn!(error = %e, "raft shutdown");
            }
        }
        self.proposer.stop().await;
        self.snapshot_trigger.stop().await;
        self.log.wal().close();
    }
}

impl RaftHandle {
    /// Write a snapshot of everything applied when more than the
    /// configured threshold would otherwise be replayed at the next start
    /// (the threshold grows with the state, [`super::snapshot_policy`]).
    /// Writes have stopped by now. Gives up after [`STOP_SNAPSHOT_WAIT`]:
    /// the log still holds everything, so nothing is lost, only the next
    /// start is slower.
    async fn snapshot_before_stop(&self) {
        if !self.shared.snapshot_due_at_stop() {
            return;
        }
        let Some(target) = self.raft.metrics().borrow().last_applied.map(|l| l.index) else {
            return;
        };
        let started = tokio::time::Instant::now();
        let deadline = started + STOP_SNAPSHOT_WAIT;
        loop {
            // Ignored while a build runs; asked again once it is done.
            if self.raft.trigger().snapshot().await.is_err() {
                return;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let done = self
                .raft
                .wait(Some(left.min(Duration::from_secs(1))))
                .metrics(
                    |m| m.snapshot.is_some_and(|s| s.index >= target),
                    "a snapshot of everything applied",
                )
                .await
                .is_ok();
            if done {
                tracing::info!(
                    index = target,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "wrote a snapshot before stopping"
                );
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    index = target,
                    "no snapshot before stopping; the next start replays the log"
                );
                return;
            }
        }
    }
}

/// How long a stop waits for its snapshot.
const STOP_SNAPSHOT_WAIT: Duration = Duration::from_secs(30);

/// Open storage, start Raft and, on first start with `bootstrap`, form a
/// one-server cluster. Restarts find their membership in the log. Without
/// `bootstrap`, Raft waits: [`crate::cluster`] forms or joins a cluster.
pub async fn start(settings: &RaftSettings) -> Result<RaftHandle, StartError> {
    // The state machine's snapshot restore and the log's scan read
    // different files: side by side they take the longer of the two.
    let sm_open = {
        let (dir, retention, every) = (
            settings.data_dir.join("state"),
            settings.retention,
            settings.snapshot_every,
        );
        tokio::task::spawn_blocking(move || StateMachineStore::open(&dir, retention, every))
    };
    let log = LogStore::open(&settings.data_dir.join("wal"), settings.segment_size);
    // Awaited before either result is looked at: no open outlives `start`.
    let sm = sm_open.await.map_err(|e| StartError::Join(e.to_string()))?;
    let (mut log, sm) = (log?, sm?);
    log.import_sled(&settings.data_dir.join("raft")).await?;
    log.purge_only_below(sm.shared().durable_snapshot());
    let shared = sm.shared().clone();
    shared
        .commands()
        .set_rows_divisor(settings.snapshot_rows_divisor);
    let config = Config {
        cluster_name: "drover".into(),
        heartbeat_interval: 150,
        election_timeout_min: ELECTION_TIMEOUT_MIN,
        election_timeout_max: ELECTION_TIMEOUT_MAX,
        // Ours counts commands against the state's size
        // ([`super::snapshot_policy`]).
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: settings.keep_after_snapshot,
        install_snapshot_timeout: u64::try_from(INSTALL_SNAPSHOT_TIMEOUT.as_millis())
            .unwrap_or(u64::MAX),
        max_payload_entries: MAX_PAYLOAD_ENTRIES,
        ..Default::default()
    }
    .validate()?;
    let rpc =
        RpcClient::new(settings.rpc_tls.clone()).map_err(|e| StartError::Rpc(e.to_string()))?;
    let network = RpcNetwork {
        node_id: settings.node_id,
        client: rpc.clone(),
    };
    let raft = Raft::new(settings.node_id, Arc::new(config), network, log.clone(), sm).await?;
    shared.started();
    if settings.bootstrap && !raft.is_initialized().await? {
        let members = BTreeMap::from([(
            settings.node_id,
            Node {
                addr: settings.addr.clone(),
            },
        )]);
        raft.initialize(members)
            .await
            .map_err(|e| StartError::Init(e.to_string()))?;
    }
    Ok(RaftHandle {
        proposer: Proposer::start(raft.clone()),
        snapshot_trigger: SnapshotTrigger::start(
            raft.clone(),
            shared.commands().clone(),
            settings.snapshot_every,
        ),
        handing_over: Arc::new(tokio::sync::watch::channel(false).0),
        raft,
        shared,
        log,
        node_id: settings.node_id,
        rpc,
    })
}
