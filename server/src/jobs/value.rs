//! Nomad's API defaults, applied to the JSON of a job before it is decoded.
//!
//! This is `api.Job.Canonicalize` (api/jobs.go) with `TaskGroup.Canonicalize`
//! and `Task.Canonicalize` (api/tasks.go) and `Resources.Canonicalize`
//! (api/resources.go), restricted to the fields Drover models plus the two
//! unmodeled blocks that feed modeled ones (a job-level `Reschedule` block is
//! merged into the groups; a group's `Scaling.Min` is its default `Count`).
//! In Go every one of these fields is a pointer and a default applies only
//! when it is nil; here "nil" is a member that is missing or `null`.
//!
//! The pass only ever *adds* members. A member that is present with the
//! wrong type is left alone, so the typed decode that follows still reports
//! it with its path. The default values come from the typed defaults in
//! [`super::canonicalize`], serialized once per process, so each number
//! lives in one place and a register does not serialize them again.

use std::sync::OnceLock;

use serde::Serialize;
use serde_json::{Map, Value};

use super::canonicalize::{
    default_ephemeral_disk, default_log_config, default_reschedule_policy, default_restart_policy,
    default_update_strategy, DEFAULT_CPU_MHZ, DEFAULT_MEMORY_MB, DEFAULT_NAMESPACE, GLOBAL_REGION,
    JOB_DEFAULT_PRIORITY,
};
use drover_api::{JobType, ReschedulePolicy, DEFAULT_KILL_TIMEOUT};

/// Fills absent fields of a job given as JSON with Nomad's API defaults.
/// Anything but an object is left untouched.
pub fn canonicalize_value(job: &mut Value) {
    let Value::Object(job) = job else { return };

    set_absent(job, "ID", Value::from(""));
    if is_absent(job, "Name") {
        if let Some(id) = job.get("ID").filter(|id| id.is_string()).cloned() {
            job.insert("Name".to_owned(), id);
        }
    }
    set_absent(job, "Namespace", Value::from(DEFAULT_NAMESPACE));
    set_absent(job, "Priority", Value::from(JOB_DEFAULT_PRIORITY));
    set_absent(job, "Region", Value::from(GLOBAL_REGION));
    set_absent(job, "Type", Value::from("service"));
    let job_type = JobKind::of(job.get("Type"));

    // The job's update block is completed first, then merged into groups.
    match job.get_mut("Update") {
        Some(Value::Object(update)) => fill_absent(update, update_defaults()),
        Some(Value::Null) | None if job_type.has_default_update() => {
            job.insert(
                "Update".to_owned(),
                Value::Object(update_defaults().clone()),
            );
        }
        _ => {}
    }
    let job_update = object(job.get("Update")).cloned();
    let job_reschedule = object(job.get("Reschedule")).cloned();
    let job_defaults = GroupContext {
        kind: job_type,
        update: job_update.as_ref(),
        reschedule: job_reschedule.as_ref(),
    };

    if let Some(Value::Array(groups)) = job.get_mut("TaskGroups") {
        for group in groups {
            if let Value::Object(group) = group {
                canonicalize_group(group, &job_defaults);
            }
        }
    }
    canonicalize_affinities(job);
}

/// The job type as far as defaults care. An unknown or mistyped `Type` is
/// `Other`: the typed decode rejects it, but defaults must still not panic
/// (Nomad's GH-7203 handles the same case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobKind {
    Known(JobType),
    Other,
}

impl JobKind {
    fn of(value: Option<&Value>) -> JobKind {
        match value.and_then(Value::as_str) {
            Some("service") => JobKind::Known(JobType::Service),
            Some("batch") => JobKind::Known(JobType::Batch),
            Some("system") => JobKind::Known(JobType::System),
            Some("sysbatch") => JobKind::Known(JobType::Sysbatch),
            _ => JobKind::Other,
        }
    }

    /// api.Job.Canonicalize gives service and system jobs an update block.
    fn has_default_update(self) -> bool {
        matches!(
            self,
            JobKind::Known(JobType::Service) | JobKind::Known(JobType::System)
        )
    }

