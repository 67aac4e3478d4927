//! Node eligibility and drain, allocation stop and forced evaluation over
//! HTTP: each writes its change and the evaluations that act on it.

mod common;

use common::{Srv, T0};
use drover_api::Allocation;
use drover_state::command::ApplyPlanResults;
use drover_state::Command;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn with_job_on_node(srv: &Srv) {
    srv.register_node("n1").await;
    let job = json!({"Job": {"ID": "web", "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec"}]}]}});
    let (st, _, body) = srv.send(Method::PUT, "/v1/jobs", &job).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let alloc = Allocation {
        id: "a1".into(),
        namespace: "default".into(),
        eval_id: "e1".into(),
        name: "web.g[0]".into(),
        node_id: "n1".into(),
        job_id: "web".into(),
        task_group: "g".into(),
        ..Default::default()
    };
    srv.write(Command::ApplyPlanResults(ApplyPlanResults {
        deployment: None,
        deployment_updates: Vec::new(),
        namespace: "default".into(),
        job_id: "web".into(),
        job_version: 0,
        placed: vec![alloc],
        stopped: vec![],
        preempted: vec![],
        followups: vec![],
        evals: vec![],
        now: T0,
    }))
    .await;
}

#[tokio::test]
async fn eligibility_toggles_and_eligible_creates_node_evals() {
    let srv = Srv::start().await;
    with_job_on_node(&srv).await;
    let (st, body, _) = srv
        .send(
            Method::POST,
            "/v1/node/n1/eligibility",
            &json!({"Eligibility": "ineligible"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body["EvalIDs"], json!([]));
    let (_, node) = srv.get("/v1/node/n1").await;
    assert_eq!(node["SchedulingEligibility"], "ineligible");
    let (st, body, _) = srv
        .send(
            Method::POST,
            "/v1/node/n1/eligibility",
            &json!({"NodeID": "n1", "Eligibility": "eligible"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let ids = body["EvalIDs"].as_array().unwrap();
    assert_eq!(
        ids.len(),
        1,
        "one eval for the job with an allocation on the node"
    );
    let (_, eval) = srv
        .get(&format!("/v1/evaluation/{}", ids[0].as_str().unwrap()))
        .await;
    assert_eq!(
        (
            eval["TriggeredBy"].as_str(),
            eval["NodeID"].as_str(),
            eval["JobID"].as_str()
        ),
        (Some("node-update"), Some("n1"), Some("web"))
    );
    let (st, _, text) = srv
        .send(
            Method::POST,
            "/v1/node/n1/eligibility",
            &json!({"Eligibility": "sometimes"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(text.contains("Eligibility"), "{text}");
    let (st, _, _) = srv
        .send(
            Method::POST,
            "/v1/node/nope/eligibility",
            &json!({"Eligibility": "eligible"}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    srv.s.shutdown().await;
}

#[tokio::test]
async fn drain_sets_strategy_and_ineligibility_then_cancel_restores() {
    let srv = Srv::start().await;
    with_job_on_node(&srv).await;
    let (st, body, text) = srv
        .send(
            Method::POST,
            "/v1/node/n1/drain",
            &json!({"DrainSpec": {"Deadline": 3_600_000_000_000i64}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{text}");
    assert_eq!(body["EvalIDs"].as_array().unwrap().len(), 1);
    let (_, node) = srv.get("/v1/node/n1").await;
    assert_eq!(node["SchedulingEligibility"], "ineligible");
    assert_eq!(node["DrainStrategy"]["Deadline"], 3_600_000_000_000i64);
    assert_eq!(node["LastDrain"]["Status"], "draining");
    let (st, _, text) = srv
        .send(
            Method::POST,
            "/v1/node/n1/eligibility",
            &json!({"Eligibility": "eligible"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(text.contains("while it is draining"), "{text}");
    let (st, _, _) = srv
        .send(
            Method::POST,
            "/v1/node/n1/drain",
            &json!({"MarkEligible": true}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, node) = srv.get("/v1/node/n1").await;
    assert_eq!(
        (
            node["DrainStrategy"].clone(),
            node["SchedulingEligibility"].as_str()
        ),
        (serde_json::Value::Null, Some("eligible"))
    );
    assert_eq!(node["LastDrain"]["Status"], "canceled");
    let (st, _, _) = srv
        .send(
            Method::POST,
            "/v1/node/n1/drain",
            &json!({"DrainSpec": {"Deadline": -1}}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    srv.s.shutdown().await;
}

#[tokio::test]
async fn stopping_an_allocation_marks_it_to_migrate_and_creates_an_eval() {
    let srv = Srv::start().await;
    with_job_on_node(&srv).await;
    let (st, body, text) = srv
        .send(Method::POST, "/v1/allocation/a1/stop", &json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{text}");
    let (_, eval) = srv
        .get(&format!(
            "/v1/evaluation/{}",
            body["EvalID"].as_str().unwrap()
        ))
        .await;
    assert_eq!(eval["TriggeredBy"], "alloc-stop");
    let (_, alloc) = srv.get("/v1/allocation/a1").await;
    assert_eq!(alloc["DesiredTransition"]["Migrate"], true);
    let (st, _, _) = srv
        .send(Method::POST, "/v1/allocation/nope/stop", &json!({}))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    srv.s.shutdown().await;
}

#[tokio::test]
async fn evaluate_forces_a_new_eval_for_the_job() {
    let srv = Srv::start().await;
    with_job_on_node(&srv).await;
    let (st, body, text) = srv
        .send(
            Method::PUT,
            "/v1/job/web/evaluate",
            &json!({"JobID": "web"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{text}");
    let (_, evals) = srv.get("/v1/job/web/evaluations").await;
    assert!(evals
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["ID"] == body["EvalID"]));
    let (st, _, _) = srv
        .send(Method::PUT, "/v1/job/nope/evaluate", &json!({}))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    srv.s.shutdown().await;
}
