//! `State::apply` for plans, allocations, nodes, events, indexes and
//! watches, checked against what Nomad's state store does
//! (nomad/state/state_store.go).

mod common;

use common::*;
use drover_api::*;
use drover_state::command::*;
use drover_state::{ApplyError, Command, NamespaceSel, Table, WatchKey, WatchSet};

fn ws() -> WatchSet {
    WatchSet::new()
}

#[test]
fn plan_results_stop_preempt_place_and_link_previous_allocation() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 2)]);
    h.ok(register(&j, None));
    h.ok(plan(
        &j,
        vec![
            alloc("a1", &j, "g", "n1", "e1"),
            alloc("a2", &j, "g", "n1", "e1"),
        ],
        vec![],
    ));
    let mut replacement = alloc("a3", &j, "g", "n2", "e2");
    replacement.previous_allocation = "a1".into();
    let cmd = Command::ApplyPlanResults(ApplyPlanResults {
        deployment: None,
        deployment_updates: Vec::new(),
        namespace: "default".into(),
        job_id: "web".into(),
        job_version: 0,
        placed: vec![replacement],
        stopped: vec![AllocStopped {
            id: "a1".into(),
            desired_description: "alloc is lost".into(),
            client_status: Some(AllocClientStatus::Lost),
            followup_eval_id: String::new(),
        }],
        preempted: vec![AllocPreempted {
            id: "a2".into(),
            preempted_by: "a3".into(),
            desired_description: "preempted".into(),
        }],
        evals: vec![],
        followups: vec![],
        now: T0 + 3,
    });
    let applied = h.ok(cmd);
    let a1 = &h.state.alloc(&mut ws(), "a1").unwrap().alloc;
    assert_eq!(
        (a1.desired_status, a1.client_status),
        (AllocDesiredStatus::Stop, AllocClientStatus::Lost)
    );
    assert_eq!(a1.next_allocation, "a3");
    assert_eq!(
        (a1.modify_index, a1.alloc_modify_index, a1.modify_time),
        (applied.index, applied.index, T0 + 3)
    );
    let a2 = &h.state.alloc(&mut ws(), "a2").unwrap().alloc;
    assert_eq!(
        (a2.desired_status, a2.preempted_by_allocation.as_str()),
        (AllocDesiredStatus::Evict, "a3")
    );
    let a3 = &h.state.alloc(&mut ws(), "a3").unwrap().alloc;
    assert_eq!((a3.create_index, a3.create_time), (applied.index, T0 + 3));
    assert!(a3.job.is_none(), "rows never carry a job copy");
    assert_eq!(
        h.state
            .job_summary(&mut ws(), "default", "web")
            .unwrap()
            .summary["g"]
            .lost,
        1
    );
}

#[test]
fn plan_update_of_existing_alloc_keeps_client_fields() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 1)]);
    h.ok(register(&j, None));
    h.ok(plan(&j, vec![alloc("a1", &j, "g", "n1", "e1")], vec![]));
    h.ok(client_update("a1", AllocClientStatus::Running));
    let mut again = alloc("a1", &j, "g", "n1", "e2");
    again.desired_description = "in-place update".into();
    h.ok(plan(&j, vec![again], vec![]));
    let a1 = &h.state.alloc(&mut ws(), "a1").unwrap().alloc;
    assert_eq!(
        a1.client_status,
        AllocClientStatus::Running,
        "the client's report stands"
    );
    assert_eq!(a1.create_index, 2);
    assert_eq!(a1.eval_id, "e2");
    let by_eval: Vec<_> = h
        .state
        .allocs_by_eval(&mut ws(), "e1")
        .map(|r| r.alloc.id.clone())
        .collect();
    assert!(by_eval.is_empty(), "the eval index follows the row");
}

