//! Handing leadership to another voter, as hashicorp/raft's
//! `LeadershipTransfer` does for Nomad's `nomad operator raft
//! transfer-leadership` (nomad/operator_endpoint.go
//! `TransferLeadershipToPeer`).
//!
//! openraft 0.9 has no transfer of its own, and a follower refuses every
//! vote while its lease on a live leader holds, so the leader makes way:
//! 1. new writes wait ([`crate::raft::node::RaftHandle::handing_over`]), so the
//!    log stops growing;
//! 2. the leader waits until the target holds its whole log;
//! 3. it stops its heartbeats, and sends the target a
//!    [`TimeoutNow`](crate::raft::network::TimeoutNow);
//! 4. the target waits until its lease on the leader has run out (the
//!    other followers' leases run out with it) and stands for election;
//!    with the longest log it wins, and the old leader steps down on the
//!    higher term.
//!
//! Heartbeats resume and writes are let through whatever the outcome;
//! the writes that waited then go to whichever server leads. The whole
//! hand-over takes about a lease and an election: under a second on
//! loopback.

use std::time::Duration;

use tokio::time::Instant;

use crate::raft::network::{TimeoutNow, TIMEOUT_NOW_PATH};
use crate::raft::node::RaftHandle;
use crate::raft::NodeId;

/// How long a hand-over may take before it is given up.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Hands this server's leadership to voter `target` at RPC address `addr`.
/// Returns once `target` leads; an error says which step failed.
pub async fn hand_over(raft: &RaftHandle, target: NodeId, addr: &str) -> Result<(), String> {
    let term = {
        let m = raft.raft.metrics();
        let m = m.borrow();
        if m.current_leader != Some(raft.node_id) {
            return Err("this server no longer leads".into());
        }
        m.current_term
    };
    raft.handing_over.send_replace(true);
    let result = steps(raft, target, addr, term).await;
    raft.raft.runtime_config().heartbeat(true);
    raft.handing_over.send_replace(false);
    result
}

async fn steps(raft: &RaftHandle, target: NodeId, addr: &str, term: u64) -> Result<(), String> {
    let deadline = Instant::now() + TIMEOUT;
    let left = || deadline.saturating_duration_since(Instant::now());
    raft.raft
        .wait(Some(left()))
        .metrics(
            |m| {
                let matched = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(&target).copied().flatten())
                    .map(|l| l.index);
                matched.is_some() && matched >= m.last_log_index
            },
            "the target holds the whole log",
        )
        .await
        .map_err(|_| format!("server {target} did not catch up with the log within {TIMEOUT:?}"))?;
    raft.raft.runtime_config().heartbeat(false);
    let stood: bool = raft
        .rpc
        .call(
            addr,
            TIMEOUT_NOW_PATH,
            &TimeoutNow {
                leader: raft.node_id,
                term,
            },
            left(),
        )
        .await
        .map_err(|e| format!("asking server {target} to stand: {e}"))?;
    if !stood {
        return Err(format!(
            "server {target} did not stand for election: it follows another leader"
        ));
    }
    let m = raft
        .raft
        .wait(Some(left()))
        .metrics(
            |m| m.current_leader.is_some_and(|l| l != raft.node_id),
            "another server leads",
        )
        .await
        .map_err(|_| format!("server {target} was not elected within {TIMEOUT:?}"))?;
    match m.current_leader {
        Some(l) if l == target => Ok(()),
        other => Err(format!(
            "server {} was elected instead of {target}",
            other.map_or_else(|| "none".to_string(), |l| l.to_string())
        )),
    }
}
