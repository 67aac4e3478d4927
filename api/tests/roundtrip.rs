//! Round-trip tests of the wire types against Nomad-shaped JSON.
//!
//! The fixtures under `tests/fixtures/` are written to the field lists of
//! Nomad's HTTP API (`nomad/structs` and `api/` struct fields): every key
//! Nomad emits for the object, including the ones Drover does not model
//! (`Spreads`, `Services`, `Templates`, `HostVolumes`, …), Go `nil` slices and
//! maps as `null`, durations as integer nanoseconds, Go `time.Time` values as
//! RFC 3339 strings (sometimes with a local offset, as clients report them).
//!
//! For each fixture, [`round_trip`] checks that it decodes, that every key
//! Drover re-emits agrees with the fixture ([`agree`]), that JSON
//! decode → encode → decode is lossless, and that the MessagePack encoding
//! Raft stores (`rmp_serde::to_vec_named`) decodes back to an equal value.

use std::collections::BTreeMap;
use std::fmt::Debug;

use drover_api::time::{parse_rfc3339, GO_ZERO_TIME};
use drover_api::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

const JOB: &str = include_str!("fixtures/job.json");
const JOBS_LIST: &str = include_str!("fixtures/jobs_list.json");
const JOB_SUMMARY: &str = include_str!("fixtures/job_summary.json");
const JOB_VERSIONS: &str = include_str!("fixtures/job_versions_response.json");
const ALLOCATION: &str = include_str!("fixtures/allocation.json");
const ALLOCATIONS_LIST: &str = include_str!("fixtures/allocations_list.json");
const EVALUATION: &str = include_str!("fixtures/evaluation.json");
const NODE: &str = include_str!("fixtures/node.json");
const NODES_LIST: &str = include_str!("fixtures/nodes_list.json");
const EVENT_STREAM: &str = include_str!("fixtures/event_stream.ndjson");
const JOB_REGISTER_REQUEST: &str = include_str!("fixtures/job_register_request.json");
const JOB_REGISTER_RESPONSE: &str = include_str!("fixtures/job_register_response.json");
const JOB_DEREGISTER_RESPONSE: &str = include_str!("fixtures/job_deregister_response.json");
const JOBS_PARSE_REQUEST: &str = include_str!("fixtures/jobs_parse_request.json");
const NODE_DRAIN_REQUEST: &str = include_str!("fixtures/node_drain_request.json");
const NODE_ELIGIBILITY_REQUEST: &str = include_str!("fixtures/node_eligibility_request.json");
const NODE_UPDATE_RESPONSE: &str = include_str!("fixtures/node_update_response.json");
const AGENT_HEALTH: &str = include_str!("fixtures/agent_health.json");
const AGENT_MEMBERS: &str = include_str!("fixtures/agent_members.json");

/// 2024-03-12T09:41:19.918203551Z, when the `redis` task last started.
const STARTED_AT: i64 = 1_710_236_479_918_203_551;
/// 2024-03-12T02:38:04.113209877-07:00, the docker driver's last update.
const DOCKER_UPDATED: i64 = 1_710_236_284_113_209_877;

/// How much of Drover's output a fixture must cover.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Coverage {
    /// A server response: Nomad emits every field, so every key Drover emits
    /// must be present in the fixture (this is what catches a misspelled
    /// rename: the fixture value would be ignored and the wrong key emitted).
    Full,
    /// A request body: users send partial specs, so keys the fixture leaves
    /// out are skipped; keys it has must still agree.
    Partial,
}

/// Keys Nomad tags `json:",omitempty"`: absent from its output when zero, so
/// a fixture may lack them while Drover emits the zero value.
const OMITTED_WHEN_EMPTY: &[&str] = &["Hostname", "AllocatedResources"];

/// Walk what Drover emitted and compare every key with the fixture. The
/// fixture may have extra keys (fields Drover ignores); a key Drover emits
/// may not disagree. Intentional normalizations, the only exceptions:
///
/// 1. Go encodes a nil slice or map as `null`; Drover emits `[]` / `{}`.
/// 2. Go `time.Time` keeps the writer's UTC offset (`…-07:00`); Drover
///    re-emits the same instant in UTC (`…Z`), and emits an unset time
///    (`null` or Go's zero time in the fixture) as `0001-01-01T00:00:00Z`.
/// 3. Go prints a whole `float64` without a fraction (`1`); serde prints
///    `1.0`. Numbers are equal if they are equal as numbers.
/// 4. [`OMITTED_WHEN_EMPTY`] keys may be absent when Drover's value is zero.
fn agree(path: &str, emitted: &Value, fixture: &Value, cov: Coverage, out: &mut Vec<String>) {
    match (emitted, fixture) {
        (Value::Object(e), Value::Object(f)) => {
            for (key, ev) in e {
                let here = format!("{path}.{key}");
                match f.get(key) {
                    Some(fv) => agree(&here, ev, fv, cov, out),
                    None if cov == Coverage::Partial => {}
                    None if OMITTED_WHEN_EMPTY.contains(&key.as_str()) && is_zero(ev) => {}
                    None => out.push(format!("{here}: emitted {ev} but the fixture lacks it")),
                }
            }
        }
        (Value::Array(e), Value::Array(f)) if e.len() == f.len() => {
            for (i, (ev, fv)) in e.iter().zip(f).enumerate() {
                agree(&format!("{path}[{i}]"), ev, fv, cov, out);
            }
        }
        // 1. Go nil collections.
        (Value::Array(e), Value::Null) if e.is_empty() => {}
        (Value::Object(e), Value::Null) if e.is_empty() => {}
        // 2. Go times.
        (Value::String(e), Value::Null) if e == GO_ZERO_TIME => {}
        (Value::String(e), Value::String(f)) if e != f && same_instant(e, f) => {}
        // 3. Numbers.
        (Value::Number(e), Value::Number(f)) if e.as_f64() == f.as_f64() => {}
        (e, f) if e == f => {}
        (e, f) => out.push(format!("{path}: emitted {e} but the fixture has {f}")),
    }
}

fn same_instant(a: &str, b: &str) -> bool {
    matches!((parse_rfc3339(a), parse_rfc3339(b)), (Some(x), Some(y)) if x == y)
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn assert_agrees(label: &str, emitted: &Value, fixture: &Value, cov: Coverage) {
    let mut out = Vec::new();
    agree(label, emitted, fixture, cov, &mut out);
    assert!(
        out.is_empty(),
        "{} disagreements:\n{}",
        out.len(),
        out.join("\n")
    );
}

/// Decode `text`, compare the re-encoding with it, and check JSON and
/// MessagePack round trips. Returns the decoded value for field assertions.
fn round_trip<T>(label: &str, text: &str, cov: Coverage) -> T
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let decoded: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{label}: {e}"));
    let fixture: Value = serde_json::from_str(text).expect("fixture is JSON");

    let emitted = serde_json::to_value(&decoded).expect("encode");
    assert_agrees(label, &emitted, &fixture, cov);

    let encoded = serde_json::to_string(&decoded).expect("encode");
    let again: T = serde_json::from_str(&encoded).unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(
        again, decoded,
        "{label}: JSON decode → encode → decode changed it"
    );
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        emitted,
        "{label}: second encoding differs"
    );

    let packed = rmp_serde::to_vec_named(&decoded).expect("msgpack encode");
    let unpacked: T = rmp_serde::from_slice(&packed)
        .unwrap_or_else(|e| panic!("{label}: msgpack decode failed: {e}"));
    assert_eq!(
        unpacked, decoded,
        "{label}: MessagePack round trip changed it"
    );

    decoded
}

fn decode<T: DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).expect("fixture decodes")
}

fn ns(rfc3339: &str) -> i64 {
    parse_rfc3339(rfc3339).expect("valid time")
}

// ---------------------------------------------------------------- jobs

