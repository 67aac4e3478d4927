//! The discovery loop: exchange identities with `retry_join` and every
//! server learned of, then bootstrap or join, until this server is a voter.
//!
//! An address that does not answer is retried with a doubling backoff
//! (from [`FIRST_RETRY`] up to [`MAX_RETRY`]) and each failure is logged;
//! it is never fatal, as Nomad's `retry_join` (`command/agent/retry_join.go`)
//! keeps trying. One task per server, owned by the agent and stopped by
//! its shutdown signal.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use openraft::error::{InitializeError, RaftError};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{rpc_address, Cluster, Joined, Peer};
use crate::raft::{Node, NodeId};

/// The first retry of an address that did not answer.
const FIRST_RETRY: Duration = Duration::from_millis(200);
/// The longest wait between two tries of one address.
const MAX_RETRY: Duration = Duration::from_secs(10);
/// How often a server that answers is asked again while this one waits
/// (to see it join a cluster, or to learn of more servers).
const REFRESH: Duration = Duration::from_secs(1);

/// When to try an address (or a join) next.
struct Backoff {
    next: Instant,
    delay: Duration,
    failures: u32,
}

impl Backoff {
    fn now() -> Backoff {
        Backoff {
            next: Instant::now(),
            delay: FIRST_RETRY,
            failures: 0,
        }
    }

    fn answered(&mut self) {
        self.failures = 0;
        self.delay = FIRST_RETRY;
        self.next = Instant::now() + REFRESH;
    }

    /// Returns the wait before the next try.
    fn failed(&mut self) -> Duration {
        self.failures += 1;
        let wait = self.delay;
        self.next = Instant::now() + wait;
        self.delay = (self.delay * 2).min(MAX_RETRY);
        wait
    }
}

/// What has been logged already, so a waiting server says it once.
#[derive(Default)]
struct Said {
    waiting_for: Option<NodeId>,
    conflict: bool,
    learner: bool,
}

/// Run until this server is a voter of a cluster, or shutdown.
pub async fn discover(
    cluster: Arc<Cluster>,
    retry_join: Vec<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut d = Discovery {
        targets: BTreeMap::new(),
        own: Vec::new(),
        join: Backoff::now(),
        said: Said::default(),
    };
    for entry in &retry_join {
        match rpc_address(entry) {
            Some(addr) => {
                d.targets.insert(addr, Backoff::now());
            }
            None => tracing::error!(
                address = %entry,
                "retry_join: not a host or host:port (Drover does not evaluate cloud auto-join); skipped"
            ),
        }
    }
    let mut metrics = cluster.raft.raft.metrics();
    loop {
        if cluster.raft.is_voter() {
            tracing::info!("this server is a voter of the cluster");
            let targets: Vec<String> = d.targets.keys().cloned().collect();
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => {}
                _ = futures_util::future::join(
                    greet_members(&cluster),
                    check_retry_join(&cluster, &targets),
                ) => {}
            }
            return;
        }
        // A round may wait on a join for a long while: shutdown cuts it.
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = d.round(&cluster) => {}
        }
        // Until the next address is due, this server became a voter, or
        // a server announced itself; at least once every REFRESH, which
        // also paces joins. Not on every metrics change: openraft reports
        // metrics after each call into its core, and a round makes one.
        let wake = d
            .targets
            .values()
            .map(|b| b.next)
            .chain([Instant::now() + REFRESH])
            .min()
            .unwrap_or_else(|| Instant::now() + REFRESH);
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tokio::time::sleep_until(wake) => {}
            voter = metrics.wait_for(|m| is_voter(m, cluster.me.node_id)) => if voter.is_err() { return },
            _ = cluster.changed.notified() => {}
        }
    }
}

