//! The client-to-server calls over HTTP: `PUT /v1/internal/node/register`,
//! `PUT /v1/internal/node/{id}/status`, `PUT /v1/internal/node/{id}/allocs`
//! (Nomad's `Node.Register`, `Node.UpdateStatus`, `Node.UpdateAlloc`).

mod common;

use common::{until, Srv};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn node(id: &str, status: &str) -> Value {
    json!({"Node": {
        "ID": id, "Name": id, "Datacenter": "dc1", "Status": status,
        "Attributes": {"kernel.name": "linux"},
        "Drivers": {"raw_exec": {"Detected": true, "Healthy": true}},
        "NodeResources": {"Cpu": {"CpuShares": 4000}, "Memory": {"MemoryMB": 4096},
            "Disk": {"DiskMB": 100000}}
    }})
}

async fn put(srv: &Srv, path: &str, body: &Value) -> (StatusCode, Value, String) {
    srv.send(Method::PUT, path, body).await
}

async fn put_ok(srv: &Srv, path: &str, body: &Value) -> Value {
    let (st, v, text) = put(srv, path, body).await;
    assert_eq!(st, StatusCode::OK, "{path}: {text}");
    v
}

const REGISTER: &str = "/v1/internal/node/register";

#[tokio::test]
async fn register_answers_with_a_ttl_and_the_servers() {
    let srv = Srv::start().await;
    let v = put_ok(&srv, REGISTER, &node("n1", "ready")).await;
    assert!(v["HeartbeatTTL"].as_u64().unwrap() >= 10_000_000_000, "{v}");
    assert!(v["NodeModifyIndex"].as_u64().unwrap() > 0);
    assert_eq!(v["Index"], v["NodeModifyIndex"]);
    assert_eq!(v["EvalIDs"], json!([]));
    assert_eq!(v["EvalCreateIndex"], 0);
    assert_eq!(v["NumNodes"], 1);
    assert!(!v["LeaderRPCAddr"].as_str().unwrap().is_empty());
    let servers = v["Servers"].as_array().unwrap();
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0]["RPCAdvertiseAddr"], v["LeaderRPCAddr"]);
    assert_eq!(servers[0]["Datacenter"], "dc1");

    let (_, n) = srv.get("/v1/node/n1").await;
    assert_eq!(n["Status"], "ready");
    assert_eq!(n["NodePool"], "default");
    assert_eq!(n["SchedulingEligibility"], "eligible");

    // An empty status means "initializing", as in Nomad.
    let v = put_ok(&srv, REGISTER, &node("n2", "")).await;
    assert_eq!(v["NumNodes"], 2);
    let (_, n) = srv.get("/v1/node/n2").await;
    assert_eq!(n["Status"], "initializing");
    srv.s.shutdown().await;
}

#[tokio::test]
async fn bad_registrations_name_the_field() {
    let srv = Srv::start().await;
    let cases: &[(Value, &str)] = &[
        (json!({}), "Node:"),
        (
            json!({"Node": {"Name": "a", "Datacenter": "dc1"}}),
            "Node.ID",
        ),
        (
            json!({"Node": {"ID": "a", "Datacenter": "dc1"}}),
            "Node.Name",
        ),
        (json!({"Node": {"ID": "a", "Name": "a"}}), "Node.Datacenter"),
        (
            json!({"Node": {"ID": "a", "Name": "a", "Datacenter": "dc1", "Status": "bogus"}}),
            "Node.Status",
        ),
        (
            json!({"Node": {"ID": "a", "Name": "a", "Datacenter": "dc1", "NodePool": "all"}}),
            "Node.NodePool",
        ),
        (
            json!({"Node": {"ID": "a", "Name": "a", "Datacenter": "dc1", "NodePool": "a b"}}),
            "Node.NodePool",
        ),
        (json!({"Node": "x"}), "Node"),
    ];
    for (body, field) in cases {
        let (st, _, text) = put(&srv, REGISTER, body).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {text}");
        assert!(text.contains(field), "{body}: {text} should name {field}");
    }
    let r = srv
        .http
        .put(srv.url(REGISTER))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (st, _) = srv.get("/v1/nodes").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(srv.get("/v1/nodes").await.1, json!([]));
    srv.s.shutdown().await;
}