#[test]
fn job_fixture_round_trips_and_maps_nomad_names() {
    let job: Job = round_trip("job.json", JOB, Coverage::Full);
    assert_eq!(job.id, "example");
    assert_eq!(job.job_type, JobType::Service);
    assert_eq!(job.datacenters, ["dc1", "dc2"]);
    assert_eq!(job.node_pool, "default");
    assert_eq!(job.priority, 50);
    assert_eq!(job.status, JobStatus::Running);
    assert!(job.stable);
    assert_eq!(job.version, 2);
    assert_eq!(job.submit_time, 1_710_236_477_482_913_004);
    assert_eq!(
        (job.create_index, job.modify_index, job.job_modify_index),
        (11, 47, 45)
    );
    assert_eq!(job.meta["owner"], "platform-team");
    assert_eq!(job.constraints[0].l_target, "${attr.kernel.name}");
    assert_eq!(job.constraints[0].r_target, "linux");
    assert_eq!(job.constraints[0].operand, "=");

    let tg = job.task_group("cache").expect("group cache");
    assert_eq!(tg.count, 1);
    let task = &tg.tasks[0];
    assert_eq!(
        (task.name.as_str(), task.driver.as_str()),
        ("redis", "docker")
    );
    assert_eq!(task.config["image"], json!("redis:7.2"));
    assert_eq!(task.config["ports"], json!(["db"]));
    assert_eq!(task.env["REDIS_ARGS"], "--maxmemory 200mb");
    assert_eq!(job.task_groups[0].tasks[0].resources.cpu, 500);
    assert_eq!(job.task_groups[0].tasks[0].resources.memory_mb, 256);
    assert_eq!(task.resources.memory_max_mb, 512);
    let net = &task.resources.networks[0];
    assert_eq!(net.mbits, 10);
    assert_eq!(net.reserved_ports[0].label, "admin");
    assert_eq!(net.reserved_ports[0].value, 8089);
    assert_eq!(net.dynamic_ports[0].to, 9121);
    assert_eq!(net.dynamic_ports[0].host_network, "default");
}

#[test]
fn job_fixture_policies_are_nanosecond_durations() {
    let job: Job = decode(JOB);
    let tg = &job.task_groups[0];

    let restart = tg.restart_policy.as_ref().expect("restart policy");
    assert_eq!(restart.attempts, 2);
    assert_eq!(restart.interval, 30 * 60 * 1_000_000_000);
    assert_eq!(restart.delay, 15_000_000_000);
    assert_eq!(restart.mode, "fail");
    assert_eq!(tg.tasks[0].restart_policy.as_ref(), Some(restart));

    let resched = tg.reschedule_policy.as_ref().expect("reschedule policy");
    assert_eq!(resched.delay, 30_000_000_000);
    assert_eq!(resched.delay_function, "exponential");
    assert_eq!(resched.max_delay, 3_600_000_000_000);
    assert!(resched.unlimited);

    let disk = tg.ephemeral_disk.as_ref().expect("ephemeral disk");
    assert_eq!(
        (disk.size_mb, disk.sticky, disk.migrate),
        (300, false, false)
    );

    let update = tg.update.as_ref().expect("group update");
    assert_eq!(update.health_check, "checks");
    assert_eq!(update.min_healthy_time, 10_000_000_000);
    assert_eq!(update.healthy_deadline, 300_000_000_000);
    assert_eq!(update.progress_deadline, 600_000_000_000);
    assert!(update.auto_revert);
    assert_eq!(job.update.as_ref().map(|u| u.stagger), Some(30_000_000_000));

    assert_eq!(tg.shutdown_delay, Some(5_000_000_000));
    assert_eq!(tg.affinities[0].weight, 50);
    assert_eq!(tg.affinities[0].r_target, "m5.large");
    assert_eq!(tg.networks[0].mode, "bridge");
    assert_eq!(tg.networks[0].dynamic_ports[0].label, "db");
    assert_eq!(tg.networks[0].dynamic_ports[0].to, 6379);
    assert_eq!(tg.meta["cache.role"], "primary");

    let task = &tg.tasks[0];
    assert_eq!(task.kill_timeout, DEFAULT_KILL_TIMEOUT);
    assert_eq!(task.kill_signal, "SIGTERM");
    assert_eq!(task.shutdown_delay, 0);
    let logs = task.log_config.as_ref().expect("log config");
    assert_eq!((logs.max_files, logs.max_file_size_mb), (10, 10));
}

#[test]
fn job_fixture_go_nil_collections_decode_as_empty() {
    let fixture: Value = serde_json::from_str(JOB).unwrap();
    // The fixture really carries Go's nils at these places.
    assert!(fixture["Affinities"].is_null());
    assert!(fixture["TaskGroups"][0]["Tasks"][0]["Constraints"].is_null());
    assert!(fixture["TaskGroups"][0]["Tasks"][0]["Meta"].is_null());
    assert!(fixture["TaskGroups"][0]["Networks"][0]["ReservedPorts"].is_null());

    let job: Job = decode(JOB);
    assert!(job.affinities.is_empty());
    let task = &job.task_groups[0].tasks[0];
    assert!(task.constraints.is_empty() && task.affinities.is_empty());
    assert!(task.meta.is_empty());
    assert!(job.task_groups[0].networks[0].reserved_ports.is_empty());
    assert_eq!(job.periodic, None);
    assert_eq!(job.parameterized_job, None);
    assert!(!job.is_parent());
}

#[test]
fn unmodelled_nomad_fields_are_ignored_and_not_re_emitted() {
    fn check<T: Serialize + DeserializeOwned>(text: &str, pointers: &[&str]) {
        let fixture: Value = serde_json::from_str(text).unwrap();
        let emitted = serde_json::to_value(serde_json::from_str::<T>(text).unwrap()).unwrap();
        for p in pointers {
            assert!(fixture.pointer(p).is_some(), "fixture lacks {p}");
            assert!(emitted.pointer(p).is_none(), "Drover emitted {p}");
        }
    }
    check::<Job>(
        JOB,
        &[
            "/Spreads",
            "/Multiregion",
            "/ConsulToken",
            "/VaultToken",
            "/Payload",
            "/TaskGroups/0/Services",
            "/TaskGroups/0/Migrate",
            "/TaskGroups/0/Consul",
            "/TaskGroups/0/Tasks/0/Templates",
            "/TaskGroups/0/Tasks/0/Artifacts",
            "/TaskGroups/0/Tasks/0/Vault",
            "/TaskGroups/0/Tasks/0/CSIPluginConfig",
            "/TaskGroups/0/Tasks/0/Identity",
            "/TaskGroups/0/Tasks/0/Resources/Devices",
        ],
    );
    check::<Node>(
        NODE,
        &[
            "/HostVolumes",
            "/CSIControllerPlugins",
            "/CSINodePlugins",
            "/Resources",
            "/Reserved",
            "/Drain",
            "/NodeResources/Processors",
            "/NodeResources/NodeNetworks",
            "/ReservedResources/Cpu/ReservedCpuCores",
        ],
    );
    check::<Allocation>(
        ALLOCATION,
        &[
            "/SharedResources",
            "/TaskResources",
            "/NetworkStatus",
            "/AllocStates",
            "/SigningKeyID",
            "/Metrics/Scores",
            "/TaskStates/redis/TaskHandle",
            "/DesiredTransition/MigrateDisablePlacement",
        ],
    );
}

#[test]
fn jobs_list_fixture_round_trips() {
    let stubs: Vec<JobListStub> = round_trip("jobs_list.json", JOBS_LIST, Coverage::Full);
    assert_eq!(stubs.len(), 3);

    let example = &stubs[0];
    assert_eq!(example.job_type, JobType::Service);
    assert_eq!(example.status, JobStatus::Running);
    let summary = example.job_summary.as_ref().expect("embedded summary");
    assert_eq!(summary.summary["cache"].running, 1);
    assert_eq!(summary.summary["cache"].failed, 1);
    assert_eq!(
        example.meta.as_ref().map(|m| m["tier"].as_str()),
        Some("backend")
    );

    let parent = &stubs[1];
    assert!(parent.periodic && !parent.parameterized_job);
    assert_eq!(parent.job_type, JobType::Batch);
    assert_eq!(parent.priority, 70);
    assert_eq!(parent.meta, None, "omitted Meta stays omitted");
    let children = parent.job_summary.as_ref().and_then(|s| s.children);
    assert_eq!(children.map(|c| c.dead), Some(3));

    let child = &stubs[2];
    assert_eq!(child.parent_id, "nightly-backup");
    assert_eq!(child.status, JobStatus::Dead);
    assert_eq!(child.submit_time, 1_710_201_600_402_117_736);
}

