//! Promoting servers that joined: Nomad's autopilot keeps a new server a
//! non-voter until it has been healthy for `server_stabilization_time`
//! (`autopilot { server_stabilization_time = "10s" }`), so a server that
//! comes up, fails and comes back never counts towards the quorum in
//! between (nomad/autopilot.go; hashicorp/raft-autopilot's `promoter`,
//! run from the leader's reconcile loop).
//!
//! A join only adds a learner ([`Cluster::add_server`]). Promotion is a
//! leader duty ([`promote_learners`]), one per term, started and stopped
//! with the others in `leader.rs`: every [`CHECK_EVERY`] it looks at each
//! learner of the membership. Healthy, for a learner, is what
//! `/v1/operator/autopilot/health` calls healthy: it answers an identity
//! exchange ([`Cluster::probe`]) and its log trails the leader's by at
//! most [`MAX_TRAILING_LOGS`]. Once one has been healthy without a break
//! for the stabilization time, as this leader saw it, it is made a voter
//! (`change_membership`). A new leader starts its own count, as
//! raft-autopilot's state starts over with each leader, so a leader change
//! during stabilization delays a promotion but never loses it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::ChangeMembers;
use tokio::sync::watch;
use tokio::time::Instant;

use super::Cluster;
use crate::raft::NodeId;

/// How far behind the leader's log a server may be and count as healthy:
/// autopilot's `MaxTrailingLogs` default (Nomad `nomad/config.go`, 250).
pub const MAX_TRAILING_LOGS: u64 = 250;

/// Nomad's default `server_stabilization_time`.
pub const DEFAULT_STABILIZATION: Duration = Duration::from_secs(10);

/// How often the leader looks at its learners.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// How long a health probe of a learner may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one promotion may wait for Raft (a joint membership change
/// that must reach a quorum).
const PROMOTE_TIMEOUT: Duration = Duration::from_secs(10);

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

impl Cluster {
    /// The autopilot settings this server applies when it leads.
    pub fn autopilot(&self) -> Autopilot {
        self.autopilot
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

    /// The learners of the latest membership, with their RPC addresses.
    fn learners(&self) -> Vec<(NodeId, String)> {
        let view = self.raft.membership();
        view.nodes
            .into_iter()
            .filter(|(id, _)| !view.voters.contains(id))
            .collect()
    }
}

/// The leader duty that promotes learners once stable; runs until `stop`.
/// `term` only names the term in its log lines.
pub async fn promote_learners(cluster: Arc<Cluster>, term: u64, mut stop: watch::Receiver<bool>) {
    let wanted = cluster.autopilot.server_stabilization_time;
    // Since when each learner has been healthy without a break, as this
    // term's leader saw it.
    let mut healthy_since: BTreeMap<NodeId, Instant> = BTreeMap::new();
    loop {
        let learners = cluster.learners();
        healthy_since.retain(|id, _| learners.iter().any(|(l, _)| l == id));
        let checks = learners.iter().map(|(id, addr)| {
            let cluster = &cluster;
            async move {
                let healthy = cluster.caught_up(*id)
                    && cluster.probe(*id, addr, PROBE_TIMEOUT).await.is_some();
                (*id, healthy)
            }
        });
        let checked = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            checked = futures_util::future::join_all(checks) => checked,
        };
        let now = Instant::now();
        let mut stable = BTreeSet::new();
        for (id, healthy) in checked {
            if !healthy {
                if healthy_since.remove(&id).is_some() {
                    tracing::info!(
                        term,
                        node_id = id,
                        "learner is unhealthy; its stabilization starts over"
                    );
                }
                continue;
            }
            let since = *healthy_since.entry(id).or_insert_with(|| {
                tracing::info!(term, node_id = id, stabilization = ?wanted, "learner is healthy; promoting it once it has been for the stabilization time");
                now
            });
            if now.duration_since(since) >= wanted {
                stable.insert(id);
            }
        }
        if !stable.is_empty() {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                promoted = promote(&cluster, stable.clone()) => match promoted {
                    Ok(()) => {
                        tracing::info!(term, node_ids = ?stable, "promoted to voter");
                        healthy_since.retain(|id, _| !stable.contains(id));
                    }
                    Err(e) => tracing::info!(term, node_ids = ?stable, error = %e, "promotion not made; trying again"),
                },
            }
        }
        // Sleep to the earliest promotion due, at most CHECK_EVERY.
        let next = healthy_since
            .values()
            .map(|s| *s + wanted)
            .chain([now + CHECK_EVERY])
            .min()
            .unwrap_or(now + CHECK_EVERY)
            .max(Instant::now() + Duration::from_millis(10));
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep_until(next) => {}
        }
    }
}

/// Make `ids` voters (openraft's joint change, then the uniform one).
async fn promote(cluster: &Cluster, ids: BTreeSet<NodeId>) -> Result<(), String> {
    let change = ChangeMembers::AddVoterIds(ids);
    let result = tokio::time::timeout(
        PROMOTE_TIMEOUT,
        cluster.raft.raft.change_membership(change, false),
    )
    .await;
    match result {
        Err(_) => Err(format!("no quorum within {PROMOTE_TIMEOUT:?}")),
        Ok(Ok(_)) => Ok(()),
        // Another change is still in its joint phase: the next look tries
        // again once it has settled.
        Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
            ChangeMembershipError::InProgress(_),
        )))) => Err("another membership change is in progress".into()),
        Ok(Err(e)) => Err(e.to_string()),
    }
}