/// Exchange identities once with every other member, so each knows this
/// server's HTTP address and this one knows theirs: a server restarted on
/// its data directory is a voter at once and skips discovery, and the
/// others keep what they heard from its previous run (Nomad's servers
/// re-join the gossip pool on start for the same reason). A member that
/// does not answer now announces itself when it starts.
async fn greet_members(cluster: &Cluster) {
    let me = cluster.me.node_id;
    let greetings = cluster
        .raft
        .voters()
        .into_iter()
        .filter(|(id, _)| *id != me)
        .map(|(id, addr)| async move {
            if let Err(e) = cluster.announce(&addr).await {
                tracing::debug!(peer = id, address = %addr, error = %e, "member did not answer a greeting");
            }
        });
    futures_util::future::join_all(greetings).await;
}

/// How long a voter waits to have applied its cluster ID before it
/// compares it with the servers `retry_join` names.
const OWN_ID_WAIT: Duration = Duration::from_secs(10);

/// A voter (a server restarted on its data directory) asks each
/// `retry_join` address once who it is: when one belongs to another
/// cluster, this data directory is not of the cluster the server was told
/// to join, and it gives up ([`Cluster::failed`]) rather than go on as a
/// cluster of its own beside it. An address that does not answer now is
/// not asked again.
async fn check_retry_join(cluster: &Cluster, targets: &[String]) {
    if targets.is_empty() {
        return;
    }
    // A restart applies its log again (the cluster ID among it) shortly
    // after it starts; compare with the ID once it is there.
    let mut applied = cluster.raft.shared.subscribe_applied();
    let _ = tokio::time::timeout(
        OWN_ID_WAIT,
        applied.wait_for(|_| cluster.cluster_id().is_some()),
    )
    .await;
    let answers = join_all(targets.iter().map(|a| cluster.announce(a))).await;
    for (addr, answer) in targets.iter().zip(answers) {
        let Ok(status) = answer else { continue };
        if status.identity.node_id == cluster.me.node_id {
            continue;
        }
        if let Some(other) = cluster.other_cluster(addr, &status).await {
            cluster.fail(other.to_string());
            return;
        }
    }
}

fn is_voter(m: &openraft::RaftMetrics<NodeId, Node>, id: NodeId) -> bool {
    m.membership_config
        .membership()
        .voter_ids()
        .any(|v| v == id)
}

/// The discovery loop's memory between rounds.
struct Discovery {
    /// RPC addresses to announce to, with when to next.
    targets: BTreeMap<String, Backoff>,
    /// Addresses that turned out to be this server's own.
    own: Vec<String>,
    /// When to next try to join a cluster found.
    join: Backoff,
    said: Said,
}

impl Discovery {
    /// Announce to every address that is due, then bootstrap or join if
    /// what is known allows it.
    async fn round(&mut self, cluster: &Cluster) {
        let heard_of = std::mem::take(&mut *super::lock(&cluster.heard_of));
        let peer_addrs = cluster.peers().into_iter().map(|p| p.identity.rpc_addr);
        for addr in heard_of.into_iter().chain(peer_addrs) {
            if !self.own.contains(&addr) {
                self.targets.entry(addr).or_insert_with(Backoff::now);
            }
        }
        let now = Instant::now();
        let due: Vec<String> = self
            .targets
            .iter()
            .filter(|(_, b)| b.next <= now)
            .map(|(a, _)| a.clone())
            .collect();
        let answers = join_all(due.iter().map(|a| cluster.announce(a))).await;
        for (addr, answer) in due.into_iter().zip(answers) {
            match answer {
                Ok(status) if status.identity.node_id == cluster.me.node_id => {
                    self.targets.remove(&addr);
                    self.own.push(addr);
                }
                Ok(_) => {
                    if let Some(b) = self.targets.get_mut(&addr) {
                        b.answered();
                    }
                }
                Err(e) => {
                    if let Some(b) = self.targets.get_mut(&addr) {
                        let wait = b.failed();
                        tracing::warn!(
                            address = %addr,
                            attempt = b.failures,
                            retry_in = ?wait,
                            error = %e,
                            "retry_join: server did not answer"
                        );
                    }
                }
            }
        }
        step(cluster, &mut self.join, &mut self.said).await;
    }
}

