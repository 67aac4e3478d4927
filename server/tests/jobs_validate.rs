//! Job validation: every rule, with the exact path and message it reports.
//!
//! Each case starts from a small valid job (decoded and canonicalized the
//! way a handler does it), breaks one thing, and lists what `validate`
//! must say about it.

use drover_api::{Job, JobRegisterRequest, JobType};
use drover_server::jobs::{
    canonicalize, decode_job_request, validate, validate_register, ValidationErrors, MAX_CPU_MHZ,
    MAX_SIZE_MB,
};

const DRIVERS: &[&str] = &["docker", "raw_exec"];
const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;

/// `want` lists `(path, message)` in report order; empty means valid.
#[track_caller]
fn check<T>(got: Result<T, ValidationErrors>, want: &[(&str, &str)]) {
    let got: Vec<(String, String)> = match got {
        Ok(_) => Vec::new(),
        Err(errs) => errs.0.into_iter().map(|e| (e.path, e.message)).collect(),
    };
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(p, m)| (p.to_string(), m.to_string()))
        .collect();
    assert_eq!(got, want);
}

/// A valid canonical service job (group "web", task "server"), changed by `f`.
fn job_with(f: impl FnOnce(&mut Job)) -> Job {
    let body = br#"{"Job": {"ID": "web", "Datacenters": ["dc1"], "TaskGroups": [
        {"Name": "web", "Tasks": [{"Name": "server", "Driver": "docker",
                                   "Config": {"image": "nginx:1.27"}}]}]}}"#;
    let req: JobRegisterRequest = decode_job_request(body).expect("valid fixture");
    let mut job = req.job.expect("fixture has a job");
    canonicalize(&mut job);
    f(&mut job);
    job
}

fn valid(f: impl FnOnce(&mut Job)) -> Result<(), ValidationErrors> {
    validate(&job_with(f), DRIVERS)
}

#[test]
fn base_job_is_valid() {
    check(valid(|_| {}), &[]);
    // An empty driver list accepts any driver name.
    let job = job_with(|j| j.task_groups[0].tasks[0].driver = "exec2".into());
    check(validate(&job, &[]), &[]);
}

#[test]
fn job_identity() {
    check(
        valid(|j| j.region.clear()),
        &[("Region", "Missing job region")],
    );
    check(valid(|j| j.id.clear()), &[("ID", "Missing job ID")]);
    check(
        valid(|j| j.id = "my job".into()),
        &[("ID", "Job ID contains a space")],
    );
    check(
        valid(|j| j.id = "a\0b".into()),
        &[("ID", "Job ID contains a null character")],
    );
    check(valid(|j| j.name.clear()), &[("Name", "Missing job name")]);
    check(
        valid(|j| j.name = "n\0".into()),
        &[("Name", "Job Name contains a null character")],
    );
    check(
        valid(|j| j.namespace.clear()),
        &[("Namespace", "Job must be in a namespace")],
    );
}

#[test]
fn job_priority_and_datacenters() {
    let range = [("Priority", "job priority must be between [1, 100]")];
    check(valid(|j| j.priority = 0), &range);
    check(valid(|j| j.priority = 101), &range);
    check(valid(|j| j.priority = -5), &range);
    check(valid(|j| j.priority = 1), &[]);
    check(valid(|j| j.priority = 100), &[]);
    check(
        valid(|j| j.datacenters.clear()),
        &[("Datacenters", "Missing job datacenters")],
    );
    check(
        valid(|j| j.datacenters = vec!["dc1".into(), String::new()]),
        &[("Datacenters[1]", "Job datacenter must be non-empty string")],
    );
}

#[test]
fn job_task_groups() {
    check(
        valid(|j| j.task_groups.clear()),
        &[("TaskGroups", "Missing job task groups")],
    );
    check(
        valid(|j| {
            let copy = j.task_groups[0].clone();
            j.task_groups.push(copy);
        }),
        &[(
            "TaskGroups[1].Name",
            "Job task group 2 redefines 'web' from group 1",
        )],
    );
    check(
        valid(|j| j.task_groups[0].name.clear()),
        &[("TaskGroups[0].Name", "Missing task group name")],
    );
    check(
        valid(|j| j.task_groups[0].name = "w\0".into()),
        &[(
            "TaskGroups[0].Name",
            "Task group name contains null character",
        )],
    );
    check(
        valid(|j| j.task_groups[0].tasks.clear()),
        &[("TaskGroups[0].Tasks", "Missing tasks for task group")],
    );
    check(
        valid(|j| j.task_groups[0].shutdown_delay = Some(-S)),
        &[(
            "TaskGroups[0].ShutdownDelay",
            "ShutdownDelay must be a positive value",
        )],
    );
}

