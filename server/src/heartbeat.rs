//! Node heartbeat TTLs on the leader (Nomad nomad/heartbeat.go).
//!
//! Every node that is not down has a deadline while this server leads. A
//! heartbeat (a register or status call from the node's client) moves it
//! forward and hands the client its TTL; a deadline that passes marks the
//! node down through Raft, together with one evaluation per affected job,
//! so the schedulers mark its allocations lost and replace them.
//!
//! The deadlines live only in memory on the leader. A new leader does not
//! know when nodes last called in, so it gives every live node the long
//! failover TTL; a server that stops leading forgets them all, and a
//! follower never marks a node down.
//!
//! One task serves every node: deadlines sit in a min-heap next to a map
//! of each node's current deadline. A reset only pushes a new heap entry;
//! entries that no longer match the map are dropped when they surface. A
//! timer task per node was the rejected alternative: 10,000 nodes would be
//! 10,000 tasks woken and re-armed on every heartbeat.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use drover_api::{NodeEvent, NodeStatus};
use drover_state::command::NodeUpdateStatus;
use drover_state::{Command, WatchSet};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::clock::unix_nanos;
use crate::raft::node::RaftHandle;

/// The node event written when a TTL passes (Nomad's wording).
pub const HEARTBEAT_MISSED: &str = "Node heartbeat missed";

/// Nomad's server settings of the same names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeartbeatConfig {
    /// The shortest TTL handed out (Nomad `min_heartbeat_ttl`, 10s).
    pub min_heartbeat_ttl: Duration,
    /// The heartbeat rate the servers aim for across all nodes: with many
    /// nodes the TTL grows so they call in at most this often in total
    /// (Nomad `max_heartbeats_per_second`, 50).
    pub max_heartbeats_per_second: f64,
    /// Extra time past the TTL before a node counts as missed (10s).
    pub heartbeat_grace: Duration,
    /// The TTL every live node gets when a server gains leadership (5m).
    pub failover_heartbeat_ttl: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            min_heartbeat_ttl: Duration::from_secs(10),
            max_heartbeats_per_second: 50.0,
            heartbeat_grace: Duration::from_secs(10),
            failover_heartbeat_ttl: Duration::from_secs(300),
        }
    }
}

/// A heartbeat reached a server that does not lead (Nomad's wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to reset heartbeat since server is not leader")]
pub struct NotLeader;

/// The leader's heartbeat timers; shared by the HTTP handlers (which reset
/// them) and the one task that expires them.
pub struct Heartbeats {
    cfg: HeartbeatConfig,
    raft: RaftHandle,
    timers: Mutex<Timers>,
    /// Woken when a deadline earlier than the task's current sleep appears.
    wake: Notify,
}

#[derive(Default)]
struct Timers {
    /// Each armed node's current deadline.
    deadline: HashMap<String, Instant>,
    /// Deadlines in time order; an entry whose time differs from `deadline`
    /// is stale (the node was reset or forgotten since) and is skipped.
    heap: BinaryHeap<Reverse<(Instant, String)>>,
    /// The Raft term in which the timers were built; `None` while not leading.
    term: Option<u64>,
}

impl Timers {
    fn arm(&mut self, id: &str, at: Instant) {
        self.deadline.insert(id.to_string(), at);
        self.heap.push(Reverse((at, id.to_string())));
        // Stale entries are bounded by heartbeats per TTL; compact when
        // they clearly outnumber the live ones.
        if self.heap.len() > 2 * self.deadline.len() + 1024 {
            self.heap = self
                .deadline
                .iter()
                .map(|(id, at)| Reverse((*at, id.clone())))
                .collect();
        }
    }

    fn clear(&mut self) {
        self.deadline.clear();
        self.heap.clear();
        self.term = None;
    }