/// Bootstrap or join, if what is known allows it.
async fn step(cluster: &Cluster, join: &mut Backoff, said: &mut Said) {
    let peers = cluster.peers();
    // A server already in a cluster: join it, never bootstrap beside it
    // (Nomad's `maybeBootstrap` asks each server for its Raft peers first).
    // One of this region first; one of another is asked only to be told
    // why not, which is logged at each try.
    let member = peers
        .iter()
        .filter(|p| p.initialized)
        .min_by_key(|p| p.identity.region != cluster.me.region);
    if let Some(member) = member {
        if join.next > Instant::now() {
            return;
        }
        match cluster.join(&member.identity.rpc_addr).await {
            Ok(Joined::Voter) | Ok(Joined::Announced) => join.answered(),
            // A member already; asked again each REFRESH while it waits to
            // be promoted, which also rejoins it if it was removed.
            Ok(Joined::Learner) => {
                if !said.learner {
                    tracing::info!(via = %member.identity.rpc_addr, "joined the cluster as a non-voter; the leader promotes this server once it has been stable");
                    said.learner = true;
                }
                join.answered();
            }
            Err(e @ super::JoinError::OtherCluster { .. }) => cluster.fail(e.to_string()),
            Err(e) => {
                let wait = join.failed();
                let via = &member.identity.rpc_addr;
                match e {
                    // A cluster electing its first leader is no failure.
                    super::JoinError::NoLeader(_) if join.failures < 5 => {
                        tracing::debug!(%via, retry_in = ?wait, error = %e, "joining the cluster: no leader yet");
                    }
                    super::JoinError::OtherRegion { .. } => {
                        tracing::error!(retry_in = ?wait, "not joining: {e}");
                    }
                    _ => {
                        tracing::warn!(%via, retry_in = ?wait, error = %e, "joining the cluster failed");
                    }
                }
            }
        }
        return;
    }
    let me = &cluster.me;
    let expect = me.bootstrap_expect;
    if expect <= 1 || cluster.raft.raft.is_initialized().await.unwrap_or(true) {
        return;
    }
    let region: Vec<&Peer> = peers
        .iter()
        .filter(|p| p.identity.region == me.region)
        .collect();
    if let Some(p) = region
        .iter()
        .find(|p| p.identity.bootstrap_expect != 0 && p.identity.bootstrap_expect != expect)
    {
        if !said.conflict {
            said.conflict = true;
            tracing::error!(
                server = %p.identity.name,
                theirs = p.identity.bootstrap_expect,
                ours = expect,
                "server has a conflicting bootstrap_expect; all servers should expect the same number; not bootstrapping"
            );
        }
        return;
    }
    if region.len() + 1 < expect as usize {
        return;
    }
    let lowest = region
        .iter()
        .map(|p| p.identity.node_id)
        .chain([me.node_id])
        .min()
        .unwrap_or(me.node_id);
    if lowest != me.node_id {
        if said.waiting_for != Some(lowest) {
            said.waiting_for = Some(lowest);
            tracing::info!(
                servers = region.len() + 1,
                bootstrapper = lowest,
                "found the expected servers; the one with the lowest node ID bootstraps"
            );
        }
        return;
    }
    // Ask every one of them again, now: each must answer and none may
    // belong to a cluster yet.
    let answers = join_all(
        region
            .iter()
            .map(|p| cluster.announce(&p.identity.rpc_addr)),
    )
    .await;
    for answer in answers {
        match answer {
            Ok(status) if !status.initialized => {}
            Ok(_) => return,
            Err(e) => {
                tracing::info!(error = %e, "not bootstrapping yet: a server did not answer");
                return;
            }
        }
    }
    let members: BTreeMap<NodeId, Node> = region
        .iter()
        .map(|p| &p.identity)
        .chain([me])
        .map(|i| {
            (
                i.node_id,
                Node {
                    addr: i.rpc_addr.clone(),
                },
            )
        })
        .collect();
    tracing::info!(
        servers = members.len(),
        "bootstrapping the cluster with these servers as voters: {:?}",
        members.values().map(|n| &n.addr).collect::<Vec<_>>()
    );
    match cluster.raft.raft.initialize(members).await {
        Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
        Err(e) => tracing::warn!(error = %e, "bootstrapping failed"),
    }
}