#[test]
fn group_count() {
    check(valid(|j| j.task_groups[0].count = 0), &[]);
    check(
        valid(|j| j.task_groups[0].count = -1),
        &[("TaskGroups[0].Count", "Task group count can't be negative")],
    );
    check(
        valid(|j| j.task_groups[0].count = 50_001),
        &[(
            "TaskGroups",
            "total count was greater than configured job_max_count: 50001 > 50000",
        )],
    );
    check(
        valid(|j| {
            j.job_type = JobType::System;
            j.task_groups[0].reschedule_policy = None;
            j.task_groups[0].count = 2;
        }),
        &[(
            "TaskGroups[0].Count",
            "Job task group web has count 2. Count cannot exceed 1 with system scheduler",
        )],
    );
}

#[test]
fn task_names() {
    check(
        valid(|j| {
            let copy = j.task_groups[0].tasks[0].clone();
            j.task_groups[0].tasks.push(copy);
        }),
        &[(
            "TaskGroups[0].Tasks[1].Name",
            "Task 2 redefines 'server' from task 1",
        )],
    );
    let task_name = |name: &str| {
        let name = name.to_owned();
        valid(move |j| j.task_groups[0].tasks[0].name = name)
    };
    let path = "TaskGroups[0].Tasks[0].Name";
    check(task_name(""), &[(path, "Missing task name")]);
    check(
        task_name("alloc"),
        &[(path, "Task cannot be named \"alloc\"")],
    );
    check(
        task_name("a/b"),
        &[(path, "Task name cannot include slashes")],
    );
    check(
        task_name("a\\b"),
        &[(path, "Task name cannot include slashes")],
    );
    check(
        task_name("a\0b"),
        &[(path, "Task name cannot include null characters")],
    );
    check(
        valid(|j| {
            let mut second = j.task_groups[0].tasks[0].clone();
            second.name = "sidecar".into();
            second.leader = true;
            j.task_groups[0].tasks[0].leader = true;
            j.task_groups[0].tasks.push(second);
        }),
        &[(
            "TaskGroups[0].Tasks",
            "Only one task may be marked as leader",
        )],
    );
    let hook = |h: &'static str| {
        valid(move |j| {
            let mut main = j.task_groups[0].tasks[0].clone();
            main.name = "main".into();
            j.task_groups[0].tasks[0].lifecycle = Some(drover_api::TaskLifecycle {
                hook: h.into(),
                sidecar: false,
            });
            j.task_groups[0].tasks.push(main);
        })
    };
    let hook_path = "TaskGroups[0].Tasks[0].Lifecycle.Hook";
    check(
        hook("later"),
        &[(
            hook_path,
            "Lifecycle validation failed: invalid hook: later",
        )],
    );
    check(
        hook(""),
        &[(
            hook_path,
            "Lifecycle validation failed: no lifecycle hook provided",
        )],
    );
    check(hook("poststop"), &[]);
    check(
        valid(|j| {
            j.task_groups[0].tasks[0].lifecycle = Some(drover_api::TaskLifecycle {
                hook: "prestart".into(),
                sidecar: true,
            });
        }),
        &[(
            "TaskGroups[0].Tasks",
            "Task group web must have at least one main task",
        )],
    );
}

#[test]
fn task_driver() {
    let path = "TaskGroups[0].Tasks[0].Driver";
    check(
        valid(|j| j.task_groups[0].tasks[0].driver.clear()),
        &[(path, "Missing task driver")],
    );
    check(
        valid(|j| j.task_groups[0].tasks[0].driver = "foo".into()),
        &[(path, "unknown driver \"foo\"")],
    );
    check(
        valid(|j| j.task_groups[0].tasks[0].driver = "raw_exec".into()),
        &[],
    );
}

