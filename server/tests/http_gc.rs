//! `PUT /v1/system/gc`: a forced collection removes dead jobs with their
//! evaluations and allocations and down nodes without work, and nothing else.

mod common;

use common::{Srv, T0};
use drover_api::{AllocClientStatus, Allocation, EvalStatus, Evaluation, NodeStatus};
use drover_state::command::{
    AllocClientState, AllocClientUpdate, ApplyPlanResults, EvalUpdate, NodeUpdateStatus,
};
use drover_state::Command;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn gc(srv: &Srv) {
    let (st, body) = srv.put("/v1/system/gc", &Value::Null).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body, "");
}

async fn register(srv: &Srv, id: &str, job_type: &str) {
    let job = json!({"Job": {"ID": id, "Type": job_type, "TaskGroups": [{"Name": "g",
        "Tasks": [{"Name": "t", "Driver": "raw_exec"}]}]}});
    let (st, _, body) = srv.send(Method::PUT, "/v1/jobs", &job).await;
    assert_eq!(st, StatusCode::OK, "{body}");
}

async fn evals_of(srv: &Srv, job: &str) -> Vec<Evaluation> {
    let (st, v) = srv.get(&format!("/v1/job/{job}/evaluations")).await;
    assert_eq!(st, StatusCode::OK);
    serde_json::from_value(v).unwrap()
}

/// Complete every pending eval of `job`, as a worker would.
async fn complete_evals(srv: &Srv, job: &str) -> Vec<String> {
    let mut evals = evals_of(srv, job).await;
    for e in &mut evals {
        e.status = EvalStatus::Complete;
    }
    let ids = evals.iter().map(|e| e.id.clone()).collect();
    srv.write(Command::EvalUpdate(EvalUpdate { evals, now: T0 }))
        .await;
    ids
}

/// Place one allocation of `job` on `node` for `eval_id`, then report it.
async fn place(srv: &Srv, job: &str, alloc: &str, node: &str, eval_id: &str, s: AllocClientStatus) {
    let a = Allocation {
        id: alloc.into(),
        namespace: "default".into(),
        eval_id: eval_id.into(),
        name: format!("{job}.g[0]"),
        node_id: node.into(),
        job_id: job.into(),
        task_group: "g".into(),
        ..Default::default()
    };
    srv.write(Command::ApplyPlanResults(ApplyPlanResults {
        deployment: None,
        deployment_updates: Vec::new(),
        namespace: "default".into(),
        job_id: job.into(),
        job_version: 0,
        placed: vec![a],
        stopped: vec![],
        preempted: vec![],
        followups: vec![],
        evals: vec![],
        now: T0,
    }))
    .await;
    srv.write(Command::AllocClientUpdate(AllocClientUpdate {
        updates: vec![AllocClientState {
            id: alloc.into(),
            client_status: s,
            client_description: String::new(),
            task_states: Default::default(),
            deployment_status: None,
        }],
        evals: vec![],
        now: T0,
    }))
    .await;
}

async fn status(srv: &Srv, path: &str) -> StatusCode {
    srv.get(path).await.0
}

#[tokio::test]
async fn stopped_job_is_purged_with_its_evals_and_allocs() {
    let srv = Srv::start().await;
    srv.register_node("n1").await;
    register(&srv, "web", "service").await;
    let first = complete_evals(&srv, "web").await;
    place(
        &srv,
        "web",
        "a1",
        "n1",
        &first[0],
        AllocClientStatus::Complete,
    )
    .await;
    let (st, _, body) = srv.send(Method::DELETE, "/v1/job/web", &Value::Null).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let all = complete_evals(&srv, "web").await;
    assert_eq!(all.len(), 2);
    let (_, job) = srv.get("/v1/job/web").await;
    assert_eq!(job["Status"], "dead");

    gc(&srv).await;
    assert_eq!(status(&srv, "/v1/job/web").await, StatusCode::NOT_FOUND);
    assert_eq!(
        status(&srv, "/v1/allocation/a1").await,
        StatusCode::NOT_FOUND
    );
    for id in &all {
        let path = format!("/v1/evaluation/{id}");
        assert_eq!(status(&srv, &path).await, StatusCode::NOT_FOUND, "{path}");
    }
    // The node stays: it is ready.
    assert_eq!(status(&srv, "/v1/node/n1").await, StatusCode::OK);
}

