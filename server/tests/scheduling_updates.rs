//! The leader end to end for what happens after the first placement: a
//! rolling update that waits for health reports between steps, blocked
//! jobs retried when room frees up, and blocked jobs left alone by nodes
//! that could not take them.

mod common;

use common::{until, Srv};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn node(srv: &Srv, id: &str, cpu: i64, attrs: &[(&str, &str)]) {
    srv.register_sized_node(id, cpu, 8192, attrs).await;
}

async fn submit(srv: &Srv, job: Value) -> String {
    let (status, resp, text) = srv
        .send(Method::PUT, "/v1/jobs", &json!({ "Job": job }))
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let eval = resp["EvalID"].as_str().unwrap().to_string();
    until(
        srv,
        &format!("/v1/evaluation/{eval}"),
        "eval complete",
        |e| e["Status"] == "complete",
    )
    .await;
    eval
}

fn web(version: &str) -> Value {
    json!({"ID": "web", "Datacenters": ["dc1"],
        "Update": {"MaxParallel": 1},
        "TaskGroups": [{"Name": "g", "Count": 3,
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": ["1000"]},
                "Env": {"VERSION": version},
                "Resources": {"CPU": 100, "MemoryMB": 64}}]}]})
}

/// Live allocations of `web`, as (ID, NodeID, job version).
async fn live(srv: &Srv) -> Vec<(String, String, u64)> {
    let (_, allocs) = srv.get("/v1/job/web/allocations").await;
    allocs
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["DesiredStatus"] == "run" && a["ClientStatus"] != "lost")
        .map(|a| {
            (
                a["ID"].as_str().unwrap().to_string(),
                a["NodeID"].as_str().unwrap().to_string(),
                a["JobVersion"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Report one allocation running and healthy, as its client would.
async fn healthy(srv: &Srv, alloc: &(String, String, u64)) {
    let body = json!({"Alloc": [{"ID": alloc.0, "ClientStatus": "running",
        "DeploymentStatus": {"Healthy": true}}]});
    let (status, text) = srv
        .put(&format!("/v1/internal/node/{}/allocs", alloc.1), &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
}

/// Wait until every eval of `web` is terminal.
async fn settled(srv: &Srv) {
    until(srv, "/v1/job/web/evaluations", "evals settled", |v| {
        v.as_array().is_some_and(|evals| {
            evals
                .iter()
                .all(|e| !matches!(e["Status"].as_str(), Some("pending" | "blocked")))
        })
    })
    .await;
}

// Nomad docs, job-specification/update: "max_parallel ... the number of
// allocations within a task group that can be destructively updated at the
// same time"; the next batch starts once the previous one is healthy.
#[tokio::test]
async fn a_rolling_update_replaces_one_allocation_per_health_report() {
    let srv = Srv::start_scheduling().await;
    for i in 0..3 {
        node(&srv, &format!("n{i}"), 4000, &[]).await;
    }
    submit(&srv, web("1")).await;
    for a in live(&srv).await {
        healthy(&srv, &a).await;
    }
    settled(&srv).await;

    submit(&srv, web("2")).await;
    for step in 1..=3u64 {
        settled(&srv).await;
        let now = live(&srv).await;
        assert_eq!(now.len(), 3, "step {step}: the group stays at its count");
        let new: Vec<_> = now.iter().filter(|a| a.2 == 1).collect();
        assert_eq!(
            new.len() as u64,
            step,
            "step {step}: one more on the new version"
        );
        for a in new {
            healthy(&srv, a).await;
        }
    }
    settled(&srv).await;
    assert!(live(&srv).await.iter().all(|a| a.2 == 1));
    srv.s.shutdown().await;
}

fn small(id: &str, cpu: i64, constraint: Option<Value>) -> Value {
    let mut job = json!({"ID": id, "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Count": 1,
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Resources": {"CPU": cpu, "MemoryMB": 64}}]}]});
    if let Some(c) = constraint {
        job["Constraints"] = json!([c]);
    }
    job
}

#[tokio::test]
async fn stopping_a_job_frees_room_for_a_blocked_one() {
    let srv = Srv::start_scheduling().await;
    node(&srv, "only", 1000, &[]).await;
    submit(&srv, small("first", 800, None)).await;
    submit(&srv, small("second", 800, None)).await;
    until(&srv, "/v1/job/second/evaluations", "second blocked", |v| {
        v.as_array()
            .is_some_and(|e| e.iter().any(|e| e["Status"] == "blocked"))
    })
    .await;
    let (status, _, text) = srv.send(Method::DELETE, "/v1/job/first", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let allocs = until(&srv, "/v1/job/second/allocations", "second placed", |v| {
        v.as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    assert_eq!(allocs[0]["NodeID"], "only");
    srv.s.shutdown().await;
}

#[tokio::test]
async fn only_a_node_that_could_take_the_job_retries_it() {
    let srv = Srv::start_scheduling().await;
    let linux = json!({"LTarget": "${attr.kernel.name}", "Operand": "=", "RTarget": "linux"});
    node(&srv, "mac", 4000, &[("kernel.name", "darwin")]).await;
    submit(&srv, small("svc", 100, Some(linux))).await;
    let blocked = until(&srv, "/v1/job/svc/evaluations", "svc blocked", |v| {
        v.as_array()
            .is_some_and(|e| e.iter().any(|e| e["Status"] == "blocked"))
    })
    .await;
    let blocked_id = blocked
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Status"] == "blocked")
        .unwrap()["ID"]
        .clone();
    // A second node that cannot run it: the blocked eval must not be retried
    // (a retry would complete it and block a new one).
    node(&srv, "mac2", 4000, &[("kernel.name", "darwin")]).await;
    node(&srv, "linux", 4000, &[("kernel.name", "linux")]).await;
    until(&srv, "/v1/job/svc/allocations", "svc placed", |v| {
        v.as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let (_, evals) = srv.get("/v1/job/svc/evaluations").await;
    let evals = evals.as_array().unwrap();
    assert_eq!(
        evals.len(),
        2,
        "register eval and one blocked eval: {evals:?}"
    );
    let retried = evals.iter().find(|e| e["ID"] == blocked_id).unwrap();
    assert_eq!(retried["Status"], "complete");
    srv.s.shutdown().await;
}
