//! Nomad's defaults, as a handler applies them: the JSON pass
//! (`decode_job_request`) then the typed pass (`canonicalize`).
//!
//! Every case also checks that canonicalizing twice changes nothing.

use drover_api::{Job, JobRegisterRequest};
use drover_server::jobs::{canonicalize, decode_job_request};
use serde_json::{json, Value};

const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;

/// Decodes `{"Job": job}` the way the register handler does, canonicalizes,
/// and compares the JSON of the result at each pointer in `want`.
#[track_caller]
fn check(job: Value, want: &[(&str, Value)]) -> Job {
    let body = serde_json::to_vec(&json!({ "Job": job })).expect("a Value serializes");
    let req: JobRegisterRequest = decode_job_request(&body).expect("decodes");
    let mut job = req.job.expect("body has a job");
    canonicalize(&mut job);
    let mut twice = job.clone();
    canonicalize(&mut twice);
    assert_eq!(twice, job, "canonicalize is idempotent");
    let got = serde_json::to_value(&job).expect("a Job serializes");
    for (pointer, want) in want {
        assert_eq!(got.pointer(pointer), Some(want), "at {pointer}");
    }
    job
}

/// A minimal job (`web`, one group `web`, one task `server`) with `patch`
/// merged in; arrays merge element by element.
fn job(patch: Value) -> Value {
    let mut base = json!({"ID": "web", "TaskGroups": [
        {"Name": "web", "Tasks": [{"Name": "server", "Driver": "docker"}]}]});
    merge(&mut base, patch);
    base
}

fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (Value::Array(b), Value::Array(p)) => {
            for (i, v) in p.into_iter().enumerate() {
                match b.get_mut(i) {
                    Some(slot) => merge(slot, v),
                    None => b.push(v),
                }
            }
        }
        (slot, patch) => *slot = patch,
    }
}

fn group(patch: Value) -> Value {
    job(json!({"TaskGroups": [patch]}))
}

fn task(patch: Value) -> Value {
    job(json!({"TaskGroups": [{"Tasks": [patch]}]}))
}

fn service_restart() -> Value {
    json!({"Attempts": 2, "Interval": 30 * M, "Delay": 15 * S, "Mode": "fail", "RenderTemplates": false})
}

fn batch_restart() -> Value {
    json!({"Attempts": 3, "Interval": 24 * H, "Delay": 15 * S, "Mode": "fail", "RenderTemplates": false})
}

fn default_update() -> Value {
    json!({"Stagger": 30 * S, "MaxParallel": 1, "HealthCheck": "checks",
           "MinHealthyTime": 10 * S, "HealthyDeadline": 5 * M, "ProgressDeadline": 10 * M,
           "AutoRevert": false, "AutoPromote": false, "Canary": 0})
}

#[test]
fn job_defaults() {
    check(
        job(json!({})),
        &[
            ("/Namespace", json!("default")),
            ("/Region", json!("global")),
            ("/Name", json!("web")),
            ("/Type", json!("service")),
            ("/Priority", json!(50)),
            ("/Datacenters", json!(["*"])),
            ("/NodePool", json!("default")),
            ("/Meta", json!({})),
            ("/TaskGroups/0/Tasks/0/KillSignal", json!("")),
        ],
    );
}

#[test]
fn job_values_given_are_kept() {
    check(
        job(
            json!({"Namespace": "prod", "Region": "eu", "Name": "frontend", "Type": "batch",
                   "Priority": 70, "Datacenters": ["dc1", "dc2"], "NodePool": "gpu",
                   "Meta": {"team": "web"}}),
        ),
        &[
            ("/Namespace", json!("prod")),
            ("/Region", json!("eu")),
            ("/Name", json!("frontend")),
            ("/Type", json!("batch")),
            ("/Priority", json!(70)),
            ("/Datacenters", json!(["dc1", "dc2"])),
            ("/NodePool", json!("gpu")),
            ("/Meta", json!({"team": "web"})),
        ],
    );
}

