//! Jobs as Nomad's `structs.Job` serializes them, plus the list stub and the
//! per-group summary. Every struct takes `#[serde(default)]` so a partial job
//! spec (what users submit) decodes, and unknown fields are ignored so newer
//! Nomad tooling keeps working.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Nanos;

/// The scheduler a job asks for. Nomad's default when a spec omits it is
/// `service`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum JobType {
    #[default]
    Service,
    Batch,
    System,
    Sysbatch,
}

impl JobType {
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Service => "service",
            JobType::Batch => "batch",
            JobType::System => "system",
            JobType::Sysbatch => "sysbatch",
        }
    }
}

/// `pending`: nothing placed yet; `running`: something placed and alive;
/// `dead`: stopped or everything finished (see `drover-state`'s job status).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    #[default]
    Pending,
    Running,
    Dead,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Job {
    #[serde(rename = "Region")]
    pub region: String,
    #[serde(rename = "Namespace")]
    pub namespace: String,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "ParentID")]
    pub parent_id: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Type")]
    pub job_type: JobType,
    #[serde(rename = "Priority")]
    pub priority: i32,
    #[serde(rename = "AllAtOnce")]
    pub all_at_once: bool,
    #[serde(rename = "Datacenters", deserialize_with = "crate::null_default")]
    pub datacenters: Vec<String>,
    #[serde(rename = "NodePool")]
    pub node_pool: String,
    #[serde(rename = "Constraints", deserialize_with = "crate::null_default")]
    pub constraints: Vec<Constraint>,
    #[serde(rename = "Affinities", deserialize_with = "crate::null_default")]
    pub affinities: Vec<Affinity>,
    #[serde(rename = "Spreads", deserialize_with = "crate::null_default")]
    pub spreads: Vec<Spread>,
    #[serde(rename = "TaskGroups", deserialize_with = "crate::null_default")]
    pub task_groups: Vec<TaskGroup>,
    #[serde(rename = "Update")]
    pub update: Option<UpdateStrategy>,
    #[serde(rename = "Periodic")]
    pub periodic: Option<crate::PeriodicConfig>,
    #[serde(rename = "ParameterizedJob")]
    pub parameterized_job: Option<crate::ParameterizedJobConfig>,
    /// A dispatched job's payload: base64 (Go's `[]byte` on the wire) of
    /// the Snappy-compressed bytes, as Nomad stores it and as allocations
    /// carry it; the client decompresses it into the task's
    /// `dispatch_payload` file, and `GET /v1/job/:id` shows it
    /// decompressed.
    #[serde(rename = "Payload")]
    pub payload: Option<String>,
    #[serde(rename = "Dispatched")]
    pub dispatched: bool,
    /// The dispatch request's idempotency token, on a dispatched child.
    #[serde(rename = "DispatchIdempotencyToken")]
    pub dispatch_idempotency_token: String,
    #[serde(rename = "Meta", deserialize_with = "crate::null_default")]
    pub meta: BTreeMap<String, String>,
    #[serde(rename = "Stop")]
    pub stop: bool,
    #[serde(rename = "Status")]
    pub status: JobStatus,
    #[serde(rename = "StatusDescription")]
    pub status_description: String,
    #[serde(rename = "Stable")]
    pub stable: bool,
    #[serde(rename = "Version")]
    pub version: u64,
    /// Unix nanoseconds, stamped by the server when the version was submitted.
    #[serde(rename = "SubmitTime")]
    pub submit_time: i64,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
    /// Bumped only when the spec itself changes (not on status changes).
    #[serde(rename = "JobModifyIndex")]
    pub job_modify_index: u64,
}

impl Job {
    /// Periodic and parameterized jobs are templates: they never get
    /// allocations of their own, only children.
    /// A dispatched child keeps its parent's `ParameterizedJob` but is
    /// not a template (Nomad's `IsPeriodic() || IsParameterized()`).
    pub fn is_parent(&self) -> bool {
        self.is_periodic() || self.is_parameterized()
    }

    pub fn is_periodic(&self) -> bool {
        self.periodic.is_some()
    }

    /// A parameterized template, not one of its dispatched children.
    pub fn is_parameterized(&self) -> bool {
        self.parameterized_job.is_some() && !self.dispatched
    }

    /// Whether the periodic dispatcher launches this job (Nomad's
    /// `IsPeriodicActive`).
    pub fn is_periodic_active(&self) -> bool {
        self.periodic.as_ref().is_some_and(|p| p.enabled) && !self.stop && !self.is_parameterized()
    }

