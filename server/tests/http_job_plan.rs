//! `PUT /v1/job/{id}/plan`: the scheduler's answer for a job, with nothing
//! written.

mod common;

use common::{Srv, T0};
use drover_api::Allocation;
use drover_state::command::ApplyPlanResults;
use drover_state::Command;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A ready node with room for a few default-sized tasks.
async fn node(srv: &Srv, id: &str) {
    srv.register_sized_node(id, 4000, 8192, &[]).await;
}

fn job(id: &str, count: u64) -> Value {
    json!({"ID": id, "TaskGroups": [{"Name": "g", "Count": count,
        "Tasks": [{"Name": "t", "Driver": "raw_exec"}]}]})
}

async fn plan(srv: &Srv, id: &str, body: &Value) -> (StatusCode, Value, String) {
    srv.send(Method::PUT, &format!("/v1/job/{id}/plan"), body)
        .await
}

async fn plan_ok(srv: &Srv, id: &str, body: &Value) -> Value {
    let (st, v, text) = plan(srv, id, body).await;
    assert_eq!(st, StatusCode::OK, "{text}");
    v
}

async fn register(srv: &Srv, job: &Value) -> Value {
    let (st, v, text) = srv
        .send(Method::PUT, "/v1/jobs", &json!({"Job": job}))
        .await;
    assert_eq!(st, StatusCode::OK, "{text}");
    v
}

#[tokio::test]
async fn new_job_places_count_and_writes_nothing() {
    let srv = Srv::start().await;
    node(&srv, "n1").await;
    node(&srv, "n2").await;
    let v = plan_ok(&srv, "web", &json!({"Job": job("web", 3)})).await;
    assert_eq!(v["Annotations"]["DesiredTGUpdates"]["g"]["Place"], 3, "{v}");
    assert_eq!(v["JobModifyIndex"], 0);
    assert!(v["FailedTGAllocs"].is_null(), "{v}");
    assert!(v["CreatedEvals"].is_null(), "{v}");
    assert!(v["Diff"].is_null(), "{v}");
    assert_eq!(v["Annotations"]["PreemptedAllocs"], Value::Null);
    assert_eq!(v["NextPeriodicLaunch"], "0001-01-01T00:00:00Z");
    assert_eq!(v["Warnings"], "");
    assert!(v["Index"].as_u64().unwrap() > 0);

    assert_eq!(srv.get("/v1/job/web").await.0, StatusCode::NOT_FOUND);
    let (_, evals) = srv.get("/v1/evaluations").await;
    assert_eq!(evals, json!([]));
    let (_, allocs) = srv.get("/v1/allocations").await;
    assert_eq!(allocs, json!([]));
}

#[tokio::test]
async fn infeasible_job_fails_and_would_block() {
    let srv = Srv::start().await;
    srv.register_node("n1").await;
    let mut j = job("web", 2);
    j["Constraints"] =
        json!([{"LTarget": "${node.datacenter}", "RTarget": "nowhere", "Operand": "="}]);
    let v = plan_ok(&srv, "web", &json!({"Job": j})).await;
    assert!(v["FailedTGAllocs"]["g"].is_object(), "{v}");
    let created = v["CreatedEvals"].as_array().expect("created evals");
    assert_eq!(created.len(), 1, "{v}");
    assert_eq!(created[0]["Status"], "blocked");
    assert_eq!(created[0]["JobID"], "web");
    let (_, evals) = srv.get("/v1/evaluations").await;
    assert_eq!(evals, json!([]));
}

#[tokio::test]
async fn diff_of_an_edited_job_and_job_modify_index() {
    let srv = Srv::start().await;
    srv.register_node("n1").await;
    let r = register(&srv, &job("web", 1)).await;
    let mut j = job("web", 1);
    j["Priority"] = json!(70);
    let v = plan_ok(&srv, "web", &json!({"Job": j, "Diff": true})).await;
    assert_eq!(v["JobModifyIndex"], r["JobModifyIndex"]);
    let diff = &v["Diff"];
    assert_eq!(diff["Type"], "Edited", "{diff}");
    assert_eq!(diff["ID"], "web");
    let fields = diff["Fields"].as_array().expect("fields");
    let prio = fields
        .iter()
        .find(|f| f["Name"] == "Priority")
        .expect("Priority");
    assert_eq!(prio["Type"], "Edited");
    assert_eq!(
        (prio["Old"].as_str(), prio["New"].as_str()),
        (Some("50"), Some("70"))
    );
    assert_eq!(diff["TaskGroups"][0]["Name"], "g");

    // Unchanged: nothing to diff.
    let v = plan_ok(&srv, "web", &json!({"Job": job("web", 1), "Diff": true})).await;
    assert_eq!(v["Diff"]["Type"], "None", "{v}");
}

#[tokio::test]
async fn scale_down_shows_stop() {
    let srv = Srv::start().await;
    node(&srv, "n1").await;
    register(&srv, &job("web", 3)).await;
    let placed = (0..3)
        .map(|i| Allocation {
            id: format!("a{i}"),
            namespace: "default".into(),
            eval_id: "e".into(),
            name: format!("web.g[{i}]"),
            node_id: "n1".into(),
            job_id: "web".into(),
            task_group: "g".into(),
            ..Default::default()
        })
        .collect();
    srv.write(Command::ApplyPlanResults(ApplyPlanResults {
        deployment: None,
        deployment_updates: Vec::new(),
        namespace: "default".into(),
        job_id: "web".into(),
        job_version: 0,
        placed,
        stopped: vec![],
        preempted: vec![],
        followups: vec![],
        evals: vec![],
        now: T0,
    }))
    .await;
    let v = plan_ok(&srv, "web", &json!({"Job": job("web", 1), "Diff": true})).await;
    assert_eq!(v["Annotations"]["DesiredTGUpdates"]["g"]["Stop"], 2, "{v}");
    let g = &v["Diff"]["TaskGroups"][0];
    assert_eq!(g["Updates"]["destroy"], 2, "{g}");
    let count = g["Fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["Name"] == "Count")
        .unwrap();
    assert_eq!(
        (count["Old"].as_str(), count["New"].as_str()),
        (Some("3"), Some("1"))
    );
}

#[tokio::test]
async fn bad_bodies_are_400() {
    let srv = Srv::start().await;
    let (st, _, text) = plan(
        &srv,
        "web",
        &json!({"Job": {"ID": "web", "Priority": "high"}}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("Priority"), "{text}");
    let (st, _, text) = plan(&srv, "web", &json!({})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
    let (st, _, text) = plan(
        &srv,
        "web",
        &json!({"Job": {"ID": "web", "TaskGroups": []}}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
}

#[tokio::test]
async fn path_and_body_ids_must_match() {
    let srv = Srv::start().await;
    let (st, _, text) = plan(&srv, "other", &json!({"Job": job("web", 1)})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.to_lowercase().contains("id"), "{text}");
}
