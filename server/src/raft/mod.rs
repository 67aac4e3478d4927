//! Raft: openraft 0.9 with Drover's own write-ahead log ([`wal`]) and a
//! file for snapshots.
//!
//! Every change to cluster state is a [`drover_state::Command`] written with
//! `client_write` (encoded once, as a [`payload::Payload`]) and applied by
//! [`state_machine::StateMachineStore`] on every server. Servers talk Raft
//! over HTTP/2 on their RPC port ([`network`] sends, [`rpc`] receives); a
//! member's RPC address is its `BasicNode`'s `addr` in the membership.

// openraft's storage traits fix the error type (`StorageError`, ~224 bytes);
// boxing it here would only add conversions at every trait boundary.
#![allow(clippy::result_large_err)]

pub mod log_store;
pub mod network;
pub mod node;
pub mod payload;
pub mod propose;
pub mod rpc;
pub mod snapshot_file;
pub mod snapshot_policy;
pub mod state_machine;
pub mod wal;

use std::io::Cursor;

use drover_state::ApplyError;
use serde::{Deserialize, Serialize};

pub type NodeId = u64;
pub type Node = openraft::BasicNode;

openraft::declare_raft_types!(
    /// Drover's Raft types: commands in, write outcomes out.
    pub TypeConfig:
        D = payload::Payload,
        R = WriteOutcome,
        NodeId = NodeId,
        Node = Node,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
/// Raft's vote, leader and membership: changes with those only.
pub type ServerMetrics = openraft::metrics::RaftServerMetrics<NodeId, Node>;

/// What applying one log entry gave: its index and whether the state
/// machine accepted it. A rejected command changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOutcome {
    pub index: u64,
    pub result: Result<(), ApplyError>,
    /// For an entry holding a `Command::Batch`, each command's result.
    #[serde(default)]
    pub batch: Vec<Result<(), ApplyError>>,
}

/// Wrap any error as a storage read/write failure.
pub(crate) fn io_err<E: std::error::Error + 'static>(write: bool, e: &E) -> StorageError {
    let io = if write {
        openraft::StorageIOError::write(e)
    } else {
        openraft::StorageIOError::read(e)
    };
    StorageError::from(io)
}