#[tokio::test]
async fn running_job_keeps_its_evals_and_allocs() {
    let srv = Srv::start().await;
    srv.register_node("n1").await;
    register(&srv, "web", "service").await;
    let evals = complete_evals(&srv, "web").await;
    place(
        &srv,
        "web",
        "a1",
        "n1",
        &evals[0],
        AllocClientStatus::Running,
    )
    .await;

    gc(&srv).await;
    assert_eq!(status(&srv, "/v1/job/web").await, StatusCode::OK);
    assert_eq!(status(&srv, "/v1/allocation/a1").await, StatusCode::OK);
    let path = format!("/v1/evaluation/{}", evals[0]);
    assert_eq!(status(&srv, &path).await, StatusCode::OK);
}

#[tokio::test]
async fn live_batch_job_keeps_its_current_complete_allocs() {
    // core_sched.go gcEval: a batch job that is not dead keeps the allocations
    // of its current version, or they would run again.
    let srv = Srv::start().await;
    srv.register_node("n1").await;
    register(&srv, "b", "batch").await;
    let evals = complete_evals(&srv, "b").await;
    place(
        &srv,
        "b",
        "a1",
        "n1",
        &evals[0],
        AllocClientStatus::Complete,
    )
    .await;
    place(&srv, "b", "a2", "n1", &evals[0], AllocClientStatus::Running).await;

    gc(&srv).await;
    assert_eq!(status(&srv, "/v1/job/b").await, StatusCode::OK);
    assert_eq!(status(&srv, "/v1/allocation/a1").await, StatusCode::OK);
    let path = format!("/v1/evaluation/{}", evals[0]);
    assert_eq!(status(&srv, &path).await, StatusCode::OK);
}

#[tokio::test]
async fn down_node_without_allocs_goes_and_ready_node_stays() {
    let srv = Srv::start().await;
    srv.register_node("up").await;
    srv.register_node("gone").await;
    srv.register_node("busy").await;
    register(&srv, "web", "service").await;
    let evals = complete_evals(&srv, "web").await;
    place(
        &srv,
        "web",
        "a1",
        "busy",
        &evals[0],
        AllocClientStatus::Running,
    )
    .await;
    for id in ["gone", "busy"] {
        srv.write(Command::NodeUpdateStatus(NodeUpdateStatus {
            node_id: id.into(),
            status: NodeStatus::Down,
            event: None,
            evals: vec![],
            now: T0,
        }))
        .await;
    }

    gc(&srv).await;
    assert_eq!(status(&srv, "/v1/node/gone").await, StatusCode::NOT_FOUND);
    assert_eq!(status(&srv, "/v1/node/up").await, StatusCode::OK);
    // Its allocation is not terminal yet: the scheduler has to mark it lost first.
    assert_eq!(status(&srv, "/v1/node/busy").await, StatusCode::OK);
}

#[tokio::test]
async fn gc_twice_is_harmless() {
    let srv = Srv::start().await;
    srv.register_node("n1").await;
    register(&srv, "web", "service").await;
    register(&srv, "api", "service").await;
    let evals = complete_evals(&srv, "api").await;
    place(
        &srv,
        "api",
        "a1",
        "n1",
        &evals[0],
        AllocClientStatus::Running,
    )
    .await;
    let (st, _, body) = srv.send(Method::DELETE, "/v1/job/web", &Value::Null).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    complete_evals(&srv, "web").await;

    gc(&srv).await;
    let (_, evals_after_first) = srv.get("/v1/evaluations").await;
    let (_, jobs_after_first) = srv.get("/v1/jobs").await;
    gc(&srv).await;
    let (_, evals_after_second) = srv.get("/v1/evaluations").await;
    let (_, jobs_after_second) = srv.get("/v1/jobs").await;
    assert_eq!(evals_after_first, evals_after_second);
    assert_eq!(jobs_after_first, jobs_after_second);
    let ids: Vec<&str> = jobs_after_second
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["ID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["api"]);
    assert_eq!(status(&srv, "/v1/allocation/a1").await, StatusCode::OK);
}
