//! Deployments against the real `drover agent -dev`: the scheduler makes
//! one per version of a service job, rolls updates as allocations are set
//! healthy by hand (`health_check = "manual"`, with a `min_healthy_time`
//! far beyond the test so the client never decides health itself), holds
//! canaries until promotion, and the read and write endpoints answer as
//! Nomad's (nomad/deployment_endpoint.go, command/agent/deployment_endpoint.go).

use reqwest::StatusCode;
use serde_json::{json, Value};

mod common;
use common::{read_events, submit, Agent};

const HOUR: i64 = 3_600_000_000_000;

/// A raw_exec `sleep` service job of `count` with a manual-health update
/// block (plus `update` merged in).
fn web(count: i64, env: &str, update: Value) -> Value {
    let mut u = json!({"MaxParallel": 1, "HealthCheck": "manual",
        "MinHealthyTime": HOUR, "HealthyDeadline": 2 * HOUR, "ProgressDeadline": 0});
    if let (Some(u), Value::Object(extra)) = (u.as_object_mut(), update) {
        u.extend(extra);
    }
    json!({"ID": "web", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Count": count,
        "Update": u,
        "Tasks": [{"Name": "t", "Driver": "raw_exec", "Env": {"VERSION": env},
            "Config": {"command": "/bin/sleep", "args": ["600"]}}]}]})
}

