//! Allocations: one placement of a task group on a node, as Nomad's
//! `structs.Allocation` serializes it, with its list stub, placement metrics
//! and the per-task states the client reports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Job, JobType, Nanos, NetworkResource, Resources, SmallMap};

/// What the servers want to happen to an allocation.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AllocDesiredStatus {
    #[default]
    Run,
    Stop,
    Evict,
}

/// What the client reports. `complete`, `failed` and `lost` are terminal
/// (nomad/structs/alloc.go `ClientTerminalStatus`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AllocClientStatus {
    #[default]
    Pending,
    Running,
    Complete,
    Failed,
    Lost,
    Unknown,
}

impl AllocClientStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Complete | Self::Failed | Self::Lost)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Allocation {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Namespace")]
    pub namespace: String,
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// `<job>.<group>[<index>]`, as Nomad names allocations.
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    #[serde(rename = "NodeName")]
    pub node_name: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// The job version this allocation runs. Stripped from event payloads.
    #[serde(rename = "Job")]
    pub job: Option<Box<Job>>,
    #[serde(rename = "TaskGroup")]
    pub task_group: String,
    #[serde(rename = "Resources")]
    pub resources: Option<Resources>,
    #[serde(rename = "AllocatedResources")]
    pub allocated_resources: Option<AllocatedResources>,
    #[serde(rename = "Metrics")]
    pub metrics: Option<AllocMetric>,
    #[serde(rename = "DesiredStatus")]
    pub desired_status: AllocDesiredStatus,
    #[serde(rename = "DesiredDescription")]
    pub desired_description: String,
    #[serde(rename = "DesiredTransition")]
    pub desired_transition: DesiredTransition,
    #[serde(rename = "ClientStatus")]
    pub client_status: AllocClientStatus,
    #[serde(rename = "ClientDescription")]
    pub client_description: String,
    #[serde(rename = "TaskStates", deserialize_with = "crate::null_default")]
    pub task_states: SmallMap<TaskState>,
    #[serde(rename = "DeploymentID")]
    pub deployment_id: String,
    #[serde(rename = "DeploymentStatus")]
    pub deployment_status: Option<AllocDeploymentStatus>,
    #[serde(rename = "RescheduleTracker")]
    pub reschedule_tracker: Option<RescheduleTracker>,
    #[serde(rename = "PreviousAllocation")]
    pub previous_allocation: String,
    #[serde(rename = "NextAllocation")]
    pub next_allocation: String,
    #[serde(rename = "FollowupEvalID")]
    pub followup_eval_id: String,
    #[serde(
        rename = "PreemptedAllocations",
        deserialize_with = "crate::null_default"
    )]
    pub preempted_allocations: Vec<String>,
    #[serde(rename = "PreemptedByAllocation")]
    pub preempted_by_allocation: String,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
    /// Bumped only by server-side changes (placement, desired status), not by
    /// client status updates.
    #[serde(rename = "AllocModifyIndex")]
    pub alloc_modify_index: u64,
    /// Unix nanoseconds.
    #[serde(rename = "CreateTime")]
    pub create_time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "ModifyTime")]
    pub modify_time: i64,
}

impl Allocation {
    /// Terminal by either side: the servers stopped it or the client finished
    /// it (nomad/structs/alloc.go `TerminalStatus`).
    pub fn is_terminal(&self) -> bool {
        self.desired_status != AllocDesiredStatus::Run || self.client_status.is_terminal()
    }

