//! Parameterized jobs against the real `drover agent -dev`: a dispatch
//! runs a child whose task reads its payload from `local/` and its meta
//! from `NOMAD_META_*`, and every bad dispatch is a 400 that names the
//! field and writes nothing.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

mod common;
use common::{alloc_dir, alloc_when, submit, Agent};

/// `method path` with a JSON body: the status and the body (JSON, or the
/// text as a JSON string).
async fn call(a: &Agent, method: reqwest::Method, path: &str, body: &Value) -> (StatusCode, Value) {
    let r = a
        .http
        .request(method, a.url(path))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn post(a: &Agent, path: &str, body: &Value) -> (StatusCode, Value) {
    call(a, reqwest::Method::POST, path, body).await
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Written in HCL so the jobspec's `parameterized` and `dispatch_payload`
/// blocks are what the server gets.
const REPORT: &str = r#"
job "report" {
  datacenters = ["dc1"]
  type        = "batch"
  meta {
    owner = "ops"
  }
  parameterized {
    payload       = "required"
    meta_required = ["customer"]
    meta_optional = ["color"]
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args = ["-c", "cat \"$NOMAD_TASK_DIR/in/put.txt\"; echo; echo \"customer=$NOMAD_META_customer color=$NOMAD_META_color owner=$NOMAD_META_owner\""]
      }
      dispatch_payload {
        file = "in/put.txt"
      }
    }
  }
}
"#;