    /// Remove and return the nodes whose deadline is at or before `now`.
    fn expired(&mut self, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(Reverse((at, _))) = self.heap.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, id))) = self.heap.pop() else {
                break;
            };
            if self.deadline.get(&id) == Some(&at) {
                self.deadline.remove(&id);
                out.push(id);
            }
        }
        out
    }

    fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }
}

/// Nomad `RateScaledInterval`: `n` nodes at `rate` heartbeats a second
/// need `n / rate` seconds between one node's heartbeats, never less than
/// `min`.
pub fn rate_scaled_interval(rate: f64, min: Duration, n: usize) -> Duration {
    if rate.is_nan() || rate <= 0.0 {
        return min;
    }
    let secs = n as f64 / rate;
    Duration::try_from_secs_f64(secs).map_or(min, |d| d.max(min))
}

/// A random duration in `[0, d)` (Nomad `RandomStagger`), so nodes that
/// registered together drift apart.
fn random_stagger(d: Duration) -> Duration {
    let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    // A v4 UUID is 122 random bits; the server has no other RNG dependency.
    let r = uuid::Uuid::new_v4().as_u128() as u64;
    Duration::from_nanos(r % nanos)
}

impl Heartbeats {
    pub fn new(raft: RaftHandle, cfg: HeartbeatConfig) -> Arc<Heartbeats> {
        Arc::new(Heartbeats {
            cfg,
            raft,
            timers: Mutex::new(Timers::default()),
            wake: Notify::new(),
        })
    }

    pub fn config(&self) -> &HeartbeatConfig {
        &self.cfg
    }

    fn timers(&self) -> MutexGuard<'_, Timers> {
        // A panic while holding the lock leaves maps that are still valid.
        self.timers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A heartbeat from `node_id`: move its deadline to TTL + grace from
    /// now and return the TTL the client should heartbeat within.
    pub fn reset(&self, node_id: &str) -> Result<Duration, NotLeader> {
        if !self.raft.is_leader() {
            return Err(NotLeader);
        }
        let mut t = self.timers();
        let ttl = rate_scaled_interval(
            self.cfg.max_heartbeats_per_second,
            self.cfg.min_heartbeat_ttl,
            t.deadline.len(),
        );
        let ttl = ttl + random_stagger(ttl);
        let at = Instant::now() + ttl + self.cfg.heartbeat_grace;
        let earliest = t.next().is_none_or(|next| at < next);
        t.arm(node_id, at);
        drop(t);
        if earliest {
            self.wake.notify_one();
        }
        Ok(ttl)
    }

    /// Stop watching `node_id` (it went down by its own report).
    pub fn clear(&self, node_id: &str) {
        self.timers().deadline.remove(node_id);
    }

    /// How many nodes have a live timer (tests, metrics).
    pub fn armed(&self) -> usize {
        self.timers().deadline.len()
    }

    /// Follow leadership: on gaining it (a new term), arm every live node
    /// with the failover TTL; on losing it, forget them all.
    fn follow_leadership(&self) {
        let (leading, term) = {
            let m = self.raft.raft.server_metrics();
            let m = m.borrow();
            let term = m.vote.leader_id().get_term();
            (m.current_leader == Some(self.raft.node_id), term)
        };
        let mut t = self.timers();
        if !leading {
            if t.term.is_some() {
                tracing::debug!("heartbeat timers stopped: no longer the leader");
                t.clear();
            }
            return;
        }
        if t.term == Some(term) {
            return;
        }
        t.clear();
        t.term = Some(term);
        let at = Instant::now() + self.cfg.failover_heartbeat_ttl;
        let applied = self.raft.shared.read();
        let mut ws = WatchSet::new();
        for node in applied.state.nodes(&mut ws, "", None, false) {
            if node.status != NodeStatus::Down {
                t.arm(&node.id, at);
            }
        }
        tracing::info!(nodes = t.deadline.len(), "heartbeat timers armed");
    }

