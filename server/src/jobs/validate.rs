//! Nomad's job validation, every problem at once, each with the path of the
//! field it is about.
//!
//! The rules follow `structs.Job.Validate`, `TaskGroup.Validate`,
//! `Task.Validate`, `Spread.Validate`, `Resources.Validate`,
//! `LogConfig.Validate` and `EphemeralDisk.Validate`
//! (nomad/structs/structs.go) and the `jobValidate` admission hook
//! (nomad/job_endpoint_hooks.go: priority range, total count).
//! Messages keep Nomad's wording, so a user can search for them, but Nomad
//! nests them ("Task group web validation failed: ... Task redis validation
//! failed: ...") where Drover gives a path (`TaskGroups[0].Tasks[1].Driver`)
//! computed from the job's JSON field names.
//!
//! Run after [`super::canonicalize`]: a job that was not canonicalized fails
//! on the defaults it lacks (no restart policy, no log config), as in Nomad.

use std::collections::BTreeMap;
use std::fmt;

use drover_api::{Affinity, Job, JobRegisterRequest, JobType, Resources, Spread, Task, TaskGroup};

use super::constraint::{validate_affinity, validate_constraint, validate_spread};
use super::duration::go_duration;
use super::network::validate_networks;
use super::policy::{validate_reschedule, validate_restart, validate_update};

/// `structs.JobMinPriority`.
pub const JOB_MIN_PRIORITY: i32 = 1;
/// `structs.JobDefaultMaxPriority` (Nomad's `job_max_priority` server option;
/// not configurable in Drover yet).
pub const JOB_MAX_PRIORITY: i32 = 100;
/// `structs.JobDefaultMaxCount`: the sum of all group counts of one job
/// (Nomad's `job_max_count` server option).
pub const JOB_MAX_COUNT: i64 = 50_000;
/// `structs.MinResources().CPU`, MHz.
pub const MIN_CPU_MHZ: i64 = 1;
/// `structs.MinResources().MemoryMB`.
pub const MIN_MEMORY_MB: i64 = 10;
/// The most CPU a task may ask for, in MHz. Nomad sets no maximum; this
/// one is out of any node's reach (a node counts its cores in a u16,
/// `TotalCpuCores`, and no core runs at 65,535 MHz), and a job's largest
/// total, [`JOB_MAX_COUNT`] times it, still fits an i64.
pub const MAX_CPU_MHZ: i64 = u16::MAX as i64 * u16::MAX as i64;
/// The most reserved cores: a node counts its cores in a u16.
pub const MAX_CORES: i64 = u16::MAX as i64;
/// The most memory (`MemoryMB`, `MemoryMaxMB`) or disk (`EphemeralDisk.
/// SizeMB`) a job may ask for: the largest number of MB whose size in bytes,
/// the unit of Docker's limits and of cgroups, still fits an i64 (8 EiB).
/// Nomad sets no maximum; no node offers this much.
pub const MAX_SIZE_MB: i64 = i64::MAX / (1024 * 1024);

/// One problem with a submitted job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path in the job's JSON (`TaskGroups[0].Tasks[1].Driver`);
    /// empty when the problem is the whole document.
    pub path: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found, in the order of the job document. Display is
/// go-multierror's list format, which is what Nomad puts in the body of a
/// 400 for an invalid job: `"2 errors occurred:\n\t* Priority: job priority
/// must be between [1, 100]\n\t* TaskGroups[0].Count: Task group count can't
/// be negative\n\n"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => writeln!(f, "1 error occurred:\n\t* {one}")?,
            many => {
                write!(f, "{} errors occurred:", many.len())?;
                for err in many {
                    write!(f, "\n\t* {err}")?;
                }
                writeln!(f)?;
            }
        }
        writeln!(f)
    }
}

/// Checks the request around the job of `PUT /v1/jobs` (`path_id` None) and
/// `PUT /v1/job/:id` (`path_id` the URL's ID), before the job itself is
/// canonicalized and validated, and hands back the job.
///
/// A job without an ID is not reported here: [`validate`] says
/// "Missing job ID" with the job's other problems.
pub fn validate_register<'a>(
    req: &'a JobRegisterRequest,
    path_id: Option<&str>,
) -> Result<&'a Job, ValidationErrors> {
    let Some(job) = &req.job else {
        return Err(ValidationErrors(vec![FieldError {
            path: "Job".to_owned(),
            message: "missing job".to_owned(),
        }]));
    };
    match path_id {
        Some(url_id) if !job.id.is_empty() && job.id != url_id => {
            Err(ValidationErrors(vec![FieldError {
                path: "Job.ID".to_owned(),
                message: "does not match URL".to_owned(),
            }]))
        }
        _ => Ok(job),
    }
}

