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
//! most `MaxTrailingLogs` ([`MAX_TRAILING_LOGS`] by default). Once one has been healthy without a break
//! for the stabilization time, as this leader saw it, it is made a voter
//! (`change_membership`). A new leader starts its own count, as
//! raft-autopilot's state starts over with each leader, so a leader change
//! during stabilization delays a promotion but never loses it.
//!
//! The stabilization time and the trailing-log bound come from the
//! replicated autopilot configuration (`/v1/operator/autopilot/configuration`,
//! read at each look). When the state has none, the duty first writes this
//! server's `autopilot` block as it (Nomad's `getOrCreateAutopilotConfig`,
//! nomad/leader.go).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::ChangeMembers;
use tokio::sync::watch;
use tokio::time::Instant;

use drover_state::command::{AutopilotConfig, AutopilotConfigSet, SetCondition};
use drover_state::Command;

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

/// The agent's `autopilot` block: what a cluster's first leader stores
/// as the autopilot configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Autopilot {
    /// How long a learner must have been healthy before it is promoted.
    pub server_stabilization_time: Duration,
}

/// Nomad's default `last_contact_threshold`, kept and served.
const DEFAULT_LAST_CONTACT_THRESHOLD: Duration = Duration::from_millis(200);

impl Autopilot {
    /// As the replicated configuration, Nomad's defaults for the rest
    /// (nomad/config.go `DefaultConfig`), except that Drover does not clean
    /// up dead servers and says so.
    pub fn config(&self) -> AutopilotConfig {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        AutopilotConfig {
            cleanup_dead_servers: false,
            last_contact_threshold: nanos(DEFAULT_LAST_CONTACT_THRESHOLD),
            max_trailing_logs: MAX_TRAILING_LOGS,
            min_quorum: 0,
            server_stabilization_time: nanos(self.server_stabilization_time),
            enable_redundancy_zones: false,
            disable_upgrade_migration: false,
            enable_custom_upgrades: false,
            create_index: 0,
            modify_index: 0,
        }
    }
}

impl Default for Autopilot {
    fn default() -> Self {
        Autopilot {
            server_stabilization_time: DEFAULT_STABILIZATION,
        }
    }
}

impl Cluster {
    /// The autopilot configuration in force: the replicated one, or,
    /// until a leader wrote it, the one this server's leader duty would
    /// write.
    pub fn autopilot_config(&self) -> AutopilotConfig {
        let applied = self.raft.shared.read();
        match applied.state.autopilot_config() {
            Some(c) => c.clone(),
            None => self.autopilot.config(),
        }
    }

    /// Whether the leader's replication to `id` is within `max_trailing`
    /// entries of its own log.
    fn caught_up(&self, id: NodeId, max_trailing: u64) -> bool {
        let m = self.raft.raft.metrics();
        let m = m.borrow();
        let last = m.last_log_index.unwrap_or(0);
        let matched = m
            .replication
            .as_ref()
            .and_then(|r| r.get(&id).copied().flatten())
            .map(|l| l.index);
        matched.is_some_and(|i| last.saturating_sub(i) <= max_trailing)
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
    if !write_config(&cluster, &mut stop).await {
        return;
    }
    // Since when each learner has been healthy without a break, as this
    // term's leader saw it.
    let mut healthy_since: BTreeMap<NodeId, Instant> = BTreeMap::new();
    loop {
        let config = cluster.autopilot_config();
        let wanted = Duration::from_nanos(config.server_stabilization_time);
        let learners = cluster.learners();
        healthy_since.retain(|id, _| learners.iter().any(|(l, _)| l == id));
        let checks = learners.iter().map(|(id, addr)| {
            let cluster = &cluster;
            async move {
                let healthy = cluster.caught_up(*id, config.max_trailing_logs)
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

/// Store this server's `autopilot` block as the configuration while the
/// state has none; a failed write is tried again each second while the
/// term lasts. `false` when told to stop first.
async fn write_config(cluster: &Cluster, stop: &mut watch::Receiver<bool>) -> bool {
    let missing = || {
        cluster
            .raft
            .shared
            .read()
            .state
            .autopilot_config()
            .is_none()
    };
    while missing() {
        let cmd = Command::AutopilotConfigSet(AutopilotConfigSet {
            config: cluster.autopilot.config(),
            condition: SetCondition::Absent,
            now: crate::clock::unix_nanos(),
        });
        let written = tokio::select! {
            _ = stop.wait_for(|s| *s) => return false,
            written = cluster.raft.write(cmd) => written,
        };
        let failed = match written {
            Ok(out) => out.result.err().map(|e| e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        // Refused because another write got there first: done.
        if let Some(e) = failed.filter(|_| missing()) {
            tracing::warn!(error = %e, "writing the autopilot configuration failed; trying again");
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return false,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
    true
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