    /// api.TaskGroup.Canonicalize: service and system get the service
    /// restart policy, everything else the batch one.
    fn restart_policy(self) -> &'static Map<String, Value> {
        static BY_TYPE: [OnceLock<Map<String, Value>>; 4] = [const { OnceLock::new() }; 4];
        let job_type = match self {
            JobKind::Known(t) => t,
            JobKind::Other => JobType::Batch,
        };
        BY_TYPE[type_slot(job_type)].get_or_init(|| to_object(&default_restart_policy(job_type)))
    }

    /// Whether a group without a reschedule policy gets one.
    fn gets_reschedule_policy(self) -> bool {
        !matches!(
            self,
            JobKind::Known(JobType::System) | JobKind::Known(JobType::Sysbatch)
        )
    }

    /// api.NewDefaultReschedulePolicy: the type's policy, or an all-zero one
    /// for types that never reschedule.
    fn reschedule_policy(self) -> &'static Map<String, Value> {
        static BY_TYPE: [OnceLock<Map<String, Value>>; 4] = [const { OnceLock::new() }; 4];
        static OTHER: OnceLock<Map<String, Value>> = OnceLock::new();
        let cell = match self {
            JobKind::Known(t) => &BY_TYPE[type_slot(t)],
            JobKind::Other => &OTHER,
        };
        cell.get_or_init(|| {
            let policy = match self {
                JobKind::Known(t) => default_reschedule_policy(t),
                JobKind::Other => None,
            };
            to_object(&policy.unwrap_or_else(ReschedulePolicy::default))
        })
    }
}

fn type_slot(t: JobType) -> usize {
    match t {
        JobType::Service => 0,
        JobType::Batch => 1,
        JobType::System => 2,
        JobType::Sysbatch => 3,
    }
}

fn update_defaults() -> &'static Map<String, Value> {
    static DEFAULTS: OnceLock<Map<String, Value>> = OnceLock::new();
    DEFAULTS.get_or_init(|| to_object(&default_update_strategy()))
}

fn ephemeral_disk_defaults() -> &'static Map<String, Value> {
    static DEFAULTS: OnceLock<Map<String, Value>> = OnceLock::new();
    DEFAULTS.get_or_init(|| to_object(&default_ephemeral_disk()))
}

fn log_config_defaults() -> &'static Map<String, Value> {
    static DEFAULTS: OnceLock<Map<String, Value>> = OnceLock::new();
    DEFAULTS.get_or_init(|| to_object(&default_log_config()))
}

struct GroupContext<'a> {
    kind: JobKind,
    update: Option<&'a Map<String, Value>>,
    reschedule: Option<&'a Map<String, Value>>,
}

fn canonicalize_group(group: &mut Map<String, Value>, job: &GroupContext<'_>) {
    // api.TaskGroup.Canonicalize (api/tasks.go): a nil Count becomes
    // Scaling.Min, else 1. An explicit `"Count": 0` is kept: the server's
    // TaskGroup.Validate (nomad/structs/structs.go) refuses only a negative
    // count, and 0 is how a group is scaled down to no allocations.
    if is_absent(group, "Count") {
        let count = object(group.get("Scaling"))
            .and_then(|s| s.get("Min"))
            // A minimum that is no valid count is the scaling block's
            // problem, not a reason to invent a bad Count.
            .filter(|min| min.as_i64().is_some_and(|m| i32::try_from(m).is_ok()))
            .cloned()
            .unwrap_or_else(|| Value::from(1));
        group.insert("Count".to_owned(), count);
    }

    fill_or_insert(group, "EphemeralDisk", ephemeral_disk_defaults());

    // Update: group fields win over the job's; a group without a block
    // inherits the job's unless that one is empty; then defaults.
    if let Some(job_update) = job.update {
        match group.get_mut("Update") {
            Some(Value::Object(update)) => fill_absent(update, job_update),
            Some(Value::Null) | None if !is_empty_update(job_update) => {
                group.insert("Update".to_owned(), Value::Object(job_update.clone()));
            }
            _ => {}
        }
    }
    if let Some(Value::Object(update)) = group.get_mut("Update") {
        fill_absent(update, update_defaults());
    }

    // Reschedule: the same merge with the job-level block, then the type's
    // defaults for whatever is still missing.
    if let Some(job_reschedule) = job.reschedule {
        match group.get_mut("ReschedulePolicy") {
            Some(Value::Object(policy)) => fill_absent(policy, job_reschedule),
            Some(Value::Null) | None => {
                group.insert(
                    "ReschedulePolicy".to_owned(),
                    Value::Object(job_reschedule.clone()),
                );
            }
            _ => {}
        }
    }
    if is_absent(group, "ReschedulePolicy") && job.kind.gets_reschedule_policy() {
        group.insert(
            "ReschedulePolicy".to_owned(),
            Value::Object(job.kind.reschedule_policy().clone()),
        );
    } else if let Some(Value::Object(policy)) = group.get_mut("ReschedulePolicy") {
        fill_absent(policy, job.kind.reschedule_policy());
    }

    fill_or_insert(group, "RestartPolicy", job.kind.restart_policy());
    let group_restart = object(group.get("RestartPolicy")).cloned();

    if let Some(Value::Array(tasks)) = group.get_mut("Tasks") {
        for task in tasks {
            if let Value::Object(task) = task {
                canonicalize_task(task, group_restart.as_ref());
            }
        }
    }
    canonicalize_affinities(group);
}