/// Validates a canonicalized job. `known_drivers` are the task drivers this
/// cluster can run; when it is empty any non-empty driver name is accepted.
pub fn validate(job: &Job, known_drivers: &[&str]) -> Result<(), ValidationErrors> {
    let mut errs = Errors::default();
    validate_job(job, known_drivers, &mut errs);
    if errs.0.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errs.0))
    }
}

/// The error list while validating; the submodules add to it.
#[derive(Debug, Default)]
pub(super) struct Errors(Vec<FieldError>);

impl Errors {
    pub(super) fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// `base.name`, or `name` at the root.
pub(super) fn field(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_owned()
    } else {
        format!("{base}.{name}")
    }
}

fn validate_job(job: &Job, known_drivers: &[&str], errs: &mut Errors) {
    if job.region.is_empty() {
        errs.add("Region", "Missing job region");
    }
    if job.id.is_empty() {
        errs.add("ID", "Missing job ID");
    } else if job.id.contains(' ') {
        errs.add("ID", "Job ID contains a space");
    } else if job.id.contains('\0') {
        errs.add("ID", "Job ID contains a null character");
    }
    if job.name.is_empty() {
        errs.add("Name", "Missing job name");
    } else if job.name.contains('\0') {
        errs.add("Name", "Job Name contains a null character");
    }
    if job.namespace.is_empty() {
        errs.add("Namespace", "Job must be in a namespace");
    }
    if !(JOB_MIN_PRIORITY..=JOB_MAX_PRIORITY).contains(&job.priority) {
        errs.add(
            "Priority",
            format!("job priority must be between [{JOB_MIN_PRIORITY}, {JOB_MAX_PRIORITY}]"),
        );
    }
    if job.datacenters.is_empty() {
        errs.add("Datacenters", "Missing job datacenters");
    }
    for (i, dc) in job.datacenters.iter().enumerate() {
        if dc.is_empty() {
            errs.add(
                format!("Datacenters[{i}]"),
                "Job datacenter must be non-empty string",
            );
        }
    }
    if job.task_groups.is_empty() {
        errs.add("TaskGroups", "Missing job task groups");
    }
    for (i, c) in job.constraints.iter().enumerate() {
        validate_constraint(c, &format!("Constraints[{i}]"), errs);
    }
    validate_affinities(job.job_type, &job.affinities, "", errs);
    validate_spreads(job.job_type, &job.spreads, "", errs);

    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut total_count: i64 = 0;
    for (i, tg) in job.task_groups.iter().enumerate() {
        let path = format!("TaskGroups[{i}]");
        if !tg.name.is_empty() {
            if let Some(first) = seen.get(tg.name.as_str()) {
                errs.add(
                    field(&path, "Name"),
                    format!(
                        "Job task group {} redefines '{}' from group {}",
                        i + 1,
                        tg.name,
                        first + 1
                    ),
                );
            } else {
                seen.insert(&tg.name, i);
            }
        }
        if job.job_type == JobType::System && tg.count > 1 {
            errs.add(
                field(&path, "Count"),
                format!(
                    "Job task group {} has count {}. Count cannot exceed 1 with system scheduler",
                    tg.name, tg.count
                ),
            );
        }
        total_count += i64::from(tg.count);
        validate_group(job, tg, &path, known_drivers, errs);
    }
    if total_count > JOB_MAX_COUNT {
        errs.add(
            "TaskGroups",
            format!(
                "total count was greater than configured job_max_count: {total_count} > {JOB_MAX_COUNT}"
            ),
        );
    }

    let batch_like = matches!(job.job_type, JobType::Batch | JobType::Sysbatch);
    if let Some(p) = &job.periodic {
        if p.enabled && !batch_like {
            errs.add(
                "Periodic",
                "Periodic can only be used with \"batch\" or \"sysbatch\" scheduler",
            );
        }
        for (path, message) in crate::periodic::validate_periodic(p) {
            errs.add(path, message);
        }
    }
    if let Some(p) = &job.parameterized_job {
        if !job.dispatched && !batch_like {
            errs.add(
                "ParameterizedJob",
                "Parameterized job can only be used with \"batch\" or \"sysbatch\" scheduler",
            );
        }
        for (path, message) in crate::periodic::validate_parameterized(p) {
            errs.add(path, message);
        }
    }
}