#[test]
fn job_list_stub_from_job_matches_the_list_fixture() {
    let job: Job = decode(JOB);
    let listed: Vec<JobListStub> = decode(JOBS_LIST);
    let stub = JobListStub::from_job(&job, listed[0].job_summary.as_ref(), true);
    assert_eq!(stub, listed[0]);
    let without_meta = JobListStub::from_job(&job, None, false);
    let emitted = serde_json::to_value(&without_meta).unwrap();
    assert!(
        emitted.get("Meta").is_none(),
        "Meta is omitted without ?meta=true"
    );
    assert!(emitted["JobSummary"].is_null());
}

#[test]
fn job_summary_fixture_round_trips() {
    let summary: JobSummary = round_trip("job_summary.json", JOB_SUMMARY, Coverage::Full);
    assert_eq!(summary.job_id, "example");
    assert_eq!(summary.summary["cache"].queued, 2);
    let sidecar = summary.summary["sidecar"];
    assert_eq!(
        (
            sidecar.complete,
            sidecar.starting,
            sidecar.lost,
            sidecar.unknown
        ),
        (4, 1, 1, 1)
    );
    assert_eq!(summary.children, Some(JobChildrenSummary::default()));
    assert_eq!((summary.create_index, summary.modify_index), (11, 61));
}

#[test]
fn job_versions_response_round_trips() {
    let resp: JobVersionsResponse =
        round_trip("job_versions_response.json", JOB_VERSIONS, Coverage::Full);
    assert_eq!(resp.meta.index, 47);
    assert_eq!(resp.diffs, None);
    let versions: Vec<u64> = resp.versions.iter().map(|j| j.version).collect();
    assert_eq!(versions, [2, 1]);
    let old = &resp.versions[1].task_groups[0].tasks[0];
    assert_eq!(old.config["image"], json!("redis:7.0"));
    assert_eq!(old.resources.memory_mb, 128);
    assert_eq!(resp.versions[0], decode::<Job>(JOB));
}

// ---------------------------------------------------------- allocations

#[test]
fn allocation_fixture_round_trips() {
    let alloc: Allocation = round_trip("allocation.json", ALLOCATION, Coverage::Full);
    assert_eq!(alloc.id, "e08130be-5690-403c-bcef-85b5d89479b9");
    assert_eq!(alloc.eval_id, "0ea2dbe3-d5f7-4daf-b22d-36617c228f02");
    assert_eq!(alloc.name, "example.cache[0]");
    assert_eq!(alloc.node_id, "0011e7c5-6739-4d7f-bc1d-ceefd3076cc7");
    assert_eq!(alloc.node_name, "ip-10-0-4-17");
    assert_eq!(alloc.task_group, "cache");
    assert_eq!(alloc.desired_status, AllocDesiredStatus::Run);
    assert_eq!(alloc.client_status, AllocClientStatus::Running);
    assert_eq!(alloc.client_description, "Tasks are running");
    assert!(!alloc.is_terminal());
    assert_eq!(
        (
            alloc.create_index,
            alloc.modify_index,
            alloc.alloc_modify_index
        ),
        (48, 53, 48)
    );
    assert_eq!(alloc.create_time, 1_710_236_477_601_245_118);
    assert_eq!(alloc.modify_time, 1_710_236_490_004_120_006);

    let job = alloc.job.as_deref().expect("embedded job");
    assert_eq!(job.id, alloc.job_id);
    assert_eq!(job.status, JobStatus::Pending);
    assert_eq!(job.task_groups[0].tasks[0].resources.memory_mb, 256);
}

#[test]
fn allocation_task_states_carry_go_times_and_events() {
    let alloc: Allocation = decode(ALLOCATION);
    let redis = &alloc.task_states["redis"];
    assert_eq!(redis.state, TaskStateValue::Running);
    assert!(!redis.failed);
    assert_eq!(redis.restarts, 1);
    assert_eq!(alloc.task_states["redis"].started_at, Some(STARTED_AT));
    assert_eq!(redis.finished_at, None, "Go's zero time means unset");
    assert_eq!(redis.last_restart, Some(1_710_236_478_220_300_000));

    let types: Vec<&str> = redis.events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "Received",
            "Task Setup",
            "Driver",
            "Terminated",
            "Restarting",
            "Started"
        ]
    );
    assert_eq!(redis.events[0].time, 1_710_236_477_655_871_203);
    assert!(redis.events[0].details.is_empty(), "null Details");
    assert_eq!(redis.events[2].driver_message, "Downloading image");
    let terminated = &redis.events[3];
    assert_eq!(terminated.exit_code, 137);
    assert_eq!(terminated.details["oom_killed"], "true");
    let restarting = &redis.events[4];
    assert_eq!(restarting.start_delay, 16_547_238_102);
    assert_eq!(restarting.restart_reason, "Restart within policy");
    assert_eq!(redis.events[5].time, STARTED_AT);
    assert_eq!(redis.events[5].display_message, "Task started by client");

    let emitted = serde_json::to_value(&alloc).unwrap();
    let state = &emitted["TaskStates"]["redis"];
    assert_eq!(state["StartedAt"], "2024-03-12T09:41:19.918203551Z");
    assert_eq!(state["FinishedAt"], GO_ZERO_TIME);
    assert_eq!(state["Events"][0]["Time"], 1_710_236_477_655_871_203_i64);
}

#[test]
fn allocation_resources_and_metrics_map_correctly() {
    let alloc: Allocation = decode(ALLOCATION);
    let res = alloc
        .allocated_resources
        .as_ref()
        .expect("allocated resources");
    let redis = &res.tasks["redis"];
    assert_eq!(redis.cpu.cpu_shares, 500);
    assert!(redis.cpu.reserved_cores.is_empty());
    assert_eq!(
        (redis.memory.memory_mb, redis.memory.memory_max_mb),
        (256, 512)
    );
    assert_eq!(redis.networks[0].device, "eth0");
    assert_eq!(redis.networks[0].dynamic_ports[0].value, 24817);
    assert_eq!(res.shared.disk_mb, 300);
    let port = &res.shared.ports[0];
    assert_eq!(
        (
            port.label.as_str(),
            port.value,
            port.to,
            port.host_ip.as_str()
        ),
        ("db", 28512, 6379, "10.0.4.17")
    );
    assert_eq!(res.shared.networks[0].ip, "10.0.4.17");
    assert_eq!(alloc.resources.as_ref().map(|r| r.disk_mb), Some(300));

    let m = alloc.metrics.as_ref().expect("metrics");
    assert_eq!(
        (m.nodes_evaluated, m.nodes_filtered, m.nodes_in_pool),
        (2, 1, 3)
    );
    assert_eq!(m.node_pool, "default");
    assert_eq!(m.nodes_available["dc2"], 1);
    assert_eq!(m.class_filtered["t3.small"], 1);
    assert_eq!(m.constraint_filtered["${attr.kernel.name} = linux"], 1);
    assert!(m.class_exhausted.is_empty() && m.resources_exhausted.is_empty());
    assert_eq!(m.allocation_time, 142_583);
    let best = &m.score_meta_data[0];
    assert_eq!(best.node_id, alloc.node_id);
    assert_eq!(best.scores["binpack"], 0.4536512374917412);
    assert_eq!(best.scores["node-affinity"], 1.0);
    assert_eq!(best.norm_score, 0.7268256187458706);
    assert_eq!(m.score_meta_data[1].scores["node-reschedule-penalty"], -1.0);
}

