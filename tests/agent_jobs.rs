//! Job submission against the real `drover agent -dev`: what a job gets
//! for the fields its author left out, and what it is refused for.

use reqwest::StatusCode;
use serde_json::{json, Value};

mod common;
use common::{alloc_when, submit, Agent};

/// `PUT path` with a JSON body; the status and the body (JSON, or the text
/// as a JSON string when it is not JSON).
async fn put(a: &Agent, path: &str, body: &Value) -> (StatusCode, Value) {
    let r = a.http.put(a.url(path)).json(body).send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A raw_exec job running `sleep`, with `group` merged into its one group.
fn sleep_job(id: &str, group: Value) -> Value {
    let mut tg = json!({"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec",
        "Config": {"command": "/bin/sleep", "args": ["300"]}}]});
    if let (Some(tg), Value::Object(extra)) = (tg.as_object_mut(), group) {
        tg.extend(extra);
    }
    json!({"ID": id, "Datacenters": ["dc1"], "TaskGroups": [tg]})
}

const HCL_NO_COUNT: &str = r#"
job "hcl-default" {
  datacenters = ["dc1"]
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["300"]
      }
    }
  }
}
"#;

/// A group that does not say how many it wants gets one, as in Nomad
/// (api/tasks.go `TaskGroup.Canonicalize`); a written 0 stays 0.
#[tokio::test]
async fn a_group_without_count_runs_one_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;

    // HCL: the parser leaves Count null, canonicalization makes it 1, and
    // registering the parsed job runs one allocation.
    let (status, parsed) = put(&a, "/v1/jobs/parse", &json!({"JobHCL": HCL_NO_COUNT})).await;
    assert_eq!(status, StatusCode::OK, "{parsed}");
    assert_eq!(parsed["TaskGroups"][0]["Count"], Value::Null, "{parsed}");
    let (_, canonical) = put(
        &a,
        "/v1/jobs/parse",
        &json!({"JobHCL": HCL_NO_COUNT, "Canonicalize": true}),
    )
    .await;
    assert_eq!(canonical["TaskGroups"][0]["Count"], 1, "{canonical}");
    submit(&a, parsed).await;

    // JSON: an absent or null Count is 1; an explicit 0 is kept.
    submit(&a, sleep_job("json-absent", json!({}))).await;
    submit(&a, sleep_job("json-null", json!({"Count": null}))).await;
    submit(&a, sleep_job("json-zero", json!({"Count": 0}))).await;

    for job in ["hcl-default", "json-absent", "json-null"] {
        let (_, stored, _) = a.get(&format!("/v1/job/{job}")).await;
        assert_eq!(stored["TaskGroups"][0]["Count"], 1, "{job}: {stored}");
        alloc_when(&a, job, &format!("{job}'s one allocation running"), |al| {
            al["ClientStatus"] == "running"
        })
        .await;
    }
    a.wait_scheduled(&["json-zero"]).await;
    let (_, stored, _) = a.get("/v1/job/json-zero").await;
    assert_eq!(stored["TaskGroups"][0]["Count"], 0, "{stored}");
    let (_, allocs, _) = a.get("/v1/job/json-zero/allocations").await;
    assert_eq!(allocs, json!([]), "a group of 0 places nothing");
}

/// `driver = raw_exec` (unquoted) is refused with its position, as Nomad's
/// "Variables not allowed", instead of a job whose driver is `${raw_exec}`.
#[tokio::test]
async fn an_unquoted_word_is_a_parse_error_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_with(dir.path(), "client { enabled = false }").await;
    let hcl = HCL_NO_COUNT.replace("\"raw_exec\"", "raw_exec");
    let (status, body) = put(&a, "/v1/jobs/parse", &json!({"JobHCL": hcl})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body,
        r#"job.group["g"].task["t"].driver: line 6, column 16: variables not allowed: `raw_exec` is not a string; quote it as "raw_exec""#,
    );
}

/// Resources no node could offer are refused naming the field, on
/// register and plan (400) and on validate (listed in a 200, as Nomad's
/// `Job.Validate` answers), instead of a job blocked forever.
#[tokio::test]
async fn resources_out_of_range_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_with(dir.path(), "client { enabled = false }").await;
    let res = "TaskGroups[0].Tasks[0].Resources";
    let cases = [
        (
            json!({"CPU": 100, "MemoryMB": i64::MAX}),
            format!(
                "{res}.MemoryMB: maximum MemoryMB value is 8796093022207; got {}",
                i64::MAX
            ),
        ),
        (
            json!({"CPU": -5, "MemoryMB": 64}),
            format!("{res}.CPU: minimum CPU value is 1; got -5"),
        ),
        (
            json!({"Cores": 2, "CPU": -5, "MemoryMB": 64}),
            format!("{res}.CPU: CPU value (-5) cannot be negative"),
        ),
        (
            json!({"CPU": i64::MAX, "MemoryMB": 64}),
            format!(
                "{res}.CPU: maximum CPU value is 4294836225; got {}",
                i64::MAX
            ),
        ),
    ];
    for (resources, want) in cases {
        let mut job = sleep_job("huge", json!({}));
        job["TaskGroups"][0]["Tasks"][0]["Resources"] = resources.clone();
        let body = json!({ "Job": job });

        let (status, answer) = put(&a, "/v1/jobs", &body).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "register {resources}: {answer}"
        );
        assert!(
            answer.as_str().is_some_and(|t| t.contains(&want)),
            "register: {answer}"
        );

        let (status, answer) = put(&a, "/v1/job/huge/plan", &body).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "plan {resources}: {answer}"
        );
        assert!(
            answer.as_str().is_some_and(|t| t.contains(&want)),
            "plan: {answer}"
        );

        let (status, answer) = put(&a, "/v1/validate/job", &body).await;
        assert_eq!(status, StatusCode::OK, "validate {resources}: {answer}");
        assert_eq!(
            answer["ValidationErrors"],
            json!([want]),
            "validate: {answer}"
        );
        assert!(answer["Error"].as_str().is_some_and(|t| t.contains(&want)));
    }

    // Beyond what JSON's integers decode to: the decoder names the field.
    let body = r#"{"Job": {"ID": "huge", "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t",
        "Driver": "raw_exec", "Resources": {"MemoryMB": 100000000000000000000}}]}]}}"#;
    let r = a
        .http
        .put(a.url("/v1/jobs"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("Job.TaskGroups[0].Tasks[0].Resources.MemoryMB"),
        "{text}"
    );

    // A valid job validates clean, and nothing above was registered.
    let (status, answer) = put(
        &a,
        "/v1/validate/job",
        &json!({"Job": sleep_job("fine", json!({}))}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["ValidationErrors"], json!([]), "{answer}");
    assert_eq!(answer["Error"], "", "{answer}");
    let (_, jobs, _) = a.get("/v1/jobs").await;
    assert_eq!(jobs, json!([]));
}
