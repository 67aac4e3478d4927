//! A canary deployment from end to end on the real `drover agent -dev`,
//! with health decided by the client from task states and failures
//! handled by the leader's deployment watcher: the job of Nomad's
//! canary guide (`update { canary = 1 max_parallel = 1 min_healthy_time
//! = "1s" auto_revert = true }`) is updated, promoted, then broken, and
//! rolled back to its stable version.

use reqwest::StatusCode;
use serde_json::{json, Value};

mod common;
use common::{read_events, submit, Agent};

/// The job in HCL, its task running `sh -c script`.
fn hcl(script: &str) -> String {
    format!(
        r#"
job "web" {{
  datacenters = ["dc1"]
  group "g" {{
    count = 2
    update {{
      canary           = 1
      max_parallel     = 1
      min_healthy_time = "1s"
      auto_revert      = true
    }}
    restart {{
      attempts = 0
      mode     = "fail"
    }}
    reschedule {{
      attempts  = 0
      unlimited = false
    }}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "{script}"]
      }}
    }}
  }}
}}
"#
    )
}

/// Parse `hcl` with `/v1/jobs/parse` and register it.
async fn run(a: &Agent, script: &str) {
    let r = a
        .http
        .put(a.url("/v1/jobs/parse"))
        .json(&json!({"JobHCL": hcl(script), "Canonicalize": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let job: Value = r.json().await.unwrap();
    submit(a, job).await;
}

/// The job's latest deployment once it is of `version` and `pred` holds.
async fn deployment(a: &Agent, version: u64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    a.until("/v1/job/web/deployment", what, |d| {
        d["JobVersion"] == version && pred(d)
    })
    .await
}

/// The running allocations' job versions and scripts, sorted.
async fn running(a: &Agent) -> Vec<(u64, String)> {
    let (_, allocs, _) = a.get("/v1/job/web/allocations").await;
    let mut out: Vec<(u64, String)> = Vec::new();
    for stub in allocs.as_array().into_iter().flatten() {
        if stub["ClientStatus"] != "running" || stub["DesiredStatus"] != "run" {
            continue;
        }
        let id = stub["ID"].as_str().unwrap_or_default();
        let (_, full, _) = a.get(&format!("/v1/allocation/{id}")).await;
        let script = full["Job"]["TaskGroups"][0]["Tasks"][0]["Config"]["args"][1]
            .as_str()
            .unwrap_or_default()
            .to_string();
        out.push((stub["JobVersion"].as_u64().unwrap_or(u64::MAX), script));
    }
    out.sort();
    out
}

async fn until_running(a: &Agent, want: &[(u64, &str)]) {
    let want: Vec<(u64, String)> = want.iter().map(|(v, s)| (*v, s.to_string())).collect();
    let started = std::time::Instant::now();
    loop {
        let now = running(a).await;
        if now == want {
            return;
        }
        if started.elapsed() > common::DEADLINE {
            let (_, allocs, _) = a.get("/v1/job/web/allocations").await;
            let (_, deployments, _) = a.get("/v1/job/web/deployments").await;
            let (_, evals, _) = a.get("/v1/job/web/evaluations").await;
            panic!(
                "running allocations {now:?}, waited for {want:?}\nallocations {allocs:#}\ndeployments {deployments:#}\nevals {evals:#}"
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_canary_is_promoted_and_a_broken_version_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    const V0: &str = "exec sleep 600";
    const V1: &str = "exec sleep 601";
    const BROKEN: &str = "exit 1";

    // Version 0: both allocations turn healthy on their own after 1 s of
    // running, and the deployment succeeds.
    run(&a, V0).await;
    let d0 = deployment(&a, 0, "the first deployment successful", |d| {
        d["Status"] == "successful"
    })
    .await;
    assert_eq!(d0["TaskGroups"]["g"]["HealthyAllocs"], 2, "{d0}");
    a.until("/v1/job/web", "version 0 stable", |j| j["Stable"] == true)
        .await;

    // Version 1: one canary beside the old two, healthy by itself, then
    // waiting for a promotion.
    run(&a, V1).await;
    let d1 = deployment(&a, 1, "the canary healthy", |d| {
        d["TaskGroups"]["g"]["HealthyAllocs"] == 1
    })
    .await;
    let id1 = d1["ID"].as_str().unwrap().to_string();
    assert_eq!(d1["Status"], "running");
    assert_eq!(
        d1["StatusDescription"],
        "Deployment is running but requires manual promotion"
    );
    until_running(&a, &[(0, V0), (0, V0), (1, V1)]).await;

    let r = a
        .http
        .post(a.url(&format!("/v1/deployment/promote/{id1}")))
        .json(&json!({"All": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    deployment(&a, 1, "the promoted deployment successful", |d| {
        d["Status"] == "successful"
    })
    .await;
    let job = a
        .until("/v1/job/web", "version 1 stable", |j| {
            j["Version"] == 1 && j["Stable"] == true
        })
        .await;
    assert_eq!(job["Version"], 1);
    until_running(&a, &[(1, V1), (1, V1)]).await;

    // A broken version: its canary fails, which may not be rescheduled,
    // so the watcher fails the deployment and registers version 1 again
    // as version 3.
    let (_, _, headers) = a.get("/v1/job/web").await;
    let from: u64 = headers["X-Nomad-Index"].to_str().unwrap().parse().unwrap();
    let mut stream = a
        .http
        .get(a.url(&format!(
            "/v1/event/stream?topic=Deployment:web&index={}",
            from + 1
        )))
        .send()
        .await
        .unwrap();
    run(&a, BROKEN).await;
    // The rollback soon makes a deployment of its own, so the failed one
    // is looked up among all of the job's.
    let list = a
        .until(
            "/v1/job/web/deployments",
            "the broken deployment failed",
            |l| {
                l.as_array()
                    .into_iter()
                    .flatten()
                    .any(|d| d["JobVersion"] == 2 && d["Status"] == "failed")
            },
        )
        .await;
    let d2 = list
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["JobVersion"] == 2)
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        d2["StatusDescription"],
        "Failed due to unhealthy allocations - rolling back to job version 1"
    );
    let job = a
        .until("/v1/job/web", "the rollback registered", |j| {
            j["Version"] == 3
        })
        .await;
    assert_eq!(
        job["TaskGroups"][0]["Tasks"][0]["Config"]["args"][1], V1,
        "version 3 runs version 1's task"
    );
    let id2 = d2["ID"].as_str().unwrap().to_string();
    let mut saw = Vec::new();
    read_events(&mut stream, "the deployment's failure", |e| {
        saw.push(e["Type"].as_str().unwrap_or_default().to_string());
        e["Type"] == "DeploymentStatusUpdate"
            && e["Key"] == id2.as_str()
            && e["Payload"]["Deployment"]["Status"] == "failed"
    })
    .await;
    // Other events on the topic name the write that changed the
    // deployment (a plan, a client's report of health), as Nomad's do.
    assert!(saw.contains(&"PlanResult".to_string()), "{saw:?}");
    // The rollback runs the stable task on both allocations again.
    until_running(&a, &[(3, V1), (3, V1)]).await;
}
