//! Deployments (nomad/structs/deployment.go): one per job version of a
//! service job, tracking each task group's rollout, and the bodies of the
//! `/v1/deployment/*` write endpoints (nomad/structs/structs.go,
//! `DeploymentPromoteRequest`, `DeploymentUpdateResponse`, …).

use serde::{Deserialize, Serialize};

use crate::Nanos;

/// Nomad's deployment statuses (`structs.DeploymentStatus*`).
pub mod deployment_status {
    pub const RUNNING: &str = "running";
    pub const PAUSED: &str = "paused";
    pub const FAILED: &str = "failed";
    pub const SUCCESSFUL: &str = "successful";
    pub const CANCELLED: &str = "cancelled";
    pub const INITIALIZING: &str = "initializing";
    pub const PENDING: &str = "pending";
    pub const BLOCKED: &str = "blocked";
    pub const UNBLOCKING: &str = "unblocking";
}

/// Nomad's status descriptions (`structs.DeploymentStatusDescription*`).
pub mod deployment_description {
    pub const RUNNING: &str = "Deployment is running";
    pub const RUNNING_NEEDS_PROMOTION: &str = "Deployment is running but requires manual promotion";
    pub const RUNNING_AUTO_PROMOTION: &str = "Deployment is running pending automatic promotion";
    pub const PAUSED: &str = "Deployment is paused";
    pub const SUCCESSFUL: &str = "Deployment completed successfully";
    pub const STOPPED_JOB: &str = "Cancelled because job is stopped";
    pub const NEWER_JOB: &str = "Cancelled due to newer version of job";
    pub const FAILED_ALLOCATIONS: &str = "Failed due to unhealthy allocations";
    pub const PROGRESS_DEADLINE: &str = "Failed due to progress deadline";
    pub const FAILED_BY_USER: &str = "Deployment marked as failed";
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Deployment {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Namespace")]
    pub namespace: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    #[serde(rename = "JobVersion")]
    pub job_version: u64,
    /// The job's `ModifyIndex` when the deployment was made.
    #[serde(rename = "JobModifyIndex")]
    pub job_modify_index: u64,
    /// The job's `JobModifyIndex` (its last spec change).
    #[serde(rename = "JobSpecModifyIndex")]
    pub job_spec_modify_index: u64,
    /// Tells the deployments of a job purged and registered again apart.
    #[serde(rename = "JobCreateIndex")]
    pub job_create_index: u64,
    #[serde(rename = "IsMultiregion")]
    pub is_multiregion: bool,
    /// A sorted `Vec` rather than a `BTreeMap`: a deployment almost
    /// always has one group, and a one-entry map's node is 1.4 KB, per
    /// deployment, of which every blocked service job has one.
    #[serde(rename = "TaskGroups", deserialize_with = "crate::null_default")]
    pub task_groups: crate::SmallMap<DeploymentState>,
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "StatusDescription")]
    pub status_description: String,
    #[serde(rename = "EvalPriority")]
    pub eval_priority: i32,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
    /// Unix nanoseconds.
    #[serde(rename = "CreateTime")]
    pub create_time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "ModifyTime")]
    pub modify_time: i64,
}

impl Deployment {
    /// Nomad `Deployment.Active`: not yet successful, failed or cancelled.
    pub fn active(&self) -> bool {
        use deployment_status::*;
        matches!(
            self.status.as_str(),
            RUNNING | PAUSED | BLOCKED | UNBLOCKING | INITIALIZING | PENDING
        )
    }

    /// Nomad `Deployment.RequiresPromotion`: running, with a group whose
    /// canaries are not promoted yet.
    pub fn requires_promotion(&self) -> bool {
        self.status == deployment_status::RUNNING
            && self
                .task_groups
                .values()
                .any(|g| g.desired_canaries > 0 && !g.promoted)
    }

    /// Nomad `Deployment.HasPlacedCanaries`.
    pub fn has_placed_canaries(&self) -> bool {
        self.task_groups
            .values()
            .any(|g| !g.placed_canaries.is_empty())
    }
}

/// One task group's part of a deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentState {
    #[serde(rename = "AutoRevert")]
    pub auto_revert: bool,
    #[serde(rename = "AutoPromote")]
    pub auto_promote: bool,
    #[serde(rename = "ProgressDeadline")]
    pub progress_deadline: Nanos,
    /// Unix nanoseconds; `None` (Go's zero time) until the first placement.
    #[serde(rename = "RequireProgressBy", with = "crate::time::rfc3339_opt")]
    pub require_progress_by: Option<i64>,
    #[serde(rename = "Promoted")]
    pub promoted: bool,
    /// The IDs of the canaries placed; `null` when none, as Nomad's nil
    /// slice.
    #[serde(
        rename = "PlacedCanaries",
        deserialize_with = "crate::null_default",
        serialize_with = "crate::empty_as_null"
    )]
    pub placed_canaries: Vec<String>,
    #[serde(rename = "DesiredCanaries")]
    pub desired_canaries: i32,
    #[serde(rename = "DesiredTotal")]
    pub desired_total: i32,
    #[serde(rename = "PlacedAllocs")]
    pub placed_allocs: i32,
    #[serde(rename = "HealthyAllocs")]
    pub healthy_allocs: i32,
    #[serde(rename = "UnhealthyAllocs")]
    pub unhealthy_allocs: i32,
}

/// A status change of a deployment (Nomad `DeploymentStatusUpdate`), as a
/// plan or the deployment watcher writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentStatusUpdate {
    #[serde(rename = "DeploymentID")]
    pub deployment_id: String,
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "StatusDescription")]
    pub status_description: String,
}

/// `POST /v1/deployment/promote/:id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentPromoteRequest {
    #[serde(rename = "DeploymentID")]
    pub deployment_id: String,
    #[serde(rename = "All")]
    pub all: bool,
    #[serde(rename = "Groups", deserialize_with = "crate::null_default")]
    pub groups: Vec<String>,
}

/// `POST /v1/deployment/pause/:id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentPauseRequest {
    #[serde(rename = "DeploymentID")]
    pub deployment_id: String,
    #[serde(rename = "Pause")]
    pub pause: bool,
}

/// `POST /v1/deployment/allocation-health/:id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentAllocHealthRequest {
    #[serde(rename = "DeploymentID")]
    pub deployment_id: String,
    #[serde(
        rename = "HealthyAllocationIDs",
        deserialize_with = "crate::null_default"
    )]
    pub healthy_allocation_ids: Vec<String>,
    /// Also read as `UnHealthyAllocationIDs`, as python-nomad spells it:
    /// Nomad's Go decoder matches field names case-insensitively.
    #[serde(
        rename = "UnhealthyAllocationIDs",
        alias = "UnHealthyAllocationIDs",
        deserialize_with = "crate::null_default"
    )]
    pub unhealthy_allocation_ids: Vec<String>,
}

/// What the deployment write endpoints answer (Nomad
/// `DeploymentUpdateResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentUpdateResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    #[serde(rename = "EvalCreateIndex")]
    pub eval_create_index: u64,
    #[serde(rename = "DeploymentModifyIndex")]
    pub deployment_modify_index: u64,
    /// Set when a failure reverted the job to this version.
    #[serde(rename = "RevertedJobVersion")]
    pub reverted_job_version: Option<u64>,
    #[serde(rename = "Index")]
    pub index: u64,
}
