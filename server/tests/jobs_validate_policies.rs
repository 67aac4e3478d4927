//! Validation of the policy blocks, constraints, affinities and ports:
//! every rule with the exact path and message it reports, and no panic
//! on extreme numbers.
//!
//! Each case starts from a small valid job (decoded and canonicalized the
//! way a handler does it), breaks one thing, and lists what `validate`
//! must say about it.

use drover_api::{
    Affinity, Constraint, Job, JobRegisterRequest, JobType, NetworkResource, Port, ReschedulePolicy,
};
use drover_server::jobs::{canonicalize, decode_job_request, validate, ValidationErrors};

const DRIVERS: &[&str] = &["docker", "raw_exec"];
const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;

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

fn constraint(l: &str, op: &str, r: &str) -> Constraint {
    Constraint {
        l_target: l.into(),
        operand: op.into(),
        r_target: r.into(),
    }
}

fn port(label: &str, value: i64, to: i64) -> Port {
    Port {
        label: label.into(),
        value,
        to,
        ..Port::default()
    }
}

#[test]
fn restart_policy() {
    let rp = |f: fn(&mut drover_api::RestartPolicy)| {
        valid(|j| f(j.task_groups[0].restart_policy.as_mut().expect("canonical")))
    };
    let p = "TaskGroups[0].RestartPolicy";
    check(
        rp(|r| r.mode = "bogus".into()),
        &[(&format!("{p}.Mode"), "Unsupported restart mode: \"bogus\"")],
    );
    check(
        rp(|r| {
            r.attempts = 0;
            r.mode = "delay".into();
        }),
        &[(
            &format!("{p}.Attempts"),
            "Restart policy \"delay\" with 0 attempts is ambiguous",
        )],
    );
    check(
        rp(|r| r.attempts = -1),
        &[(
            &format!("{p}.Attempts"),
            "Attempts can not be negative (got -1)",
        )],
    );
    check(
        rp(|r| {
            r.attempts = 0;
            r.interval = S;
        }),
        &[(
            &format!("{p}.Interval"),
            "Interval can not be less than 5s (got 1s)",
        )],
    );
    check(
        rp(|r| {
            r.attempts = 3;
            r.interval = 10 * S;
        }),
        &[(
            p,
            "Nomad can't restart the TaskGroup 3 times in an interval of 10s with a delay of 15s",
        )],
    );
    check(
        valid(|j| j.task_groups[0].restart_policy = None),
        &[(p, "Task Group web should have a restart policy")],
    );
    // Nomad does not validate task-level policies; neither does Drover.
    check(
        valid(|j| {
            j.task_groups[0].tasks[0]
                .restart_policy
                .as_mut()
                .expect("canonical")
                .mode = "bogus".into()
        }),
        &[],
    );
}

fn reschedule(f: impl FnOnce(&mut ReschedulePolicy)) -> Result<(), ValidationErrors> {
    valid(|j| {
        f(j.task_groups[0]
            .reschedule_policy
            .as_mut()
            .expect("canonical"))
    })
}

/// A limited policy: `attempts` in `interval`, starting at `delay`.
fn limited(rp: &mut ReschedulePolicy, function: &str, attempts: i32, interval: i64, delay: i64) {
    rp.unlimited = false;
    rp.delay_function = function.into();
    rp.attempts = attempts;
    rp.interval = interval;
    rp.delay = delay;
}

#[test]
fn reschedule_policy_fields() {
    let p = "TaskGroups[0].ReschedulePolicy";
    check(
        reschedule(|r| r.delay = S),
        &[(
            &format!("{p}.Delay"),
            "Delay cannot be less than 5s (got 1s)",
        )],
    );
    check(
        reschedule(|r| r.delay_function = "linear".into()),
        &[(
            &format!("{p}.DelayFunction"),
            "Invalid delay function \"linear\", must be one of [\"constant\" \"exponential\" \"fibonacci\"]",
        )],
    );
    check(
        reschedule(|r| r.max_delay = 10 * S),
        &[(
            &format!("{p}.MaxDelay"),
            "Max Delay cannot be less than Delay 30s (got 10s)",
        )],
    );
    check(
        reschedule(|r| {
            r.attempts = 3;
            r.interval = H;
        }),
        &[(
            &format!("{p}.Unlimited"),
            "Reschedule Policy with Attempts = 3, Interval = 1h0m0s, and Unlimited = true is ambiguous: if Attempts > 0, Unlimited cannot also be set to true",
        )],
    );
    check(
        reschedule(|r| limited(r, "constant", 1, 5 * S, 5 * S)),
        &[(
            &format!("{p}.Interval"),
            "Interval cannot be less than 15s (got 5s)",
        )],
    );
    // Disabled policies are not checked at all.
    check(
        reschedule(|r| {
            limited(r, "bogus", 0, 0, 0);
        }),
        &[],
    );
    check(
        valid(|j| j.task_groups[0].reschedule_policy = None),
        &[(p, "Task Group web should have a reschedule policy")],
    );
    check(
        valid(|j| j.job_type = JobType::System),
        &[(
            p,
            "System or sysbatch jobs should not have a reschedule policy",
        )],
    );
}