#[test]
fn task_resources() {
    let res =
        |f: fn(&mut drover_api::Resources)| valid(|j| f(&mut j.task_groups[0].tasks[0].resources));
    let p = "TaskGroups[0].Tasks[0].Resources";
    check(
        res(|r| r.cpu = -1),
        &[(&format!("{p}.CPU"), "minimum CPU value is 1; got -1")],
    );
    check(
        res(|r| r.memory_mb = 5),
        &[(
            &format!("{p}.MemoryMB"),
            "minimum MemoryMB value is 10; got 5",
        )],
    );
    check(
        res(|r| r.cores = 2),
        &[(
            p,
            "Task can only ask for 'cpu' or 'cores' resource, not both.",
        )],
    );
    check(
        res(|r| {
            r.cores = 2;
            r.cpu = 0;
        }),
        &[],
    );
    check(
        res(|r| r.cores = -1),
        &[(&format!("{p}.Cores"), "cores value (-1) cannot be negative")],
    );
    check(
        res(|r| r.disk_mb = 100),
        &[(
            &format!("{p}.DiskMB"),
            "Task can't ask for disk resources, they have to be specified at the task group level.",
        )],
    );
    check(
        res(|r| r.memory_max_mb = 200),
        &[(
            &format!("{p}.MemoryMaxMB"),
            "MemoryMaxMB value (200) should be larger than MemoryMB value (300)",
        )],
    );
    check(res(|r| r.memory_max_mb = -1), &[]);
    check(res(|r| r.memory_max_mb = 1024), &[]);
}

/// Values no node could offer: Nomad's minima (nomad/structs/structs.go
/// `MinResources`), and maxima so that nothing downstream overflows.
#[test]
fn task_resources_out_of_range() {
    let res =
        |f: fn(&mut drover_api::Resources)| valid(|j| f(&mut j.task_groups[0].tasks[0].resources));
    let p = "TaskGroups[0].Tasks[0].Resources";
    check(
        res(|r| r.memory_mb = i64::MAX),
        &[(
            &format!("{p}.MemoryMB"),
            "maximum MemoryMB value is 8796093022207; got 9223372036854775807",
        )],
    );
    check(res(|r| r.memory_mb = MAX_SIZE_MB), &[]);
    check(
        res(|r| r.memory_max_mb = i64::MAX),
        &[(
            &format!("{p}.MemoryMaxMB"),
            "maximum MemoryMaxMB value is 8796093022207; got 9223372036854775807",
        )],
    );
    check(
        res(|r| r.memory_mb = i64::MIN),
        &[(
            &format!("{p}.MemoryMB"),
            "minimum MemoryMB value is 10; got -9223372036854775808",
        )],
    );
    check(
        res(|r| r.cpu = i64::MAX),
        &[(
            &format!("{p}.CPU"),
            "maximum CPU value is 4294836225; got 9223372036854775807",
        )],
    );
    check(res(|r| r.cpu = MAX_CPU_MHZ), &[]);
    check(
        res(|r| r.cpu = i64::MIN),
        &[(
            &format!("{p}.CPU"),
            "minimum CPU value is 1; got -9223372036854775808",
        )],
    );
    // With cores asked for, Nomad would let a negative CPU through.
    check(
        res(|r| {
            r.cores = 2;
            r.cpu = -5;
        }),
        &[(&format!("{p}.CPU"), "CPU value (-5) cannot be negative")],
    );
    check(
        res(|r| {
            r.cores = i64::MAX;
            r.cpu = 0;
        }),
        &[(
            &format!("{p}.Cores"),
            "maximum cores value is 65535; got 9223372036854775807",
        )],
    );
    check(
        valid(|j| {
            let disk = j.task_groups[0].ephemeral_disk.as_mut().expect("canonical");
            disk.size_mb = i64::MAX;
        }),
        &[(
            "TaskGroups[0].EphemeralDisk.SizeMB",
            "maximum DiskMB value is 8796093022207; got 9223372036854775807",
        )],
    );
}