    /// A node's TTL passed: mark it down with evals for its jobs, unless
    /// leadership moved, the node is gone or down already, or it called in
    /// again since the deadline was taken off the heap.
    async fn invalidate(&self, node_id: String) {
        if !self.raft.is_leader() || self.timers().deadline.contains_key(&node_id) {
            return;
        }
        let now = unix_nanos();
        let evals = {
            let applied = self.raft.shared.read();
            let st = &applied.state;
            match st.node(&mut WatchSet::new(), &node_id) {
                Some(n) if n.status != NodeStatus::Down => {
                    crate::evals::node_evals(st, &node_id, now)
                }
                _ => return,
            }
        };
        tracing::warn!(node_id = %node_id, "node TTL expired");
        let cmd = Command::NodeUpdateStatus(NodeUpdateStatus {
            node_id: node_id.clone(),
            status: NodeStatus::Down,
            event: Some(NodeEvent {
                message: HEARTBEAT_MISSED.into(),
                subsystem: "Cluster".into(),
                timestamp: Some(now),
                ..Default::default()
            }),
            evals,
            now,
        });
        match self.raft.write_background(cmd).await {
            Ok(out) => {
                if let Err(e) = out.result {
                    tracing::warn!(node_id = %node_id, error = %e, "marking node down refused");
                }
            }
            Err(e) => tracing::warn!(node_id = %node_id, error = %e, "marking node down failed"),
        }
    }

    /// The timer task: expire deadlines, follow leadership, end on shutdown.
    async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut metrics = self.raft.raft.server_metrics();
        // Marking nodes down, each a Raft write; awaited before returning.
        let mut writes = tokio::task::JoinSet::new();
        loop {
            while writes.try_join_next().is_some() {}
            self.follow_leadership();
            let (expired, next) = {
                let mut t = self.timers();
                (t.expired(Instant::now()), t.next())
            };
            for id in expired {
                // Each write waits for Raft; many nodes expiring at once
                // (a rack lost) must not hold up the others.
                let me = self.clone();
                writes.spawn(async move { me.invalidate(id).await });
            }
            let sleep_until = next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                _ = tokio::time::sleep_until(sleep_until) => {}
                _ = self.wake.notified() => {}
                changed = metrics.changed() => if changed.is_err() { break },
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        while writes.join_next().await.is_some() {}
    }
}

/// Start the timer task; it follows leadership and ends on `shutdown`
/// (await the handle).
pub fn start(
    raft: RaftHandle,
    cfg: HeartbeatConfig,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> (Arc<Heartbeats>, tokio::task::JoinHandle<()>) {
    let hb = Heartbeats::new(raft, cfg);
    let task = tokio::spawn(hb.clone().run(shutdown));
    (hb, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_scales_with_nodes_above_the_minimum() {
        let min = Duration::from_secs(10);
        assert_eq!(rate_scaled_interval(50.0, min, 0), min);
        assert_eq!(rate_scaled_interval(50.0, min, 500), min);
        assert_eq!(
            rate_scaled_interval(50.0, min, 10_000),
            Duration::from_secs(200)
        );
        assert_eq!(rate_scaled_interval(0.0, min, 10_000), min);
    }

    #[test]
    fn stagger_stays_below_its_bound() {
        let d = Duration::from_millis(300);
        for _ in 0..100 {
            assert!(random_stagger(d) < d);
        }
        assert_eq!(random_stagger(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn stale_heap_entries_do_not_expire_a_reset_node() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.arm("a", t0 + Duration::from_secs(1));
        t.arm("b", t0 + Duration::from_secs(2));
        t.arm("a", t0 + Duration::from_secs(5));
        assert_eq!(
            t.expired(t0 + Duration::from_secs(3)),
            vec!["b".to_string()]
        );
        assert_eq!(t.deadline.len(), 1);
        assert_eq!(
            t.expired(t0 + Duration::from_secs(5)),
            vec!["a".to_string()]
        );
        assert!(t.heap.is_empty());
    }
}
