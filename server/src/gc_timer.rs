//! The leader's timed garbage collection of deployments, a duty of each
//! term (Nomad nomad/leader.go `schedulePeriodic`, which enqueues a
//! `deployment-gc` core job every `DeploymentGCInterval`, and
//! core_sched.go `deploymentGC`, which collects the terminal deployments
//! older than `deployment_gc_threshold`).
//!
//! Nomad runs the collection as an evaluation of its core scheduler; here
//! the duty selects with [`crate::gc::deployments`] on the applied state
//! and writes one `DeploymentDelete`, which apply re-checks (a deployment
//! already gone is skipped there). Evaluations, jobs and nodes are still
//! collected only by a forced GC (`PUT /v1/system/gc`).

use std::time::Duration;

use drover_state::command::DeploymentDelete;
use drover_state::Command;
use tokio::sync::watch;

use crate::clock::unix_nanos;
use crate::raft::node::RaftHandle;

/// The server's garbage-collection timing (Nomad's `server` block and
/// nomad/config.go defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcConfig {
    /// How long a deployment must have been terminal (since its last
    /// change) before it is collected (`deployment_gc_threshold`, 1h).
    pub deployment_gc_threshold: Duration,
    /// How often the leader looks (Nomad's `DeploymentGCInterval`, 5m,
    /// which Nomad's agent configuration does not expose; Drover reads
    /// `deployment_gc_interval` from the `server` block).
    pub deployment_gc_interval: Duration,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            deployment_gc_threshold: Duration::from_secs(3600),
            deployment_gc_interval: Duration::from_secs(300),
        }
    }
}

/// Collect old terminal deployments every `deployment_gc_interval` until
/// `stop`; the first look is one interval after the term starts, as
/// Nomad's ticker.
pub async fn run(raft: RaftHandle, cfg: GcConfig, mut stop: watch::Receiver<bool>) {
    let threshold = i64::try_from(cfg.deployment_gc_threshold.as_nanos()).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + cfg.deployment_gc_interval,
        cfg.deployment_gc_interval,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let now = unix_nanos();
        let ids = crate::gc::deployments(&raft.shared.read().state, now.saturating_sub(threshold));
        if ids.is_empty() {
            continue;
        }
        let n = ids.len();
        let cmd = Command::DeploymentDelete(DeploymentDelete {
            ids: ids.into_iter().collect(),
            now,
        });
        match raft.write_background(cmd).await {
            Ok(out) => match out.result {
                Ok(()) => tracing::debug!(deployments = n, "deployment GC collected"),
                Err(e) => tracing::debug!(error = %e, "deployment GC not applied"),
            },
            Err(e) => tracing::warn!(error = %e, "deployment GC write failed"),
        }
    }
}