#[test]
fn task_timeouts_and_logs() {
    let p = "TaskGroups[0].Tasks[0]";
    check(
        valid(|j| j.task_groups[0].tasks[0].kill_timeout = -S),
        &[(
            &format!("{p}.KillTimeout"),
            "KillTimeout must be a positive value",
        )],
    );
    // The default update block has a 10m progress deadline.
    check(
        valid(|j| j.task_groups[0].tasks[0].kill_timeout = 11 * M),
        &[(
            &format!("{p}.KillTimeout"),
            "KillTimeout (11m0s) longer than the group's ProgressDeadline (10m0s)",
        )],
    );
    check(
        valid(|j| {
            j.task_groups[0].tasks[0].kill_timeout = 11 * M;
            if let Some(u) = &mut j.task_groups[0].update {
                u.progress_deadline = 0;
            }
        }),
        &[],
    );
    check(
        valid(|j| j.task_groups[0].tasks[0].shutdown_delay = -S),
        &[(
            &format!("{p}.ShutdownDelay"),
            "ShutdownDelay must be a positive value",
        )],
    );
    check(
        valid(|j| j.task_groups[0].tasks[0].log_config = None),
        &[(&format!("{p}.LogConfig"), "Missing Log Config")],
    );
    check(
        valid(|j| {
            let lc = j.task_groups[0].tasks[0]
                .log_config
                .as_mut()
                .expect("canonical");
            lc.max_files = 0;
            lc.max_file_size_mb = 0;
        }),
        &[
            (
                &format!("{p}.LogConfig.MaxFiles"),
                "minimum number of files is 1; got 0",
            ),
            (
                &format!("{p}.LogConfig.MaxFileSizeMB"),
                "minimum file size is 1MB; got 0",
            ),
        ],
    );
}

#[test]
fn group_ephemeral_disk() {
    check(
        valid(|j| {
            j.task_groups[0]
                .ephemeral_disk
                .as_mut()
                .expect("canonical")
                .size_mb = 50
        }),
        &[(
            "TaskGroups[0].Tasks[0].LogConfig",
            "log storage (100 MB) must be less than requested disk capacity (50 MB)",
        )],
    );
    check(
        valid(|j| {
            j.task_groups[0]
                .ephemeral_disk
                .as_mut()
                .expect("canonical")
                .size_mb = 5
        }),
        &[
            (
                "TaskGroups[0].EphemeralDisk.SizeMB",
                "minimum DiskMB value is 10; got 5",
            ),
            (
                "TaskGroups[0].Tasks[0].LogConfig",
                "log storage (100 MB) must be less than requested disk capacity (5 MB)",
            ),
        ],
    );
    check(
        valid(|j| j.task_groups[0].ephemeral_disk = None),
        &[(
            "TaskGroups[0].EphemeralDisk",
            "Task Group web should have an ephemeral disk object",
        )],
    );
}

#[test]
fn many_errors_at_once_in_document_order() {
    let got = valid(|j| {
        j.priority = 500;
        j.task_groups[0].count = -3;
        j.task_groups[0].tasks[0].driver = "foo".into();
    });
    let display = got.as_ref().map_err(ToString::to_string).err();
    assert_eq!(
        display.as_deref(),
        Some(
            "3 errors occurred:\n\
             \t* Priority: job priority must be between [1, 100]\n\
             \t* TaskGroups[0].Count: Task group count can't be negative\n\
             \t* TaskGroups[0].Tasks[0].Driver: unknown driver \"foo\"\n\n"
        )
    );
    check(
        got,
        &[
            ("Priority", "job priority must be between [1, 100]"),
            ("TaskGroups[0].Count", "Task group count can't be negative"),
            ("TaskGroups[0].Tasks[0].Driver", "unknown driver \"foo\""),
        ],
    );
    let one = valid(|j| j.region.clear()).map_err(|e| e.to_string());
    assert_eq!(
        one,
        Err("1 error occurred:\n\t* Region: Missing job region\n\n".to_owned())
    );
}

#[test]
fn register_request() {
    let req = |id: Option<&str>| JobRegisterRequest {
        job: id.map(|id| Job {
            id: id.into(),
            ..Job::default()
        }),
        ..JobRegisterRequest::default()
    };
    check(
        validate_register(&req(None), None),
        &[("Job", "missing job")],
    );
    check(
        validate_register(&req(None), Some("web")),
        &[("Job", "missing job")],
    );
    check(
        validate_register(&req(Some("api")), Some("web")),
        &[("Job.ID", "does not match URL")],
    );
    check(validate_register(&req(Some("web")), Some("web")), &[]);
    check(validate_register(&req(Some("web")), None), &[]);
    // A missing ID is left to `validate`, which reports it with the rest.
    check(validate_register(&req(Some("")), Some("web")), &[]);
    let r = req(Some("web"));
    assert_eq!(
        validate_register(&r, None).map(|j| j.id.as_str()),
        Ok("web")
    );
}