#[tokio::test]
async fn re_registering_keeps_drain_and_eligibility() {
    let srv = Srv::start().await;
    put_ok(&srv, REGISTER, &node("n1", "ready")).await;
    let (st, _, text) = srv
        .send(
            Method::POST,
            "/v1/node/n1/drain",
            &json!({"DrainSpec": {"Deadline": 3_600_000_000_000i64}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{text}");
    let mut again = node("n1", "ready");
    again["Node"]["SchedulingEligibility"] = json!("eligible");
    again["Node"]["Meta"] = json!({"rack": "r1"});
    put_ok(&srv, REGISTER, &again).await;
    let (_, n) = srv.get("/v1/node/n1").await;
    assert_eq!(n["SchedulingEligibility"], "ineligible");
    assert!(n["DrainStrategy"].is_object(), "{n}");
    assert_eq!(n["Meta"]["rack"], "r1");

    // A re-registration with another secret is refused.
    let mut secret = node("n3", "ready");
    secret["Node"]["SecretID"] = json!("s1");
    put_ok(&srv, REGISTER, &secret).await;
    secret["Node"]["SecretID"] = json!("s2");
    let (st, _, text) = put(&srv, REGISTER, &secret).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("SecretID"), "{text}");
    srv.s.shutdown().await;
}

fn system_job() -> Value {
    json!({"Job": {"ID": "sys", "Type": "system", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec",
            "Config": {"command": "sleep"}, "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}})
}

#[tokio::test]
async fn status_transitions_create_evals() {
    let srv = Srv::start().await; // no schedulers: evals stay as written
    put_ok(&srv, "/v1/jobs", &system_job()).await;
    let v = put_ok(&srv, REGISTER, &node("n1", "initializing")).await;
    assert_eq!(v["EvalIDs"], json!([]));

    let status = "/v1/internal/node/n1/status";
    let v = put_ok(&srv, status, &json!({"Status": "ready"})).await;
    let ids = v["EvalIDs"].as_array().unwrap().clone();
    assert_eq!(ids.len(), 1, "{v}");
    assert!(v["NodeModifyIndex"].as_u64().unwrap() > 0);
    assert_eq!(v["EvalCreateIndex"], v["NodeModifyIndex"]);
    assert!(v["HeartbeatTTL"].as_u64().unwrap() > 0);
    let (_, e) = srv
        .get(&format!("/v1/evaluation/{}", ids[0].as_str().unwrap()))
        .await;
    assert_eq!(e["JobID"], "sys");
    assert_eq!(e["TriggeredBy"], "node-update");
    assert_eq!(e["NodeID"], "n1");
    assert_eq!(e["Status"], "pending");

    // A heartbeat without a change writes nothing.
    for body in [json!({"Status": "ready"}), json!({})] {
        let v = put_ok(&srv, status, &body).await;
        assert_eq!(v["NodeModifyIndex"], 0, "{v}");
        assert_eq!(v["EvalIDs"], json!([]));
        assert!(v["HeartbeatTTL"].as_u64().unwrap() > 0);
    }

    // Down by the client's own report: evals, no TTL.
    let v = put_ok(&srv, status, &json!({"Status": "down"})).await;
    assert_eq!(v["EvalIDs"].as_array().unwrap().len(), 1);
    assert_eq!(v["HeartbeatTTL"], 0);
    let v = put_ok(&srv, status, &json!({"Status": "ready"})).await;
    assert_eq!(v["EvalIDs"].as_array().unwrap().len(), 1);
    let (_, n) = srv.get("/v1/node/n1").await;
    assert_eq!(n["Status"], "ready");

    let (st, _, text) = put(&srv, status, &json!({"Status": "sleepy"})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(text.contains("Status"), "{text}");
    let (st, _, _) = put(&srv, status, &json!({"NodeID": "other", "Status": "ready"})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    srv.s.shutdown().await;
}

/// On a scheduling server: nodes `n1` and `n2` registered over HTTP and a
/// one-alloc service job placed on `n1`; returns the alloc ID.
async fn placed(srv: &Srv) -> String {
    put_ok(srv, REGISTER, &node("n1", "ready")).await;
    let job = json!({"Job": {"ID": "web", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Count": 1,
        "Tasks": [{"Name": "t", "Driver": "raw_exec", "Config": {"command": "sleep"},
            "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}});
    put_ok(srv, "/v1/jobs", &job).await;
    let allocs = until(srv, "/v1/job/web/allocations", "an alloc", |v| {
        v.as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    // A second node only now, so the allocation is on n1.
    put_ok(srv, REGISTER, &node("n2", "ready")).await;
    allocs[0]["ID"].as_str().unwrap().to_string()
}

/// The job's evals with `TriggeredBy == trigger` written by a client call
/// (not follow-ups the scheduler chains onto them).
async fn evals_by(srv: &Srv, trigger: &str) -> Vec<Value> {
    let (_, evals) = srv.get("/v1/job/web/evaluations").await;
    evals
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["TriggeredBy"] == trigger && e["PreviousEval"] == "")
        .cloned()
        .collect()
}

#[tokio::test]
async fn alloc_updates_reach_the_allocation() {
    let srv = Srv::start_scheduling().await;
    let id = placed(&srv).await;
    let (_, a) = srv.get(&format!("/v1/allocation/{id}")).await;
    assert_eq!(a["NodeID"], "n1");
    let body = json!({"Alloc": [{"ID": id, "ClientStatus": "running",
        "ClientDescription": "Tasks are running",
        "TaskStates": {"t": {"State": "running", "Failed": false, "Restarts": 0}}}]});
    let v = put_ok(&srv, "/v1/internal/node/n1/allocs", &body).await;
    assert!(v["Index"].as_u64().unwrap() > 0);
    let (_, a) = srv.get(&format!("/v1/allocation/{id}")).await;
    assert_eq!(a["ClientStatus"], "running");
    assert_eq!(a["ClientDescription"], "Tasks are running");
    assert_eq!(a["TaskStates"]["t"]["State"], "running");
    assert!(evals_by(&srv, "alloc-failure").await.is_empty());

    // Deployment health set: an eval so a rolling update can go on.
    let body = json!({"Alloc": [{"ID": id, "ClientStatus": "running",
        "DeploymentStatus": {"Healthy": true}}]});
    put_ok(&srv, "/v1/internal/node/n1/allocs", &body).await;
    let (_, a) = srv.get(&format!("/v1/allocation/{id}")).await;
    assert_eq!(a["DeploymentStatus"]["Healthy"], true);
    assert_eq!(evals_by(&srv, "deployment-watcher").await.len(), 1);

    // Failed (twice in one batch, and again later): one eval.
    let failed = json!({"ID": id, "ClientStatus": "failed",
        "TaskStates": {"t": {"State": "dead", "Failed": true}}});
    let body = json!({"Alloc": [failed.clone(), failed.clone()]});
    put_ok(&srv, "/v1/internal/node/n1/allocs", &body).await;
    let (_, a) = srv.get(&format!("/v1/allocation/{id}")).await;
    assert_eq!(a["ClientStatus"], "failed");
    assert_eq!(a["TaskStates"]["t"]["Failed"], true);
    let evals = evals_by(&srv, "alloc-failure").await;
    assert_eq!(evals.len(), 1, "{evals:?}");
    assert_eq!(evals[0]["JobID"], "web");
    put_ok(
        &srv,
        "/v1/internal/node/n1/allocs",
        &json!({"Alloc": [failed]}),
    )
    .await;
    assert_eq!(evals_by(&srv, "alloc-failure").await.len(), 1);
    srv.s.shutdown().await;
}

#[tokio::test]
async fn alloc_updates_are_checked_against_the_node() {
    let srv = Srv::start_scheduling().await;
    let id = placed(&srv).await;
    let running = json!({"ID": id, "ClientStatus": "running"});

    // Another node may not report it.
    let (st, _, text) = put(
        &srv,
        "/v1/internal/node/n2/allocs",
        &json!({"Alloc": [running.clone()]}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("Alloc[0].ID"), "{text}");
    let (st, _, text) = put(
        &srv,
        "/v1/internal/node/n1/allocs",
        &json!({"Alloc": [{"ID": id, "NodeID": "n2", "ClientStatus": "running"}]}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("Alloc[0].NodeID"), "{text}");
    let (_, a) = srv.get(&format!("/v1/allocation/{id}")).await;
    assert_eq!(a["ClientStatus"], "pending");

    // Unknown allocations are skipped; known ones in the batch apply.
    let body = json!({"Alloc": [{"ID": "no-such-alloc", "ClientStatus": "running"}, running]});
    put_ok(&srv, "/v1/internal/node/n1/allocs", &body).await;
    let (_, a) = srv.get(&format!("/v1/allocation/{id}")).await;
    assert_eq!(a["ClientStatus"], "running");

    let cases: &[(&str, Value, StatusCode)] = &[
        ("n1", json!({"Alloc": []}), StatusCode::BAD_REQUEST),
        ("n1", json!({}), StatusCode::BAD_REQUEST),
        (
            "n1",
            json!({"Alloc": [{"ClientStatus": "running"}]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "n1",
            json!({"Alloc": [{"ID": id, "ClientStatus": "exploded"}]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "ghost",
            json!({"Alloc": [{"ID": id}]}),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (node_id, body, want) in cases {
        let (st, _, text) = put(&srv, &format!("/v1/internal/node/{node_id}/allocs"), body).await;
        assert_eq!(st, *want, "{body}: {text}");
    }

    // A node that is down may not report.
    put_ok(
        &srv,
        "/v1/internal/node/n2/status",
        &json!({"Status": "down"}),
    )
    .await;
    let (st, _, text) = put(
        &srv,
        "/v1/internal/node/n2/allocs",
        &json!({"Alloc": [{"ID": "x", "ClientStatus": "running"}]}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("status down"), "{text}");
    srv.s.shutdown().await;
}

/// A client's burst of task updates may be several megabytes; the servers'
/// usual 2 MB request limit must not refuse it (a refusal lost updates).
#[tokio::test]
async fn a_large_batch_of_alloc_updates_is_accepted() {
    let srv = Srv::start().await;
    put_ok(&srv, REGISTER, &node("big", "ready")).await;
    let pad = "x".repeat(4096);
    let entries: Vec<Value> = (0..1000)
        .map(|i| json!({"ID": format!("unknown-{i}"), "ClientStatus": "running", "ClientDescription": pad}))
        .collect();
    let (status, _, text) = put(
        &srv,
        "/v1/internal/node/big/allocs",
        &json!({ "Alloc": entries }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", &text[..text.len().min(200)]);
    srv.s.shutdown().await;
}
