//! The docker driver through the real binary: a dev agent runs
//! docker jobs submitted over HTTP against the machine's Docker daemon,
//! with the offline busybox image. Where no daemon answers, each test says
//! SKIPPED (and fails under `CI`, where the daemon runs).

mod common;

#[path = "../client/tests/docker_support/mod.rs"]
mod docker_support;

use bollard::Docker;
use common::{alloc_when, event_types, submit, Agent, DEADLINE};
use docker_support::{
    containers_with_label, docker_or_skip, unique, wait_until, ContainerGuard, TEST_IMAGE,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A docker job `id` with one group `g` and task `t`.
fn docker_job(id: &str, job_type: &str, config: Value, group: Value) -> Value {
    let mut tg = json!({"Name": "g", "Tasks": [{"Name": "t", "Driver": "docker",
        "Config": config,
        "Resources": {"CPU": 300, "MemoryMB": 64}}]});
    if let (Some(tg), Some(extra)) = (tg.as_object_mut(), group.as_object()) {
        tg.extend(extra.clone());
    }
    json!({"ID": id, "Type": job_type, "TaskGroups": [tg]})
}

/// The one container of `alloc`, once it exists.
async fn container_of(docker: &Docker, alloc: &str) -> String {
    let label = format!("com.hashicorp.nomad.alloc_id={alloc}");
    wait_until("the alloc's container", DEADLINE, || async {
        containers_with_label(docker, &label)
            .await
            .into_iter()
            .next()
    })
    .await
}

fn event<'a>(alloc: &'a Value, task: &str, ty: &str) -> Option<&'a Value> {
    alloc["TaskStates"][task]["Events"]
        .as_array()?
        .iter()
        .find(|e| e["Type"] == ty)
}

/// A dev agent on a fresh directory with docker job `<prefix>-…`
/// submitted; the job's containers are removed when the guard drops.
/// `None` after a loud skip (no daemon).
async fn with_job(
    test: &str,
    prefix: &str,
    job_type: &str,
    config: Value,
    group: Value,
) -> Option<(Docker, String, ContainerGuard, tempfile::TempDir, Agent)> {
    let docker = docker_or_skip(test).await?;
    let job = unique(prefix);
    let guard = ContainerGuard::new(format!("com.hashicorp.nomad.job_name={job}"));
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    submit(&a, docker_job(&job, job_type, config, group)).await;
    Some((docker, job, guard, dir, a))
}