#[test]
fn client_update_changes_only_client_fields_and_skips_unknown_allocs() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 1)]);
    h.ok(register(&j, None));
    h.ok(plan(&j, vec![alloc("a1", &j, "g", "n1", "e1")], vec![]));
    let mut cmd = client_update("a1", AllocClientStatus::Running);
    if let Command::AllocClientUpdate(c) = &mut cmd {
        c.updates[0].task_states.insert(
            "t".into(),
            TaskState {
                state: TaskStateValue::Running,
                started_at: Some(T0),
                ..Default::default()
            },
        );
        c.updates.push(AllocClientState {
            id: "ghost".into(),
            client_status: AllocClientStatus::Failed,
            client_description: String::new(),
            task_states: Default::default(),
            deployment_status: None,
        });
    }
    let applied = h.ok(cmd);
    let a1 = &h.state.alloc(&mut ws(), "a1").unwrap().alloc;
    assert_eq!(a1.client_status, AllocClientStatus::Running);
    assert_eq!(a1.task_states["t"].state, TaskStateValue::Running);
    assert_eq!(a1.modify_index, applied.index);
    assert_eq!(
        a1.alloc_modify_index, 2,
        "client updates leave AllocModifyIndex alone"
    );
    assert!(h.state.alloc(&mut ws(), "ghost").is_none());
}

#[test]
fn desired_transition_merges_and_creates_eval() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 1)]);
    h.ok(register(&j, None));
    h.ok(plan(&j, vec![alloc("a1", &j, "g", "n1", "e1")], vec![]));
    let tr = DesiredTransition {
        migrate: Some(true),
        ..Default::default()
    };
    let mut e = eval("stop-eval", &j, EvalStatus::Pending);
    e.triggered_by = trigger::ALLOC_STOP.into();
    h.ok(Command::AllocUpdateDesiredTransition(
        AllocUpdateDesiredTransition {
            transitions: [("a1".to_string(), tr)].into(),
            evals: vec![e],
            now: T0,
        },
    ));
    let tr2 = DesiredTransition {
        no_shutdown_delay: Some(true),
        ..Default::default()
    };
    h.ok(Command::AllocUpdateDesiredTransition(
        AllocUpdateDesiredTransition {
            transitions: [("a1".to_string(), tr2)].into(),
            evals: vec![],
            now: T0,
        },
    ));
    let a1 = &h.state.alloc(&mut ws(), "a1").unwrap().alloc;
    assert_eq!(
        (
            a1.desired_transition.migrate,
            a1.desired_transition.no_shutdown_delay
        ),
        (Some(true), Some(true))
    );
    assert_eq!(
        h.state.eval(&mut ws(), "stop-eval").unwrap().triggered_by,
        "alloc-stop"
    );
}

#[test]
fn node_register_keeps_server_owned_fields_on_reregistration() {
    let mut h = Harness::new();
    let n = node("n1");
    h.ok(node_register(&n));
    let stored = h.state.node(&mut ws(), "n1").unwrap();
    assert_eq!(stored.events.len(), 1);
    assert_eq!(stored.events[0].message, "Node registered");
    h.ok(Command::NodeUpdateDrain(NodeUpdateDrain {
        node_id: "n1".into(),
        drain_strategy: Some(DrainStrategy {
            deadline: 60_000_000_000,
            ..Default::default()
        }),
        mark_eligible: false,
        event: None,
        meta: Default::default(),
        evals: vec![],
        now: T0 + 1,
    }));
    let mut again = node("n1");
    again
        .attributes
        .insert("kernel.name".into(), "linux".into());
    h.ok(node_register(&again));
    let stored = h.state.node(&mut ws(), "n1").unwrap();
    assert!(
        stored.drain_strategy.is_some(),
        "drain survives re-registration"
    );
    assert_eq!(
        stored.scheduling_eligibility,
        SchedulingEligibility::Ineligible
    );
    assert_eq!(stored.attributes["kernel.name"], "linux");
    assert_eq!(stored.create_index, 1);
}

