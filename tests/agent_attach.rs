//! `drover agent` serves the attach WebSocket (a Drover extension)
//! and the logs endpoint's `lines=N` extension: output of a running task
//! for any number of sessions, stdin of an interactive task for one writer
//! at a time, with raw_exec and (where a daemon answers) docker. Also: an
//! exec session (Nomad's endpoint) ends when its task stops.

mod common;
#[path = "../client/tests/docker_support/mod.rs"]
mod docker_support;
mod ws_client;

use std::time::Duration;

use common::{alloc_dir, submit, Agent, DEADLINE};
use docker_support::{docker_or_skip, unique, ContainerGuard, TEST_IMAGE};
use futures_util::SinkExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use ws_client::{
    assert_closed, close_and_read_answer, connect, finish, read_until, send_oversized, stdin,
    Outcome, Socket,
};

const ECHO_LOOP: &str = "while read l; do [ \"$l\" = quit ] && exit 7; echo got:$l; done";

/// Submits a service job whose one task `t` runs `task`; returns the alloc
/// once the task runs.
async fn running(a: &Agent, job: &str, task: Value) -> Value {
    let mut task = task;
    task["Name"] = json!("t");
    submit(
        a,
        json!({"ID": job, "TaskGroups": [{"Name": "g", "Tasks": [task]}]}),
    )
    .await;
    let list = a
        .until(
            &format!("/v1/job/{job}/allocations"),
            "the task running",
            |v| {
                v.as_array()
                    .is_some_and(|l| l.len() == 1 && l[0]["TaskStates"]["t"]["State"] == "running")
            },
        )
        .await;
    let id = list[0]["ID"].as_str().unwrap().to_string();
    a.get(&format!("/v1/allocation/{id}")).await.1
}

fn sh(script: &str, interactive: bool) -> Value {
    json!({"Driver": "raw_exec",
        "Config": {"command": "/bin/sh", "args": ["-c", script], "interactive": interactive}})
}

async fn attach(a: &Agent, alloc: &str, task: &str) -> Socket {
    let url = ws_client::url(&a.base, alloc, "attach", &[("task", task)]);
    connect(url, DEADLINE).await.expect("attach upgrades")
}

/// Reads `ws` until its stdout contains `want`.
async fn expect_stdout(ws: &mut Socket, out: &mut Outcome, want: &str) {
    read_until(ws, out, DEADLINE, |o| o.stdout().contains(want)).await;
    assert!(out.stdout().contains(want), "{want:?} never came: {out:?}");
}

/// A writer and a reader of task `t` of `alloc`, both past the writer's
/// first echo (`hello`), and a second writer refused; returns the writer,
/// the reader and what the reader read.
async fn writer_and_reader(a: &Agent, alloc: &str) -> (Socket, Socket, Outcome) {
    let mut writer = attach(a, alloc, "t").await;
    let mut reader = attach(a, alloc, "t").await;
    stdin(&mut writer, b"hello\n").await;
    let (mut w_out, mut r_out) = (Outcome::default(), Outcome::default());
    expect_stdout(&mut writer, &mut w_out, "got:hello\n").await;
    expect_stdout(&mut reader, &mut r_out, "got:hello\n").await;

    let mut second = attach(a, alloc, "t").await;
    stdin(&mut second, b"intruder\n").await;
    assert_closed(
        &finish(&mut second, DEADLINE).await,
        1008,
        "stdin already attached",
    );
    (writer, reader, r_out)
}