#[test]
fn reschedule_policy_viable_attempts() {
    let p = "TaskGroups[0].ReschedulePolicy";
    check(
        reschedule(|r| limited(r, "constant", 3, 90 * S, 30 * S)),
        &[],
    );
    check(
        reschedule(|r| limited(r, "constant", 3, M, 30 * S)),
        &[(
            p,
            "Nomad can only make 2 attempts in 1m0s with initial delay 30s and delay function \"constant\"; set the interval to at least 1m30s to accommodate 3 attempts",
        )],
    );
    check(
        reschedule(|r| limited(r, "exponential", 5, 5 * M, 30 * S)),
        &[(
            p,
            "Nomad can only make 4 attempts in 5m0s with initial delay 30s and delay function \"exponential\", and delay ceiling 1h0m0s; set the interval to at least 8m0s to accommodate 5 attempts",
        )],
    );
    check(
        reschedule(|r| limited(r, "fibonacci", 5, 40 * S, 10 * S)),
        &[(
            p,
            "Nomad can only make 4 attempts in 40s with initial delay 10s and delay function \"fibonacci\", and delay ceiling 1h0m0s; set the interval to at least 50s to accommodate 5 attempts",
        )],
    );
    check(reschedule(|r| limited(r, "fibonacci", 5, M, 10 * S)), &[]);
}

/// Nomad loops once per attempt; Drover must answer at once, and the same.
#[test]
fn reschedule_policy_huge_attempts() {
    let p = "TaskGroups[0].ReschedulePolicy";
    check(
        reschedule(|r| limited(r, "exponential", i32::MAX, 24 * H, 30 * S)),
        &[(
            p,
            "Nomad can only make 30 attempts in 24h0m0s with initial delay 30s and delay function \"exponential\", and delay ceiling 1h0m0s; set the interval to at least 2562047h47m16.854775807s to accommodate 2147483647 attempts",
        )],
    );
    check(
        reschedule(|r| limited(r, "fibonacci", i32::MAX, 24 * H, 10 * S)),
        &[(
            p,
            "Nomad can only make 37 attempts in 24h0m0s with initial delay 10s and delay function \"fibonacci\", and delay ceiling 1h0m0s; set the interval to at least 2562047h47m16.854775807s to accommodate 2147483647 attempts",
        )],
    );
    check(
        reschedule(|r| limited(r, "constant", i32::MAX, 24 * H, 30 * S)),
        &[(
            p,
            "Nomad can only make 2880 attempts in 24h0m0s with initial delay 30s and delay function \"constant\"; set the interval to at least 2562047h47m16.854775807s to accommodate 2147483647 attempts",
        )],
    );
}

