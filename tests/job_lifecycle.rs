//! A job's lifecycle against the real `drover agent -dev`: revert to an
//! old version, mark versions stable, scale a group within its `scaling`
//! bounds, and read back the source a version was submitted in. Every
//! refused request must leave the job where it was.

use reqwest::StatusCode;
use serde_json::{json, Value};

mod common;
use common::Agent;

/// `POST path` with a JSON body: the status and the body (JSON, or the
/// text as a JSON string when it is not JSON).
async fn post(a: &Agent, path: &str, body: &Value) -> (StatusCode, Value) {
    let r = a.http.post(a.url(path)).json(body).send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A raw_exec job running `sleep`, with `group` merged into its one group
/// `g` and `meta` as the job's meta.
fn sleep_job(id: &str, group: Value, meta: Value) -> Value {
    let mut tg = json!({"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec",
        "Config": {"command": "/bin/sleep", "args": ["300"]}}]});
    if let (Some(tg), Value::Object(extra)) = (tg.as_object_mut(), group) {
        tg.extend(extra);
    }
    json!({"ID": id, "Datacenters": ["dc1"], "Meta": meta, "TaskGroups": [tg]})
}

/// (Version, JobModifyIndex, ModifyIndex) of the stored job.
async fn position(a: &Agent, id: &str) -> (u64, u64, u64) {
    let (status, job, _) = a.get(&format!("/v1/job/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    let n = |f: &str| job[f].as_u64().unwrap();
    (n("Version"), n("JobModifyIndex"), n("ModifyIndex"))
}

/// Registers `job` (with an optional body addition) and returns the answer.
async fn register(a: &Agent, job: Value, extra: Value) -> Value {
    let mut body = json!({ "Job": job });
    if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    let (status, resp) = post(a, "/v1/jobs", &body).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    resp
}

/// Fail the job's deployment: Nomad refuses to change a count while the
/// latest deployment is active (nomad/job_endpoint.go `Scale`).
async fn end_deployment(a: &Agent, job: &str) {
    let d = a
        .until(&format!("/v1/job/{job}/deployment"), "a deployment", |d| {
            d["ID"].is_string()
        })
        .await;
    let id = d["ID"].as_str().unwrap();
    let (status, body) = post(a, &format!("/v1/deployment/fail/{id}"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[track_caller]
fn assert_400(got: &(StatusCode, Value), needle: &str) {
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    let text = got.1.as_str().unwrap_or_default();
    assert!(text.contains(needle), "{text:?} should say {needle:?}");
}

/// Nomad's `Job.Revert`: the old spec registered again as a new version
/// with an evaluation; the current version, a version that does not exist
/// and a failed `EnforcePriorVersion` are 400s that change nothing.
#[tokio::test]
async fn revert_registers_an_old_version_as_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_with(dir.path(), "client { enabled = false }").await;
    // A job no node runs: this is about versions, not placements.
    let job = |colour: &str| {
        let mut j = sleep_job("web", json!({}), json!({"colour": colour}));
        j["Datacenters"] = json!(["nowhere"]);
        j
    };
    register(&a, job("red"), json!({})).await;
    register(&a, job("blue"), json!({})).await;
    assert_eq!(position(&a, "web").await.0, 1);

    let refused = [
        (
            json!({"JobID": "web", "JobVersion": 1}),
            "can't revert to current version",
        ),
        (
            json!({"JobID": "web", "JobVersion": 9}),
            "job \"web\" in namespace \"default\" at version 9 not found",
        ),
        (
            json!({"JobID": "web", "JobVersion": 0, "EnforcePriorVersion": 0}),
            "Current job has version 1; enforcing version 0",
        ),
        (json!({"JobVersion": 0}), "JobID must be specified"),
        (
            json!({"JobID": "db", "JobVersion": 0}),
            "Job ID does not match",
        ),
        (json!({"JobID": "web", "JobVersion": "zero"}), "JobVersion"),
    ];
    let before = position(&a, "web").await;
    for (body, needle) in &refused {
        assert_400(&post(&a, "/v1/job/web/revert", body).await, needle);
    }
    assert_eq!(
        position(&a, "web").await,
        before,
        "a refused revert moved the job"
    );
    let (status, _) = post(&a, "/v1/job/db/revert", &json!({"JobID": "db"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A scale the job could not be registered with is refused as well.
    assert_400(
        &post(
            &a,
            "/v1/job/web/scale",
            &json!({"Count": 50_001, "Target": {"Group": "g"}}),
        )
        .await,
        "TaskGroups: total count was greater than configured job_max_count: 50001 > 50000",
    );
    assert_eq!(position(&a, "web").await, before);

    let (status, resp) = post(
        &a,
        "/v1/job/web/revert",
        &json!({"JobID": "web", "JobVersion": 0, "EnforcePriorVersion": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let (version, jmi, _) = position(&a, "web").await;
    assert_eq!(version, 2);
    assert_eq!(resp["JobModifyIndex"], jmi, "{resp}");
    let eval_id = resp["EvalID"].as_str().unwrap();
    assert!(!eval_id.is_empty(), "{resp}");
    assert!(resp["EvalCreateIndex"].as_u64().unwrap() > 0, "{resp}");
    let (_, eval, _) = a.get(&format!("/v1/evaluation/{eval_id}")).await;
    assert_eq!(eval["TriggeredBy"], "job-register", "{eval}");
    let (_, stored, _) = a.get("/v1/job/web").await;
    assert_eq!(stored["Meta"]["colour"], "red", "{stored}");
    assert_eq!(stored["Stable"], false);
    let (_, versions, _) = a.get("/v1/job/web/versions").await;
    let listed: Vec<u64> = versions["Versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Version"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, [2, 1, 0]);

    // Reverting to a version whose spec the job already runs again (0 and
    // 2 are the same) is an unchanged register: an evaluation, no version.
    let before = position(&a, "web").await;
    let (status, resp) = post(
        &a,
        "/v1/job/web/revert",
        &json!({"JobID": "web", "JobVersion": 0}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert!(!resp["EvalID"].as_str().unwrap().is_empty(), "{resp}");
    assert_eq!(resp["JobModifyIndex"], before.1, "{resp}");
    assert_eq!(position(&a, "web").await, before);
}

/// Nomad's `Job.Stable`: the flag of one version, in the versions and on
/// the job when current, with no new version.
#[tokio::test]
async fn stable_marks_a_version_without_making_one() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_with(dir.path(), "client { enabled = false }").await;
    let mut job = sleep_job("web", json!({}), json!({"n": "1"}));
    job["Datacenters"] = json!(["nowhere"]);
    register(&a, job.clone(), json!({})).await;
    job["Meta"]["n"] = json!("2");
    register(&a, job, json!({})).await;
    let before = position(&a, "web").await;

    let (status, resp) = post(
        &a,
        "/v1/job/web/stable",
        &json!({"JobID": "web", "JobVersion": 0, "Stable": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert!(resp["Index"].as_u64().unwrap() > before.2, "{resp}");
    // An old version: the job itself did not change.
    assert_eq!(position(&a, "web").await, before);
    let (_, versions, _) = a.get("/v1/job/web/versions").await;
    let flags: Vec<(u64, bool)> = versions["Versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["Version"].as_u64().unwrap(),
                v["Stable"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(flags, [(1, false), (0, true)]);

    // The current version: the job is stable, same version and spec index.
    let (status, resp) = post(
        &a,
        "/v1/job/web/stable",
        &json!({"JobID": "web", "JobVersion": 1, "Stable": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let (_, stored, _) = a.get("/v1/job/web").await;
    assert_eq!(stored["Stable"], true, "{stored}");
    let after = position(&a, "web").await;
    assert_eq!((after.0, after.1), (before.0, before.1));
    assert_eq!(after.2, resp["Index"].as_u64().unwrap());

    for (body, needle) in [
        (
            json!({"JobID": "web", "JobVersion": 7, "Stable": true}),
            "JobVersion: job \"web\" in namespace \"default\" at version 7 not found",
        ),
        (
            json!({"JobID": "web", "JobVersion": 0, "Stable": "yes"}),
            "Stable",
        ),
        (
            json!({"JobVersion": 0, "Stable": true}),
            "JobID must be specified",
        ),
    ] {
        assert_400(&post(&a, "/v1/job/web/stable", &body).await, needle);
    }
    assert_eq!(
        position(&a, "web").await,
        after,
        "a refused stable moved the job"
    );
}

/// Nomad's `Job.Scale` and `Job.ScaleStatus`: a count change is a new
/// version and an evaluation, and the allocations follow; a message alone
/// is an event; a count outside `scaling { min max }` is a 400.
#[tokio::test]
async fn scale_changes_the_count_within_the_policy_and_keeps_events() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let job = sleep_job(
        "web",
        json!({"Count": 1, "Scaling": {"Min": 1, "Max": 3, "Policy": {"cooldown": "1m"}}}),
        json!({}),
    );
    register(&a, job, json!({})).await;
    let (_, stored, _) = a.get("/v1/job/web").await;
    let scaling = &stored["TaskGroups"][0]["Scaling"];
    assert_eq!(scaling["Enabled"], true, "{scaling}");
    assert_eq!(scaling["Type"], "horizontal", "{scaling}");
    assert_eq!(
        scaling["Target"],
        json!({"Namespace": "default", "Job": "web", "Group": "g"})
    );

    let status = a
        .until("/v1/job/web/scale", "one allocation running", |s| {
            s["TaskGroups"]["g"]["Running"] == 1
        })
        .await;
    assert_eq!(status["JobID"], "web");
    assert_eq!(status["JobStopped"], false);
    assert_eq!(status["TaskGroups"]["g"]["Desired"], 1);
    assert_eq!(status["TaskGroups"]["g"]["Events"], json!([]));

    end_deployment(&a, "web").await;
    let target = json!({"Job": "web", "Group": "g"});
    let (code, resp) = post(
        &a,
        "/v1/job/web/scale",
        &json!({"Count": 2, "Target": target, "Message": "more", "Meta": {"by": "test"}}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{resp}");
    let eval_id = resp["EvalID"].as_str().unwrap().to_string();
    assert!(!eval_id.is_empty(), "{resp}");
    let (_, eval, _) = a.get(&format!("/v1/evaluation/{eval_id}")).await;
    assert_eq!(eval["TriggeredBy"], "job-scaling", "{eval}");
    assert_eq!(position(&a, "web").await.0, 1);
    let status = a
        .until("/v1/job/web/scale", "two allocations running", |s| {
            s["TaskGroups"]["g"]["Running"] == 2
        })
        .await;
    let g = &status["TaskGroups"]["g"];
    assert_eq!(
        (g["Desired"].as_u64(), g["Placed"].as_u64()),
        (Some(2), Some(2)),
        "{g}"
    );
    let event = &g["Events"][0];
    assert_eq!(event["Count"], 2, "{event}");
    assert_eq!(event["PreviousCount"], 1, "{event}");
    assert_eq!(event["EvalID"], eval_id.as_str(), "{event}");
    assert_eq!(event["Meta"]["by"], "test", "{event}");
    assert_eq!(event["Message"], "more", "{event}");

    // A report without a count: an event, no new version.
    let before = position(&a, "web").await;
    let (code, resp) = post(
        &a,
        "/v1/job/web/scale",
        &json!({"Target": target, "Message": "autoscaler is sad", "Error": true}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{resp}");
    assert_eq!(resp["EvalID"], "", "{resp}");
    assert_eq!(position(&a, "web").await, before);
    let (_, status, headers) = a.get("/v1/job/web/scale").await;
    let events = status["TaskGroups"]["g"]["Events"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["Error"], true);
    assert_eq!(events[0]["Count"], Value::Null);
    assert_eq!(
        headers["x-nomad-index"].to_str().unwrap(),
        resp["Index"].as_u64().unwrap().to_string()
    );

    for (body, needle) in [
        (
            json!({"Count": 5, "Target": target}),
            "Count: group count was greater than scaling policy maximum: 5 > 3",
        ),
        (
            json!({"Count": 0, "Target": target}),
            "Count: group count was less than scaling policy minimum: 0 < 1",
        ),
        (
            json!({"Count": -1, "Target": target}),
            "Count: scaling action count can't be negative",
        ),
        (
            json!({"Count": 2, "Target": {"Job": "web"}}),
            "Target.Group",
        ),
        (
            json!({"Count": 2, "Target": {"Group": "nope"}}),
            "task group \"nope\" specified for scaling does not exist in job",
        ),
        (
            json!({"Count": 2, "Target": {"Job": "db", "Group": "g"}}),
            "Target.Job",
        ),
        (
            json!({"Count": 2, "Error": true, "Target": target}),
            "Count",
        ),
        (json!({"Count": "two", "Target": target}), "Count"),
    ] {
        assert_400(&post(&a, "/v1/job/web/scale", &body).await, needle);
    }
    assert_eq!(
        position(&a, "web").await,
        before,
        "a refused scale moved the job"
    );
    let (_, status, _) = a.get("/v1/job/web/scale").await;
    assert_eq!(
        status["TaskGroups"]["g"]["Events"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A scaling block without a maximum is refused at register.
    let bad = sleep_job("bad", json!({"Scaling": {"Min": 1}}), json!({}));
    let (code, resp) = post(&a, "/v1/jobs", &json!({"Job": bad})).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{resp}");
    assert!(
        resp.as_str().unwrap().contains("TaskGroups[0].Scaling.Max"),
        "{resp}"
    );

    let (code, _, _) = a.get("/v1/job/db/scale").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

/// The groups' `scaling` blocks as Nomad's scaling policies: an ID that
/// stays across versions, listed and read by ID.
#[tokio::test]
async fn scaling_policies_keep_their_id_across_versions() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_with(dir.path(), "client { enabled = false }").await;
    let mut job = sleep_job("web", json!({"Scaling": {"Max": 4}}), json!({}));
    job["Datacenters"] = json!(["nowhere"]);
    let first = register(&a, job, json!({})).await;
    let (_, stored, _) = a.get("/v1/job/web").await;
    let policy = stored["TaskGroups"][0]["Scaling"].clone();
    let id = policy["ID"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {policy}");
    assert_eq!(policy["Min"], 1, "Min defaults to the count: {policy}");
    assert_eq!(policy["CreateIndex"], first["JobModifyIndex"]);

    let (code, list, _) = a.get("/v1/scaling/policies").await;
    assert_eq!(code, StatusCode::OK, "{list}");
    assert_eq!(
        list,
        json!([{"ID": id, "Enabled": true, "Type": "horizontal",
            "Target": {"Namespace": "default", "Job": "web", "Group": "g"},
            "CreateIndex": policy["CreateIndex"], "ModifyIndex": policy["ModifyIndex"]}])
    );
    let (_, none, _) = a.get("/v1/scaling/policies?job=db").await;
    assert_eq!(none, json!([]));

    // A new version keeps the ID and its CreateIndex.
    end_deployment(&a, "web").await;
    let scaled = post(
        &a,
        "/v1/job/web/scale",
        &json!({"Count": 3, "Target": {"Group": "g"}}),
    )
    .await;
    assert_eq!(scaled.0, StatusCode::OK, "{}", scaled.1);
    let (code, again, _) = a.get(&format!("/v1/scaling/policy/{id}")).await;
    assert_eq!(code, StatusCode::OK, "{again}");
    assert_eq!(again["ID"], id.as_str());
    assert_eq!(again["Max"], 4);
    assert_eq!(again["CreateIndex"], policy["CreateIndex"]);
    assert_eq!(again["ModifyIndex"], scaled.1["JobModifyIndex"]);
    // Registering the stored spec again (its policy's ID and indexes
    // included, or without them) is not a change: no new version.
    let (_, current, _) = a.get("/v1/job/web").await;
    register(&a, current.clone(), json!({})).await;
    let mut bare = current;
    bare["TaskGroups"][0]["Scaling"] = json!({"Min": 1, "Max": 4});
    register(&a, bare, json!({})).await;
    assert_eq!(position(&a, "web").await.0, 1);
    let (_, kept, _) = a.get(&format!("/v1/scaling/policy/{id}")).await;
    assert_eq!(kept["ModifyIndex"], again["ModifyIndex"], "{kept}");

    let (code, _, _) = a.get("/v1/scaling/policy/nope").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

const HCL: &str = r#"
variable "n" {
  default = 1
}
job "src" {
  datacenters = ["nowhere"]
  group "g" {
    count = var.n
    scaling {
      min = 1
      max = 4
      policy {
        cooldown = "1m"
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
      }
    }
  }
}
"#;

/// Nomad 1.6+'s job submissions: the source given with a register is kept
/// with the version it made, a source over 1 MB is dropped with a warning,
/// and a purge deletes them.
#[tokio::test]
async fn a_version_keeps_the_source_it_was_submitted_in() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_with(dir.path(), "client { enabled = false }").await;
    let (code, parsed) = post(
        &a,
        "/v1/jobs/parse",
        &json!({"JobHCL": HCL, "Variables": "n = 2"}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{parsed}");
    let scaling = &parsed["TaskGroups"][0]["Scaling"];
    assert_eq!(
        (scaling["Min"].as_i64(), scaling["Max"].as_i64()),
        (Some(1), Some(4))
    );
    assert_eq!(scaling["Policy"]["cooldown"], "1m", "{scaling}");
    // Parsing stores nothing.
    let (code, _, _) = a.get("/v1/job/src/submission?version=0").await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    let submission = json!({"Source": HCL, "Format": "hcl2",
        "VariableFlags": {"n": "2"}, "Variables": ""});
    let resp = register(&a, parsed.clone(), json!({"Submission": submission})).await;
    assert_eq!(resp["Warnings"], "", "{resp}");
    let (code, sub, _) = a.get("/v1/job/src/submission?version=0").await;
    assert_eq!(code, StatusCode::OK, "{sub}");
    assert_eq!(sub["Source"], HCL);
    assert_eq!(sub["Format"], "hcl2");
    assert_eq!(sub["VariableFlags"], json!({"n": "2"}));
    assert_eq!(sub["JobID"], "src");
    assert_eq!(sub["Version"], 0);
    assert_eq!(sub["JobModifyIndex"], resp["JobModifyIndex"]);

    // Over the limit: registered, the source dropped, Nomad's warning.
    let mut bigger = parsed.clone();
    bigger["Meta"] = json!({"big": "yes"});
    let huge = json!({"Source": "#".repeat(1_000_001), "Format": "hcl2"});
    let resp = register(&a, bigger, json!({"Submission": huge})).await;
    assert_eq!(
        resp["Warnings"],
        "job source size of 1.0 MB exceeds maximum of 1.0 MB and will be discarded"
    );
    assert_eq!(position(&a, "src").await.0, 1);
    let (code, body, _) = a.get("/v1/job/src/submission?version=1").await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    let (code, text) = a.get_text("/v1/job/src/submission?version=x").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(text.contains("version"), "{text}");
    let (code, _) = a.get_text("/v1/job/src/submission").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    let r = a
        .http
        .delete(a.url("/v1/job/src?purge=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (code, _, _) = a.get("/v1/job/src/submission?version=0").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

/// A blocking read of `/v1/job/:id/scale` wakes on a scaling event that
/// changes no job, and reports that event's index.
#[tokio::test]
async fn a_blocking_scale_read_wakes_on_a_scaling_event() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_with(dir.path(), "client { enabled = false }").await;
    let mut job = sleep_job("web", json!({}), json!({}));
    job["Datacenters"] = json!(["nowhere"]);
    register(&a, job, json!({})).await;
    let (_, _, headers) = a.get("/v1/job/web/scale").await;
    let index: u64 = headers["x-nomad-index"].to_str().unwrap().parse().unwrap();

    let url = a.url(&format!("/v1/job/web/scale?index={index}&wait=30s"));
    let parked = tokio::spawn(a.http.get(url).send());
    a.wait_parked(1).await;
    let (code, resp) = post(
        &a,
        "/v1/job/web/scale",
        &json!({"Target": {"Group": "g"}, "Message": "hello"}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{resp}");
    let woke = tokio::time::timeout(common::DEADLINE, parked)
        .await
        .expect("the parked read woke")
        .unwrap()
        .unwrap();
    let woke_index = woke.headers()["x-nomad-index"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = woke.json().await.unwrap();
    assert_eq!(woke_index, resp["Index"].as_u64().unwrap().to_string());
    assert_eq!(
        body["TaskGroups"]["g"]["Events"][0]["Message"], "hello",
        "{body}"
    );
}

/// Revert and scale are registrations: refused with Nomad's 403 while the
/// scheduler configuration rejects job registration; stable is not.
#[tokio::test]
async fn revert_and_scale_are_refused_while_registration_is_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_with(dir.path(), "client { enabled = false }").await;
    let mut job = sleep_job("web", json!({}), json!({"n": "1"}));
    job["Datacenters"] = json!(["nowhere"]);
    register(&a, job.clone(), json!({})).await;
    job["Meta"]["n"] = json!("2");
    register(&a, job, json!({})).await;
    let r = a
        .http
        .put(a.url("/v1/operator/scheduler/configuration"))
        .json(&json!({"RejectJobRegistration": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let before = position(&a, "web").await;

    let disabled =
        "Job registration, dispatch, and scale are disabled by the scheduler configuration";
    for (path, body) in [
        (
            "/v1/job/web/revert",
            json!({"JobID": "web", "JobVersion": 0}),
        ),
        (
            "/v1/job/web/scale",
            json!({"Count": 3, "Target": {"Group": "g"}}),
        ),
        (
            "/v1/job/web/scale",
            json!({"Message": "m", "Target": {"Group": "g"}}),
        ),
    ] {
        let (code, resp) = post(&a, path, &body).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{path}: {resp}");
        assert_eq!(resp, disabled, "{path}");
    }
    assert_eq!(position(&a, "web").await, before);
    let (code, resp) = post(
        &a,
        "/v1/job/web/stable",
        &json!({"JobID": "web", "JobVersion": 1, "Stable": true}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{resp}");
}
