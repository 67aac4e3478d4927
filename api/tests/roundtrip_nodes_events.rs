//! Round trips of nodes, the event stream, and request and response bodies
//! against Nomad-shaped fixtures (see `common` for what a round trip checks).

mod common;

use common::*;

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
                EventPayload::Deployment(d) => {
                    assert_eq!(ev.key, d.id);
                    Topic::Deployment
                }
                EventPayload::ExecSession(x) => {
                    assert_eq!(ev.key, x.id);
                    Topic::Exec
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
        "Index":3,"Payload":{"Deployment":{"ID":"d","TaskGroups":{"web":
        {"RequireProgressBy":"0001-01-01T00:00:00Z","PlacedCanaries":null}}}}}"#;
    let event: Event = serde_json::from_str(deployment).unwrap();
    let EventPayload::Deployment(d) = &event.payload else {
        panic!("not a deployment: {event:?}")
    };
    assert_eq!(d.id, "d");
    assert_eq!(d.task_groups["web"].require_progress_by, None);
    let unknown = r#"{"Topic":"Deployment","Type":"X","Key":"d",
        "Index":3,"Payload":{"Volume":{"ID":"d"}}}"#;
    let err = serde_json::from_str::<Event>(unknown).unwrap_err();
    assert!(
        err.to_string().contains("unknown variant `Volume`"),
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
        r#"{"EvalCreateIndex":0,"EvalIDs":null,"HeartbeatTTL":0,"Index":3742,"LeaderRPCAddr":"","NodeModifyIndex":3742,"NumNodes":0,"Servers":null}"#,
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