#[test]
fn update_strategy() {
    let up = |f: fn(&mut drover_api::UpdateStrategy)| {
        valid(|j| {
            f(j.task_groups[0]
                .update
                .as_mut()
                .expect("service jobs get one"))
        })
    };
    let p = "TaskGroups[0].Update";
    check(
        up(|u| u.health_check = "bogus".into()),
        &[(
            &format!("{p}.HealthCheck"),
            "Invalid health check given: \"bogus\"",
        )],
    );
    check(up(|u| u.health_check = "task_states".into()), &[]);
    check(up(|u| u.health_check = "manual".into()), &[]);
    check(
        up(|u| u.max_parallel = -1),
        &[(
            &format!("{p}.MaxParallel"),
            "Max parallel can not be less than zero: -1 < 0",
        )],
    );
    check(up(|u| u.max_parallel = 0), &[]);
    check(
        up(|u| u.canary = -1),
        &[(
            &format!("{p}.Canary"),
            "Canary count can not be less than zero: -1 < 0",
        )],
    );
    check(
        up(|u| u.auto_promote = true),
        &[(
            &format!("{p}.AutoPromote"),
            "Auto Promote requires a Canary count greater than zero",
        )],
    );
    check(
        up(|u| u.min_healthy_time = -S),
        &[(
            &format!("{p}.MinHealthyTime"),
            "Minimum healthy time may not be less than zero: -1s",
        )],
    );
    check(
        up(|u| u.min_healthy_time = 6 * M),
        &[(
            &format!("{p}.MinHealthyTime"),
            "Minimum healthy time must be less than healthy deadline: 6m0s > 5m0s",
        )],
    );
    check(
        up(|u| u.healthy_deadline = 11 * M),
        &[(
            &format!("{p}.HealthyDeadline"),
            "Healthy deadline must be less than progress deadline: 11m0s > 10m0s",
        )],
    );
    check(
        up(|u| u.progress_deadline = -S),
        &[
            (
                &format!("{p}.ProgressDeadline"),
                "Progress deadline must be zero or greater: -1s",
            ),
            (
                &format!("{p}.HealthyDeadline"),
                "Healthy deadline must be less than progress deadline: 5m0s > -1s",
            ),
        ],
    );
    check(
        up(|u| u.stagger = 0),
        &[(
            &format!("{p}.Stagger"),
            "Stagger must be greater than zero: 0s",
        )],
    );
    check(
        up(|u| {
            u.healthy_deadline = 0;
            u.min_healthy_time = 0;
        }),
        &[
            (
                &format!("{p}.HealthyDeadline"),
                "Healthy deadline must be greater than zero: 0s",
            ),
            (
                &format!("{p}.MinHealthyTime"),
                "Minimum healthy time must be less than healthy deadline: 0s > 0s",
            ),
        ],
    );
    check(
        valid(|j| j.job_type = JobType::Batch),
        &[(p, "Job type \"batch\" does not allow update block")],
    );
}

#[test]
fn constraints() {
    let job_level = |c: Constraint| valid(move |j| j.constraints = vec![c]);
    let p = "Constraints[0]";
    let at = |f: &str| format!("{p}.{f}");
    check(
        job_level(constraint("${attr.kernel.name}", "=", "linux")),
        &[],
    );
    check(job_level(constraint("${node.class}", "!=", "gpu")), &[]);
    check(job_level(constraint("literal", "==", "x")), &[]);
    check(job_level(constraint("", "distinct_hosts", "")), &[]);
    check(
        job_level(constraint("${meta.rack}", "distinct_property", "2")),
        &[],
    );
    check(
        job_level(constraint(
            "${attr.os.version}",
            "version",
            ">= 1.2, < 2.0.0-beta",
        )),
        &[],
    );
    check(
        job_level(constraint(
            "${attr.os.version}",
            "semver",
            "~> v1.2.3+build.5",
        )),
        &[],
    );
    check(
        job_level(constraint("${attr.kernel.name}", "regexp", "^lin")),
        &[],
    );
    check(
        job_level(constraint("${attr.unique.storage}", "is_set", "")),
        &[],
    );
    check(
        job_level(constraint("${attr.kernel.name}", "", "linux")),
        &[(&at("Operand"), "Missing constraint operand")],
    );
    check(
        job_level(constraint("${attr.kernel.name}", "~=", "linux")),
        &[(&at("Operand"), "Unknown constraint type \"~=\"")],
    );
    check(
        job_level(constraint("${attr.kernel.name}", "=", "")),
        &[(&at("RTarget"), "Operator \"=\" requires an RTarget")],
    );
    check(
        job_level(constraint("${meta.tags}", "set_contains_any", "")),
        &[(
            &at("RTarget"),
            "Set contains constraint requires an RTarget",
        )],
    );
    check(
        job_level(constraint("${meta.x}", "is_not_set", "y")),
        &[(
            &at("RTarget"),
            "Operator \"is_not_set\" does not support an RTarget",
        )],
    );
    check(
        job_level(constraint("${meta.rack}", "distinct_property", "abc")),
        &[(
            &at("RTarget"),
            "Failed to convert RTarget \"abc\" to uint64",
        )],
    );
    check(
        job_level(constraint("${meta.rack}", "distinct_property", "0")),
        &[(
            &at("RTarget"),
            "Distinct Property must have an allowed count of 1 or greater: 0 < 1",
        )],
    );
    check(
        job_level(constraint("${attr.os.version}", "version", "bogus")),
        &[(
            &at("RTarget"),
            "Version constraint is invalid: Malformed constraint: bogus",
        )],
    );
    check(
        job_level(constraint("${attr.os.version}", "semver", "")),
        &[(
            &at("RTarget"),
            "Semver constraint is invalid: Malformed constraint: ",
        )],
    );
    check(
        job_level(constraint("", "=", "linux")),
        &[(
            &at("LTarget"),
            "no attribute provided but is required by operator",
        )],
    );
    check(
        job_level(constraint("$attr.kernel.name", "=", "linux")),
        &[(
            &at("LTarget"),
            "attribute \"$attr.kernel.name\" is missing an opening brace",
        )],
    );
    check(
        job_level(constraint("${attr.kernel.name", "=", "linux")),
        &[(
            &at("LTarget"),
            "attribute \"${attr.kernel.name\" is missing a closing brace",
        )],
    );
    check(
        job_level(constraint("${foo.bar}", "=", "linux")),
        &[(&at("LTarget"), "unsupported attribute \"${foo.bar}\"")],
    );
}