#[test]
fn node_status_eligibility_and_drain_rules() {
    let mut h = Harness::new();
    h.ok(node_register(&node("n1")));
    let unknown = h.apply(Command::NodeUpdateStatus(NodeUpdateStatus {
        node_id: "nope".into(),
        status: NodeStatus::Down,
        event: None,
        evals: vec![],
        now: T0,
    }));
    assert_eq!(unknown.result, Err(ApplyError::UnknownNode("nope".into())));
    let ev = NodeEvent {
        message: "Node heartbeat missed".into(),
        subsystem: "Cluster".into(),
        timestamp: Some(T0),
        ..Default::default()
    };
    h.ok(Command::NodeUpdateStatus(NodeUpdateStatus {
        node_id: "n1".into(),
        status: NodeStatus::Down,
        event: Some(ev),
        evals: vec![],
        now: 1_700_000_123_000_000_000,
    }));
    let n = h.state.node(&mut ws(), "n1").unwrap();
    assert_eq!(
        (n.status, n.status_updated_at),
        (NodeStatus::Down, 1_700_000_123)
    );
    assert_eq!(n.events.last().unwrap().create_index, h.index);
    let drain = |ds: Option<DrainStrategy>, mark| {
        Command::NodeUpdateDrain(NodeUpdateDrain {
            node_id: "n1".into(),
            drain_strategy: ds,
            mark_eligible: mark,
            event: None,
            meta: Default::default(),
            evals: vec![],
            now: T0,
        })
    };
    h.ok(drain(Some(DrainStrategy::default()), false));
    let elig = h.apply(Command::NodeUpdateEligibility(NodeUpdateEligibility {
        node_id: "n1".into(),
        eligibility: SchedulingEligibility::Eligible,
        event: None,
        evals: vec![],
        now: T0,
    }));
    assert_eq!(
        elig.result,
        Err(ApplyError::EligibleWhileDraining("n1".into()))
    );
    h.ok(drain(None, true));
    let n = h.state.node(&mut ws(), "n1").unwrap();
    assert!(n.drain_strategy.is_none());
    assert_eq!(n.scheduling_eligibility, SchedulingEligibility::Eligible);
    assert_eq!(n.last_drain.as_ref().unwrap().status, "canceled");
}

#[test]
fn node_events_are_capped_at_ten() {
    let mut h = Harness::new();
    h.ok(node_register(&node("n1")));
    for i in 0..15 {
        let ev = NodeEvent {
            message: format!("event {i}"),
            ..Default::default()
        };
        h.ok(Command::NodeUpdateStatus(NodeUpdateStatus {
            node_id: "n1".into(),
            status: NodeStatus::Ready,
            event: Some(ev),
            evals: vec![],
            now: T0,
        }));
    }
    let n = h.state.node(&mut ws(), "n1").unwrap();
    assert_eq!(n.events.len(), 10);
    assert_eq!(n.events[9].message, "event 14");
}

#[test]
fn node_deregister_is_all_or_nothing() {
    let mut h = Harness::new();
    h.ok(node_register(&node("n1")));
    let r = h.apply(Command::NodeDeregister(NodeDeregister {
        node_ids: vec!["n1".into(), "n2".into()],
        now: T0,
    }));
    assert_eq!(r.result, Err(ApplyError::UnknownNode("n2".into())));
    assert!(h.state.node(&mut ws(), "n1").is_some());
    h.ok(Command::NodeDeregister(NodeDeregister {
        node_ids: vec!["n1".into()],
        now: T0,
    }));
    assert!(h.state.node(&mut ws(), "n1").is_none());
}

#[test]
fn index_must_increase() {
    let mut h = Harness::new();
    h.ok(node_register(&node("n1")));
    let r = h.state.apply(1, &node_register(&node("n2")));
    assert_eq!(
        r.result,
        Err(ApplyError::IndexNotIncreasing { index: 1, last: 1 })
    );
    assert!(h.state.node(&mut ws(), "n2").is_none());
}

