//! Job writes over real HTTP: register (with Nomad's null-filled bodies),
//! every bad-input case of the issue as a 400 that names the field,
//! unchanged resubmission, check-and-set, stop, purge and HCL parsing.

mod common;

use common::Srv;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A job as `nomad job run` sends it: defaults not filled in, scalars null.
fn cli_job(id: &str) -> Value {
    json!({
        "ID": id, "Name": id, "Type": null, "Priority": null, "Datacenters": ["dc1"],
        "Meta": {"team": "a"},
        "TaskGroups": [{
            "Name": "cache", "Count": null, "Constraints": null,
            "Tasks": [{
                "Name": "redis", "Driver": "docker",
                "Config": {"image": "redis:7"},
                "Resources": {"CPU": 500, "MemoryMB": 256, "Networks": null},
                "KillTimeout": null, "LogConfig": null
            }]
        }]
    })
}

#[tokio::test]
async fn register_fills_defaults_creates_an_eval_and_is_readable() {
    let srv = Srv::start().await;
    let (st, body) = srv.put("/v1/jobs", &json!({"Job": cli_job("web")})).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let resp: Value = serde_json::from_str(&body).unwrap();
    let index = resp["JobModifyIndex"].as_u64().unwrap();
    assert_eq!(resp["EvalCreateIndex"], index);
    let eval_id = resp["EvalID"].as_str().unwrap().to_string();
    assert_eq!(eval_id.len(), 36, "a UUID");
    let (_, job) = srv.get("/v1/job/web").await;
    assert_eq!(job["Type"], "service");
    assert_eq!(job["Priority"], 50);
    assert_eq!(job["Namespace"], "default");
    assert_eq!(
        job["TaskGroups"][0]["Count"], 1,
        "an absent count becomes 1"
    );
    assert_eq!(
        job["TaskGroups"][0]["Tasks"][0]["KillTimeout"],
        5_000_000_000i64
    );
    assert!(job["SubmitTime"].as_i64().unwrap() > 1_700_000_000_000_000_000);
    let (_, eval) = srv.get(&format!("/v1/evaluation/{eval_id}")).await;
    assert_eq!(
        (eval["Status"].as_str(), eval["TriggeredBy"].as_str()),
        (Some("pending"), Some("job-register"))
    );
    assert_eq!(eval["JobModifyIndex"], index);
    srv.s.shutdown().await;
}

#[tokio::test]
async fn bad_jobs_are_400s_that_name_the_field_and_change_nothing() {
    let srv = Srv::start().await;
    let mut no_id = cli_job("x");
    no_id["ID"] = Value::Null;
    let mut no_groups = cli_job("x");
    no_groups["TaskGroups"] = json!([]);
    let mut bad_driver = cli_job("x");
    bad_driver["TaskGroups"][0]["Tasks"][0]["Driver"] = json!("frobnicator");
    let mut negative = cli_job("x");
    negative["TaskGroups"][0]["Count"] = json!(-1);
    let mut wrong_type = cli_job("x");
    wrong_type["TaskGroups"][0]["Count"] = json!("three");
    let cases = [
        (json!({"Job": no_id}), "ID"),
        (json!({"Job": no_groups}), "TaskGroups"),
        (json!({"Job": bad_driver}), "frobnicator"),
        (json!({"Job": negative}), "Count"),
        (json!({"Job": wrong_type}), "Count"),
        (json!({}), "Job"),
    ];
    for (body, field) in cases {
        let (st, text) = srv.put("/v1/jobs", &body).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {text}");
        assert!(text.contains(field), "{field} not named in: {text}");
    }
    let r = srv
        .http
        .put(srv.url("/v1/jobs"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("JSON"));
    let (st, text) = srv
        .put("/v1/job/other", &json!({"Job": cli_job("web")}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(text.contains("does not match URL"), "{text}");
    let (_, jobs) = srv.get("/v1/jobs").await;
    assert_eq!(jobs, json!([]), "a failed write changes nothing");
    srv.s.shutdown().await;
}

#[tokio::test]
async fn resubmitting_an_unchanged_job_only_adds_an_eval_and_cas_is_enforced() {
    let srv = Srv::start().await;
    let (_, first) = srv.put("/v1/jobs", &json!({"Job": cli_job("web")})).await;
    let first: Value = serde_json::from_str(&first).unwrap();
    let (_, again) = srv.put("/v1/jobs", &json!({"Job": cli_job("web")})).await;
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(
        again["JobModifyIndex"], first["JobModifyIndex"],
        "no new version"
    );
    assert_ne!(again["EvalID"], first["EvalID"]);
    let (_, versions) = srv.get("/v1/job/web/versions").await;
    assert_eq!(versions["Versions"].as_array().unwrap().len(), 1);

    let mut changed = cli_job("web");
    changed["TaskGroups"][0]["Count"] = json!(3);
    let stale = json!({"Job": changed, "EnforceIndex": true, "JobModifyIndex": 1});
    let (st, text) = srv.put("/v1/jobs", &stale).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(text.contains("enforcing job modify index 1"), "{text}");
    let fresh =
        json!({"Job": changed, "EnforceIndex": true, "JobModifyIndex": first["JobModifyIndex"]});
    let (st, text) = srv.put("/v1/jobs", &fresh).await;
    assert_eq!(st, StatusCode::OK, "{text}");
    let (_, job) = srv.get("/v1/job/web").await;
    assert_eq!(
        (
            job["Version"].as_u64(),
            job["TaskGroups"][0]["Count"].as_u64()
        ),
        (Some(1), Some(3))
    );
    srv.s.shutdown().await;
}

#[tokio::test]
async fn stop_then_purge() {
    let srv = Srv::start().await;
    srv.put("/v1/jobs", &json!({"Job": cli_job("web")})).await;
    let r = srv
        .http
        .delete(srv.url("/v1/job/web"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert!(body["EvalID"].as_str().is_some_and(|s| s.len() == 36));
    let (_, job) = srv.get("/v1/job/web").await;
    assert_eq!(job["Stop"], true);
    let r = srv
        .http
        .delete(srv.url("/v1/job/web?purge=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (st, _) = srv.get("/v1/job/web").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let r = srv
        .http
        .delete(srv.url("/v1/job/web"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    srv.s.shutdown().await;
}

#[tokio::test]
async fn parse_turns_hcl_into_a_job() {
    let srv = Srv::start().await;
    let hcl = r#"
job "example" {
  datacenters = ["dc1"]
  group "cache" {
    count = 2
    task "redis" {
      driver = "docker"
      config {
        image = "redis:7"
      }
      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
"#;
    let r = srv
        .http
        .put(srv.url("/v1/jobs/parse"))
        .json(&json!({"JobHCL": hcl, "Canonicalize": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let job: Value = r.json().await.unwrap();
    assert_eq!(job["ID"], "example");
    assert_eq!(job["TaskGroups"][0]["Count"], 2);
    assert_eq!(
        job["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
        "redis:7"
    );
    assert_eq!(job["Priority"], 50, "canonicalized");
    let r = srv
        .http
        .put(srv.url("/v1/jobs/parse"))
        .json(&json!({"JobHCL": "job \"x\" {"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    srv.s.shutdown().await;
}