    pub fn task_group(&self, name: &str) -> Option<&TaskGroup> {
        self.task_groups.iter().find(|tg| tg.name == name)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskGroup {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Count")]
    pub count: i32,
    #[serde(rename = "Constraints", deserialize_with = "crate::null_default")]
    pub constraints: Vec<Constraint>,
    #[serde(rename = "Affinities", deserialize_with = "crate::null_default")]
    pub affinities: Vec<Affinity>,
    #[serde(rename = "Spreads", deserialize_with = "crate::null_default")]
    pub spreads: Vec<Spread>,
    #[serde(rename = "Tasks", deserialize_with = "crate::null_default")]
    pub tasks: Vec<Task>,
    #[serde(rename = "RestartPolicy")]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(rename = "ReschedulePolicy")]
    pub reschedule_policy: Option<ReschedulePolicy>,
    #[serde(rename = "EphemeralDisk")]
    pub ephemeral_disk: Option<EphemeralDisk>,
    #[serde(rename = "Networks", deserialize_with = "crate::null_default")]
    pub networks: Vec<NetworkResource>,
    #[serde(rename = "Update")]
    pub update: Option<UpdateStrategy>,
    #[serde(rename = "Meta", deserialize_with = "crate::null_default")]
    pub meta: BTreeMap<String, String>,
    #[serde(rename = "ShutdownDelay")]
    pub shutdown_delay: Option<Nanos>,
    /// The `scaling` block: the bounds `POST /v1/job/:id/scale` keeps the
    /// count within.
    #[serde(rename = "Scaling")]
    pub scaling: Option<crate::ScalingPolicy>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Task {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "User")]
    pub user: String,
    /// Driver-specific configuration, free-form as in Nomad.
    #[serde(rename = "Config", deserialize_with = "crate::null_default")]
    pub config: crate::SmallMap<serde_json::Value>,
    #[serde(rename = "Env", deserialize_with = "crate::null_default")]
    pub env: BTreeMap<String, String>,
    #[serde(rename = "Constraints", deserialize_with = "crate::null_default")]
    pub constraints: Vec<Constraint>,
    #[serde(rename = "Affinities", deserialize_with = "crate::null_default")]
    pub affinities: Vec<Affinity>,
    #[serde(rename = "Resources", deserialize_with = "crate::null_default")]
    pub resources: Resources,
    #[serde(rename = "RestartPolicy")]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(rename = "Meta", deserialize_with = "crate::null_default")]
    pub meta: BTreeMap<String, String>,
    #[serde(rename = "KillTimeout")]
    pub kill_timeout: Nanos,
    #[serde(rename = "KillSignal")]
    pub kill_signal: String,
    #[serde(rename = "LogConfig")]
    pub log_config: Option<LogConfig>,
    #[serde(rename = "Leader")]
    pub leader: bool,
    #[serde(rename = "ShutdownDelay")]
    pub shutdown_delay: Nanos,
    /// When the task runs relative to the group's main tasks; `None` makes
    /// it a main task (Nomad's `lifecycle` block).
    #[serde(rename = "Lifecycle")]
    pub lifecycle: Option<TaskLifecycle>,
    /// Where a dispatched job's payload is written (`dispatch_payload`).
    #[serde(rename = "DispatchPayload")]
    pub dispatch_payload: Option<crate::DispatchPayloadConfig>,
}

/// Nomad's `TaskLifecycleConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskLifecycle {
    /// `prestart`, `poststart` or `poststop`.
    #[serde(rename = "Hook")]
    pub hook: String,
    /// Keeps running beside the main tasks instead of running once.
    #[serde(rename = "Sidecar")]
    pub sidecar: bool,
}

impl Task {
    /// The lifecycle hook, when the block is present and names one; a
    /// task without it is a main task.
    pub fn lifecycle_hook(&self) -> Option<&str> {
        self.lifecycle
            .as_ref()
            .map(|l| l.hook.as_str())
            .filter(|h| !h.is_empty())
    }

    /// A sidecar lifecycle task (prestart or poststart).
    pub fn is_sidecar(&self) -> bool {
        self.lifecycle_hook().is_some() && self.lifecycle.as_ref().is_some_and(|l| l.sidecar)
    }
}