fn validate_affinities(job_type: JobType, affinities: &[Affinity], base: &str, errs: &mut Errors) {
    if job_type == JobType::System {
        if !affinities.is_empty() {
            errs.add(
                field(base, "Affinities"),
                "System jobs may not have an affinity block",
            );
        }
        return;
    }
    for (i, a) in affinities.iter().enumerate() {
        validate_affinity(a, &field(base, &format!("Affinities[{i}]")), errs);
    }
}

/// Only `system` jobs refuse spreads in Nomad; `sysbatch` ones pass.
fn validate_spreads(job_type: JobType, spreads: &[Spread], base: &str, errs: &mut Errors) {
    if job_type == JobType::System {
        if !spreads.is_empty() {
            errs.add(
                field(base, "Spreads"),
                "System jobs may not have a spread block",
            );
        }
        return;
    }
    for (i, s) in spreads.iter().enumerate() {
        validate_spread(s, &field(base, &format!("Spreads[{i}]")), errs);
    }
}

fn validate_group(
    job: &Job,
    tg: &TaskGroup,
    path: &str,
    known_drivers: &[&str],
    errs: &mut Errors,
) {
    if tg.name.is_empty() {
        errs.add(field(path, "Name"), "Missing task group name");
    } else if tg.name.contains('\0') {
        errs.add(
            field(path, "Name"),
            "Task group name contains null character",
        );
    }
    if tg.count < 0 {
        errs.add(field(path, "Count"), "Task group count can't be negative");
    }
    if tg.shutdown_delay.is_some_and(|d| d < 0) {
        errs.add(
            field(path, "ShutdownDelay"),
            "ShutdownDelay must be a positive value",
        );
    }
    if tg.tasks.is_empty() {
        errs.add(field(path, "Tasks"), "Missing tasks for task group");
    }
    for (i, c) in tg.constraints.iter().enumerate() {
        validate_constraint(c, &field(path, &format!("Constraints[{i}]")), errs);
    }
    validate_affinities(job.job_type, &tg.affinities, path, errs);
    validate_spreads(job.job_type, &tg.spreads, path, errs);
    super::scaling::validate_scaling(tg, path, errs);

    match &tg.restart_policy {
        Some(rp) => validate_restart(rp, &field(path, "RestartPolicy"), errs),
        None => errs.add(
            field(path, "RestartPolicy"),
            format!("Task Group {} should have a restart policy", tg.name),
        ),
    }
    let reschedule_path = field(path, "ReschedulePolicy");
    match (&tg.reschedule_policy, job.job_type) {
        (Some(_), JobType::System | JobType::Sysbatch) => errs.add(
            reschedule_path,
            "System or sysbatch jobs should not have a reschedule policy",
        ),
        (None, JobType::System | JobType::Sysbatch) => {}
        (Some(rp), JobType::Service | JobType::Batch) => {
            validate_reschedule(rp, &reschedule_path, errs)
        }
        (None, JobType::Service | JobType::Batch) => errs.add(
            reschedule_path,
            format!("Task Group {} should have a reschedule policy", tg.name),
        ),
    }
    match &tg.ephemeral_disk {
        Some(disk) if disk.size_mb < 10 => errs.add(
            field(path, "EphemeralDisk.SizeMB"),
            format!("minimum DiskMB value is 10; got {}", disk.size_mb),
        ),
        Some(disk) if disk.size_mb > MAX_SIZE_MB => errs.add(
            field(path, "EphemeralDisk.SizeMB"),
            format!(
                "maximum DiskMB value is {MAX_SIZE_MB}; got {}",
                disk.size_mb
            ),
        ),
        Some(_) => {}
        None => errs.add(
            field(path, "EphemeralDisk"),
            format!(
                "Task Group {} should have an ephemeral disk object",
                tg.name
            ),
        ),
    }
    if let Some(update) = &tg.update {
        if !matches!(job.job_type, JobType::Service | JobType::System) {
            errs.add(
                field(path, "Update"),
                format!(
                    "Job type {:?} does not allow update block",
                    job.job_type.as_str()
                ),
            );
        }
        validate_update(update, &field(path, "Update"), errs);
    }

    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, task) in tg.tasks.iter().enumerate() {
        if task.name.is_empty() {
            continue; // validate_task reports it
        }
        if let Some(first) = seen.get(task.name.as_str()) {
            errs.add(
                field(path, &format!("Tasks[{i}].Name")),
                format!(
                    "Task {} redefines '{}' from task {}",
                    i + 1,
                    task.name,
                    first + 1
                ),
            );
        } else {
            seen.insert(&task.name, i);
        }
    }
    if tg.tasks.iter().filter(|t| t.leader).count() > 1 {
        errs.add(
            field(path, "Tasks"),
            "Only one task may be marked as leader",
        );
    }
    // A group of lifecycle tasks only has nothing to run them around.
    if !tg.tasks.is_empty() && tg.tasks.iter().all(|t| t.lifecycle_hook().is_some()) {
        errs.add(
            field(path, "Tasks"),
            format!("Task group {} must have at least one main task", tg.name),
        );
    }

    validate_networks(tg, path, errs);
    for (i, task) in tg.tasks.iter().enumerate() {
        let task_path = field(path, &format!("Tasks[{i}]"));
        validate_task(job.job_type, tg, task, &task_path, known_drivers, errs);
    }
}