    /// `?resources=false&task_states=true`-shaped stub, as `GET /v1/allocations` returns.
    pub fn stub(&self, with_resources: bool, with_task_states: bool) -> AllocListStub {
        AllocListStub {
            id: self.id.clone(),
            eval_id: self.eval_id.clone(),
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            node_id: self.node_id.clone(),
            node_name: self.node_name.clone(),
            job_id: self.job_id.clone(),
            job_type: self.job.as_ref().map(|j| j.job_type).unwrap_or_default(),
            job_version: self.job.as_ref().map(|j| j.version).unwrap_or_default(),
            task_group: self.task_group.clone(),
            allocated_resources: if with_resources {
                self.allocated_resources.clone()
            } else {
                None
            },
            desired_status: self.desired_status,
            desired_description: self.desired_description.clone(),
            client_status: self.client_status,
            client_description: self.client_description.clone(),
            desired_transition: self.desired_transition.clone(),
            task_states: if with_task_states {
                Some(self.task_states.clone())
            } else {
                None
            },
            deployment_status: self.deployment_status.clone(),
            follow_up_eval_id: self.followup_eval_id.clone(),
            next_allocation: self.next_allocation.clone(),
            reschedule_tracker: self.reschedule_tracker.clone(),
            preempted_allocations: self.preempted_allocations.clone(),
            preempted_by_allocation: self.preempted_by_allocation.clone(),
            create_index: self.create_index,
            modify_index: self.modify_index,
            create_time: self.create_time,
            modify_time: self.modify_time,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocListStub {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Namespace")]
    pub namespace: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    #[serde(rename = "NodeName")]
    pub node_name: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    #[serde(rename = "JobType")]
    pub job_type: JobType,
    #[serde(rename = "JobVersion")]
    pub job_version: u64,
    #[serde(rename = "TaskGroup")]
    pub task_group: String,
    /// Only with `?resources=true`; left out otherwise, as Nomad's
    /// `json:",omitempty"` does.
    #[serde(rename = "AllocatedResources", skip_serializing_if = "Option::is_none")]
    pub allocated_resources: Option<AllocatedResources>,
    #[serde(rename = "DesiredStatus")]
    pub desired_status: AllocDesiredStatus,
    #[serde(rename = "DesiredDescription")]
    pub desired_description: String,
    #[serde(rename = "ClientStatus")]
    pub client_status: AllocClientStatus,
    #[serde(rename = "ClientDescription")]
    pub client_description: String,
    #[serde(rename = "DesiredTransition")]
    pub desired_transition: DesiredTransition,
    #[serde(rename = "TaskStates")]
    pub task_states: Option<SmallMap<TaskState>>,
    #[serde(rename = "DeploymentStatus")]
    pub deployment_status: Option<AllocDeploymentStatus>,
    #[serde(rename = "FollowupEvalID")]
    pub follow_up_eval_id: String,
    #[serde(rename = "NextAllocation")]
    pub next_allocation: String,
    #[serde(rename = "RescheduleTracker")]
    pub reschedule_tracker: Option<RescheduleTracker>,
    #[serde(
        rename = "PreemptedAllocations",
        deserialize_with = "crate::null_default"
    )]
    pub preempted_allocations: Vec<String>,
    #[serde(rename = "PreemptedByAllocation")]
    pub preempted_by_allocation: String,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
    #[serde(rename = "CreateTime")]
    pub create_time: i64,
    #[serde(rename = "ModifyTime")]
    pub modify_time: i64,
}

/// Server-requested transitions; each is a tri-state in Nomad (`*bool`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DesiredTransition {
    #[serde(rename = "Migrate")]
    pub migrate: Option<bool>,
    #[serde(rename = "Reschedule")]
    pub reschedule: Option<bool>,
    #[serde(rename = "ForceReschedule")]
    pub force_reschedule: Option<bool>,
    #[serde(rename = "NoShutdownDelay")]
    pub no_shutdown_delay: Option<bool>,
}

