use drover_api::{AllocClientStatus, Allocation, Deployment, DeploymentStatusUpdate, Evaluation};
use serde::{Deserialize, Serialize};

/// A committed scheduler plan (Nomad's `ApplyPlanResultsRequest`): what the
/// plan applier accepted after re-checking each node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyPlanResults {
    pub namespace: String,
    pub job_id: String,
    /// The job version the scheduler planned against; placed allocations run it.
    pub job_version: u64,
    /// New allocations, or in-place updates of existing ones. Their `Job`
    /// field is ignored: allocations reference the stored job version.
    pub placed: Vec<Allocation>,
    pub stopped: Vec<AllocStopped>,
    pub preempted: Vec<AllocPreempted>,
    /// The eval that produced the plan, with its final status, plus any
    /// follow-up evals, upserted in the same entry.
    pub evals: Vec<Evaluation>,
    /// Failed allocations whose reschedule waits for a follow-up eval
    /// (Nomad's attribute-only updates): only `FollowupEvalID` changes.
    #[serde(default)]
    pub followups: Vec<AllocFollowup>,
    #[serde(default)]
    pub now: i64,
    /// The deployment the plan creates or changes (Nomad's
    /// `ApplyPlanResultsRequest.Deployment`); the counters the allocations
    /// own (placed, healthy, unhealthy, progress deadline) stay as stored.
    #[serde(default)]
    pub deployment: Option<Deployment>,
    /// Status changes of other deployments of the job, such as cancelling
    /// an older version's (`DeploymentUpdates`).
    #[serde(default)]
    pub deployment_updates: Vec<DeploymentStatusUpdate>,
}

/// A diff-only stop, as Nomad normalizes plan stops to keep entries small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocStopped {
    pub id: String,
    pub desired_description: String,
    /// Set when the stop also decides the client state (`lost` on a down node).
    pub client_status: Option<AllocClientStatus>,
    #[serde(default)]
    pub followup_eval_id: String,
}

/// Point an allocation at the eval that will reschedule it later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocFollowup {
    pub id: String,
    pub followup_eval_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocPreempted {
    pub id: String,
    pub preempted_by: String,
    pub desired_description: String,
}
