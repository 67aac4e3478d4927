//! The job lifecycle's wire types: revert, stability, scaling and the
//! submitted source (Nomad api/jobs.go `JobRevertRequest`,
//! `JobStabilityRequest`, `JobSubmission`; api/scaling.go `ScalingPolicy`,
//! `ScalingRequest`; nomad/structs/structs.go `JobScaleStatus`,
//! `ScalingEvent`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A task group's `scaling` block (api/scaling.go `ScalingPolicy`). The
/// optional fields are pointers in Nomad's API, so "absent" is visible:
/// canonicalization makes `Enabled` true, `Min` the group's count and
/// `Type` `horizontal`; a missing `Max` is a validation error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScalingPolicy {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Namespace")]
    pub namespace: String,
    #[serde(rename = "Type")]
    pub policy_type: String,
    /// `Namespace`, `Job` and `Group` of what the policy scales.
    #[serde(rename = "Target", deserialize_with = "crate::null_default")]
    pub target: BTreeMap<String, String>,
    #[serde(rename = "Min")]
    pub min: Option<i64>,
    #[serde(rename = "Max")]
    pub max: Option<i64>,
    /// Free-form, for the autoscaler.
    #[serde(rename = "Policy")]
    pub policy: Option<serde_json::Value>,
    #[serde(rename = "Enabled")]
    pub enabled: Option<bool>,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
}

/// The only scaling policy type a task group has.
pub const SCALING_POLICY_TYPE_HORIZONTAL: &str = "horizontal";

/// What the user submitted for one job version (Nomad 1.6+
/// `JobSubmission`): the HCL or JSON source and the variables it was
/// evaluated with. The server fills `Namespace`, `JobID`, `Version` and
/// `JobModifyIndex`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobSubmission {
    #[serde(rename = "Source")]
    pub source: String,
    /// `hcl2` or `json`.
    #[serde(rename = "Format")]
    pub format: String,
    /// `-var` flags, name to value.
    #[serde(rename = "VariableFlags", deserialize_with = "crate::null_default")]
    pub variable_flags: BTreeMap<String, String>,
    /// The content of `-var-file` files.
    #[serde(rename = "Variables")]
    pub variables: String,
    #[serde(rename = "Namespace")]
    pub namespace: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    #[serde(rename = "Version")]
    pub version: u64,
    #[serde(rename = "JobModifyIndex")]
    pub job_modify_index: u64,
}

impl JobSubmission {
    /// What counts against the server's source size limit (Nomad
    /// nomad/job_endpoint_hooks.go `submissionController`): the source, the
    /// variables file and every variable flag's name and value.
    pub fn size(&self) -> usize {
        self.source.len()
            + self.variables.len()
            + self
                .variable_flags
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

/// `POST /v1/job/:id/revert`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobRevertRequest {
    #[serde(rename = "JobID")]
    pub job_id: String,
    #[serde(rename = "JobVersion")]
    pub job_version: u64,
    /// Check-and-set: revert only while the current version is this one.
    #[serde(rename = "EnforcePriorVersion")]
    pub enforce_prior_version: Option<u64>,
}

/// `POST /v1/job/:id/stable`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobStabilityRequest {
    #[serde(rename = "JobID")]
    pub job_id: String,
    #[serde(rename = "JobVersion")]
    pub job_version: u64,
    #[serde(rename = "Stable")]
    pub stable: bool,
}

/// `POST /v1/job/:id/scale` (api/scaling.go `ScalingRequest`). With a
/// `Count`, the group is scaled; without, only an event is recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScalingRequest {
    #[serde(rename = "Count")]
    pub count: Option<i64>,
    /// `Namespace`, `Job` and `Group`.
    #[serde(rename = "Target", deserialize_with = "crate::null_default")]
    pub target: BTreeMap<String, String>,
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "Error")]
    pub error: bool,
    #[serde(rename = "Meta")]
    pub meta: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(rename = "PolicyOverride")]
    pub policy_override: bool,
    #[serde(rename = "EnforceIndex")]
    pub enforce_index: bool,
    #[serde(rename = "JobModifyIndex")]
    pub job_modify_index: u64,
}

/// One scaling action or report on a task group (structs.ScalingEvent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScalingEvent {
    /// Unix nanoseconds, stamped by the server.
    #[serde(rename = "Time")]
    pub time: i64,
    /// The new count; none for an event that scaled nothing.
    #[serde(rename = "Count")]
    pub count: Option<i64>,
    #[serde(rename = "PreviousCount")]
    pub previous_count: i64,
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "Error")]
    pub error: bool,
    #[serde(rename = "Meta")]
    pub meta: Option<BTreeMap<String, serde_json::Value>>,
    /// The evaluation a count change created.
    #[serde(rename = "EvalID")]
    pub eval_id: Option<String>,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
}

/// How many scaling events a task group keeps, newest first (Nomad
/// structs.JobTrackedScalingEvents).
pub const JOB_TRACKED_SCALING_EVENTS: usize = 20;

/// `GET /v1/job/:id/scale` (structs.JobScaleStatus).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobScaleStatusResponse {
    #[serde(rename = "JobID")]
    pub job_id: String,
    #[serde(rename = "Namespace")]
    pub namespace: String,
    #[serde(rename = "JobCreateIndex")]
    pub job_create_index: u64,
    #[serde(rename = "JobModifyIndex")]
    pub job_modify_index: u64,
    #[serde(rename = "JobStopped")]
    pub job_stopped: bool,
    #[serde(rename = "TaskGroups", deserialize_with = "crate::null_default")]
    pub task_groups: BTreeMap<String, TaskGroupScaleStatus>,
}

/// One group of [`JobScaleStatusResponse`]: what it asks for, what is
/// placed and running, and its scaling events, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskGroupScaleStatus {
    #[serde(rename = "Desired")]
    pub desired: i64,
    #[serde(rename = "Placed")]
    pub placed: i64,
    #[serde(rename = "Running")]
    pub running: i64,
    #[serde(rename = "Healthy")]
    pub healthy: i64,
    #[serde(rename = "Unhealthy")]
    pub unhealthy: i64,
    #[serde(rename = "Events", deserialize_with = "crate::null_default")]
    pub events: Vec<ScalingEvent>,
}

/// One entry of `GET /v1/scaling/policies` (structs.ScalingPolicyListStub).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScalingPolicyListStub {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Enabled")]
    pub enabled: bool,
    #[serde(rename = "Type")]
    pub policy_type: String,
    #[serde(rename = "Target", deserialize_with = "crate::null_default")]
    pub target: BTreeMap<String, String>,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
}
