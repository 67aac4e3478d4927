//! `PUT /v1/job/{id}/plan`: what the scheduler would do (Nomad api/jobs.go
//! `JobPlanResponse`, `PlanAnnotations`, `DesiredUpdates`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Per task group: how many allocations a plan places, stops, updates and
/// leaves alone (Nomad `DesiredUpdates`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DesiredUpdates {
    #[serde(rename = "Ignore")]
    pub ignore: u64,
    #[serde(rename = "Place")]
    pub place: u64,
    #[serde(rename = "Migrate")]
    pub migrate: u64,
    #[serde(rename = "Stop")]
    pub stop: u64,
    #[serde(rename = "InPlaceUpdate")]
    pub in_place_update: u64,
    #[serde(rename = "DestructiveUpdate")]
    pub destructive_update: u64,
    #[serde(rename = "Canary")]
    pub canary: u64,
    #[serde(rename = "Preemptions")]
    pub preemptions: u64,
}

/// `PUT /v1/job/:id/plan` (Nomad `JobPlanRequest`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobPlanRequest {
    #[serde(rename = "Job")]
    pub job: Option<crate::Job>,
    /// Whether the response carries a `Diff` against the stored job.
    #[serde(rename = "Diff")]
    pub diff: bool,
    #[serde(rename = "PolicyOverride")]
    pub policy_override: bool,
}

/// What the scheduler would do with a job (Nomad `JobPlanResponse`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobPlanResponse {
    #[serde(rename = "Annotations")]
    pub annotations: Option<PlanAnnotations>,
    /// Per task group: why placements failed.
    #[serde(rename = "FailedTGAllocs")]
    pub failed_tg_allocs: Option<BTreeMap<String, crate::AllocMetric>>,
    /// The stored job's `JobModifyIndex` (0 if new): the value to pass to
    /// `job run -check-index`.
    #[serde(rename = "JobModifyIndex")]
    pub job_modify_index: u64,
    /// Evals a real run would create besides its own (a blocked eval when
    /// placements fail).
    #[serde(rename = "CreatedEvals")]
    pub created_evals: Option<Vec<crate::Evaluation>>,
    #[serde(rename = "Diff")]
    pub diff: Option<JobDiff>,
    /// Unix nanoseconds of the next periodic launch; Go's zero time if none.
    #[serde(rename = "NextPeriodicLaunch", with = "crate::time::rfc3339_opt")]
    pub next_periodic_launch: Option<i64>,
    #[serde(rename = "Warnings")]
    pub warnings: String,
    #[serde(rename = "Index")]
    pub index: u64,
}

/// Nomad `PlanAnnotations`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanAnnotations {
    #[serde(rename = "DesiredTGUpdates")]
    pub desired_tg_updates: BTreeMap<String, DesiredUpdates>,
    #[serde(rename = "PreemptedAllocs")]
    pub preempted_allocs: Option<Vec<crate::AllocListStub>>,
}

/// `Added`, `Deleted`, `Edited` or `None` (Nomad `DiffType`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DiffType {
    #[default]
    None,
    Added,
    Deleted,
    Edited,
}

/// Nomad `JobDiff`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobDiff {
    #[serde(rename = "Type")]
    pub diff_type: DiffType,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Fields")]
    pub fields: Option<Vec<FieldDiff>>,
    #[serde(rename = "Objects")]
    pub objects: Option<Vec<ObjectDiff>>,
    #[serde(rename = "TaskGroups")]
    pub task_groups: Option<Vec<TaskGroupDiff>>,
}

/// Nomad `TaskGroupDiff`; `Updates` counts what the plan does to the group
/// (`create`, `destroy`, `in-place update`, `create/destroy update`,
/// `ignore`, `migrate`, `canary`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskGroupDiff {
    #[serde(rename = "Type")]
    pub diff_type: DiffType,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Fields")]
    pub fields: Option<Vec<FieldDiff>>,
    #[serde(rename = "Objects")]
    pub objects: Option<Vec<ObjectDiff>>,
    #[serde(rename = "Tasks")]
    pub tasks: Option<Vec<TaskDiff>>,
    #[serde(rename = "Updates")]
    pub updates: Option<BTreeMap<String, u64>>,
}

/// Nomad `TaskDiff`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskDiff {
    #[serde(rename = "Type")]
    pub diff_type: DiffType,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Fields")]
    pub fields: Option<Vec<FieldDiff>>,
    #[serde(rename = "Objects")]
    pub objects: Option<Vec<ObjectDiff>>,
    #[serde(rename = "Annotations")]
    pub annotations: Option<Vec<String>>,
}

/// Nomad `ObjectDiff`: a nested object (an update policy, one constraint).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObjectDiff {
    #[serde(rename = "Type")]
    pub diff_type: DiffType,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Fields")]
    pub fields: Option<Vec<FieldDiff>>,
    #[serde(rename = "Objects")]
    pub objects: Option<Vec<ObjectDiff>>,
}

/// Nomad `FieldDiff`: one primitive field, values rendered as strings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FieldDiff {
    #[serde(rename = "Type")]
    pub diff_type: DiffType,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Old")]
    pub old: String,
    #[serde(rename = "New")]
    pub new: String,
    #[serde(rename = "Annotations")]
    pub annotations: Option<Vec<String>>,
}
