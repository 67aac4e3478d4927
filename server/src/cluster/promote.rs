//! Promoting a server that joined: Nomad's autopilot keeps a new server a
//! non-voter until it has been healthy for `server_stabilization_time`
//! (`autopilot { server_stabilization_time = "10s" }`), so a server that
//! comes up, fails and comes back never counts towards the quorum in
//! between (nomad/autopilot.go, raft-autopilot's `promoter`).
//!
//! Healthy, for a learner, is what `/v1/operator/autopilot/health` calls
//! healthy: it answers an identity exchange ([`Cluster::probe`]) and its
//! log trails the leader's by at most [`MAX_TRAILING_LOGS`]. When it became
//! so is kept by node ID across join requests: a joining server that gave
//! up waiting and asks again does not start its window over.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::{lock, Cluster, JoinReply};
use crate::raft::NodeId;

/// How far behind the leader's log a server may be and count as healthy:
/// autopilot's `MaxTrailingLogs` default (Nomad `nomad/config.go`, 250).
pub const MAX_TRAILING_LOGS: u64 = 250;

/// Nomad's default `server_stabilization_time`.
pub const DEFAULT_STABILIZATION: Duration = Duration::from_secs(10);

/// How often a learner's health is checked while it stabilizes.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// How long a health probe of a learner may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The autopilot settings Drover applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Autopilot {
    /// How long a learner must have been healthy before it is promoted.
    pub server_stabilization_time: Duration,
}

impl Default for Autopilot {
    fn default() -> Self {
        Autopilot {
            server_stabilization_time: DEFAULT_STABILIZATION,
        }
    }
}

/// Since when each learner has been healthy without a break.
#[derive(Debug, Default)]
pub(super) struct Stability(Mutex<BTreeMap<NodeId, Instant>>);

impl Cluster {
    /// The autopilot settings this server applies when it leads.
    pub fn autopilot(&self) -> Autopilot {
        self.autopilot
    }

    /// On the leader: wait until learner `id` at `addr` has been healthy
    /// for the stabilization time. The answer to give the joining server
    /// when that is not to be: another server leads now, or `deadline`
    /// passed first.
    pub(super) async fn stabilize(
        &self,
        id: NodeId,
        addr: &str,
        deadline: Instant,
    ) -> Result<(), JoinReply> {
        let wanted = self.autopilot.server_stabilization_time;
        loop {
            if !self.raft.is_leader() {
                return Err(JoinReply::NotLeader {
                    leader_rpc: self.raft.leader().map(|(_, addr)| addr),
                });
            }
            let healthy = self.caught_up(id) && self.probe(id, addr, PROBE_TIMEOUT).await.is_some();
            let now = Instant::now();
            let since = {
                let mut stable = lock(&self.stable.0);
                if healthy {
                    Some(*stable.entry(id).or_insert(now))
                } else {
                    stable.remove(&id);
                    None
                }
            };
            if since.is_some_and(|s| now.duration_since(s) >= wanted) {
                lock(&self.stable.0).remove(&id);
                return Ok(());
            }
            if now >= deadline {
                return Err(JoinReply::Refused(format!(
                    "server {id} was not healthy for {wanted:?} in a row before the join timed out"
                )));
            }
            let wait = since.map_or(CHECK_EVERY, |s| {
                (s + wanted).saturating_duration_since(now).min(CHECK_EVERY)
            });
            tokio::time::sleep(wait).await;
        }
    }

    /// Whether the leader's replication to `id` is within
    /// [`MAX_TRAILING_LOGS`] of its own log.
    fn caught_up(&self, id: NodeId) -> bool {
        let m = self.raft.raft.metrics();
        let m = m.borrow();
        let last = m.last_log_index.unwrap_or(0);
        let matched = m
            .replication
            .as_ref()
            .and_then(|r| r.get(&id).copied().flatten())
            .map(|l| l.index);
        matched.is_some_and(|i| last.saturating_sub(i) <= MAX_TRAILING_LOGS)
    }
}