/// `POST path` with a JSON body: the status and the body (JSON, or the
/// text as a JSON string).
async fn post(a: &Agent, path: &str, body: &Value) -> (StatusCode, Value) {
    let r = a.http.post(a.url(path)).json(body).send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The job's newest deployment once it is of `version` and `pred` holds.
async fn deployment_when(
    a: &Agent,
    version: u64,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    a.until("/v1/job/web/deployment", what, |d| {
        d["JobVersion"] == version && pred(d)
    })
    .await
}

/// The deployment's allocations that are running, once there are `n`.
async fn running_in(a: &Agent, deployment: &str, n: usize) -> Vec<Value> {
    let path = format!("/v1/deployment/allocations/{deployment}");
    let list = a
        .until(
            &path,
            &format!("{n} allocations of {deployment} running"),
            |v| {
                v.as_array().is_some_and(|l| {
                    l.iter()
                        .filter(|x| x["ClientStatus"] == "running" && x["DesiredStatus"] == "run")
                        .count()
                        == n
                })
            },
        )
        .await;
    list.as_array()
        .unwrap()
        .iter()
        .filter(|x| x["ClientStatus"] == "running" && x["DesiredStatus"] == "run")
        .cloned()
        .collect()
}

/// Set allocations healthy by hand; asserts the write went through.
async fn healthy(a: &Agent, deployment: &str, ids: &[&Value]) -> Value {
    let ids: Vec<&str> = ids.iter().map(|x| x["ID"].as_str().unwrap()).collect();
    let (status, body) = post(
        a,
        &format!("/v1/deployment/allocation-health/{deployment}"),
        &json!({"DeploymentID": deployment, "HealthyAllocationIDs": ids}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Live (desired run, not terminal) allocations of the job with their
/// job versions.
async fn live_versions(a: &Agent) -> Vec<u64> {
    let (_, list, _) = a.get("/v1/job/web/allocations").await;
    let mut v: Vec<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["DesiredStatus"] == "run" && x["ClientStatus"] == "running")
        .map(|x| x["JobVersion"].as_u64().unwrap())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_rolling_update_moves_as_allocations_turn_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    submit(&a, web(2, "1", json!({}))).await;

    // Version 0 gets a deployment for both allocations.
    let d0 = deployment_when(&a, 0, "the first deployment", |_| true).await;
    let id0 = d0["ID"].as_str().unwrap().to_string();
    assert_eq!(d0["Status"], "running", "{d0}");
    assert_eq!(d0["StatusDescription"], "Deployment is running", "{d0}");
    assert_eq!(d0["TaskGroups"]["g"]["DesiredTotal"], 2, "{d0}");
    assert_eq!(d0["TaskGroups"]["g"]["DesiredCanaries"], 0, "{d0}");
    let allocs = running_in(&a, &id0, 2).await;
    for x in &allocs {
        let (_, full, _) = a
            .get(&format!("/v1/allocation/{}", x["ID"].as_str().unwrap()))
            .await;
        assert_eq!(full["DeploymentID"], id0.as_str(), "{full}");
    }

    // Reads: one, the list (with a prefix and a filter), the job's list.
    let (status, one, headers) = a.get(&format!("/v1/deployment/{id0}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["ID"], id0.as_str());
    assert!(headers.contains_key("x-nomad-index"));
    let (_, list, _) = a.get("/v1/deployments").await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let (_, list, _) = a
        .get(&format!("/v1/deployments?prefix={}", &id0[..4]))
        .await;
    assert_eq!(list[0]["ID"], id0.as_str());
    let (_, list, _) = a
        .get("/v1/deployments?filter=Status%20%3D%3D%20%22failed%22")
        .await;
    assert_eq!(list, json!([]));
    let (status, _, _) = a.get("/v1/deployment/no-such-id").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, found) = post(
        &a,
        "/v1/search",
        &json!({"Prefix": &id0[..8], "Context": "deployment"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["Matches"]["deployment"], json!([id0]), "{found}");

    // Healthy by hand: the deployment succeeds and version 0 is stable.
    let refs: Vec<&Value> = allocs.iter().collect();
    let resp = healthy(&a, &id0, &refs).await;
    assert!(!resp["EvalID"].as_str().unwrap().is_empty(), "{resp}");
    assert_eq!(resp["DeploymentModifyIndex"], resp["Index"], "{resp}");
    deployment_when(&a, 0, "the first deployment successful", |d| {
        d["Status"] == "successful"
    })
    .await;
    a.until("/v1/job/web", "version 0 stable", |j| j["Stable"] == true)
        .await;

    // A new version: a new deployment, one allocation at a time.
    submit(&a, web(2, "2", json!({}))).await;
    let d1 = deployment_when(&a, 1, "the second deployment", |_| true).await;
    let id1 = d1["ID"].as_str().unwrap().to_string();
    assert_ne!(id1, id0);
    let first = running_in(&a, &id1, 1).await;
    assert_eq!(live_versions(&a).await, [0, 1]);

    // No canaries to promote.
    let (status, body) = post(
        &a,
        &format!("/v1/deployment/promote/{id1}"),
        &json!({"All": true}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, "deployment has no canaries to promote");
    // Bad bodies and IDs.
    let (status, body) = post(
        &a,
        &format!("/v1/deployment/allocation-health/{id1}"),
        &json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        "must specify at least one healthy/unhealthy allocation ID"
    );
    let (status, body) = post(
        &a,
        &format!("/v1/deployment/pause/{id1}"),
        &json!({"DeploymentID": id0, "Pause": true}),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!("Deployment ID does not match")
        )
    );
    let (status, body) = post(
        &a,
        &format!("/v1/deployment/pause/{id1}"),
        &json!({"Pause": "yes"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.as_str().unwrap().contains("invalid body"), "{body}");
    let (status, _) = post(&a, "/v1/deployment/fail/no-such-id", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = post(&a, &format!("/v1/deployment/fail/{id0}"), &json!({})).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!("can't fail terminal deployment")
        )
    );

    // Paused: a healthy allocation lets nothing more start.
    let (status, body) = post(
        &a,
        &format!("/v1/deployment/pause/{id1}"),
        &json!({"Pause": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["EvalID"], "", "pausing makes no eval: {body}");
    let resp = healthy(&a, &id1, &[&first[0]]).await;
    let eval = resp["EvalID"].as_str().unwrap().to_string();
    a.until(
        &format!("/v1/evaluation/{eval}"),
        "the health eval done",
        |e| e["Status"] == "complete",
    )
    .await;
    assert_eq!(live_versions(&a).await, [0, 1], "paused: nothing replaced");
    let d = deployment_when(&a, 1, "paused", |_| true).await;
    assert_eq!(d["Status"], "paused");
    assert_eq!(d["TaskGroups"]["g"]["HealthyAllocs"], 1, "{d}");

    // A blocking read of the paused deployment wakes when it resumes.
    let (_, _, headers) = a.get(&format!("/v1/deployment/{id1}")).await;
    let at: u64 = headers["x-nomad-index"].to_str().unwrap().parse().unwrap();
    let parked = a.metric("drover_blocking_queries_parked").await as u64;
    let blocked = {
        let http = a.http.clone();
        let url = a.url(&format!("/v1/deployment/{id1}?index={at}&wait=30s"));
        tokio::spawn(async move { http.get(url).send().await.unwrap() })
    };
    a.wait_parked(parked + 1).await;

    // Resumed: the next one rolls; healthy, the deployment succeeds.
    let (status, body) = post(
        &a,
        &format!("/v1/deployment/pause/{id1}"),
        &json!({"Pause": false}),
    )
    .await;
    let woke = blocked.await.unwrap();
    let woke_at: u64 = woke.headers()["x-nomad-index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(woke_at > at, "{woke_at} > {at}");
    let woke: Value = woke.json().await.unwrap();
    assert_ne!(woke["Status"], "paused", "{woke}");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!body["EvalID"].as_str().unwrap().is_empty(), "{body}");
    let both = running_in(&a, &id1, 2).await;
    let second: Vec<&Value> = both.iter().filter(|x| x["ID"] != first[0]["ID"]).collect();
    healthy(&a, &id1, &second).await;
    deployment_when(&a, 1, "the second deployment successful", |d| {
        d["Status"] == "successful"
    })
    .await;
    assert_eq!(live_versions(&a).await, [1, 1]);

    // The job's deployments, newest first; the old one's allocations.
    let (_, list, _) = a.get("/v1/job/web/deployments").await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["ID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id1.as_str(), id0.as_str()]);
    // Pages of one, oldest first, with the next page's token.
    let r = a
        .http
        .get(a.url("/v1/deployments?per_page=1"))
        .send()
        .await
        .unwrap();
    let token = r.headers()["x-nomad-nexttoken"]
        .to_str()
        .unwrap()
        .to_string();
    let page: Value = r.json().await.unwrap();
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["ID"], id0.as_str());
    let r = a
        .http
        .get(a.url(&format!("/v1/deployments?per_page=1&next_token={token}")))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("x-nomad-nexttoken").is_none());
    let page: Value = r.json().await.unwrap();
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["ID"], id1.as_str());

    // Events: topic Deployment, keyed by the job.
    let mut stream = a
        .http
        .get(a.url("/v1/event/stream?topic=Deployment:web&index=1"))
        .send()
        .await
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    read_events(&mut stream, "deployment events", |e| {
        assert_eq!(e["Topic"], "Deployment", "{e}");
        assert_eq!(e["FilterKeys"], json!(["web"]), "{e}");
        seen.insert(e["Type"].as_str().unwrap().to_string());
        seen.contains("DeploymentStatusUpdate") && seen.contains("DeploymentAllocHealth")
    })
    .await;
    assert!(seen.contains("PlanResult"), "{seen:?}");

    // A forced GC collects the finished deployment nothing runs in any
    // more, and keeps the one whose allocations run.
    let r = a.http.put(a.url("/v1/system/gc")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (status, _, _) = a.get(&format!("/v1/deployment/{id0}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = a.get(&format!("/v1/deployment/{id1}")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn canaries_wait_for_promotion_and_a_failure_reverts() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let update = json!({"Canary": 1, "AutoRevert": true});
    submit(&a, web(2, "1", update.clone())).await;
    let d0 = deployment_when(&a, 0, "the first deployment", |_| true).await;
    let id0 = d0["ID"].as_str().unwrap().to_string();
    assert_eq!(
        d0["TaskGroups"]["g"]["DesiredCanaries"], 0,
        "no canary for a first version"
    );
    let allocs = running_in(&a, &id0, 2).await;
    let refs: Vec<&Value> = allocs.iter().collect();
    healthy(&a, &id0, &refs).await;
    a.until("/v1/job/web", "version 0 stable", |j| j["Stable"] == true)
        .await;

    // Version 1: one canary beside the two old allocations.
    submit(&a, web(2, "2", update.clone())).await;
    let d1 = deployment_when(&a, 1, "the canary deployment", |_| true).await;
    let id1 = d1["ID"].as_str().unwrap().to_string();
    assert_eq!(d1["TaskGroups"]["g"]["DesiredCanaries"], 1, "{d1}");
    assert_eq!(
        d1["StatusDescription"],
        "Deployment is running but requires manual promotion"
    );
    let canary = running_in(&a, &id1, 1).await.remove(0);
    assert_eq!(canary["DeploymentStatus"]["Canary"], true, "{canary}");
    assert_eq!(live_versions(&a).await, [0, 0, 1]);
    a.until(
        &format!("/v1/deployment/{id1}"),
        "the canary recorded",
        |d| d["TaskGroups"]["g"]["PlacedCanaries"] == json!([canary["ID"]]),
    )
    .await;

    // Not healthy yet: promotion is refused with Nomad's message.
    let (status, body) = post(
        &a,
        &format!("/v1/deployment/promote/{id1}"),
        &json!({"All": true}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.as_str()
            .unwrap()
            .contains(r#"Task group "g" has 0/1 healthy allocations"#),
        "{body}"
    );
    let (status, body) = post(
        &a,
        &format!("/v1/deployment/promote/{id1}"),
        &json!({"Groups": ["nope"]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.as_str().unwrap().starts_with("Groups:"), "{body}");

    // Healthy and promoted: the old allocation with the canary's name
    // stops, the other rolls.
    healthy(&a, &id1, &[&canary]).await;
    let (status, body) = post(
        &a,
        &format!("/v1/deployment/promote/{id1}"),
        &json!({"Groups": ["g"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = a
        .until(&format!("/v1/deployment/{id1}"), "promoted", |d| {
            d["TaskGroups"]["g"]["Promoted"] == true
        })
        .await;
    assert_eq!(d["StatusDescription"], "Deployment is running");
    let both = running_in(&a, &id1, 2).await;
    assert_eq!(live_versions(&a).await, [1, 1]);
    assert!(
        both.iter().any(|x| x["ID"] == canary["ID"]),
        "the canary stays"
    );
    let other: Vec<&Value> = both.iter().filter(|x| x["ID"] != canary["ID"]).collect();
    healthy(&a, &id1, &other).await;
    deployment_when(&a, 1, "the canary deployment successful", |d| {
        d["Status"] == "successful"
    })
    .await;
    let (status, body) = post(
        &a,
        &format!("/v1/deployment/promote/{id1}"),
        &json!({"All": true}),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!("can't promote terminal deployment")
        )
    );

    // Version 2, failed by hand: auto_revert registers stable version 1
    // again (as version 3) and the answer says so.
    submit(&a, web(2, "3", update)).await;
    let d2 = deployment_when(&a, 2, "the third deployment", |_| true).await;
    let id2 = d2["ID"].as_str().unwrap().to_string();
    let (status, body) = post(&a, &format!("/v1/deployment/fail/{id2}"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["RevertedJobVersion"], 1, "{body}");
    let d = a
        .until(&format!("/v1/deployment/{id2}"), "failed", |d| {
            d["Status"] == "failed"
        })
        .await;
    assert_eq!(
        d["StatusDescription"],
        "Deployment marked as failed - rolling back to job version 1"
    );
    let job = a
        .until("/v1/job/web", "version 3", |j| j["Version"] == 3)
        .await;
    assert_eq!(
        job["TaskGroups"][0]["Tasks"][0]["Env"]["VERSION"], "2",
        "{job}"
    );
}

/// With the client deciding health (`task_states`, half a second running),
/// an update rolls through on its own and ends successful and stable.
#[tokio::test]
async fn client_reported_health_carries_a_rollout_to_success() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let update = json!({"HealthCheck": "task_states", "MinHealthyTime": 500_000_000i64,
        "HealthyDeadline": 60_000_000_000i64});
    submit(&a, web(2, "1", update.clone())).await;
    deployment_when(&a, 0, "version 0 successful", |d| {
        d["Status"] == "successful"
    })
    .await;
    submit(&a, web(2, "2", update)).await;
    let d = deployment_when(&a, 1, "version 1 successful", |d| {
        d["Status"] == "successful"
    })
    .await;
    assert_eq!(d["TaskGroups"]["g"]["HealthyAllocs"], 2, "{d}");
    assert_eq!(live_versions(&a).await, [1, 1]);
    let job = a
        .until("/v1/job/web", "version 1 stable", |j| j["Stable"] == true)
        .await;
    assert_eq!(job["Version"], 1);
}

/// nomad/job_endpoint.go `Scale`: a count change while the job's latest
/// deployment is active is a 400 ("job scaling blocked due to active
/// deployment") that writes nothing, not even the scaling event; an
/// event without a count still goes through, and once the deployment is
/// over the count changes.
#[tokio::test]
async fn scaling_is_blocked_while_a_deployment_is_active() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    submit(&a, web(1, "1", json!({}))).await;
    let d = deployment_when(&a, 0, "the deployment running", |d| {
        d["Status"] == "running"
    })
    .await;
    let id = d["ID"].as_str().unwrap().to_string();
    let (_, before, _) = a.get("/v1/job/web").await;
    let target = json!({"Namespace": "default", "Job": "web", "Group": "g"});

    let (status, body) = post(
        &a,
        "/v1/job/web/scale",
        &json!({"Target": target, "Count": 2, "Message": "more"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body, "job scaling blocked due to active deployment");
    let (_, after, _) = a.get("/v1/job/web").await;
    // No new version: `ModifyIndex` alone may move meanwhile, when the
    // allocation starts and the job's status becomes running.
    assert_eq!(after["JobModifyIndex"], before["JobModifyIndex"], "{after}");
    assert_eq!(after["Version"], before["Version"], "{after}");
    assert_eq!(after["TaskGroups"][0]["Count"], 1);
    let (_, scale, _) = a.get("/v1/job/web/scale").await;
    let events = scale["TaskGroups"]["g"]["Events"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(events, 0, "a refused scale kept its event: {scale}");

    // An event without a count is not a scaling of the job.
    let (status, body) = post(
        &a,
        "/v1/job/web/scale",
        &json!({"Target": target, "Message": "just saying"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = post(&a, &format!("/v1/deployment/fail/{id}"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = post(
        &a,
        "/v1/job/web/scale",
        &json!({"Target": target, "Count": 2}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, job, _) = a.get("/v1/job/web").await;
    assert_eq!(job["TaskGroups"][0]["Count"], 2, "{job}");
}