fn validate_task(
    job_type: JobType,
    tg: &TaskGroup,
    task: &Task,
    path: &str,
    known_drivers: &[&str],
    errs: &mut Errors,
) {
    let name_path = field(path, "Name");
    if task.name.is_empty() {
        errs.add(&name_path, "Missing task name");
    }
    // The task's directory in the allocation is named after it, next to
    // the shared "alloc" directory.
    if task.name == "alloc" {
        errs.add(&name_path, "Task cannot be named \"alloc\"");
    }
    if task.name.contains(['/', '\\']) {
        errs.add(&name_path, "Task name cannot include slashes");
    } else if task.name.contains('\0') {
        errs.add(&name_path, "Task name cannot include null characters");
    }

    if let Some(file) = task.dispatch_payload.as_ref().map(|d| d.file.as_str()) {
        if let Some(why) = crate::periodic::dispatch_file_error(file) {
            errs.add(field(path, "DispatchPayload.File"), why);
        }
    }

    let driver_path = field(path, "Driver");
    if task.driver.is_empty() {
        errs.add(driver_path, "Missing task driver");
    } else if !known_drivers.is_empty() && !known_drivers.contains(&task.driver.as_str()) {
        errs.add(driver_path, format!("unknown driver {:?}", task.driver));
    }

    if task.kill_timeout < 0 {
        errs.add(
            field(path, "KillTimeout"),
            "KillTimeout must be a positive value",
        );
    } else if let Some(update) = tg.update.as_ref().filter(|_| job_type == JobType::Service) {
        // A progress deadline of 0 disables it, so it cannot conflict.
        if update.progress_deadline > 0 && task.kill_timeout > update.progress_deadline {
            errs.add(
                field(path, "KillTimeout"),
                format!(
                    "KillTimeout ({}) longer than the group's ProgressDeadline ({})",
                    go_duration(task.kill_timeout),
                    go_duration(update.progress_deadline)
                ),
            );
        }
    }
    if task.shutdown_delay < 0 {
        errs.add(
            field(path, "ShutdownDelay"),
            "ShutdownDelay must be a positive value",
        );
    }
    // nomad/structs/structs.go TaskLifecycleConfig.Validate.
    if let Some(lc) = &task.lifecycle {
        let hook_path = field(&field(path, "Lifecycle"), "Hook");
        match lc.hook.as_str() {
            "prestart" | "poststart" | "poststop" => {}
            "" => errs.add(
                hook_path,
                "Lifecycle validation failed: no lifecycle hook provided",
            ),
            other => errs.add(
                hook_path,
                format!("Lifecycle validation failed: invalid hook: {other}"),
            ),
        }
    }

    validate_resources(&task.resources, &field(path, "Resources"), errs);

    match &task.log_config {
        None => errs.add(field(path, "LogConfig"), "Missing Log Config"),
        Some(lc) => {
            let lc_path = field(path, "LogConfig");
            if lc.max_files < 1 {
                errs.add(
                    field(&lc_path, "MaxFiles"),
                    format!("minimum number of files is 1; got {}", lc.max_files),
                );
            }
            if lc.max_file_size_mb < 1 {
                errs.add(
                    field(&lc_path, "MaxFileSizeMB"),
                    format!("minimum file size is 1MB; got {}", lc.max_file_size_mb),
                );
            }
            if let Some(disk) = &tg.ephemeral_disk {
                let usage = i64::from(lc.max_files) * i64::from(lc.max_file_size_mb);
                if disk.size_mb <= usage {
                    errs.add(
                        lc_path,
                        format!(
                            "log storage ({usage} MB) must be less than requested disk capacity ({} MB)",
                            disk.size_mb
                        ),
                    );
                }
            }
        }
    }

    for (i, c) in task.constraints.iter().enumerate() {
        let c_path = field(path, &format!("Constraints[{i}]"));
        validate_constraint(c, &c_path, errs);
        if matches!(c.operand.as_str(), "distinct_hosts" | "distinct_property") {
            errs.add(
                field(&c_path, "Operand"),
                format!("disallowed Operand at task level: {}", c.operand),
            );
        }
    }
    validate_affinities(job_type, &task.affinities, path, errs);
}

