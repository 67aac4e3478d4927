//! Round trips of jobs, allocations and evaluations against Nomad-shaped
//! fixtures (see `common` for what a round trip checks).

mod common;

use common::*;

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
fn job_fixture_spreads_decode_and_reemit() {
    let fixture: Value = serde_json::from_str(JOB).unwrap();
    let job: Job = decode(JOB);
    assert_eq!(job.spreads.len(), 1);
    assert_eq!(job.spreads[0].attribute, "${node.datacenter}");
    assert_eq!(job.spreads[0].weight, 100);
    assert_eq!(job.spreads[0].spread_target[1].value, "dc2");
    assert_eq!(job.spreads[0].spread_target[1].percent, 30);
    // Go's nil list at group level decodes as empty.
    assert!(fixture["TaskGroups"][0]["Spreads"].is_null());
    assert!(job.task_groups[0].spreads.is_empty());
    let emitted = serde_json::to_value(&job).unwrap();
    assert_eq!(emitted["Spreads"], fixture["Spreads"]);
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
            "/Multiregion",
            "/ConsulToken",
            "/VaultToken",
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