/// Requested resources. `CPU` is MHz, memory and disk MB, as in Nomad.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    #[serde(rename = "CPU")]
    pub cpu: i64,
    #[serde(rename = "Cores")]
    pub cores: i64,
    #[serde(rename = "MemoryMB")]
    pub memory_mb: i64,
    #[serde(rename = "MemoryMaxMB")]
    pub memory_max_mb: i64,
    #[serde(rename = "DiskMB")]
    pub disk_mb: i64,
    #[serde(rename = "IOPS")]
    pub iops: i64,
    #[serde(rename = "Networks", deserialize_with = "crate::null_default")]
    pub networks: Vec<NetworkResource>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkResource {
    #[serde(rename = "Mode")]
    pub mode: String,
    #[serde(rename = "Device")]
    pub device: String,
    #[serde(rename = "CIDR")]
    pub cidr: String,
    #[serde(rename = "IP")]
    pub ip: String,
    #[serde(rename = "Hostname")]
    pub hostname: String,
    #[serde(rename = "MBits")]
    pub mbits: i64,
    #[serde(rename = "ReservedPorts", deserialize_with = "crate::null_default")]
    pub reserved_ports: Vec<Port>,
    #[serde(rename = "DynamicPorts", deserialize_with = "crate::null_default")]
    pub dynamic_ports: Vec<Port>,
}

/// A port label and, once placed, its host value; `To` is the port inside the
/// task (Docker's container port), `-1` meaning "same as Value" in Nomad.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Port {
    #[serde(rename = "Label")]
    pub label: String,
    #[serde(rename = "Value")]
    pub value: i64,
    #[serde(rename = "To")]
    pub to: i64,
    #[serde(rename = "HostNetwork")]
    pub host_network: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Constraint {
    #[serde(rename = "LTarget")]
    pub l_target: String,
    #[serde(rename = "RTarget")]
    pub r_target: String,
    #[serde(rename = "Operand")]
    pub operand: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Affinity {
    #[serde(rename = "LTarget")]
    pub l_target: String,
    #[serde(rename = "RTarget")]
    pub r_target: String,
    #[serde(rename = "Operand")]
    pub operand: String,
    #[serde(rename = "Weight")]
    pub weight: i32,
}

/// Spread a task group's allocations over the values of `Attribute`
/// (`${node.datacenter}`, `${meta.rack}`, ...). With targets, each value
/// aims at its `Percent` of the group's count (values not listed share what
/// is left); without, all values seen are filled evenly. `Weight` is an
/// int8 in Nomad, 1..=100 once validated; Nomad's API fills in 50 when it
/// is not given, which Drover's canonicalization does not do yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Spread {
    #[serde(rename = "Attribute")]
    pub attribute: String,
    #[serde(rename = "Weight")]
    pub weight: i32,
    #[serde(rename = "SpreadTarget", deserialize_with = "crate::null_default")]
    pub spread_target: Vec<SpreadTarget>,
}

/// The desired share of one attribute value; `Percent` is a uint8 in Nomad.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpreadTarget {
    #[serde(rename = "Value")]
    pub value: String,
    #[serde(rename = "Percent")]
    pub percent: u32,
}

/// How the client restarts a failed task in place. Durations in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RestartPolicy {
    #[serde(rename = "Attempts")]
    pub attempts: i32,
    #[serde(rename = "Interval")]
    pub interval: Nanos,
    #[serde(rename = "Delay")]
    pub delay: Nanos,
    /// `fail` or `delay`.
    #[serde(rename = "Mode")]
    pub mode: String,
    #[serde(rename = "RenderTemplates")]
    pub render_templates: bool,
}

