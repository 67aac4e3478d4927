//! Decoding rules shared by every wire type: defaults, unknown fields,
//! Go nils, type errors, truncated input, MessagePack, enum spellings.

mod common;

use common::*;

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
        Deployment,
        DeploymentState,
        DeploymentStatusUpdate,
        DeploymentPromoteRequest,
        DeploymentPauseRequest,
        DeploymentAllocHealthRequest,
        DeploymentUpdateResponse,
    );
}

#[test]
fn unknown_fields_are_ignored() {
    let tg: TaskGroup = serde_json::from_str(
        r#"{"Name":"cache","Count":2,"Sidecar":{"Min":1,"Max":5},
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

/// Nomad's deployment as `GET /v1/deployment/:id` sends it: times of the
/// group as RFC 3339 (Go's zero time for none), durations in nanoseconds,
/// `PlacedCanaries` null when none; it reads back the same.
#[test]
fn deployment_wire_shape() {
    let text = r#"{"ID":"d","Namespace":"default","JobID":"web","JobVersion":1,
        "JobModifyIndex":7,"JobSpecModifyIndex":7,"JobCreateIndex":5,"IsMultiregion":false,
        "TaskGroups":{"g":{"AutoRevert":true,"AutoPromote":false,"ProgressDeadline":600000000000,
        "RequireProgressBy":"0001-01-01T00:00:00Z","Promoted":false,"PlacedCanaries":null,
        "DesiredCanaries":0,"DesiredTotal":2,"PlacedAllocs":0,"HealthyAllocs":0,
        "UnhealthyAllocs":0}},"Status":"running","StatusDescription":"Deployment is running",
        "EvalPriority":50,"CreateIndex":8,"ModifyIndex":8,"CreateTime":1,"ModifyTime":1}"#;
    let d: Deployment = serde_json::from_str(text).unwrap();
    assert!(d.active() && !d.requires_promotion() && !d.has_placed_canaries());
    assert_eq!(d.task_groups["g"].require_progress_by, None);
    let back: Value = serde_json::to_value(&d).unwrap();
    let want: Value = serde_json::from_str(text).unwrap();
    assert_eq!(back, want);
}