#[test]
fn allocation_deployment_and_reschedule_history() {
    let alloc: Allocation = decode(ALLOCATION);
    assert_eq!(alloc.deployment_id, "864c457a-1df5-4be2-9aa8-3f2e4cffb068");
    let ds = alloc.deployment_status.as_ref().expect("deployment status");
    assert_eq!(ds.healthy, Some(true));
    assert_eq!(ds.timestamp, Some(ns("2024-03-12T09:41:30.004120006Z")));
    assert!(!ds.canary);
    assert_eq!(ds.modify_index, 53);

    let tracker = alloc.reschedule_tracker.as_ref().expect("tracker");
    let ev = &tracker.events[0];
    assert_eq!(ev.prev_alloc_id, alloc.previous_allocation);
    assert_eq!(ev.prev_node_id, "4d0b9f01-da90-4440-a06f-235698839a0f");
    assert_eq!(ev.delay, 30_000_000_000);
    assert_eq!(ev.reschedule_time, 1_710_236_477_483_016_254);

    assert_eq!(alloc.desired_transition, DesiredTransition::default());
    assert!(alloc.preempted_allocations.is_empty());
    assert_eq!(alloc.next_allocation, "");
}

#[test]
fn allocations_list_fixture_round_trips() {
    let stubs: Vec<AllocListStub> =
        round_trip("allocations_list.json", ALLOCATIONS_LIST, Coverage::Full);
    assert_eq!(stubs.len(), 3);

    let failed = &stubs[1];
    assert_eq!(failed.client_status, AllocClientStatus::Failed);
    assert_eq!(failed.desired_status, AllocDesiredStatus::Stop);
    assert_eq!(failed.job_version, 1);
    assert_eq!(failed.next_allocation, stubs[0].id);
    assert_eq!(failed.desired_transition.reschedule, Some(true));
    assert_eq!(failed.desired_transition.no_shutdown_delay, Some(false));
    assert_eq!(failed.desired_transition.migrate, None);
    let dead = &failed.task_states.as_ref().expect("task states")["redis"];
    assert_eq!(dead.state, TaskStateValue::Dead);
    assert!(dead.failed && dead.events[0].fails_task);
    assert_eq!(dead.finished_at, Some(ns("2024-03-12T09:40:47.390012337Z")));
    assert_eq!(
        failed.deployment_status.as_ref().and_then(|d| d.healthy),
        Some(false)
    );

    let batch = &stubs[2];
    assert_eq!(batch.job_type, JobType::Batch);
    assert_eq!(batch.namespace, "ops");
    assert_eq!(batch.client_status, AllocClientStatus::Complete);
    assert!(batch.task_states.as_ref().unwrap()["pg-dump"]
        .events
        .is_empty());
    assert_eq!(
        batch.allocated_resources, None,
        "omitted without ?resources=true"
    );
}

#[test]
fn alloc_stub_matches_the_list_fixture() {
    let alloc: Allocation = decode(ALLOCATION);
    let listed: Vec<AllocListStub> = decode(ALLOCATIONS_LIST);
    let mut stub = alloc.stub(false, true);
    assert_eq!(stub.task_states.as_ref(), Some(&alloc.task_states));
    // The list was read at a later point of the task's life; everything
    // else about the allocation is the same.
    stub.task_states.clone_from(&listed[0].task_states);
    assert_eq!(stub, listed[0]);
    let with_resources = alloc.stub(true, false);
    assert_eq!(
        with_resources.allocated_resources,
        alloc.allocated_resources
    );
    assert_eq!(with_resources.task_states, None);
}

// ---------------------------------------------------------- evaluations

#[test]
fn evaluation_fixture_round_trips() {
    let eval: Evaluation = round_trip("evaluation.json", EVALUATION, Coverage::Full);
    assert_eq!(eval.id, "73fe91a2-ecf4-4ff2-ba40-42464579eb4b");
    assert_eq!(eval.eval_type, "service");
    assert_eq!(eval.triggered_by, trigger::JOB_SCALING);
    assert_eq!(eval.status, EvalStatus::Complete);
    assert_eq!(eval.blocked_eval, "bbcda5b1-39d4-4767-9588-a864f70de901");
    assert_eq!(eval.wait_until, None);
    assert_eq!(eval.related_evals, None);
    assert_eq!(eval.queued_allocations["cache"], 2);
    assert_eq!(
        eval.class_eligibility.get("v1:9983261052197346620"),
        Some(&false)
    );
    assert_eq!(eval.snapshot_index, 58);

    let failed = &eval.failed_tg_allocs["cache"];
    assert_eq!(failed.nodes_exhausted, 2);
    assert_eq!(failed.class_exhausted["m5.large"], 2);
    assert_eq!(failed.dimension_exhausted["memory"], 2);
    assert_eq!(failed.resources_exhausted["redis"].memory_mb, 256);
    assert_eq!(failed.coalesced_failures, 1);
    assert!(failed.quota_exhausted.is_empty() && failed.score_meta_data.is_empty());
}

