//! Nomad's defaults on a typed job, and the default values themselves.
//!
//! [`canonicalize`] follows what Nomad's server does to a job after the HTTP
//! layer has converted it: `structs.Job.Canonicalize`,
//! `structs.TaskGroup.Canonicalize` and `structs.Task.Canonicalize`
//! (nomad/structs/structs.go), the `jobCanonicalizer` mutator (priority 0
//! becomes the server's default priority) and `jobNodePoolMutatingHook`
//! (nomad/job_endpoint_hooks.go, job_endpoint_hook_node_pool_ce.go). On top
//! of that it applies the API-side defaults (api/jobs.go, api/tasks.go,
//! api/resources.go) *only where the zero value is one Nomad would reject*:
//! an empty region, name, log config or health check, a zero CPU or memory.
//! Defaults whose zero value is meaningful (a group `Count` of 0, a restart
//! policy with 0 attempts, `MaxParallel` 0) are left to
//! [`super::canonicalize_value`], which can still see whether the client
//! sent the field.
//!
//! Because every rule here only fills what is empty, running it twice gives
//! the same job as running it once.

use drover_api::{
    EphemeralDisk, Job, JobType, LogConfig, ReschedulePolicy, RestartPolicy, Task, TaskGroup,
    UpdateStrategy, DEFAULT_KILL_TIMEOUT,
};

use super::{HOUR, MINUTE, SECOND};

/// `structs.DefaultNamespace`.
pub const DEFAULT_NAMESPACE: &str = "default";
/// `api.GlobalRegion`: a job that names no region runs in the server's.
pub const GLOBAL_REGION: &str = "global";
/// `structs.NodePoolDefault`, set by `jobNodePoolMutatingHook`.
pub const DEFAULT_NODE_POOL: &str = "default";
/// `structs.JobDefaultPriority` (Nomad's `job_default_priority` server
/// option; not configurable in Drover yet).
pub const JOB_DEFAULT_PRIORITY: i32 = 50;
/// `structs.DefaultResources().CPU`, MHz.
pub const DEFAULT_CPU_MHZ: i64 = 100;
/// `structs.DefaultResources().MemoryMB`.
pub const DEFAULT_MEMORY_MB: i64 = 300;

/// `structs.DefaultServiceJobRestartPolicy` for service and system jobs,
/// `structs.DefaultBatchJobRestartPolicy` for batch and sysbatch. (The
/// server-side `NewRestartPolicy` has none for sysbatch, but the API's
/// `TaskGroup.Canonicalize`, which every HTTP submission goes through, gives
/// sysbatch the batch policy; Drover follows what HTTP users see.)
pub fn default_restart_policy(job_type: JobType) -> RestartPolicy {
    match job_type {
        JobType::Service | JobType::System => RestartPolicy {
            attempts: 2,
            interval: 30 * MINUTE,
            delay: 15 * SECOND,
            mode: "fail".to_owned(),
            render_templates: false,
        },
        JobType::Batch | JobType::Sysbatch => RestartPolicy {
            attempts: 3,
            interval: 24 * HOUR,
            delay: 15 * SECOND,
            mode: "fail".to_owned(),
            render_templates: false,
        },
    }
}

/// `structs.DefaultServiceJobReschedulePolicy` and
/// `structs.DefaultBatchJobReschedulePolicy` (`NewReschedulePolicy`). System
/// and sysbatch allocations are never rescheduled: they have none.
pub fn default_reschedule_policy(job_type: JobType) -> Option<ReschedulePolicy> {
    match job_type {
        JobType::Service => Some(ReschedulePolicy {
            attempts: 0,
            interval: 0,
            delay: 30 * SECOND,
            delay_function: "exponential".to_owned(),
            max_delay: HOUR,
            unlimited: true,
        }),
        JobType::Batch => Some(ReschedulePolicy {
            attempts: 1,
            interval: 24 * HOUR,
            delay: 5 * SECOND,
            delay_function: "constant".to_owned(),
            max_delay: 0,
            unlimited: false,
        }),
        JobType::System | JobType::Sysbatch => None,
    }
}

/// `api.DefaultUpdateStrategy`.
pub fn default_update_strategy() -> UpdateStrategy {
    UpdateStrategy {
        stagger: 30 * SECOND,
        max_parallel: 1,
        health_check: "checks".to_owned(),
        min_healthy_time: 10 * SECOND,
        healthy_deadline: 5 * MINUTE,
        progress_deadline: 10 * MINUTE,
        auto_revert: false,
        auto_promote: false,
        canary: 0,
    }
}

/// `structs.DefaultEphemeralDisk`: 300 MB, neither sticky nor migrated.
pub fn default_ephemeral_disk() -> EphemeralDisk {
    EphemeralDisk {
        sticky: false,
        size_mb: 300,
        migrate: false,
    }
}

/// `structs.DefaultLogConfig`: ten files of 10 MB per stream.
pub fn default_log_config() -> LogConfig {
    LogConfig {
        max_files: 10,
        max_file_size_mb: 10,
        disabled: false,
    }
}

