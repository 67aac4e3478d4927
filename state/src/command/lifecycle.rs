use drover_api::{JobSubmission, ScalingEvent};
use serde::{Deserialize, Serialize};

use super::JobRegister;

/// Set the `Stable` flag of one version of a job (Nomad
/// `JobStabilityRequest`): in the versions table, and on the job when it
/// is the current version. No new version; the job's `JobModifyIndex`
/// stays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStability {
    pub namespace: String,
    pub job_id: String,
    pub version: u64,
    pub stable: bool,
    #[serde(default)]
    pub now: i64,
}

/// Record a scaling event of one task group and, for a count change, the
/// new job version and its evaluation in the same entry (Nomad writes them
/// as `JobRegisterRequest` and `ScalingEventRequest`; one entry here, so a
/// refused register records no event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingEventRegister {
    pub namespace: String,
    pub job_id: String,
    pub task_group: String,
    /// Stamped by the handler (time, counts, eval ID); `CreateIndex` is
    /// set at apply.
    pub event: ScalingEvent,
    /// The job with the group's new count, and its evaluation.
    pub register: Option<JobRegister>,
    #[serde(default)]
    pub now: i64,
}

/// A job register that carries the source the user submitted (Nomad 1.6+
/// `JobRegisterRequest.Submission`): applied as the register, then the
/// submission is kept with the version it made. The handler drops a source
/// over the size limit before it gets here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSubmit {
    pub register: JobRegister,
    pub submission: JobSubmission,
}