async fn register_hcl(a: &Agent, hcl: &str) {
    let (status, job) = call(
        a,
        reqwest::Method::PUT,
        "/v1/jobs/parse",
        &json!({"JobHCL": hcl, "Canonicalize": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    submit(a, job).await;
}

#[tokio::test]
async fn a_dispatched_task_reads_its_payload_and_meta() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    register_hcl(&a, REPORT).await;
    let (_, parent, _) = a.get("/v1/job/report").await;
    assert_eq!(
        parent["ParameterizedJob"]["Payload"], "required",
        "{parent}"
    );
    assert_eq!(
        parent["TaskGroups"][0]["Tasks"][0]["DispatchPayload"]["File"],
        "in/put.txt"
    );
    // A template: no evaluation, no allocation of its own.
    let (_, allocs, _) = a.get("/v1/job/report/allocations").await;
    assert_eq!(allocs, json!([]));

    let payload = b"hello from the payload";
    let (status, resp) = post(
        &a,
        "/v1/job/report/dispatch",
        &json!({"Payload": b64(payload), "Meta": {"customer": "acme", "color": "blue"},
                "IdempotencyToken": "once"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let child = resp["DispatchedJobID"].as_str().unwrap().to_string();
    let index = resp["Index"].as_u64().unwrap();
    assert!(index > 0, "{resp}");
    assert_eq!(resp["EvalCreateIndex"].as_u64(), Some(index), "{resp}");
    assert_eq!(resp["JobCreateIndex"].as_u64(), Some(index), "{resp}");
    assert_eq!(resp["EvalID"].as_str().map(str::len), Some(36), "{resp}");
    // report/dispatch-<unix>-<8 hex>
    let rest = child.strip_prefix("report/dispatch-").expect(&child);
    let (secs, hex) = rest.split_once('-').expect(&child);
    assert!(secs.parse::<u64>().is_ok(), "{child}");
    assert!(
        hex.len() == 8 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "{child}"
    );

    // The same idempotency token answers with the same child.
    let (status, again) = post(
        &a,
        "/v1/job/report/dispatch",
        &json!({"Payload": b64(payload), "Meta": {"customer": "acme"}, "IdempotencyToken": "once"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["DispatchedJobID"], child.as_str(), "{again}");

    let (_, job, _) = a.get(&format!("/v1/job/{child}")).await;
    assert_eq!(job["Dispatched"], true, "{job}");
    assert_eq!(job["ParentID"], "report", "{job}");
    assert_eq!(job["Meta"]["customer"], "acme", "{job}");
    assert_eq!(job["Meta"]["owner"], "ops", "{job}");
    // Stored compressed, shown decompressed (as Nomad's job read does).
    assert_eq!(job["Payload"], b64(payload), "{job}");

    let alloc = alloc_when(&a, &child, "the dispatched task completed", |al| {
        al["ClientStatus"] == "complete"
    })
    .await;
    let adir = alloc_dir(dir.path(), &alloc);
    let written = std::fs::read(adir.join("t/local/in/put.txt")).unwrap();
    assert_eq!(written, payload);
    let stdout = std::fs::read_to_string(adir.join("alloc/logs/t.stdout.0")).unwrap();
    assert_eq!(
        stdout,
        "hello from the payload\ncustomer=acme color=blue owner=ops\n"
    );

    // The parent counts its child, dead once it completed.
    a.until("/v1/job/report/summary", "the child counted dead", |s| {
        s["Children"]["Dead"] == 1
    })
    .await;
    let (_, list, _) = a.get("/v1/jobs?prefix=report/dispatch-").await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
}

#[tokio::test]
async fn bad_dispatches_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    register_hcl(&a, REPORT).await;
    let plain = json!({"ID": "plain", "Type": "batch", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec",
        "Config": {"command": "/bin/true"}}]}]});
    submit(&a, plain).await;
    let quiet = json!({"ID": "quiet", "Type": "batch", "Datacenters": ["nowhere"],
        "ParameterizedJob": {"Payload": "forbidden"},
        "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec",
        "Config": {"command": "/bin/true"}}]}]});
    submit(&a, quiet).await;
    // `plain` runs on the dev agent's client, and its status changes move
    // the jobs' index: wait until it is done before taking the index.
    a.until("/v1/job/plain", "plain finished", |j| j["Status"] == "dead")
        .await;
    let (_, _, headers) = a.get("/v1/jobs").await;
    let before = headers["x-nomad-index"].to_str().unwrap().to_string();

    let ok_meta = json!({"customer": "acme"});
    let too_big = vec![b'x'; 16 * 1024 + 1];
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "plain",
            json!({"Payload": b64(b"x")}),
            "is not a parameterized job (it has no ParameterizedJob)",
        ),
        (
            "report",
            json!({"Payload": b64(b"x"), "Meta": {}}),
            "Dispatch did not provide required Meta keys: [\"customer\"]",
        ),
        (
            "report",
            json!({"Payload": b64(b"x"), "Meta": {"customer": "a", "size": "xl"}}),
            "Dispatch request included unpermitted Meta keys: [\"size\"]",
        ),
        (
            "report",
            json!({"Meta": ok_meta}),
            "Payload is not provided",
        ),
        (
            "report",
            json!({"Payload": b64(&too_big), "Meta": ok_meta}),
            "Payload exceeds maximum size; 16385 > 16384",
        ),
        (
            "report",
            json!({"Payload": "not base64!", "Meta": ok_meta}),
            "Payload is not valid base64",
        ),
        (
            "quiet",
            json!({"Payload": b64(b"x")}),
            "Payload is not allowed",
        ),
    ];
    for (job, body, want) in cases {
        let (status, resp) = post(&a, &format!("/v1/job/{job}/dispatch"), &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{job} {body}: {resp}");
        let text = resp.as_str().unwrap_or_default();
        assert!(text.contains(want), "{job}: {text:?} lacks {want:?}");
    }
    let (status, resp) = post(&a, "/v1/job/missing/dispatch", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{resp}");

    // Forcing a launch of a job that is not periodic.
    let (status, resp) = post(&a, "/v1/job/plain/periodic/force", &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert!(resp.as_str().unwrap().contains("Periodic"), "{resp}");

    // A periodic job whose cron spec or time zone does not parse.
    for (periodic, field) in [
        (json!({"Spec": "*/2 * *"}), "Periodic.Spec"),
        (json!({"Spec": "61 * * * *"}), "Periodic.Spec"),
        (json!({"Specs": ["* * * * *", "x"]}), "Periodic.Specs[1]"),
        (
            json!({"Spec": "* * * * *", "TimeZone": "Mars/Olympus"}),
            "Periodic.TimeZone",
        ),
    ] {
        let job = json!({"Job": {"ID": "cron", "Type": "batch", "Datacenters": ["dc1"],
            "Periodic": periodic,
            "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec",
            "Config": {"command": "/bin/true"}}]}]}});
        let (status, resp) = call(&a, reqwest::Method::PUT, "/v1/jobs", &job).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{periodic}: {resp}");
        assert!(
            resp.as_str().unwrap().contains(field),
            "{periodic}: {resp} lacks {field}"
        );
    }

    // Nothing above wrote anything.
    let (_, list, headers) = a.get("/v1/jobs").await;
    assert_eq!(headers["x-nomad-index"].to_str().unwrap(), before);
    let ids = common::job_id_set(&list);
    assert_eq!(ids.len(), 3, "{ids:?}");

    // The limit itself is allowed.
    let (status, resp) = post(
        &a,
        "/v1/job/report/dispatch",
        &json!({"Payload": b64(&vec![b'y'; 16 * 1024]), "Meta": {"customer": "a"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
}