/// Closes `writer`, then attaches until a new writer's `again` is echoed:
/// the task's stdin stayed open for it.
async fn next_writer(a: &Agent, alloc: &str, mut writer: Socket) {
    writer.close(None).await.unwrap();
    drop(writer);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let mut next = attach(a, alloc, "t").await;
        stdin(&mut next, b"again\n").await;
        let mut out = Outcome::default();
        read_until(&mut next, &mut out, DEADLINE, |o| {
            o.stdout().contains("got:again")
        })
        .await;
        if out.stdout().contains("got:again") {
            break;
        }
        // The old session's close may not have been read yet.
        assert_closed(&out, 1008, "stdin already attached");
        assert!(tokio::time::Instant::now() < deadline, "writer never freed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts task `t` still runs, never restarted; then a writer sends
/// `quit` (the echo loop exits 7) and reads its session to the end.
async fn untouched_then_quit(a: &Agent, alloc: &str) -> Outcome {
    let (_, v, _) = a.get(&format!("/v1/allocation/{alloc}")).await;
    assert_eq!(v["TaskStates"]["t"]["State"], "running", "{v}");
    assert_eq!(v["TaskStates"]["t"]["Restarts"], 0, "{v}");

    let mut last = attach(a, alloc, "t").await;
    stdin(&mut last, b"quit\n").await;
    let out = finish(&mut last, DEADLINE).await;
    assert_eq!(out.exit_code(), Some(7), "{out:?}");
    out
}

#[tokio::test]
async fn attach_writes_stdin_of_an_interactive_raw_exec_task_one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let alloc = running(&a, "echo", sh(ECHO_LOOP, true)).await;
    let id = alloc["ID"].as_str().unwrap();

    // A writer and a reader; both see the answer. A second writer is
    // refused; the reader still reads.
    let (mut writer, mut reader, mut r_out) = writer_and_reader(&a, id).await;
    stdin(&mut writer, b"still me\n").await;
    expect_stdout(&mut reader, &mut r_out, "got:still me\n").await;
    assert!(!r_out.stdout().contains("intruder"), "{r_out:?}");

    // Once the writer is gone, a new one may attach; the task's stdin was
    // never closed.
    next_writer(&a, id, writer).await;
    expect_stdout(&mut reader, &mut r_out, "got:again\n").await;

    // Heartbeats and tty sizes are harmless; the task never restarted.
    reader.send(Message::Text("{}".into())).await.unwrap();
    let tty = json!({"tty_size": {"height": 10, "width": 20}}).to_string();
    reader.send(Message::Text(tty.into())).await.unwrap();

    // Then the task's own exit ends the session with its code.
    let out = untouched_then_quit(&a, id).await;
    assert_eq!(out.close.as_ref().map(|c| c.0), Some(1000), "{out:?}");
    let out = finish(&mut reader, DEADLINE).await;
    assert_eq!(out.exit_code(), Some(7), "{out:?}");
}

#[tokio::test]
async fn attach_works_again_after_the_agent_was_killed() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let alloc = running(&a, "echo", sh(ECHO_LOOP, true)).await;
    let id = alloc["ID"].as_str().unwrap().to_string();
    let mut ws = attach(&a, &id, "t").await;
    stdin(&mut ws, b"before\n").await;
    expect_stdout(&mut ws, &mut Outcome::default(), "got:before\n").await;
    drop(ws);

    // kill -9: the task and its stdin FIFO outlive the agent.
    a.crash();
    let a = Agent::start(dir.path()).await;
    a.until(&format!("/v1/allocation/{id}"), "the task recovered", |v| {
        v["TaskStates"]["t"]["State"] == "running"
    })
    .await;
    // The server may report the task before this client restored it.
    let url = ws_client::url(&a.base, &id, "attach", &[("task", "t")]);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut ws = loop {
        match connect(url.clone(), DEADLINE).await {
            Ok(ws) => break ws,
            Err(e) => assert!(tokio::time::Instant::now() < deadline, "no attach: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    stdin(&mut ws, b"after\n").await;
    expect_stdout(&mut ws, &mut Outcome::default(), "got:after\n").await;
    let (_, v, _) = a.get(&format!("/v1/allocation/{id}")).await;
    assert_eq!(v["TaskStates"]["t"]["Restarts"], 0, "{v}");

    // A recovered task is no child of this agent: exited, code unknown.
    stdin(&mut ws, b"quit\n").await;
    let out = finish(&mut ws, DEADLINE).await;
    assert_eq!(out.exited, Some(None), "{out:?}");
    assert_eq!(out.close.as_ref().map(|c| c.0), Some(1000), "{out:?}");
}

#[tokio::test]
async fn attach_streams_output_of_any_task_but_refuses_stdin_unless_interactive() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let script = "i=0; while true; do i=$((i+1)); echo tick $i; echo tock $i >&2; sleep 0.2; done";
    let alloc = running(&a, "ticker", sh(script, false)).await;
    let id = alloc["ID"].as_str().unwrap();

    // Output, both streams, only what is new.
    let mut ws = attach(&a, id, "t").await;
    let mut out = Outcome::default();
    read_until(&mut ws, &mut out, DEADLINE, |o| {
        o.stdout().contains("tick") && o.stderr().contains("tock")
    })
    .await;
    assert!(!out.stdout().contains("tick 1\n"), "old output: {out:?}");
    // Stdin is refused with the reason.
    stdin(&mut ws, b"x\n").await;
    let mut rest = finish(&mut ws, DEADLINE).await;
    rest.stdout.clear();
    assert_closed(&rest, 1008, "not interactive");

    // Unknown task: 1008 after the upgrade; no task: 400; unknown alloc: 404.
    let mut ws = attach(&a, id, "nope").await;
    assert_closed(&finish(&mut ws, DEADLINE).await, 1008, "unknown task");
    let url = ws_client::url(&a.base, id, "attach", &[]);
    match connect(url, DEADLINE).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status(), StatusCode::BAD_REQUEST.as_u16())
        }
        other => panic!("want 400, got {:?}", other.map(|_| ())),
    }
    let url = ws_client::url(
        &a.base,
        "00000000-0000-0000-0000-000000000000",
        "attach",
        &[("task", "t")],
    );
    match connect(url, DEADLINE).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status(), StatusCode::NOT_FOUND.as_u16())
        }
        other => panic!("want 404, got {:?}", other.map(|_| ())),
    }

    let (_, v, _) = a.get(&format!("/v1/allocation/{id}")).await;
    assert_eq!(v["TaskStates"]["t"]["State"], "running", "{v}");
    assert_eq!(v["TaskStates"]["t"]["Restarts"], 0, "{v}");
}

