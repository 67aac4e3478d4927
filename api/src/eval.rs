//! Evaluations: the unit of scheduling work (nomad/structs/eval.go).

use serde::{Deserialize, Serialize};

use crate::{AllocMetric, Nanos};

/// Nomad's eval lifecycle (contributing/architecture-eval-states.md).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum EvalStatus {
    Blocked,
    #[default]
    Pending,
    Complete,
    Failed,
    Canceled,
}

impl EvalStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Complete | Self::Failed | Self::Canceled)
    }
}

/// Why an evaluation exists. Nomad's `TriggeredBy` strings.
pub mod trigger {
    pub const JOB_REGISTER: &str = "job-register";
    pub const JOB_DEREGISTER: &str = "job-deregister";
    pub const NODE_UPDATE: &str = "node-update";
    pub const NODE_DRAIN: &str = "node-drain";
    pub const ALLOC_STOP: &str = "alloc-stop";
    pub const ALLOC_FAILURE: &str = "alloc-failure";
    pub const QUEUED_ALLOCS: &str = "queued-allocs";
    pub const RETRY_FAILED_ALLOC: &str = "alloc-failure";
    pub const MAX_PLAN_ATTEMPTS: &str = "max-plan-attempts";
    pub const FAILED_FOLLOW_UP: &str = "failed-follow-up";
    pub const PERIODIC_JOB: &str = "periodic-job";
    pub const JOB_SCALING: &str = "job-scaling";
    pub const DEPLOYMENT_WATCHER: &str = "deployment-watcher";
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Evaluation {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Namespace")]
    pub namespace: String,
    #[serde(rename = "Priority")]
    pub priority: i32,
    /// The scheduler that processes it: the job's type (`service`, `batch`,
    /// `system`, `sysbatch`), or `_core` for the leader's own collection work.
    /// A string, not `JobType`, because `_core` is not a job type.
    #[serde(rename = "Type")]
    pub eval_type: String,
    #[serde(rename = "TriggeredBy")]
    pub triggered_by: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    #[serde(rename = "JobModifyIndex")]
    pub job_modify_index: u64,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    #[serde(rename = "NodeModifyIndex")]
    pub node_modify_index: u64,
    #[serde(rename = "DeploymentID")]
    pub deployment_id: String,
    #[serde(rename = "Status")]
    pub status: EvalStatus,
    #[serde(rename = "StatusDescription")]
    pub status_description: String,
    #[serde(rename = "Wait")]
    pub wait: Nanos,
    /// Unix nanoseconds; `None` when unset. A Go `time.Time` on the wire
    /// (RFC 3339, Go's zero time when unset).
    #[serde(rename = "WaitUntil", with = "crate::time::rfc3339_opt")]
    pub wait_until: Option<i64>,
    #[serde(rename = "NextEval")]
    pub next_eval: String,
    #[serde(rename = "PreviousEval")]
    pub previous_eval: String,
    #[serde(rename = "BlockedEval")]
    pub blocked_eval: String,
    #[serde(rename = "RelatedEvals")]
    pub related_evals: Option<Vec<serde_json::Value>>,
    /// A sorted `Vec`, not a `BTreeMap`: an eval names a few task groups,
    /// and a `BTreeMap` node has room for eleven `AllocMetric`s (about 4
    /// KB per blocked eval). The same JSON either way.
    #[serde(rename = "FailedTGAllocs", deserialize_with = "crate::null_default")]
    pub failed_tg_allocs: crate::SmallMap<AllocMetric>,
    #[serde(rename = "ClassEligibility", deserialize_with = "crate::null_default")]
    pub class_eligibility: crate::SmallMap<bool>,
    #[serde(rename = "QuotaLimitReached")]
    pub quota_limit_reached: String,
    #[serde(rename = "EscapedComputedClass")]
    pub escaped_computed_class: bool,
    #[serde(rename = "AnnotatePlan")]
    pub annotate_plan: bool,
    #[serde(rename = "QueuedAllocations", deserialize_with = "crate::null_default")]
    pub queued_allocations: crate::SmallMap<i64>,
    #[serde(rename = "LeaderACL")]
    pub leader_acl: String,
    #[serde(rename = "SnapshotIndex")]
    pub snapshot_index: u64,
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
