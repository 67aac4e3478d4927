//! Node pools (nomad/structs/node_pool.go `NodePool`): named sets of client
//! nodes. Every node is in exactly one pool; `all` and `default` always
//! exist.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The built-in pool that holds every node (Nomad's `NodePoolAll`).
pub const NODE_POOL_ALL: &str = "all";
/// The built-in pool of nodes that name none (Nomad's `NodePoolDefault`).
pub const NODE_POOL_DEFAULT: &str = "default";
/// Nomad's `NodePoolAllDescription`.
pub const NODE_POOL_ALL_DESCRIPTION: &str = "Node pool with all nodes in the cluster.";
/// Nomad's `NodePoolDefaultDescription`.
pub const NODE_POOL_DEFAULT_DESCRIPTION: &str = "Default node pool.";

/// One pool as `GET /v1/node/pools` and `GET /v1/node/pool/:name` serve it.
/// `Meta` and `SchedulerConfiguration` are `null` when unset, as Go's nil map
/// and nil pointer are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodePool {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "Meta")]
    pub meta: Option<BTreeMap<String, String>>,
    #[serde(rename = "SchedulerConfiguration")]
    pub scheduler_configuration: Option<NodePoolSchedulerConfiguration>,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
}

/// A pool's overrides of the cluster's scheduler configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodePoolSchedulerConfiguration {
    #[serde(rename = "SchedulerAlgorithm")]
    pub scheduler_algorithm: String,
    #[serde(rename = "MemoryOversubscriptionEnabled")]
    pub memory_oversubscription_enabled: Option<bool>,
}

impl NodePool {
    /// A pool with nothing set but its name and indexes.
    pub fn named(name: &str, description: &str, index: u64) -> NodePool {
        NodePool {
            name: name.to_string(),
            description: description.to_string(),
            meta: None,
            scheduler_configuration: None,
            create_index: index,
            modify_index: index,
        }
    }

    /// Whether this is `all` or `default`, which always exist and never change.
    pub fn is_built_in(name: &str) -> bool {
        name == NODE_POOL_ALL || name == NODE_POOL_DEFAULT
    }
}