impl DesiredTransition {
    /// Overlay the fields `other` sets, as Nomad's `DesiredTransition.Merge`.
    pub fn merge(&mut self, other: &DesiredTransition) {
        fn over(a: &mut Option<bool>, b: Option<bool>) {
            if b.is_some() {
                *a = b;
            }
        }
        over(&mut self.migrate, other.migrate);
        over(&mut self.reschedule, other.reschedule);
        over(&mut self.force_reschedule, other.force_reschedule);
        over(&mut self.no_shutdown_delay, other.no_shutdown_delay);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocDeploymentStatus {
    #[serde(rename = "Healthy")]
    pub healthy: Option<bool>,
    #[serde(rename = "Timestamp", with = "crate::time::rfc3339_opt")]
    pub timestamp: Option<i64>,
    #[serde(rename = "Canary")]
    pub canary: bool,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RescheduleTracker {
    #[serde(rename = "Events", deserialize_with = "crate::null_default")]
    pub events: Vec<RescheduleEvent>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RescheduleEvent {
    /// Unix nanoseconds.
    #[serde(rename = "RescheduleTime")]
    pub reschedule_time: i64,
    #[serde(rename = "PrevAllocID")]
    pub prev_alloc_id: String,
    #[serde(rename = "PrevNodeID")]
    pub prev_node_id: String,
    #[serde(rename = "Delay")]
    pub delay: Nanos,
}

/// What a placement actually reserved on its node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocatedResources {
    #[serde(rename = "Tasks", deserialize_with = "crate::null_default")]
    pub tasks: BTreeMap<String, AllocatedTaskResources>,
    #[serde(rename = "Shared")]
    pub shared: AllocatedSharedResources,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocatedTaskResources {
    #[serde(rename = "Cpu")]
    pub cpu: AllocatedCpuResources,
    #[serde(rename = "Memory")]
    pub memory: AllocatedMemoryResources,
    #[serde(rename = "Networks", deserialize_with = "crate::null_default")]
    pub networks: Vec<NetworkResource>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocatedCpuResources {
    #[serde(rename = "CpuShares")]
    pub cpu_shares: i64,
    #[serde(rename = "ReservedCores", deserialize_with = "crate::null_default")]
    pub reserved_cores: Vec<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocatedMemoryResources {
    #[serde(rename = "MemoryMB")]
    pub memory_mb: i64,
    #[serde(rename = "MemoryMaxMB")]
    pub memory_max_mb: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocatedSharedResources {
    #[serde(rename = "DiskMB")]
    pub disk_mb: i64,
    #[serde(rename = "Networks", deserialize_with = "crate::null_default")]
    pub networks: Vec<NetworkResource>,
    #[serde(rename = "Ports", deserialize_with = "crate::null_default")]
    pub ports: Vec<AllocatedPortMapping>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocatedPortMapping {
    #[serde(rename = "Label")]
    pub label: String,
    #[serde(rename = "Value")]
    pub value: i64,
    #[serde(rename = "To")]
    pub to: i64,
    #[serde(rename = "HostIP")]
    pub host_ip: String,
}

/// Why a placement landed where it did, or why it failed
/// (nomad/structs/alloc.go `AllocMetric`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocMetric {
    #[serde(rename = "NodesEvaluated")]
    pub nodes_evaluated: i64,
    #[serde(rename = "NodesFiltered")]
    pub nodes_filtered: i64,
    #[serde(rename = "NodesInPool")]
    pub nodes_in_pool: i64,
    #[serde(rename = "NodePool")]
    pub node_pool: String,
    #[serde(rename = "NodesAvailable", deserialize_with = "crate::null_default")]
    pub nodes_available: BTreeMap<String, i64>,
    #[serde(rename = "ClassFiltered", deserialize_with = "crate::null_default")]
    pub class_filtered: BTreeMap<String, i64>,
    #[serde(
        rename = "ConstraintFiltered",
        deserialize_with = "crate::null_default"
    )]
    pub constraint_filtered: BTreeMap<String, i64>,
    #[serde(rename = "NodesExhausted")]
    pub nodes_exhausted: i64,
    #[serde(rename = "ClassExhausted", deserialize_with = "crate::null_default")]
    pub class_exhausted: BTreeMap<String, i64>,
    #[serde(
        rename = "DimensionExhausted",
        deserialize_with = "crate::null_default"
    )]
    pub dimension_exhausted: BTreeMap<String, i64>,
    #[serde(rename = "QuotaExhausted", deserialize_with = "crate::null_default")]
    pub quota_exhausted: Vec<String>,
    #[serde(
        rename = "ResourcesExhausted",
        deserialize_with = "crate::null_default"
    )]
    pub resources_exhausted: BTreeMap<String, Resources>,
    #[serde(rename = "ScoreMetaData", deserialize_with = "crate::null_default")]
    pub score_meta_data: Vec<NodeScoreMeta>,
    #[serde(rename = "AllocationTime")]
    pub allocation_time: Nanos,
    #[serde(rename = "CoalescedFailures")]
    pub coalesced_failures: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeScoreMeta {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    #[serde(rename = "Scores", deserialize_with = "crate::null_default")]
    pub scores: BTreeMap<String, f64>,
    #[serde(rename = "NormScore")]
    pub norm_score: f64,
}

/// `pending` → `running` → `dead`, as the task runner drives it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TaskStateValue {
    #[default]
    Pending,
    Running,
    Dead,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskState {
    #[serde(rename = "State")]
    pub state: TaskStateValue,
    #[serde(rename = "Failed")]
    pub failed: bool,
    #[serde(rename = "Restarts")]
    pub restarts: u64,
    #[serde(rename = "LastRestart", with = "crate::time::rfc3339_opt")]
    pub last_restart: Option<i64>,
    #[serde(rename = "StartedAt", with = "crate::time::rfc3339_opt")]
    pub started_at: Option<i64>,
    #[serde(rename = "FinishedAt", with = "crate::time::rfc3339_opt")]
    pub finished_at: Option<i64>,
    /// The latest events, oldest first; the client keeps at most 10.
    #[serde(rename = "Events", deserialize_with = "crate::null_default")]
    pub events: Vec<TaskEvent>,
}

/// One entry of a task's history. Nomad still fills the older typed fields
/// beside `Details`, so both are kept for tools that read either.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskEvent {
    #[serde(rename = "Type")]
    pub event_type: String,
    /// Unix nanoseconds.
    #[serde(rename = "Time")]
    pub time: i64,
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "DisplayMessage")]
    pub display_message: String,
    #[serde(rename = "Details", deserialize_with = "crate::null_default")]
    pub details: BTreeMap<String, String>,
    #[serde(rename = "FailsTask")]
    pub fails_task: bool,
    #[serde(rename = "RestartReason")]
    pub restart_reason: String,
    #[serde(rename = "SetupError")]
    pub setup_error: String,
    #[serde(rename = "DriverError")]
    pub driver_error: String,
    #[serde(rename = "ExitCode")]
    pub exit_code: i64,
    #[serde(rename = "Signal")]
    pub signal: i64,
    #[serde(rename = "KillTimeout")]
    pub kill_timeout: Nanos,
    #[serde(rename = "KillError")]
    pub kill_error: String,
    #[serde(rename = "KillReason")]
    pub kill_reason: String,
    #[serde(rename = "StartDelay")]
    pub start_delay: i64,
    #[serde(rename = "DownloadError")]
    pub download_error: String,
    #[serde(rename = "ValidationError")]
    pub validation_error: String,
    #[serde(rename = "DiskLimit")]
    pub disk_limit: i64,
    #[serde(rename = "FailedSibling")]
    pub failed_sibling: String,
    #[serde(rename = "VaultError")]
    pub vault_error: String,
    #[serde(rename = "TaskSignalReason")]
    pub task_signal_reason: String,
    #[serde(rename = "TaskSignal")]
    pub task_signal: String,
    #[serde(rename = "DriverMessage")]
    pub driver_message: String,
    #[serde(rename = "GenericSource")]
    pub generic_source: String,
}