#[tokio::test]
async fn a_docker_service_runs_with_limits_labels_and_logs_and_stop_removes_it() {
    let script = "echo hello-from-docker; echo oops >&2; while true; do sleep 1; done";
    let Some((docker, job, _guard, _dir, a)) = with_job(
        "a_docker_service_runs_with_limits_labels_and_logs_and_stop_removes_it",
        "svc",
        "service",
        json!({"image": TEST_IMAGE, "command": "/bin/sh", "args": ["-c", script]}),
        json!({}),
    )
    .await
    else {
        return;
    };
    let alloc = alloc_when(&a, &job, "running", |x| x["ClientStatus"] == "running").await;
    let alloc_id = alloc["ID"].as_str().unwrap().to_string();
    let id = container_of(&docker, &alloc_id).await;
    let info = docker.inspect_container(&id, None).await.unwrap();
    let host = info.host_config.unwrap();
    assert_eq!(host.memory, Some(64 << 20));
    assert_eq!(host.cpu_shares, Some(300));
    let labels = info.config.unwrap().labels.unwrap();
    let (_, node, _) = a.get("/v1/nodes").await;
    for (key, want) in [
        ("alloc_id", alloc_id.as_str()),
        ("job_name", job.as_str()),
        ("task_name", "t"),
        ("task_group_name", "g"),
        ("namespace", "default"),
        ("node_name", node[0]["Name"].as_str().unwrap()),
    ] {
        let key = format!("com.hashicorp.nomad.{key}");
        assert_eq!(labels.get(&key).map(String::as_str), Some(want), "{key}");
    }
    assert_eq!(
        info.state.and_then(|s| s.running),
        Some(true),
        "container running"
    );
    // The container's output is in the task's log files, served as for
    // raw_exec.
    for (stream, want) in [("stdout", "hello-from-docker"), ("stderr", "oops")] {
        let path = format!("/v1/client/fs/logs/{alloc_id}?task=t&type={stream}&plain=true");
        wait_until(&format!("{want} in {stream}"), DEADLINE, || async {
            let r = a.http.get(a.url(&path)).send().await.ok()?;
            let text = r.text().await.ok()?;
            text.contains(want).then_some(())
        })
        .await;
    }
    // The node says docker is healthy, with the engine's version.
    let (_, nodes, _) = a.get("/v1/nodes").await;
    let node_id = nodes[0]["ID"].as_str().unwrap();
    let (_, node, _) = a.get(&format!("/v1/node/{node_id}")).await;
    assert_eq!(node["Drivers"]["docker"]["Healthy"], true, "{node}");
    assert!(node["Attributes"]["driver.docker.version"].is_string());

    let r = a
        .http
        .delete(a.url(&format!("/v1/job/{job}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    alloc_when(&a, &job, "complete", |x| x["ClientStatus"] == "complete").await;
    let label = format!("com.hashicorp.nomad.alloc_id={alloc_id}");
    wait_until("the container removed", DEADLINE, || async {
        containers_with_label(&docker, &label)
            .await
            .is_empty()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_task_over_its_memory_limit_is_reported_oom_killed() {
    // busybox tail holds its endless current line in memory (200 MB and
    // more) until the cgroup's 64 MiB limit kills it.
    let Some((_docker, job, _guard, _dir, a)) = with_job(
        "a_task_over_its_memory_limit_is_reported_oom_killed",
        "oom",
        "batch",
        json!({"image": TEST_IMAGE, "command": "tail", "args": ["/dev/zero"]}),
        json!({"RestartPolicy": {"Attempts": 0, "Mode": "fail"},
                   "ReschedulePolicy": {"Attempts": 0, "Unlimited": false}}),
    )
    .await
    else {
        return;
    };
    let alloc = alloc_when(&a, &job, "failed", |x| x["ClientStatus"] == "failed").await;
    let oom = event(&alloc, "t", "OOM Killed")
        .unwrap_or_else(|| panic!("no OOM Killed event: {:?}", event_types(&alloc, "t")));
    let msg = oom["DisplayMessage"].as_str().unwrap();
    assert!(msg.contains("64 MiB"), "{msg}");
    let term = event(&alloc, "t", "Terminated").expect("Terminated");
    assert_eq!(term["Details"]["oom_killed"], "true", "{term}");
}

#[tokio::test]
async fn a_dynamic_port_reaches_httpd_in_the_container() {
    let script = "echo served-by-busybox > /local/index.html; exec httpd -f -p 8080 -h /local";
    let Some((_docker, job, _guard, _dir, a)) = with_job(
        "a_dynamic_port_reaches_httpd_in_the_container",
        "web",
        "service",
        json!({"image": TEST_IMAGE, "command": "/bin/sh", "args": ["-c", script],
                   "ports": ["http"]}),
        json!({"Networks": [{"DynamicPorts": [{"Label": "http", "To": 8080}]}]}),
    )
    .await
    else {
        return;
    };
    let alloc = alloc_when(&a, &job, "running", |x| x["ClientStatus"] == "running").await;
    let ports = alloc["AllocatedResources"]["Shared"]["Ports"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let port = ports
        .iter()
        .find(|p| p["Label"] == "http")
        .and_then(|p| p["Value"].as_u64())
        .unwrap_or_else(|| panic!("no http port in {alloc}"));
    assert!(port > 0 && port != 8080, "a host port the scheduler chose");
    let url = format!("http://127.0.0.1:{port}/index.html");
    let body = wait_until("httpd answering on the host port", DEADLINE, || async {
        let r = reqwest::get(&url).await.ok()?;
        r.status().is_success().then_some(())?;
        r.text().await.ok()
    })
    .await;
    assert_eq!(body.trim(), "served-by-busybox");
}

#[tokio::test]
async fn an_agent_killed_9_reattaches_to_its_container() {
    let script = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done";
    let Some((docker, job, _guard, dir, a)) = with_job(
        "an_agent_killed_9_reattaches_to_its_container",
        "keep",
        "service",
        json!({"image": TEST_IMAGE, "command": "/bin/sh", "args": ["-c", script]}),
        json!({}),
    )
    .await
    else {
        return;
    };
    let alloc = alloc_when(&a, &job, "running", |x| x["ClientStatus"] == "running").await;
    let alloc_id = alloc["ID"].as_str().unwrap().to_string();
    let id = container_of(&docker, &alloc_id).await;
    let started = docker
        .inspect_container(&id, None)
        .await
        .unwrap()
        .state
        .and_then(|s| s.started_at);

    a.crash();
    let a = Agent::start(dir.path()).await;
    let alloc = alloc_when(&a, &job, "running again", |x| {
        x["ClientStatus"] == "running"
    })
    .await;
    assert_eq!(alloc["TaskStates"]["t"]["Restarts"], 0);
    let starts = event_types(&alloc, "t")
        .iter()
        .filter(|e| *e == "Started")
        .count();
    assert_eq!(starts, 1, "no second start: {:?}", event_types(&alloc, "t"));
    // The same container, never restarted.
    let label = format!("com.hashicorp.nomad.alloc_id={alloc_id}");
    assert_eq!(
        containers_with_label(&docker, &label).await,
        vec![id.clone()]
    );
    let info = docker.inspect_container(&id, None).await.unwrap();
    let state = info.state.unwrap();
    assert_eq!(state.running, Some(true));
    assert_eq!(state.started_at, started);
    // Logs keep flowing into the task's files after the restart.
    let path = format!("/v1/client/fs/logs/{alloc_id}?task=t&type=stdout&plain=true");
    let count = |text: &str| text.lines().filter(|l| l.starts_with("tick")).count();
    let before = count(&a.get_text(&path).await.1);
    wait_until("more output after the restart", DEADLINE, || async {
        let text = a
            .http
            .get(a.url(&path))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (count(&text) > before + 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_missing_image_fails_the_task_with_a_driver_failure_naming_it() {
    let Some((_docker, job, _guard, _dir, a)) = with_job(
        "a_missing_image_fails_the_task_with_a_driver_failure_naming_it",
        "noimage",
        "batch",
        json!({"image": "drover-test/absent:1"}),
        json!({"RestartPolicy": {"Attempts": 0, "Mode": "fail"},
                   "ReschedulePolicy": {"Attempts": 0, "Unlimited": false}}),
    )
    .await
    else {
        return;
    };
    let alloc = alloc_when(&a, &job, "failed", |x| x["ClientStatus"] == "failed").await;
    let failure = event(&alloc, "t", "Driver Failure")
        .unwrap_or_else(|| panic!("no Driver Failure: {:?}", event_types(&alloc, "t")));
    let msg = failure["DisplayMessage"].as_str().unwrap();
    assert!(msg.contains("drover-test/absent:1"), "{msg}");
}

// Runs everywhere: it needs no daemon, only an endpoint nothing answers.
#[tokio::test]
async fn without_a_daemon_docker_is_unhealthy_and_docker_jobs_are_not_placed() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("no-docker.sock");
    let a = Agent::start_with(
        dir.path(),
        &format!(
            "plugin \"docker\" {{\n  config {{\n    endpoint = \"unix://{}\"\n  }}\n}}",
            sock.display()
        ),
    )
    .await;
    let nodes = a
        .until("/v1/nodes", "the node registered", |v| {
            v.as_array().is_some_and(|n| !n.is_empty())
        })
        .await;
    let node_id = nodes[0]["ID"].as_str().unwrap();
    let (_, node, _) = a.get(&format!("/v1/node/{node_id}")).await;
    let docker = &node["Drivers"]["docker"];
    assert_eq!(docker["Healthy"], false, "{docker}");
    let why = docker["HealthDescription"].as_str().unwrap_or_default();
    assert!(why.contains("Failed to connect to docker daemon"), "{why}");

    let job = json!({"ID": "needs-docker", "TaskGroups": [{"Name": "g",
        "Tasks": [{"Name": "t", "Driver": "docker",
            "Config": {"image": TEST_IMAGE}}]}]});
    let r = a
        .http
        .put(a.url("/v1/job/needs-docker/plan"))
        .json(&json!({ "Job": job }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let plan: Value = r.json().await.unwrap();
    let failed = &plan["FailedTGAllocs"]["g"];
    assert_eq!(failed["ConstraintFiltered"]["missing drivers"], 1, "{plan}");
}

#[tokio::test]
async fn a_restarted_agent_removes_containers_of_allocations_the_servers_do_not_have() {
    let test = "a_restarted_agent_removes_containers_of_allocations_the_servers_do_not_have";
    let Some(docker) = docker_or_skip(test).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let nodes = a
        .until("/v1/nodes", "the node registered", |v| {
            v.as_array().is_some_and(|n| !n.is_empty())
        })
        .await;
    let node_id = nodes[0]["ID"].as_str().unwrap().to_string();
    a.crash();
    // A container this node's client made for an allocation no server has
    // (as if the agent died between starting it and recording it).
    let stray = unique("stray");
    let _guard = ContainerGuard::new(format!("com.hashicorp.nomad.alloc_id={stray}"));
    let out = std::process::Command::new("docker")
        .args(["run", "-d", "--label"])
        .arg(format!("com.hashicorp.nomad.alloc_id={stray}"))
        .arg("--label")
        .arg(format!("com.hashicorp.nomad.node_id={node_id}"))
        .args([TEST_IMAGE, "sleep", "1000"])
        .output()
        .expect("docker run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let label = format!("com.hashicorp.nomad.alloc_id={stray}");
    assert_eq!(containers_with_label(&docker, &label).await.len(), 1);

    let _a = Agent::start(dir.path()).await;
    wait_until("the stray container removed", DEADLINE, || async {
        containers_with_label(&docker, &label)
            .await
            .is_empty()
            .then_some(())
    })
    .await;
}

// Drivers are fingerprinted again while the agent runs (Nomad's drivers
// report every 30s): a daemon that comes up later makes the node able to
// run docker jobs without a restart.
#[tokio::test]
async fn a_daemon_that_comes_up_later_makes_the_driver_healthy() {
    let test = "a_daemon_that_comes_up_later_makes_the_driver_healthy";
    if docker_or_skip(test).await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("late-docker.sock");
    let a = Agent::start_with(
        dir.path(),
        &format!(
            "client {{\n  options {{\n    \"drover.fingerprint_period\" = \"200ms\"\n  }}\n}}\nplugin \"docker\" {{\n  config {{\n    endpoint = \"unix://{}\"\n  }}\n}}",
            sock.display()
        ),
    )
    .await;
    let healthy = |v: &Value| v["Drivers"]["docker"]["Healthy"].as_bool();
    let nodes = a
        .until("/v1/nodes", "the node registered", |v| {
            v.as_array().is_some_and(|n| !n.is_empty())
        })
        .await;
    let path = format!("/v1/node/{}", nodes[0]["ID"].as_str().unwrap());
    let (_, node, _) = a.get(&path).await;
    assert_eq!(healthy(&node), Some(false), "{node}");

    // The daemon "comes up": a socket at the configured path that relays
    // to the real one.
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut daemon) =
                    tokio::net::UnixStream::connect("/var/run/docker.sock").await
                {
                    let _ = tokio::io::copy_bidirectional(&mut conn, &mut daemon).await;
                }
            });
        }
    });
    let node = a
        .until(&path, "the docker driver healthy", |v| {
            healthy(v) == Some(true)
        })
        .await;
    assert_eq!(node["Attributes"]["driver.docker"], "1", "{node}");
}

/// SIGTERM to a `-dev` agent stops its containers and removes them, as
/// Nomad's dev mode destroys its allocations on shutdown.
#[tokio::test]
async fn a_dev_agent_removes_its_containers_when_it_shuts_down() {
    let script = "trap 'exit 0' TERM; while true; do sleep 1; done";
    let Some((docker, job, _guard, _dir, mut a)) = with_job(
        "a_dev_agent_removes_its_containers_when_it_shuts_down",
        "devstop",
        "service",
        json!({"image": TEST_IMAGE, "command": "/bin/sh", "args": ["-c", script]}),
        json!({}),
    )
    .await
    else {
        return;
    };
    let alloc = alloc_when(&a, &job, "running", |x| x["ClientStatus"] == "running").await;
    let alloc_id = alloc["ID"].as_str().unwrap().to_string();
    let id = container_of(&docker, &alloc_id).await;
    assert!(!id.is_empty());
    let status = a.terminate().await;
    assert!(status.success(), "dev agent exit: {status}");
    let label = format!("com.hashicorp.nomad.alloc_id={alloc_id}");
    assert_eq!(
        containers_with_label(&docker, &label).await,
        Vec::<String>::new(),
        "the allocation's container is removed by the time the agent exits"
    );
}