#[test]
fn priority_default() {
    check(job(json!({"Priority": null})), &[("/Priority", json!(50))]);
    // jobCanonicalizer: an explicit 0 means "server default" too.
    check(job(json!({"Priority": 0})), &[("/Priority", json!(50))]);
    check(
        job(json!({"Name": null, "ID": "api"})),
        &[("/Name", json!("api"))],
    );
}

#[test]
fn group_count_absent_versus_zero() {
    check(job(json!({})), &[("/TaskGroups/0/Count", json!(1))]);
    check(
        group(json!({"Count": null})),
        &[("/TaskGroups/0/Count", json!(1))],
    );
    check(
        group(json!({"Count": 0})),
        &[("/TaskGroups/0/Count", json!(0))],
    );
    check(
        group(json!({"Count": 3})),
        &[("/TaskGroups/0/Count", json!(3))],
    );
    check(
        group(json!({"Scaling": {"Min": 2, "Max": 10}})),
        &[("/TaskGroups/0/Count", json!(2))],
    );
    check(
        group(json!({"Scaling": {"Min": null, "Max": 10}})),
        &[("/TaskGroups/0/Count", json!(1))],
    );
}

#[test]
fn restart_policy_per_job_type() {
    let rp = "/TaskGroups/0/RestartPolicy";
    check(job(json!({})), &[(rp, service_restart())]);
    check(job(json!({"Type": "system"})), &[(rp, service_restart())]);
    check(job(json!({"Type": "batch"})), &[(rp, batch_restart())]);
    check(job(json!({"Type": "sysbatch"})), &[(rp, batch_restart())]);
}

#[test]
fn restart_policy_merges_field_by_field() {
    let rp = "/TaskGroups/0/RestartPolicy";
    let task_rp = "/TaskGroups/0/Tasks/0/RestartPolicy";
    // An explicit 0 attempts survives both passes.
    check(
        group(json!({"RestartPolicy": {"Attempts": 0}})),
        &[
            (
                rp,
                json!({"Attempts": 0, "Interval": 30 * M, "Delay": 15 * S, "Mode": "fail", "RenderTemplates": false}),
            ),
            (
                task_rp,
                json!({"Attempts": 0, "Interval": 30 * M, "Delay": 15 * S, "Mode": "fail", "RenderTemplates": false}),
            ),
        ],
    );
    // A task's policy is the group's, overridden by the task's own fields.
    check(
        job(json!({"TaskGroups": [{"RestartPolicy": {"Attempts": 5},
                                   "Tasks": [{"RestartPolicy": {"Mode": "delay"}}]}]})),
        &[
            (
                rp,
                json!({"Attempts": 5, "Interval": 30 * M, "Delay": 15 * S, "Mode": "fail", "RenderTemplates": false}),
            ),
            (
                task_rp,
                json!({"Attempts": 5, "Interval": 30 * M, "Delay": 15 * S, "Mode": "delay", "RenderTemplates": false}),
            ),
        ],
    );
    check(job(json!({})), &[(task_rp, service_restart())]);
}

#[test]
fn reschedule_policy_per_job_type() {
    let rp = "/TaskGroups/0/ReschedulePolicy";
    check(
        job(json!({})),
        &[(
            rp,
            json!({"Attempts": 0, "Interval": 0, "Delay": 30 * S, "DelayFunction": "exponential",
                      "MaxDelay": H, "Unlimited": true}),
        )],
    );
    check(
        job(json!({"Type": "batch"})),
        &[(
            rp,
            json!({"Attempts": 1, "Interval": 24 * H, "Delay": 5 * S, "DelayFunction": "constant",
                      "MaxDelay": 0, "Unlimited": false}),
        )],
    );
    check(job(json!({"Type": "system"})), &[(rp, Value::Null)]);
    check(job(json!({"Type": "sysbatch"})), &[(rp, Value::Null)]);
    // An explicit policy on a system job is completed with zeros (and then
    // rejected by validation, as in Nomad).
    check(
        job(json!({"Type": "system", "TaskGroups": [{"ReschedulePolicy": {"Attempts": 1}}]})),
        &[(
            rp,
            json!({"Attempts": 1, "Interval": 0, "Delay": 0, "DelayFunction": "",
                      "MaxDelay": 0, "Unlimited": false}),
        )],
    );
}

