use std::collections::BTreeMap;

use drover_api::{
    AllocClientStatus, AllocDeploymentStatus, DesiredTransition, Evaluation, SmallMap, TaskState,
};
use serde::{Deserialize, Serialize};

/// Status reports from clients, batched (Nomad's `Node.UpdateAlloc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocClientUpdate {
    pub updates: Vec<AllocClientState>,
    /// Evals created for failed allocations that should be rescheduled.
    #[serde(default)]
    pub evals: Vec<Evaluation>,
    #[serde(default)]
    pub now: i64,
}

/// The client-owned fields of one allocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocClientState {
    pub id: String,
    pub client_status: AllocClientStatus,
    #[serde(default)]
    pub client_description: String,
    #[serde(default)]
    pub task_states: SmallMap<TaskState>,
    #[serde(default)]
    pub deployment_status: Option<AllocDeploymentStatus>,
}

/// Server-side transitions (stop, migrate, reschedule) for many allocations,
/// plus the evals that act on them (Nomad's alloc stop writes one of each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocUpdateDesiredTransition {
    pub transitions: BTreeMap<String, DesiredTransition>,
    #[serde(default)]
    pub evals: Vec<Evaluation>,
    #[serde(default)]
    pub now: i64,
}