fn canonicalize_task(task: &mut Map<String, Value>, group_restart: Option<&Map<String, Value>>) {
    set_absent(task, "Resources", Value::Object(Map::new()));
    if let Some(Value::Object(resources)) = task.get_mut("Resources") {
        canonicalize_resources(resources);
    }
    set_absent(task, "KillTimeout", Value::from(DEFAULT_KILL_TIMEOUT));
    fill_or_insert(task, "LogConfig", log_config_defaults());
    // A task's own restart policy is the group's, overridden field by field.
    if let Some(group_restart) = group_restart {
        fill_or_insert(task, "RestartPolicy", group_restart);
    }
    canonicalize_affinities(task);
}

/// api.Resources.Canonicalize: CPU defaults only when cores are not asked
/// for either (a task reserving whole cores asks for no shares).
fn canonicalize_resources(resources: &mut Map<String, Value>) {
    if is_absent(resources, "Cores") {
        resources.insert("Cores".to_owned(), Value::from(0));
        set_absent(resources, "CPU", Value::from(DEFAULT_CPU_MHZ));
    }
    set_absent(resources, "CPU", Value::from(0));
    set_absent(resources, "MemoryMB", Value::from(DEFAULT_MEMORY_MB));
}

/// api.Affinity.Canonicalize: weight 50 unless given.
/// api.Affinity.Canonicalize and api.Spread.Canonicalize: an unset weight is 50.
fn canonicalize_affinities(holder: &mut Map<String, Value>) {
    for key in ["Affinities", "Spreads"] {
        if let Some(Value::Array(items)) = holder.get_mut(key) {
            for item in items {
                if let Value::Object(item) = item {
                    set_absent(item, "Weight", Value::from(50));
                }
            }
        }
    }
}

/// api.UpdateStrategy.Empty: every field unset or zero.
fn is_empty_update(update: &Map<String, Value>) -> bool {
    const FIELDS: [&str; 9] = [
        "Stagger",
        "MaxParallel",
        "HealthCheck",
        "MinHealthyTime",
        "HealthyDeadline",
        "ProgressDeadline",
        "AutoRevert",
        "AutoPromote",
        "Canary",
    ];
    FIELDS.iter().all(|field| match update.get(*field) {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => !b,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(_)) | Some(Value::Object(_)) => false,
    })
}

fn is_absent(obj: &Map<String, Value>, key: &str) -> bool {
    matches!(obj.get(key), None | Some(Value::Null))
}

fn set_absent(obj: &mut Map<String, Value>, key: &str, value: Value) {
    if is_absent(obj, key) {
        obj.insert(key.to_owned(), value);
    }
}

/// Copies every member of `defaults` that `obj` lacks: Go's
/// `defaults.Merge(obj)` for pointer-field structs.
fn fill_absent(obj: &mut Map<String, Value>, defaults: &Map<String, Value>) {
    for (key, value) in defaults {
        set_absent(obj, key, value.clone());
    }
}

/// A missing block becomes `defaults`; a present one gets its missing
/// members from `defaults`; a mistyped one is left for the decoder.
fn fill_or_insert(obj: &mut Map<String, Value>, key: &str, defaults: &Map<String, Value>) {
    match obj.get_mut(key) {
        Some(Value::Object(block)) => fill_absent(block, defaults),
        Some(Value::Null) | None => {
            obj.insert(key.to_owned(), Value::Object(defaults.clone()));
        }
        Some(_) => {}
    }
}

fn object(value: Option<&Value>) -> Option<&Map<String, Value>> {
    value.and_then(Value::as_object)
}

/// The JSON object of a default. The defaults are plain structs of numbers,
/// strings and booleans, which always serialize to an object; the empty map
/// fallback only exists so that this can never panic.
fn to_object<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        Ok(_) | Err(_) => Map::new(),
    }
}