#[test]
fn events_carry_nomads_types_keys_and_filter_keys() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 1)]);
    h.ok(register(&j, Some(eval("e1", &j, EvalStatus::Pending))));
    let mut a = alloc("a1", &j, "g", "n1", "e1");
    a.deployment_id = "d1".into();
    h.ok(plan(&j, vec![a], vec![]));
    h.ok(client_update("a1", AllocClientStatus::Running));
    h.ok(node_register(&node("n1")));
    let log: Vec<_> = h.state.events().read_from(0).unwrap().collect();
    assert_eq!(
        log.iter().map(|b| b.index).collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "one batch per write"
    );
    // The wire form, as the stream sends it.
    let batches: Vec<Vec<Event>> = log
        .iter()
        .map(|b| {
            b.events
                .iter()
                .map(|e| e.to_event(b.index).unwrap())
                .collect()
        })
        .collect();
    let kinds = |i: usize| {
        batches[i]
            .iter()
            .map(|e| (e.topic, e.event_type.as_str()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(0),
        [
            (Topic::Evaluation, "JobRegistered"),
            (Topic::Job, "JobRegistered")
        ]
    );
    assert!(
        kinds(1).contains(&(Topic::Allocation, "PlanResult")),
        "new allocations arrive as PlanResult"
    );
    assert!(kinds(2).contains(&(Topic::Allocation, "AllocationUpdated")));
    let alloc_ev = batches[1]
        .iter()
        .find(|e| e.topic == Topic::Allocation)
        .unwrap();
    assert_eq!(alloc_ev.key, "a1");
    assert_eq!(alloc_ev.filter_keys, ["web", "d1"]);
    match &alloc_ev.payload {
        EventPayload::Allocation(a) => assert!(a.job.is_none(), "allocation payloads carry no job"),
        other => panic!("unexpected payload {other:?}"),
    }
    let node_ev = &batches[3][0];
    assert_eq!(
        (
            node_ev.topic,
            node_ev.event_type.as_str(),
            node_ev.key.as_str()
        ),
        (Topic::Node, "NodeRegistration", "n1")
    );
    match &node_ev.payload {
        EventPayload::Node(n) => assert!(
            n.secret_id.is_empty(),
            "node secrets never reach the stream"
        ),
        other => panic!("unexpected payload {other:?}"),
    }
    assert_eq!(alloc_ev.index, 2);
}

#[test]
fn subscription_keys_match_the_key_or_a_filter_key() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 1)]);
    h.ok(register(&j, Some(eval("e1", &j, EvalStatus::Pending))));
    let mut a = alloc("a1", &j, "g", "n1", "e1");
    a.deployment_id = "d1".into();
    h.ok(plan(&j, vec![a], vec![]));
    let batch = h.state.events().read_from(2).unwrap().next().unwrap();
    let ev = batch
        .events
        .iter()
        .find(|e| e.topic() == Topic::Allocation)
        .unwrap();
    for key in ["*", "a1", "web", "d1"] {
        assert!(ev.matches_key(key), "{key}");
    }
    for key in ["a", "e1", "n1", "", "other"] {
        assert!(!ev.matches_key(key), "{key}");
    }
    let job_ev = h
        .state
        .events()
        .read_from(1)
        .unwrap()
        .next()
        .unwrap()
        .events
        .iter()
        .find(|e| e.topic() == Topic::Job)
        .unwrap()
        .clone();
    assert!(job_ev.matches_key("web"));
    assert_eq!(
        job_ev.to_event(1).unwrap().filter_keys,
        Vec::<String>::new()
    );
}

#[test]
fn secondary_indexes_answer_by_job_node_eval_and_deployment() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 3)]);
    let other = job("default", "other", &[("g", 1)]);
    h.ok(register(&j, None));
    h.ok(register(&other, None));
    let mut a3 = alloc("a3", &j, "g", "n2", "e2");
    a3.deployment_id = "d1".into();
    h.ok(plan(
        &j,
        vec![
            alloc("a1", &j, "g", "n1", "e1"),
            alloc("a2", &j, "g", "n2", "e1"),
            a3,
        ],
        vec![],
    ));
    h.ok(plan(
        &other,
        vec![alloc("b1", &other, "g", "n1", "e3")],
        vec![],
    ));
    let ids = |it: Box<dyn Iterator<Item = &drover_state::AllocRow> + '_>| {
        it.map(|r| r.alloc.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(h.state.allocs_by_job(&mut ws(), "default", "web")),
        ["a1", "a2", "a3"]
    );
    assert_eq!(ids(h.state.allocs_by_node(&mut ws(), "n1")), ["a1", "b1"]);
    assert_eq!(ids(h.state.allocs_by_eval(&mut ws(), "e1")), ["a1", "a2"]);
    assert_eq!(ids(h.state.allocs_by_deployment(&mut ws(), "d1")), ["a3"]);
    assert_eq!(
        ids(h.state.allocs_by_prefix(&mut ws(), "a", None, false)),
        ["a1", "a2", "a3"]
    );
    assert_eq!(
        ids(h.state.allocs(&mut ws(), None, true)),
        ["b1", "a3", "a2", "a1"]
    );
    let jobs: Vec<_> = h
        .state
        .jobs(&mut ws(), NamespaceSel::One("default"), "", None, false)
        .map(|j| j.id.clone())
        .collect();
    assert_eq!(jobs, ["other", "web"]);
}