#[test]
fn evaluation_wait_until_is_a_go_time() {
    let eval: Evaluation =
        serde_json::from_str(r#"{"Wait":0,"WaitUntil":"2024-03-12T10:45:00+01:00"}"#).unwrap();
    assert_eq!(eval.wait_until, Some(ns("2024-03-12T09:45:00Z")));
    let emitted = serde_json::to_value(&eval).unwrap();
    assert_eq!(emitted["WaitUntil"], "2024-03-12T09:45:00Z");
    let unset = serde_json::to_value(Evaluation::default()).unwrap();
    assert_eq!(unset["WaitUntil"], GO_ZERO_TIME);
    let null: Evaluation = serde_json::from_str(r#"{"WaitUntil":null}"#).unwrap();
    assert_eq!(null.wait_until, None);
}

// ---------------------------------------------------------------- nodes

#[test]
fn node_fixture_round_trips() {
    let node: Node = round_trip("node.json", NODE, Coverage::Full);
    assert_eq!(node.id, "0011e7c5-6739-4d7f-bc1d-ceefd3076cc7");
    assert_eq!(node.secret_id, "");
    assert_eq!(node.http_addr, "10.0.4.17:4646");
    assert!(node.tls_enabled);
    assert_eq!(node.attributes["nomad.version"], "1.7.6");
    assert_eq!(node.attributes["driver.docker.version"], "25.0.3");
    assert_eq!(node.node_class, "m5.large");
    assert_eq!(node.computed_class, "v1:4461219931212331532");
    assert_eq!(node.status, NodeStatus::Ready);
    assert_eq!(node.scheduling_eligibility, SchedulingEligibility::Eligible);
    assert_eq!(node.status_updated_at, 1_710_236_211, "unix seconds");
    assert_eq!(node.drain_strategy, None);
    assert!(!node.is_draining());
    assert_eq!(node.links["consul"], "dc1.ip-10-0-4-17");
    assert_eq!(node.meta["rack"], "r12");

    assert!(node.drivers["docker"].healthy);
    assert!(node.drivers["docker"].detected);
    assert_eq!(node.drivers["docker"].update_time, Some(DOCKER_UPDATED));
    assert!(!node.drivers["exec"].healthy);
    assert!(
        node.drivers["exec"].attributes.is_empty(),
        "null Attributes"
    );
    assert_eq!(
        node.drivers["exec"].health_description,
        "Driver must run as root"
    );

    let res = &node.node_resources;
    assert_eq!(res.cpu.cpu_shares, 5000);
    assert_eq!(res.cpu.total_cpu_cores, 2);
    assert_eq!(res.cpu.reservable_cpu_cores, [0, 1]);
    assert_eq!((res.memory.memory_mb, res.disk.disk_mb), (7839, 39351));
    assert_eq!((res.min_dynamic_port, res.max_dynamic_port), (20000, 32000));
    assert_eq!(res.networks[1].cidr, "10.0.4.17/32");
    let reserved = &node.reserved_resources;
    assert_eq!(reserved.cpu.cpu_shares, 250);
    assert_eq!(
        (reserved.memory.memory_mb, reserved.disk.disk_mb),
        (512, 1024)
    );
    assert_eq!(reserved.networks.reserved_host_ports, "22,8500-8600");

    let drain = node.last_drain.as_ref().expect("last drain");
    assert_eq!(drain.status, "complete");
    assert_eq!(drain.started_at, Some(1_710_176_564_500_000_000));
    assert_eq!(drain.meta["message"], "kernel upgrade");
    assert_eq!(drain.accessor_id, "de6c3d21-069b-49ae-8e41-8cf67e4ac1dd");
}

#[test]
fn node_events_and_go_times_normalize_to_utc() {
    let node: Node = decode(NODE);
    let events = &node.events;
    assert_eq!(events.len(), 4);
    assert_eq!(events[0].message, "Node registered");
    assert_eq!(events[0].subsystem, "Cluster");
    assert!(events[0].details.is_empty());
    assert_eq!(events[0].timestamp, Some(ns("2024-03-08T14:17:52Z")));
    assert_eq!(events[1].details["drain_deadline"], "1h0m0s");
    assert_eq!(events[1].create_index, 34);
    // `+01:00` and `-07:00` offsets are read as the instants they denote.
    assert_eq!(events[1].timestamp, Some(ns("2024-03-11T17:02:44.5Z")));
    assert_eq!(events[3].timestamp, Some(DOCKER_UPDATED));

    let emitted = serde_json::to_value(&node).unwrap();
    assert_eq!(emitted["Events"][1]["Timestamp"], "2024-03-11T17:02:44.5Z");
    assert_eq!(
        emitted["Drivers"]["docker"]["UpdateTime"],
        "2024-03-12T09:38:04.113209877Z"
    );
    assert_eq!(emitted["StatusUpdatedAt"], 1_710_236_211);
    assert!(emitted["DrainStrategy"].is_null());
}

#[test]
fn nodes_list_fixture_round_trips() {
    let stubs: Vec<NodeListStub> = round_trip("nodes_list.json", NODES_LIST, Coverage::Full);
    assert_eq!(stubs.len(), 3);
    assert_eq!(stubs[0].address, "10.0.4.17");
    assert_eq!(stubs[0].version, "1.7.6");
    assert_eq!(
        stubs[0].attributes.as_ref().map(|a| a["os.name"].as_str()),
        Some("amzn")
    );
    assert_eq!(stubs[0].node_resources, None);

    let draining = &stubs[1];
    assert!(draining.drain);
    assert_eq!(
        draining.scheduling_eligibility,
        SchedulingEligibility::Ineligible
    );
    let last = draining.last_drain.as_ref().expect("last drain");
    assert_eq!(last.status, "draining");
    assert!(last.meta.is_empty());

    let down = &stubs[2];
    assert_eq!(down.status, NodeStatus::Down);
    assert_eq!(down.status_description, "node is down; heartbeat missed");
    assert!(down.drivers.is_empty());
    assert_eq!(down.last_drain, None);
}

#[test]
fn node_stub_matches_the_list_fixture() {
    let node: Node = decode(NODE);
    let listed: Vec<NodeListStub> = decode(NODES_LIST);
    assert_eq!(node.stub(false, true), listed[0]);

    let plain = serde_json::to_value(node.stub(false, false)).unwrap();
    for absent in ["Attributes", "NodeResources", "ReservedResources"] {
        assert!(
            plain.get(absent).is_none(),
            "{absent} is omitempty in Nomad"
        );
    }
    let full = node.stub(true, false);
    assert_eq!(full.node_resources.as_ref(), Some(&node.node_resources));
    assert_eq!(
        full.reserved_resources.as_ref(),
        Some(&node.reserved_resources)
    );
}

#[test]
fn node_drain_strategy_embeds_drain_spec_fields() {
    let text = r#"{
        "ID": "666eb126-3f3a-47e1-8ad2-0ca14f2e183b",
        "HTTPAddr": "10.0.5.88:4646",
        "SchedulingEligibility": "ineligible",
        "DrainStrategy": {
            "Deadline": 3600000000000,
            "IgnoreSystemJobs": true,
            "ForceDeadline": "2024-03-12T10:44:03.201937Z",
            "StartedAt": "2024-03-12T09:44:03.201937Z"
        }
    }"#;
    let node: Node = round_trip("draining node", text, Coverage::Partial);
    let ds = node.drain_strategy.as_ref().expect("drain strategy");
    assert_eq!(ds.deadline, 3_600_000_000_000);
    assert!(ds.ignore_system_jobs);
    assert_eq!(ds.force_deadline, Some(ns("2024-03-12T10:44:03.201937Z")));
    assert_eq!(ds.started_at, Some(ns("2024-03-12T09:44:03.201937Z")));
    assert!(node.is_draining());
    let stub = node.stub(false, false);
    assert!(stub.drain);
    assert_eq!(stub.address, "10.0.5.88");
}

// ---------------------------------------------------------- event stream

#[test]
fn event_stream_fixture_decodes_line_by_line() {
    let mut heartbeats = 0;
    let mut batches = Vec::new();
    for (n, line) in EVENT_STREAM.lines().enumerate() {
        let raw: Value = serde_json::from_str(line).expect("each line is JSON");
        if raw.as_object().is_some_and(|o| o.is_empty()) {
            heartbeats += 1;
            continue;
        }
        let label = format!("event_stream.ndjson line {}", n + 1);
        batches.push(round_trip::<Events>(&label, line, Coverage::Full));
    }
    assert_eq!(heartbeats, 3);
    let indexes: Vec<u64> = batches.iter().map(|b| b.index).collect();
    assert_eq!(indexes, [45, 48, 49, 51]);

    for batch in &batches {
        for ev in &batch.events {
            assert_eq!(ev.index, batch.index);
            let topic = match &ev.payload {
                EventPayload::Job(j) => {
                    assert_eq!(ev.key, j.id);
                    Topic::Job
                }
                EventPayload::Evaluation(e) => {
                    assert_eq!(ev.key, e.id);
                    Topic::Evaluation
                }
                EventPayload::Allocation(a) => {
                    assert_eq!(ev.key, a.id);
                    assert!(a.job.is_none(), "alloc events carry no Job");
                    Topic::Allocation
                }
                EventPayload::Node(n) => {
                    assert_eq!(ev.key, n.id);
                    assert_eq!(n.secret_id, "");
                    Topic::Node
                }
            };
            assert_eq!(ev.topic, topic);
        }
    }

    let first = &batches[0].events;
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].event_type, "JobRegistered");
    assert!(first[0].filter_keys.is_empty(), "null FilterKeys");
    assert_eq!(first[1].namespace, "default");
    let EventPayload::Allocation(alloc) = &batches[1].events[0].payload else {
        panic!("second batch is an allocation");
    };
    assert_eq!(batches[1].events[0].event_type, "PlanResult");
    assert_eq!(
        batches[1].events[0].filter_keys,
        ["example", "864c457a-1df5-4be2-9aa8-3f2e4cffb068"]
    );
    assert_eq!(alloc.client_status, AllocClientStatus::Pending);
    let EventPayload::Evaluation(eval) = &batches[2].events[0].payload else {
        panic!("third batch is an evaluation");
    };
    assert_eq!(eval.status, EvalStatus::Complete);
    let EventPayload::Node(node) = &batches[3].events[0].payload else {
        panic!("fourth batch is a node");
    };
    assert_eq!(node.drivers["docker"].update_time, Some(DOCKER_UPDATED));
}

