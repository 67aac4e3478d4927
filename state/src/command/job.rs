use drover_api::{Evaluation, Job};
use serde::{Deserialize, Serialize};

/// Register (or update) a job and, for schedulable jobs, create its
/// evaluation in the same entry, as Nomad's `JobRegisterRequest.Eval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRegister {
    /// The full job, validated and defaulted by the handler; `SubmitTime` set.
    pub job: Job,
    pub eval: Option<Evaluation>,
    /// Check-and-set: apply only if the stored job's `JobModifyIndex` equals
    /// this (0 = the job must not exist). Checked again at apply time so two
    /// racing writers cannot both win.
    #[serde(default)]
    pub enforce_index: Option<u64>,
    #[serde(default)]
    pub now: i64,
}

/// Stop a job (a new, stopped version) or, with `purge`, delete it and its
/// versions and summary. Allocations and evaluations stay until collected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDeregister {
    pub namespace: String,
    pub job_id: String,
    pub purge: bool,
    /// Mark the job's allocations to stop without their group's and tasks'
    /// `shutdown_delay` (Nomad's `NoShutdownDelay` desired transition, set
    /// by the FSM's `handleJobDeregister`).
    #[serde(default)]
    pub no_shutdown_delay: bool,
    pub eval: Option<Evaluation>,
    #[serde(default)]
    pub now: i64,
}
