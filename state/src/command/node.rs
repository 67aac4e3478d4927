use std::collections::BTreeMap;

use drover_api::{DrainStrategy, Evaluation, Node, NodeEvent, NodeStatus, SchedulingEligibility};
use serde::{Deserialize, Serialize};

/// Register or re-register a node. A re-registration keeps the server-owned
/// fields (drain, eligibility, events) unless the node is new.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRegister {
    pub node: Node,
    #[serde(default)]
    pub evals: Vec<Evaluation>,
    #[serde(default)]
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeDeregister {
    pub node_ids: Vec<String>,
    #[serde(default)]
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeUpdateStatus {
    pub node_id: String,
    pub status: NodeStatus,
    #[serde(default)]
    pub event: Option<NodeEvent>,
    /// Evals for the jobs with allocations on the node (down → reschedule).
    #[serde(default)]
    pub evals: Vec<Evaluation>,
    #[serde(default)]
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeUpdateEligibility {
    pub node_id: String,
    pub eligibility: SchedulingEligibility,
    #[serde(default)]
    pub event: Option<NodeEvent>,
    #[serde(default)]
    pub evals: Vec<Evaluation>,
    #[serde(default)]
    pub now: i64,
}

/// Start (`Some`) or cancel (`None`) a drain. A drain makes the node
/// ineligible; cancelling restores eligibility only with `mark_eligible`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeUpdateDrain {
    pub node_id: String,
    pub drain_strategy: Option<DrainStrategy>,
    pub mark_eligible: bool,
    #[serde(default)]
    pub event: Option<NodeEvent>,
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    #[serde(default)]
    pub evals: Vec<Evaluation>,
    #[serde(default)]
    pub now: i64,
}