#[test]
fn event_payload_is_tagged_with_the_object_kind() {
    let event = Event {
        topic: Topic::Evaluation,
        event_type: "EvaluationUpdated".into(),
        key: "0ea2dbe3-d5f7-4daf-b22d-36617c228f02".into(),
        namespace: "default".into(),
        filter_keys: vec!["example".into()],
        index: 49,
        payload: EventPayload::Evaluation(Box::new(Evaluation {
            id: "0ea2dbe3-d5f7-4daf-b22d-36617c228f02".into(),
            status: EvalStatus::Blocked,
            ..Default::default()
        })),
    };
    let v = serde_json::to_value(&event).unwrap();
    assert_eq!(v["Topic"], "Evaluation");
    let payload = v["Payload"].as_object().unwrap();
    assert_eq!(payload.keys().collect::<Vec<_>>(), ["Evaluation"]);
    assert_eq!(payload["Evaluation"]["Status"], "blocked");
    let packed = rmp_serde::to_vec_named(&event).unwrap();
    assert_eq!(rmp_serde::from_slice::<Event>(&packed).unwrap(), event);

    // The payload's kind is the map key; an unknown kind is an error, not
    // silently some other variant.
    let deployment = r#"{"Topic":"Deployment","Type":"DeploymentStatusUpdate","Key":"d",
        "Index":3,"Payload":{"Deployment":{"ID":"d"}}}"#;
    let err = serde_json::from_str::<Event>(deployment).unwrap_err();
    assert!(
        err.to_string().contains("unknown variant `Deployment`"),
        "{err}"
    );
}

// ------------------------------------------------- requests and responses

#[test]
fn job_register_request_round_trips() {
    let req: JobRegisterRequest = round_trip(
        "job_register_request.json",
        JOB_REGISTER_REQUEST,
        Coverage::Partial,
    );
    assert!(req.enforce_index);
    assert_eq!(req.job_modify_index, 45);
    assert!(req.preserve_counts && !req.policy_override);
    let job = req.job.as_ref().expect("job");
    assert_eq!(job.id, "example");
    assert_eq!(job.meta["owner"], "platform-team");
    let tg = &job.task_groups[0];
    assert_eq!(tg.count, 3);
    assert_eq!(tg.networks[0].dynamic_ports[0].to, 6379);
    assert_eq!(tg.networks[0].dynamic_ports[0].value, 0);
    let task = &tg.tasks[0];
    assert_eq!(task.resources.cpu, 500);
    assert_eq!(task.resources.memory_mb, 256);
    assert!(task.env.is_empty() && task.resources.networks.is_empty());
    // Decoding applies no Nomad defaults; canonicalization is the server's.
    assert_eq!(job.priority, 0);
    assert_eq!(task.kill_timeout, 0);
}

#[test]
fn job_register_and_deregister_responses_round_trip() {
    let reg: JobRegisterResponse = round_trip(
        "job_register_response.json",
        JOB_REGISTER_RESPONSE,
        Coverage::Full,
    );
    assert_eq!(reg.eval_id, "73fe91a2-ecf4-4ff2-ba40-42464579eb4b");
    assert_eq!((reg.eval_create_index, reg.job_modify_index), (59, 58));
    assert!(reg.warnings.contains("max parallel count"));
    assert_eq!(reg.meta.index, 59);

    let dereg: JobDeregisterResponse = round_trip(
        "job_deregister_response.json",
        JOB_DEREGISTER_RESPONSE,
        Coverage::Full,
    );
    assert_eq!(dereg.eval_id, "1f6a0c3e-8d7b-4f29-9e15-3b0d2c7a9f48");
    assert_eq!((dereg.eval_create_index, dereg.job_modify_index), (72, 71));
    assert_eq!(dereg.meta, WriteMeta { index: 72 });
    // WriteMeta is flattened: `Index` sits beside the other fields.
    let v = serde_json::to_value(&dereg).unwrap();
    assert_eq!(v["Index"], 72);
    assert!(v.get("meta").is_none());
}

#[test]
fn jobs_parse_request_round_trips() {
    let req: JobsParseRequest = round_trip(
        "jobs_parse_request.json",
        JOBS_PARSE_REQUEST,
        Coverage::Full,
    );
    assert!(req.job_hcl.starts_with("variable \"image\""));
    assert!(req.job_hcl.contains("job \"example\" {\n"));
    assert_eq!(req.variables, "image = \"redis:7.2\"\n");
    assert!(req.canonicalize);
}

#[test]
fn node_drain_request_round_trips_and_null_spec_cancels() {
    let req: NodeUpdateDrainRequest = round_trip(
        "node_drain_request.json",
        NODE_DRAIN_REQUEST,
        Coverage::Full,
    );
    assert_eq!(req.node_id, "666eb126-3f3a-47e1-8ad2-0ca14f2e183b");
    let spec = req.drain_spec.as_ref().expect("drain spec");
    assert_eq!(spec.deadline, 3_600_000_000_000);
    assert!(spec.ignore_system_jobs);
    assert!(!req.mark_eligible);
    assert_eq!(req.meta["ticket"], "OPS-4127");

    for cancel in [
        r#"{"DrainSpec":null,"MarkEligible":true}"#,
        r#"{"MarkEligible":true}"#,
    ] {
        let req: NodeUpdateDrainRequest = serde_json::from_str(cancel).unwrap();
        assert_eq!(req.drain_spec, None, "{cancel}");
        assert!(req.mark_eligible);
    }
}

#[test]
fn node_eligibility_request_round_trips() {
    let req: NodeUpdateEligibilityRequest = round_trip(
        "node_eligibility_request.json",
        NODE_ELIGIBILITY_REQUEST,
        Coverage::Full,
    );
    assert_eq!(req.node_id, "666eb126-3f3a-47e1-8ad2-0ca14f2e183b");
    assert_eq!(req.eligibility, SchedulingEligibility::Ineligible);
}

#[test]
fn node_update_response_round_trips() {
    let resp: NodeUpdateResponse = round_trip(
        "node_update_response.json",
        NODE_UPDATE_RESPONSE,
        Coverage::Full,
    );
    assert_eq!(resp.node_modify_index, 63);
    assert_eq!(resp.eval_create_index, 64);
    assert_eq!(resp.meta.index, 64);
    assert_eq!(resp.eval_ids.len(), 2);
    assert_eq!(resp.eval_ids[1], "33c30154-67cf-435b-a7f5-b557b216379a");

    // What Nomad sends when the update created no evaluations.
    let none: NodeUpdateResponse = round_trip(
        "no-eval node update",
        r#"{"EvalCreateIndex":0,"EvalIDs":null,"Index":3742,"NodeModifyIndex":3742}"#,
        Coverage::Full,
    );
    assert!(none.eval_ids.is_empty());
    assert_eq!(none.node_modify_index, 3742);
}

