use serde::{Deserialize, Serialize};

/// The cluster's identity (Nomad's `ClusterMetadata`, which the first
/// leader writes once, nomad/leader.go `generateClusterID`): a random ID
/// that every server's data directory is tied to, and when it was made.
/// The first write wins and a later one with another ID is refused, so
/// every server holds the same; an operator snapshot restore replaces the
/// tables and keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMetadata {
    pub cluster_id: String,
    #[serde(default)]
    pub create_time: i64,
}