#[test]
fn reschedule_policy_merges_job_level_block() {
    let rp = "/TaskGroups/0/ReschedulePolicy";
    check(
        job(json!({"Reschedule": {"Attempts": 5, "Interval": H, "Unlimited": false}})),
        &[(
            rp,
            json!({"Attempts": 5, "Interval": H, "Delay": 30 * S, "DelayFunction": "exponential",
                      "MaxDelay": H, "Unlimited": false}),
        )],
    );
    check(
        job(json!({"Reschedule": {"Attempts": 5, "Unlimited": false},
                   "TaskGroups": [{"ReschedulePolicy": {"Attempts": 2, "Delay": 10 * S}}]})),
        &[(
            rp,
            json!({"Attempts": 2, "Interval": 0, "Delay": 10 * S, "DelayFunction": "exponential",
                      "MaxDelay": H, "Unlimited": false}),
        )],
    );
}

#[test]
fn ephemeral_disk() {
    let disk = "/TaskGroups/0/EphemeralDisk";
    check(
        job(json!({})),
        &[(
            disk,
            json!({"Sticky": false, "SizeMB": 300, "Migrate": false}),
        )],
    );
    check(
        group(json!({"EphemeralDisk": {"Sticky": true}})),
        &[(
            disk,
            json!({"Sticky": true, "SizeMB": 300, "Migrate": false}),
        )],
    );
    check(
        group(json!({"EphemeralDisk": {"SizeMB": 1000, "Migrate": true}})),
        &[(
            disk,
            json!({"Sticky": false, "SizeMB": 1000, "Migrate": true}),
        )],
    );
}

#[test]
fn task_resources() {
    let res = "/TaskGroups/0/Tasks/0/Resources";
    let at = |f: &str| format!("{res}/{f}");
    check(
        job(json!({})),
        &[
            (&at("CPU"), json!(100)),
            (&at("MemoryMB"), json!(300)),
            (&at("Cores"), json!(0)),
        ],
    );
    check(
        task(json!({"Resources": null})),
        &[(&at("CPU"), json!(100)), (&at("MemoryMB"), json!(300))],
    );
    // Reserving cores means asking for no CPU shares.
    check(
        task(json!({"Resources": {"Cores": 2}})),
        &[
            (&at("CPU"), json!(0)),
            (&at("Cores"), json!(2)),
            (&at("MemoryMB"), json!(300)),
        ],
    );
    // Zero is "not set" in the typed pass (Nomad would reject it instead).
    check(
        task(json!({"Resources": {"CPU": 0, "MemoryMB": 0}})),
        &[(&at("CPU"), json!(100)), (&at("MemoryMB"), json!(300))],
    );
    check(
        task(json!({"Resources": {"CPU": 500, "MemoryMB": 256, "MemoryMaxMB": 512}})),
        &[
            (&at("CPU"), json!(500)),
            (&at("MemoryMB"), json!(256)),
            (&at("MemoryMaxMB"), json!(512)),
        ],
    );
}

#[test]
fn task_kill_timeout_and_signal() {
    let kt = "/TaskGroups/0/Tasks/0/KillTimeout";
    check(job(json!({})), &[(kt, json!(5 * S))]);
    check(task(json!({"KillTimeout": null})), &[(kt, json!(5 * S))]);
    check(task(json!({"KillTimeout": 0})), &[(kt, json!(5 * S))]);
    check(task(json!({"KillTimeout": 10 * S})), &[(kt, json!(10 * S))]);
    check(
        task(json!({"KillSignal": "SIGINT"})),
        &[("/TaskGroups/0/Tasks/0/KillSignal", json!("SIGINT"))],
    );
}

#[test]
fn task_log_config() {
    let lc = "/TaskGroups/0/Tasks/0/LogConfig";
    check(
        job(json!({})),
        &[(
            lc,
            json!({"MaxFiles": 10, "MaxFileSizeMB": 10, "Disabled": false}),
        )],
    );
    check(
        task(json!({"LogConfig": {"MaxFiles": 3}})),
        &[(
            lc,
            json!({"MaxFiles": 3, "MaxFileSizeMB": 10, "Disabled": false}),
        )],
    );
}