#[test]
fn agent_health_uses_lower_case_keys() {
    let health: AgentHealthResponse = round_trip("agent_health.json", AGENT_HEALTH, Coverage::Full);
    let client = health.client.as_ref().expect("client");
    assert!(client.ok);
    assert_eq!(client.message, "ok");
    let server = health.server.as_ref().expect("server");
    assert!(!server.ok);
    assert_eq!(server.message, "server has no leader");

    // A server-only agent has no `client` key at all.
    let server_only: AgentHealthResponse =
        serde_json::from_str(r#"{"server":{"ok":true,"message":"ok"}}"#).unwrap();
    assert_eq!(server_only.client, None);
    let v = serde_json::to_value(&server_only).unwrap();
    assert_eq!(v, json!({"server": {"ok": true, "message": "ok"}}));
    // Nomad's keys are lower case; the Go-style spelling is not them.
    let pascal: AgentHealthResponse = serde_json::from_str(r#"{"Client":{"Ok":true}}"#).unwrap();
    assert_eq!(pascal, AgentHealthResponse::default());
}

#[test]
fn agent_members_round_trips() {
    let members: ServerMembers = round_trip("agent_members.json", AGENT_MEMBERS, Coverage::Full);
    assert_eq!(members.server_name, "nomad-server-1");
    assert_eq!(
        (members.server_region.as_str(), members.server_dc.as_str()),
        ("global", "dc1")
    );
    assert_eq!(members.members.len(), 2);
    let first = &members.members[0];
    assert_eq!(first.name, "nomad-server-1.global");
    assert_eq!((first.addr.as_str(), first.port), ("10.0.1.10", 4648));
    assert_eq!(first.tags["role"], "nomad");
    assert_eq!(first.tags["bootstrap"], "3");
    assert_eq!(
        (first.protocol_min, first.protocol_max, first.protocol_cur),
        (1, 5, 2)
    );
    assert_eq!(
        (first.delegate_min, first.delegate_max, first.delegate_cur),
        (2, 5, 4)
    );
    assert_eq!(first.status, "alive");
    assert_eq!(members.members[1].status, "failed");
}

// ------------------------------------------------------ decoding rules

/// `{}` must decode to `T::default()` in JSON and in MessagePack.
fn empty_is_default<T>(name: &str)
where
    T: DeserializeOwned + Default + PartialEq + Debug,
{
    let json: T = serde_json::from_str("{}").unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(json, T::default(), "{name} from JSON {{}}");
    let empty_map = [0x80u8]; // MessagePack fixmap of length 0
    let packed: T = rmp_serde::from_slice(&empty_map).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(packed, T::default(), "{name} from MessagePack {{}}");
}

#[test]
fn empty_object_decodes_to_default_for_every_type() {
    macro_rules! all {
        ($($t:ty),* $(,)?) => { $( empty_is_default::<$t>(stringify!($t)); )* };
    }
    all!(
        JobRegisterRequest,
        JobRegisterResponse,
        JobDeregisterResponse,
        WriteMeta,
        JobsParseRequest,
        JobVersionsResponse,
        JobEvaluateRequest,
        EvalOptions,
        NodeUpdateDrainRequest,
        NodeUpdateEligibilityRequest,
        NodeUpdateResponse,
        AllocStopResponse,
        AgentHealthResponse,
        AgentHealth,
        ServerMembers,
        AgentMember,
        Job,
        TaskGroup,
        Task,
        Resources,
        NetworkResource,
        Port,
        JobListStub,
        JobSummary,
        TaskGroupSummary,
        Allocation,
        AllocListStub,
        AllocatedResources,
        AllocMetric,
        TaskState,
        TaskEvent,
        DesiredTransition,
        Evaluation,
        Node,
        NodeListStub,
        NodeResources,
        NodeReservedResources,
        DriverInfo,
        DrainStrategy,
        DrainMetadata,
        NodeEvent,
    );
}

#[test]
fn unknown_fields_are_ignored() {
    let tg: TaskGroup = serde_json::from_str(
        r#"{"Name":"cache","Count":2,"Scaling":{"Min":1,"Max":5},
            "FutureField":{"nested":[1,{"deep":null}]},"PreventRescheduleOnLost":true}"#,
    )
    .unwrap();
    assert_eq!(
        tg,
        TaskGroup {
            name: "cache".into(),
            count: 2,
            ..Default::default()
        }
    );

    let member: AgentMember =
        serde_json::from_str(r#"{"Name":"s1","Port":4648,"Extra":[true,false]}"#).unwrap();
    assert_eq!((member.name.as_str(), member.port), ("s1", 4648));

    // Names are case-sensitive, as Nomad's are in its responses: a
    // misspelled key is unknown and ignored, not a second spelling.
    let res: Resources = serde_json::from_str(r#"{"MemoryMb":999,"Cpu":7,"CPU":100}"#).unwrap();
    assert_eq!((res.memory_mb, res.cpu), (0, 100));

    let batch: Events =
        serde_json::from_str(r#"{"Index":9,"Events":[],"Heartbeat":false}"#).unwrap();
    assert_eq!((batch.index, batch.events.len()), (9, 0));
}

#[test]
fn go_nil_values_decode_as_defaults() {
    let node: Node = serde_json::from_str(
        r#"{"Attributes":null,"NodeResources":null,"ReservedResources":null,"Links":null,
            "Meta":null,"Events":null,"Drivers":null,"DrainStrategy":null,"LastDrain":null}"#,
    )
    .unwrap();
    assert_eq!(node, Node::default());

    let task: Task =
        serde_json::from_str(r#"{"Name":"t","Config":null,"Env":null,"Resources":null}"#).unwrap();
    assert_eq!(task.resources, Resources::default());
    assert!(task.config.is_empty() && task.env.is_empty());

    let metric: AllocMetric = serde_json::from_str(
        r#"{"NodesAvailable":null,"ClassFiltered":null,"ConstraintFiltered":null,
            "ClassExhausted":null,"DimensionExhausted":null,"QuotaExhausted":null,
            "ResourcesExhausted":null,"ScoreMetaData":null}"#,
    )
    .unwrap();
    assert_eq!(metric, AllocMetric::default());

    let eval: Evaluation = serde_json::from_str(
        r#"{"FailedTGAllocs":null,"ClassEligibility":null,"QueuedAllocations":null,
            "RelatedEvals":null,"WaitUntil":null}"#,
    )
    .unwrap();
    assert_eq!(eval, Evaluation::default());

    let alloc: Allocation = serde_json::from_str(
        r#"{"TaskStates":null,"PreemptedAllocations":null,"Job":null,"Metrics":null,
            "AllocatedResources":{"Tasks":null,"Shared":{"Networks":null,"Ports":null}}}"#,
    )
    .unwrap();
    assert_eq!(
        alloc.allocated_resources,
        Some(AllocatedResources::default())
    );
    assert!(alloc.task_states.is_empty());

    let state: TaskState =
        serde_json::from_str(r#"{"StartedAt":null,"FinishedAt":"","Events":null}"#).unwrap();
    assert_eq!(state, TaskState::default());
}

#[test]
fn wrong_types_are_serde_errors_at_the_offending_value() {
    fn fails<T: DeserializeOwned + Debug>(text: &str, bad: &str, expect: &str) {
        let err = serde_json::from_str::<T>(text).expect_err(text);
        let msg = err.to_string();
        assert!(msg.contains(expect), "{text}: {msg}");
        assert!(err.is_data(), "{text}: a type error, not a syntax error");
        // serde_json names no field in type errors, but points just past
        // the offending value (one further for a custom error, raised after
        // the next byte was peeked).
        let at = text.find(bad).expect("bad token in text") + bad.len();
        assert_eq!(err.line(), 1);
        assert!(
            (at..=at + 1).contains(&err.column()),
            "{text}: {msg}, expected column {at}"
        );
    }
    fails::<TaskGroup>(
        r#"{"Name":"cache","Count":"three"}"#,
        r#""three""#,
        r#"invalid type: string "three", expected i32"#,
    );
    fails::<Job>(
        r#"{"ID":"example","Datacenters":"dc1"}"#,
        r#""dc1""#,
        "expected a sequence",
    );
    fails::<Job>(r#"{"Type":"cron"}"#, r#""cron""#, "unknown variant `cron`");
    fails::<Resources>(
        r#"{"CPU":500,"MemoryMB":256.5}"#,
        "256.5",
        "invalid type: floating point",
    );
    fails::<TaskState>(
        r#"{"StartedAt":"yesterday"}"#,
        r#""yesterday""#,
        "invalid RFC 3339 time",
    );
    fails::<TaskState>(
        r#"{"StartedAt":1710236479918203551}"#,
        "1710236479918203551",
        "invalid type: integer",
    );
    fails::<Node>(
        r#"{"StatusUpdatedAt":"2024-03-12T09:36:51Z"}"#,
        r#""2024-03-12T09:36:51Z""#,
        "expected i64",
    );
    fails::<AgentMember>(r#"{"Port":70000}"#, "70000", "expected u16");
    fails::<NodeUpdateEligibilityRequest>(
        r#"{"Eligibility":"maybe"}"#,
        r#""maybe""#,
        "expected `eligible` or `ineligible`",
    );
    fails::<TaskEvent>(
        r#"{"Details":{"exit_code":137}}"#,
        "137",
        "expected a string",
    );

    let err = serde_json::from_str::<Event>(
        r#"{"Topic":"Job","Type":"JobRegistered","Key":"x","Index":1}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("missing field `Payload`"), "{err}");
}

#[test]
fn truncated_input_errors_without_panicking() {
    fn cut<T: DeserializeOwned + Serialize>(label: &str, text: &str) {
        // Every proper prefix of the document (trailing newline aside).
        let text = text.trim_end();
        let step = (text.len() / 1500).max(1);
        for end in (0..text.len())
            .step_by(step)
            .filter(|&i| text.is_char_boundary(i))
        {
            let err = serde_json::from_str::<T>(&text[..end])
                .err()
                .unwrap_or_else(|| panic!("{label}: prefix of {end} bytes decoded"));
            assert!(err.is_eof(), "{label} cut at {end}: {err}");
        }
        let value: T = serde_json::from_str(text).unwrap();
        let packed = rmp_serde::to_vec_named(&value).unwrap();
        let step = (packed.len() / 1500).max(1);
        for end in (0..packed.len()).step_by(step) {
            assert!(
                rmp_serde::from_slice::<T>(&packed[..end]).is_err(),
                "{label}: msgpack prefix of {end} bytes decoded"
            );
        }
    }
    cut::<Job>("job", JOB);
    cut::<Vec<JobListStub>>("jobs_list", JOBS_LIST);
    cut::<Allocation>("allocation", ALLOCATION);
    cut::<Vec<AllocListStub>>("allocations_list", ALLOCATIONS_LIST);
    cut::<Evaluation>("evaluation", EVALUATION);
    cut::<Node>("node", NODE);
    cut::<JobRegisterRequest>("job_register_request", JOB_REGISTER_REQUEST);
    cut::<AgentHealthResponse>("agent_health", AGENT_HEALTH);
    let line = EVENT_STREAM.lines().nth(1).unwrap();
    cut::<Events>("event line", line);
}

#[test]
fn msgpack_uses_field_names_and_tolerates_unknown_fields() {
    let job: Job = decode(JOB);
    let packed = rmp_serde::to_vec_named(&job).unwrap();
    let contains = |needle: &[u8]| packed.windows(needle.len()).any(|w| w == needle);
    assert!(contains(b"MemoryMB") && contains(b"TaskGroups") && contains(b"SubmitTime"));

    // A Raft entry written by a newer Drover with an extra field still reads.
    let mut newer: Value = serde_json::to_value(&job.task_groups[0]).unwrap();
    newer["MaxRunDuration"] = json!(3_600_000_000_000_i64);
    newer["Volumes"] = json!({"data": {"Type": "host", "Source": "redis-data"}});
    let packed = rmp_serde::to_vec_named(&newer).unwrap();
    let tg: TaskGroup = rmp_serde::from_slice(&packed).unwrap();
    assert_eq!(tg, job.task_groups[0]);
}

// ---------------------------------------------------------------- enums

/// `wire` is the JSON string Nomad uses for `value`, in both directions.
fn wire<T>(value: T, text: &str)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug + Copy,
{
    let quoted = format!("\"{text}\"");
    assert_eq!(serde_json::to_string(&value).unwrap(), quoted);
    assert_eq!(serde_json::from_str::<T>(&quoted).unwrap(), value);
    let packed = rmp_serde::to_vec_named(&value).unwrap();
    assert_eq!(rmp_serde::from_slice::<T>(&packed).unwrap(), value);
}

#[test]
fn job_type_and_status_values() {
    for (t, s) in [
        (JobType::Service, "service"),
        (JobType::Batch, "batch"),
        (JobType::System, "system"),
        (JobType::Sysbatch, "sysbatch"),
    ] {
        wire(t, s);
        assert_eq!(t.as_str(), s);
    }
    let job: Job = serde_json::from_str(r#"{"ID":"nightly","Type":"batch"}"#).unwrap();
    assert_eq!(job.job_type, JobType::Batch);
    let untyped: Job = serde_json::from_str(r#"{"ID":"web"}"#).unwrap();
    assert_eq!(untyped.job_type, JobType::Service, "Nomad's default type");
    assert!(
        serde_json::from_str::<JobType>(r#""Batch""#).is_err(),
        "lower case only"
    );

    wire(JobStatus::Pending, "pending");
    wire(JobStatus::Running, "running");
    wire(JobStatus::Dead, "dead");
}

#[test]
fn alloc_client_status_has_all_six_values() {
    let all = [
        (AllocClientStatus::Pending, "pending", false),
        (AllocClientStatus::Running, "running", false),
        (AllocClientStatus::Complete, "complete", true),
        (AllocClientStatus::Failed, "failed", true),
        (AllocClientStatus::Lost, "lost", true),
        (AllocClientStatus::Unknown, "unknown", false),
    ];
    for (status, text, terminal) in all {
        wire(status, text);
        assert_eq!(status.is_terminal(), terminal, "{text}");
        let stub: AllocListStub =
            serde_json::from_str(&format!(r#"{{"ClientStatus":"{text}"}}"#)).unwrap();
        assert_eq!(stub.client_status, status);
    }
    let err = serde_json::from_str::<AllocClientStatus>(r#""evicted""#).unwrap_err();
    assert!(
        err.to_string().contains("`unknown`"),
        "lists the variants: {err}"
    );
}

#[test]
fn alloc_desired_status_and_task_state_values() {
    wire(AllocDesiredStatus::Run, "run");
    wire(AllocDesiredStatus::Stop, "stop");
    wire(AllocDesiredStatus::Evict, "evict");
    let stopped = Allocation {
        desired_status: AllocDesiredStatus::Stop,
        client_status: AllocClientStatus::Running,
        ..Default::default()
    };
    assert!(stopped.is_terminal(), "a server-side stop is terminal");

    wire(TaskStateValue::Pending, "pending");
    wire(TaskStateValue::Running, "running");
    wire(TaskStateValue::Dead, "dead");
}

#[test]
fn eval_status_has_all_five_values() {
    let all = [
        (EvalStatus::Blocked, "blocked", false),
        (EvalStatus::Pending, "pending", false),
        (EvalStatus::Complete, "complete", true),
        (EvalStatus::Failed, "failed", true),
        (EvalStatus::Canceled, "canceled", true),
    ];
    for (status, text, terminal) in all {
        wire(status, text);
        assert_eq!(status.is_terminal(), terminal, "{text}");
    }
    assert!(
        serde_json::from_str::<EvalStatus>(r#""cancelled""#).is_err(),
        "Nomad spells it canceled"
    );
    assert_eq!(EvalStatus::default(), EvalStatus::Pending);
}

#[test]
fn node_status_and_eligibility_values() {
    for (status, text) in [
        (NodeStatus::Initializing, "initializing"),
        (NodeStatus::Ready, "ready"),
        (NodeStatus::Down, "down"),
        (NodeStatus::Disconnected, "disconnected"),
    ] {
        wire(status, text);
        let node: Node = serde_json::from_str(&format!(r#"{{"Status":"{text}"}}"#)).unwrap();
        assert_eq!(node.status, status);
    }
    wire(SchedulingEligibility::Eligible, "eligible");
    wire(SchedulingEligibility::Ineligible, "ineligible");
    let req: NodeUpdateEligibilityRequest =
        serde_json::from_str(r#"{"Eligibility":"eligible"}"#).unwrap();
    assert_eq!(req.eligibility, SchedulingEligibility::Eligible);
}

#[test]
fn topic_values_include_the_wildcard() {
    for (topic, text) in [
        (Topic::Job, "Job"),
        (Topic::Evaluation, "Evaluation"),
        (Topic::Allocation, "Allocation"),
        (Topic::Node, "Node"),
        (Topic::Deployment, "Deployment"),
        (Topic::All, "*"),
    ] {
        wire(topic, text);
        assert_eq!(topic.as_str(), text);
        assert_eq!(Topic::parse(text), Some(topic));
    }
    assert_eq!(Topic::parse("job"), None, "topics are case-sensitive");
    assert_eq!(Topic::parse("ACLToken"), None);
    let keyed: BTreeMap<Topic, Vec<String>> =
        serde_json::from_str(r#"{"*":["*"],"Job":["example"]}"#).unwrap();
    assert_eq!(keyed[&Topic::All], ["*"]);
    assert_eq!(keyed[&Topic::Job], ["example"]);
}
