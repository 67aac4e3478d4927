//! Nomad's exec WebSocket into a docker task through the real binary
//! (with both drivers): exit codes, stdin through to `cat`,
//! stderr as its own stream, and a tty that `stty size` (busybox) sees
//! resized. Where no Docker daemon answers, the test says SKIPPED loudly
//! (and fails under `CI`).

mod common;
#[path = "../client/tests/docker_support/mod.rs"]
mod docker_support;
mod ws_client;

use common::{submit, Agent, DEADLINE};
use docker_support::{docker_or_skip, unique, ContainerGuard, TEST_IMAGE};
use serde_json::{json, Value};
use ws_client::{check_tty_resize, connect, finish, send, stdin, Socket};

async fn exec(a: &Agent, alloc: &str, command: &[&str], tty: bool) -> Socket {
    let command = serde_json::to_string(command).unwrap();
    let tty = if tty { "true" } else { "false" };
    let url = ws_client::url(
        &a.base,
        alloc,
        "exec",
        &[("task", "t"), ("command", &command), ("tty", tty)],
    );
    connect(url, DEADLINE).await.expect("exec upgrades")
}

#[tokio::test]
async fn exec_into_a_docker_task_with_codes_stdin_stderr_and_a_resizable_tty() {
    let test = "exec_into_a_docker_task_with_codes_stdin_stderr_and_a_resizable_tty";
    let Some(_docker) = docker_or_skip(test).await else {
        return;
    };
    let job = unique("dexec");
    let _guard = ContainerGuard::new(format!("com.hashicorp.nomad.job_name={job}"));
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    submit(
        &a,
        json!({"ID": job, "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t",
            "Driver": "docker", "Resources": {"CPU": 300, "MemoryMB": 64},
            "Env": {"GREETING": "hello"},
            "Config": {"image": TEST_IMAGE, "command": "/bin/sh",
                "args": ["-c", "while true; do sleep 1; done"]}}]}]}),
    )
    .await;
    let list = a
        .until(
            &format!("/v1/job/{job}/allocations"),
            "the task running",
            |v: &Value| {
                v.as_array()
                    .is_some_and(|l| l.len() == 1 && l[0]["TaskStates"]["t"]["State"] == "running")
            },
        )
        .await;
    let alloc = list[0]["ID"].as_str().unwrap().to_string();

    // The exit code, then a normal close.
    let mut ws = exec(&a, &alloc, &["/bin/sh", "-c", "exit 3"], false).await;
    let out = finish(&mut ws, DEADLINE).await;
    assert_eq!(out.exit_code(), Some(3), "{out:?}");
    assert_eq!(out.close.as_ref().map(|c| c.0), Some(1000), "{out:?}");

    // stdin through cat and back, closed; the task's environment.
    let mut ws = exec(&a, &alloc, &["cat"], false).await;
    stdin(&mut ws, b"through cat\n").await;
    send(&mut ws, json!({"stdin": {"close": true}})).await;
    let out = finish(&mut ws, DEADLINE).await;
    assert_eq!(out.stdout(), "through cat\n", "{out:?}");
    assert_eq!(out.exit_code(), Some(0), "{out:?}");

    // stderr is its own stream.
    let script = "echo out; echo err >&2; echo $GREETING; exit 4";
    let mut ws = exec(&a, &alloc, &["/bin/sh", "-c", script], false).await;
    let out = finish(&mut ws, DEADLINE).await;
    assert_eq!(out.stdout(), "out\nhello\n", "{out:?}");
    assert_eq!(out.stderr(), "err\n", "{out:?}");
    assert_eq!(out.exit_code(), Some(4), "{out:?}");

    // A tty: stdout and stderr merged, sized and resized.
    let mut ws = exec(&a, &alloc, &["/bin/sh"], true).await;
    check_tty_resize(&mut ws, DEADLINE).await;

    // The task was never touched.
    let (_, v, _) = a.get(&format!("/v1/allocation/{alloc}")).await;
    assert_eq!(v["TaskStates"]["t"]["State"], "running", "{v}");
    assert_eq!(v["TaskStates"]["t"]["Restarts"], 0, "{v}");
}