/// How the servers replace a failed allocation on another node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReschedulePolicy {
    #[serde(rename = "Attempts")]
    pub attempts: i32,
    #[serde(rename = "Interval")]
    pub interval: Nanos,
    #[serde(rename = "Delay")]
    pub delay: Nanos,
    /// `constant`, `exponential` or `fibonacci`.
    #[serde(rename = "DelayFunction")]
    pub delay_function: String,
    #[serde(rename = "MaxDelay")]
    pub max_delay: Nanos,
    #[serde(rename = "Unlimited")]
    pub unlimited: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EphemeralDisk {
    #[serde(rename = "Sticky")]
    pub sticky: bool,
    #[serde(rename = "SizeMB")]
    pub size_mb: i64,
    #[serde(rename = "Migrate")]
    pub migrate: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    #[serde(rename = "MaxFiles")]
    pub max_files: i32,
    #[serde(rename = "MaxFileSizeMB")]
    pub max_file_size_mb: i32,
    #[serde(rename = "Disabled")]
    pub disabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateStrategy {
    #[serde(rename = "Stagger")]
    pub stagger: Nanos,
    #[serde(rename = "MaxParallel")]
    pub max_parallel: i32,
    #[serde(rename = "HealthCheck")]
    pub health_check: String,
    #[serde(rename = "MinHealthyTime")]
    pub min_healthy_time: Nanos,
    #[serde(rename = "HealthyDeadline")]
    pub healthy_deadline: Nanos,
    #[serde(rename = "ProgressDeadline")]
    pub progress_deadline: Nanos,
    #[serde(rename = "AutoRevert")]
    pub auto_revert: bool,
    #[serde(rename = "AutoPromote")]
    pub auto_promote: bool,
    #[serde(rename = "Canary")]
    pub canary: i32,
}

/// `GET /v1/jobs` entries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobListStub {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "ParentID")]
    pub parent_id: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Namespace")]
    pub namespace: String,
    #[serde(rename = "Datacenters", deserialize_with = "crate::null_default")]
    pub datacenters: Vec<String>,
    #[serde(rename = "NodePool")]
    pub node_pool: String,
    #[serde(rename = "Type")]
    pub job_type: JobType,
    #[serde(rename = "Priority")]
    pub priority: i32,
    #[serde(rename = "Periodic")]
    pub periodic: bool,
    #[serde(rename = "ParameterizedJob")]
    pub parameterized_job: bool,
    #[serde(rename = "Stop")]
    pub stop: bool,
    #[serde(rename = "Status")]
    pub status: JobStatus,
    #[serde(rename = "StatusDescription")]
    pub status_description: String,
    #[serde(rename = "JobSummary")]
    pub job_summary: Option<JobSummary>,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
    #[serde(rename = "JobModifyIndex")]
    pub job_modify_index: u64,
    #[serde(rename = "SubmitTime")]
    pub submit_time: i64,
    /// Only with `?meta=true`, and only when the job has some: Nomad's
    /// `json:",omitempty"` leaves an empty map out.
    #[serde(rename = "Meta", skip_serializing_if = "no_meta")]
    pub meta: Option<BTreeMap<String, String>>,
}

fn no_meta(meta: &Option<BTreeMap<String, String>>) -> bool {
    meta.as_ref().is_none_or(BTreeMap::is_empty)
}

impl JobListStub {
    pub fn from_job(job: &Job, summary: Option<&JobSummary>, with_meta: bool) -> Self {
        JobListStub {
            id: job.id.clone(),
            parent_id: job.parent_id.clone(),
            name: job.name.clone(),
            namespace: job.namespace.clone(),
            datacenters: job.datacenters.clone(),
            node_pool: job.node_pool.clone(),
            job_type: job.job_type,
            priority: job.priority,
            periodic: job.is_periodic(),
            parameterized_job: job.is_parameterized(),
            stop: job.stop,
            status: job.status,
            status_description: job.status_description.clone(),
            job_summary: summary.cloned(),
            create_index: job.create_index,
            modify_index: job.modify_index,
            job_modify_index: job.job_modify_index,
            submit_time: job.submit_time,
            meta: with_meta.then(|| job.meta.clone()),
        }
    }
}

/// `GET /v1/job/:id/summary`: allocation counts per task group by client state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobSummary {
    #[serde(rename = "JobID")]
    pub job_id: String,
    #[serde(rename = "Namespace")]
    pub namespace: String,
    #[serde(rename = "Summary", deserialize_with = "crate::null_default")]
    pub summary: crate::SmallMap<TaskGroupSummary>,
    #[serde(rename = "Children")]
    pub children: Option<JobChildrenSummary>,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskGroupSummary {
    #[serde(rename = "Queued")]
    pub queued: i64,
    #[serde(rename = "Complete")]
    pub complete: i64,
    #[serde(rename = "Failed")]
    pub failed: i64,
    #[serde(rename = "Running")]
    pub running: i64,
    #[serde(rename = "Starting")]
    pub starting: i64,
    #[serde(rename = "Lost")]
    pub lost: i64,
    #[serde(rename = "Unknown")]
    pub unknown: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobChildrenSummary {
    #[serde(rename = "Pending")]
    pub pending: i64,
    #[serde(rename = "Running")]
    pub running: i64,
    #[serde(rename = "Dead")]
    pub dead: i64,
}