#[tokio::test]
async fn attach_to_a_task_that_is_not_running_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    submit(
        &a,
        json!({"ID": "done", "Type": "batch", "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/true"}}]}]}),
    )
    .await;
    let alloc = common::alloc_when(&a, "done", "the task dead", |v| {
        v["TaskStates"]["t"]["State"] == "dead"
    })
    .await;
    let mut ws = attach(&a, alloc["ID"].as_str().unwrap(), "t").await;
    assert_closed(&finish(&mut ws, DEADLINE).await, 1008, "not running");
}

#[tokio::test]
async fn attach_writes_stdin_of_an_interactive_docker_task() {
    let test = "attach_writes_stdin_of_an_interactive_docker_task";
    let Some(_docker) = docker_or_skip(test).await else {
        return;
    };
    let job = unique("attach");
    let _guard = ContainerGuard::new(format!("com.hashicorp.nomad.job_name={job}"));
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let alloc = running(
        &a,
        &job,
        json!({"Driver": "docker", "Resources": {"CPU": 300, "MemoryMB": 64},
            "Config": {"image": TEST_IMAGE, "command": "/bin/sh",
                "args": ["-c", ECHO_LOOP], "interactive": true}}),
    )
    .await;
    let id = alloc["ID"].as_str().unwrap();

    let (writer, _reader, _) = writer_and_reader(&a, id).await;

    // Detaching leaves the container's stdin open for the next writer.
    next_writer(&a, id, writer).await;
    untouched_then_quit(&a, id).await;
}