#[test]
fn constraints_at_group_and_task_level() {
    check(
        valid(|j| j.task_groups[0].constraints = vec![constraint("", "bogus", "")]),
        &[
            (
                "TaskGroups[0].Constraints[0].Operand",
                "Unknown constraint type \"bogus\"",
            ),
            (
                "TaskGroups[0].Constraints[0].LTarget",
                "no attribute provided but is required by operator",
            ),
        ],
    );
    check(
        valid(|j| j.task_groups[0].constraints = vec![constraint("", "distinct_hosts", "")]),
        &[],
    );
    check(
        valid(|j| {
            j.task_groups[0].tasks[0].constraints = vec![constraint("", "distinct_hosts", "")]
        }),
        &[(
            "TaskGroups[0].Tasks[0].Constraints[0].Operand",
            "disallowed Operand at task level: distinct_hosts",
        )],
    );
}

#[test]
fn affinities() {
    let aff = |op: &str, weight: i32| Affinity {
        l_target: "${node.datacenter}".into(),
        operand: op.into(),
        r_target: "dc1".into(),
        weight,
    };
    check(valid(|j| j.affinities = vec![aff("=", 50)]), &[]);
    check(valid(|j| j.affinities = vec![aff("=", -100)]), &[]);
    check(
        valid(|j| j.affinities = vec![aff("=", 0)]),
        &[("Affinities[0].Weight", "Affinity weight cannot be zero")],
    );
    check(
        valid(|j| j.task_groups[0].affinities = vec![aff("=", 101)]),
        &[(
            "TaskGroups[0].Affinities[0].Weight",
            "Affinity weight must be within the range [-100,100]",
        )],
    );
    check(
        valid(|j| j.task_groups[0].tasks[0].affinities = vec![aff("distinct_hosts", 50)]),
        &[(
            "TaskGroups[0].Tasks[0].Affinities[0].Operand",
            "Unknown affinity operator \"distinct_hosts\"",
        )],
    );
    check(
        valid(|j| {
            let mut a = aff("", 50);
            a.l_target.clear();
            j.affinities = vec![a];
        }),
        &[
            ("Affinities[0].Operand", "Missing affinity operand"),
            (
                "Affinities[0].LTarget",
                "No LTarget provided but is required",
            ),
        ],
    );
    check(
        valid(|j| {
            j.job_type = JobType::System;
            j.task_groups[0].reschedule_policy = None;
            j.affinities = vec![aff("=", 50)];
        }),
        &[("Affinities", "System jobs may not have an affinity block")],
    );
}

#[test]
fn network_ports() {
    let net = |reserved: Vec<Port>, dynamic: Vec<Port>| NetworkResource {
        reserved_ports: reserved,
        dynamic_ports: dynamic,
        ..NetworkResource::default()
    };
    check(
        valid(|j| {
            j.task_groups[0].networks =
                vec![net(vec![port("http", 8080, 0)], vec![port("db", 0, 6379)])]
        }),
        &[],
    );
    check(
        valid(|j| {
            j.task_groups[0].networks = vec![net(
                vec![port("http", 8080, 0), port("admin", 8080, 0)],
                vec![port("http", 0, 80)],
            )]
        }),
        &[
            (
                "TaskGroups[0].Networks[0].ReservedPorts[1].Value",
                "Static port 8080 already reserved by taskgroup network:http",
            ),
            (
                "TaskGroups[0].Networks[0].DynamicPorts[0].Label",
                "Port label http already in use by taskgroup network",
            ),
        ],
    );
    check(
        valid(|j| {
            j.task_groups[0].networks = vec![net(
                vec![port("big", 70_000, 0), port("neg", -1, 0)],
                vec![port("to", 0, -2)],
            )]
        }),
        &[
            (
                "TaskGroups[0].Networks[0].ReservedPorts[0].Value",
                "Port big (70000) cannot be greater than 65535",
            ),
            (
                "TaskGroups[0].Networks[0].ReservedPorts[1].Value",
                "Port neg (-1) cannot be negative",
            ),
            (
                "TaskGroups[0].Networks[0].DynamicPorts[0].To",
                "Port \"to\" cannot be mapped to negative value -2",
            ),
        ],
    );
    check(
        valid(|j| {
            j.task_groups[0].networks = vec![net(vec![port("http", 8080, 0)], vec![])];
            j.task_groups[0].tasks[0].resources.networks =
                vec![net(vec![port("http", 8080, 0)], vec![])];
        }),
        &[
            (
                "TaskGroups[0].Tasks[0].Resources.Networks[0].ReservedPorts[0].Label",
                "Port label http already in use by taskgroup network",
            ),
            (
                "TaskGroups[0].Tasks[0].Resources.Networks[0].ReservedPorts[0].Value",
                "Static port 8080 already reserved by taskgroup network:http",
            ),
        ],
    );
}