#[test]
fn update_strategy_defaults() {
    let job_update = json!({"Stagger": 30 * S, "MaxParallel": 1, "HealthCheck": "",
        "MinHealthyTime": 0, "HealthyDeadline": 0, "ProgressDeadline": 0,
        "AutoRevert": false, "AutoPromote": false, "Canary": 0});
    // Service and system jobs always get one; the job keeps only Stagger
    // and MaxParallel, as Nomad stores it.
    check(
        job(json!({})),
        &[
            ("/TaskGroups/0/Update", default_update()),
            ("/Update", job_update.clone()),
        ],
    );
    check(
        job(json!({"Type": "system"})),
        &[
            ("/TaskGroups/0/Update", default_update()),
            ("/Update", job_update),
        ],
    );
    check(
        job(json!({"Type": "batch"})),
        &[
            ("/TaskGroups/0/Update", Value::Null),
            ("/Update", Value::Null),
        ],
    );
}

#[test]
fn update_strategy_merges_job_into_groups() {
    let mut want = default_update();
    want["MaxParallel"] = json!(3);
    want["Canary"] = json!(1);
    want["HealthCheck"] = json!("task_states");
    check(
        job(json!({"Update": {"MaxParallel": 3, "Canary": 1},
                   "TaskGroups": [{"Update": {"HealthCheck": "task_states"}}]})),
        &[
            ("/TaskGroups/0/Update", want),
            ("/Update/MaxParallel", json!(3)),
            ("/Update/Canary", json!(0)),
        ],
    );
    // Explicit zeros that mean something stay zero.
    let mut want = default_update();
    want["MinHealthyTime"] = json!(0);
    want["ProgressDeadline"] = json!(0);
    check(
        group(json!({"Update": {"MinHealthyTime": 0, "ProgressDeadline": 0}})),
        &[("/TaskGroups/0/Update", want)],
    );
    // MaxParallel 0 turns the job-level block off; groups still inherit it.
    let mut want = default_update();
    want["MaxParallel"] = json!(0);
    check(
        job(json!({"Update": {"MaxParallel": 0}})),
        &[("/Update", Value::Null), ("/TaskGroups/0/Update", want)],
    );
}

#[test]
fn affinity_weight_defaults_to_50() {
    let aff = json!([{"LTarget": "${node.datacenter}", "RTarget": "dc1", "Operand": "="}]);
    check(
        job(json!({"Affinities": aff.clone(),
                   "TaskGroups": [{"Affinities": aff.clone(),
                                   "Tasks": [{"Affinities": aff}]}]})),
        &[
            ("/Affinities/0/Weight", json!(50)),
            ("/TaskGroups/0/Affinities/0/Weight", json!(50)),
            ("/TaskGroups/0/Tasks/0/Affinities/0/Weight", json!(50)),
        ],
    );
    check(
        job(
            json!({"Affinities": [{"LTarget": "a", "RTarget": "b", "Operand": "=", "Weight": -20}]}),
        ),
        &[("/Affinities/0/Weight", json!(-20))],
    );
}

#[test]
fn spread_weight_defaults_to_50() {
    let spread = json!([{"Attribute": "${node.datacenter}"}]);
    check(
        job(json!({"Spreads": spread.clone(), "TaskGroups": [{"Spreads": spread}]})),
        &[
            ("/Spreads/0/Weight", json!(50)),
            ("/TaskGroups/0/Spreads/0/Weight", json!(50)),
        ],
    );
}

/// `nomad job inspect` output sent back (a common workflow) comes out as
/// it went in.
#[test]
fn resubmitting_a_canonical_job_changes_nothing() {
    for input in [
        job(
            json!({"Update": {"MaxParallel": 2}, "Reschedule": {"Attempts": 3, "Interval": H, "Unlimited": false}}),
        ),
        job(json!({"Type": "batch", "TaskGroups": [{"Count": 0}]})),
        job(json!({"Type": "system"})),
    ] {
        let first = check(input, &[]);
        let again = check(serde_json::to_value(&first).expect("a Job serializes"), &[]);
        assert_eq!(again, first);
    }
}