/// Fills Nomad's defaults into a decoded job. See the module comment for
/// which defaults live here and which in [`super::canonicalize_value`].
pub fn canonicalize(job: &mut Job) {
    // api.Job.Canonicalize: a job with no region runs in "global", and an
    // unnamed job is named after its ID.
    if job.region.is_empty() {
        job.region = GLOBAL_REGION.to_owned();
    }
    if job.name.is_empty() {
        job.name = job.id.clone();
    }
    // structs.Job.Canonicalize.
    if job.namespace.is_empty() {
        job.namespace = DEFAULT_NAMESPACE.to_owned();
    }
    // Nomad >= 1.5: no datacenters means every datacenter.
    if job.datacenters.is_empty() {
        job.datacenters = vec!["*".to_owned()];
    }
    // jobCanonicalizer: an explicit 0 is "not set", not "lowest".
    if job.priority == 0 {
        job.priority = JOB_DEFAULT_PRIORITY;
    }
    // jobNodePoolMutatingHook.
    if job.node_pool.is_empty() {
        job.node_pool = DEFAULT_NODE_POOL.to_owned();
    }
    // ParameterizedJobConfig.Canonicalize.
    if let Some(p) = job
        .parameterized_job
        .as_mut()
        .filter(|p| p.payload.is_empty())
    {
        p.payload = drover_api::DISPATCH_PAYLOAD_OPTIONAL.to_owned();
    }

    let job_type = job.job_type;
    for tg in &mut job.task_groups {
        canonicalize_group(tg, job_type, job.update.as_ref());
        super::scaling::canonicalize_scaling(&job.namespace, &job.id, tg);
    }
    job.update = job_level_update(job.update.take());
}

fn canonicalize_group(tg: &mut TaskGroup, job_type: JobType, job_update: Option<&UpdateStrategy>) {
    if tg.restart_policy.is_none() {
        tg.restart_policy = Some(default_restart_policy(job_type));
    }
    if tg.reschedule_policy.is_none() {
        tg.reschedule_policy = default_reschedule_policy(job_type);
    }
    if tg.ephemeral_disk.is_none() {
        tg.ephemeral_disk = Some(default_ephemeral_disk());
    }
    // api.TaskGroup.Canonicalize: a group without its own update block
    // inherits the job's, unless the job's is empty. (A group with its own
    // block was already merged field by field in canonicalize_value.)
    if tg.update.is_none() {
        tg.update = job_update.filter(|u| !is_empty_update(u)).cloned();
    }
    if let Some(update) = &mut tg.update {
        fill_update_zeros(update);
    }
    for task in &mut tg.tasks {
        canonicalize_task(task, tg.restart_policy.as_ref());
    }
}

fn canonicalize_task(task: &mut Task, group_restart: Option<&RestartPolicy>) {
    // structs.Task.Canonicalize: tasks inherit the group's restart policy
    // and get the default kill timeout.
    if task.restart_policy.is_none() {
        task.restart_policy = group_restart.cloned();
    }
    if task.kill_timeout == 0 {
        task.kill_timeout = DEFAULT_KILL_TIMEOUT;
    }
    // Nomad gives a task without resources `DefaultResources()`. Drover's
    // `Resources` is not optional, so a zero CPU (with no reserved cores)
    // or zero memory stands for "not set"; Nomad would reject either value
    // (`MinResources`) anyway.
    let res = &mut task.resources;
    if res.cpu == 0 && res.cores == 0 {
        res.cpu = DEFAULT_CPU_MHZ;
    }
    if res.memory_mb == 0 {
        res.memory_mb = DEFAULT_MEMORY_MB;
    }
    if task.log_config.is_none() {
        task.log_config = Some(default_log_config());
    }
}

/// Fills the update fields whose zero value `UpdateStrategy.Validate`
/// rejects. `MaxParallel`, `MinHealthyTime`, `ProgressDeadline` and `Canary`
/// are meaningful at 0 and stay.
fn fill_update_zeros(update: &mut UpdateStrategy) {
    let defaults = default_update_strategy();
    if update.stagger == 0 {
        update.stagger = defaults.stagger;
    }
    if update.health_check.is_empty() {
        update.health_check = defaults.health_check;
    }
    if update.healthy_deadline == 0 {
        update.healthy_deadline = defaults.healthy_deadline;
    }
}

/// `api.UpdateStrategy.Empty` on a typed strategy.
fn is_empty_update(u: &UpdateStrategy) -> bool {
    u.stagger == 0
        && u.max_parallel == 0
        && u.health_check.is_empty()
        && u.min_healthy_time == 0
        && u.healthy_deadline == 0
        && u.progress_deadline == 0
        && !u.auto_revert
        && !u.auto_promote
        && u.canary == 0
}

/// What Nomad keeps of the job-level update block once it has been pushed
/// into the groups (command/agent/job_endpoint.go, `ApiJobToStructJob`): only
/// `Stagger` and `MaxParallel`, and only when `MaxParallel > 0`. Reading the
/// job back therefore shows the same reduced block Nomad shows.
fn job_level_update(update: Option<UpdateStrategy>) -> Option<UpdateStrategy> {
    let update = update?;
    (update.max_parallel > 0).then(|| UpdateStrategy {
        stagger: update.stagger,
        max_parallel: update.max_parallel,
        ..UpdateStrategy::default()
    })
}
