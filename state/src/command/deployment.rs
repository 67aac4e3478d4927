//! Deployment writes (nomad/structs/structs.go: `DeploymentStatusUpdateRequest`,
//! `ApplyDeploymentPromoteRequest`, `ApplyDeploymentAllocHealthRequest`,
//! `DeploymentDeleteRequest`). The handler or the deployment watcher stamps
//! the eval, the time and any reverted job; apply only checks and writes.

use drover_api::{DeploymentStatusUpdate, Evaluation, Job};
use serde::{Deserialize, Serialize};

/// Change a deployment's status (pause, resume, fail, success), with an
/// eval to move the job on and, on a failure with `auto_revert`, the older
/// job version to register again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentStatusSet {
    pub update: DeploymentStatusUpdate,
    #[serde(default)]
    pub job: Option<Job>,
    #[serde(default)]
    pub eval: Option<Evaluation>,
    #[serde(default)]
    pub now: i64,
}

/// Promote the canaries of some groups (`all`: every group). Refused unless
/// each promoted group has as many healthy canaries as it wants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentPromote {
    pub deployment_id: String,
    pub all: bool,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub eval: Option<Evaluation>,
    #[serde(default)]
    pub now: i64,
}

/// Set the deployment health of allocations by hand or from the watcher,
/// optionally with a status change (a failure), a reverted job and an eval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentAllocHealth {
    pub deployment_id: String,
    #[serde(default)]
    pub healthy: Vec<String>,
    #[serde(default)]
    pub unhealthy: Vec<String>,
    #[serde(default)]
    pub update: Option<DeploymentStatusUpdate>,
    #[serde(default)]
    pub job: Option<Job>,
    #[serde(default)]
    pub eval: Option<Evaluation>,
    #[serde(default)]
    pub now: i64,
}

/// Delete deployments (garbage collection).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentDelete {
    pub ids: Vec<String>,
    #[serde(default)]
    pub now: i64,
}
