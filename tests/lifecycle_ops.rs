//! Operators' lifecycle calls against the real `drover agent -dev`: a
//! job stop's options (`eval_priority`, `no_shutdown_delay`, `global`),
//! deleting evaluations while the broker is paused, purging a node, and
//! the leader's timed collection of terminal deployments. Each agent
//! listens on its own address of 127.0.1.50-59.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

mod common;
use common::{alloc_when, blocked_job, submit, Agent, DEADLINE};

/// A raw_exec `sleep` service job whose task would wait an hour between
/// its `Killing` event and the signal.
fn slow_to_stop(id: &str) -> Value {
    json!({"ID": id, "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Count": 1,
        "Tasks": [{"Name": "t", "Driver": "raw_exec", "ShutdownDelay": 3_600_000_000_000i64,
            "Config": {"command": "/bin/sleep", "args": ["600"]}}]}]})
}

/// The status and body (JSON, or the text as a JSON string).
async fn send(r: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let r = r.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[track_caller]
fn assert_400(got: &(StatusCode, Value), needle: &str) {
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    let text = got.1.as_str().unwrap_or_default();
    assert!(text.contains(needle), "{text:?} should say {needle:?}");
}

/// command/agent/job_endpoint.go `jobDelete`: `eval_priority` (1-100)
/// becomes the stop evaluation's priority, `no_shutdown_delay` has the
/// allocation stop without its hour-long `shutdown_delay`, `global` is a
/// boolean; a bad value of any is a 400 that writes nothing.
#[tokio::test]
async fn a_stop_takes_eval_priority_and_skips_shutdown_delay() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_on("127.0.1.50", dir.path(), "").await;
    submit(&a, slow_to_stop("web")).await;
    alloc_when(&a, "web", "the allocation running", |x| {
        x["ClientStatus"] == "running"
    })
    .await;
    let (_, before, _) = a.get("/v1/job/web").await;
    for (query, needle) in [
        ("eval_priority=0x10", "eval_priority"),
        (
            "eval_priority=101",
            "Eval priority must be between 1 and 100",
        ),
        (
            "eval_priority=-3",
            "Eval priority must be between 1 and 100",
        ),
        ("global=maybe", "global"),
        ("no_shutdown_delay=soon", "no_shutdown_delay"),
    ] {
        let got = send(a.http.delete(a.url(&format!("/v1/job/web?{query}")))).await;
        assert_400(&got, needle);
    }
    let (_, after, _) = a.get("/v1/job/web").await;
    assert_eq!(after["ModifyIndex"], before["ModifyIndex"], "{after}");

    let started = Instant::now();
    let (status, resp) = send(
        a.http
            .delete(a.url("/v1/job/web?eval_priority=77&no_shutdown_delay=true&global=true")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let eval_id = resp["EvalID"].as_str().unwrap();
    let (_, eval, _) = a.get(&format!("/v1/evaluation/{eval_id}")).await;
    assert_eq!(eval["Priority"], 77, "{eval}");
    assert_eq!(eval["TriggeredBy"], "job-deregister", "{eval}");
    let alloc = alloc_when(&a, "web", "the allocation stopped", |x| {
        x["ClientStatus"] == "complete"
    })
    .await;
    assert_eq!(
        alloc["DesiredTransition"]["NoShutdownDelay"], true,
        "{alloc}"
    );
    assert!(started.elapsed() < DEADLINE, "{:?}", started.elapsed());
    let events = common::event_types(&alloc, "t");
    assert!(
        !events.iter().any(|e| e == "Waiting for shutdown delay"),
        "{events:?}"
    );
}

/// api-docs/evaluations.mdx "Delete Evaluations" (nomad/eval_endpoint.go
/// `Eval.Delete`): by IDs or by filter, never both nor neither, and only
/// while the scheduler configuration pauses the broker.
#[tokio::test]
async fn evaluations_are_deleted_only_while_the_broker_is_paused() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_on("127.0.1.51", dir.path(), "client { enabled = false }").await;
    let r = a
        .http
        .put(a.url("/v1/jobs"))
        .json(&blocked_job("web"))
        .send()
        .await;
    assert_eq!(r.unwrap().status(), StatusCode::OK);
    let evals = a
        .until("/v1/job/web/evaluations", "the blocked evaluation", |v| {
            v.as_array()
                .is_some_and(|e| e.iter().any(|e| e["Status"] == "blocked"))
        })
        .await;
    let first = evals
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Status"] == "complete")
        .unwrap()["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let delete = |body: Value| a.http.delete(a.url("/v1/evaluations")).json(&body);

    let both = send(delete(
        json!({"EvalIDs": [first], "Filter": "Status == \"blocked\""}),
    ))
    .await;
    assert_400(&both, "evals cannot be deleted by both ID and filter");
    assert_400(
        &send(delete(json!({}))).await,
        "evals must be deleted by either ID or filter",
    );
    assert_400(
        &send(delete(json!({"EvalIDs": [first]}))).await,
        "eval broker is enabled; eval broker must be paused to delete evals",
    );
    assert_400(
        &send(delete(json!({"Filter": "Status =="}))).await,
        "Filter",
    );

    let (status, body) = send(
        a.http
            .put(a.url("/v1/operator/scheduler/configuration"))
            .json(&json!({"SchedulerAlgorithm": "binpack", "PauseEvalBroker": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = send(delete(
        json!({"EvalIDs": ["00000000-0000-0000-0000-000000000000"]}),
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, by_id) = send(delete(json!({"EvalIDs": [first]}))).await;
    assert_eq!(status, StatusCode::OK, "{by_id}");
    assert_eq!(by_id["Count"], 1, "{by_id}");
    assert!(by_id["Index"].as_u64().unwrap() > 0, "{by_id}");
    let (status, _, _) = a.get(&format!("/v1/evaluation/{first}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, by_filter) = send(delete(json!({"Filter": "Status == \"blocked\""}))).await;
    assert_eq!(status, StatusCode::OK, "{by_filter}");
    assert_eq!(by_filter["Count"], 1, "{by_filter}");
    let (_, left, _) = a.get("/v1/job/web/evaluations").await;
    assert_eq!(left, json!([]));
}

/// api-docs/nodes.mdx "Purge Node" (nomad/node_endpoint.go
/// `Node.Deregister`): the node goes, and the jobs with allocations on it
/// get a `node-update` evaluation each, named in the answer.
#[tokio::test]
async fn purging_a_node_removes_it_and_evaluates_its_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_on("127.0.1.52", dir.path(), "").await;
    submit(&a, slow_to_stop("web")).await;
    let alloc = alloc_when(&a, "web", "the allocation running", |x| {
        x["ClientStatus"] == "running"
    })
    .await;
    let node = alloc["NodeID"].as_str().unwrap().to_string();
    let (status, _) = send(a.http.post(a.url("/v1/node/no-such-node/purge"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, resp) = send(a.http.post(a.url(&format!("/v1/node/{node}/purge")))).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let index = resp["Index"].as_u64().unwrap();
    assert_eq!(resp["NodeModifyIndex"], index, "{resp}");
    assert!(resp["EvalCreateIndex"].as_u64().unwrap() > index, "{resp}");
    let ids = resp["EvalIDs"].as_array().unwrap();
    assert_eq!(ids.len(), 1, "{resp}");
    let (_, eval, _) = a
        .get(&format!("/v1/evaluation/{}", ids[0].as_str().unwrap()))
        .await;
    assert_eq!(eval["TriggeredBy"], "node-update", "{eval}");
    assert_eq!(eval["NodeID"], node.as_str(), "{eval}");
    assert_eq!(eval["JobID"], "web", "{eval}");
    // The node is gone; its client, still running, may register it again,
    // as a Nomad client would, but only as a new row.
    let (status, again, _) = a.get(&format!("/v1/node/{node}")).await;
    if status == StatusCode::OK {
        assert!(again["CreateIndex"].as_u64().unwrap() > index, "{again}");
    } else {
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

/// nomad/core_sched.go `deploymentGC` on the leader's timer: a terminal
/// deployment no live allocation uses is collected once it has been
/// terminal for `deployment_gc_threshold`, and not before.
#[tokio::test]
async fn terminal_deployments_are_collected_after_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        "server {\n  deployment_gc_threshold = \"3s\"\n  deployment_gc_interval = \"200ms\"\n}";
    let a = Agent::start_on("127.0.1.53", dir.path(), config).await;
    let mut job = slow_to_stop("web");
    job["TaskGroups"][0]["Tasks"][0]["ShutdownDelay"] = json!(0);
    job["TaskGroups"][0]["Update"] = json!({"HealthCheck": "manual",
        "MinHealthyTime": 3_600_000_000_000i64, "HealthyDeadline": 7_200_000_000_000i64,
        "ProgressDeadline": 0});
    submit(&a, job).await;
    let d = a
        .until("/v1/job/web/deployment", "the deployment running", |d| {
            d["Status"] == "running"
        })
        .await;
    let id = d["ID"].as_str().unwrap().to_string();
    alloc_when(&a, "web", "the allocation running", |x| {
        x["ClientStatus"] == "running"
    })
    .await;
    // Stopping the job cancels the deployment and stops its allocation.
    let (status, body) = send(a.http.delete(a.url("/v1/job/web"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let path = format!("/v1/deployment/{id}");
    let cancelled = a
        .until(&path, "the deployment cancelled", |d| {
            d["Status"] == "cancelled"
        })
        .await;
    let terminal_at = cancelled["ModifyTime"].as_i64().unwrap();
    let started = Instant::now();
    loop {
        let (status, d, _) = a.get(&path).await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert_eq!(d["Status"], "cancelled", "{d}");
        assert!(
            started.elapsed() < DEADLINE,
            "deployment {id} still there: {d}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    assert!(
        now - terminal_at >= 3_000_000_000,
        "collected {}ms after it ended",
        (now - terminal_at) / 1_000_000
    );
    let (_, list, _) = a.get("/v1/deployments").await;
    assert_eq!(list, json!([]));
}

/// api-docs/jobs.mdx "List Job Versions" with `diffs=true`: `Diffs` are
/// Nomad's `JobDiff`s, the plan's (nomad/structs/diff.go), each version
/// against the one before it, or against `diff_version`.
#[tokio::test]
async fn job_versions_answer_diffs() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_on("127.0.1.54", dir.path(), "client { enabled = false }").await;
    let mut v0 = blocked_job("web");
    let put = |body: Value| a.http.put(a.url("/v1/jobs")).json(&body);
    assert_eq!(send(put(v0.clone())).await.0, StatusCode::OK);
    v0["Job"]["Meta"] = json!({"team": "infra"});
    v0["Job"]["TaskGroups"][0]["Count"] = json!(3);
    v0["Job"]["TaskGroups"][0]["Tasks"][0]["Config"]["command"] = json!("/bin/false");
    assert_eq!(send(put(v0)).await.0, StatusCode::OK);

    let (_, plain, _) = a.get("/v1/job/web/versions").await;
    assert_eq!(plain["Diffs"], Value::Null, "{plain}");
    let (status, with, _) = a.get("/v1/job/web/versions?diffs=true").await;
    assert_eq!(status, StatusCode::OK, "{with}");
    let diffs = with["Diffs"].as_array().unwrap();
    assert_eq!(
        diffs.len(),
        1,
        "the oldest version has nothing before it: {with}"
    );
    let d = &diffs[0];
    assert_eq!(
        (d["Type"].as_str(), d["ID"].as_str()),
        (Some("Edited"), Some("web"))
    );
    let field = |list: &Value, name: &str| -> Value {
        list.as_array()
            .and_then(|l| l.iter().find(|f| f["Name"] == name).cloned())
            .unwrap_or_else(|| panic!("no field {name} in {list}"))
    };
    let meta = field(&d["Fields"], "Meta[team]");
    assert_eq!(
        (meta["Type"].as_str(), meta["New"].as_str()),
        (Some("Added"), Some("infra"))
    );
    let g = &d["TaskGroups"][0];
    assert_eq!(
        (g["Type"].as_str(), g["Name"].as_str()),
        (Some("Edited"), Some("g"))
    );
    let count = field(&g["Fields"], "Count");
    assert_eq!(
        (
            count["Type"].as_str(),
            count["Old"].as_str(),
            count["New"].as_str()
        ),
        (Some("Edited"), Some("1"), Some("3"))
    );
    let t = &g["Tasks"][0];
    assert_eq!(
        (t["Type"].as_str(), t["Name"].as_str()),
        (Some("Edited"), Some("t"))
    );
    let config = t["Objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["Name"] == "Config")
        .unwrap();
    assert_eq!(config["Type"], "Edited", "{config}");
    let command = field(&config["Fields"], "command");
    assert_eq!(command["New"], "/bin/false", "{command}");

    // Against version 1 itself: no change there, version 0's reversed.
    let (_, against, _) = a
        .get("/v1/job/web/versions?diffs=true&diff_version=1")
        .await;
    let types: Vec<&str> = against["Diffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["Type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["None", "Edited"], "{against}");

    for (query, needle) in [
        ("diffs=maybe", "diffs"),
        (
            "diffs=true&diff_version=7",
            "diff_version: version 7 not found",
        ),
        ("diffs=true&diff_version=-1", "diff_version"),
        ("diffs=true&diff_tag=prod", "diff_tag"),
    ] {
        let got = send(a.http.get(a.url(&format!("/v1/job/web/versions?{query}")))).await;
        assert_400(&got, needle);
    }
}