#[test]
fn periodic_and_parameterized_need_batch() {
    let periodic = drover_api::PeriodicConfig {
        spec: "*/5 * * * *".into(),
        ..Default::default()
    };
    let p = periodic.clone();
    check(
        valid(move |j| j.periodic = Some(p)),
        &[(
            "Periodic",
            "Periodic can only be used with \"batch\" or \"sysbatch\" scheduler",
        )],
    );
    check(
        valid(|j| {
            j.periodic = Some(drover_api::PeriodicConfig {
                enabled: false,
                ..Default::default()
            })
        }),
        &[],
    );
    check(
        valid(|j| {
            j.parameterized_job = Some(drover_api::ParameterizedJobConfig {
                payload: "optional".into(),
                ..Default::default()
            })
        }),
        &[(
            "ParameterizedJob",
            "Parameterized job can only be used with \"batch\" or \"sysbatch\" scheduler",
        )],
    );
    check(
        valid(move |j| {
            j.job_type = JobType::Batch;
            j.task_groups[0].update = None;
            j.periodic = Some(periodic);
        }),
        &[],
    );
}

fn edgy_i32() -> impl proptest::strategy::Strategy<Value = i32> {
    use proptest::prelude::*;
    prop_oneof![any::<i32>(), Just(i32::MAX), Just(i32::MIN), -2i32..40]
}

fn edgy_nanos() -> impl proptest::strategy::Strategy<Value = i64> {
    use proptest::prelude::*;
    prop_oneof![
        any::<i64>(),
        Just(i64::MAX),
        Just(i64::MIN),
        -S..10 * S,
        (0i64..48).prop_map(|h| h * H),
        Just(5 * S),
    ]
}

proptest::proptest! {
    /// Validation does arithmetic on user numbers (attempts times delays,
    /// doubling delays, file counts times sizes); none of it may overflow.
    #[test]
    fn validation_never_panics_on_extreme_numbers(
        ints in proptest::collection::vec(edgy_i32(), 8),
        nanos in proptest::collection::vec(edgy_nanos(), 10),
        function in proptest::sample::select(vec!["constant", "exponential", "fibonacci", ""]),
        unlimited in proptest::bool::ANY,
        big in proptest::num::i64::ANY,
    ) {
        let job = job_with(|j| {
            let tg = &mut j.task_groups[0];
            tg.count = ints[0];
            tg.shutdown_delay = Some(nanos[9]);
            if let Some(rp) = &mut tg.restart_policy {
                rp.attempts = ints[1];
                rp.interval = nanos[0];
                rp.delay = nanos[1];
            }
            if let Some(rp) = &mut tg.reschedule_policy {
                rp.attempts = ints[2];
                rp.interval = nanos[2];
                rp.delay = nanos[3];
                rp.max_delay = nanos[4];
                rp.delay_function = function.into();
                rp.unlimited = unlimited;
            }
            if let Some(u) = &mut tg.update {
                u.min_healthy_time = nanos[5];
                u.healthy_deadline = nanos[6];
                u.progress_deadline = nanos[7];
                u.max_parallel = ints[3];
                u.canary = ints[4];
            }
            if let Some(disk) = &mut tg.ephemeral_disk {
                disk.size_mb = big;
            }
            tg.networks = vec![NetworkResource {
                reserved_ports: vec![port("a", big, i64::from(ints[5])), port("b", big, 0)],
                ..NetworkResource::default()
            }];
            let task = &mut tg.tasks[0];
            task.kill_timeout = nanos[8];
            task.resources.cpu = big;
            task.resources.memory_max_mb = big;
            if let Some(lc) = &mut task.log_config {
                lc.max_files = ints[6];
                lc.max_file_size_mb = ints[7];
            }
        });
        let _ = validate(&job, DRIVERS).map_err(|e| e.to_string());
    }
}