/// `structs.Resources.Validate` and `MeetsMinResources`, plus maxima
/// Nomad does not have: a value no node could ever offer is refused here,
/// naming its field, rather than registered and left blocked forever.
fn validate_resources(res: &Resources, path: &str, errs: &mut Errors) {
    if res.cores > 0 && res.cpu > 0 {
        errs.add(
            path,
            "Task can only ask for 'cpu' or 'cores' resource, not both.",
        );
    }
    if res.cores < 0 {
        errs.add(
            field(path, "Cores"),
            format!("cores value ({}) cannot be negative", res.cores),
        );
    }
    if res.cores > MAX_CORES {
        errs.add(
            field(path, "Cores"),
            format!("maximum cores value is {MAX_CORES}; got {}", res.cores),
        );
    }
    if res.cpu < MIN_CPU_MHZ && res.cores == 0 {
        errs.add(
            field(path, "CPU"),
            format!("minimum CPU value is {MIN_CPU_MHZ}; got {}", res.cpu),
        );
    } else if res.cpu < 0 {
        // With cores asked for, Nomad lets any CPU through; a negative one
        // still means nothing.
        errs.add(
            field(path, "CPU"),
            format!("CPU value ({}) cannot be negative", res.cpu),
        );
    }
    if res.cpu > MAX_CPU_MHZ {
        errs.add(
            field(path, "CPU"),
            format!("maximum CPU value is {MAX_CPU_MHZ}; got {}", res.cpu),
        );
    }
    if res.memory_mb < MIN_MEMORY_MB {
        errs.add(
            field(path, "MemoryMB"),
            format!(
                "minimum MemoryMB value is {MIN_MEMORY_MB}; got {}",
                res.memory_mb
            ),
        );
    }
    if res.memory_mb > MAX_SIZE_MB {
        errs.add(
            field(path, "MemoryMB"),
            format!(
                "maximum MemoryMB value is {MAX_SIZE_MB}; got {}",
                res.memory_mb
            ),
        );
    }
    if res.memory_max_mb > MAX_SIZE_MB {
        errs.add(
            field(path, "MemoryMaxMB"),
            format!(
                "maximum MemoryMaxMB value is {MAX_SIZE_MB}; got {}",
                res.memory_max_mb
            ),
        );
    }
    if res.disk_mb > 0 {
        errs.add(
            field(path, "DiskMB"),
            "Task can't ask for disk resources, they have to be specified at the task group level.",
        );
    }
    // 0 (no limit asked) and -1 (MemoryNoLimit) are sentinels.
    if res.memory_max_mb != 0 && res.memory_max_mb != -1 && res.memory_max_mb < res.memory_mb {
        errs.add(
            field(path, "MemoryMaxMB"),
            format!(
                "MemoryMaxMB value ({}) should be larger than MemoryMB value ({})",
                res.memory_max_mb, res.memory_mb
            ),
        );
    }
}