#[test]
fn watch_keys_are_narrow() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 2)]);
    h.ok(register(&j, None));
    h.ok(node_register(&node("n1")));
    h.ok(node_register(&node("n2")));
    h.ok(plan(
        &j,
        vec![
            alloc("a1", &j, "g", "n1", "e1"),
            alloc("a2", &j, "g", "n2", "e1"),
        ],
        vec![],
    ));
    let applied = h.ok(client_update("a1", AllocClientStatus::Running));
    assert!(applied.touched.contains(&WatchKey::NodeAllocs("n1".into())));
    assert!(
        !applied.touched.contains(&WatchKey::NodeAllocs("n2".into())),
        "node n2's readers stay asleep"
    );
    assert!(applied.touched.contains(&WatchKey::Alloc("a1".into())));
    assert!(!applied.touched.contains(&WatchKey::Alloc("a2".into())));
    assert!(!applied.touched.contains(&WatchKey::Table(Table::Nodes)));
    // A node heartbeat does not touch allocations at all.
    let hb = h.ok(Command::NodeUpdateStatus(NodeUpdateStatus {
        node_id: "n2".into(),
        status: NodeStatus::Ready,
        event: None,
        evals: vec![],
        now: T0,
    }));
    assert!(
        hb.touched
            .iter()
            .all(|k| matches!(k, WatchKey::Node(_) | WatchKey::Table(Table::Nodes))),
        "{:?}",
        hb.touched
    );
}

#[test]
fn index_of_reports_object_collection_and_table_indexes() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 2)]);
    h.ok(register(&j, None)); // 1
    h.ok(plan(&j, vec![alloc("a1", &j, "g", "n1", "e1")], vec![])); // 2
    h.ok(plan(&j, vec![alloc("a2", &j, "g", "n2", "e1")], vec![])); // 3
    h.ok(client_update("a2", AllocClientStatus::Running)); // 4
    let st = &h.state;
    assert_eq!(
        st.index_of(&WatchKey::NodeAllocs("n1".into())),
        2,
        "n1's allocations last changed at 2"
    );
    assert_eq!(st.index_of(&WatchKey::NodeAllocs("n2".into())), 4);
    assert_eq!(st.index_of(&WatchKey::Alloc("a1".into())), 2);
    assert_eq!(
        st.index_of(&WatchKey::Alloc("missing".into())),
        4,
        "a missing object reports its table index"
    );
    assert_eq!(st.index_of(&WatchKey::Table(Table::Allocs)), 4);
    assert_eq!(st.index_of(&WatchKey::NodeAllocs("never".into())), 0);
    let mut set = WatchSet::new();
    st.job(&mut set, "default", "web");
    assert_eq!(st.allocs_by_node(&mut set, "n1").count(), 1);
    // The job turned running at 2 (a pending allocation is live) and n1's
    // allocations last changed at 2: a change to n2 at 3 and 4 is not seen.
    assert_eq!(st.index_of_set(&set), 2);
}

#[test]
fn invalid_commands_are_rejected_not_panicked() {
    let mut h = Harness::new();
    let mut j = job("default", "", &[("g", 1)]);
    assert!(matches!(
        h.apply(register(&j, None)).result,
        Err(ApplyError::Invalid(_))
    ));
    j.id = "x".into();
    j.namespace.clear();
    assert!(matches!(
        h.apply(register(&j, None)).result,
        Err(ApplyError::Invalid(_))
    ));
    assert!(matches!(
        h.apply(node_register(&node(""))).result,
        Err(ApplyError::Invalid(_))
    ));
    let j = job("default", "web", &[("g", 1)]);
    assert!(matches!(
        h.apply(plan(&j, vec![alloc("", &j, "g", "n1", "e1")], vec![]))
            .result,
        Err(ApplyError::Invalid(_))
    ));
}