/// Reads a streaming body into `got` until it contains `want`.
async fn body_until(resp: &mut reqwest::Response, got: &mut String, want: &str) {
    while !got.contains(want) {
        let chunk = tokio::time::timeout(DEADLINE, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("{want:?} not within {DEADLINE:?}; got {got:?}"))
            .unwrap()
            .expect("stream still open");
        got.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

/// GET of the logs endpoint; status and body.
async fn logs(a: &Agent, alloc: &str, query: &str) -> (StatusCode, String) {
    a.get_text(&format!(
        "/v1/client/fs/logs/{alloc}?task=t&type=stdout&{query}"
    ))
    .await
}

#[tokio::test]
async fn logs_lines_returns_the_last_lines_and_follows_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let script = "i=1; while [ $i -le 100 ]; do echo line $i; i=$((i+1)); done; \
                  while [ ! -e go ]; do sleep 0.1; done; echo line 101; sleep 1000";
    let alloc = running(&a, "lines", sh(script, false)).await;
    let id = alloc["ID"].as_str().unwrap().to_string();

    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !logs(&a, &id, "plain=true").await.1.contains("line 100\n") {
        assert!(tokio::time::Instant::now() < deadline, "no line 100");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (status, body) = logs(&a, &id, "lines=5&plain=true").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "line 96\nline 97\nline 98\nline 99\nline 100\n");
    let (_, body) = logs(&a, &id, "lines=0&plain=true").await;
    assert_eq!(body, "");
    let (_, body) = logs(&a, &id, "lines=1000&plain=true").await;
    assert!(body.starts_with("line 1\n") && body.ends_with("line 100\n"));

    // Frames: the same bytes, base64 in `Data`.
    let (status, body) = logs(&a, &id, "lines=2").await;
    assert_eq!(status, StatusCode::OK);
    let mut data = Vec::new();
    for frame in serde_json::Deserializer::from_str(&body).into_iter::<Value>() {
        if let Some(d) = frame.unwrap()["Data"].as_str() {
            use base64::Engine;
            data.extend(ws_client::B64.decode(d).unwrap());
        }
    }
    assert_eq!(String::from_utf8(data).unwrap(), "line 99\nline 100\n");

    // Follow from two lines back, then new output.
    let mut resp = reqwest::get(a.url(&format!(
        "/v1/client/fs/logs/{id}?task=t&type=stdout&lines=2&plain=true&follow=true"
    )))
    .await
    .unwrap();
    let mut got = String::new();
    body_until(&mut resp, &mut got, "line 100\n").await;
    std::fs::write(alloc_dir(dir.path(), &alloc).join("t").join("go"), "").unwrap();
    body_until(&mut resp, &mut got, "line 101\n").await;
    assert_eq!(got, "line 99\nline 100\nline 101\n");

    // A bad count names the parameter.
    let (status, body) = logs(&a, &id, "lines=abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("lines"), "{body}");
    let (status, _) = logs(&a, &id, "lines=-1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_exec_session_ends_when_its_task_stops() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let alloc = running(&a, "stopme", sh("exec sleep 1000", false)).await;
    let id = alloc["ID"].as_str().unwrap();
    let command = serde_json::to_string(&["cat"]).unwrap();
    let url = ws_client::url(&a.base, id, "exec", &[("task", "t"), ("command", &command)]);
    let mut ws = connect(url, DEADLINE).await.unwrap();
    ws_client::stdin(&mut ws, b"ping\n").await;
    expect_stdout(&mut ws, &mut Outcome::default(), "ping\n").await;

    let r = a.http.delete(a.url("/v1/job/stopme")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let out = finish(&mut ws, DEADLINE).await;
    assert_closed(&out, 1011, "stopped");
    assert_eq!(out.exited, None, "{out:?}");
}

#[tokio::test]
async fn a_server_relays_attach_to_the_client_agent() {
    let server_dir = tempfile::tempdir().unwrap();
    let client_dir = tempfile::tempdir().unwrap();
    let (server, _client) =
        Agent::start_server_and_client(server_dir.path(), client_dir.path()).await;
    let alloc = running(&server, "far", sh(ECHO_LOOP, true)).await;
    let id = alloc["ID"].as_str().unwrap();

    let mut writer = attach(&server, id, "t").await;
    let mut reader = attach(&server, id, "t").await;
    stdin(&mut writer, b"relayed\n").await;
    expect_stdout(&mut writer, &mut Outcome::default(), "got:relayed\n").await;
    expect_stdout(&mut reader, &mut Outcome::default(), "got:relayed\n").await;
    let mut second = attach(&server, id, "t").await;
    stdin(&mut second, b"intruder\n").await;
    assert_closed(
        &finish(&mut second, DEADLINE).await,
        1008,
        "stdin already attached",
    );
}

/// The attach WebSocket answers a client's close frame with its own, and a
/// message over the 1 MiB limit with 1009, locally and relayed; the task
/// never notices.
#[tokio::test]
async fn attach_answers_close_frames_and_oversized_messages() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let local = running(&a, "echo", sh(ECHO_LOOP, true)).await;
    let server_dir = tempfile::tempdir().unwrap();
    let client_dir = tempfile::tempdir().unwrap();
    let (server, _client) =
        Agent::start_server_and_client(server_dir.path(), client_dir.path()).await;
    let far = running(&server, "far", sh(ECHO_LOOP, true)).await;

    for (agent, alloc, hop) in [(&a, &local, "local"), (&server, &far, "relayed")] {
        let id = alloc["ID"].as_str().unwrap();
        let mut ws = attach(agent, id, "t").await;
        let answer = close_and_read_answer(&mut ws, DEADLINE).await;
        assert_eq!(answer, Some(1000), "{hop}: the close is answered");

        let mut ws = attach(agent, id, "t").await;
        let out = send_oversized(&mut ws, 1 << 20, DEADLINE).await;
        assert_closed(&out, 1009, "message too big");
        untouched_then_quit(agent, id).await;
    }
    common::kill_processes_under(client_dir.path());
}
